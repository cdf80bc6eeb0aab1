/**
 * Component wiring under plain Pulumi mocks: child names, types and the inputs that matter
 * (platform, protect-independent facts, no secret in any command text), plus the seed provider's
 * serialization, which fails the same way under mocks as in `up` when it captures something it
 * cannot serialize.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { randomBytes } from "node:crypto";

interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const recorded: Recorded[] = [];
// Made up per run, so no token-shaped literal sits in the repository.
const SECRET_PW = `regpw-${randomBytes(12).toString("hex")}`;
const SECRET_TOKEN = `crtok-${randomBytes(12).toString("hex")}`;

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
        // The deploy tool's result line, as the command would record it.
        const stdout = args.name === "app-deploy" ? JSON.stringify({ action: "installed", appId: "app-123", location: "l", image: "i", version: "v", previousImage: "", backupId: "", manifestSha: "0" }) : "";
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

const unwrap = (v: unknown): unknown => {
  if (v && typeof v === "object" && "4dabf18193072939515e22adb298388d" in (v as object)) return unwrap((v as { value: unknown }).value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
};

describe("RegistryImage", () => {
  it("builds for linux/amd64 with registry credentials and checks the pushed digest anonymously", async () => {
    const { RegistryImage } = await import("../components/registryImage");
    const img = new RegistryImage("image", {
      repository: "git.medlab.host/communityrule/community-rule",
      tag: "0.1.10",
      build: true,
      appDir: "../community-rule",
      registryUsername: "deployer",
      registryPassword: pulumi.secret(SECRET_PW),
    });
    await new Promise<void>((resolve) => img.imageRef.apply(() => resolve()));
    await new Promise((r) => setTimeout(r, 50));
    const docker = recorded.find((r) => r.type === "docker:index/image:Image" && r.name === "image")!;
    expect(docker.inputs.imageName).toBe("git.medlab.host/communityrule/community-rule:0.1.10");
    expect((docker.inputs.build as Record<string, unknown>).platform).toBe("linux/amd64");
    expect((unwrap(docker.inputs.registry) as Record<string, unknown>).server).toBe("git.medlab.host");
    const check = recorded.find((r) => r.name === "image-pull-check")!;
    expect(check.inputs.create).toBe("node --require ts-node/register/transpile-only tools/verifyPull.ts reg/x@sha256:abc");
    // The password reaches the provider only inside a secret wrapper.
    const registry = docker.inputs.registry as Record<string, unknown>;
    expect(JSON.stringify(registry.password ?? registry)).toContain("1b47061264138c4ac30d75fd1eb44270");
  });
});

const CONNECTION = { server: "my.medlab.host", taskTimeoutSeconds: 1234, busyWaitSeconds: 56 };
const MANIFEST = { id: "com.medlab.communityrule", version: "0.1.10", httpPort: 3000, addons: { postgresql: {} } };

/** CloudronApp + AppEnv + SeedOnce wired as index.ts wires them, with the deferred env hand-over. */
async function buildCloudronSteps() {
  recorded.length = 0;
  const { CloudronApp } = await import("../components/cloudronApp");
  const { AppEnv } = await import("../components/appEnv");
  const { SeedOnce } = await import("../components/seedOnce");
  const [desired, setDesired] = pulumi.deferredOutput<import("../lib/cloudron/contract").DesiredEnv>();
  const [secretValues, setSecretValues] = pulumi.deferredOutput<Record<string, string>>();
  const app = new CloudronApp("app", {
    connection: CONNECTION,
    location: "staging.communityrule.info",
    environment: "staging",
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
    connection: CONNECTION,
    location: "staging.communityrule.info",
    env: { SMTP_FROM: "Community Rule <hello@communityrule.info>" },
    secretEnv: pulumi.secret({ API_KEY: "sk-live-secretvalue-123456" }),
    sessionSecretRotation: "0",
    token: pulumi.secret(SECRET_TOKEN),
    deployment: app.deployment,
    appId: app.appId,
    owner: app.owner,
  });
  setDesired(env.desired);
  setSecretValues(env.secretValues);
  const seed = new SeedOnce("seed", { connection: CONNECTION, location: "staging.communityrule.info", seedRun: "1", image: app.image, gate: "ok", token: pulumi.secret(SECRET_TOKEN) });
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
    expect(deploy.inputs.create).toBe("node --require ts-node/register/transpile-only tools/cloudronApp.ts deploy");
    expect(deploy.inputs.delete).toBe("node --require ts-node/register/transpile-only tools/cloudronApp.ts uninstall");
    expect(apply.inputs.create).toBe("node --require ts-node/register/transpile-only tools/cloudronApp.ts env-apply");
    for (const r of [deploy, apply]) {
      // The environment map (token, secret values) is marked secret as a whole.
      expect(JSON.stringify(r.inputs.environment)).toContain("1b47061264138c4ac30d75fd1eb44270");
      const env = unwrap(r.inputs.environment) as Record<string, string>;
      expect(env.CLOUDRON_TOKEN).toBe(SECRET_TOKEN);
      expect(env.CR_SECRET_API_KEY).toBe("sk-live-secretvalue-123456");
      expect(env.CR_SECRET_SESSION_SECRET).toBe("generated-secret-value-000000000000");
      const stdin = String(unwrap(r.inputs.stdin));
      expect(stdin).toContain('"SMTP_FROM": "Community Rule <hello@communityrule.info>"');
      expect(stdin).toMatch(/"API_KEY": "hmac:[0-9a-f]{16}"/);
      expect(stdin).toMatch(/"SESSION_SECRET": "hmac:[0-9a-f]{16}"/);
      expect(stdin).not.toContain("sk-live-secretvalue");
      expect(stdin).not.toContain("generated-secret-value");
      expect(stdin).not.toContain(SECRET_TOKEN);
      // stdin is a visible input: a preview diff must be able to show it.
      expect(JSON.stringify(r.inputs.stdin)).not.toContain("1b47061264138c4ac30d75fd1eb44270");
    }
    const names = recorded.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(["app-env-session-secret", "app-env-fingerprint-key", "app-env-apply", "app-deploy"]));
  });

  it("hands every step the same connection: timeouts and waits reach deploy, uninstall, env and seed", async () => {
    const { parseRequest, deployRequestSchema, uninstallRequestSchema, envApplyRequestSchema, seedRequestSchema } = await import("../lib/cloudron/contract");
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
    expect(envReq.owner).toBe(deployReq.owner);
    expect(envReq.appId).toBe("app-123");
    const seedReq = seedRequestSchema.parse(unwrap(seed.inputs.request));
    expect(seedReq).toEqual({ connection: CONNECTION, location: "staging.communityrule.info" });
  });
});

describe("seed provider", () => {
  it("serializes (self-contained methods) and diffs only on seedRun and location", async () => {
    const { seedProvider, buildSeedRequest } = await import("../components/seedProvider");
    const text = await pulumi.runtime.serializeFunction(() => seedProvider);
    expect(text.text).toContain("tools/cloudronApp.ts"); // create's own code travels in the serialized text
    const olds = { location: "a.example.org", seedRun: "1", seededAt: "t", seededImage: "i1", seedOutput: "" };
    const base = { request: buildSeedRequest(CONNECTION, "a.example.org"), location: "a.example.org", seedRun: "1", image: "i2", gate: "g" };
    expect(await seedProvider.diff!("id", olds, base)).toMatchObject({ changes: false });
    expect(await seedProvider.diff!("id", olds, { ...base, seedRun: "2" })).toMatchObject({ changes: true, replaces: [] });
    expect(await seedProvider.diff!("id", olds, { ...base, location: "b.example.org" })).toMatchObject({ changes: true, replaces: ["location"] });
  });
});
