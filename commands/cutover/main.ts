/**
 * `npm run cutover -- production …`: the first production install at the apex, from the legacy app
 * (commands/cutover/cutover.ts). Without an acknowledgement it prints the read-only plan and changes nothing.
 * The image, location and server come from the stack file as written (no secret is decrypted); the
 * Cloudron token from CLOUDRON_TOKEN, else the operator's `cloudron login` (~/.cloudron.json); the
 * install is the stack's own `pulumi up`, so the Pulumi CLI must be logged in to the stack's backend.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { defineCli, runAsMain, UsageError, type Cli } from "../../lib/cli";
import { findProjectDir } from "../../lib/projectDir";
import { checkConfig, ConfigError } from "../../config/loader";
import { rawConfigFromStackText } from "../../config/stackFile";
import { CloudronApi, resolveToken } from "../../cloudron/client";
import { CONFIG_DEFAULTS } from "../../config/schema";
import {
  CutoverRefused,
  CutoverStopped,
  MIN_PRESERVE_DAYS,
  formatCutoverPlan,
  planCutover,
  restoreLegacy,
  runCutover,
  type CutoverDeps,
  type CutoverRecord,
  type CutoverSettings,
} from "./cutover";
import { ConfigFileError, readStackFile } from "../../config/operatorStackFile";

export const USAGE = [
  "usage: npm run cutover -- <stack> [--uninstall-legacy-app <id> --legacy-export-done] [--preserve-days <n>]",
  "                                  [--digest sha256:<hex>] [--record-dir <dir>] [--server <url>] [--base-url <url>]",
  "       npm run cutover -- <stack> --restore-legacy [--record <file>] [--server <url>]",
  "  without --uninstall-legacy-app: the read-only plan (the apex app, its backups, the steps, what is irreversible)",
  "  --uninstall-legacy-app <id>  acknowledgement: the id of the app at the apex, as the plan shows it",
  "  --legacy-export-done         the legacy rules / version_history export to the archive repository is done",
  `  --preserve-days <n>          keep the final backup n days past retention (default and minimum ${MIN_PRESERVE_DAYS})`,
  "  --digest sha256:<hex>        the digest staging verified; refused if the tag now points elsewhere",
  "  --restore-legacy             recovery after a stopped cutover: the legacy app back from its preserved backup",
].join("\n");

export interface CutoverArgs {
  stack: string;
  acknowledgedAppId?: string;
  exportDone: boolean;
  preserveDays: number;
  digest?: string;
  recordDir?: string;
  record?: string;
  server?: string;
  baseUrl?: string;
  restoreLegacy: boolean;
}

/** The command line, checked: a number where a number goes, the recovery's options apart. */
export function cutoverArgsFrom(a: {
  positional: Record<string, string | undefined>;
  values: Record<string, string | undefined>;
  flags: Record<string, boolean>;
}): CutoverArgs {
  const days = a.values["preserve-days"];
  const preserveDays = days === undefined ? MIN_PRESERVE_DAYS : Number(days);
  if (days !== undefined && (!/^\d+$/.test(days) || preserveDays < MIN_PRESERVE_DAYS)) {
    throw new UsageError(
      `--preserve-days ${days}: a whole number of days, at least ${MIN_PRESERVE_DAYS} (the app's first-install guide)`,
    );
  }
  if (a.flags["restore-legacy"] && a.values["uninstall-legacy-app"] !== undefined) {
    throw new UsageError("--restore-legacy is the recovery of a stopped cutover: it takes no --uninstall-legacy-app");
  }
  return {
    stack: a.positional.stack!,
    acknowledgedAppId: a.values["uninstall-legacy-app"],
    exportDone: a.flags["legacy-export-done"],
    preserveDays,
    digest: a.values.digest,
    recordDir: a.values["record-dir"],
    record: a.values.record,
    server: a.values.server,
    baseUrl: a.values["base-url"],
    restoreLegacy: a.flags["restore-legacy"],
  };
}

