/**
 * Offline plan for pull requests: `npm run plan -- <stack> [--json] [--against <git-ref>] [--app-dir <dir>]`.
 * Needs no credentials, Cloudron or registry. It describes the desired state from the stack's
 * config (a desired-state comparison, not a live diff against the server).
 */
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { buildPlan, diffPlans, formatPlan } from "../lib/plan";
import { ConfigError } from "../lib/config/stackConfig";
import { ConfigFileError, readStackFile } from "./stackFile";
import { parseArgs as parseCliArgs, UsageError } from "../lib/cli/args";
import { findProjectDir } from "../lib/build/sourceStamp";

export const USAGE = "usage: npm run plan -- <stack> [--json] [--against <git-ref>] [--app-dir <dir>]";

/**
 * `npm run` (without -s) prints its own banner on stdout before the script starts, which no JSON
 * parser accepts; npm tells the script its log level, so the script can at least say why.
 */
export function npmBannerHint(env: NodeJS.ProcessEnv): string | undefined {
  const viaNpm = env.npm_lifecycle_event !== undefined;
  return viaNpm && env.npm_config_loglevel !== "silent"
    ? "note: npm printed its banner on stdout before this JSON; for output a JSON parser accepts use `npm run -s plan -- … --json` or `bin/plan … --json`"
    : undefined;
}

type PlanArgs = { stack: string; json: boolean; against?: string; appDir?: string; help?: boolean };

/** `<stack> [--json] [--against <ref>] [--app-dir <dir>]`, with the one argument parser; throws UsageError. */
function parsePlanArgs(argv: string[]): PlanArgs {
  const a = parseCliArgs(argv, { positional: ["stack"], values: ["against", "app-dir"], flags: ["json"] });
  if (a.help) return { stack: "", json: false, help: true };
  return { stack: a.positional.stack!, json: a.flags.json, ...(a.values.against ? { against: a.values.against } : {}), ...(a.values["app-dir"] ? { appDir: a.values["app-dir"] } : {}) };
}

/** The parsed arguments, or undefined on a usage error (for callers that only need to know). */
export function parseArgs(argv: string[]): PlanArgs | undefined {
  try {
    const a = parsePlanArgs(argv);
    return a.help ? undefined : a;
  } catch (err) {
    if (err instanceof UsageError) return undefined;
    throw err;
  }
}

export function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
  /** The Pulumi project (and git work tree) holding Pulumi.<stack>.yaml; tests point it at a fixture repo. */
  projectDir: string = findProjectDir(__dirname),
  /** Usage mistakes go here (stderr), as for every command (lib/cli/args.ts). */
  errOut: (s: string) => void = (s) => process.stderr.write(s + "\n"),
): number {
  let args: PlanArgs;
  try {
    args = parsePlanArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    errOut(`plan: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    out(USAGE);
    return 0;
  }
  const { stack, json, against } = args;
  const appDir = args.appDir ? path.resolve(args.appDir) : undefined;
  const file = `Pulumi.${stack}.yaml`;
  try {
    const now = buildPlan(stack, readStackFile(projectDir, stack).text, { projectDir, appDir });
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
    let before: ReturnType<typeof buildPlan> | undefined;
    let beforeProblem: string | undefined;
    if (oldText !== undefined) {
      try {
        before = buildPlan(stack, oldText, { projectDir, appDir });
      } catch (err) {
        // A change that repairs a broken stack file must still get a plan.
        if (!(err instanceof ConfigError || err instanceof ConfigFileError)) throw err;
        beforeProblem = `${file} at ${against} was not a valid config: the whole plan above is new`;
      }
    }
    const changes = before
      ? diffPlans(before, now)
      : [beforeProblem ?? `${file} is new (not in ${against}): the whole plan above is new`];
    if (!before && !json) out(formatPlan(now));
    if (json) out(JSON.stringify({ stack, against, kind: "desired-state comparison, not a live diff", changes }, null, 2));
    else {
      out(`${stack}: desired-state comparison of config against ${against} (not a live diff of the server)`);
      out(changes.length ? changes.map((c) => `  ${stack}: ${c}`).join("\n") : `  ${stack}: no changes`);
    }
    return 0;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof ConfigFileError) out(err.message);
    else out(`plan failed: ${(err as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const code = main(argv);
  const hint = argv.includes("--json") ? npmBannerHint(process.env) : undefined;
  if (hint) process.stderr.write(hint + "\n");
  process.exit(code);
}
