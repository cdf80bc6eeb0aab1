/**
 * Bad-config corpus: each case starts from one valid stack config and breaks exactly one thing.
 * For each, `parseDeployConfig` must throw `ConfigError`, name the full key, say how to fix it,
 * show no stack trace and never echo a secret value. A few representative cases are also played
 * end to end through the lifecycle runner, where a bad config must register and call nothing.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as crypto from "node:crypto";
import * as util from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkConfig, ConfigError, parseDeployConfig, type RawConfig } from "../config/loader";
import { rawConfigFromStackText } from "../config/stackFile";
import { Lifecycle, PROJECT_DIR } from "../engine/runner";
import { FIXTURE_MANIFEST as FIXTURE_MANIFEST_FILE } from "../engine/fixtureManifest";

const NS = "communityrule";
const FIXTURE_MANIFEST = fs.readFileSync(FIXTURE_MANIFEST_FILE, "utf8");
const MANIFEST_VERSION = (JSON.parse(FIXTURE_MANIFEST) as { version: string }).version;

// Random secret values, so "the message does not contain the secret" cannot pass by coincidence.
const TOKEN = `crtok-${crypto.randomBytes(12).toString("hex")}`;
const REGISTRY_PASSWORD = `regpw-${crypto.randomBytes(12).toString("hex")}`;
const SECRET_ENV_VALUE = `inquiry-${crypto.randomBytes(12).toString("hex")}@example.org`;
const SECRETS = [TOKEN, REGISTRY_PASSWORD, SECRET_ENV_VALUE];

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "cr-badconfig-"));

/** A real app checkout: Dockerfile (unless told otherwise) and a manifest text (or none). */
function appDir(name: string, opts: { manifest?: string | null; dockerfile?: boolean } = {}): string {
  const dir = path.join(tmpRoot, name);
  fs.mkdirSync(dir, { recursive: true });
  if (opts.dockerfile !== false)
    fs.writeFileSync(path.join(dir, "Dockerfile"), 'FROM node:20-bookworm-slim\nCMD ["node", "server.js"]\n');
  const manifest = opts.manifest === undefined ? FIXTURE_MANIFEST : opts.manifest;
  if (manifest !== null) fs.writeFileSync(path.join(dir, "CloudronManifest.json"), manifest);
  return dir;
}
const manifestWith = (patch: Record<string, unknown>) =>
  JSON.stringify({ ...JSON.parse(FIXTURE_MANIFEST), ...patch }, null, 2);
const manifestWithout = (key: string) => {
  const m = JSON.parse(FIXTURE_MANIFEST) as Record<string, unknown>;
  delete m[key];
  return JSON.stringify(m);
};

const GOOD_APP = appDir("good");

/** Short key → [value, secret?]. Objects are JSON text, as Pulumi hands them to the program. */
type Config = Record<string, { value: string; secret: boolean }>;

function baseConfig(): Config {
  return {
    location: { value: "staging.communityrule.info", secret: false },
    cloudronServer: { value: "my.medlab.host", secret: false },
    cloudronToken: { value: TOKEN, secret: true },
    appDir: { value: GOOD_APP, secret: false },
    registryUsername: { value: "deployer", secret: false },
    registryPassword: { value: REGISTRY_PASSWORD, secret: true },
    env: {
      value: JSON.stringify({
        SMTP_FROM: "Community Rule <hello@communityrule.info>",
        UPLOAD_ROOT: "/app/data/uploads",
      }),
      secret: false,
    },
    secretEnv: { value: JSON.stringify({ ORGANIZER_INQUIRY_TO: SECRET_ENV_VALUE }), secret: true },
  };
}

function toRaw(c: Config): RawConfig {
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [k, { value, secret }] of Object.entries(c)) {
    // `secretEnv.NAME` entries only mark one map entry secret, as a stack file's nested `secure:` does.
    if (!k.includes(".")) values[`${NS}:${k}`] = value;
    if (secret) secretKeys.add(`${NS}:${k}`);
  }
  return { values, secretKeys };
}

