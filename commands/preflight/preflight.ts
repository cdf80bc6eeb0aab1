/**
 * The pre-deployment checklist (deployment runbook), automated where a machine can judge it.
 * Every check runs unless a check it depends on failed (then it is SKIPped, naming which), so one
 * run shows every problem. Items only a person can judge are reminders, fitted to the stack.
 * The same checks guard `up`: config is validated before any resource, the program reads the live
 * app (release order; production: backup policy) before the image is built, the deploy step checks
 * token, role and app state before any mutating call, and the image is pull-checked.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as dns from "node:dns";
import { isIP } from "node:net";
import { isLoopbackHost } from "../../lib/loopback";
import { spawnSync } from "node:child_process";
import { checkConfig, CONFIG_DEFAULTS, type ConfigProblem, type DeployConfig } from "../../config/loader";
import { rawConfigFromStackText, stackFileEntries, stackFileName } from "../../config/stackFile";
import { verifyAnonymousPull } from "../../registry/ociRegistry";
import { CloudronApi, resolveToken, type TokenSource } from "../../cloudron/client";
import { assessBackups } from "../../cloudron/backupPolicy";
import { minBoxVersionOf } from "../../steps/live-check/liveCheck";
import type { App } from "../../cloudron/wire";
import { requestText, HttpRequestError } from "../../lib/http";
import * as semver from "../../lib/semver";
import { configAppEnvWarnings } from "../../config/appEnvRules";

export type CheckStatus = "PASS" | "FAIL" | "SKIP" | "WARN";

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** SKIP: not run because a check it needs failed, or because this stack does not need it. */
  skipped?: boolean;
  /** WARN: nothing stops the deploy, but the app will not work as the config suggests. */
  warning?: boolean;
}

/** Check names, stated once: tests and the runbook refer to them. */
export const CHECK = {
  config: "config valid, required secrets set",
  server: "cloudronServer resolves and answers",
  checkout: "app checkout is a clean git tree",
  manifest: "CloudronManifest.json valid",
  pull: "image tag pullable anonymously (linux/amd64)",
  buildable: "image buildable",
  cloudron: "Cloudron reachable and authenticated",
  token: "API token may write (Read and Write scope)",
  serverVersion: "Cloudron version meets the manifest's minBoxVersion",
  version: "manifest version not below the deployed one",
  backups: "backups: app automatic backups on, retention long enough",
  appEnv: "app env as the app reads it",
} as const;

/** Human checks, per environment: a staging deploy gets no production reminder. */
export function reminders(environment: string): string[] {
  return [
    "code review completed and approved (a person decides)",
    "migration SQL in prisma/migrations reviewed; no destructive change without a restore plan",
    ...(environment === "production" ? ["production: Cloudron backups are on and recent (dashboard → Backups)"] : []),
  ];
}

export interface PreflightOptions {
  stack: string;
  projectDir: string;
  stackText: string;
  /** Overrides for tests and for values only the operator's environment has. */
  overrides?: Record<string, string>;
  token?: string;
  /** Checks that cloudronServer resolves and answers; tests inject one (the real one needs DNS). */
  serverCheck?: (server: string) => Promise<{ ok: boolean; detail: string }>;
}

/** Where cloudronServer's API lives: a host name means https://<host>; a loopback URL is used as written. */
export function serverBaseUrl(server: string): string {
  return /^https?:\/\//.test(server) ? server.replace(/\/+$/, "") : `https://${server}`;
}

/**
 * Does the name resolve (DNS only)? Loopback URLs and IP literals need no lookup. `ENOTFOUND`
 * means the name does not exist (a typo, usually); other codes mean no answer from DNS at all.
 */
