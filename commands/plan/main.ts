/**
 * Offline plan for pull requests: `npm run plan -- <stack> [--json] [--against <git-ref>] [--app-dir <dir>]`.
 * Needs no credentials, Cloudron or registry. It describes the desired state from the stack's
 * config (a desired-state comparison, not a live diff against the server).
 */
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { buildPlan, diffPlans, formatPlan } from "./plan";
import { ConfigError } from "../../config/loader";
import { ConfigFileError, readStackFile } from "../../config/operatorStackFile";
import { defineCli, runAsMain, type Cli } from "../../lib/cli";
import { findProjectDir } from "../../lib/projectDir";

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

type PlanArgs = { stack: string; json: boolean; against?: string; appDir?: string };

/** The plan command: the plan (text or JSON) on stdout; 0 planned, 1 the config or git ref is bad. */
export function planCli(projectDir: string = findProjectDir(__dirname)): Cli {
  return defineCli({
    name: "plan",
    usage: USAGE,
    spec: { positional: ["stack"], values: ["against", "app-dir"], flags: ["json"] },
    parse: (a): PlanArgs => ({
      stack: a.positional.stack!,
      json: a.flags.json,
      against: a.values.against,
      appDir: a.values["app-dir"],
    }),
    run: (args, { io, env }) => {
      const code = plan(args, io.stdout, projectDir);
      const hint = args.json ? npmBannerHint(env) : undefined;
      if (hint) io.stderr(hint);
      return code;
    },
  });
}

/** In-process entry (tests): plan lines to `out`, usage mistakes to `errOut`. */
export function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
  /** The Pulumi project (and git work tree) holding Pulumi.<stack>.yaml; tests point it at a fixture repo. */
  projectDir: string = findProjectDir(__dirname),
  errOut: (s: string) => void = (s) => process.stderr.write(s + "\n"),
): Promise<number> {
  return planCli(projectDir)(argv, { stdout: out, stderr: errOut });
}

function plan(args: PlanArgs, out: (s: string) => void, projectDir: string): number {
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
      oldText = execFileSync("git", ["show", `${against}:./Pulumi.${stack}.yaml`], {
        cwd: projectDir,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? "");
      if (!/exists on disk, but not in|does not exist in/.test(stderr))
        throw new Error(`git show ${against}:Pulumi.${stack}.yaml failed: ${stderr.trim() || (err as Error).message}`);
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
    if (json)
      out(JSON.stringify({ stack, against, kind: "desired-state comparison, not a live diff", changes }, null, 2));
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

if (require.main === module) runAsMain(planCli());
