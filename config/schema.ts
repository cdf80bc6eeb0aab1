/**
 * The stack-config schema: every `communityrule:*` key, how its raw string is checked, whether it
 * must be a Pulumi secret, and its default. Defaults live here and only here; the README table is
 * tested against {@link CONFIG_DEFAULTS} and {@link DERIVED_DEFAULTS}. The type of the parsed config
 * ({@link DeploySettings}) is derived from this file too.
 */
import * as z from "../lib/zod";
import { describeHostnameProblem, isHostname } from "./hostname";
import { isLoopbackHost, isLoopbackHttpUrl } from "../lib/loopback";
import { parseReviewAppSecrets } from "./reviewAppRules";
import { parseAcknowledgements } from "../steps/migrations/gate";

export const CONFIG_NAMESPACE = "communityrule";

/** Env names Cloudron injects from addons; an operator value would shadow or break them. */
export const RESERVED_ENV_PREFIX = "CLOUDRON_";

/** Env names this program manages itself (generated, rotated through its own key). */
export const MANAGED_ENV_NAMES = ["SESSION_SECRET", "COMMUNITYRULE_DEPLOYMENT"] as const;

/** Pulumi stack names: letters, digits, `-`, `_`, `.` (what `pulumi stack init` accepts). */
const STACK_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** Constant defaults, applied when a key is absent. */
export const CONFIG_DEFAULTS = {
  imageRepository: "git.medlab.host/communityrule/community-rule",
  appDir: "../community-rule",
  env: {} as Record<string, string>,
  secretEnv: {} as Record<string, string>,
  sessionSecretRotation: "0",
  seedRun: "1",
  seedFloor: "0.1.8",
  healthTimeoutSeconds: 300,
  smoke: true,
  cloudronTimeoutSeconds: 1800,
  busyWaitSeconds: 600,
  minBackupRetentionDays: 30,
  maxReviewApps: 3,
  reviewAppTtlDays: 7,
  acknowledgeMigrations: [] as string[],
} as const;

/**
 * Defaults the loader computes from other settings, so the key always has a value in
 * `DeployConfig`; phrased as the README states them.
 */
export const COMPUTED_DEFAULTS = {
  environment: "the stack name",
  imageTag: "`version` of `CloudronManifest.json`",
  build: "`true`; `false` on production",
  baseUrl: "`https://<location>`",
  autoRollback: "`true` on production",
} as const;

/** What leaving a key out means when it then stays unset (optional in `DeployConfig`), as the README states it. */
export const UNSET_DEFAULTS = {
  cloudronToken: "your `cloudron login`",
  smokeEmail: "unset",
  reviewAppDomain: "unset (review apps off)",
  reviewAppSecrets: "none",
  takeOverFrom: "unset (another stack's app is never adopted)",
} as const;

