/**
 * `npm run restore-drill -- <stack> [--server <host>] [--base-url <url>] [--record-dir <dir>]`: the
 * quarterly restore drill against the stack's Cloudron, through its REST API. Location and server
 * come from the stack file (`--server` overrides the server); the token from CLOUDRON_TOKEN, else
 * the operator's `cloudron login` (~/.cloudron.json).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { runRestoreDrill } from "./restoreDrill";
import { isHostname, isLoopbackServerUrl } from "../../config/loader";
import { stackFileEntries } from "../../config/stackFile";
import { ConfigFileError, readStackFile } from "../../config/operatorStackFile";
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

interface DrillArgs {
  stack: string;
  server?: string;
  baseUrl?: string;
  recordDir?: string;
}

async function drill(
  args: DrillArgs,
  projectDir: string,
  out: (s: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const { stack } = args;
  let text: string;
  let stackFile: string;
  try {
    ({ file: stackFile, text } = readStackFile(projectDir, stack));
  } catch (err) {
    if (!(err instanceof ConfigFileError)) throw err;
    out(`drill FAILED before cloning: ${err.message}`);
    return 1;
  }
  const values = stackFileEntries(text, path.basename(stackFile));
  const live = values.location;
  // --server overrides the stack file's cloudronServer (a loopback stand-in in rehearsals and tests).
  const server = args.server ?? values.cloudronServer;
  if (
    typeof live !== "string" ||
    typeof server !== "string" ||
    !isHostname(live) ||
    !(isHostname(server) || isLoopbackServerUrl(server))
  ) {
    out(
      `drill FAILED before cloning: ${path.basename(stackFile)} needs communityrule:location and communityrule:cloudronServer as bare hostnames`,
    );
    return 1;
  }
  const record = await runRestoreDrill({
    server,
    token: env.CLOUDRON_TOKEN || undefined,
    live,
    baseUrl: args.baseUrl,
    healthTimeoutMs: 300_000,
    log: out,
  }).catch((e: Error) => {
    out(`drill FAILED before cloning: ${e.message}`);
    return undefined;
  });
  if (!record) return 1;
  const dir = args.recordDir ?? path.join(projectDir, "drills");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${record.scratch.split(".")[0]}-${stack}.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
  out(
    `${record.ok ? "PASS" : "FAIL"} restore drill of ${record.live} from backup ${record.backupId} via ${record.scratch}`,
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
