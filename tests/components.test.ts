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
const TOOL = "node build/tools";

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
        // The deploy tool's result line, as the command would record it.
        const stdout =
          args.name === "app-deploy"
            ? JSON.stringify({
                action: "installed",
                appId: "app-123",
                location: "l",
                image: "i",
                version: "v",
                previousImage: "",
                backupId: "",
                manifestSha: "0",
              })
            : "";
        return {
          id: `${args.name}-id`,
          state: {
            ...args.inputs,
            stdout,
            result: "generated-secret-value-000000000000",
            repoDigest: "reg/x@sha256:abc",
          },
        };
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
const settled = <T>(output: pulumi.Input<T>): Promise<T> =>
  new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));

/** Inputs with Pulumi's secret wrappers removed. */
const unwrap = (v: unknown): unknown => {
  if (v && typeof v === "object" && "4dabf18193072939515e22adb298388d" in (v as object))
    return unwrap((v as { value: unknown }).value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
};

const find = (name: string): Recorded => {
  const found = recorded.filter((r) => r.name === name && !r.type.startsWith("communityrule:"));
  expect(found, `exactly one resource named ${name}`).toHaveLength(1);
  return found[0];
};

describe("RegistryImage", () => {
  it("build: linux/amd64 image with registry credentials, then an anonymous pull check of the pushed digest", async () => {
    const { RegistryImage } = await import("../steps/image/registryImage");
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
    expect(docker.inputs.build).toEqual({
      context: "../community-rule",
      dockerfile: "../community-rule/Dockerfile",
      platform: "linux/amd64",
    });
    expect(unwrap(docker.inputs.registry)).toEqual({
      server: "git.medlab.host",
      username: "deployer",
      password: SECRET_PW,
    });
    // The password reaches the provider only inside a secret wrapper.
    expect(
      JSON.stringify((docker.inputs.registry as Record<string, unknown>).password ?? docker.inputs.registry),
    ).toContain(SECRET_SIG);
    expect(find("image-pull-check").inputs.create).toBe(`${TOOL}/verifyPull.js reg/x@sha256:abc`);
  });

  it("no build: the existing tag as is, nothing built, pushed or checked here", async () => {
    const { RegistryImage } = await import("../steps/image/registryImage");
    const img = new RegistryImage("image", {
      repository: "git.medlab.host/communityrule/community-rule",
      tag: "0.1.9",
      build: false,
      appDir: "../x",
    });
    expect(await settled(img.imageRef)).toBe("git.medlab.host/communityrule/community-rule:0.1.9");
    expect(await settled(img.repoDigest)).toBe("");
    expect(recorded.filter((r) => !r.type.startsWith("communityrule:"))).toEqual([]);
  });

  it("build without credentials is refused before anything registers", async () => {
    const { RegistryImage } = await import("../steps/image/registryImage");
    expect(
      () => new RegistryImage("image", { repository: "r.example/a/b", tag: "1.0.0", build: true, appDir: "." }),
    ).toThrow("RegistryImage: build needs registryUsername and registryPassword");
  });
});

const CONNECTION = { server: "my.medlab.host", taskTimeoutSeconds: 1234, busyWaitSeconds: 56 };
const MANIFEST = { id: "com.medlab.communityrule", version: "0.1.10", httpPort: 3000, addons: { postgresql: {} } };

/** CloudronApp + AppEnv + SeedOnce wired as index.ts wires them, with the deferred env hand-over. */
async function buildCloudronSteps() {
  recorded.length = 0;
  const { CloudronApp } = await import("../steps/app/cloudronApp");
  const { AppEnv } = await import("../steps/env/appEnv");
  const { SeedOnce } = await import("../steps/seed/seedOnce");
  const [desired, setDesired] = pulumi.deferredOutput<import("../cloudron/requests").FingerprintedEnv>();
  const [secretValues, setSecretValues] = pulumi.deferredOutput<Record<string, string>>();
  const app = new CloudronApp("app", {
    connection: CONNECTION,
    location: "staging.communityrule.info",
    environment: "staging",
    stack: "staging",
    image: "reg/x@sha256:abc",
    build: true,
    manifest: MANIFEST,
    env: desired,
    secretEnv: secretValues,
    token: pulumi.secret(SECRET_TOKEN),
    autoRollback: false,
    health: { baseUrl: "https://staging.communityrule.info", timeoutSeconds: 78 },
    protect: false,
  });
  const env = new AppEnv("app-env", {
    config: {
      location: "staging.communityrule.info",
      env: { SMTP_FROM: "Community Rule <hello@communityrule.info>" },
      secretEnv: { API_KEY: SECRET_ENV_VALUE },
      sessionSecretRotation: "0",
    },
    connection: CONNECTION,
    token: pulumi.secret(SECRET_TOKEN),
    deployment: app.deployment,
    appId: app.appId,
  });
  setDesired(env.desired);
  setSecretValues(env.secretValues);
  const seed = new SeedOnce("seed", {
    connection: CONNECTION,
    location: "staging.communityrule.info",
    seedRun: "1",
    seedContent: "seed:none",
    image: app.image,
    appId: app.appId,
    gate: "ok",
    token: pulumi.secret(SECRET_TOKEN),
  });
  await new Promise<void>((resolve) => env.apply.stdout.apply(() => resolve()));
  await new Promise<void>((resolve) => seed.urn.apply(() => resolve()));
  await new Promise((r) => setTimeout(r, 50));
  return {
    deploy: recorded.find((r) => r.name === "app-deploy")!,
    apply: recorded.find((r) => r.name === "app-env-apply")!,
    seed: recorded.find((r) => r.name === "seed")!,
  };
}

describe("AppEnv and CloudronApp", () => {
  it("keeps secrets out of command text and stdin, and names children after the component", async () => {
    const { deploy, apply } = await buildCloudronSteps();
    expect(deploy.inputs.create).toBe("node build/tools/cloudronApp.js deploy");
    expect(deploy.inputs.delete).toBe("node build/tools/cloudronApp.js uninstall");
    expect(apply.inputs.create).toBe("node build/tools/cloudronApp.js env-apply");
    for (const r of [deploy, apply]) {
      // The environment map (token, secret values) is marked secret as a whole.
      expect(JSON.stringify(r.inputs.environment)).toContain("1b47061264138c4ac30d75fd1eb44270");
      const env = unwrap(r.inputs.environment) as Record<string, string>;
      expect(env.CLOUDRON_TOKEN).toBe(SECRET_TOKEN);
      expect(env.CR_SECRET_API_KEY).toBe(SECRET_ENV_VALUE);
      expect(env.CR_SECRET_SESSION_SECRET).toBe("generated-secret-value-000000000000");
      const stdin = String(unwrap(r.inputs.stdin));
      expect(stdin).toContain('"SMTP_FROM": "Community Rule <hello@communityrule.info>"');
      expect(stdin).toMatch(/"API_KEY": "hmac:[0-9a-f]{16}"/);
      expect(stdin).toMatch(/"SESSION_SECRET": "hmac:[0-9a-f]{16}"/);
      expect(stdin).not.toContain(SECRET_ENV_VALUE);
      expect(stdin).not.toContain("generated-secret-value");
      expect(stdin).not.toContain(SECRET_TOKEN);
      // stdin is a visible input: a preview diff must be able to show it.
      expect(JSON.stringify(r.inputs.stdin)).not.toContain("1b47061264138c4ac30d75fd1eb44270");
    }
    const names = recorded.map((r) => r.name);
    expect(names).toEqual(
      expect.arrayContaining(["app-env-session-secret", "app-env-fingerprint-key", "app-env-apply", "app-deploy"]),
    );
  });

  it("hands every step the same connection: timeouts and waits reach deploy, uninstall, env and seed", async () => {
    const { parseRequest, deployRequestSchema, uninstallRequestSchema, envApplyRequestSchema, seedRequestSchema } =
      await import("../cloudron/requests");
    const { deploy, apply, seed } = await buildCloudronSteps();
    const deployStdin = String(unwrap(deploy.inputs.stdin));
    const deployReq = parseRequest(deployRequestSchema, deployStdin, "deploy");
    expect(deployReq.connection).toEqual(CONNECTION);
    expect(deployReq.health).toEqual({ baseUrl: "https://staging.communityrule.info", timeoutSeconds: 78 });
    expect(deployReq.manifest).toEqual(MANIFEST);
    expect(deployReq.owner).toMatch(/communityrule:cloudron:App::app\/app-deploy$/);
    // The delete runs with the same stdin: uninstall reads its connection from it.
    expect(parseRequest(uninstallRequestSchema, deployStdin, "uninstall").connection).toEqual(CONNECTION);
    const envReq = parseRequest(envApplyRequestSchema, String(unwrap(apply.inputs.stdin)), "env");
    expect(envReq.connection).toEqual(CONNECTION);
    expect(deployReq.stack).toBe("staging");
    expect(envReq.appId).toBe("app-123");
    const seedReq = seedRequestSchema.parse(unwrap(seed.inputs.request));
    expect(seedReq).toEqual({ connection: CONNECTION, location: "staging.communityrule.info" });
    // The tool command is built in one place (lib/commandLines.ts) and handed to the provider.
    expect(seed.inputs.toolArgv).toEqual(["node", "build/tools/cloudronApp.js", "seed"]);
  });
});

describe("HealthGate", () => {
  it("runs the gate tool with the timeout and location; a restart key re-runs it when image or env changed", async () => {
    const { HealthGate } = await import("../steps/health/healthGate");
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
    expect(check.inputs.create).toBe(
      `${TOOL}/healthGate.js https://staging.communityrule.info --timeout-seconds 300 --app staging.communityrule.info`,
    );
    expect(check.inputs.update).toBe(check.inputs.create);
    expect(check.inputs.environment).toEqual({
      CR_RESTART_KEY: createHash("sha256").update("reg/x@sha256:abc\nenv applied").digest("hex").slice(0, 16),
    });
  });
});

describe("seed provider", () => {
  it("serializes (self-contained methods) and diffs only on seedRun, the seed's sources and location", async () => {
    const { seedProvider, buildSeedRequest } = await import("../steps/seed/seedProvider");
    const text = await pulumi.runtime.serializeFunction(() => seedProvider);
    expect(text.text).toContain("inputs.toolArgv"); // create's own code travels in the serialized text
    const olds = {
      location: "a.example.org",
      seedRun: "1",
      seedContent: "seed:aaaa",
      seededAt: "t",
      seededImage: "i1",
      seedOutput: "",
    };
    const base = {
      request: buildSeedRequest(CONNECTION, "a.example.org"),
      location: "a.example.org",
      seedRun: "1",
      seedContent: "seed:aaaa",
      image: "i2",
      gate: "g",
      toolArgv: ["node", "tools/cloudronApp.ts", "seed"],
    };
    expect(await seedProvider.diff!("id", olds, base)).toMatchObject({ changes: false });
    expect(await seedProvider.diff!("id", olds, { ...base, seedRun: "2" })).toMatchObject({
      changes: true,
      replaces: [],
    });
    expect(await seedProvider.diff!("id", olds, { ...base, seedContent: "seed:bbbb" })).toMatchObject({
      changes: true,
      replaces: [],
    });
    // A seed recorded before the fingerprint existed is not re-run just for lacking one.
    const { seedContent: _none, ...unrecorded } = olds;
    expect(await seedProvider.diff!("id", unrecorded, { ...base, seedContent: "seed:bbbb" })).toMatchObject({
      changes: false,
    });
    expect(await seedProvider.diff!("id", olds, { ...base, location: "b.example.org" })).toMatchObject({
      changes: true,
      replaces: ["location"],
    });
  });
});

describe("SmokeCheck", () => {
  it.each([
    [undefined, `${TOOL}/smoke.js https://staging.communityrule.info`],
    ["ops@example.org", `${TOOL}/smoke.js https://staging.communityrule.info --email ops@example.org`],
  ])("email %s → the whole smoke command", async (email, command) => {
    const { SmokeCheck } = await import("../steps/smoke/smokeCheck");
    const smoke = new SmokeCheck("smoke", {
      baseUrl: "https://staging.communityrule.info",
      email,
      after: ["gate", "seeded"],
      dependsOn: [],
    });
    await settled(smoke.report);
    const r = find("smoke");
    expect(r.inputs.create).toBe(command);
    expect(r.inputs.update).toBe(command);
    expect(r.inputs.environment).toEqual({
      CR_AFTER_KEY: createHash("sha256").update("gate\nseeded").digest("hex").slice(0, 16),
    });
  });
});
