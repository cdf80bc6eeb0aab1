/**
 * The stack-config contract: every `communityrule:*` key, its type, default and the rules that
 * tie keys together. Pure: it takes the raw config strings (as Pulumi hands them to the program)
 * plus a file reader, and returns a typed config or every problem at once. Nothing here touches
 * Pulumi, so the same rules serve `pulumi up`, the offline plan and the bad-config corpus.
 */
import * as path from "node:path";
import * as fs from "node:fs";
import { z } from "zod";
import * as semver from "semver";
import { parseAcknowledgements } from "../release/migrationGate";

export const CONFIG_NAMESPACE = "communityrule";

/** Default registry repository (Gitea container registry on git.medlab.host). */
export const DEFAULT_IMAGE_REPOSITORY = "git.medlab.host/communityrule/community-rule";

/** Env names Cloudron injects from addons; an operator value would shadow or break them. */
export const RESERVED_ENV_PREFIX = "CLOUDRON_";

/** Env names this program manages itself (generated, rotated through its own key). */
export const MANAGED_ENV_NAMES = ["SESSION_SECRET"] as const;

export type Environment = "staging" | "production";

/** Validated, defaulted stack configuration. Secrets are plain strings here; the caller wraps them. */
export interface DeployConfig {
  stack: string;
  environment: Environment;
  location: string;
  cloudronServer: string;
  cloudronToken?: string;
  imageRepository: string;
  imageTag: string;
  /** True when `imageTag` came from the manifest rather than from config. */
  imageTagFromManifest: boolean;
  build: boolean;
  appDir: string;
  registryUsername?: string;
  registryPassword?: string;
  env: Record<string, string>;
  secretEnv: Record<string, string>;
  sessionSecretRotation: string;
  seedRun: string;
  baseUrl: string;
  healthTimeoutSeconds: number;
  smoke: boolean;
  smokeEmail?: string;
  autoRollback: boolean;
  cloudronTimeoutSeconds: number;
  busyWaitSeconds: number;
  manifest: AppManifest;
  /** Risky/destructive migrations (and `rollback:<name>` entries) a reviewer has acknowledged. */
  acknowledgeMigrations: string[];
}

/** The parts of the app's CloudronManifest.json this program relies on. */
export interface AppManifest {
  id: string;
  version: string;
  /** sha256 of the manifest file's bytes: a manifest edit triggers a Cloudron update. */
  sha256: string;
}

/** One problem with one key, phrased for an operator. */
export interface ConfigProblem {
  key: string;
  message: string;
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

/** Keys and whether they must be stored as Pulumi secrets. The README documents each one. */
export const CONFIG_KEYS = {
  environment: { secret: false },
  location: { secret: false },
  cloudronServer: { secret: false },
  cloudronToken: { secret: true },
  imageRepository: { secret: false },
  imageTag: { secret: false },
  build: { secret: false },
  appDir: { secret: false },
  registryUsername: { secret: false },
  registryPassword: { secret: true },
  env: { secret: false },
  secretEnv: { secret: true },
  sessionSecretRotation: { secret: false },
  seedRun: { secret: false },
  baseUrl: { secret: false },
  healthTimeoutSeconds: { secret: false },
  smoke: { secret: false },
  smokeEmail: { secret: false },
  autoRollback: { secret: false },
  cloudronTimeoutSeconds: { secret: false },
  busyWaitSeconds: { secret: false },
  acknowledgeMigrations: { secret: false },
} as const;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Raw config as Pulumi stores it: `communityrule:key` → string (objects arrive as JSON text). */
export interface RawConfig {
  values: Record<string, string>;
  /** Full keys (`communityrule:cloudronToken`) that Pulumi holds as secrets. */
  secretKeys: ReadonlySet<string>;
}

const HOSTNAME_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A bare DNS hostname: no scheme, path, port, user info or trailing dot. */
export function isHostname(value: string): boolean {
  if (value.length > 253) return false;
  const labels = value.split(".");
  return labels.length >= 2 && labels.every((l) => HOSTNAME_LABEL.test(l));
}

/** Explains why a string is not a bare hostname, naming the part to drop. */
export function describeHostnameProblem(value: string): string {
  if (value.trim() === "") return "must not be empty";
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return `drop the scheme: use "${value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").split("/")[0]}"`;
  if (value.includes("/")) return `a hostname has no path: use "${value.split("/")[0]}"`;
  if (value.includes(":")) return "a hostname has no port";
  if (/[A-Z]/.test(value)) return `use lower case: "${value.toLowerCase()}"`;
  if (value !== value.trim() || /\s/.test(value)) return "must not contain spaces";
  if (!value.includes(".")) return "must be a fully qualified name such as staging.communityrule.info";
  return "is not a valid DNS hostname (letters, digits, '-' and '.' only)";
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Docker tag grammar (distribution reference): 1–128 chars, no leading '.' or '-'. */
const DOCKER_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** A short (or full) git SHA as `git rev-parse --short HEAD` prints it. */
const GIT_SHA = /^[0-9a-f]{7,40}$/;

/** Plain release semver: X.Y.Z with no prerelease or build metadata. */
export function isPlainSemver(tag: string): boolean {
  return /^\d+\.\d+\.\d+$/.test(tag) && semver.valid(tag) === tag;
}

/** Image repository without tag or scheme: `host[:port]/path`, lower case. */
const IMAGE_REPOSITORY = /^[a-z0-9.-]+(:\d{1,5})?(\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$/;

const hostname = z.string().superRefine((v, ctx) => {
  if (!isHostname(v)) ctx.addIssue({ code: "custom", message: describeHostnameProblem(v) });
});

/** Pulumi hands booleans and numbers over as strings; YAML authors may write either form. */
const booleanString = z
  .string()
  .transform((v, ctx) => {
    if (v === "true") return true;
    if (v === "false") return false;
    ctx.addIssue({ code: "custom", message: `must be true or false, got "${v}"` });
    return z.NEVER;
  });

const integerString = (min: number, max: number, unit: string) =>
  z.string().transform((v, ctx) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n)) {
      ctx.addIssue({ code: "custom", message: `must be a whole number of ${unit}, got "${v}"` });
      return z.NEVER;
    }
    if (n < min || n > max) {
      ctx.addIssue({ code: "custom", message: `must be between ${min} and ${max} ${unit}, got ${n}` });
      return z.NEVER;
    }
    return n;
  });