/** Every default that is not a constant, phrased as the README states it. */
export const DERIVED_DEFAULTS = { ...COMPUTED_DEFAULTS, ...UNSET_DEFAULTS } as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Docker tag grammar (distribution reference): 1–128 chars, no leading '.' or '-'. */
const DOCKER_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Image repository without tag or scheme: `host[:port]/path`, lower case. */
const IMAGE_REPOSITORY = /^[a-z0-9.-]+(:\d{1,5})?(\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$/;

const hostname = z.string().superRefine((v, ctx) => {
  if (!isHostname(v)) ctx.addIssue({ code: "custom", message: describeHostnameProblem(v) });
});

/** The dashboard host (my.medlab.host), or a loopback URL for a local stand-in; plain http elsewhere is refused. */
const cloudronServer = z.string().superRefine((v, ctx) => {
  if (isHostname(v) || isLoopbackHttpUrl(v)) return;
  if (/^http:\/\//i.test(v) && !isLoopbackHost(urlHost(v))) {
    ctx.addIssue({
      code: "custom",
      message:
        "plain http is allowed only for a loopback stand-in (http://127.0.0.1:<port>); " +
        "use the dashboard host name, e.g. my.medlab.host",
    });
    return;
  }
  ctx.addIssue({ code: "custom", message: describeHostnameProblem(v) });
});

/** The host of an http(s) URL as written (empty when it has none). */
function urlHost(url: string): string {
  return /^[a-z]+:\/\/(\[[^\]]*\]|[^/:?#]*)/i.exec(url)?.[1] ?? "";
}

/** Pulumi hands booleans and numbers over as strings; YAML authors may write either form. */
const booleanString = z.string().transform((v, ctx) => {
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

/** An integer key: its check, and its bounds for the README table and Pulumi.yaml's descriptions. */
const integerKey = (min: number, max: number, unit: string) => ({
  value: integerString(min, max, unit),
  range: { min, max },
});

const nonEmpty = (what: string) => z.string().refine((v) => v.trim() !== "", { message: `${what} must not be empty` });

/** Why one env entry is unacceptable, or undefined. Never quotes the value (it may be secret). */
export function envEntryProblem(kind: "env" | "secretEnv", name: string, value: unknown): string | undefined {
  if (!ENV_NAME.test(name)) {
    return `"${name}" is not a valid environment variable name (letters, digits and _, not starting with a digit)`;
  }
  if (name.startsWith(RESERVED_ENV_PREFIX)) {
    return (
      `${name} is injected by Cloudron's addons (postgresql, sendmail); remove it from ${kind}: setting it ` +
      `would override the addon's value`
    );
  }
  if ((MANAGED_ENV_NAMES as readonly string[]).includes(name)) {
    return name === "SESSION_SECRET"
      ? `${name} is generated by this program; remove it from ${kind} and change communityrule:sessionSecretRotation ` +
          `to rotate it`
      : `${name} is set by this program (it records which deploy resource owns the app); remove it from ${kind}`;
  }
  if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
    return `value must be a string, number or boolean`;
  }
  const text = String(value);
  if (text.includes("\0")) return `value contains a NUL byte, which no environment variable can hold`;
  if (Buffer.byteLength(text) > 32 * 1024) return `value is longer than 32 KiB`;
  return undefined;
}

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

/** What the schema says about one key. */
interface KeySpec {
  secret: boolean;
  value: z.ZodType;
  /** What the key means, in README markdown (its range and default are added from the spec). */
  doc: string;
  required?: true;
  example?: string;
  /** Bounds of an integer key. */
  range?: { min: number; max: number };
  /** Set on staging's file only: review apps are made from it, and production refuses the key. */
  stagingOnly?: true;
}

/**
 * Every key: its raw-string check, whether Pulumi must hold it as a secret, and an example value
 * for the "is required, set it with" hint. Keys not listed here are refused as unknown.
 */
export const CONFIG_SCHEMA = {
  environment: {
    doc: "`staging` or `production` (production rules, protection, auto-rollback)",
    secret: false,
    value: z.enum(["staging", "production"], { message: 'must be "staging" or "production"' }),
  },
  location: {
    doc: "the app's hostname on Cloudron",
    secret: false,
    value: hostname,
    required: true,
    example: "staging.communityrule.info",
  },
  cloudronServer: {
    doc: "Cloudron dashboard host, no scheme; a loopback `http://127.0.0.1:<port>` only for a local stand-in",
    secret: false,
    value: cloudronServer,
    required: true,
    example: "my.medlab.host",
  },
  cloudronToken: {
    doc: "API token for non-interactive runs",
    secret: true,
    value: nonEmpty("the token"),
  },
  imageRepository: {
    doc: "registry repository, no tag",
    secret: false,
    value: z.string().refine((v) => IMAGE_REPOSITORY.test(v), {
      message:
        "must look like host/owner/name (lower case, no scheme, no :tag), e.g. " +
        "git.medlab.host/communityrule/community-rule",
    }),
  },
  imageTag: {
    doc: "tag to deploy; production: plain semver equal to the manifest version when building",
    secret: false,
    value: z.string().refine((v) => DOCKER_TAG.test(v), {
      message: "is not a valid image tag (letters, digits, '_', '.', '-'; at most 128; e.g. 0.1.10)",
    }),
  },
  build: {
    doc:
      "`true`: build + push from `appDir`; `false`: deploy an existing tag (rollback / promotion). Production " +
      "refuses `true`: it deploys, by digest, the image staging built and verified",
    secret: false,
    value: booleanString,
  },
  appDir: {
    doc: "app checkout with `Dockerfile` and `CloudronManifest.json`",
    secret: false,
    value: nonEmpty("the path"),
  },
  registryUsername: {
    doc: "push user; required when `build` is true",
    secret: false,
    value: nonEmpty("the user name"),
    example: "<gitea user>",
  },
  registryPassword: {
    doc: "push token; required when `build` is true",
    secret: true,
    value: nonEmpty("the password"),
    example: "<gitea token with write:package>",
  },
  env: {
    doc:
      "map of plain env vars (`SMTP_FROM`, `UPLOAD_ROOT`, `WEB_VITALS_STORAGE`, …; checked as the app reads them, " +
      'see "Env the app reads")',
    secret: false,
    value: envMapSchema("env"),
  },
  secretEnv: {
    doc: "map of secret env vars, each set with `--path 'secretEnv.NAME'`",
    secret: true,
    value: envMapSchema("secretEnv"),
  },
  sessionSecretRotation: {
    doc: "opaque; change it to rotate `SESSION_SECRET` (logs everyone out)",
    secret: false,
    value: nonEmpty("the rotation value"),
  },
  seedRun: {
    doc: "opaque; change it to run the seed again (a change of the seed's sources re-seeds by itself)",
    secret: false,
    value: nonEmpty("the seed run value"),
  },
  // The first app version whose image carries the seed data (0.1.8 in CommunityRule's history).
  seedFloor: {
    doc:
      "first app version whose image can run the seed; a release or rollback below it is refused before " +
      "anything changes",
    secret: false,
    value: z
      .string()
      .refine((v) => /^\d+\.\d+\.\d+$/.test(v), { message: "must be a plain X.Y.Z version, e.g. 0.1.8" }),
  },
  baseUrl: {
    doc: "where health and smoke checks go",
    secret: false,
    value: z.string().refine((v) => /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(v), {
      message: "must be an http(s) URL without query or fragment, e.g. https://staging.communityrule.info",
    }),
  },
  // Minimums are low so offline rehearsals and tests can use seconds; defaults stay long.
  healthTimeoutSeconds: {
    doc: "health gate timeout (also the auto-rollback gate)",
    secret: false,
    ...integerKey(1, 3600, "seconds"),
  },
  smoke: {
    doc: "run the smoke checks at the end of `up`",
    secret: false,
    value: booleanString,
  },
  smokeEmail: {
    doc: "also request a magic link to this address (sends real mail)",
    secret: false,
    value: z.string().refine((v) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v), { message: "must be an email address" }),
  },
  autoRollback: {
    doc: "roll back to the previous image if the gate fails after an update",
    secret: false,
    value: booleanString,
  },
  cloudronTimeoutSeconds: {
    doc: "bound on each Cloudron task (install, update, env, uninstall) and on the seed's exec",
    secret: false,
    ...integerKey(1, 7200, "seconds"),
  },
  busyWaitSeconds: {
    doc: "wait for an app busy with another task, in every step (deploy, env, seed, uninstall)",
    secret: false,
    ...integerKey(0, 3600, "seconds"),
  },
  minBackupRetentionDays: {
    doc: "production: the server's backup policy must keep backups at least this long",
    secret: false,
    ...integerKey(1, 3650, "days"),
  },
  // Review apps (commands/review-app/): read from staging's file; refused on production by its rules.
  reviewAppDomain: {
    stagingOnly: true,
    doc: "staging only: review app n answers at `pr-<n>.<reviewAppDomain>`",
    secret: false,
    value: hostname,
  },
  reviewAppSecrets: {
    stagingOnly: true,
    doc:
      "staging only: secret keys copied to review apps (`registryPassword`, `cloudronToken`, `secretEnv.NAME`), " +
      "comma separated",
    secret: false,
    value: z.string().transform((v, ctx) => {
      const keys = parseReviewAppSecrets(v);
      if (Array.isArray(keys)) return keys;
      ctx.addIssue({ code: "custom", message: keys.problem });
      return z.NEVER;
    }),
  },
  maxReviewApps: {
    stagingOnly: true,
    doc: "staging only: at most this many review apps at once",
    secret: false,
    ...integerKey(1, 20, "review apps"),
  },
  reviewAppTtlDays: {
    stagingOnly: true,
    doc: "staging only: review apps not deployed for this many days are removed",
    secret: false,
    ...integerKey(1, 90, "days"),
  },
  // The one other stack whose app this stack may adopt (a cutover); compared with its Cloudron tag.
  takeOverFrom: {
    doc:
      "the one other stack whose app this stack may adopt (its Cloudron tag `communityrule-stack:<name>` names " +
      "it), e.g. `staging` for a cutover; any other stack's app is refused",
    secret: false,
    value: z.string().refine((v) => STACK_NAME.test(v), {
      message: "must be a stack name (letters, digits, '-', '_', '.'), e.g. staging",
    }),
    example: "staging",
  },
  // A list arrives as JSON text: migration names a reviewer accepted.
  acknowledgeMigrations: {
    doc:
      "list of migration names a reviewer accepted for production (risky/destructive), and `rollback:<name>` to " +
      "roll back past one",
    secret: false,
    value: z.string().transform((text, ctx) => {
      const parsed = parseAcknowledgements(text);
      if ("problem" in parsed) {
        ctx.addIssue({ code: "custom", message: parsed.problem });
        return z.NEVER;
      }
      return parsed.names;
    }),
  },
} satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_SCHEMA;

/** Keys and whether they must be stored as Pulumi secrets. The README documents each one. */
export const CONFIG_KEYS: { readonly [K in ConfigKey]: { readonly secret: boolean } } = Object.fromEntries(
  Object.entries(CONFIG_SCHEMA).map(([k, v]) => [k, { secret: v.secret }]),
) as { [K in ConfigKey]: { secret: boolean } };

/** The parsed (output) type of one key's check. */
export type ConfigValue<K extends ConfigKey> = z.output<(typeof CONFIG_SCHEMA)[K]["value"]>;

/** The parsed (output) type of each key's check, as read from a stack (any key may be absent). */
export type ConfigValues = { [K in ConfigKey]?: ConfigValue<K> };

type KeysWith<Mark> = { [K in ConfigKey]: (typeof CONFIG_SCHEMA)[K] extends Mark ? K : never }[ConfigKey];

/** Keys the program's config always holds: required, or defaulted (constant or computed). */
type AlwaysSetKey = KeysWith<{ required: true }> | keyof typeof CONFIG_DEFAULTS | keyof typeof COMPUTED_DEFAULTS;

/** Keys commands/review-app reads from staging's file; a deploy never uses them. */
export type StagingOnlyKey = KeysWith<{ stagingOnly: true }>;

/**
 * The settings a deploy runs with, one per schema key, typed by the key's check: so a key is
 * declared in {@link CONFIG_SCHEMA} and nowhere else. A key with a default (or a required one) is
 * always present; any other may be absent.
 */
export type DeploySettings = { [K in Exclude<AlwaysSetKey, StagingOnlyKey>]: ConfigValue<K> } & {
  [K in Exclude<ConfigKey, AlwaysSetKey | StagingOnlyKey>]?: ConfigValue<K>;
};

/** `communityrule:<key>`. */
export const fullKey = (key: string): string => `${CONFIG_NAMESPACE}:${key}`;

/** How to set a key, shown next to the problem. */
export function setCommand(key: ConfigKey, example: string): string {
  return `pulumi config set${CONFIG_SCHEMA[key].secret ? " --secret" : ""} ${fullKey(key)} ${example}`;
}
