/**
 * Offline plan for pull requests: `npm run plan -- <stack> [--json] [--against <git-ref>] [--app-dir <dir>]`.
 * Needs no credentials, Cloudron or registry. It describes the desired state from the stack's
 * config (a desired-state comparison, not a live diff against the server).
 */
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { buildPlan, diffPlans, formatPlan, readStackFileText } from "../lib/plan";
import { ConfigError } from "../lib/stackConfig";

const projectDir = path.resolve(__dirname, "..");

export function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + "\n")): number {
  const stack = argv.find((a) => !a.startsWith("--") && argv[argv.indexOf(a) - 1] !== "--against" && argv[argv.indexOf(a) - 1] !== "--app-dir");
  const json = argv.includes("--json");
  const against = argv.includes("--against") ? argv[argv.indexOf("--against") + 1] : undefined;
  const appDir = argv.includes("--app-dir") ? argv[argv.indexOf("--app-dir") + 1] : undefined;
  if (!stack) {
    out("usage: npm run plan -- <stack> [--json] [--against <git-ref>] [--app-dir <dir>]");
    return 2;
  }
  try {
    const now = buildPlan(stack, readStackFileText(projectDir, stack), { projectDir, appDir });
    if (!against) {
      out(json ? JSON.stringify(now, null, 2) : formatPlan(now));
      return 0;
    }
    const oldText = execFileSync("git", ["show", `${against}:Pulumi.${stack}.yaml`], { cwd: projectDir, encoding: "utf8" });
    const before = buildPlan(stack, oldText, { projectDir, appDir });
    const changes = diffPlans(before, now);
    if (json) out(JSON.stringify({ stack, against, kind: "desired-state comparison, not a live diff", changes }, null, 2));
    else {
      out(`${stack}: desired-state comparison of config against ${against} (not a live diff of the server)`);
      out(changes.length ? changes.map((c) => `  ${stack}: ${c}`).join("\n") : `  ${stack}: no changes`);
    }
    return 0;
  } catch (err) {
    out(err instanceof ConfigError ? err.message : `plan failed: ${(err as Error).message}`);
    return 1;
  }
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
