/**
 * The program behind the Cloudron command resources. Pulumi's `local.Command` runs it as
 *   node -r ts-node/register/transpile-only tools/cloudronApp.ts <deploy|uninstall|env-apply|seed> …
 * Plain values arrive as arguments, secrets only through the environment (CLOUDRON_TOKEN,
 * CR_SECRET_<NAME>). Progress goes to stderr, so it streams during `pulumi up`; the one JSON line
 * on stdout is the result Pulumi records (it never contains a secret).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CloudronCli, CloudronCliError, isCloudronOnPath } from "../lib/cloudron/cloudronCli";
import { recordedHistoryErrors } from "../lib/release/migrationGate";
import type { RecordedMigration } from "../lib/release/migrations";
import { appCondition, decideDeploy, findApp, parseInspect, sameServer, type ObservedApp } from "../lib/cloudron/cloudronApps";
import { isEmptyPlan, planEnvChanges, type EnvRecord } from "../lib/cloudron/envDiff";
import { likelyCause } from "../lib/health/troubleshooting";
import { formatProgress, waitForHealthy } from "../lib/health/healthGate";
import { decideRelease, manifestVersionToSend, tagOfImage } from "../lib/release/versionRules";

type Args = Record<string, string | boolean>;

/** Parses `--key value` and `--flag` pairs; values are taken verbatim (they may start with '-'). */
export function parseArgs(argv: string[], flags: readonly string[] = []): Args {
  const out: Args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument "${a}"`);
    const key = a.slice(2);
    if (flags.includes(key)) out[key] = true;
    else {
      if (i + 1 >= argv.length) throw new UsageError(`--${key} needs a value`);
      out[key] = argv[++i];
    }
  }
  return out;
}

class UsageError extends Error {}

function need(args: Args, key: string): string {
  const v = args[key];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${key} is required`);
  return v;
}

const log = (line: string) => process.stderr.write(line + "\n");

/** Context shared by the subcommands: one CLI wrapper, one server check. */
class Session {
  readonly cli: CloudronCli;
  constructor(
    readonly server: string,
    timeoutSeconds: number,
  ) {
    this.cli = new CloudronCli({ server, token: process.env.CLOUDRON_TOKEN || undefined, timeoutMs: timeoutSeconds * 1000 });
  }

  /** Preflight: CLI present, authenticated, talking to the configured server. */
  async inspect(step: string) {
    if (!isCloudronOnPath()) {
      throw new CloudronCliError(`${step}: the \`cloudron\` CLI is not on PATH. Install it with \`npm install -g cloudron\` (version 6 or 7).`);
    }
    const r = await this.cli.run(["inspect"], { step, allowFailure: true });
    if (r.code !== 0) {
      const how = process.env.CLOUDRON_TOKEN
        ? "communityrule:cloudronToken was written to a private .cloudron.json under a throw-away HOME; check the token is valid and has Read and Write access"
        : `no communityrule:cloudronToken is set, so your own login is used: run \`cloudron login ${this.server}\``;
      throw new CloudronCliError(`${step}: cannot reach or authenticate to ${this.server} (${(r.stderr || r.stdout).trim().split("\n").pop()}). ${how}.`, r);
    }
    const view = parseInspect(r.stdout);
    if (!sameServer(view.apiEndpoint, this.server)) {
      throw new CloudronCliError(
        `${step}: the cloudron CLI is logged in to ${view.apiEndpoint || "an unknown server"}, not ${this.server}. ` +
          `Refusing to act on the wrong Cloudron: set communityrule:cloudronToken, or run \`cloudron login ${this.server}\`.`,
      );
    }
    return view;
  }

  /** Waits while the app is busy with a task (bounded, with progress); fails on error state. */
  async settledApp(location: string, step: string, busyWaitSeconds: number): Promise<ObservedApp | undefined> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const app = findApp(await this.inspect(step), location);
      const condition = appCondition(app);
      if (condition === "error") {
        throw new CloudronCliError(
          `${step}: ${location} is in an error state on Cloudron (${app?.installationState}${app?.error ? `: ${app.error}` : ""}). ` +
            `Fix it first (dashboard → the app → Repair, or \`cloudron logs --app ${location}\`); nothing was changed.`,
        );
      }
      if (condition !== "busy") return app;
      const waited = (Date.now() - started) / 1000;
      if (waited >= busyWaitSeconds) {
        throw new CloudronCliError(
          `${step}: ${location} stayed busy (task ${app?.taskId ?? "?"}, state ${app?.installationState}) for ${Math.round(waited)} s ` +
            `(communityrule:busyWaitSeconds). Wait for the task in the dashboard, then run up again; nothing was changed.`,
        );
      }
      log(`${step}: ${location} is busy (task ${app?.taskId ?? "?"}, ${app?.installationState}); waiting, ${Math.round(waited)} s so far`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * attempt)));
    }
  }
}

