/**
 * Review apps: one stack `pr-<n>` per pull request, made from staging and deployed to the same
 * Cloudron through the same program.
 *
 *   npm run review-app -- up <n> [--sha <commit>] [--summary <file.md>]
 *   npm run review-app -- down <n>
 *   npm run review-app -- list
 *   npm run review-app -- prune          (down every review app past reviewAppTtlDays)
 *
 * Drives the real Pulumi CLI through the pure builders of commands/review-app/pulumiCommands.ts. Needs what any
 * deploy needs: `pulumi login` to the team's backend, PULUMI_CONFIG_PASSPHRASE on passphrase
 * backends, and staging's config (reviewAppDomain, reviewAppSecrets) in Pulumi.staging.yaml.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync, execFileSync } from "node:child_process";
import {
  configCopyCommand,
  configSetSecretFromStdinCommand,
  destroyCommand,
  displayCommand,
  stackExportCommand,
  stackInitCommand,
  stackListCommand,
  stackOutputCommand,
  stackRemoveCommand,
  upCommand,
} from "./pulumiCommands";
import { capacityProblem, expiredReviewApps, formatReviewAppList, parseStackList, type ReviewAppEntry } from "./fleet";
import { parsePrNumber, reviewStackName } from "./names";
import {
  ReviewAppConfigError,
  deriveReviewStack,
  readReviewAppSettings,
  secretsProviderFromExport,
  secretsProviderOf,
  type DeriveOptions,
} from "./stackFile";
import { buildPlan, formatPlan } from "../plan/plan";
import { findProjectDir } from "../../lib/projectDir";
import { parseArgs, UsageError } from "../../lib/cli";

/** Result of one Pulumi CLI run. */
export interface PulumiResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `pulumi <args>`: captured (JSON reads) or streamed to the terminal (up, destroy). */
export type PulumiRunner = (args: string[], opts: { capture: boolean; input?: string }) => PulumiResult;

/** What the driver needs from the outside world; tests replace parts of it. */
export interface DriverContext {
  projectDir: string;
  run: PulumiRunner;
  out: (line: string) => void;
  now: () => Date;
  /** The PR's head commit when --sha is not given. */
  headCommit: () => string;
  /** REVIEW_APP_REGISTRY_USERNAME / REVIEW_APP_REGISTRY_PASSWORD: push credentials from CI secrets. */
  env: NodeJS.ProcessEnv;
}

/** An operator-facing failure: printed as is, exit 1. */
class DriverError extends Error {}

const USAGE = [
  "usage: npm run review-app -- up <pr-number> [--sha <commit>] [--summary <file.md>]",
  "       npm run review-app -- down <pr-number>",
  "       npm run review-app -- list",
  "       npm run review-app -- prune",
].join("\n");

