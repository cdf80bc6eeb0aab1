/**
 * Offline plan: what a stack's config asks for, described for a reviewer (no engine, no
 * credentials, no Cloudron). A desired-state description, never a live diff: it does not know what
 * the server runs now.
 */
import * as path from "node:path";
import { checkConfig, ConfigError, fullKey } from "../../config/loader";
import { rawConfigFromStackText, stackFileEntries, stackFileName } from "../../config/stackFile";
import { describeSteps, type Step } from "../../steps";
import { planMigrations, type PlanMigrations } from "../../steps/migrations/deployMigrations";
import { configAppEnvWarnings } from "../../config/appEnvRules";

export interface DesiredPlan {
  stack: string;
  environment: string;
  location: string;
  cloudronServer: string;
  image: { reference: string; tag: string; obtainedBy: string };
  manifestVersion: string;
  operations: string[];
  env: Record<string, string>;
  secretEnvKeys: string[];
  generated: string[];
  health: { url: string; timeoutSeconds: number };
  seed: { seedRun: string };
  smoke: { enabled: boolean; email?: string };
  sessionSecretRotation: string;
  /** Every other setting that changes what `up` does (compared key by key in a diff). */
  settings: Record<string, string | number | boolean>;
  /**
   * Secret config entries present in the file (`registryPassword`, `secretEnv.NAME`, …) → a short
   * sha256 of their *ciphertext* (public in the repository anyway), so a diff can say a secret was
   * re-set without ever knowing its value. Pulumi re-encrypts with a fresh nonce on every `set`.
   */
  secretFingerprints: Record<string, string>;
  protections: string[];
  /** Secrets `up` needs that this plan could not see (plans never need them). */
  notes: string[];
  /** Env the app reads differently than the config suggests (config/appEnvRules.ts); `up` goes on. */
  warnings: string[];
  /** The database migrations the release applies, classified (steps/migrations/deployMigrations.ts). */
  migrations: PlanMigrations;
}

/** Builds the plan from a stack file's text; secure values are never decrypted. */
export function buildPlan(
  stack: string,
  stackText: string,
  opts: { projectDir: string; appDir?: string; steps?: readonly Step[] },
): DesiredPlan {
  const file = stackFileName(stack);
  const raw = rawConfigFromStackText(stackText, file);
  if (opts.appDir) raw.values[fullKey("appDir")] = opts.appDir;
  // A plan reviews the file: secrets it does not hold yet and a missing checkout are notes, not errors.
  const checked = checkConfig(raw, {
    stack,
    projectDir: opts.projectDir,
    allowMissingSecrets: true,
    allowMissingAppDir: true,
  });
  if (!checked.config) throw new ConfigError(stack, checked.problems);
  const cfg = checked.config;
  const manifestKnown = checked.manifestKnown;
  const values = stackFileEntries(stackText, file);
  const notes = [...checked.notes];
  if (!(fullKey("cloudronToken") in raw.values))
    notes.push("cloudronToken is not set: up uses the operator's own `cloudron login`");
  const isProd = cfg.environment === "production";
  const tag = !manifestKnown && cfg.imageTagFromManifest ? "<manifest version>" : cfg.imageTag;
  const reference = `${cfg.imageRepository}:${tag}`;
  return {
    stack,
    environment: cfg.environment,
    location: cfg.location,
    cloudronServer: cfg.cloudronServer,
    image: {
      reference,
      tag,
      obtainedBy: cfg.build
        ? `build ${cfg.appDir} for linux/amd64 and push, then check an anonymous pull`
        : "existing tag, no build (rollback or promotion)",
    },
    manifestVersion: manifestKnown ? cfg.manifest.version : "unknown",
    // The program's own step list describes itself: the plan never keeps a copy.
    operations: describeSteps(cfg, opts.steps),
    // As the stack file lists them: the plan is read next to that file, and the same file gives the
    // same plan. Only the env request is sorted (steps/env/appEnv.ts), since Pulumi stores it.
    env: cfg.env,
    secretEnvKeys: Object.keys(cfg.secretEnv),
    generated: ["SESSION_SECRET"],
    health: { url: `${cfg.baseUrl}/api/health`, timeoutSeconds: cfg.healthTimeoutSeconds },
    seed: { seedRun: cfg.seedRun },
    smoke: { enabled: cfg.smoke, email: cfg.smokeEmail },
    sessionSecretRotation: cfg.sessionSecretRotation,
    settings: {
      imageRepository: cfg.imageRepository,
      build: cfg.build,
      appDir: cfg.appDir,
      baseUrl: cfg.baseUrl,
      healthTimeoutSeconds: cfg.healthTimeoutSeconds,
      smoke: cfg.smoke,
      smokeEmail: cfg.smokeEmail ?? "(none)",
      cloudronTimeoutSeconds: cfg.cloudronTimeoutSeconds,
      busyWaitSeconds: cfg.busyWaitSeconds,
      acknowledgeMigrations: cfg.acknowledgeMigrations.join(", ") || "(none)",
    },
    secretFingerprints: secureFingerprints(values),
    protections: isProd
      ? ["app (uninstall) protected", "seed protected", `autoRollback ${cfg.autoRollback}`]
      : [`autoRollback ${cfg.autoRollback}`],
    notes,
    warnings: configAppEnvWarnings(cfg),
    migrations: manifestKnown
      ? planMigrations({
          environment: cfg.environment,
          stack,
          location: cfg.location,
          build: cfg.build,
          imageTag: cfg.imageTag,
          manifestVersion: cfg.manifest.version,
          appDir: path.resolve(opts.projectDir, cfg.appDir),
          appDirLabel: cfg.appDir,
          acknowledged: cfg.acknowledgeMigrations,
          env: cfg.env,
        })
      : {
          since: "unknown (appDir not found; pass --app-dir)",
          kind: "unknown",
          changes: [],
          warnings: [],
          refusals: [],
        },
  };
}

