/**
 * Offline plan for pull requests: `npm run plan -- <stack> [--json] [--against <git-ref>] [--app-dir <dir>]`.
 * Needs no credentials, Cloudron or registry. It describes the desired state from the stack's
 * config (a desired-state comparison, not a live diff against the server).
 */
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { buildPlan, diffPlans, formatPlan, readStackFileText } from "../lib/plan";
import { ConfigError } from "../lib/config/stackConfig";

/** Parses `<stack> [--json] [--against <ref>] [--app-dir <dir>]`; undefined on a usage error. */
export function parseArgs(argv: string[]): { stack: string; json: boolean; against?: string; appDir?: string } | undefined {
  const positional: string[] = [];
  const opts: { json: boolean; against?: string; appDir?: string } = { json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") opts.json = true;
    else if (a === "--against" || a === "--app-dir") {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) return undefined;
      if (a === "--against") opts.against = v;
      else opts.appDir = v;
    } else if (a.startsWith("--")) return undefined;
    else positional.push(a);
  }
  return positional.length === 1 ? { stack: positional[0], ...opts } : undefined;
}

export function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
  /** The Pulumi project (and git work tree) holding Pulumi.<stack>.yaml; tests point it at a fixture repo. */
  projectDir: string = path.resolve(__dirname, ".."),
): number {
  const args = parseArgs(argv);
  if (!args) {
    out("usage: npm run plan -- <stack> [--json] [--against <git-ref>] [--app-dir <dir>]");
    return 2;
  }
  const { stack, json, against } = args;
  const appDir = args.appDir ? path.resolve(args.appDir) : undefined;
  try {
    const now = buildPlan(stack, readStackFileText(projectDir, stack), { projectDir, appDir });
    if (!against) {
      out(json ? JSON.stringify(now, null, 2) : formatPlan(now));
      return 0;
    }
    let oldText: string | undefined;
    try {
      // `./` makes the path relative to cwd, so this also works when the project is a subdirectory of the repo.
      oldText = execFileSync("git", ["show", `${against}:./Pulumi.${stack}.yaml`], { cwd: projectDir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? "");
      if (!/exists on disk, but not in|does not exist in/.test(stderr)) throw new Error(`git show ${against}:Pulumi.${stack}.yaml failed: ${stderr.trim() || (err as Error).message}`);
    }
    const changes = oldText === undefined ? [`Pulumi.${stack}.yaml is new (not in ${against}): the whole plan above is new`] : diffPlans(buildPlan(stack, oldText, { projectDir, appDir }), now);
    if (oldText === undefined && !json) out(formatPlan(now));
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