const nonEmpty = (what: string) =>
  z.string().refine((v) => v.trim() !== "", { message: `${what} must not be empty` });

/** An env map arrives as JSON text; scalars are stringified because YAML writes `true` unquoted. */
function envMapSchema(kind: "env" | "secretEnv") {
  return z.string().transform((text, ctx) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: "custom", message: "must be a map of NAME: value" });
      return z.NEVER;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      ctx.addIssue({ code: "custom", message: "must be a map of NAME: value, not a list or a single value" });
      return z.NEVER;
    }
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
      const problem = envEntryProblem(kind, name, value);
      if (problem) {
        ctx.addIssue({ code: "custom", path: [name], message: problem });
        continue;
      }
      out[name] = String(value);
    }
    return out;
  });
}

/** Why one env entry is unacceptable, or undefined. Never quotes the value (it may be secret). */
export function envEntryProblem(kind: "env" | "secretEnv", name: string, value: unknown): string | undefined {
  if (!ENV_NAME.test(name)) {
    return `"${name}" is not a valid environment variable name (letters, digits and _, not starting with a digit)`;
  }
  if (name.startsWith(RESERVED_ENV_PREFIX)) {
    return `${name} is injected by Cloudron's addons (postgresql, sendmail); remove it from ${kind}: setting it would override the addon's value`;
  }
  if ((MANAGED_ENV_NAMES as readonly string[]).includes(name)) {
    return `${name} is generated by this program; remove it from ${kind} and change communityrule:sessionSecretRotation to rotate it`;
  }
  if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
    return `value must be a string, number or boolean`;
  }
  const text = String(value);
  if (text.includes("\0")) return `value contains a NUL byte, which no environment variable can hold`;
  if (Buffer.byteLength(text) > 32 * 1024) return `value is longer than 32 KiB`;
  return undefined;
}

/** Zod schema for the raw (string) values; cross-key rules are checked afterwards. */
const rawSchema = z.object({
  environment: z.enum(["staging", "production"], { message: 'must be "staging" or "production"' }).optional(),
  location: hostname,
  cloudronServer: hostname,
  cloudronToken: nonEmpty("the token").optional(),
  imageRepository: z
    .string()
    .refine((v) => IMAGE_REPOSITORY.test(v), {
      message: "must look like host/owner/name (lower case, no scheme, no :tag), e.g. git.medlab.host/communityrule/community-rule",
    })
    .optional(),
  imageTag: z
    .string()
    .refine((v) => DOCKER_TAG.test(v), {
      message: "is not a valid image tag (letters, digits, '_', '.', '-'; at most 128; e.g. 0.1.10)",
    })
    .optional(),
  build: booleanString.optional(),
  appDir: nonEmpty("the path").optional(),
  registryUsername: nonEmpty("the user name").optional(),
  registryPassword: nonEmpty("the password").optional(),
  env: envMapSchema("env").optional(),
  secretEnv: envMapSchema("secretEnv").optional(),
  sessionSecretRotation: nonEmpty("the rotation value").optional(),
  seedRun: nonEmpty("the seed run value").optional(),
  baseUrl: z
    .string()
    .refine((v) => /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(v), {
      message: "must be an http(s) URL without query or fragment, e.g. https://staging.communityrule.info",
    })
    .optional(),
  healthTimeoutSeconds: integerString(10, 3600, "seconds").optional(),
  smoke: booleanString.optional(),
  smokeEmail: z.string().refine((v) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v), { message: "must be an email address" }).optional(),
  autoRollback: booleanString.optional(),
  cloudronTimeoutSeconds: integerString(60, 7200, "seconds").optional(),
  busyWaitSeconds: integerString(0, 3600, "seconds").optional(),
  acknowledgeMigrations: z
    .string()
    .transform((text, ctx) => {
      const parsed = parseAcknowledgements(text);
      if ("problem" in parsed) {
        ctx.addIssue({ code: "custom", message: parsed.problem });
        return z.NEVER;
      }
      return parsed.names;
    })
    .optional(),
});

