/**
 * The config rules, one small named function each. Every rule returns the problems it finds (an
 * empty list when satisfied) and says how to fix each one. Rules that read several keys are given
 * only the keys that passed their own check, and stay silent about a key that is already reported,
 * so all independent problems surface in one pass without a second, confusing echo.
 */
import * as path from "node:path";
import { isPlainSemver } from "../release/versionRules";
import { CONFIG_SCHEMA, fullKey, setCommand, type ConfigKey, type ConfigValues } from "./schema";

/** One problem with one key, phrased for an operator. */
export interface ConfigProblem {
  key: string;
  message: string;
}

export type Environment = "staging" | "production";

/** The parts of the app's CloudronManifest.json this program relies on. */
export interface AppManifest {
  id: string;
  version: string;
  /** sha256 of the manifest file's bytes: a manifest edit triggers a Cloudron update. */
  sha256: string;
  /** The whole manifest as parsed: install and update send it (with version and dockerImage set). */
  content: Record<string, unknown>;
}

/** Raw config as Pulumi stores it: `communityrule:key` → string (objects arrive as JSON text). */
export interface RawConfig {
  values: Record<string, string>;
  /**
   * Full keys Pulumi holds as secrets (`communityrule:cloudronToken`). A stack file can say which
   * entries of a map are secret, so it may also list `communityrule:secretEnv.NAME`; the runtime
   * only knows the whole key.
   */
  secretKeys: ReadonlySet<string>;
  /**
   * True when `secretKeys` says which map entries are secret (a stack file does; the runtime only
   * knows whole keys), so a plain-text secretEnv entry can be named on its own.
   */
  entrySecretsKnown?: boolean;
}

/** A short (or full) git SHA as `git rev-parse --short HEAD` prints it. */
const GIT_SHA = /^[0-9a-f]{7,40}$/;

const problem = (key: string, message: string): ConfigProblem => ({ key: fullKey(key), message });

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
 * of at most two edits (`locaton`, `healthTimeoutSecond`), more in a long key, about one in five
 * letters (`healthTimeoutSecs`), so the message can name the fix.
 */
export function nearestKey(key: string): ConfigKey | undefined {
  const lower = key.toLowerCase();
  const allowed = Math.max(2, Math.floor(key.length / 5));
  let best: { key: ConfigKey; distance: number } | undefined;
  for (const candidate of Object.keys(CONFIG_SCHEMA) as ConfigKey[]) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance <= allowed && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

/** Rule: every key is one the schema knows; a near miss names the key meant. */
export function unknownKeyRule(key: string): ConfigProblem[] {
  if (key in CONFIG_SCHEMA) return [];
  const near = nearestKey(key);
  return [
    problem(key, `unknown key${near ? `: did you mean ${fullKey(near)}?` : `; known keys are listed in the README`}`),
  ];
}

/**
 * Rule: secret keys are stored encrypted. A plain value would sit in the repository and in every
 * preview; each message names the exact command that stores it properly (never the value).
 */
export function plainTextSecretRule(key: ConfigKey, raw: RawConfig): ConfigProblem[] {
  if (!CONFIG_SCHEMA[key].secret || raw.secretKeys.has(fullKey(key))) return [];
  if (key !== "secretEnv") {
    return [
      problem(
        key,
        `is stored in plain text; remove it (pulumi config rm ${fullKey(key)}) and set it with pulumi config set ` +
          `--secret ${fullKey(key)} <value>`,
      ),
    ];
  }
  const names = secretEnvNames(raw.values[fullKey("secretEnv")]);
  const securedNames = names.filter((n) => raw.secretKeys.has(fullKey(`secretEnv.${n}`)));
  if (securedNames.length === 0 && !raw.entrySecretsKnown) {
    return [
      problem(
        "secretEnv",
        `is stored in plain text; remove it and set each value with pulumi config set --secret --path ` +
          `'secretEnv.NAME' <value>`,
      ),
    ];
  }
  return names
    .filter((n) => !securedNames.includes(n))
    .map((n) =>
      problem(
        `secretEnv.${n}`,
        `is stored in plain text; set it with pulumi config set --secret --path 'secretEnv.${n}' <value>`,
      ),
    );
}

function secretEnvNames(text: string | undefined): string[] {
  try {
    const parsed: unknown = JSON.parse(text ?? "{}");
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? Object.keys(parsed) : [];
  } catch {
    return [];
  }
}

/** Rule: a key's own value passes its schema check. Returns the parsed value when it does. */
export function valueRule<K extends ConfigKey>(
  key: K,
  text: string,
): { value?: ConfigValues[K]; problems: ConfigProblem[] } {
  const result = CONFIG_SCHEMA[key].value.safeParse(text);
  if (result.success) return { value: result.data as ConfigValues[K], problems: [] };
  return {
    problems: result.error.issues.map((issue) => problem([key, ...issue.path.map(String)].join("."), issue.message)),
  };
}

/** Rule: required keys are present; the fix is the `pulumi config set` line with an example. */
export function requiredKeyRule(key: ConfigKey, present: boolean): ConfigProblem[] {
  const spec = CONFIG_SCHEMA[key] as { required?: true; example?: string };
  if (!spec.required || present) return [];
  return [problem(key, `is required. Set it with: ${setCommand(key, spec.example ?? "<value>")}`)];
}

/** Rule: the environment is set, or the stack name says it. */
export function environmentRule(
  stack: string,
  configured: Environment | undefined,
  present: boolean,
): { environment?: Environment; problems: ConfigProblem[] } {
  if (configured) return { environment: configured, problems: [] };
  if (present) return { problems: [] }; // present but invalid: already reported by its value rule
  if (stack === "staging" || stack === "production") return { environment: stack, problems: [] };
  return {
    problems: [
      problem(
        "environment",
        `stack "${stack}" is neither staging nor production: set ${fullKey("environment")} to staging or production`,
      ),
    ],
  };
}

/** Reads and checks the app checkout's manifest; a string is the problem (reported against appDir). */
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
  return {
    id: m.id,
    version: m.version,
    sha256: createHash("sha256").update(text).digest("hex"),
    content: parsed as Record<string, unknown>,
  };
}