interface Case {
  name: string;
  stack?: string;
  /** Breaks the (fresh copy of the) valid base. */
  mutate: (c: Config) => void;
  /** Full key some problem must name. */
  key: string;
  /** Fragment of that problem's message that tells the fix. */
  message: RegExp;
}

const set =
  (key: string, value: string, secret = false) =>
  (c: Config) => {
    c[key] = { value, secret };
  };
const unset = (key: string) => (c: Config) => {
  delete c[key];
};
const plain = (key: string) => (c: Config) => {
  c[key] = { ...c[key], secret: false };
};
const envWith = (extra: Record<string, unknown>) => (c: Config) => {
  c.env = { value: JSON.stringify({ ...JSON.parse(c.env.value), ...extra }), secret: false };
};
const secretEnvWith = (extra: Record<string, unknown>) => (c: Config) => {
  c.secretEnv = { value: JSON.stringify({ ...JSON.parse(c.secretEnv.value), ...extra }), secret: true };
};
const both =
  (...fns: Array<(c: Config) => void>) =>
  (c: Config) =>
    fns.forEach((f) => f(c));
const k = (short: string) => `${NS}:${short}`;

const BETWEEN = (min: number, max: number) => new RegExp(`must be between ${min} and ${max} seconds`);

const corpus: Case[] = [
  // ---- missing required keys ----
  {
    name: "location missing",
    mutate: unset("location"),
    key: k("location"),
    message: /is required\. Set it with: pulumi config set communityrule:location staging\.communityrule\.info/,
  },
  {
    name: "cloudronServer missing",
    mutate: unset("cloudronServer"),
    key: k("cloudronServer"),
    message: /is required\. Set it with: pulumi config set communityrule:cloudronServer my\.medlab\.host/,
  },
  {
    name: "registryPassword missing while building",
    mutate: unset("registryPassword"),
    key: k("registryPassword"),
    message: new RegExp(
      /push credentials are required when build is true.*--secret/.source +
        / communityrule:registryPassword.*or set build to false/.source,
    ),
  },
  {
    name: "registryUsername missing while building",
    mutate: unset("registryUsername"),
    key: k("registryUsername"),
    message: /push credentials are required when build is true. Set communityrule:registryUsername/,
  },
  {
    name: "stack dev without environment",
    stack: "dev",
    mutate: () => undefined,
    key: k("environment"),
    message: /stack "dev" is neither staging nor production: set communityrule:environment to staging or production/,
  },

  // ---- wrong types ----
  { name: 'build "yes"', mutate: set("build", "yes"), key: k("build"), message: /must be true or false, got "yes"/ },
  { name: 'smoke "1"', mutate: set("smoke", "1"), key: k("smoke"), message: /must be true or false, got "1"/ },
  {
    name: 'autoRollback "maybe"',
    mutate: set("autoRollback", "maybe"),
    key: k("autoRollback"),
    message: /must be true or false/,
  },
  {
    name: 'healthTimeoutSeconds "abc"',
    mutate: set("healthTimeoutSeconds", "abc"),
    key: k("healthTimeoutSeconds"),
    message: /must be a whole number of seconds, got "abc"/,
  },
  {
    name: 'healthTimeoutSeconds "1.5"',
    mutate: set("healthTimeoutSeconds", "1.5"),
    key: k("healthTimeoutSeconds"),
    message: /must be a whole number of seconds/,
  },
  {
    name: 'environment "prod"',
    mutate: set("environment", "prod"),
    key: k("environment"),
    message: /must be "staging" or "production"/,
  },

  // ---- empty strings ----
  { name: "location empty", mutate: set("location", ""), key: k("location"), message: /must not be empty/ },
  {
    name: "cloudronServer empty",
    mutate: set("cloudronServer", ""),
    key: k("cloudronServer"),
    message: /must not be empty/,
  },
  { name: "appDir empty", mutate: set("appDir", ""), key: k("appDir"), message: /the path must not be empty/ },
  {
    name: "cloudronToken empty (secret)",
    mutate: set("cloudronToken", "", true),
    key: k("cloudronToken"),
    message: /the token must not be empty/,
  },
  {
    name: "sessionSecretRotation empty",
    mutate: set("sessionSecretRotation", ""),
    key: k("sessionSecretRotation"),
    message: /must not be empty/,
  },

  // ---- hostnames ----
  {
    name: "location with scheme",
    mutate: set("location", "https://staging.communityrule.info"),
    key: k("location"),
    message: /drop the scheme: use "staging\.communityrule\.info"/,
  },
  {
    name: "location with path",
    mutate: set("location", "staging.communityrule.info/app"),
    key: k("location"),
    message: /a hostname has no path: use "staging\.communityrule\.info"/,
  },
  {
    name: "location with port",
    mutate: set("location", "staging.communityrule.info:443"),
    key: k("location"),
    message: /a hostname has no port/,
  },
  {
    name: "location upper case",
    mutate: set("location", "Staging.CommunityRule.info"),
    key: k("location"),
    message: /use lower case: "staging\.communityrule\.info"/,
  },
  {
    name: "location with space",
    mutate: set("location", "staging communityrule.info"),
    key: k("location"),
    message: /must not contain spaces/,
  },
  {
    name: "location not fully qualified",
    mutate: set("location", "staging"),
    key: k("location"),
    message: /must be a fully qualified name/,
  },
  {
    name: "cloudronServer with scheme and path",
    mutate: set("cloudronServer", "https://my.medlab.host/#/apps"),
    key: k("cloudronServer"),
    message: /drop the scheme: use "my\.medlab\.host"/,
  },

  // ---- image tags ----
  {
    name: "production non-semver tag",
    stack: "production",
    mutate: set("imageTag", "latest"),
    key: k("imageTag"),
    message: /"latest" is not plain semver X\.Y\.Z; production deploys only release tags/,
  },
  {
    name: "production v-prefixed tag",
    stack: "production",
    mutate: set("imageTag", "v0.1.9"),
    key: k("imageTag"),
    message: /not plain semver X\.Y\.Z/,
  },
  {
    name: "production short git SHA tag",
    stack: "production",
    mutate: set("imageTag", "abc1234"),
    key: k("imageTag"),
    message: /looks like a git SHA; production deploys only plain semver tags/,
  },
  {
    name: "production build true",
    stack: "production",
    mutate: set("build", "true"),
    key: k("build"),
    message: /production deploys the image staging built and verified .*pulumi up -s staging.*pulumi up -s production/,
  },
  {
    name: "staging tag neither semver nor SHA",
    mutate: set("imageTag", "feature-x"),
    key: k("imageTag"),
    message: /neither plain semver \(0\.1\.10\) nor a short git SHA/,
  },
  {
    name: "tag with leading dash",
    mutate: set("imageTag", "-rc"),
    key: k("imageTag"),
    message: /is not a valid image tag/,
  },
  {
    name: "imageRepository with scheme",
    mutate: set("imageRepository", "https://git.medlab.host/communityrule/community-rule"),
    key: k("imageRepository"),
    message: /no scheme, no :tag/,
  },
  {
    name: "imageRepository with tag",
    mutate: set("imageRepository", "git.medlab.host/communityrule/community-rule:0.1.9"),
    key: k("imageRepository"),
    message: /no scheme, no :tag/,
  },

  // ---- timeouts ----
  {
    name: "healthTimeoutSeconds -1",
    mutate: set("healthTimeoutSeconds", "-1"),
    key: k("healthTimeoutSeconds"),
    message: BETWEEN(1, 3600),
  },
  {
    name: "healthTimeoutSeconds 0",
    mutate: set("healthTimeoutSeconds", "0"),
    key: k("healthTimeoutSeconds"),
    message: BETWEEN(1, 3600),
  },
  {
    name: "healthTimeoutSeconds 99999",
    mutate: set("healthTimeoutSeconds", "99999"),
    key: k("healthTimeoutSeconds"),
    message: BETWEEN(1, 3600),
  },
  {
    name: "cloudronTimeoutSeconds 0",
    mutate: set("cloudronTimeoutSeconds", "0"),
    key: k("cloudronTimeoutSeconds"),
    message: BETWEEN(1, 7200),
  },
  {
    name: "minBackupRetentionDays 0",
    mutate: set("minBackupRetentionDays", "0"),
    key: k("minBackupRetentionDays"),
    message: /must be between 1 and 3650 days, got 0/,
  },
  {
    name: "cloudronServer plain http to a real host",
    mutate: set("cloudronServer", "http://my.medlab.host"),
    key: k("cloudronServer"),
    message: new RegExp(
      /plain http is allowed only for a loopback stand-in \(http:\/\/127\.0\.0\.1:<port>\);/.source +
        / use the dashboard host name, e\.g\. my\.medlab\.host/.source,
    ),
  },
  {
    name: "busyWaitSeconds -3",
    mutate: set("busyWaitSeconds", "-3"),
    key: k("busyWaitSeconds"),
    message: BETWEEN(0, 3600),
  },

  // ---- env names and values ----
  {
    name: 'env key "1ABC"',
    mutate: envWith({ "1ABC": "x" }),
    key: k("env.1ABC"),
    message: /"1ABC" is not a valid environment variable name \(letters, digits and _, not starting with a digit\)/,
  },
  {
    name: 'env key "A-B"',
    mutate: envWith({ "A-B": "x" }),
    key: k("env.A-B"),
    message: /not a valid environment variable name/,
  },
  {
    name: 'env key "A B"',
    mutate: envWith({ "A B": "x" }),
    key: k("env.A B"),
    message: /not a valid environment variable name/,
  },
  {
    name: 'env key ""',
    mutate: envWith({ "": "x" }),
    key: k("env."),
    message: /"" is not a valid environment variable name/,
  },
  {
    name: "env CLOUDRON_POSTGRESQL_URL",
    mutate: envWith({ CLOUDRON_POSTGRESQL_URL: "postgres://x" }),
    key: k("env.CLOUDRON_POSTGRESQL_URL"),
    message: /injected by Cloudron's addons.*remove it from env/,
  },
  {
    name: "env CLOUDRON_MAIL_SMTP_SERVER",
    mutate: envWith({ CLOUDRON_MAIL_SMTP_SERVER: "mail" }),
    key: k("env.CLOUDRON_MAIL_SMTP_SERVER"),
    message: /injected by Cloudron's addons.*remove it from env/,
  },
  {
    name: "secretEnv CLOUDRON_POSTGRESQL_URL",
    mutate: secretEnvWith({ CLOUDRON_POSTGRESQL_URL: `postgres://u:${SECRET_ENV_VALUE}@db` }),
    key: k("secretEnv.CLOUDRON_POSTGRESQL_URL"),
    message: /injected by Cloudron's addons.*remove it from secretEnv/,
  },
  {
    name: "env COMMUNITYRULE_DEPLOYMENT",
    mutate: envWith({ COMMUNITYRULE_DEPLOYMENT: "x" }),
    key: k("env.COMMUNITYRULE_DEPLOYMENT"),
    message: new RegExp(
      /^COMMUNITYRULE_DEPLOYMENT is set by this program \(it records/.source +
        / which deploy resource owns the app\); remove it from env$/.source,
    ),
  },
  {
    name: "takeOverFrom not a stack name",
    mutate: set("takeOverFrom", "staging stack"),
    key: k("takeOverFrom"),
    message: /must be a stack name \(letters, digits, '-', '_', '\.'\), e\.g\. staging/,
  },
  {
    name: "takeOverFrom names the stack itself",
    stack: "production",
    mutate: set("takeOverFrom", "production"),
    key: k("takeOverFrom"),
    message: /names this stack itself \(production\).*pulumi config rm communityrule:takeOverFrom -s production/,
  },
  {
    name: "env SESSION_SECRET",
    mutate: envWith({ SESSION_SECRET: "hunter2hunter2" }),
    key: k("env.SESSION_SECRET"),
    message: /generated by this program; remove it from env and change communityrule:sessionSecretRotation/,
  },
  {
    name: "secretEnv SESSION_SECRET",
    mutate: secretEnvWith({ SESSION_SECRET: SECRET_ENV_VALUE }),
    key: k("secretEnv.SESSION_SECRET"),
    message: /remove it from secretEnv and change communityrule:sessionSecretRotation/,
  },
  {
    name: "env value with NUL",
    mutate: envWith({ GREETING: "a\0b" }),
    key: k("env.GREETING"),
    message: /contains a NUL byte/,
  },
  {
    name: "secretEnv value with NUL",
    mutate: secretEnvWith({ API_KEY: `${SECRET_ENV_VALUE}\0` }),
    key: k("secretEnv.API_KEY"),
    message: /contains a NUL byte/,
  },
  {
    name: "env value is an object",
    mutate: envWith({ NESTED: { a: 1 } }),
    key: k("env.NESTED"),
    message: /value must be a string, number or boolean/,
  },
  {
    name: "env as a list",
    mutate: set("env", JSON.stringify(["SMTP_FROM=x"])),
    key: k("env"),
    message: /must be a map of NAME: value, not a list/,
  },
  {
    name: "env as a scalar",
    mutate: set("env", "5"),
    key: k("env"),
    message: /must be a map of NAME: value, not a list or a single value/,
  },
  {
    name: "env invalid JSON",
    mutate: set("env", "{SMTP_FROM: x"),
    key: k("env"),
    message: /must be a map of NAME: value/,
  },
  {
    name: "key in both env and secretEnv",
    mutate: secretEnvWith({ SMTP_FROM: SECRET_ENV_VALUE }),
    key: k("secretEnv.SMTP_FROM"),
    message: /SMTP_FROM is also in communityrule:env; keep it in one of the two/,
  },

  // ---- secrets in plain text ----
  {
    name: "secretEnv in plain text",
    mutate: plain("secretEnv"),
    key: k("secretEnv"),
    message:
      /stored in plain text; remove it and set each value with pulumi config set --secret --path 'secretEnv\.NAME'/,
  },
  {
    name: "cloudronToken in plain text",
    mutate: plain("cloudronToken"),
    key: k("cloudronToken"),
    message: new RegExp(
      /stored in plain text; remove it \(pulumi config rm communityrule:cloudronToken\)/.source +
        / and set it with pulumi config set --secret communityrule:cloudronToken/.source,
    ),
  },
  {
    name: "registryPassword in plain text",
    mutate: plain("registryPassword"),
    key: k("registryPassword"),
    message: /stored in plain text;.*pulumi config set --secret communityrule:registryPassword/,
  },

  // ---- unknown keys ----
  {
    name: 'typo "locaton"',
    mutate: set("locaton", "staging.communityrule.info"),
    key: k("locaton"),
    message: /unknown key: did you mean communityrule:location\?/,
  },
  {
    name: 'wrong case "imagetag"',
    mutate: set("imagetag", "0.1.9"),
    key: k("imagetag"),
    message: /unknown key: did you mean communityrule:imageTag\?/,
  },
  {
    name: 'typo "healthTimeoutSecond"',
    mutate: set("healthTimeoutSecond", "60"),
    key: k("healthTimeoutSecond"),
    message: /did you mean communityrule:healthTimeoutSeconds\?/,
  },
  {
    name: "unrelated unknown key",
    mutate: set("colour", "blue"),
    key: k("colour"),
    message: /unknown key; known keys are listed in the README/,
  },

  // ---- the app checkout ----
  {
    name: "appDir without manifest",
    mutate: set("appDir", appDir("no-manifest", { manifest: null })),
    key: k("appDir"),
    message: /no CloudronManifest\.json in ".*": point appDir at a checkout of CommunityRule\/community-rule/,
  },
  {
    name: 'manifest version "1.0"',
    mutate: set("appDir", appDir("v10", { manifest: manifestWith({ version: "1.0" }) })),
    key: k("appDir"),
    message: /has version "1\.0"; Cloudron needs a plain semver X\.Y\.Z/,
  },
  {
    name: 'manifest version "v1.2.3"',
    mutate: set("appDir", appDir("v123", { manifest: manifestWith({ version: "v1.2.3" }) })),
    key: k("appDir"),
    message: /has version "v1\.2\.3"; Cloudron needs a plain semver/,
  },
  {
    name: 'manifest version "1.2.3-beta"',
    mutate: set("appDir", appDir("beta", { manifest: manifestWith({ version: "1.2.3-beta" }) })),
    key: k("appDir"),
    message: /has version "1\.2\.3-beta"; Cloudron needs a plain semver/,
  },
  {
    name: "manifest not JSON",
    mutate: set("appDir", appDir("notjson", { manifest: "id: com.medlab.communityrule\n" })),
    key: k("appDir"),
    message: /CloudronManifest\.json is not valid JSON/,
  },
  {
    name: "manifest without id",
    mutate: set("appDir", appDir("noid", { manifest: manifestWithout("id") })),
    key: k("appDir"),
    message: /CloudronManifest\.json has no "id"/,
  },
  {
    name: "build true without Dockerfile",
    mutate: set("appDir", appDir("nodockerfile", { dockerfile: false })),
    key: k("appDir"),
    message: /no Dockerfile in ".*", so build: true cannot build; set build to false/,
  },

  // ---- URLs and addresses ----
  {
    name: "baseUrl with query",
    mutate: set("baseUrl", "https://staging.communityrule.info/?x=1"),
    key: k("baseUrl"),
    message: /must be an http\(s\) URL without query or fragment/,
  },
  {
    name: "baseUrl ftp scheme",
    mutate: set("baseUrl", "ftp://staging.communityrule.info"),
    key: k("baseUrl"),
    message: /must be an http\(s\) URL/,
  },
  {
    name: "smokeEmail not an email",
    mutate: set("smokeEmail", "ops at medlab"),
    key: k("smokeEmail"),
    message: /must be an email address/,
  },

  // ---- several problems at once: all are reported ----
  {
    name: "two problems reported together (second one)",
    mutate: both(unset("location"), set("busyWaitSeconds", "-3")),
    key: k("busyWaitSeconds"),
    message: BETWEEN(0, 3600),
  },
  {
    name: "production: a bad tag is reported alongside a bad single key",
    stack: "production",
    mutate: both(set("healthTimeoutSeconds", "abc"), set("imageTag", "latest")),
    key: k("imageTag"),
    message:
      /"latest" is not plain semver X\.Y\.Z; production deploys only release tags: set imageTag to a release such as/,
  },
  {
    name: "a plain secretEnv entry beside an encrypted one (stack-file shape)",
    mutate: (c) => {
      c["secretEnv.ORGANIZER_INQUIRY_TO"] = { value: "", secret: true };
      c.secretEnv = { value: JSON.stringify({ ORGANIZER_INQUIRY_TO: SECRET_ENV_VALUE, API_KEY: "x" }), secret: false };
    },
    key: k("secretEnv.API_KEY"),
    message: /is stored in plain text; set it with pulumi config set --secret --path 'secretEnv\.API_KEY' <value>/,
  },
];

