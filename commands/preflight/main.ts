/**
 * `npm run preflight -- <stack> [--app-dir <dir>]`: the pre-deployment checklist. Secrets are not
 * decrypted (only their presence counts); CLOUDRON_TOKEN from the environment, else your login.
 * Exit 0 when nothing FAILed, 1 otherwise, 2 on a usage error.
 */
import * as path from "node:path";
import { environmentOf, formatPreflight, runPreflight } from "./preflight";
import { readStackFile, ConfigFileError } from "../../config/operatorStackFile";
import { defineCli, runAsMain, type Cli } from "../../lib/cli";
import { findProjectDir } from "../../lib/projectDir";

export const USAGE = "usage: npm run preflight -- <stack> [--app-dir <dir>]";

/** The preflight command: the checklist on stdout; 0 when nothing FAILed, 1 otherwise. */
export function preflightCli(projectDir: string = findProjectDir(__dirname)): Cli {
  return defineCli({
    name: "preflight",
    usage: USAGE,
    spec: { positional: ["stack"], values: ["app-dir"] },
    parse: (a) => ({ stack: a.positional.stack!, appDirArg: a.values["app-dir"] }),
    run: ({ stack, appDirArg }, { io, env }) => preflight(stack, appDirArg, projectDir, io.stdout, env),
  });
}

/** In-process entry (tests): checklist lines to `out`, usage mistakes to `errOut`. */
export function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
  projectDir: string = findProjectDir(__dirname),
  errOut: (s: string) => void = (s) => process.stderr.write(s + "\n"),
): Promise<number> {
  return preflightCli(projectDir)(argv, { stdout: out, stderr: errOut });
}

async function preflight(
  stack: string,
  appDirArg: string | undefined,
  projectDir: string,
  out: (s: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<number> {
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
    token: env.CLOUDRON_TOKEN || undefined,
  });
  out(formatPreflight(results, environmentOf(stack, stackText)));
  return results.every((r) => r.ok) ? 0 : 1;
}

if (require.main === module) runAsMain(preflightCli());
