/**
 * THE config loader: takes raw config from either source (Pulumi's runtime for the program, or a
 * `Pulumi.<stack>.yaml` read by config/stackFile.ts for plan, preflight, rehearsal, drill) and
 * returns the typed, defaulted config or every problem at once, each naming its key and a fix.
 * Pure apart from reading the app checkout's manifest (injectable); never touches Pulumi.
 */
import * as path from "node:path";
import * as fs from "node:fs";
import {
  COMPUTED_DEFAULTS,
  CONFIG_DEFAULTS,
  CONFIG_SCHEMA,
  CONFIG_NAMESPACE,
  type ConfigKey,
  type ConfigValues,
  type DeploySettings,
} from "./schema";
import {
  dockerfileRule,
  environmentRule,
  envOverlapRule,
  plainTextSecretRule,
  productionBuildRule,
  productionTagRule,
  pushCredentialsRule,
  readManifest,
  requiredKeyRule,
  stagingTagRule,
  unknownKeyRule,
  valueRule,
  type AppManifest,
  type ConfigProblem,
  type RawConfig,
} from "./rules";
import { isReviewImageTag, reviewAppConfigProblems } from "./reviewAppRules";
import { appEnvFindings } from "./appEnvRules";

export * from "./schema";
export { isHostname, describeHostnameProblem } from "./hostname";
export { isPlainSemver } from "../release/versionRules";
export {
  nearestKey,
  readManifest,
  type AppManifest,
  type ConfigProblem,
  type Environment,
  type RawConfig,
} from "./rules";

/**
 * Validated, defaulted stack configuration: every deploy key typed by its check in the schema
 * ({@link DeploySettings}), plus what the loader adds. Secrets are plain strings here; the caller
 * wraps them.
 */
export interface DeployConfig extends DeploySettings {
  stack: string;
  /** True when `imageTag` came from the manifest rather than from config. */
  imageTagFromManifest: boolean;
  manifest: AppManifest;
}

