/**
 * Offline rehearsal of the first production install: `npm run rehearse -- production --cutover`.
 * The real `npm run cutover` command (commands/cutover/main.ts) against a Cloudron stand-in holding a
 * legacy LAMP app at the apex (`lamp.cloudronapp.php74`, as the app's first-install guide
 * describes it), with the production stack's `up` and `preview` played by the lifecycle runner and
 * the release staging verified pushed to a throw-away registry:
 *
 * 1. the read-only plan (nothing changes);
 * 2. without the acknowledgement: refused, nothing removed;
 * 3. the cutover with a failure injected after the uninstall (the install task fails): it stops,
 *    names the step and prints the recovery; the recovery (`--restore-legacy`) brings the legacy
 *    app back from its preserved final backup;
 * 4. the cutover again: final backup preserved, legacy removed, CommunityRule at the apex by
 *    staging's digest, record written; then a second `up` of the production stack changes nothing.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Lifecycle } from "../../engine/runner";
import { pushImage } from "../../engine/registry";
import { CloudronApi } from "../../cloudron/client";
import { main as cutoverMain, type DepsFactory } from "../cutover/main";
import { type CutoverRecord } from "../cutover/cutover";
import { FIXTURE_MANIFEST } from "../../engine/fixtureManifest";

/**
 * The legacy app of the guide (`lamp.cloudronapp.php74@5.1.2`, 512 MiB): the marketing site and
 * old backend on Cloudron's LAMP app. Its manifest is a plausible store manifest, valid for
 * cloudron-manifestformat (what the stand-in checks install bodies with).
 */
export const LEGACY_LAMP = {
  appStoreId: "lamp.cloudronapp.php74",
  manifest: {
    id: "lamp.cloudronapp.php74",
    version: "5.1.2",
    manifestVersion: 2,
    title: "LAMP",
    author: "Cloudron UG",
    description: "LAMP stack with PHP 7.4",
    tagline: "LAMP app",
    website: "https://cloudron.io",
    contactEmail: "support@cloudron.io",
    healthCheckPath: "/",
    httpPort: 80,
    addons: { mysql: {}, localstorage: {}, sendmail: {} },
    memoryLimit: 512 * 1024 * 1024,
    dockerImage: "cloudron/lamp.cloudronapp.php74:5.1.2",
  },
  memoryLimit: 512 * 1024 * 1024,
};

/** Keys of the production stack the rehearsal sets: promotion of staging's release (no build). */
export const PROMOTION = (version: string) => ({ build: false, imageTag: version });

/** Production on a stand-in with the legacy app at the apex, and the release staging verified in the registry. */
export interface CutoverScene {
  lc: Lifecycle;
  /** A project directory with the production stack file as the rehearsal runs it. */
  projectDir: string;
  version: string;
  /** The digest the registry holds for the release tag (what staging verified). */
  digest: string;
  legacyId(): string | undefined;
  /** Runs `npm run cutover -- production …` in-process; output lines collected. */
  cutover(args: string[]): Promise<{ code: number; lines: string[] }>;
  recordDir: string;
  records(): CutoverRecord[];
  close(): Promise<void>;
}

