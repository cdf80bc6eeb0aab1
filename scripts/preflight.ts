/**
 * `npm run preflight -- <stack> [--app-dir <dir>]`: the pre-deployment checklist. Secrets are not
 * decrypted (only their presence counts); CLOUDRON_TOKEN from the environment, else your login.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatPreflight, runPreflight } from "../lib/preflight";

export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + "\n")): Promise<number> {
  const stack = argv[0];
  if (!stack) {
    out("usage: npm run preflight -- <stack> [--app-dir <dir>]");
    return 2;
  }
  const projectDir = path.resolve(__dirname, "..");
  const appDir = argv.includes("--app-dir") ? argv[argv.indexOf("--app-dir") + 1] : undefined;
  const results = await runPreflight({
    stack,
    projectDir,
    stackText: fs.readFileSync(path.join(projectDir, `Pulumi.${stack}.yaml`), "utf8"),
    overrides: appDir ? { appDir } : undefined,
    token: process.env.CLOUDRON_TOKEN || undefined,
  });
  out(formatPreflight(results));
  return results.every((r) => r.ok) ? 0 : 1;
}

if (require.main === module) main(process.argv.slice(2)).then((c) => process.exit(c));