/** Settings from the stack file as written, with the command line's overrides. */
export function cutoverSettings(projectDir: string, args: CutoverArgs): CutoverSettings {
  const { text, file } = readStackFile(projectDir, args.stack);
  const raw = rawConfigFromStackText(text, path.basename(file));
  const checked = checkConfig(raw, {
    stack: args.stack,
    projectDir,
    allowMissingSecrets: true,
    allowMissingAppDir: true,
  });
  if (!checked.config) throw new ConfigError(args.stack, checked.problems);
  const cfg = checked.config;
  return {
    stack: args.stack,
    location: cfg.location,
    server: args.server ?? cfg.cloudronServer,
    imageRepository: cfg.imageRepository,
    imageTag: cfg.imageTag,
    build: cfg.build,
    baseUrl: args.baseUrl ?? cfg.baseUrl,
    preserveDays: args.preserveDays,
    acknowledgedAppId: args.acknowledgedAppId,
    exportDone: args.exportDone,
    digest: args.digest,
  };
}

/**
 * `docs/cutover/cutover-YYYYMMDD-HHMMSS-<stack>.json`: dated, committed like the restore drill's
 * record; the time keeps a stopped run's record (its backup id) from being overwritten by the next.
 */
export function recordPath(dir: string, stack: string, startedAt: string): string {
  const stamp = startedAt.slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  const name = (n: number) => path.join(dir, `cutover-${stamp}${n > 1 ? `-${n}` : ""}-${stack}.json`);
  let n = 1;
  while (fs.existsSync(name(n))) n += 1;
  return name(n);
}

/** The newest record of a stack in `dir`, for the recovery. */
export function newestRecord(dir: string, stack: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const pattern = new RegExp(`^cutover-\\d{8}-\\d{6}(-\\d+)?-${stack.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.json$`);
  const mine = fs
    .readdirSync(dir)
    .filter((f) => pattern.test(f))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
  return mine.at(-1);
}

/** What a run needs besides the settings: the API client and the stack's own up and preview. */
export type DepsFactory = (
  s: CutoverSettings,
  log: (line: string) => void,
  env: NodeJS.ProcessEnv,
) => Omit<CutoverDeps, "writeRecord">;

/** The real world: Cloudron's API with the operator's token, the Pulumi CLI for up and preview. */
export const realDeps: DepsFactory = (s, log, env) => {
  const { token } = resolveToken({ server: s.server, envToken: env.CLOUDRON_TOKEN || undefined });
  const api = new CloudronApi({
    server: s.server,
    token,
    taskTimeoutSeconds: CONFIG_DEFAULTS.cloudronTimeoutSeconds,
    busyWaitSeconds: CONFIG_DEFAULTS.busyWaitSeconds,
    log,
  });
  // Pulumi's own output goes to stderr: stdout carries only this command's lines.
  const pulumi = (args: string[]) => spawnSync("pulumi", args, { stdio: ["inherit", 2, 2] });
  return {
    api,
    log,
    recordedAppStep: async () => {
      // The state as the backend holds it; no secret is decrypted (`--show-secrets` is not passed).
      const r = spawnSync("pulumi", ["stack", "export", "--stack", s.stack], {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      });
      if (r.status !== 0)
        throw new Error(
          `pulumi stack export -s ${s.stack} failed (exit ${r.status ?? r.signal}): log in to the stack's backend first`,
        );
      return appStepUrn(JSON.parse(r.stdout) as { deployment?: { resources?: Array<{ urn?: string }> } });
    },
    up: async () => {
      const r = pulumi(["up", "--yes", "--stack", s.stack]);
      return {
        ok: r.status === 0,
        detail:
          r.status === 0
            ? "pulumi up succeeded"
            : `pulumi up -s ${s.stack} failed (exit ${r.status ?? r.signal}); its output is above`,
      };
    },
    previewChangesNothing: async () => {
      const r = pulumi(["preview", "--stack", s.stack, "--expect-no-changes"]);
      return {
        ok: r.status === 0,
        detail:
          r.status === 0
            ? "pulumi preview: no changes"
            : `pulumi preview -s ${s.stack} --expect-no-changes failed (exit ${r.status ?? r.signal})`,
      };
    },
  };
};

/** The app step's URN in an exported stack state (`pulumi stack export`), if there is one. */
export function appStepUrn(exported: { deployment?: { resources?: Array<{ urn?: string }> } }): string | undefined {
  return exported.deployment?.resources?.map((r) => r.urn ?? "").find((urn) => urn.endsWith("::app-deploy"));
}