export async function startCutoverScene(opts: { echo?: boolean } = {}): Promise<CutoverScene> {
  const version = readFixtureVersion();
  const lc = await Lifecycle.create({ stack: "production", echo: opts.echo, config: PROMOTION(version) });
  try {
    // What staging built, pushed and verified: the release tag in the registry production promotes from.
    const pushed = await pushImage(lc.registryHost, "communityrule/community-rule", version);
    lc.api.addApp({ fqdn: lc.location, ...LEGACY_LAMP, manifest: { ...LEGACY_LAMP.manifest } });
    // Its nightly backups.
    lc.api.addBackup(lc.location);
    lc.api.addBackup(lc.location);
    const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "cr-cutover-project-"));
    const recordDir = path.join(projectDir, "docs", "cutover");
    writeStackFile(projectDir, lc);
    const depsFactory: DepsFactory = (s, log) => ({
      api: new CloudronApi({
        server: lc.api.url,
        token: lc.token,
        taskTimeoutSeconds: 20,
        busyWaitSeconds: 5,
        pollIntervalMs: 200,
        log,
      }),
      log,
      recordedAppStep: async () =>
        fs.existsSync(lc.pulumiStatePath)
          ? lc.pulumiState().resources.find((r) => r.name === "app-deploy")?.urn
          : undefined,
      up: async () => {
        const r = await lc.up();
        const changed = r.steps.filter((x) => x.op !== "same").length;
        return {
          ok: r.ok,
          detail: r.ok ? `the stack's up: ${changed} resources created or changed` : r.errors.join("\n"),
        };
      },
      previewChangesNothing: async () => {
        const r = await lc.preview();
        const changed = r.steps.filter((x) => x.op !== "same").map((x) => `${x.op} ${x.name}`);
        return {
          ok: r.ok && changed.length === 0,
          detail: r.ok
            ? changed.length
              ? `preview would change: ${changed.join(", ")}`
              : "preview: no changes"
            : r.errors.join("\n"),
        };
      },
    });
    return {
      lc,
      projectDir,
      version,
      digest: pushed.digest,
      recordDir,
      legacyId: () =>
        lc.api.state.apps.find((a) => a.fqdn === lc.location && a.manifest.id === LEGACY_LAMP.manifest.id)?.id,
      cutover: async (args) => {
        const lines: string[] = [];
        const push = (l: string) => {
          lines.push(l);
          if (opts.echo) process.stdout.write(`${l}\n`);
        };
        // A CLOUDRON_TOKEN in the caller's environment must not stand in for the stand-in's token.
        const code = await cutoverMain(
          ["production", "--record-dir", recordDir, ...args],
          { stdout: push, stderr: push },
          { projectDir, depsFactory, env: {} },
        );
        return { code, lines };
      },
      records: () =>
        fs.existsSync(recordDir)
          ? fs
              .readdirSync(recordDir)
              .map((f) => path.join(recordDir, f))
              .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs)
              .map((f) => JSON.parse(fs.readFileSync(f, "utf8")) as CutoverRecord)
          : [],
      close: async () => {
        fs.rmSync(projectDir, { recursive: true, force: true });
        await lc.close();
      },
    };
  } catch (err) {
    await lc.close().catch(() => undefined);
    throw err;
  }
}

/** The production stack file as written, with the runner's stand-ins (server, registry, URLs) and promotion. */
function writeStackFile(projectDir: string, lc: Lifecycle): void {
  const YAML = require("yaml") as typeof import("yaml");
  const config = Object.fromEntries(Object.entries(lc.config).map(([k, v]) => [`communityrule:${k}`, v]));
  fs.writeFileSync(path.join(projectDir, "Pulumi.production.yaml"), YAML.stringify({ config }));
}

function readFixtureVersion(): string {
  const file = FIXTURE_MANIFEST;
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version;
}

/** Thrown to end the rehearsal with a FAIL line (already explained above it). */
export class CutoverRehearsalFailed extends Error {}