/** The previous result this resource recorded, if Pulumi passed it (update runs only). */
function previousResult<T>(): Partial<T> {
  const prev = process.env.PULUMI_COMMAND_STDOUT;
  if (!prev) return {};
  try {
    return JSON.parse(prev.trim().split("\n").pop() ?? "{}") as Partial<T>;
  } catch {
    return {};
  }
}

interface DeployResult {
  action: "installed" | "adopted" | "updated" | "unchanged";
  appId: string;
  location: string;
  image: string;
  version: string;
  previousImage: string;
  backupId: string;
  /** First 16 hex of the manifest's sha256, to notice a manifest edit under the same version. */
  manifestSha: string;
}

async function deploy(args: Args): Promise<DeployResult> {
  const location = need(args, "location");
  const image = need(args, "image");
  const manifestId = need(args, "manifest-id");
  const manifestVersion = need(args, "manifest-version");
  const appDir = path.resolve(need(args, "app-dir"));
  const s = new Session(need(args, "server"), Number(args["timeout-seconds"] ?? 1800));
  const busyWait = Number(args["busy-wait-seconds"] ?? 600);
  const manifestSha = String(args["manifest-sha256"] ?? "");
  const environment = typeof args.environment === "string" ? args.environment : "this stack";
  // Older command lines (before --build existed) always built.
  const build = args.build !== "false";
  const known = previousResult<DeployResult>();

  const app = await s.settledApp(location, "install", busyWait);
  const ours = app && app.manifestId === manifestId ? app : undefined;

  // Release ordering, against what the app really runs (not what the last state says).
  const tag = tagOfImage(image) ?? manifestVersion;
  let release;
  try {
    release = decideRelease({
      environment,
      build,
      tag,
      manifestVersion,
      deployedVersion: ours?.version,
      deployedTag: ours ? tagOfImage(ours.image) : undefined,
    });
  } catch (err) {
    throw new CloudronCliError(`update: ${(err as Error).message}. Nothing was changed.`);
  }
  if (release.kind === "rollback") log(release.message);
  // A deploy of an existing tag changes the image only: Cloudron refuses a lower manifest version,
  // so the manifest keeps the deployed (higher) version and the app is read back against it.
  const version = manifestVersionToSend({ build, manifestVersion, deployedVersion: ours?.version });

  let decision = decideDeploy(app, { manifestId, image, version, location }, known.appId ?? "");
  if (decision.action === "adopt-unchanged" && known.manifestSha && known.manifestSha !== manifestSha) {
    // Same image and version, edited manifest (memory limit, addons): Cloudron must get it.
    decision = { action: "update", app: decision.app, adopting: false };
  }
  if (decision.action === "refuse") throw new CloudronCliError(`install: ${decision.reason}`);

  if (decision.action === "install") {
    log(`install: ${location} is free; installing ${image}`);
    await s.cli.run(["install", "--location", location, "--image", image], { cwd: appDir, step: "install" });
    const installed = await verifyRunning(s, location, image, version, "install");
    return { action: "installed", appId: installed.id, location, image, version, previousImage: "", backupId: "", manifestSha };
  }
  if (decision.action === "adopt-unchanged") {
    const adopted = !known.appId || known.appId !== decision.app.id;
    log(`${adopted ? "adopt" : "update"}: ${location} already runs ${image} (version ${version}); nothing to do`);
    return {
      action: adopted ? "adopted" : "unchanged",
      appId: decision.app.id,
      location,
      image,
      version,
      previousImage: known.previousImage ?? "",
      backupId: known.backupId ?? "",
      manifestSha,
    };
  }

  const from = decision.app;
  if (decision.adopting) log(`adopt: ${location} was installed outside this stack (app ${from.id}); taking it over`);
  log(`update: ${location} ${from.image} (${from.version}) → ${image} (${version}); Cloudron takes a backup first`);
  const backupsBefore = await listBackupIds(s, location);
  const manifestDir = manifestDirFor(appDir, version);
  try {
    // Never --no-backup: Cloudron's pre-update backup is what a failed release is restored from.
    await s.cli.run(["update", "--app", location, "--image", image], { cwd: manifestDir.dir, step: "update" });
    const updated = await verifyRunning(s, location, image, version, "update");
    const backupId = (await listBackupIds(s, location)).find((id) => !backupsBefore.includes(id)) ?? "";
    log(`update: done${backupId ? `; pre-update backup ${backupId}` : "; no new backup id was listed"}`);

    if (args["auto-rollback"] === true && from.image && from.image !== image) {
      await gateOrRollBack(s, args, { location, image, previousImage: from.image, version, cwd: manifestDir.dir, backupId });
    }
    return {
      action: decision.adopting ? "adopted" : "updated",
      appId: updated.id,
      location,
      image,
      version,
      previousImage: from.image,
      backupId,
      manifestSha,
    };
  } finally {
    manifestDir.cleanup();
  }
}

