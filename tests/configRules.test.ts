/**
 * The config loader's rules one by one, each on its exact message, then the loader as a whole:
 * both sources (runtime-shaped raw config and a stack file), every problem in one pass, YAML errors
 * with file and line, and defaults taken from the schema alone.
 */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  dockerfileRule,
  environmentRule,
  envOverlapRule,
  plainTextSecretRule,
  productionBuildRule,
  productionTagRule,
  pushCredentialsRule,
  requiredKeyRule,
  stagingTagRule,
  unknownKeyRule,
  valueRule,
} from "../config/rules";
import { CONFIG_DEFAULTS, checkConfig, ConfigError, type RawConfig } from "../config/loader";
import { ConfigFileError, loadStackFile, rawConfigFromStackText, readStackFile } from "../config/stackFile";
import { FIXTURE_APP_DIR } from "../engine/fixtureManifest";

const projectDir = path.resolve(__dirname, "..");
const appDir = FIXTURE_APP_DIR;
const SMTP_ONLY = JSON.stringify({ SMTP_FROM: "hello@communityrule.info" });
const raw = (values: Record<string, string>, secret: string[] = []): RawConfig => ({
  values: Object.fromEntries(Object.entries(values).map(([k, v]) => [`communityrule:${k}`, v])),
  secretKeys: new Set(secret.map((k) => `communityrule:${k}`)),
});