/** How to set a key, shown next to the problem. */
function setHint(key: ConfigKey, example: string): string {
  const secret = CONFIG_KEYS[key].secret ? " --secret" : "";
  return `pulumi config set${secret} ${CONFIG_NAMESPACE}:${key} ${example}`;
}

const EXAMPLES: Partial<Record<ConfigKey, string>> = {
  location: "staging.communityrule.info",
  cloudronServer: "my.medlab.host",
  registryUsername: "<gitea user>",
  registryPassword: "<gitea token with write:package>",
};

/** Reads and checks the app checkout's manifest; problems are reported against appDir. */
export function readManifest(appDir: string, readFile: (p: string) => string): AppManifest | string {
  const file = path.join(appDir, "CloudronManifest.json");
  let text: string;
  try {
    text = readFile(file);
  } catch {
    return `no CloudronManifest.json in "${appDir}": point appDir at a checkout of CommunityRule/community-rule`;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `${file} is not valid JSON`;
  }
  const m = parsed as { id?: unknown; version?: unknown };
  if (typeof m.id !== "string" || m.id === "") return `${file} has no "id"`;
  if (typeof m.version !== "string" || !isPlainSemver(m.version)) {
    return `${file} has version ${JSON.stringify(m.version)}; Cloudron needs a plain semver X.Y.Z (e.g. 0.1.10)`;
  }
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  return { id: m.id, version: m.version, sha256: createHash("sha256").update(text).digest("hex") };
}

/** Edit distance (insert, delete, substitute: each 1) between two short strings. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The known key an unknown one was probably meant to be: same letters in another case, or a typo
 * of at most two edits (`locaton`, `healthTimeoutSecond`), so the message can name the fix.
 */
