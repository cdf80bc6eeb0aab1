/**
 * `npm run preflight -- <stack> [--app-dir <dir>]`: the pre-deployment checklist. Secrets are not
 * decrypted (only their presence counts); CLOUDRON_TOKEN from the environment, else your login.
 * Exit 0 when nothing FAILed, 1 otherwise, 2 on a usage error.
 */
import * as path from "node:path";
import { environmentOf, formatPreflight, runPreflight } from "../lib/preflight";
import { readStackFile, ConfigFileError } from "./stackFile";

export const USAGE = "usage: npm run preflight -- <stack> [--app-dir <dir>]";

export async function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
  projectDir: string = path.resolve(__dirname, ".."),
): Promise<number> {
  const positional = argv.filter((a, i) => !a.startsWith("--") && argv[i - 1] !== "--app-dir");
  const bad = argv.some((a) => a.startsWith("--") && a !== "--app-dir") || (argv.includes("--app-dir") && !argv[argv.indexOf("--app-dir") + 1]);
  if (positional.length !== 1 || bad) {
    out(USAGE);
    return 2;
  }
  const stack = positional[0];
  let stackText: string;
  try {
    stackText = readStackFile(projectDir, stack).text;
  } catch (err) {
    if (!(err instanceof ConfigFileError)) throw err;
    out(`FAIL stack file: ${err.message}`);
    return 1;
  }
  const appDir = argv.includes("--app-dir") ? path.resolve(argv[argv.indexOf("--app-dir") + 1]) : undefined;
  const results = await runPreflight({
    stack,
    projectDir,
    stackText,
    overrides: appDir ? { appDir } : undefined,
    token: process.env.CLOUDRON_TOKEN || undefined,
  });
  out(formatPreflight(results, environmentOf(stack, stackText)));
  return results.every((r) => r.ok) ? 0 : 1;
}

if (require.main === module) main(process.argv.slice(2)).then((c) => process.exit(c));