function parse(c: Config, stack = "staging") {
  return parseDeployConfig(toRaw(c), { stack, projectDir: PROJECT_DIR });
}

afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

describe("bad-config corpus", () => {
  it("the valid base parses (staging and production)", () => {
    const staging = parse(baseConfig());
    expect(staging.environment).toBe("staging");
    expect(staging.imageTag).toBe(MANIFEST_VERSION);
    expect(staging.secretEnv).toEqual({ ORGANIZER_INQUIRY_TO: SECRET_ENV_VALUE });
    expect(parse(baseConfig(), "production").environment).toBe("production");
  });

  it("build defaults to true on staging and to false on production (production promotes)", () => {
    const withoutBuild = () => {
      const c = baseConfig();
      delete c.build;
      return c;
    };
    expect(parse(withoutBuild()).build).toBe(true);
    expect(parse(withoutBuild(), "production").build).toBe(false);
  });

  it("defaults minBackupRetentionDays to 30 and accepts a loopback stand-in URL as cloudronServer", () => {
    expect(parse(baseConfig()).minBackupRetentionDays).toBe(30);
    const config = baseConfig();
    config.cloudronServer = { value: "http://127.0.0.1:4567", secret: false };
    expect(parse(config).cloudronServer).toBe("http://127.0.0.1:4567");
  });

  it("names each case once (a duplicate name would hide a case in the report)", () => {
    expect(new Set(corpus.map((c) => c.name)).size).toBe(corpus.length);
  });

  it.each(corpus.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const config = baseConfig();
    c.mutate(config);
    let error: unknown;
    try {
      parse(config, c.stack);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const err = error as ConfigError;
    const problem = err.problems.find((p) => p.key === c.key);
    expect(problem, `no problem for ${c.key}; got ${JSON.stringify(err.problems.map((p) => p.key))}`).toBeDefined();
    expect(problem!.message).toMatch(c.message);
    // Every way the error may be printed: its message, String(), and util.inspect (console.error).
    for (const text of [err.message, String(err), util.inspect(err)]) {
      expect(text).toContain(`${c.key}: `);
      expect(text).not.toContain("\n    at ");
      for (const secret of SECRETS) expect(text).not.toContain(secret);
    }
  });
});