export function nearestKey(key: string): ConfigKey | undefined {
  const lower = key.toLowerCase();
  let best: { key: ConfigKey; distance: number } | undefined;
  for (const candidate of Object.keys(CONFIG_KEYS) as ConfigKey[]) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

/** Options for {@link parseDeployConfig}. */
export interface ParseOptions {
  stack: string;
  /** Directory relative paths (appDir) are resolved from: the Pulumi project directory. */
  projectDir: string;
  readFile?: (p: string) => string;
  exists?: (p: string) => boolean;
}

/**
 * Validates raw stack config. Returns the typed config or throws {@link ConfigError} listing every
 * problem, each naming its full key and a fix. Runs before any resource is registered.
 */
export function parseDeployConfig(raw: RawConfig, opts: ParseOptions): DeployConfig {
  const readFile = opts.readFile ?? ((p: string) => fs.readFileSync(p, "utf8"));
  const exists = opts.exists ?? ((p: string) => fs.existsSync(p));
  const problems: ConfigProblem[] = [];
  const full = (key: string) => `${CONFIG_NAMESPACE}:${key}`;
  const add = (key: string, message: string) => problems.push({ key: full(key), message });

  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.values)) {
    const [ns, ...rest] = k.split(":");
    const key = rest.join(":");
    if (ns !== CONFIG_NAMESPACE) continue;
    if (!(key in CONFIG_KEYS)) {
      const near = nearestKey(key);
      add(key, `unknown key${near ? `: did you mean ${full(near)}?` : `; known keys are listed in the README`}`);
      continue;
    }
    values[key] = v;
    if (CONFIG_KEYS[key as ConfigKey].secret && !raw.secretKeys.has(k)) {
      add(
        key,
        key === "secretEnv"
          ? `is stored in plain text; remove it and set each value with pulumi config set --secret --path 'secretEnv.NAME' <value>`
          : `is stored in plain text; remove it (pulumi config rm ${full(key)}) and set it with pulumi config set --secret ${full(key)} <value>`,
      );
    }
  }

  const result = rawSchema.safeParse(values);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = String(issue.path[0]);
      const sub = issue.path.slice(1).map(String);
      const missing = issue.code === "invalid_type" && values[key] === undefined;
      const example = EXAMPLES[key as ConfigKey];
      const message = missing
        ? `is required. Set it with: ${setHint(key as ConfigKey, example ?? "<value>")}`
        : issue.message;
      problems.push({ key: full([key, ...sub].join(".")), message });
    }
  }

  let environment: Environment | undefined = result.success ? result.data.environment : undefined;
  if (!environment) {
    if (opts.stack === "staging" || opts.stack === "production") environment = opts.stack;
    else if (values.environment === undefined) {
      add("environment", `stack "${opts.stack}" is neither staging nor production: set ${full("environment")} to staging or production`);
    }
  }
  if (!result.success || !environment || problems.length > 0) {
    // Cross-key rules need every single key to be valid first; report what we have.
    if (problems.length === 0) add("environment", "could not be determined");
    throw new ConfigError(opts.stack, problems);
  }
  const c = result.data;

  const appDirSetting = c.appDir ?? "../community-rule";
  const appDirAbs = path.resolve(opts.projectDir, appDirSetting);
  const build = c.build ?? true;
  const manifest = readManifest(appDirAbs, readFile);
  if (typeof manifest === "string") add("appDir", manifest);
  else if (build && !exists(path.join(appDirAbs, "Dockerfile"))) {
    add("appDir", `no Dockerfile in "${appDirSetting}", so build: true cannot build; set build to false to deploy an existing tag`);
  }

  const secretEnv = c.secretEnv ?? {};
  const env = c.env ?? {};
  for (const name of Object.keys(secretEnv)) {
    if (name in env) add(`secretEnv.${name}`, `${name} is also in ${full("env")}; keep it in one of the two`);
  }

  if (build && (!c.registryUsername || !c.registryPassword)) {
    add(
      c.registryUsername ? "registryPassword" : "registryUsername",
      `push credentials are required when build is true. Set ${full("registryUsername")} and ` +
        `pulumi config set --secret ${full("registryPassword")} <gitea token with write:package>, or set build to false`,
    );
  }

  const manifestVersion = typeof manifest === "string" ? undefined : manifest.version;
  const imageTag = c.imageTag ?? manifestVersion ?? "";
  if (environment === "production") {
    if (!isPlainSemver(imageTag)) {
      add(
        "imageTag",
        GIT_SHA.test(imageTag)
          ? `"${imageTag}" looks like a git SHA; production deploys only plain semver tags equal to the manifest version (SHA tags are for staging experiments)`
          : `"${imageTag}" is not plain semver X.Y.Z; production deploys only release tags`,
      );
    } else if (build && manifestVersion && imageTag !== manifestVersion) {
      add("imageTag", `is ${imageTag} but CloudronManifest.json says ${manifestVersion}; production builds must tag the manifest version (remove imageTag or make them equal)`);
    }
  } else if (c.imageTag && !isPlainSemver(imageTag) && !GIT_SHA.test(imageTag)) {
    add("imageTag", `"${imageTag}" is neither plain semver (0.1.10) nor a short git SHA (abc1234)`);
  }

  if (problems.length > 0) throw new ConfigError(opts.stack, problems);

  return {
    stack: opts.stack,
    environment,
    location: c.location,
    cloudronServer: c.cloudronServer,
    cloudronToken: c.cloudronToken,
    imageRepository: c.imageRepository ?? DEFAULT_IMAGE_REPOSITORY,
    imageTag,
    imageTagFromManifest: c.imageTag === undefined,
    build,
    appDir: appDirSetting,
    registryUsername: c.registryUsername,
    registryPassword: c.registryPassword,
    env: sortKeys(env),
    secretEnv: sortKeys(secretEnv),
    sessionSecretRotation: c.sessionSecretRotation ?? "0",
    seedRun: c.seedRun ?? "1",
    baseUrl: (c.baseUrl ?? `https://${c.location}`).replace(/\/+$/, ""),
    healthTimeoutSeconds: c.healthTimeoutSeconds ?? 300,
    smoke: c.smoke ?? true,
    smokeEmail: c.smokeEmail,
    autoRollback: c.autoRollback ?? environment === "production",
    cloudronTimeoutSeconds: c.cloudronTimeoutSeconds ?? 1800,
    busyWaitSeconds: c.busyWaitSeconds ?? 600,
    manifest: manifest as AppManifest,
    acknowledgeMigrations: c.acknowledgeMigrations ?? [],
  };
}

/** Sorted copy: stable key order keeps command inputs (and so diffs) stable across runs. */
export function sortKeys<T>(obj: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