/** All config problems at once, so an operator fixes them in one pass. */
export class ConfigError extends Error {
  constructor(
    /** The Pulumi stack name (not `stack`: that would shadow Error#stack and hide the message when printed). */
    public readonly stackName: string,
    public readonly problems: ConfigProblem[],
  ) {
    super(
      `stack "${stackName}" has ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}; ` +
        `nothing was deployed:\n` +
        problems.map((p) => `  - ${p.key}: ${p.message}`).join("\n"),
    );
    this.name = "ConfigError";
    // An operator's mistake, not a bug: however it is printed, show the problems, never code frames.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** Options of {@link checkConfig}. */
export interface CheckOptions {
  stack: string;
  /** Directory relative paths (appDir) are resolved from: the Pulumi project directory. */
  projectDir: string;
  readFile?: (p: string) => string;
  exists?: (p: string) => boolean;
  /**
   * For reviews of a stack file (plan): secrets `up` needs but the file does not hold yet
   * (registry credentials) become notes instead of problems.
   */
  allowMissingSecrets?: boolean;
  /**
   * For reviews without the app checkout: a missing manifest becomes a note, the manifest version
   * is unknown (`manifestKnown: false`) and the rules that compare against it are skipped.
   */
  allowMissingAppDir?: boolean;
}

/** What {@link checkConfig} found: a config when there are no problems. */
export interface ConfigCheck {
  config?: DeployConfig;
  problems: ConfigProblem[];
  /** Things a review should mention that are not errors (only with the `allowMissing*` options). */
  notes: string[];
  /** False when the app checkout was not found and `allowMissingAppDir` let that pass. */
  manifestKnown: boolean;
}

/** Runs every rule over the raw config and collects all problems; never throws for bad config. */
export function checkConfig(raw: RawConfig, opts: CheckOptions): ConfigCheck {
  const readFile = opts.readFile ?? ((p: string) => fs.readFileSync(p, "utf8"));
  const exists = opts.exists ?? ((p: string) => fs.existsSync(p));
  const problems: ConfigProblem[] = [];
  const notes: string[] = [];

  // Per key: known, stored as it must be, valid on its own.
  const texts: Partial<Record<ConfigKey, string>> = {};
  for (const [full, text] of Object.entries(raw.values)) {
    const [ns, ...rest] = full.split(":");
    if (ns !== CONFIG_NAMESPACE) continue;
    const key = rest.join(":");
    const unknown = unknownKeyRule(key);
    problems.push(...unknown);
    if (unknown.length === 0) texts[key as ConfigKey] = text;
  }
  const values: ConfigValues = {};
  const invalid = new Set<ConfigKey>();
  for (const key of Object.keys(CONFIG_SCHEMA) as ConfigKey[]) {
    const text = texts[key];
    if (text === undefined) {
      problems.push(...requiredKeyRule(key, false));
      continue;
    }
    problems.push(...plainTextSecretRule(key, raw));
    const checked = valueRule(key, text);
    problems.push(...checked.problems);
    if (checked.problems.length > 0) invalid.add(key);
    else (values as Record<string, unknown>)[key] = checked.value;
  }
  const valid = (key: ConfigKey) => !invalid.has(key);

  // Across keys: each rule sees only keys that passed, so one mistake is reported once.
  const env = environmentRule(opts.stack, values.environment, texts.environment !== undefined);
  problems.push(...env.problems);

  // Production promotes what staging built, so it never builds unless told to (and then refuses).
  const build = valid("build") ? (values.build ?? env.environment !== "production") : undefined;
  if (env.environment === "production") problems.push(...productionBuildRule(values.build));
  const appDirSetting = values.appDir ?? CONFIG_DEFAULTS.appDir;
  let manifest: AppManifest | undefined;
  let manifestKnown = valid("appDir");
  if (valid("appDir")) {
    const appDirAbs = path.resolve(opts.projectDir, appDirSetting);
    const read = readManifest(appDirAbs, readFile);
    if (typeof read !== "string") {
      manifest = read;
      problems.push(...dockerfileRule(build, appDirSetting, exists(path.join(appDirAbs, "Dockerfile"))));
    } else if (opts.allowMissingAppDir && !exists(appDirAbs)) {
      manifestKnown = false;
      notes.push(`appDir ${appDirSetting} not found here: manifest version unknown (pass --app-dir)`);
    } else {
      manifestKnown = false;
      problems.push({ key: `${CONFIG_NAMESPACE}:appDir`, message: read });
    }
  }

  if (valid("env") && valid("secretEnv")) {
    problems.push(...envOverlapRule(values.env, values.secretEnv));
    // The env as the app reads it (config/appEnvRules.ts); its warnings are printed by plan, preflight and up.
    const appEnv = { env: values.env ?? {}, secretEnvNames: Object.keys(values.secretEnv ?? {}), stack: opts.stack };
    for (const f of appEnvFindings(appEnv))
      if (f.severity === "refuse") problems.push({ key: f.key, message: f.message });
  }
  if (values.takeOverFrom !== undefined && values.takeOverFrom === opts.stack) {
    problems.push({
      key: `${CONFIG_NAMESPACE}:takeOverFrom`,
      message:
        `names this stack itself (${opts.stack}); it names the other stack whose app to take over, e.g. ` +
        `staging. Remove it: \`pulumi config rm communityrule:takeOverFrom -s ${opts.stack}\``,
    });
  }

  const credentials = pushCredentialsRule(build, {
    registryUsername: texts.registryUsername !== undefined,
    registryPassword: texts.registryPassword !== undefined,
  });
  if (opts.allowMissingSecrets) {
    for (const key of ["registryUsername", "registryPassword"] as const) {
      if (credentials.length > 0 && texts[key] === undefined)
        notes.push(`${key} is not set (required for up with build: true)`);
    }
  } else problems.push(...credentials);

  const imageTag = values.imageTag ?? manifest?.version;
  if (valid("imageTag") && valid("location") && env.environment && values.location) {
    const review = reviewAppConfigProblems({
      stack: opts.stack,
      environment: env.environment,
      location: values.location,
      imageTag: imageTag ?? "",
      stagingOnlyKeys: (Object.keys(texts) as ConfigKey[]).filter((k) => "stagingOnly" in CONFIG_SCHEMA[k]),
    });
    problems.push(...review.map((p) => ({ key: `${CONFIG_NAMESPACE}:${p.key}`, message: p.message })));
  }
  if (valid("imageTag") && imageTag !== undefined && !isReviewImageTag(imageTag)) {
    if (env.environment === "production")
      problems.push(...productionTagRule(imageTag, { build, manifestVersion: manifest?.version }));
    else if (env.environment && values.imageTag !== undefined) problems.push(...stagingTagRule(imageTag));
  }

  if (problems.length > 0 || !env.environment || build === undefined || (!manifest && manifestKnown)) {
    return { problems, notes, manifestKnown };
  }
  const environment = env.environment;
  const location = values.location as string;
  const config: DeployConfig = {
    ...withConstantDefaults(values),
    stack: opts.stack,
    environment,
    // Unknown manifest (a review without the checkout): an empty tag, shown as "<manifest version>".
    imageTag: imageTag ?? "",
    imageTagFromManifest: values.imageTag === undefined,
    build,
    baseUrl: (values.baseUrl ?? `https://${location}`).replace(/\/+$/, ""),
    autoRollback: values.autoRollback ?? environment === "production",
    manifest: manifest ?? { id: "<manifest id>", version: "<manifest version>", sha256: "", content: {} },
  };
  return { config, problems, notes, manifestKnown };
}

/**
 * Validates raw stack config. Returns the typed config or throws {@link ConfigError} listing every
 * problem, each naming its full key and a fix. Runs before any resource is registered.
 */
export function parseDeployConfig(raw: RawConfig, opts: CheckOptions): DeployConfig {
  const result = checkConfig(raw, opts);
  if (!result.config) throw new ConfigError(opts.stack, result.problems);
  return result.config;
}

/**
 * Every deploy key's parsed value, or its constant default when the stack leaves it out (a copy: a
 * caller may change its config). Keys with a computed default are set by the caller; staging-only
 * keys are left out (commands/review-app reads them from staging's file). Env maps keep the order
 * they were written in: the one place that orders env is `buildDesiredEnv` (steps/env/appEnv.ts).
 */
function withConstantDefaults(values: ConfigValues): Omit<DeploySettings, keyof typeof COMPUTED_DEFAULTS> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(CONFIG_SCHEMA) as ConfigKey[]) {
    if ("stagingOnly" in CONFIG_SCHEMA[key]) continue;
    const value: unknown =
      values[key] ??
      (key in CONFIG_DEFAULTS ? structuredClone(CONFIG_DEFAULTS[key as keyof typeof CONFIG_DEFAULTS]) : undefined);
    if (value !== undefined) out[key] = value;
  }
  return out as Omit<DeploySettings, keyof typeof COMPUTED_DEFAULTS>;
}
