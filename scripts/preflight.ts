/**
 * `npm run preflight -- <stack> [--app-dir <dir>]`: the pre-deployment checklist. Secrets are not
 * decrypted (only their presence counts); CLOUDRON_TOKEN from the environment, else your login.
 * Exit 0 when nothing FAILed, 1 otherwise, 2 on a usage error.
 */
import * as path from "node:path";
import { environmentOf, formatPreflight, runPreflight } from "../lib/preflight";
import { readStackFile, ConfigFileError } from "./stackFile";
import { parseArgs, UsageError } from "../lib/cli/args";
import { findProjectDir } from "../lib/build/sourceStamp";

export const USAGE = "usage: npm run preflight -- <stack> [--app-dir <dir>]";

export async function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
  projectDir: string = findProjectDir(__dirname),
  /** Usage mistakes go here (stderr), as for every command (lib/cli/args.ts). */
  errOut: (s: string) => void = (s) => process.stderr.write(s + "\n"),
): Promise<number> {
  let stack: string;
  let appDirArg: string | undefined;
  try {
    const a = parseArgs(argv, { positional: ["stack"], values: ["app-dir"] });
    if (a.help) {
      out(USAGE);
      return 0;
    }
    stack = a.positional.stack!;
    appDirArg = a.values["app-dir"];
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    errOut(`preflight: ${err.message}\n${USAGE}`);
    return 2;
  }
  let stackText: string;
  try {
    stackText = readStackFile(projectDir, stack).text;
  } catch (err) {
    if (!(err instanceof ConfigFileError)) throw err;
    out(`FAIL stack file: ${err.message}`);
    return 1;
  }
  const appDir = appDirArg ? path.resolve(appDirArg) : undefined;
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
