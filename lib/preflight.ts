/**
 * The pre-deployment checklist (deployment runbook), automated where a machine can judge it.
 * Each check returns PASS/FAIL with a detail; items only a person can judge are reminders.
 * The same checks guard `up`: config is validated before any resource, the program reads the live
 * app (release order; production: backup policy) before the image is built, the deploy step checks
 * token, role and app state before any mutating call, and the image is pull-checked.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { parseDeployConfig, ConfigError, type DeployConfig } from "./config/stackConfig";
import { readStackConfigText } from "./plan";
import { verifyAnonymousPull } from "./registry/ociRegistry";
import { CloudronApi, resolveToken } from "./cloudron/api";
import { judgeBackupPolicy } from "./cloudron/backupPolicy";

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export const REMINDERS = [
  "code review completed and approved (a person decides)",
  "migration SQL in prisma/migrations reviewed; no destructive change without a restore plan",
  "production: Cloudron backups are on and recent (dashboard → Backups)",
];

export interface PreflightOptions {
  stack: string;
  projectDir: string;
  stackText: string;
  /** Overrides for tests and for values only the operator's environment has. */
  overrides?: Record<string, string>;
  token?: string;
}

/** Runs every automated check; never throws. */
export async function runPreflight(o: PreflightOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const { values, secure } = readStackConfigText(o.stackText);
  const raw: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [k, v] of Object.entries(values)) {
    // Secure values cannot be decrypted here; their presence is what the checklist asks about.
    const text = secure.has(k) ? (typeof v === "object" && v && "secure" in v ? "[set]" : JSON.stringify(v)) : typeof v === "string" ? v : JSON.stringify(v);
    raw[`communityrule:${k}`] = text;
    if (secure.has(k)) secretKeys.add(`communityrule:${k}`);
  }
  for (const [k, v] of Object.entries(o.overrides ?? {})) raw[`communityrule:${k}`] = v;
  if (o.overrides?.registryPassword) secretKeys.add("communityrule:registryPassword");
  let cfg: DeployConfig | undefined;
  try {
    cfg = parseDeployConfig({ values: raw, secretKeys }, { stack: o.stack, projectDir: o.projectDir });
    results.push({ name: "config valid, required secrets set", ok: true, detail: `${cfg.location} on ${cfg.cloudronServer}` });
  } catch (err) {
    results.push({ name: "config valid, required secrets set", ok: false, detail: err instanceof ConfigError ? err.problems.map((p) => `${p.key}: ${p.message}`).join("; ") : String(err) });
    return results;
  }
  const appDir = path.resolve(o.projectDir, cfg.appDir);
  const git = spawnSync("git", ["-C", appDir, "status", "--porcelain"], { encoding: "utf8" });
  results.push(
    git.status !== 0
      ? { name: "app checkout is a clean git tree", ok: false, detail: `${appDir} is not a git checkout` }
      : { name: "app checkout is a clean git tree", ok: git.stdout.trim() === "", detail: git.stdout.trim() ? `uncommitted: ${git.stdout.trim().split("\n").slice(0, 5).join(", ")}` : "clean" },
  );
  const manifestError = (require("cloudron-manifestformat") as { parse(m: unknown): Error | null }).parse(
    JSON.parse(fs.readFileSync(path.join(appDir, "CloudronManifest.json"), "utf8")),
  );
  results.push({ name: "CloudronManifest.json valid", ok: !manifestError, detail: manifestError ? manifestError.message : `version ${cfg.manifest.version}` });

  const ref = `${cfg.imageRepository}:${cfg.imageTag}`;
  if (!cfg.build) {
    try {
      const r = await verifyAnonymousPull(ref);
      results.push({ name: "image tag pullable anonymously (linux/amd64)", ok: true, detail: `${ref} → ${r.platformDigest}` });
    } catch (err) {
      results.push({ name: "image tag pullable anonymously (linux/amd64)", ok: false, detail: (err as Error).message });
    }
  } else {
    results.push({ name: "image buildable", ok: fs.existsSync(path.join(appDir, "Dockerfile")), detail: `${ref} will be built from ${cfg.appDir}` });
  }

  for (const r of await cloudronChecks(cfg, o.token)) results.push(r);
  return results;
}

/**
 * The Cloudron checks through the REST API (read-only): token and role, the release order against
 * what runs, and on production the backup policy (app automatic backups, server retention).
 */
export async function cloudronChecks(cfg: DeployConfig, token?: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const name = "Cloudron reachable and authenticated";
  let api: CloudronApi;
  let app;
  try {
    const resolved = resolveToken({ server: cfg.cloudronServer, configToken: token, envToken: process.env.CLOUDRON_TOKEN || undefined });
    api = new CloudronApi({ server: cfg.cloudronServer, token: resolved.token, taskTimeoutSeconds: 60, busyWaitSeconds: 0, log: () => undefined });
    const user = await api.checkAccess("preflight");
    app = await api.findApp(cfg.location, "preflight");
    results.push({ name, ok: true, detail: `${cfg.cloudronServer} as ${user || "a user"} (token from ${resolved.source})` });
  } catch (err) {
    results.push({ name, ok: false, detail: (err as Error).message });
    return results;
  }
  if (app) {
    const semver = require("semver") as typeof import("semver");
    const deployed = app.manifest.version ?? "";
    const above = !cfg.build || deployed === "" || deployed === cfg.manifest.version || (semver.valid(deployed) !== null && semver.gt(cfg.manifest.version, deployed));
    results.push({ name: "manifest version not below the deployed one", ok: above, detail: `deployed ${deployed || "unknown"}, manifest ${cfg.manifest.version}` });
  } else {
    results.push({ name: "manifest version not below the deployed one", ok: true, detail: `${cfg.location} not installed yet` });
  }
  if (cfg.environment === "production") {
    try {
      const retention = await api.getBackupPolicy("preflight");
      const verdict = judgeBackupPolicy(app?.enableBackup, retention, cfg.minBackupRetentionDays, cfg.location);
      results.push({ name: "backups: app automatic backups on, retention long enough", ok: verdict.problems.length === 0, detail: verdict.problems.join("; ") || verdict.summary });
    } catch (err) {
      results.push({ name: "backups: app automatic backups on, retention long enough", ok: false, detail: (err as Error).message });
    }
  }
  return results;
}

/** PASS/FAIL lines, then reminders. */
export function formatPreflight(results: CheckResult[]): string {
  return [
    ...results.map((r) => `${r.ok ? "PASS" : "FAIL"} ${r.name}: ${r.detail}`),
    ...REMINDERS.map((r) => `REMINDER ${r}`),
    `preflight: ${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length} failed`,
  ].join("\n");
}
