/**
 * `npm run restore-drill -- <stack> [--base-url <url>] [--record-dir <dir>]`: the quarterly restore
 * drill against the stack's Cloudron. Reads location, server and token from the environment the
 * operator exports (CLOUDRON_TOKEN; or their own `cloudron login`) and the stack file.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { runRestoreDrill } from "../lib/restoreDrill";
import { isHostname } from "../lib/config/stackConfig";
import { stackFileEntries } from "../lib/config/stackFile";
import { ConfigFileError, readStackFile } from "./stackFile";

export const USAGE = "usage: npm run restore-drill -- <stack> [--base-url <url>] [--record-dir <dir>]";

export async function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
  projectDir: string = path.resolve(__dirname, ".."),
): Promise<number> {
  const withValue = new Set(["--base-url", "--record-dir"]);
  const opt = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const positional = argv.filter((a, i) => !a.startsWith("--") && !withValue.has(argv[i - 1]));
  const badOption = argv.some((a, i) => a.startsWith("--") && (!withValue.has(a) || argv[i + 1] === undefined || argv[i + 1].startsWith("--")));
  if (positional.length !== 1 || badOption) {
    out(USAGE);
    return 2;
  }
  const stack = positional[0];
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
  const server = values.cloudronServer;
  if (typeof live !== "string" || typeof server !== "string" || !isHostname(live) || !isHostname(server)) {
    out(`drill FAILED before cloning: ${path.basename(stackFile)} needs communityrule:location and communityrule:cloudronServer as bare hostnames`);
    return 1;
  }
  const record = await runRestoreDrill({
    server,
    token: process.env.CLOUDRON_TOKEN || undefined,
    live,
    baseUrl: opt("--base-url"),
    healthTimeoutMs: 300_000,
    log: out,
  }).catch((e: Error) => {
    out(`drill FAILED before cloning: ${e.message}`);
    return undefined;
  });
  if (!record) return 1;
  const dir = opt("--record-dir") ?? path.join(projectDir, "drills");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${record.scratch.split(".")[0]}-${stack}.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
  out(`${record.ok ? "PASS" : "FAIL"} restore drill of ${record.live} from backup ${record.backupId} via ${record.scratch}`);
  out(`  timings (ms): ${Object.entries(record.timingsMs).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  if (record.smoke) out(record.smoke.split("\n").map((l) => `  ${l}`).join("\n"));
  if (record.error) out(`  error: ${record.error}`);
  out(`  record written to ${file}`);
  return record.ok ? 0 : 1;
}

if (require.main === module) main(process.argv.slice(2)).then((c) => process.exit(c));