/**
 * The directory `cloudron update` runs in (the CLI reads CloudronManifest.json from its cwd). When
 * the version to send differs from the checkout's (a rollback keeps the deployed, higher version),
 * a private copy of the manifest with that version is written next to a copy of a `file://` icon.
 */
function manifestDirFor(appDir: string, version: string): { dir: string; cleanup: () => void } {
  const file = path.join(appDir, "CloudronManifest.json");
  const manifest = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  if (manifest.version === version) return { dir: appDir, cleanup: () => undefined };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cr-manifest-"));
  fs.writeFileSync(path.join(dir, "CloudronManifest.json"), JSON.stringify({ ...manifest, version }, null, 2));
  const icon = typeof manifest.icon === "string" && manifest.icon.startsWith("file://") ? manifest.icon.slice("file://".length) : "";
  if (icon && fs.existsSync(path.join(appDir, icon))) {
    fs.mkdirSync(path.dirname(path.join(dir, icon)), { recursive: true });
    fs.copyFileSync(path.join(appDir, icon), path.join(dir, icon));
  }
  log(`update: sending the image only; the manifest keeps version ${version} (Cloudron refuses a lower version)`);
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Automatic rollback: after an update, wait for the app to be healthy; if it is not, put the
 * previous image back (same manifest version, image only), wait for health again, and fail the step
 * either way so Pulumi keeps the old state and the next `up` retries the release.
 */
async function gateOrRollBack(
  s: Session,
  args: Args,
  r: { location: string; image: string; previousImage: string; version: string; cwd: string; backupId: string },
): Promise<void> {
  const baseUrl = need(args, "base-url");
  const timeoutMs = Number(args["health-timeout-seconds"] ?? 300) * 1000;
  const gate = () =>
    waitForHealthy({ url: baseUrl, timeoutMs, app: r.location, onProgress: (p) => log(formatProgress(p)) });
  let failure: string;
  try {
    await gate();
    log(`health: ${r.image} is healthy; no rollback needed`);
    return;
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  }
  log(`health: ${r.image} failed the gate; rolling back to ${r.previousImage}`);
  try {
    await s.cli.run(["update", "--app", r.location, "--image", r.previousImage], { cwd: r.cwd, step: "rollback" });
    await verifyRunning(s, r.location, r.previousImage, r.version, "rollback");
    await gate();
  } catch (err) {
    let now = "an unknown image";
    try {
      now = findApp(await s.inspect("rollback"), r.location)?.image || now;
    } catch {
      // Keep "an unknown image": the message below must still reach the operator.
    }
    throw new CloudronCliError(
      `ROLLBACK FAILED: the app is on ${now} and unhealthy; act now: ` +
        `restore ${r.backupId ? `the pre-update backup ${r.backupId}` : "the last good backup"} (dashboard → the app → Backups → Restore) ` +
        `or run \`cloudron update --app ${r.location} --image ${r.previousImage}\` from the app checkout, and read \`cloudron logs --app ${r.location}\`. ` +
        `Rollback error: ${err instanceof Error ? err.message : String(err)}. Health failure was: ${failure}`,
    );
  }
  throw new CloudronCliError(
    `release rolled back: ${r.image} → ${r.previousImage}; migrations applied by the new image are not undone; ` +
      `health failure was: ${failure}`,
  );
}

/** Reads the app back after install/update: a silently ignored update has been reported. */
async function verifyRunning(s: Session, location: string, image: string, version: string, step: string): Promise<ObservedApp> {
  const app = findApp(await s.inspect(step), location);
  if (!app) throw new CloudronCliError(`${step}: Cloudron reported success but ${location} is not listed afterwards.`);
  if (app.image !== image || app.version !== version) {
    throw new CloudronCliError(
      `${step}: Cloudron reported success but ${location} runs ${app.image || "?"} (version ${app.version || "?"}), ` +
        `not ${image} (version ${version}). The update was silently ignored; check the app's task log in the dashboard, ` +
        `then run up again (or uninstall and reinstall staging).`,
    );
  }
  return app;
}

async function listBackupIds(s: Session, location: string): Promise<string[]> {
  const r = await s.cli.run(["backup", "list", "--app", location, "--raw"], { step: "backup list", allowFailure: true });
  if (r.code !== 0) return [];
  try {
    const list = JSON.parse(r.stdout) as Array<{ id?: unknown }>;
    return list.map((b) => String(b.id ?? "")).filter(Boolean);
  } catch {
    return [];
  }
}

async function uninstall(args: Args): Promise<{ action: string; location: string }> {
  const location = need(args, "location");
  const s = new Session(need(args, "server"), Number(args["timeout-seconds"] ?? 1800));
  const app = await s.settledApp(location, "uninstall", Number(args["busy-wait-seconds"] ?? 600));
  if (!app) {
    log(`uninstall: ${location} is already gone`);
    return { action: "absent", location };
  }
  const manifestId = args["manifest-id"];
  if (typeof manifestId === "string" && app.manifestId !== manifestId) {
    throw new CloudronCliError(`uninstall: ${location} now holds another app (${app.manifestId}); leaving it alone.`);
  }
  log(`uninstall: removing ${location} (app ${app.id})`);
  await s.cli.run(["uninstall", "--app", location], { step: "uninstall" });
  return { action: "uninstalled", location };
}

/** Desired env, sent on stdin as JSON (plain values and secret fingerprints only). */
interface EnvSpec {
  server: string;
  location: string;
  plain: Record<string, string>;
  /** name → fingerprint; the value itself is in the environment as CR_SECRET_<name>. */
  secret: Record<string, string>;
}

interface EnvResult {
  applied: EnvRecord;
  set: string[];
  unset: string[];
}

async function envApply(args: Args): Promise<EnvResult> {
  const spec = JSON.parse(await readStdin()) as EnvSpec;
  const s = new Session(spec.server, Number(args["timeout-seconds"] ?? 1800));
  const desired: EnvRecord = { ...spec.plain, ...spec.secret };
  const previous = previousResult<EnvResult>().applied ?? {};
  const plan = planEnvChanges(previous, desired);
  const app = await s.settledApp(spec.location, "env", Number(args["busy-wait-seconds"] ?? 600));
  if (!app) throw new CloudronCliError(`env: ${spec.location} is not installed; the install step must run first.`);
  if (isEmptyPlan(plan)) {
    log("env: no changes");
    return { applied: desired, set: [], unset: [] };
  }
  if (plan.set.length > 0) {
    const pairs = plan.set.map((name) => {
      if (name in spec.secret) {
        const value = process.env[`CR_SECRET_${name}`];
        if (value === undefined) throw new CloudronCliError(`env: the value of secret ${name} did not reach the apply step`);
        return `${name}=${value}`;
      }
      return `${name}=${spec.plain[name]}`;
    });
    log(`env: setting ${plan.set.join(", ")} in one call (one restart)`);
    if (plan.set.includes("SESSION_SECRET") && "SESSION_SECRET" in previous) {
      log("env: SESSION_SECRET rotates now (communityrule:sessionSecretRotation changed): every user is logged out");
    }
    // Values travel as separate argv elements with no shell in between: they arrive verbatim.
    await s.cli.run(["env", "set", "--app", spec.location, ...pairs], { step: "env" });
  }
  if (plan.unset.length > 0) {
    log(`env: removing ${plan.unset.join(", ")} (no longer in config)`);
    await s.cli.run(["env", "unset", "--app", spec.location, ...plan.unset], { step: "env" });
  }
  return { applied: desired, set: plan.set, unset: plan.unset };
}

async function seed(args: Args): Promise<{ ok: true; output: string }> {
  const location = need(args, "location");
  const s = new Session(need(args, "server"), Number(args["timeout-seconds"] ?? 1800));
  const app = await s.settledApp(location, "seed", Number(args["busy-wait-seconds"] ?? 600));
  if (!app) throw new CloudronCliError(`seed: ${location} is not installed.`);
  log(`seed: running node prisma/seed.bundle.cjs in ${location}`);
  // `cloudron exec` may not pass the remote exit status through, so the command proves its own
  // success with a marker that carries the status.
  const r = await s.cli.run(["exec", "--app", location, "--", "sh", "-c", 'node prisma/seed.bundle.cjs; echo "__SEED_EXIT__:$?"'], {
    step: "seed",
    allowFailure: true,
  });
  const status = /__SEED_EXIT__:(\d+)/.exec(r.stdout)?.[1];
  const output = r.stdout.replace(/__SEED_EXIT__:\d+\s*/, "").trim();
  if (status !== "0") {
    throw new CloudronCliError(
      `seed: node prisma/seed.bundle.cjs ${status === undefined ? "gave no exit marker (exec was cut off?)" : `exited ${status}`}; ` +
        `the seed is not recorded and runs again on the next up. Seed output:\n${output.split("\n").slice(-15).join("\n")}\n${r.stderr.trim()}`,
      r,
    );
  }
  return { ok: true, output: output.split("\n").slice(-5).join("\n") };
}

/**
 * The migration list of the image just deployed, handed in on stdin by the CloudronApp component
 * (`{"releaseMigrations": {"record": [...]}}`), echoed into the result so state records what the
 * running image carries (issue 14). Nothing on a terminal or an empty stdin.
 */
async function releaseMigrationsRecord(args: Args): Promise<{ migrations?: RecordedMigration[] }> {
  if (process.stdin.isTTY) return {};
  const text = (await readStdin()).trim();
  if (!text) return {};
  const request = JSON.parse(text) as { releaseMigrations?: { record?: RecordedMigration[] } };
  const record = request.releaseMigrations?.record;
  if (!record) return {};
  // Checked before anything changes: the list recorded at the last deploy is what the database has.
  const previous = previousResult<{ migrations: RecordedMigration[] }>().migrations;
  if (previous) {
    const errors = recordedHistoryErrors(previous, record, { build: args.build !== "false", appDirLabel: String(args["app-dir"] ?? "appDir") });
    if (errors.length > 0) throw new Error(`refused before any change:\n${errors.join("\n")}`);
  }
  return { migrations: record };
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (c: string) => (data += c));
    process.stdin.on("end", () => resolve(data));
    process.stdin.on("error", reject);
  });
}