/** Rule: building needs a Dockerfile in the checkout. */
export function dockerfileRule(
  build: boolean | undefined,
  appDirSetting: string,
  hasDockerfile: boolean,
): ConfigProblem[] {
  if (build === false || hasDockerfile) return [];
  return [
    problem(
      "appDir",
      `no Dockerfile in "${appDirSetting}", so build: true cannot build; set build to false to deploy an existing tag`,
    ),
  ];
}

/** Rule: an env name lives in `env` or in `secretEnv`, not both. */
export function envOverlapRule(
  env: Record<string, string> | undefined,
  secretEnv: Record<string, string> | undefined,
): ConfigProblem[] {
  return Object.keys(secretEnv ?? {})
    .filter((name) => name in (env ?? {}))
    .map((name) => problem(`secretEnv.${name}`, `${name} is also in ${fullKey("env")}; keep it in one of the two`));
}

/** Rule: a build pushes, so it needs both registry credentials. `build` undefined = invalid, skip. */
export function pushCredentialsRule(
  build: boolean | undefined,
  has: { registryUsername: boolean; registryPassword: boolean },
): ConfigProblem[] {
  if (build !== true || (has.registryUsername && has.registryPassword)) return [];
  return [
    problem(
      has.registryUsername ? "registryPassword" : "registryUsername",
      `push credentials are required when build is true. Set ${fullKey("registryUsername")} and ` +
        `pulumi config set --secret ${fullKey("registryPassword")} <gitea token with write:package>, or set ` +
        `build to false`,
    ),
  ];
}

/**
 * Rule: production never builds. A second build of a version gives another digest (the
 * Dockerfile's npm install), so production deploys, by digest, the image staging built and verified.
 */
export function productionBuildRule(build: boolean | undefined): ConfigProblem[] {
  if (build !== true) return [];
  return [
    problem(
      "build",
      "is true, but production deploys the image staging built and verified for the manifest version, by digest; " +
        "it never builds. Build and verify on staging first (pulumi up -s staging), then " +
        `pulumi config rm ${fullKey("build")} -s production (or set it to false) and pulumi up -s production`,
    ),
  ];
}

/**
 * Rule: production runs release tags only: plain semver, and when building, the manifest version
 * (the tag names what was built). `manifestVersion` undefined: unknown here, that half is skipped.
 */
export function productionTagRule(
  tag: string,
  o: { build: boolean | undefined; manifestVersion?: string },
): ConfigProblem[] {
  const fix = o.manifestVersion
    ? `set imageTag to a release such as ${o.manifestVersion} (pulumi config set ${fullKey("imageTag")} ` +
      `${o.manifestVersion}) or remove it to deploy the manifest version (pulumi config rm ${fullKey("imageTag")})`
    : `set imageTag to a release such as 0.1.10 (pulumi config set ${fullKey("imageTag")} 0.1.10) or remove it to ` +
      `deploy the manifest version (pulumi config rm ${fullKey("imageTag")})`;
  if (!isPlainSemver(tag)) {
    return [
      problem(
        "imageTag",
        GIT_SHA.test(tag)
          ? `"${tag}" looks like a git SHA; production deploys only plain semver tags equal to the manifest version ` +
              `(SHA tags are for staging experiments): ${fix}`
          : `"${tag}" is not plain semver X.Y.Z; production deploys only release tags: ${fix}`,
      ),
    ];
  }
  if (o.build === true && o.manifestVersion && tag !== o.manifestVersion) {
    return [
      problem(
        "imageTag",
        `is ${tag} but CloudronManifest.json says ${o.manifestVersion}; production builds must tag the manifest ` +
          `version (remove imageTag or make them equal)`,
      ),
    ];
  }
  return [];
}

/** Rule: outside production an explicit tag is a release (0.1.10) or a git SHA (abc1234). */
export function stagingTagRule(tag: string): ConfigProblem[] {
  if (isPlainSemver(tag) || GIT_SHA.test(tag)) return [];
  return [
    problem(
      "imageTag",
      `"${tag}" is neither plain semver (0.1.10) nor a short git SHA (abc1234): set one of those, or remove imageTag ` +
        `to deploy the manifest version`,
    ),
  ];
}
