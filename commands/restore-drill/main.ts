/**
 * `npm run restore-drill -- <stack> [--server <host>] [--base-url <url>] [--record-dir <dir>]`: the
 * quarterly restore drill against the stack's Cloudron, through its REST API. Location, server and
 * timeouts come from the stack's checked config (`--server` overrides the server); the token from
 * CLOUDRON_TOKEN, else the operator's `cloudron login` (~/.cloudron.json).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { runRestoreDrill, type DrillOptions } from "./restoreDrill";
import { checkConfig, ConfigError, fullKey } from "../../config/loader";
import { ConfigFileError, readStackFile } from "../../config/stackFile";
import { defineCli, runAsMain, type Cli } from "../../lib/cli";
import { findProjectDir } from "../../lib/projectDir";

export const USAGE =
  "usage: npm run restore-drill -- <stack> [--server <host>] [--base-url <url>] [--record-dir <dir>]";

/** The restore-drill command: progress and the verdict on stdout; 0 when the drill passed, 1 otherwise. */
export function restoreDrillCli(projectDir: string = findProjectDir(__dirname)): Cli {
  return defineCli({
    name: "restore-drill",
    usage: USAGE,
    spec: { positional: ["stack"], values: ["server", "base-url", "record-dir"] },
    parse: (a) => ({
      stack: a.positional.stack!,
      server: a.values.server,
      baseUrl: a.values["base-url"],
      recordDir: a.values["record-dir"],
    }),
    run: (args, { io, env }) => drill(args, projectDir, io.stdout, env),
  });
}

/** In-process entry (tests): progress lines to `out`, usage mistakes to `errOut`. */
export function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
  projectDir: string = findProjectDir(__dirname),
  errOut: (s: string) => void = (s) => process.stderr.write(s + "\n"),
): Promise<number> {
  return restoreDrillCli(projectDir)(argv, { stdout: out, stderr: errOut });
}

export interface DrillArgs {
  stack: string;
  server?: string;
  baseUrl?: string;
  recordDir?: string;
}

/**
 * The drill's options from the stack file, checked by the config loader like `up` checks it: the
 * location, the server (`--server` overrides it, checked by the same rule) and the stack's timeouts.
 * Throws {@link ConfigFileError} or {@link ConfigError} naming the key and the fix.
 */
export function drillOptionsFromStack(
  projectDir: string,
  args: DrillArgs,
  env: NodeJS.ProcessEnv,
): Omit<DrillOptions, "log"> {
  const raw = readStackFile(projectDir, args.stack);
  if (args.server !== undefined) raw.values[fullKey("cloudronServer")] = args.server;
  // The drill clones a backup: it needs neither push credentials nor the app checkout.
  const checked = checkConfig(raw, {
    stack: args.stack,
    projectDir,
    allowMissingSecrets: true,
    allowMissingAppDir: true,
  });
  if (!checked.config) throw new ConfigError(args.stack, checked.problems);
  const cfg = checked.config;
  return {
    server: cfg.cloudronServer,
    // An encrypted token is not readable here: CLOUDRON_TOKEN, else the operator's login.
    token: env.CLOUDRON_TOKEN || undefined,
    live: cfg.location,
    baseUrl: args.baseUrl,
    timeouts: {
      healthTimeoutSeconds: cfg.healthTimeoutSeconds,
      cloudronTimeoutSeconds: cfg.cloudronTimeoutSeconds,
      busyWaitSeconds: cfg.busyWaitSeconds,
    },
  };
}

async function drill(
  args: DrillArgs,
  projectDir: string,
  out: (s: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const { stack } = args;
  let options: Omit<DrillOptions, "log">;
  try {
    options = drillOptionsFromStack(projectDir, args, env);
  } catch (err) {
    if (!(err instanceof ConfigFileError || err instanceof ConfigError)) throw err;
    out(`drill FAILED before cloning: ${err.message}`);
    return 1;
  }
  const record = await runRestoreDrill({ ...options, log: out }).catch((e: Error) => {
    out(`drill FAILED before cloning: ${e.message}`);
    return undefined;
  });
  if (!record) return 1;
  const dir = args.recordDir ?? path.join(projectDir, "drills");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${record.scratch.split(".")[0]}-${stack}.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
  out(
    `${record.ok ? "PASS" : "FAIL"} restore drill of ${record.live} from backup ${record.backupId} via ` +
      `${record.scratch}`,
  );
  out(
    `  timings (ms): ${Object.entries(record.timingsMs)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
  if (record.smoke)
    out(
      record.smoke
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );
  if (record.error) out(`  error: ${record.error}`);
  out(`  record written to ${file}`);
  return record.ok ? 0 : 1;
}

if (require.main === module) runAsMain(restoreDrillCli());