describe("rules, each on its exact message", () => {
  it("unknownKeyRule", () => {
    expect(unknownKeyRule("location")).toEqual([]);
    expect(unknownKeyRule("locaton")).toEqual([
      { key: "communityrule:locaton", message: "unknown key: did you mean communityrule:location?" },
    ]);
    // A long key's abbreviation is three edits away: still named.
    expect(unknownKeyRule("healthTimeoutSecs")[0].message).toBe(
      "unknown key: did you mean communityrule:healthTimeoutSeconds?",
    );
    expect(unknownKeyRule("colour")).toEqual([
      { key: "communityrule:colour", message: "unknown key; known keys are listed in the README" },
    ]);
  });

  it("plainTextSecretRule: token, password, whole secretEnv, and each plain secretEnv entry of a stack file", () => {
    expect(plainTextSecretRule("cloudronToken", raw({ cloudronToken: "t" }, ["cloudronToken"]))).toEqual([]);
    expect(plainTextSecretRule("location", raw({ location: "a.b" }))).toEqual([]);
    expect(plainTextSecretRule("cloudronToken", raw({ cloudronToken: "t" }))).toEqual([
      {
        key: "communityrule:cloudronToken",
        message:
          "is stored in plain text; remove it (pulumi config rm communityrule:cloudronToken)" +
          " and set it with pulumi config set --secret communityrule:cloudronToken <value>",
      },
    ]);
    expect(plainTextSecretRule("registryPassword", raw({ registryPassword: "p" }))[0].message).toBe(
      "is stored in plain text; remove it (pulumi config rm communityrule:registryPassword)" +
        " and set it with pulumi config set --secret communityrule:registryPassword <value>",
    );
    expect(plainTextSecretRule("secretEnv", raw({ secretEnv: '{"A":"x"}' }))).toEqual([
      {
        key: "communityrule:secretEnv",
        message:
          "is stored in plain text; remove it and set each value with" +
          " pulumi config set --secret --path 'secretEnv.NAME' <value>",
      },
    ]);
    expect(plainTextSecretRule("secretEnv", { ...raw({ secretEnv: '{"A":"x"}' }), entrySecretsKnown: true })).toEqual([
      {
        key: "communityrule:secretEnv.A",
        message: "is stored in plain text; set it with pulumi config set --secret --path 'secretEnv.A' <value>",
      },
    ]);
    expect(plainTextSecretRule("secretEnv", raw({ secretEnv: '{"A":"[secret]","B":"x"}' }, ["secretEnv.A"]))).toEqual([
      {
        key: "communityrule:secretEnv.B",
        message: "is stored in plain text; set it with pulumi config set --secret --path 'secretEnv.B' <value>",
      },
    ]);
  });

  it("valueRule: parsed value, or the key (with map path) and message", () => {
    expect(valueRule("healthTimeoutSeconds", "60")).toEqual({ value: 60, problems: [] });
    expect(valueRule("healthTimeoutSeconds", "abc").problems).toEqual([
      { key: "communityrule:healthTimeoutSeconds", message: 'must be a whole number of seconds, got "abc"' },
    ]);
    expect(valueRule("env", '{"1A":"x"}').problems).toEqual([
      {
        key: "communityrule:env.1A",
        message: '"1A" is not a valid environment variable name (letters, digits and _, not starting with a digit)',
      },
    ]);
  });

  it("requiredKeyRule", () => {
    expect(requiredKeyRule("location", true)).toEqual([]);
    expect(requiredKeyRule("smoke", false)).toEqual([]);
    expect(requiredKeyRule("cloudronServer", false)).toEqual([
      {
        key: "communityrule:cloudronServer",
        message: "is required. Set it with: pulumi config set communityrule:cloudronServer my.medlab.host",
      },
    ]);
  });

  it("environmentRule", () => {
    expect(environmentRule("dev", "staging", true)).toEqual({ environment: "staging", problems: [] });
    expect(environmentRule("production", undefined, false)).toEqual({ environment: "production", problems: [] });
    expect(environmentRule("dev", undefined, true)).toEqual({ problems: [] });
    expect(environmentRule("dev", undefined, false).problems).toEqual([
      {
        key: "communityrule:environment",
        message:
          'stack "dev" is neither staging nor production: set communityrule:environment to staging or production',
      },
    ]);
  });

  it("dockerfileRule", () => {
    expect(dockerfileRule(false, "../x", false)).toEqual([]);
    expect(dockerfileRule(true, "../x", true)).toEqual([]);
    expect(dockerfileRule(true, "../x", false)).toEqual([
      {
        key: "communityrule:appDir",
        message: 'no Dockerfile in "../x", so build: true cannot build; set build to false to deploy an existing tag',
      },
    ]);
  });

  it("envOverlapRule", () => {
    expect(envOverlapRule({ A: "1" }, { B: "2" })).toEqual([]);
    expect(envOverlapRule({ A: "1" }, { A: "2" })).toEqual([
      { key: "communityrule:secretEnv.A", message: "A is also in communityrule:env; keep it in one of the two" },
    ]);
  });

  it("pushCredentialsRule", () => {
    expect(pushCredentialsRule(false, { registryUsername: false, registryPassword: false })).toEqual([]);
    expect(pushCredentialsRule(undefined, { registryUsername: false, registryPassword: false })).toEqual([]);
    expect(pushCredentialsRule(true, { registryUsername: true, registryPassword: false })).toEqual([
      {
        key: "communityrule:registryPassword",
        message:
          "push credentials are required when build is true. Set communityrule:registryUsername and pulumi config" +
          " set --secret communityrule:registryPassword <gitea token with write:package>, or set build to false",
      },
    ]);
  });

  it("productionBuildRule: production never builds; the message says why and the fix", () => {
    expect(productionBuildRule(undefined)).toEqual([]);
    expect(productionBuildRule(false)).toEqual([]);
    expect(productionBuildRule(true)).toEqual([
      {
        key: "communityrule:build",
        message:
          "is true, but production deploys the image staging built and verified for the manifest version, by digest; " +
          "it never builds. Build and verify on staging first (pulumi up -s staging), then " +
          "pulumi config rm communityrule:build -s production (or set it to false) and pulumi up -s production",
      },
    ]);
  });

  it("productionTagRule: release tags only, each message with a fix", () => {
    expect(productionTagRule("0.1.9", { build: true, manifestVersion: "0.1.9" })).toEqual([]);
    expect(productionTagRule("latest", { build: true, manifestVersion: "0.1.9" })).toEqual([
      {
        key: "communityrule:imageTag",
        message:
          '"latest" is not plain semver X.Y.Z; production deploys only' +
          " release tags: set imageTag to a release such as 0.1.9 (pulumi" +
          " config set communityrule:imageTag 0.1.9) or remove it to deploy" +
          " the manifest version (pulumi config rm communityrule:imageTag)",
      },
    ]);
    expect(productionTagRule("abc1234", { build: false })[0].message).toBe(
      '"abc1234" looks like a git SHA; production deploys only plain semver tags equal' +
        " to the manifest version (SHA tags are for staging experiments): set imageTag to" +
        " a release such as 0.1.10 (pulumi config set communityrule:imageTag 0.1.10) or" +
        " remove it to deploy the manifest version (pulumi config rm communityrule:imageTag)",
    );
    expect(productionTagRule("0.1.8", { build: true, manifestVersion: "0.1.9" })[0].message).toBe(
      "is 0.1.8 but CloudronManifest.json says 0.1.9; production builds" +
        " must tag the manifest version (remove imageTag or make them equal)",
    );
    expect(productionTagRule("0.1.8", { build: false, manifestVersion: "0.1.9" })).toEqual([]);
  });

  it("stagingTagRule", () => {
    expect(stagingTagRule("0.1.9")).toEqual([]);
    expect(stagingTagRule("abc1234")).toEqual([]);
    expect(stagingTagRule("feature-x")).toEqual([
      {
        key: "communityrule:imageTag",
        message:
          '"feature-x" is neither plain semver (0.1.10) nor a short git SHA (abc1234):' +
          " set one of those, or remove imageTag to deploy the manifest version",
      },
    ]);
  });
});