/** The cutover command; `depsFactory` is replaced by the rehearsal and the tests. */
export function cutoverCli(projectDir: string = findProjectDir(__dirname), depsFactory: DepsFactory = realDeps): Cli {
  return defineCli({
    name: "cutover",
    usage: USAGE,
    spec: {
      positional: ["stack"],
      values: ["uninstall-legacy-app", "preserve-days", "digest", "record-dir", "record", "server", "base-url"],
      flags: ["legacy-export-done", "restore-legacy"],
      ifMissing: { stack: "which stack? name it (the cutover is production's: npm run cutover -- production)" },
    },
    parse: cutoverArgsFrom,
    run: (args, { io, env }) => cutover(args, projectDir, depsFactory, io.stdout, env),
  });
}

async function cutover(
  args: CutoverArgs,
  projectDir: string,
  depsFactory: DepsFactory,
  out: (s: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  let s: CutoverSettings;
  try {
    s = cutoverSettings(projectDir, args);
  } catch (err) {
    if (err instanceof ConfigFileError || err instanceof ConfigError) {
      out(`cutover refused, nothing was changed: ${err.message}`);
      return 1;
    }
    throw err;
  }
  const recordDir = args.recordDir ?? path.join(projectDir, "docs", "cutover");
  const deps = depsFactory(s, out, env);
  if (args.restoreLegacy) return recover(args, s, recordDir, deps, out);
  if (args.acknowledgedAppId === undefined) {
    const plan = await planCutover(s, deps);
    out(formatCutoverPlan(plan));
    if (plan.legacy && plan.refusals.length === 0) {
      out(`\nNothing was changed. After the legacy export (runbook "First production install"), go on with:`);
      out(`  npm run cutover -- ${s.stack} --uninstall-legacy-app ${plan.legacy.id} --legacy-export-done`);
      return 0;
    }
    return plan.refusals.length === 0 ? 0 : 1;
  }
  let file: string | undefined;
  const writeRecord = (record: CutoverRecord) => {
    file ??= recordPath(recordDir, s.stack, record.startedAt);
    fs.mkdirSync(recordDir, { recursive: true });
    fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
  };
  try {
    const record = await runCutover(s, { ...deps, writeRecord });
    out(
      `CUTOVER DONE: ${s.location} runs CommunityRule ${record.image?.tag} = ${record.image?.digest} (app ${record.installedAppId}); ` +
        `legacy app ${record.legacy?.id} removed, its final backup ${record.finalBackup?.id} kept ${s.preserveDays} days`,
    );
    out(`  record written to ${file}: commit it`);
    return 0;
  } catch (err) {
    if (err instanceof CutoverRefused || err instanceof CutoverStopped) {
      out(err.message);
      if (file) out(`  record written to ${file}`);
      return 1;
    }
    throw err;
  }
}

async function recover(
  args: CutoverArgs,
  s: CutoverSettings,
  recordDir: string,
  deps: Omit<CutoverDeps, "writeRecord">,
  out: (s: string) => void,
): Promise<number> {
  const file = args.record ?? newestRecord(recordDir, s.stack);
  if (!file || !fs.existsSync(file)) {
    out(`restore refused: no cutover record of ${s.stack} in ${recordDir} (pass --record <file>)`);
    return 1;
  }
  const record = JSON.parse(fs.readFileSync(file, "utf8")) as CutoverRecord;
  try {
    const recovery = await restoreLegacy(record, deps);
    record.recovery = recovery;
    fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
    if (!recovery.ok) {
      out(`RESTORE FAILED: ${recovery.error}`);
      return 1;
    }
    out(
      `LEGACY RESTORED: ${record.location} runs ${record.legacy?.appStoreId || record.legacy?.manifestId}@${record.legacy?.version} again (app ${recovery.restoredAppId}) from backup ${recovery.backupId}`,
    );
    out(`  record updated: ${file}`);
    return 0;
  } catch (err) {
    if (err instanceof CutoverRefused) {
      out(`restore refused: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

/** In-process entry (tests, rehearsal). */
export function main(
  argv: string[],
  io: { stdout: (s: string) => void; stderr: (s: string) => void },
  opts: { projectDir?: string; depsFactory?: DepsFactory; env?: NodeJS.ProcessEnv } = {},
): Promise<number> {
  return cutoverCli(opts.projectDir, opts.depsFactory)(argv, io, { env: opts.env ?? process.env });
}

if (require.main === module) runAsMain(cutoverCli());