describe("bad configs through the lifecycle runner: nothing registered, nothing called", () => {
  let lc: Lifecycle;
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging" });
  });
  afterAll(async () => lc?.close());

  async function expectRefused(key: string, fragment: string, secret?: string) {
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(r.registered).toBe(0);
    expect(r.steps).toEqual([]);
    const message = r.errors.join("\n");
    expect(message).toContain(`${key}: ${fragment}`);
    expect(message).not.toMatch(/\n\s+at /);
    if (secret) expect(`${message}\n${(r as { log?: string }).log ?? ""}`).not.toContain(secret);
    expect(lc.calls()).toEqual([]);
    expect(lc.builds()).toEqual([]);
  }

  it(
    "a typo'd required key (locaton instead of location):" + " the Pulumi CLI refuses first, with its own message",
    async () => {
      const location = lc.config.location;
      delete lc.config.location;
      lc.config.locaton = location;
      try {
        const r = await lc.up();
        expect(r.errors).toEqual([
          "validating stack config: Stack 'staging' is missing configuration value 'location'",
        ]);
        expect(r.registered).toBe(0);
        expect(lc.calls()).toEqual([]);
      } finally {
        delete lc.config.locaton;
        lc.config.location = location;
      }
    },
  );

  it("a typo'd optional key (healthTimeoutSecond): the CLI passes it on, the program names the key meant", async () => {
    lc.config.healthTimeoutSecond = 5;
    try {
      await expectRefused(
        "communityrule:healthTimeoutSecond",
        "unknown key: did you mean communityrule:healthTimeoutSeconds?",
      );
    } finally {
      delete lc.config.healthTimeoutSecond;
    }
  });

  it("an env name that is not a valid env name", async () => {
    const env = lc.config.env;
    lc.config.env = { ...(env as Record<string, string>), "1ABC": "x" };
    await expectRefused("communityrule:env.1ABC", '"1ABC" is not a valid environment variable name');
    lc.config.env = env;
  });

  it("the cloudron token stored in plain text (and never echoed)", async () => {
    const token = lc.secrets.cloudronToken;
    delete lc.secrets.cloudronToken;
    lc.config.cloudronToken = token;
    await expectRefused("communityrule:cloudronToken", "is stored in plain text", String(token));
    delete lc.config.cloudronToken;
    lc.secrets.cloudronToken = token;
  });
});