describe("the loader", () => {
  it("reports every problem in one pass: production's bad tag together with the single-key ones", () => {
    const result = checkConfig(
      raw({
        location: "https://communityrule.info",
        cloudronServer: "my.medlab.host",
        imageTag: "latest",
        healthTimeoutSeconds: "abc",
        appDir,
        cloudronToken: "plain",
        build: "false",
        env: SMTP_ONLY,
      }),
      { stack: "production", projectDir },
    );
    expect(result.config).toBeUndefined();
    expect(result.problems.map((p) => p.key)).toEqual([
      "communityrule:location",
      "communityrule:cloudronToken",
      "communityrule:healthTimeoutSeconds",
      "communityrule:imageTag",
    ]);
    expect(result.problems.every((p) => /set|remove|use|drop|must be/.test(p.message))).toBe(true);
  });

  it("applies the schema's defaults, and only those", () => {
    // SMTP_FROM is the one env name a stack must set (config/appEnvRules.ts); no other default is implied.
    const cfg = checkConfig(
      raw({
        location: "staging.communityrule.info",
        cloudronServer: "my.medlab.host",
        appDir,
        build: "false",
        env: SMTP_ONLY,
      }),
      { stack: "staging", projectDir },
    ).config!;
    expect(cfg).toMatchObject({
      imageRepository: CONFIG_DEFAULTS.imageRepository,
      sessionSecretRotation: CONFIG_DEFAULTS.sessionSecretRotation,
      seedRun: CONFIG_DEFAULTS.seedRun,
      healthTimeoutSeconds: CONFIG_DEFAULTS.healthTimeoutSeconds,
      smoke: CONFIG_DEFAULTS.smoke,
      cloudronTimeoutSeconds: CONFIG_DEFAULTS.cloudronTimeoutSeconds,
      busyWaitSeconds: CONFIG_DEFAULTS.busyWaitSeconds,
      baseUrl: "https://staging.communityrule.info",
      autoRollback: false,
      env: { SMTP_FROM: "hello@communityrule.info" },
      secretEnv: {},
    });
  });

  it("reads a stack file like the runtime: secure values hidden and marked, plain secrets refused", () => {
    const text = [
      "config:",
      "  communityrule:location: staging.communityrule.info",
      "  communityrule:cloudronServer: my.medlab.host",
      "  communityrule:healthTimeoutSeconds: 60",
      "  communityrule:cloudronToken: plain-token-value",
      "  communityrule:env:",
      "    SMTP_FROM: hello@communityrule.info",
      "  communityrule:secretEnv:",
      "    API_KEY:",
      "      secure: v1:Y2lwaGVy",
      "    OTHER: plain-secret-value",
      "",
    ].join("\n");
    const r = rawConfigFromStackText(text, "Pulumi.staging.yaml");
    expect(r.values).toEqual({
      "communityrule:location": "staging.communityrule.info",
      "communityrule:cloudronServer": "my.medlab.host",
      "communityrule:healthTimeoutSeconds": "60",
      "communityrule:cloudronToken": "plain-token-value",
      "communityrule:env": '{"SMTP_FROM":"hello@communityrule.info"}',
      "communityrule:secretEnv": '{"API_KEY":"[secret]","OTHER":"plain-secret-value"}',
    });
    expect([...r.secretKeys]).toEqual(["communityrule:secretEnv.API_KEY"]);
    expect(r.entrySecretsKnown).toBe(true);
    const result = checkConfig(r, {
      stack: "staging",
      projectDir,
      allowMissingSecrets: true,
      allowMissingAppDir: true,
    });
    expect(result.problems.map((p) => `${p.key}: ${p.message}`)).toEqual([
      "communityrule:cloudronToken: is stored in plain text; remove it (pulumi config rm" +
        " communityrule:cloudronToken) and set it with pulumi config set --secret communityrule:cloudronToken <value>",
      "communityrule:secretEnv.OTHER: is stored in plain text; set it" +
        " with pulumi config set --secret --path 'secretEnv.OTHER' <value>",
    ]);
    expect(JSON.stringify(result.problems)).not.toContain("plain-");
  });

  it("a YAML syntax error names the file and line, without a stack trace", () => {
    const text =
      "config:\n  communityrule:location: staging.communityrule.info\n " +
      " communityrule:env:\n    A: [unclosed\n  communityrule:seedRun: 2\n";
    let err: unknown;
    try {
      rawConfigFromStackText(text, "Pulumi.staging.yaml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigFileError);
    const e = err as ConfigFileError;
    expect(e.message).toBe(
      "Pulumi.staging.yaml:5: not valid YAML (line 5, column 3): Flow sequence" +
        " in block collection must be sufficiently indented and end with a ]",
    );
    expect(e.stack).not.toContain("\n    at ");
  });

  it("loadStackFile reads the committed stacks; a missing stack names the ones that exist", () => {
    for (const stack of ["staging", "production"]) {
      const result = loadStackFile(projectDir, stack, { allowMissingSecrets: true, allowMissingAppDir: true });
      expect(result.problems).toEqual([]);
      expect(result.config?.environment).toBe(stack);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cr-stackfile-"));
    try {
      fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), "config: {}\n");
      expect(() => readStackFile(dir, "prod")).toThrow(
        `no stack file Pulumi.prod.yaml in ${dir}; stacks here: staging`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("ConfigError prints the problems, never code frames", () => {
    const err = new ConfigError("staging", [{ key: "communityrule:location", message: "is required" }]);
    expect(String(err.stack)).toBe(
      'ConfigError: stack "staging" has 1 configuration problem;' +
        " nothing was deployed:\n  - communityrule:location: is required",
    );
  });
});
