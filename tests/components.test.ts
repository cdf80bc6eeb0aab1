/**
 * Every component under plain Pulumi mocks: the children it registers (names, types, options) and
 * the whole command text each one runs, with secrets only ever inside secret wrappers. Each case
 * starts from an empty record and waits on the component's own outputs (never on a timer).
 *
 * Note: CloudronApp, AppEnv and SeedOnce are being moved to Cloudron's REST API on another branch;
 * these cases pin their current (CLI-tool) commands and should be rewritten with them.
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { createHash, randomBytes } from "node:crypto";

interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const recorded: Recorded[] = [];
// Made up per run, so no token-shaped literal sits in the repository.
const SECRET_PW = `regpw-${randomBytes(12).toString("hex")}`;
const SECRET_TOKEN = `crtok-${randomBytes(12).toString("hex")}`;
const SECRET_ENV_VALUE = `sk-live-${randomBytes(12).toString("hex")}`;
/** Pulumi's marker for a secret value inside resource inputs. */
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const TOOL = "node --require ts-node/register/transpile-only tools";

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
        const stdout = args.name.endsWith("-deploy")
          ? JSON.stringify({ action: "installed", appId: "app-1", image: "reg/x@sha256:abc", previousImage: "", backupId: "" })
          : "";
        return { id: `${args.name}-id`, state: { ...args.inputs, stdout, result: "generated-secret-value-000000000000", repoDigest: "reg/x@sha256:abc" } };
      },
      call: () => {
        throw new Error("unexpected call");
      },
    },
    "communityrule",
    "staging",
    false,
  );
});

beforeEach(() => {
  recorded.length = 0;
});

/** Resolves when the output has a value: the resources it depends on are registered by then. */
const settled = <T>(output: pulumi.Input<T>): Promise<T> => new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));