/** The real CLI on PATH, run in the project directory. */
export function spawnPulumi(projectDir: string): PulumiRunner {
  return (args, opts) => {
    const r = spawnSync("pulumi", args, {
      cwd: projectDir,
      encoding: "utf8",
      input: opts.input,
      stdio: opts.capture
        ? [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"]
        : ["ignore", "inherit", "inherit"],
      maxBuffer: 256 * 1024 * 1024,
    });
    if (r.error) {
      const code = (r.error as NodeJS.ErrnoException).code;
      throw new DriverError(
        code === "ENOENT"
          ? "the pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/install/) and pulumi login to the team's backend"
          : `could not run pulumi: ${r.error.message}`,
      );
    }
    return { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
}

/** Runs one command; a non-zero exit becomes a DriverError naming the command and its stderr. */
function must(ctx: DriverContext, args: string[], capture: boolean, input?: string): PulumiResult {
  ctx.out(`$ ${displayCommand(args)}${input === undefined ? "" : " < (value from the environment)"}`);
  const r = ctx.run(args, { capture, input });
  if (r.status !== 0) {
    const tail = r.stderr.trim().split("\n").slice(-5).join("\n  ");
    throw new DriverError(
      `${displayCommand(args)} failed (exit ${r.status})${tail ? `:\n  ${tail}` : " (its output is above)"}`,
    );
  }
  return r;
}

function listReviewApps(ctx: DriverContext): ReviewAppEntry[] {
  return parseStackList(must(ctx, stackListCommand(), true).stdout, ctx.now());
}

function stackFilePath(ctx: DriverContext, stack: string): string {
  return path.join(ctx.projectDir, `Pulumi.${stack}.yaml`);
}

function readStaging(ctx: DriverContext): string {
  const file = stackFilePath(ctx, "staging");
  if (!fs.existsSync(file))
    throw new DriverError(`no Pulumi.staging.yaml in ${ctx.projectDir}: review apps are made from staging`);
  return fs.readFileSync(file, "utf8");
}

/**
 * The secrets-provider lines of an existing review stack: from its local file when there is one,
 * else from its state (a fresh CI checkout on the second push has no file).
 */
function existingSecretsProvider(ctx: DriverContext, pr: number): DeriveOptions["secretsProvider"] {
  const file = stackFilePath(ctx, reviewStackName(pr));
  if (fs.existsSync(file)) return secretsProviderOf(fs.readFileSync(file, "utf8"));
  // Captured, never printed: the export holds the state (secrets in it stay ciphertext).
  return secretsProviderFromExport(must(ctx, stackExportCommand(pr), true).stdout);
}

interface UpOptions {
  sha?: string;
  summary?: string;
}

async function up(ctx: DriverContext, pr: number, opts: UpOptions): Promise<number> {
  const stagingText = readStaging(ctx);
  const settings = readReviewAppSettings(stagingText);
  const stack = reviewStackName(pr);
  const commit = opts.sha ?? ctx.headCommit();

  const apps = listReviewApps(ctx);
  const exists = apps.some((a) => a.pr === pr);
  let secretsProvider: DeriveOptions["secretsProvider"];
  if (!exists) {
    const refusal = capacityProblem(apps, pr, settings.maxReviewApps);
    if (refusal) throw new DriverError(refusal);
    // A file left by an earlier, removed pr-<n> carries that stack's salt; `stack init` would
    // keep it and then fail with "incorrect passphrase" (pulumi/pulumi#17759).
    fs.rmSync(stackFilePath(ctx, stack), { force: true });
    must(ctx, stackInitCommand(pr), true);
    secretsProvider = fs.existsSync(stackFilePath(ctx, stack))
      ? secretsProviderOf(fs.readFileSync(stackFilePath(ctx, stack), "utf8"))
      : {};
  } else {
    secretsProvider = existingSecretsProvider(ctx, pr);
  }

  const registryPassword = ctx.env.REVIEW_APP_REGISTRY_PASSWORD;
  const registryFromCi = registryPassword ? { username: ctx.env.REVIEW_APP_REGISTRY_USERNAME ?? "" } : undefined;
  if (registryFromCi && !registryFromCi.username)
    throw new DriverError(
      "REVIEW_APP_REGISTRY_PASSWORD is set but REVIEW_APP_REGISTRY_USERNAME is not: set both (the registry user and its token with write:package)",
    );
  const derived = deriveReviewStack(stagingText, { pr, commitSha: commit, secretsProvider, registryFromCi });
  fs.writeFileSync(stackFilePath(ctx, stack), derived.text);
  ctx.out(`wrote Pulumi.${stack}.yaml: location ${derived.location}, image tag ${derived.imageTag}`);
  if (derived.secretsLeftBehind.length > 0) {
    ctx.out(`staging secrets NOT copied (not in reviewAppSecrets): ${derived.secretsLeftBehind.join(", ")}`);
  }
  for (const key of derived.secretsToCopy) must(ctx, configCopyCommand(pr, key), true);
  if (registryPassword) must(ctx, configSetSecretFromStdinCommand(pr, "registryPassword"), true, registryPassword);

  let plan: string;
  try {
    // From the file as Pulumi now holds it: with the copied secrets' ciphertexts (shown masked).
    plan = formatPlan(
      buildPlan(stack, fs.readFileSync(stackFilePath(ctx, stack), "utf8"), { projectDir: ctx.projectDir }),
    );
  } catch (err) {
    plan = `plan unavailable: ${(err as Error).message}`;
  }

  ctx.out(`$ ${displayCommand(upCommand(pr))}`);
  const result = ctx.run(upCommand(pr), { capture: false });
  const url = `https://${derived.location}`;
  let smoke = "not run: the deploy failed before the smoke checks";
  if (result.status === 0) {
    const outputs = JSON.parse(must(ctx, stackOutputCommand(pr), true).stdout || "{}") as Record<string, unknown>;
    smoke = String(outputs.smokeReport ?? "no smoke report in the stack outputs");
  }
  if (opts.summary) {
    fs.writeFileSync(
      opts.summary,
      formatSummary({ pr, url, imageTag: derived.imageTag, ok: result.status === 0, smoke, plan }),
    );
  }
  if (result.status !== 0) {
    ctx.out(
      `review app ${stack} FAILED to deploy (pulumi up exit ${result.status}); the stack stays for the next push or npm run review-app -- down ${pr}`,
    );
    return 1;
  }
  ctx.out(`review app ${stack} is up: ${url}`);
  return 0;
}

/** The PR comment: one per PR, found again by its first line. */
export function formatSummary(s: {
  pr: number;
  url: string;
  imageTag: string;
  ok: boolean;
  smoke: string;
  plan: string;
}): string {
  return [
    SUMMARY_MARKER,
    `### Review app for #${s.pr}: ${s.ok ? "deployed" : "deploy FAILED"}`,
    "",
    `- URL: ${s.ok ? s.url : `${s.url} (not updated: see the job log)`}`,
    `- Image tag: \`${s.imageTag}\``,
    "",
    "<details><summary>Smoke checks</summary>",
    "",
    "```",
    s.smoke,
    "```",
    "</details>",
    "",
    "<details><summary>Plan (desired state from config)</summary>",
    "",
    "```",
    s.plan,
    "```",
    "</details>",
    "",
  ].join("\n");
}

/** First line of the review-app PR comment; the workflows update the comment that has it. */
export const SUMMARY_MARKER = "<!-- communityrule-review-app -->";

function down(ctx: DriverContext, pr: number, apps?: ReviewAppEntry[]): number {
  const stack = reviewStackName(pr);
  const known = apps ?? listReviewApps(ctx);
  if (!known.some((a) => a.pr === pr)) {
    fs.rmSync(stackFilePath(ctx, stack), { force: true });
    ctx.out(`review app ${stack} does not exist: nothing to remove`);
    return 0;
  }
  if (!fs.existsSync(stackFilePath(ctx, stack))) {
    // destroy decrypts the state: on a passphrase backend it needs this stack's salt back.
    const provider = existingSecretsProvider(ctx, pr) ?? {};
    const header = Object.entries(provider)
      .map(([k, v]) => `${k}: ${v}\n`)
      .join("");
    fs.writeFileSync(stackFilePath(ctx, stack), `${header}config: {}\n`);
  }
  must(ctx, destroyCommand(pr), false);
  must(ctx, stackRemoveCommand(pr), true);
  fs.rmSync(stackFilePath(ctx, stack), { force: true });
  ctx.out(`review app ${stack} removed (app uninstalled, stack deleted)`);
  return 0;
}

function list(ctx: DriverContext): number {
  const settings = readReviewAppSettings(readStaging(ctx));
  ctx.out(
    formatReviewAppList(listReviewApps(ctx), {
      domain: settings.domain,
      ttlDays: settings.ttlDays,
      maxReviewApps: settings.maxReviewApps,
    }),
  );
  return 0;
}

function prune(ctx: DriverContext): number {
  const settings = readReviewAppSettings(readStaging(ctx));
  const apps = listReviewApps(ctx);
  const expired = expiredReviewApps(apps, settings.ttlDays);
  if (expired.length === 0) {
    ctx.out(`no review app is older than reviewAppTtlDays (${settings.ttlDays} days)`);
    return 0;
  }
  const failed: string[] = [];
  for (const app of expired) {
    ctx.out(`${app.stack}: last deployed ${app.ageDays} days ago (reviewAppTtlDays is ${settings.ttlDays}): removing`);
    try {
      down(ctx, app.pr, apps);
    } catch (err) {
      failed.push(`${app.stack}: ${(err as Error).message}`);
    }
  }
  if (failed.length > 0) {
    ctx.out(`FAILED to remove ${failed.length} expired review app(s):\n  ${failed.join("\n  ")}`);
    return 1;
  }
  return 0;
}

/**
 * Parses the command line (with the one argument parser, lib/cli.ts) and runs it; returns the
 * exit code (2 usage, 1 failure). Unlike the other commands, usage mistakes go to `out` without a
 * name prefix, as they always have (tests/reviewApp.driver.test.ts reads the usage on stdout).
 */
export async function main(argv: string[], partial: Partial<DriverContext> = {}): Promise<number> {
  const projectDir = partial.projectDir ?? findProjectDir(__dirname);
  const ctx: DriverContext = {
    projectDir,
    run: partial.run ?? spawnPulumi(projectDir),
    out: partial.out ?? ((line) => process.stdout.write(line + "\n")),
    now: partial.now ?? (() => new Date()),
    env: partial.env ?? process.env,
    headCommit:
      partial.headCommit ??
      (() => execFileSync("git", ["rev-parse", "HEAD"], { cwd: projectDir, encoding: "utf8" }).trim()),
  };
  try {
    const a = parseArgs(argv, {
      positional: ["command"],
      optionalPositional: ["pr"],
      values: ["sha", "summary"],
      ifMissing: { command: "missing command" },
    });
    if (a.help) {
      ctx.out(USAGE);
      return 0;
    }
    const { command, pr } = a.positional;
    const hasOptions = a.values.sha !== undefined || a.values.summary !== undefined;
    if (command === "up" && pr !== undefined)
      return await up(ctx, parsePrNumber(pr), { sha: a.values.sha, summary: a.values.summary });
    if (!hasOptions && command === "down" && pr !== undefined) return down(ctx, parsePrNumber(pr));
    if (!hasOptions && pr === undefined && command === "list") return list(ctx);
    if (!hasOptions && pr === undefined && command === "prune") return prune(ctx);
    throw new UsageError(`unknown command: ${argv.join(" ")}`);
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.out(`${err.message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof DriverError || err instanceof ReviewAppConfigError) {
      ctx.out(err.message);
      return 1;
    }
    if (err instanceof Error && /pull-request number|head commit/.test(err.message)) {
      ctx.out(`${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`review-app failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