/** `key` or `secretEnv.NAME` → sha256(ciphertext) prefix, for every `secure:` entry of the stack file. */
export function secureFingerprints(values: Record<string, unknown>): Record<string, string> {
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  const out: Record<string, string> = {};
  const walk = (prefix: string, v: unknown) => {
    if (!v || typeof v !== "object") return;
    const secure = (v as { secure?: unknown }).secure;
    if (typeof secure === "string") {
      out[prefix] = createHash("sha256").update(secure).digest("hex").slice(0, 12);
      return;
    }
    for (const [k, x] of Object.entries(v as object)) walk(`${prefix}.${k}`, x);
  };
  for (const [k, v] of Object.entries(values)) walk(k, v);
  return out;
}

/** Human-readable plan; secret values are never present in a plan to begin with. */
export function formatPlan(p: DesiredPlan): string {
  const lines = [
    `plan for stack ${p.stack} (${p.environment}) — desired state from config, not a live diff`,
    `  app:       ${p.location} on ${p.cloudronServer}`,
    `  image:     ${p.image.reference} (${p.image.obtainedBy})`,
    `  manifest:  ` +
      `${p.manifestVersion === "unknown" ? "unknown (appDir not found; pass --app-dir)" : p.manifestVersion}`,
    `  steps:`,
    ...p.operations.map((o, i) => `    ${i + 1}. ${o}`),
    `  env:`,
    ...Object.entries(p.env).map(([k, v]) => `    ${k}=${v}`),
    ...p.secretEnvKeys.map((k) => `    ${k}=[secret]`),
    ...p.generated.map((k) => `    ${k}=[generated secret; rotation ${p.sessionSecretRotation}]`),
    `  health:    ${p.health.url} within ${p.health.timeoutSeconds} s; seedRun ${p.seed.seedRun}; smoke ` +
      `${p.smoke.enabled ? "on" : "off"}${p.smoke.email ? ` (magic link to ${p.smoke.email})` : ""}`,
    `  protections: ${p.protections.join(", ")}`,
    `  migrations (${p.migrations.kind === "rollback" ? "left ahead by this rollback" : "applied"}; since ` +
      `${p.migrations.since}):`,
    ...(p.migrations.changes.length ? p.migrations.changes.map((c) => `    ${c}`) : ["    none new"]),
    ...p.migrations.warnings.map((w) => `    warning: ${w}`),
    ...p.migrations.refusals.map((r) => `    up would refuse: ${r}`),
    ...p.notes.map((n) => `  note: ${n}`),
    ...(p.warnings ?? []).map((w) => `  warning: ${w}`),
  ];
  return lines.join("\n");
}