/** Inputs with Pulumi's secret wrappers removed. */
const unwrap = (v: unknown): unknown => {
  if (v && typeof v === "object" && "4dabf18193072939515e22adb298388d" in (v as object)) return unwrap((v as { value: unknown }).value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
};

const find = (name: string): Recorded => {
  const found = recorded.filter((r) => r.name === name && !r.type.startsWith("communityrule:"));
  expect(found, `exactly one resource named ${name}`).toHaveLength(1);
  return found[0];
};

/** The record as text: secrets must not appear in it anywhere except as secret-wrapped values. */
const recordText = () => JSON.stringify(recorded.map((r) => ({ ...r, inputs: r.inputs })));

describe("RegistryImage", () => {
  it("build: linux/amd64 image with registry credentials, then an anonymous pull check of the pushed digest", async () => {
    const { RegistryImage } = await import("../components/registryImage");
    const img = new RegistryImage("image", {
      repository: "git.medlab.host/communityrule/community-rule",
      tag: "0.1.10",
      build: true,
      appDir: "../community-rule",
      registryUsername: "deployer",
      registryPassword: pulumi.secret(SECRET_PW),
    });
    expect(await settled(img.imageRef)).toBe("reg/x@sha256:abc");
    expect(await settled(img.taggedName)).toBe("git.medlab.host/communityrule/community-rule:0.1.10");
    await settled(img.pullCheck);
    const docker = find("image");
    expect(docker.type).toBe("docker:index/image:Image");
    expect(docker.inputs.imageName).toBe("git.medlab.host/communityrule/community-rule:0.1.10");
    expect(docker.inputs.build).toEqual({ context: "../community-rule", dockerfile: "../community-rule/Dockerfile", platform: "linux/amd64" });
    expect(unwrap(docker.inputs.registry)).toEqual({ server: "git.medlab.host", username: "deployer", password: SECRET_PW });
    // The password reaches the provider only inside a secret wrapper.
    expect(JSON.stringify((docker.inputs.registry as Record<string, unknown>).password ?? docker.inputs.registry)).toContain(SECRET_SIG);
    expect(find("image-pull-check").inputs.create).toBe(`${TOOL}/verifyPull.ts reg/x@sha256:abc`);
  });

  it("no build: the existing tag as is, nothing built, pushed or checked here", async () => {
    const { RegistryImage } = await import("../components/registryImage");
    const img = new RegistryImage("image", { repository: "git.medlab.host/communityrule/community-rule", tag: "0.1.9", build: false, appDir: "../x" });
    expect(await settled(img.imageRef)).toBe("git.medlab.host/communityrule/community-rule:0.1.9");
    expect(await settled(img.repoDigest)).toBe("");
    expect(recorded.filter((r) => !r.type.startsWith("communityrule:"))).toEqual([]);
  });

  it("build without credentials is refused before anything registers", async () => {
    const { RegistryImage } = await import("../components/registryImage");
    expect(() => new RegistryImage("image", { repository: "r.example/a/b", tag: "1.0.0", build: true, appDir: "." })).toThrow(
      "RegistryImage: build needs registryUsername and registryPassword",
    );
  });
});

describe("CloudronApp", () => {
  it("one deploy command (install / adopt / update), uninstall on delete, the token only in its secret environment", async () => {
    const { CloudronApp } = await import("../components/cloudronApp");
    const app = new CloudronApp("app", {
      server: "my.medlab.host",
      location: "staging.communityrule.info",
      appDir: "../community-rule",
      image: "reg/x@sha256:abc",
      manifestId: "com.medlab.communityrule",
      manifestVersion: "0.1.10",
      manifestSha256: "0123456789abcdef".repeat(4),
      token: pulumi.secret(SECRET_TOKEN),
      environment: "production",
      build: true,
      autoRollback: true,
      baseUrl: "https://staging.communityrule.info",
      healthTimeoutSeconds: 300,
      timeoutSeconds: 1800,
      busyWaitSeconds: 600,
      protect: false,
    });
    expect(await settled(app.action)).toBe("installed");
    expect(await settled(app.appId)).toBe("app-1");
    const deploy = find("app-deploy");
    expect(deploy.inputs.create).toBe(
      `${TOOL}/cloudronApp.ts deploy --server my.medlab.host --location staging.communityrule.info --app-dir ../community-rule ` +
        "--image reg/x@sha256:abc --manifest-id com.medlab.communityrule --manifest-version 0.1.10 --manifest-sha256 0123456789abcdef " +
        "--timeout-seconds 1800 --busy-wait-seconds 600 --environment production --build true --auto-rollback " +
        "--base-url https://staging.communityrule.info --health-timeout-seconds 300",
    );
    expect(deploy.inputs.update).toBe(deploy.inputs.create);
    expect(deploy.inputs.delete).toBe(
      `${TOOL}/cloudronApp.ts uninstall --server my.medlab.host --location staging.communityrule.info --manifest-id com.medlab.communityrule --timeout-seconds 1800`,
    );
    expect(unwrap(deploy.inputs.environment)).toEqual({ CLOUDRON_TOKEN: SECRET_TOKEN });
    expect(JSON.stringify(deploy.inputs.environment)).toContain(SECRET_SIG);
    expect(recordText().replace(JSON.stringify(deploy.inputs.environment), "")).not.toContain(SECRET_TOKEN);
  });
});

describe("AppEnv", () => {
  it("one env-apply command; stdin holds plain values and keyed fingerprints, secrets only in the secret environment", async () => {
    const { AppEnv } = await import("../components/appEnv");
    const deployment = new (await import("@pulumi/command")).local.Command("app-deploy", { create: "true" });
    const env = new AppEnv("app-env", {
      server: "my.medlab.host",
      location: "staging.communityrule.info",
      env: { SMTP_FROM: "Community Rule <hello@communityrule.info>", UPLOAD_ROOT: "/app/data/uploads" },
      secretEnv: pulumi.secret({ API_KEY: SECRET_ENV_VALUE }),
      sessionSecretRotation: "0",
      token: pulumi.secret(SECRET_TOKEN),
      deployment,
      timeoutSeconds: 1800,
    });
    expect(await settled(env.names)).toEqual(["API_KEY", "SESSION_SECRET", "SMTP_FROM", "UPLOAD_ROOT"]);
    await settled(env.apply.stdout);
    const apply = find("app-env-apply");
    expect(apply.inputs.create).toBe(`${TOOL}/cloudronApp.ts env-apply --timeout-seconds 1800`);
    const stdin = JSON.parse(String(unwrap(apply.inputs.stdin))) as Record<string, unknown>;
    expect(stdin).toEqual({
      server: "my.medlab.host",
      location: "staging.communityrule.info",
      plain: { SMTP_FROM: "Community Rule <hello@communityrule.info>", UPLOAD_ROOT: "/app/data/uploads" },
      secret: { API_KEY: expect.stringMatching(/^hmac:[0-9a-f]{16}$/), SESSION_SECRET: expect.stringMatching(/^hmac:[0-9a-f]{16}$/) },
      rotation: { sessionSecret: "0", warning: "changing sessionSecret rotates SESSION_SECRET and logs every user out" },
    });
    expect(unwrap(apply.inputs.environment)).toEqual({
      CR_SECRET_API_KEY: SECRET_ENV_VALUE,
      CR_SECRET_SESSION_SECRET: "generated-secret-value-000000000000",
      CLOUDRON_TOKEN: SECRET_TOKEN,
    });
    expect(JSON.stringify(apply.inputs.environment)).toContain(SECRET_SIG);
    const outsideEnvironment = recordText().replace(JSON.stringify(apply.inputs.environment), "");
    for (const secret of [SECRET_ENV_VALUE, SECRET_TOKEN, "generated-secret-value"]) expect(outsideEnvironment).not.toContain(secret);
    expect(find("app-env-session-secret").inputs).toMatchObject({ length: 48, special: false, keepers: { rotation: "0" } });
    expect(find("app-env-fingerprint-key").inputs).toMatchObject({ length: 32, special: false });
  });
});

describe("HealthGate", () => {
  it("runs the gate tool with the timeout and location; a restart key re-runs it when image or env changed", async () => {
    const { HealthGate } = await import("../components/healthGate");
    const gate = new HealthGate("health", {
      baseUrl: "https://staging.communityrule.info",
      location: "staging.communityrule.info",
      timeoutSeconds: 300,
      restartedBy: ["reg/x@sha256:abc", "env applied"],
      after: [],
    });
    await settled(gate.result);
    const check = find("health");
    expect(check.type).toBe("command:local:Command");
    expect(check.inputs.create).toBe(`${TOOL}/healthGate.ts https://staging.communityrule.info --timeout-seconds 300 --app staging.communityrule.info`);
    expect(check.inputs.update).toBe(check.inputs.create);
    expect(check.inputs.environment).toEqual({ CR_RESTART_KEY: createHash("sha256").update("reg/x@sha256:abc\nenv applied").digest("hex").slice(0, 16) });
  });
});

describe("SeedOnce", () => {
  it("a dynamic resource carrying what the seed needs, the token as a secret", async () => {
    const { SeedOnce } = await import("../components/seedOnce");
    const seed = new SeedOnce("seed", {
      server: "my.medlab.host",
      location: "staging.communityrule.info",
      seedRun: "1",
      image: "reg/x@sha256:abc",
      gate: "gate passed",
      token: SECRET_TOKEN,
      timeoutSeconds: 1800,
    });
    await settled(seed.urn);
    const r = find("seed");
    expect(r.type).toBe("pulumi-nodejs:dynamic/communityrule:SeedOnce");
    expect(unwrap(r.inputs)).toMatchObject({
      server: "my.medlab.host",
      location: "staging.communityrule.info",
      seedRun: "1",
      image: "reg/x@sha256:abc",
      gate: "gate passed",
      timeoutSeconds: 1800,
      cloudronToken: SECRET_TOKEN,
    });
    expect(JSON.stringify(r.inputs.cloudronToken)).toContain(SECRET_SIG);
  });

  it("its provider serializes (self-contained methods) and diffs only on seedRun and location", async () => {
    const { seedProvider } = await import("../components/seedProvider");
    const text = await pulumi.runtime.serializeFunction(() => seedProvider);
    expect(text.text).toContain("tools/cloudronApp.ts"); // create's own code travels in the serialized text
    const olds = { location: "a.example.org", seedRun: "1", seededAt: "t", seededImage: "i1", seedOutput: "" };
    const base = { server: "s", location: "a.example.org", seedRun: "1", image: "i2", gate: "g", timeoutSeconds: 1 };
    expect(await seedProvider.diff!("id", olds, base)).toMatchObject({ changes: false });
    expect(await seedProvider.diff!("id", olds, { ...base, seedRun: "2" })).toMatchObject({ changes: true, replaces: [] });
    expect(await seedProvider.diff!("id", olds, { ...base, location: "b.example.org" })).toMatchObject({ changes: true, replaces: ["location"] });
  });
});

describe("SmokeCheck", () => {
  it.each([
    [undefined, `${TOOL}/smoke.ts https://staging.communityrule.info`],
    ["ops@example.org", `${TOOL}/smoke.ts https://staging.communityrule.info --email ops@example.org`],
  ])("email %s → the whole smoke command", async (email, command) => {
    const { SmokeCheck } = await import("../components/smokeCheck");
    const smoke = new SmokeCheck("smoke", { baseUrl: "https://staging.communityrule.info", email, after: ["gate", "seeded"], dependsOn: [] });
    await settled(smoke.report);
    const r = find("smoke");
    expect(r.inputs.create).toBe(command);
    expect(r.inputs.update).toBe(command);
    expect(r.inputs.environment).toEqual({ CR_AFTER_KEY: createHash("sha256").update("gate\nseeded").digest("hex").slice(0, 16) });
  });
});
