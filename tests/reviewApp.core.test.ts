/**
 * Review apps, pure core: names, the stack file derived from staging's, the config rules, the
 * fleet limits and the Pulumi command lines. Exact strings and messages throughout.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { ConfigError, parseDeployConfig, type RawConfig } from "../config/loader";
import {
  parsePrNumber,
  reviewImageTag,
  reviewLocation,
  reviewStackName,
  isReviewStack,
} from "../commands/review-app/names";
import { parseReviewAppSecrets, reviewAppConfigProblems } from "../config/reviewAppRules";
import {
  deriveReviewStack,
  readReviewAppSettings,
  secretsProviderFromExport,
  secretsProviderOf,
} from "../commands/review-app/stackFile";
import { capacityProblem, expiredReviewApps, formatReviewAppList, parseStackList } from "../commands/review-app/fleet";
import {
  configCopyCommand,
  configSetSecretFromStdinCommand,
  destroyCommand,
  displayCommand,
  stackExportCommand,
  stackInitCommand,
  stackListCommand,
  stackOutputCommand,
  stackRemoveCommand,
  upCommand,
} from "../commands/review-app/pulumiCommands";
import { PROJECT_DIR } from "../engine/runner";
import { FIXTURE_MANIFEST } from "../engine/fixtureManifest";

const SHA = "3f2a9c41d0e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9";
const COMMITTED_STAGING = fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.staging.yaml"), "utf8");

/** Staging as an operator's file looks once secrets are set: its own salt and ciphertexts. */
const STAGING_WITH_SECRETS = `encryptionsalt: v1:STAGINGSALT=:v1:aaaa:bbbb
${COMMITTED_STAGING.replace(
  "  communityrule:reviewAppSecrets: registryPassword\n",
  "  communityrule:reviewAppSecrets: registryPassword, secretEnv.SMTP_PASSWORD\n",
)}  communityrule:registryUsername: deployer
  communityrule:registryPassword:
    secure: v1:stagingRegistryCiphertext
  communityrule:cloudronToken:
    secure: v1:stagingTokenCiphertext
  communityrule:secretEnv:
    SMTP_PASSWORD:
      secure: v1:stagingSmtpCiphertext
    ORGANIZER_INQUIRY_TO:
      secure: v1:stagingInquiryCiphertext
  communityrule:seedRun: "4"
  communityrule:smokeEmail: ops@communityrule.info
`;

describe("review-app names", () => {
  it("stack, tag and location of pull request 42", () => {
    expect(reviewStackName(42)).toBe("pr-42");
    expect(reviewImageTag(42, SHA.toUpperCase())).toBe("pr-42-3f2a9c4");
    expect(reviewLocation(42, "communityrule.info")).toBe("pr-42.communityrule.info");
    expect(isReviewStack("pr-42")).toBe(true);
    expect(isReviewStack("staging")).toBe(false);
    expect(isReviewStack("pr-042")).toBe(false);
  });
  it("refuses what is not a PR number or a commit", () => {
    expect(() => parsePrNumber("#42")).toThrow('expected a pull-request number such as 42, got "#42"');
    expect(() => parsePrNumber(undefined)).toThrow("expected a pull-request number such as 42, got nothing");
    expect(() => reviewImageTag(42, "main")).toThrow(
      `expected the PR's head commit as hex (git rev-parse HEAD), got "main"`,
    );
  });
});