/** The whole rehearsal; returns the summary for the PASS line. */
export async function rehearseCutover(out: (line?: string) => void, track: (lc: Lifecycle) => void): Promise<string> {
  const scene = await startCutoverScene({ echo: false });
  track(scene.lc);
  const show = (r: { lines: string[] }) => r.lines.forEach((l) => out(`  ${l}`));
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new CutoverRehearsalFailed(what);
  };
  try {
    out(
      `REHEARSAL of \`npm run cutover -- production\`: offline, against a Cloudron stand-in with a legacy LAMP app ` +
        `at ${scene.lc.location}.`,
    );
    out(
      "  replaced: cloudronServer → the stand-in; imageRepository → a throw-away registry holding " +
        `${scene.version} (what staging verified: ${scene.digest});`,
    );
    out(
      `  build → false and imageTag → ${scene.version} (production promotes); baseUrl → a local server ` +
        `playing the app.`,
    );

    out(`\n== 1. the plan (read-only) ==`);
    const before = scene.lc.calls().length;
    const plan = await scene.cutover([]);
    show(plan);
    expect(plan.code === 0 && scene.lc.mutatingCallsSince(before).length === 0, "the plan changed something or failed");

    out(`\n== 2. without the acknowledgement naming the app and the export: refused ==`);
    const firstId = scene.legacyId() as string;
    const refused = await scene.cutover(["--uninstall-legacy-app", "not-the-app", "--legacy-export-done"]);
    show(refused);
    expect(
      refused.code === 1 && scene.lc.mutatingCallsSince(before).length === 0 && scene.legacyId() === firstId,
      "an unacknowledged cutover changed something",
    );

    out(`\n== 3. the cutover with the install failing after the uninstall, then the recovery ==`);
    scene.lc.api.injectFault({ operation: "installApp", kind: "taskFails", message: "Image pull failed (injected)" });
    const stopped = await scene.cutover(["--uninstall-legacy-app", firstId, "--legacy-export-done"]);
    show(stopped);
    const stoppedRecord = scene.records().at(-1);
    expect(
      stopped.code === 1 && stoppedRecord?.result === "stopped" && !scene.legacyId(),
      "the failure after the uninstall did not stop the cutover as expected",
    );
    const restored = await scene.cutover(["--restore-legacy"]);
    show(restored);
    const back = scene.lc.api.state.apps.find((a) => a.fqdn === scene.lc.location);
    expect(
      restored.code === 0 &&
        back?.manifest.id === LEGACY_LAMP.manifest.id &&
        back.restoredFrom === stoppedRecord?.finalBackup?.id,
      "the recovery did not bring the legacy app back",
    );
    out(`  the legacy app runs again at ${scene.lc.location} (app ${back?.id}), restored from ${back?.restoredFrom}`);

    out(`\n== 4. the cutover, end to end ==`);
    const secondId = scene.legacyId() as string;
    const done = await scene.cutover(["--uninstall-legacy-app", secondId, "--legacy-export-done"]);
    show(done);
    const record = scene.records().at(-1);
    const app = scene.lc.app();
    expect(done.code === 0 && record?.result === "done", "the cutover did not finish");
    const running = app?.manifest.dockerImage ?? "";
    // By digest only: a tag could be pushed again later, a digest names the bytes staging verified.
    const runsDigest = running.endsWith(`@${scene.digest}`);
    expect(
      runsDigest && record?.image?.digest === scene.digest,
      `the apex does not run staging's digest ${scene.digest} (it runs ${running})`,
    );
    out(
      `  ${scene.lc.location} runs ${running} = ${scene.digest}; final backup ${record?.finalBackup?.id} kept ` +
        `${record?.preserveDays} days`,
    );

    out(`\n== 5. production is a normal stack: the next up changes nothing ==`);
    const since = scene.lc.calls().length;
    const next = await scene.lc.up();
    const changed = next.steps.filter((s) => s.op !== "same");
    expect(
      next.ok && changed.length === 0 && scene.lc.mutatingCallsSince(since).length === 0,
      `the next up was not a no-op: ${changed.map((s) => `${s.op} ${s.name}`).join(", ")} ${next.errors.join("; ")}`,
    );
    out("  nothing to do: 0 resources changed, 0 Cloudron calls that change something");
    return (
      `production cutover: plan read-only, unacknowledged run refused, failure after the uninstall stopped and ` +
      `recovered from backup ${stoppedRecord?.finalBackup?.id}, cutover done with staging's digest, next up a no-op`
    );
  } finally {
    fs.rmSync(scene.projectDir, { recursive: true, force: true });
  }
}
