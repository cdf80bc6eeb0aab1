/**
 * The review-app stack file, derived from staging's: `Pulumi.staging.yaml` text in,
 * `Pulumi.pr-<n>.yaml` text out. Pure (no Pulumi, no files), so the driver, the rehearsal and the
 * tests derive exactly the same config.
 *
 * Why only plain values are carried over: with the passphrase secrets provider every stack file
 * has its own `encryptionsalt`, and with Pulumi Cloud every stack has its own key, so staging's
 * `secure:` ciphertexts would not decrypt in `pr-<n>`. The secrets a review app needs are copied,
 * re-encrypted for the new stack, by `pulumi config cp` (see ./pulumiCommands.ts), and only those listed in
 * staging's `reviewAppSecrets`. SESSION_SECRET is nothing to copy: each stack generates its own.
 */
import YAML from "yaml";
import {
  CONFIG_DEFAULTS,
  CONFIG_NAMESPACE,
  CONFIG_SCHEMA,
  fullKey,
  type ConfigKey,
  type ConfigValues,
  type RawConfig,
} from "../../config/loader";
import { valueRule } from "../../config/rules";
import {
  isSecure,
  parseStackDocument,
  rawConfigFromStackText,
  stackFileEntries,
  stackFileName,
} from "../../config/stackFile";
import { reviewImageTag, reviewLocation, reviewStackName } from "./names";

/** Review-app settings as read from staging's stack file, defaults applied. */
export interface ReviewAppSettings {
  /** Domain the Cloudron serves; review app n answers at `pr-<n>.<domain>`. */
  domain: string;
  /** Secret keys copied from staging (`registryPassword`, `cloudronToken`, `secretEnv.NAME`). */
  secrets: string[];
  /** At most this many review apps at once. Default 3. */
  maxReviewApps: number;
  /** Review apps not deployed for this many days are removed by the scheduled job. Default 7. */
  ttlDays: number;
}

/** A derived review-app stack. */
export interface ReviewStack {
  stack: string;
  location: string;
  imageTag: string;
  /** The whole `Pulumi.pr-<n>.yaml` text to write. */
  text: string;
  /** Plain config of the new stack (short keys; maps as objects), as written to `text`. */
  config: Record<string, unknown>;
  /** Secret keys to copy from staging with `pulumi config cp`, in order. */
  secretsToCopy: string[];
  /** Staging keys left behind because they are secret and not listed in reviewAppSecrets. */
  secretsLeftBehind: string[];
}

/** A problem with staging's stack file as a source of review apps; the message names the fix. */
export class ReviewAppConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReviewAppConfigError";
  }
}

/**
 * Keys never carried over: the review app's own identity (location, image, environment, URL),
 * staging's review-app settings, per-stack history (rotation and seed counters) and the smoke
 * mail address (a review app is deployed on every push; it should not send mail each time).
 */
const NOT_CARRIED = new Set<string>([
  "location",
  "imageTag",
  "environment",
  "baseUrl",
  "build",
  "smoke",
  "smokeEmail",
  "autoRollback",
  "sessionSecretRotation",
  "seedRun",
  ...Object.keys(CONFIG_SCHEMA).filter((k) => "stagingOnly" in CONFIG_SCHEMA[k as ConfigKey]),
]);

/** Stack-file keys that belong to the secrets provider of ONE stack, never to be copied. */
const SECRETS_PROVIDER_KEYS = ["secretsprovider", "encryptedkey", "encryptionsalt"] as const;

/** True when a config value is, or holds, a `secure:` ciphertext. */
function holdsSecret(value: unknown): boolean {
  if (value === null || typeof value !== "object") return false;
  if (isSecure(value)) return true;
  return Object.values(value as Record<string, unknown>).some(holdsSecret);
}

const STAGING_FILE = stackFileName("staging");

/**
 * One review-app key of staging's file, checked by the schema's own rule; undefined when unset.
 * Throws naming the key, the file and what the rule wants.
 */
function stagingValue<K extends "reviewAppDomain" | "reviewAppSecrets" | "maxReviewApps" | "reviewAppTtlDays">(
  raw: RawConfig,
  key: K,
): ConfigValues[K] | undefined {
  const text = raw.values[fullKey(key)];
  if (text === undefined) return undefined;
  const checked = valueRule(key, text);
  const [problem] = checked.problems;
  if (problem) throw new ReviewAppConfigError(`${problem.key} in ${STAGING_FILE} ${problem.message}`);
  return checked.value;
}

/** Reads the review-app settings from staging's stack file text, or throws naming the key to set. */
export function readReviewAppSettings(stagingText: string): ReviewAppSettings {
  const raw = rawConfigFromStackText(stagingText, STAGING_FILE);
  const domain = stagingValue(raw, "reviewAppDomain");
  if (domain === undefined) {
    throw new ReviewAppConfigError(
      `review apps are off: set ${CONFIG_NAMESPACE}:reviewAppDomain in ${STAGING_FILE} to a domain the Cloudron ` +
        `serves (pulumi config set -s staging ${CONFIG_NAMESPACE}:reviewAppDomain review.communityrule.info)`,
    );
  }
  return {
    domain,
    secrets: stagingValue(raw, "reviewAppSecrets") ?? [],
    maxReviewApps: stagingValue(raw, "maxReviewApps") ?? CONFIG_DEFAULTS.maxReviewApps,
    ttlDays: stagingValue(raw, "reviewAppTtlDays") ?? CONFIG_DEFAULTS.reviewAppTtlDays,
  };
}