describe("a stack file as written (the offline tools' source)", () => {
  it("four mistakes in one production file: all four reported in one pass, each with its fix", () => {
    const text = [
      "config:",
      "  communityrule:location: https://communityrule.info",
      "  communityrule:cloudronServer: my.medlab.host",
      "  communityrule:imageTag: latest",
      "  communityrule:healthTimeoutSeconds: abc",
      `  communityrule:cloudronToken: ${TOKEN}`,
      `  communityrule:appDir: ${GOOD_APP}`,
      "  communityrule:build: false",
      "  communityrule:env:",
      "    SMTP_FROM: hello@communityrule.info",
      "",
    ].join("\n");
    const result = checkConfig(rawConfigFromStackText(text, "Pulumi.production.yaml"), {
      stack: "production",
      projectDir: PROJECT_DIR,
    });
    expect(result.problems.map((p) => `${p.key}: ${p.message}`)).toEqual([
      'communityrule:location: drop the scheme: use "communityrule.info"',
      "communityrule:cloudronToken: is stored in plain text; remove it (pulumi config rm" +
        " communityrule:cloudronToken) and set it with pulumi config set --secret communityrule:cloudronToken <value>",
      'communityrule:healthTimeoutSeconds: must be a whole number of seconds, got "abc"',
      `communityrule:imageTag: "latest" is not plain semver X.Y.Z; production deploys` +
        ` only release tags: set imageTag to a release such as ${MANIFEST_VERSION} (pulumi` +
        ` config set communityrule:imageTag ${MANIFEST_VERSION}) or remove it to` +
        ` deploy the manifest version (pulumi config rm communityrule:imageTag)`,
    ]);
    expect(JSON.stringify(result.problems)).not.toContain(TOKEN);
  });

  it("plain-text registryPassword and secretEnv entries in the file are named with the --secret command", () => {
    const text = [
      "config:",
      "  communityrule:location: staging.communityrule.info",
      "  communityrule:cloudronServer: my.medlab.host",
      "  communityrule:registryUsername: deployer",
      `  communityrule:registryPassword: ${REGISTRY_PASSWORD}`,
      `  communityrule:appDir: ${GOOD_APP}`,
      "  communityrule:env:",
      "    SMTP_FROM: hello@communityrule.info",
      "  communityrule:secretEnv:",
      `    ORGANIZER_INQUIRY_TO: ${SECRET_ENV_VALUE}`,
      "",
    ].join("\n");
    const result = checkConfig(rawConfigFromStackText(text, "Pulumi.staging.yaml"), {
      stack: "staging",
      projectDir: PROJECT_DIR,
    });
    expect(result.problems.map((p) => `${p.key}: ${p.message}`)).toEqual([
      "communityrule:registryPassword: is stored in plain text; remove it (pulumi config rm" +
        " communityrule:registryPassword) and set it with pulumi" +
        " config set --secret communityrule:registryPassword <value>",
      "communityrule:secretEnv.ORGANIZER_INQUIRY_TO: is stored in plain text; set it" +
        " with pulumi config set --secret --path 'secretEnv.ORGANIZER_INQUIRY_TO' <value>",
    ]);
    for (const secret of SECRETS) expect(JSON.stringify(result.problems)).not.toContain(secret);
  });
});
