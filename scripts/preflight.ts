/**
 * `npm run preflight -- <stack> [--app-dir <dir>]`: the pre-deployment checklist. Secrets are not
 * decrypted (only their presence counts); CLOUDRON_TOKEN from the environment, else your login.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatPreflight, runPreflight } from "../lib/preflight";

export async function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
  projectDir: string = path.resolve(__dirname, ".."),
): Promise<number> {
  const positional = argv.filter((a, i) => !a.startsWith("--") && argv[i - 1] !== "--app-dir");
  const bad = argv.some((a) => a.startsWith("--") && a !== "--app-dir") || (argv.includes("--app-dir") && !argv[argv.indexOf("--app-dir") + 1]);
  if (positional.length !== 1 || bad) {
    out("usage: npm run preflight -- <stack> [--app-dir <dir>]");
    return 2;
  }
  const stack = positional[0];
  const stackFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(stackFile)) {
    out(`FAIL stack file: no ${path.basename(stackFile)} in ${projectDir} (stacks: staging, production)`);
    return 1;
  }
  const appDir = argv.includes("--app-dir") ? path.resolve(argv[argv.indexOf("--app-dir") + 1]) : undefined;
  const results = await runPreflight({
    stack,
    projectDir,
    stackText: fs.readFileSync(stackFile, "utf8"),
    overrides: appDir ? { appDir } : undefined,
    token: process.env.CLOUDRON_TOKEN || undefined,
  });
  out(formatPreflight(results));
  return results.every((r) => r.ok) ? 0 : 1;
}

if (require.main === module) main(process.argv.slice(2)).then((c) => process.exit(c));