const SUBCOMMANDS: Record<string, (a: Args) => Promise<unknown>> = {
  deploy: async (a) => {
    const record = await releaseMigrationsRecord(a);
    return { ...(await deploy(a)), ...record };
  },
  uninstall: (a) => uninstall(a),
  "env-apply": (a) => envApply(a),
  seed: (a) => seed(a),
};

/** Belt and braces: no secret from the environment may appear in what this tool prints. */
export function maskSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  const secrets = Object.entries(env)
    .filter(([k, v]) => (k === "CLOUDRON_TOKEN" || k.startsWith("CR_SECRET_")) && v && v.length >= 4)
    .map(([, v]) => v as string);
  return secrets.reduce((t, s) => t.split(s).join("[secret]"), text);
}

/** Entry point; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const fn = SUBCOMMANDS[sub ?? ""];
  if (!fn) {
    log(`usage: cloudronApp.ts <${Object.keys(SUBCOMMANDS).join("|")}> --key value …`);
    return 2;
  }
  try {
    const result = await fn(parseArgs(rest, ["auto-rollback"]));
    process.stdout.write(maskSecrets(JSON.stringify(result)) + "\n");
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      log(`usage error: ${err.message}`);
      return 2;
    }
    const message = maskSecrets(err instanceof Error ? err.message : String(err));
    const cause = likelyCause(message);
    log(`error: ${message}${cause ? `\nlikely cause: ${cause}` : ""}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