/** What changes between two plans of the same stack, one line per change. */
export function diffPlans(before: DesiredPlan, after: DesiredPlan): string[] {
  const out: string[] = [];
  const cmp = (label: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${label}: ${fmt(a)} → ${fmt(b)}`);
  };
  cmp("environment", before.environment, after.environment);
  cmp("location", before.location, after.location);
  cmp("cloudronServer", before.cloudronServer, after.cloudronServer);
  if (before.settings.imageRepository === after.settings.imageRepository)
    cmp("image", before.image.tag, after.image.tag);
  else cmp("image", before.image.reference, after.image.reference);
  for (const k of new Set([...Object.keys(before.settings), ...Object.keys(after.settings)])) {
    if (k !== "imageRepository") cmp(k, before.settings[k], after.settings[k]);
  }
  for (const k of new Set([...Object.keys(before.env), ...Object.keys(after.env)])) {
    if (!(k in before.env)) out.push(`${k} added: ${fmt(after.env[k])}`);
    else if (!(k in after.env)) out.push(`${k} removed (will be unset)`);
    else if (before.env[k] !== after.env[k])
      out.push(`${k} changes from ${fmt(before.env[k])} to ${fmt(after.env[k])}`);
  }
  for (const k of new Set([...before.secretEnvKeys, ...after.secretEnvKeys])) {
    if (!before.secretEnvKeys.includes(k)) out.push(`secret ${k} added (value not shown)`);
    else if (!after.secretEnvKeys.includes(k)) out.push(`secret ${k} removed (will be unset)`);
  }
  const bf = before.secretFingerprints ?? {};
  const af = after.secretFingerprints ?? {};
  for (const k of new Set([...Object.keys(bf), ...Object.keys(af)])) {
    const envKey = k.startsWith("secretEnv.") ? k.slice("secretEnv.".length) : undefined;
    if (k in bf && k in af && bf[k] !== af[k])
      out.push(`secret ${envKey ?? k} re-set (ciphertext changed; value not shown)`);
    else if (!envKey && !(k in bf)) out.push(`secret ${k} set (value not shown)`);
    else if (!envKey && !(k in af)) out.push(`secret ${k} removed`);
  }
  cmp(
    "sessionSecretRotation (rotates SESSION_SECRET: logs every user out)",
    before.sessionSecretRotation,
    after.sessionSecretRotation,
  );
  cmp("seedRun (runs the seed again)", before.seed.seedRun, after.seed.seedRun);
  cmp("protections", before.protections, after.protections);
  const [bm, am] = [before.migrations?.changes ?? [], after.migrations?.changes ?? []];
  const verb = (m: PlanMigrations | undefined) => (m?.kind === "rollback" ? "left ahead by the rollback" : "applied");
  for (const c of am) if (!bm.includes(c)) out.push(`migration ${verb(after.migrations)}: ${c}`);
  for (const c of bm) if (!am.includes(c)) out.push(`migration no longer ${verb(before.migrations)}: ${c}`);
  const [br, ar] = [before.migrations?.refusals ?? [], after.migrations?.refusals ?? []];
  if (JSON.stringify(br) !== JSON.stringify(ar))
    out.push(`migration check: ${ar.length ? ar.join(" / ") : "up would not refuse"}`);
  return out;
}

function fmt(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v);
}
