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
        return { id: `${args.name}-id`, state: { ...args.inputs, stdout: "", result: "generated-secret-value-000000000000", repoDigest: "reg/x@sha256:abc" } };
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

describe("AppEnv and CloudronApp", () => {
  it("keeps secrets out of command text and stdin, and names children after the component", async () => {
    const { CloudronApp } = await import("../components/cloudronApp");
    const { AppEnv } = await import("../components/appEnv");
    const app = new CloudronApp("app", {
      server: "my.medlab.host",
      location: "staging.communityrule.info",
      appDir: "../community-rule",
      image: "reg/x@sha256:abc",
      manifestId: "com.medlab.communityrule",
      manifestVersion: "0.1.10",
      manifestSha256: "0".repeat(64),
      token: pulumi.secret(SECRET_TOKEN),
      protect: false,
    });
    const env = new AppEnv("app-env", {
      server: "my.medlab.host",
      location: "staging.communityrule.info",
      env: { SMTP_FROM: "Community Rule <hello@communityrule.info>" },
      secretEnv: pulumi.secret({ API_KEY: "sk-live-secretvalue-123456" }),
      sessionSecretRotation: "0",
      token: pulumi.secret(SECRET_TOKEN),
      deployment: app.deployment,
    });
    await new Promise<void>((resolve) => env.apply.stdout.apply(() => resolve()));
    const deploy = recorded.find((r) => r.name === "app-deploy")!;
    const apply = recorded.find((r) => r.name === "app-env-apply")!;
    expect(String(deploy.inputs.create)).toContain("deploy --server my.medlab.host --location staging.communityrule.info");
    expect(String(deploy.inputs.delete)).toContain("uninstall");
    for (const r of [deploy, apply]) {
      expect(String(r.inputs.create)).not.toContain(SECRET_TOKEN);
      // The environment map (token, secret values) is marked secret as a whole.
      expect(JSON.stringify(r.inputs.environment)).toContain("1b47061264138c4ac30d75fd1eb44270");
    }
    const stdin = String(unwrap(apply.inputs.stdin));
    expect(stdin).toContain('"SMTP_FROM": "Community Rule <hello@communityrule.info>"');
    expect(stdin).toMatch(/"API_KEY": "hmac:[0-9a-f]{16}"/);
    expect(stdin).toMatch(/"SESSION_SECRET": "hmac:[0-9a-f]{16}"/);
    expect(stdin).not.toContain("sk-live-secretvalue");
    expect(stdin).not.toContain("generated-secret-value");
    const names = recorded.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(["app-env-session-secret", "app-env-fingerprint-key", "app-env-apply", "app-deploy"]));
  });
});

describe("seed provider", () => {
  it("serializes (self-contained methods) and diffs only on seedRun and location", async () => {
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