export async function resolveServer(
  server: string,
  lookup: (host: string) => Promise<{ address: string }> = (h) => dns.promises.lookup(h),
): Promise<{ ok: boolean; detail: string; code?: string }> {
  const host = new URL(serverBaseUrl(server)).hostname.replace(/^\[|\]$/g, "");
  // An address, or this machine: nothing for DNS to resolve.
  if (isIP(host) !== 0 || isLoopbackHost(host)) return { ok: true, detail: host };
  try {
    return { ok: true, detail: `${host} → ${(await lookup(host)).address}` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "ERROR";
    return code === "ENOTFOUND"
      ? {
          ok: false,
          code,
          detail:
            `${host} does not resolve (no such host): check the spelling of communityrule:cloudronServer, and ` +
            `that this machine is online`,
        }
      : { ok: false, code, detail: `${host} could not be looked up (${code}): no DNS answer from this machine` };
  }
}

/**
 * The server check `preflight` and the deploy tools share in spirit: the name resolves, and the
 * host answers HTTP(S) at all (Cloudron's unauthenticated `GET /api/v1/cloudron/status`). Any
 * HTTP status counts as an answer; authentication is the next check's job.
 */
export async function checkServerAnswers(server: string, timeoutMs = 10_000): Promise<{ ok: boolean; detail: string }> {
  const dnsResult = await resolveServer(server);
  if (!dnsResult.ok) return { ok: false, detail: dnsResult.detail };
  const url = `${serverBaseUrl(server)}/api/v1/cloudron/status`;
  try {
    const r = await requestText({ url, timeoutMs });
    return { ok: true, detail: `${dnsResult.detail}; answers HTTP ${r.status}` };
  } catch (err) {
    const code = err instanceof HttpRequestError ? err.code : "ERROR";
    return {
      ok: false,
      detail: `${dnsResult.detail}, but ${url} does not answer (${code}: ${(err as Error).message})`,
    };
  }
}

/** Short keys named by config problems (`communityrule:secretEnv.X` → `secretEnv`). */
function keysWithProblems(problems: ConfigProblem[]): Set<string> {
  return new Set(problems.map((p) => p.key.replace(/^communityrule:/, "").split(".")[0]));
}

/** Runs every automated check whose prerequisites hold; never throws. */
export async function runPreflight(o: PreflightOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const pass = (name: string, detail: string) => results.push({ name, ok: true, detail });
  const fail = (name: string, detail: string) => results.push({ name, ok: false, detail });
  const skip = (name: string, why: string) => results.push({ name, ok: true, skipped: true, detail: why });
  const passed = (name: string) => results.some((r) => r.name === name && r.ok && !r.skipped);

  const fromFile = rawConfigFromStackText(o.stackText, stackFileName(o.stack));
  const raw = { values: { ...fromFile.values }, secretKeys: new Set(fromFile.secretKeys) };
  for (const [k, v] of Object.entries(o.overrides ?? {})) raw.values[`communityrule:${k}`] = v;
  if (o.overrides?.registryPassword) raw.secretKeys.add("communityrule:registryPassword");

  // Secure values are not decrypted here (placeholders stand in): their presence is what counts.
  const checked = checkConfig(raw, { stack: o.stack, projectDir: o.projectDir });
  const cfg: DeployConfig | undefined = checked.config;
  if (cfg) {
    pass(CHECK.config, `${cfg.location} on ${cfg.cloudronServer}`);
    for (const w of configAppEnvWarnings(cfg)) results.push({ name: CHECK.appEnv, ok: true, warning: true, detail: w });
  }
  // One problem per line: a config with several mistakes stays readable.
  else
    fail(
      CHECK.config,
      [`${checked.problems.length} problem(s)`, ...checked.problems.map((p) => `  - ${p.key}: ${p.message}`)].join(
        "\n",
      ),
    );
  const bad = keysWithProblems(checked.problems);
  // With an invalid config, each later check still runs when the keys it reads are themselves valid.
  const value = (key: string): string | undefined => (bad.has(key) ? undefined : raw.values[`communityrule:${key}`]);
  const usable = (...keys: string[]) => keys.every((k) => !bad.has(k));
  const server = cfg?.cloudronServer ?? value("cloudronServer");
  const build = cfg?.build ?? (usable("build") ? value("build") !== "false" : undefined);
  const appDirSetting = cfg?.appDir ?? (usable("appDir") ? (value("appDir") ?? CONFIG_DEFAULTS.appDir) : undefined);
  const appDir = appDirSetting === undefined ? undefined : path.resolve(o.projectDir, appDirSetting);

  if (server === undefined) skip(CHECK.server, "needs a valid communityrule:cloudronServer (see the config line)");
  else {
    const r = await (o.serverCheck ?? checkServerAnswers)(server);
    (r.ok ? pass : fail)(CHECK.server, r.detail);
  }

  if (build === false) skip(CHECK.checkout, "not needed: build is false, nothing is built from the checkout");
  else if (appDir === undefined || build === undefined)
    skip(CHECK.checkout, "needs valid communityrule:appDir and build (see the config line)");
  else {
    const git = spawnSync("git", ["-C", appDir, "status", "--porcelain"], { encoding: "utf8" });
    if (git.status !== 0) fail(CHECK.checkout, `${appDir} is not a git checkout`);
    else if (git.stdout.trim())
      fail(CHECK.checkout, `uncommitted: ${git.stdout.trim().split("\n").slice(0, 5).join(", ")}`);
    else pass(CHECK.checkout, "clean");
  }

  // The program sends the manifest to Cloudron on install and update, build or not.
  const manifestFile = appDir === undefined ? undefined : path.join(appDir, "CloudronManifest.json");
  let manifestVersion: string | undefined;
  let minBoxVersion: string | undefined;
  if (manifestFile === undefined) skip(CHECK.manifest, "needs a valid communityrule:appDir (see the config line)");
  else if (!fs.existsSync(manifestFile))
    fail(CHECK.manifest, `no ${manifestFile}: point communityrule:appDir at a checkout of the app (or pass --app-dir)`);
  else {
    try {
      type ManifestFields = { version?: string } & Record<string, unknown>;
      const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as ManifestFields;
      const problem = (require("cloudron-manifestformat") as { parse(m: unknown): Error | null }).parse(manifest);
      if (problem) fail(CHECK.manifest, problem.message);
      else {
        manifestVersion = manifest.version;
        minBoxVersion = minBoxVersionOf(manifest);
        pass(CHECK.manifest, `version ${manifest.version}`);
      }
    } catch (err) {
      fail(CHECK.manifest, `${manifestFile} is not valid JSON: ${(err as Error).message}`);
    }
  }

  if (build === false) {
    const tag = cfg?.imageTag ?? value("imageTag");
    const repo =
      cfg?.imageRepository ??
      (usable("imageRepository") ? (value("imageRepository") ?? CONFIG_DEFAULTS.imageRepository) : undefined);
    if (!tag || !repo) skip(CHECK.pull, "needs valid communityrule:imageRepository and imageTag (see the config line)");
    else {
      const ref = `${repo}:${tag}`;
      try {
        pass(CHECK.pull, `${ref} → ${(await verifyAnonymousPull(ref)).platformDigest}`);
      } catch (err) {
        fail(CHECK.pull, (err as Error).message);
      }
    }
  } else if (appDir === undefined || build === undefined)
    skip(CHECK.buildable, "needs valid communityrule:appDir and build (see the config line)");
  else {
    const hasDockerfile = fs.existsSync(path.join(appDir, "Dockerfile"));
    (hasDockerfile ? pass : fail)(
      CHECK.buildable,
      hasDockerfile ? `will be built from ${appDirSetting}` : `no Dockerfile in ${appDir}`,
    );
  }

  // Cloudron through its REST API, read-only: token and role, the deployed version, production backups.
  const location = cfg?.location ?? value("location");
  let app: App | undefined;
  let api: CloudronApi | undefined;
  if (server === undefined || !passed(CHECK.server)) skip(CHECK.cloudron, `needs ${CHECK.server} (failed above)`);
  else {
    try {
      let source: TokenSource;
      ({ api, source } = connect(server, o.token));
      const user = await api.checkAccess("preflight");
      app = location ? await api.findApp(location, "preflight") : undefined;
      pass(CHECK.cloudron, `${server} as ${user || "a user"} with role owner/admin (token from ${source})`);
    } catch (err) {
      api = undefined;
      fail(CHECK.cloudron, (err as Error).message);
    }
  }
  if (api) {
    await checkTokenAndServer(api, { minBoxVersion, manifestRead: manifestVersion !== undefined, pass, fail, skip });
  } else {
    skip(CHECK.token, `needs ${CHECK.cloudron}, which did not pass`);
    skip(CHECK.serverVersion, `needs ${CHECK.cloudron}, which did not pass`);
  }
  if (api && location) {
    const deployed = app?.manifest.version;
    if (!app) pass(CHECK.version, `${location} not installed yet`);
    else if (!manifestVersion) skip(CHECK.version, `needs ${CHECK.manifest} (failed above)`);
    else {
      const ok =
        build === false ||
        deployed === manifestVersion ||
        (!!deployed && semver.valid(deployed) !== null && semver.gt(manifestVersion, deployed));
      (ok ? pass : fail)(CHECK.version, `deployed ${deployed ?? "unknown"}, manifest ${manifestVersion}`);
    }
  }
  const environment = cfg?.environment ?? (value("environment") || o.stack);
  if (environment === "production") {
    const minDays = cfg?.minBackupRetentionDays ?? CONFIG_DEFAULTS.minBackupRetentionDays;
    if (!api) skip(CHECK.backups, `needs ${CHECK.cloudron}, which did not pass`);
    else {
      try {
        const verdict = await assessBackups(api, app, minDays, location ?? "the app", "preflight");
        (verdict.problems.length === 0 ? pass : fail)(CHECK.backups, [...verdict.problems, verdict.summary].join("; "));
      } catch (err) {
        fail(CHECK.backups, (err as Error).message);
      }
    }
  }
  if (!results.some((r) => r.name === CHECK.version))
    skip(CHECK.version, `needs ${CHECK.cloudron}, which did not pass`);
  return results;
}

type Record3 = (name: string, detail: string) => void;

/**
 * The token's scope as GET /tokens shows it (a read-only token FAILs; not observable → PASS saying
 * so, the first mutating call's 403 then names the fix) and the server's version against the
 * manifest's minBoxVersion (GET /cloudron/status).
 */
async function checkTokenAndServer(
  api: CloudronApi,
  o: { minBoxVersion?: string; manifestRead: boolean; pass: Record3; fail: Record3; skip: Record3 },
): Promise<void> {
  try {
    const scope = await api.tokenScope("preflight");
    if (scope.access === "read-only") {
      const which = scope.name ? ` "${scope.name}"` : "";
      o.fail(
        CHECK.token,
        `the token${which} is read-only: create a "Read and Write" token (dashboard → Profile → API Tokens)`,
      );
    } else if (scope.access === "read-write") {
      o.pass(CHECK.token, `scope allows writing${scope.name ? ` (token "${scope.name}")` : ""}`);
    } else {
      o.pass(
        CHECK.token,
        `not observable (${scope.why}); a read-only token fails at the first change with a 403 naming the fix`,
      );
    }
  } catch (err) {
    o.fail(CHECK.token, (err as Error).message);
  }
  if (!o.manifestRead) return o.skip(CHECK.serverVersion, `needs ${CHECK.manifest} (failed above)`);
  try {
    const version = await api.checkServerVersion(o.minBoxVersion, "preflight");
    const needs = o.minBoxVersion ? `, manifest needs ${o.minBoxVersion}` : ", the manifest names no minBoxVersion";
    o.pass(CHECK.serverVersion, `Cloudron ${version}${needs}`);
  } catch (err) {
    o.fail(CHECK.serverVersion, (err as Error).message);
  }
}

/** The read-only API client for preflight: token from the option, CLOUDRON_TOKEN, or ~/.cloudron.json. */
function connect(server: string, token?: string): { api: CloudronApi; source: TokenSource } {
  const resolved = resolveToken({ server, configToken: token, envToken: process.env.CLOUDRON_TOKEN || undefined });
  return {
    api: new CloudronApi({
      server,
      token: resolved.token,
      taskTimeoutSeconds: 60,
      busyWaitSeconds: 0,
      log: () => undefined,
    }),
    source: resolved.source,
  };
}

/** The environment a stack file deploys to (`communityrule:environment`, else the stack name). */
export function environmentOf(stack: string, stackText: string): string {
  const configured = stackFileEntries(stackText, stackFileName(stack)).environment;
  return configured === "staging" || configured === "production" ? configured : stack;
}

/** PASS/FAIL/SKIP lines, then the reminders for this stack's environment, then the count. */
export function formatPreflight(results: CheckResult[], environment = "production"): string {
  const status = (r: CheckResult): CheckStatus => (r.skipped ? "SKIP" : r.warning ? "WARN" : r.ok ? "PASS" : "FAIL");
  const count = (s: CheckStatus) => results.filter((r) => status(r) === s).length;
  return [
    ...results.map((r) => `${status(r)} ${r.name}: ${r.detail}`),
    ...reminders(environment).map((r) => `REMINDER ${r}`),
    `preflight: ${count("PASS")} passed, ${count("FAIL")} failed, ${count("SKIP")} skipped`,
  ].join("\n");
}