describe("deriveReviewStack (Pulumi.staging.yaml → Pulumi.pr-<n>.yaml)", () => {
  const derived = deriveReviewStack(STAGING_WITH_SECRETS, {
    pr: 42,
    commitSha: SHA,
    secretsProvider: { encryptionsalt: "v1:PR42SALT=:v1:cccc:dddd" },
  });

  it("takes staging's plain config with its own location, tag, environment; smoke on, rollback off", () => {
    expect(derived.stack).toBe("pr-42");
    expect(derived.config).toEqual({
      environment: "staging",
      location: "pr-42.communityrule.info",
      imageTag: "pr-42-3f2a9c4",
      build: true,
      smoke: true,
      autoRollback: false,
      cloudronServer: "my.medlab.host",
      env: { SMTP_FROM: "Community Rule <hello@communityrule.info>", UPLOAD_ROOT: "/app/data/uploads" },
      registryUsername: "deployer",
    });
  });

  it("carries no ciphertext and no salt of staging; keeps the review stack's own salt", () => {
    for (const s of [
      "STAGINGSALT",
      "stagingRegistryCiphertext",
      "stagingTokenCiphertext",
      "stagingSmtpCiphertext",
      "stagingInquiryCiphertext",
      "secure:",
      "reviewApp",
      "smokeEmail",
      "seedRun",
    ]) {
      expect(derived.text).not.toContain(s);
    }
    const doc = YAML.parse(derived.text) as Record<string, unknown>;
    expect(doc.encryptionsalt).toBe("v1:PR42SALT=:v1:cccc:dddd");
    expect(Object.keys(doc)).toEqual(["encryptionsalt", "config"]);
    expect((doc.config as Record<string, unknown>)["communityrule:location"]).toBe("pr-42.communityrule.info");
  });

  it("copies only the listed secrets and reports the ones left behind", () => {
    expect(derived.secretsToCopy).toEqual(["registryPassword", "secretEnv.SMTP_PASSWORD"]);
    expect(derived.secretsLeftBehind).toEqual(["cloudronToken", "secretEnv.ORGANIZER_INQUIRY_TO"]);
  });

  it("yields a config the program accepts on stack pr-42 (the pr tag is allowed there)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cr-review-"));
    fs.copyFileSync(FIXTURE_MANIFEST, path.join(dir, "CloudronManifest.json"));
    fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM scratch\n");
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...derived.config, appDir: dir, registryPassword: "copied-by-config-cp" })) {
      values[`communityrule:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    }
    const raw: RawConfig = { values, secretKeys: new Set(["communityrule:registryPassword"]) };
    const cfg = parseDeployConfig(raw, { stack: "pr-42", projectDir: PROJECT_DIR });
    expect([cfg.environment, cfg.location, cfg.imageTag, cfg.smoke, cfg.autoRollback, cfg.baseUrl]).toEqual([
      "staging",
      "pr-42.communityrule.info",
      "pr-42-3f2a9c4",
      true,
      false,
      "https://pr-42.communityrule.info",
    ]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses when review apps are off, a listed secret is missing, or the push token is not listed", () => {
    const off = COMMITTED_STAGING.replace(/ {2}communityrule:reviewAppDomain:.*\n/, "");
    expect(() => deriveReviewStack(off, { pr: 1, commitSha: SHA })).toThrow(
      "review apps are off: set communityrule:reviewAppDomain in Pulumi.staging.yaml to a domain the Cloudron" +
        " serves (pulumi config set -s staging communityrule:reviewAppDomain review.communityrule.info)",
    );
    expect(() => deriveReviewStack(COMMITTED_STAGING, { pr: 1, commitSha: SHA })).toThrow(
      "communityrule:reviewAppSecrets lists registryPassword, which Pulumi.staging.yaml does not" +
        " hold as a secret; set it on staging (pulumi config set --secret …) or remove it from the list",
    );
    const noToken = STAGING_WITH_SECRETS.replace(
      "reviewAppSecrets: registryPassword, secretEnv.SMTP_PASSWORD",
      "reviewAppSecrets: secretEnv.SMTP_PASSWORD",
    );
    expect(() => deriveReviewStack(noToken, { pr: 1, commitSha: SHA })).toThrow(
      "review apps build their image from the PR, so they need the registry push token:" +
        " add registryPassword to communityrule:reviewAppSecrets in Pulumi.staging.yaml",
    );
  });

  it("reads the settings with their defaults", () => {
    expect(readReviewAppSettings(COMMITTED_STAGING)).toEqual({
      domain: "communityrule.info",
      secrets: ["registryPassword"],
      maxReviewApps: 3,
      ttlDays: 7,
    });
    const bare = COMMITTED_STAGING.replace(
      / {2}communityrule:(maxReviewApps|reviewAppTtlDays|reviewAppSecrets):.*\n/g,
      "",
    );
    expect(readReviewAppSettings(bare)).toEqual({
      domain: "communityrule.info",
      secrets: [],
      maxReviewApps: 3,
      ttlDays: 7,
    });
    expect(() => readReviewAppSettings(COMMITTED_STAGING.replace("maxReviewApps: 3", "maxReviewApps: 0"))).toThrow(
      "communityrule:maxReviewApps in Pulumi.staging.yaml must be between 1 and 20 review apps, got 0",
    );
  });

  it("finds the secrets-provider lines of a stack file and the salt in a stack export", () => {
    expect(secretsProviderOf("encryptionsalt: v1:abc\nconfig: {}\n")).toEqual({ encryptionsalt: "v1:abc" });
    const exported = JSON.stringify({
      version: 3,
      deployment: { secrets_providers: { type: "passphrase", state: { salt: "v1:fromstate" } }, resources: [] },
    });
    expect(secretsProviderFromExport(exported)).toEqual({ encryptionsalt: "v1:fromstate" });
    expect(
      secretsProviderFromExport(JSON.stringify({ deployment: { secrets_providers: { type: "service", state: {} } } })),
    ).toEqual({});
    expect(() =>
      secretsProviderFromExport(JSON.stringify({ deployment: { secrets_providers: { type: "awskms", state: {} } } })),
    ).toThrow(/uses the awskms secrets provider/);
  });
});

describe("config rules for review apps", () => {
  const base = {
    environment: "staging" as const,
    location: "staging.communityrule.info",
    stagingOnlyKeys: [] as string[],
  };
  it.each([
    [
      "staging",
      "staging",
      "staging.communityrule.info",
      [
        {
          key: "imageTag",
          message:
            '"pr-42-3f2a9c4" is a review-app tag (pr-<n>-<sha>); it deploys only to the review-app stack pr-42' +
            " (npm run review-app -- up 42), never to staging. Set a release tag X.Y.Z or a short git SHA",
        },
      ],
    ],
    [
      "production",
      "production",
      "communityrule.info",
      [
        {
          key: "imageTag",
          message:
            '"pr-42-3f2a9c4" is a review-app tag (pr-<n>-<sha>); it deploys only to the review-app' +
            " stack pr-42 (npm run review-app -- up 42), never to production. Set a release tag X.Y.Z",
        },
      ],
    ],
    [
      "pr-41",
      "staging",
      "pr-41.communityrule.info",
      [
        {
          key: "imageTag",
          message: '"pr-42-3f2a9c4" was built for pull request 42; stack pr-41 deploys only pr-41-<sha> tags',
        },
      ],
    ],
    ["pr-42", "staging", "pr-42.communityrule.info", []],
  ] as const)("tag pr-42-3f2a9c4 on stack %s", (stack, environment, location, expected) => {
    expect(reviewAppConfigProblems({ ...base, stack, environment, location, imageTag: "pr-42-3f2a9c4" })).toEqual(
      expected,
    );
  });

  it("a review stack must run as staging at its own pr-<n> location", () => {
    expect(
      reviewAppConfigProblems({
        ...base,
        stack: "pr-7",
        environment: "production",
        location: "staging.communityrule.info",
        imageTag: "0.1.9",
      }),
    ).toEqual([
      {
        key: "environment",
        message: "review app pr-7 must run as staging (it is made from staging and is never protected)",
      },
      {
        key: "location",
        message:
          "review app pr-7 must answer at pr-7.<reviewAppDomain>, not" +
          " staging.communityrule.info: regenerate its stack file with npm run review-app -- up 7",
      },
    ]);
  });

  it("production may not carry review-app settings", () => {
    expect(
      reviewAppConfigProblems({
        ...base,
        stack: "production",
        environment: "production",
        location: "communityrule.info",
        imageTag: "0.1.9",
        stagingOnlyKeys: ["maxReviewApps"],
      }),
    ).toEqual([
      { key: "maxReviewApps", message: "review apps are made from staging only; move this key to Pulumi.staging.yaml" },
    ]);
  });

  it("reviewAppSecrets: comma list or YAML list of secret keys only", () => {
    expect(parseReviewAppSecrets("registryPassword, secretEnv.SMTP_PASSWORD registryPassword")).toEqual([
      "registryPassword",
      "secretEnv.SMTP_PASSWORD",
    ]);
    expect(parseReviewAppSecrets('["cloudronToken"]')).toEqual(["cloudronToken"]);
    expect(parseReviewAppSecrets("location, env.SMTP_FROM")).toEqual({
      problem:
        '"location", "env.SMTP_FROM" cannot be copied to a review app: list only registryPassword, cloudronToken' +
        " or secretEnv.<NAME> (plain keys are copied anyway; SESSION_SECRET is generated per stack)",
    });
  });

  it("parseDeployConfig refuses the pr tag on staging and production stacks, with the key named", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cr-review-"));
    fs.copyFileSync(FIXTURE_MANIFEST, path.join(dir, "CloudronManifest.json"));
    for (const stack of ["staging", "production"]) {
      const raw: RawConfig = {
        values: {
          "communityrule:location": `${stack}.communityrule.info`,
          "communityrule:cloudronServer": "my.medlab.host",
          "communityrule:appDir": dir,
          "communityrule:build": "false",
          "communityrule:imageTag": "pr-42-3f2a9c4",
          "communityrule:env": JSON.stringify({ SMTP_FROM: "hello@communityrule.info" }),
        },
        secretKeys: new Set(),
      };
      let error: unknown;
      try {
        parseDeployConfig(raw, { stack, projectDir: PROJECT_DIR });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([
        {
          key: "communityrule:imageTag",
          message:
            `"pr-42-3f2a9c4" is a review-app tag (pr-<n>-<sha>); it deploys` +
            ` only to the review-app stack pr-42 (npm run review-app` +
            ` -- up 42), never to ${stack}. Set a release tag` +
            ` X.Y.Z${stack === "production" ? "" : " or a short git SHA"}`,
        },
      ]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("fleet: ages, limit, expiry", () => {
  const now = new Date("2026-05-20T12:00:00Z");
  const listing = JSON.stringify([
    { name: "staging", current: false, lastUpdate: "2026-05-01T10:00:00.000Z", resourceCount: 12 },
    { name: "medlab/communityrule/pr-12", current: false, lastUpdate: "2026-05-19T09:00:00.000Z", resourceCount: 9 },
    { name: "pr-7", current: false, lastUpdate: "2026-05-10T08:00:00.000Z", resourceCount: 9 },
    { name: "pr-30", current: true, updateInProgress: true, resourceCount: 9 },
    { name: "production", current: false, lastUpdate: "2026-04-01T10:00:00.000Z" },
  ]);
  const apps = parseStackList(listing, now);

  it("lists review apps only, oldest first, with whole days since their last deploy", () => {
    expect(apps.map((a) => [a.stack, a.pr, a.ageDays, a.updateInProgress])).toEqual([
      ["pr-7", 7, 10, false],
      ["pr-12", 12, 1, false],
      ["pr-30", 30, undefined, true],
    ]);
  });

  it("refuses a fourth review app past maxReviewApps, naming the oldest; an existing one may update", () => {
    expect(capacityProblem(apps, 31, 3)).toBe(
      "refusing to create review app pr-31: 3 review apps exist and" +
        " maxReviewApps is 3. The oldest is pr-7 (last deployed 10 days ago); " +
        "remove it with npm run review-app -- down 7 (or close its PR / remove its" +
        " review-app label), or raise communityrule:maxReviewApps in Pulumi.staging.yaml",
    );
    expect(capacityProblem(apps, 12, 3)).toBeUndefined();
    expect(capacityProblem(apps, 31, 4)).toBeUndefined();
  });

  it("expires apps at reviewAppTtlDays, never one being updated", () => {
    expect(expiredReviewApps(apps, 7).map((a) => a.stack)).toEqual(["pr-7"]);
    expect(expiredReviewApps(apps, 11)).toEqual([]);
    expect(formatReviewAppList(apps, { domain: "communityrule.info", ttlDays: 7, maxReviewApps: 3 })).toBe(
      [
        "review apps: 3 of at most 3; removed after 7 days without a deploy",
        "  pr-7       https://pr-7.communityrule.info  last deployed 2026-05-10 08:00 UTC (10 d ago)  EXPIRED",
        "  pr-12      https://pr-12.communityrule.info  last deployed 2026-05-19 09:00 UTC (1 d ago)",
        "  pr-30      https://pr-30.communityrule.info  update in progress",
      ].join("\n"),
    );
  });
});

describe("pulumi command lines", () => {
  it("are exactly these", () => {
    expect(
      [
        stackListCommand(),
        stackInitCommand(42),
        stackExportCommand(42),
        configCopyCommand(42, "registryPassword"),
        configCopyCommand(42, "secretEnv.SMTP_PASSWORD"),
        configSetSecretFromStdinCommand(42, "registryPassword"),
        upCommand(42),
        stackOutputCommand(42),
        destroyCommand(42),
        stackRemoveCommand(42),
      ].map(displayCommand),
    ).toEqual([
      "pulumi stack ls --json",
      "pulumi stack init pr-42",
      "pulumi stack export -s pr-42",
      "pulumi config cp communityrule:registryPassword -s staging -d pr-42",
      "pulumi config cp --path communityrule:secretEnv.SMTP_PASSWORD -s staging -d pr-42",
      "pulumi config set --secret communityrule:registryPassword -s pr-42",
      "pulumi up -s pr-42 --yes --diff",
      "pulumi stack output --json -s pr-42",
      "pulumi destroy -s pr-42 --yes",
      "pulumi stack rm pr-42 --yes",
    ]);
  });
});