/** Options for {@link deriveReviewStack}. */
export interface DeriveOptions {
  pr: number;
  /** The PR's head commit (hex); the tag takes its first 7 digits. */
  commitSha: string;
  /**
   * The secrets-provider lines of this review stack (`secretsprovider`, `encryptedkey`,
   * `encryptionsalt`) as `pulumi stack init` wrote them or as recovered from its state; never
   * staging's. Keeps `pulumi config cp` and `pulumi up` able to decrypt this stack's secrets.
   */
  secretsProvider?: Partial<Record<(typeof SECRETS_PROVIDER_KEYS)[number], string>>;
  /**
   * The push credentials come from the CI's repository secrets instead of staging: the user name
   * goes into the file, the password is set on the stack through stdin (see the driver), so
   * registryPassword is neither required in nor copied from reviewAppSecrets.
   */
  registryFromCi?: { username: string };
}

/** Secrets-provider lines of an existing `Pulumi.pr-<n>.yaml` (what `pulumi stack init` wrote). */
export function secretsProviderOf(stackText: string): DeriveOptions["secretsProvider"] {
  const doc = parseStackDocument(stackText, "the review stack file");
  const out: NonNullable<DeriveOptions["secretsProvider"]> = {};
  for (const key of SECRETS_PROVIDER_KEYS) if (typeof doc[key] === "string") out[key] = doc[key] as string;
  return out;
}

/**
 * The passphrase salt of a stack from its `pulumi stack export` JSON (the state keeps it under
 * `deployment.secrets_providers.state.salt`). A CI checkout has no `Pulumi.pr-<n>.yaml` on the
 * second push, and `pulumi config refresh` does not bring the salt back (pulumi/pulumi#7282), so
 * the driver puts it back from the state. Undefined for Pulumi Cloud's own provider (no salt).
 */
export function secretsProviderFromExport(exportJson: string): DeriveOptions["secretsProvider"] {
  let parsed: { deployment?: { secrets_providers?: { type?: string; state?: { salt?: unknown } } } };
  try {
    parsed = JSON.parse(exportJson);
  } catch {
    throw new Error("pulumi stack export did not print JSON");
  }
  const provider = parsed.deployment?.secrets_providers;
  if (provider?.type === "passphrase" && typeof provider.state?.salt === "string")
    return { encryptionsalt: provider.state.salt };
  if (provider === undefined || provider.type === "service") return {};
  throw new Error(
    `stack uses the ${provider.type} secrets provider; keep its Pulumi.<stack>.yaml (secretsprovider, encryptedkey) ` +
      `next to the project or use the passphrase or Pulumi Cloud provider`,
  );
}

/**
 * Derives review app `pr` from staging's stack file: staging's plain config, with its own
 * location, image tag and stack identity; smoke on, automatic rollback off; secrets only through
 * `pulumi config cp` of the keys staging lists in `reviewAppSecrets`.
 */
export function deriveReviewStack(stagingText: string, opts: DeriveOptions): ReviewStack {
  const settings = readReviewAppSettings(stagingText);
  const staging = stackFileEntries(stagingText, STAGING_FILE);
  const stack = reviewStackName(opts.pr);
  const location = reviewLocation(opts.pr, settings.domain);
  const imageTag = reviewImageTag(opts.pr, opts.commitSha);

  const secretsLeftBehind: string[] = [];
  const carried: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(staging)) {
    if (holdsSecret(value)) {
      if (key === "secretEnv" && value && typeof value === "object") {
        for (const name of Object.keys(value)) secretsLeftBehind.push(`secretEnv.${name}`);
      } else secretsLeftBehind.push(key);
      continue;
    }
    if (!NOT_CARRIED.has(key)) carried[key] = value;
  }

  const missing = settings.secrets.filter((k) => !secretsLeftBehind.includes(k));
  if (missing.length > 0) {
    throw new ReviewAppConfigError(
      `${CONFIG_NAMESPACE}:reviewAppSecrets lists ${missing.join(", ")}, which Pulumi.staging.yaml does not hold as ` +
        `a secret; ` +
        `set it on staging (pulumi config set --secret …) or remove it from the list`,
    );
  }
  if (!opts.registryFromCi && !settings.secrets.includes("registryPassword")) {
    throw new ReviewAppConfigError(
      `review apps build their image from the PR, so they need the registry push token: add registryPassword to ` +
        `${CONFIG_NAMESPACE}:reviewAppSecrets in Pulumi.staging.yaml`,
    );
  }

  const config: Record<string, unknown> = {
    environment: "staging",
    location,
    imageTag,
    build: true,
    smoke: true,
    autoRollback: false,
    ...carried,
    ...(opts.registryFromCi ? { registryUsername: opts.registryFromCi.username } : {}),
  };
  const secretsToCopy = opts.registryFromCi
    ? settings.secrets.filter((k) => k !== "registryPassword")
    : settings.secrets;
  const doc: Record<string, unknown> = {};
  for (const key of SECRETS_PROVIDER_KEYS) {
    const v = opts.secretsProvider?.[key];
    if (v !== undefined) doc[key] = v;
  }
  doc.config = Object.fromEntries(Object.entries(config).map(([k, v]) => [`${CONFIG_NAMESPACE}:${k}`, v]));
  const header =
    `# Review app for pull request ${opts.pr}: generated from Pulumi.staging.yaml by \`npm run review-app -- up ` +
    `${opts.pr}\`.\n` +
    `# Rewritten on every push; not committed. Secrets: only ` +
    `${[...secretsToCopy, ...(opts.registryFromCi ? ["registryPassword (from CI)"] : [])].join(", ")}.\n`;
  return {
    stack,
    location,
    imageTag,
    text: header + YAML.stringify(doc, { lineWidth: 0 }),
    config,
    secretsToCopy,
    secretsLeftBehind: secretsLeftBehind.filter((k) => !secretsToCopy.includes(k)),
  };
}
