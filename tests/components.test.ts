/**
 * Every step's components as the program registers them: the config read from Pulumi's runtime
 * (config/programConfig.ts) and handed to `registerSteps` (steps.ts), under plain Pulumi mocks.
 * What is checked: the children each step registers (names, types), the whole command text each
 * one runs, what reaches a tool on stdin and in its environment, and that secrets only ever travel
 * inside secret wrappers. Each case waits on the stack outputs the steps return, never on a timer.
 *
 * The steps' checks (run before anything registers) read live servers: the live check asks
 * Cloudron, a rollback's pull check asks the registry. tests/steps.test.ts runs them through the
 * whole program; here they are left out, so that what is tested is registration alone.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { registerSteps, STEPS, type ResourceStep } from "../steps";
import { loadDeployConfig } from "../config/programConfig";
import {
  deployRequestSchema,
  envApplyRequestSchema,
  parseRequest,
  seedRequestSchema,
  uninstallRequestSchema,
} from "../cloudron/requests";
import { FIXTURE_APP_DIR } from "../engine/fixtureManifest";

const projectDir = path.resolve(__dirname, "..");
const appDir = FIXTURE_APP_DIR;
const LOCATION = "staging.communityrule.info";
const REPOSITORY = "git.medlab.host/communityrule/community-rule";

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
const GENERATED = `generated-${randomBytes(12).toString("hex")}`;
/** Pulumi's marker for a secret value inside resource inputs. */
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SECRET_KEY = "4dabf18193072939515e22adb298388d";

/** Inputs with Pulumi's secret wrappers removed. */
const unwrap = (v: unknown): unknown => {
  if (v && typeof v === "object" && SECRET_KEY in (v as object)) return unwrap((v as { value: unknown }).value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
};
const isSecret = (v: unknown) => JSON.stringify(v).includes(SECRET_SIG);

/** A digest the mock registry hands out per image name: another name, another digest. */
const digestOf = (imageName: string) => Buffer.from(imageName).toString("hex").padEnd(64, "0").slice(0, 64);

/** What the providers would answer, made from the inputs (the mocks run no command). */
function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const state: Record<string, unknown> = { ...inputs, stdout: "" };
  if (type === "docker:index/image:Image") {
    const imageName = String(inputs.imageName);
    state.repoDigest = `${imageName.slice(0, imageName.lastIndexOf(":"))}@sha256:${digestOf(imageName)}`;
  }
  if (type === "random:index/randomPassword:RandomPassword") state.result = GENERATED;
  // A first sighting of the app, as the presence provider's create records it.
  if (name === "app-presence") state.generation = 1;
  if (type === "command:local:Command" && name === "app-deploy") {
    // The deploy tool's result line, as the command would record it: the image it was asked to run.
    state.stdout = JSON.stringify({
      action: "installed",
      appId: "app-123",
      location: LOCATION,
      image: (JSON.parse(String(unwrap(inputs.stdin))) as { image: string }).image,
      version: "v",
      previousImage: "",
      backupId: "",
      manifestSha: "0",
    });
  }
  // The gate's result names the restart it waited for, as a re-run gate's result would differ.
  if (type === "command:local:Command" && name === "health") {
    const env = unwrap(inputs.environment) as Record<string, string>;
    state.stdout = JSON.stringify({ ok: true, restartKey: env.CR_RESTART_KEY });
  }
  if (name === "seed") Object.assign(state, { seededAt: "2026-01-01T00:00:00Z", seededImage: inputs.image });
  return state;
}

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: mockState(args.type, args.name, args.inputs) };
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

/**
 * The steps that declare resources, with their checks left out (see the header): registration
 * exactly as steps.ts does it. The check-only steps register nothing.
 */
const registrationOnly: ResourceStep[] = STEPS.filter((step): step is ResourceStep => !!step.register).map((step) => ({
  ...step,
  check: undefined,
}));

const SECRET_CONFIG = ["cloudronToken", "registryPassword", "secretEnv"];

/**
 * Sets the stack config (short keys; objects become JSON, as `pulumi config set --path` leaves
 * them), loads it as the program does and registers every step. Resolves once every stack output
 * the steps returned has a value, with the resources registered on the way.
 */
async function register(overrides: Record<string, unknown> = {}): Promise<Recorded[]> {
  recorded.length = 0;
  const short: Record<string, unknown> = {
    location: LOCATION,
    cloudronServer: "my.medlab.host",
    cloudronToken: SECRET_TOKEN,
    imageRepository: REPOSITORY,
    appDir,
    env: { SMTP_FROM: "Community Rule <hello@communityrule.info>" },
    secretEnv: { API_KEY: SECRET_ENV_VALUE },
    registryUsername: "deployer",
    registryPassword: SECRET_PW,
    ...overrides,
  };
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(short)) {
    if (v !== undefined) values[`communityrule:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
  }
  pulumi.runtime.setAllConfig(
    values,
    SECRET_CONFIG.map((k) => `communityrule:${k}`),
  );
  const outputs = await registerSteps(loadDeployConfig(projectDir), registrationOnly);
  await new Promise((resolve) => pulumi.output(outputs).apply(resolve));
  return [...recorded];
}

function find(resources: Recorded[], name: string): Recorded {
  const found = resources.filter((r) => r.name === name && !r.type.startsWith("communityrule:"));
  expect(found, `exactly one resource named ${name}`).toHaveLength(1);
  return found[0];
}
const stdinOf = (r: Recorded) => String(unwrap(r.inputs.stdin));

describe("image step", () => {
  it("build: guards the release tag, builds linux/amd64 (password as a secret), then pull-checks", async () => {
    const resources = await register();
    const docker = find(resources, "image");
    expect(docker.type).toBe("docker:index/image:Image");
    expect(docker.inputs.imageName).toMatch(new RegExp(`^${REPOSITORY}:\\d+\\.\\d+\\.\\d+$`));
    expect(docker.inputs.build).toMatchObject({ context: appDir, platform: "linux/amd64" });
    expect(unwrap(docker.inputs.registry)).toEqual({
      server: "git.medlab.host",
      username: "deployer",
      password: SECRET_PW,
    });
    // The password reaches the provider only inside a secret wrapper.
    expect(isSecret((docker.inputs.registry as Record<string, unknown>).password ?? docker.inputs.registry)).toBe(true);
    const tagged = String(docker.inputs.imageName);
    expect(find(resources, "image-tag-guard").inputs.create).toBe(
      `node build/tools/verifyPull.js ${tagged} --must-be-new`,
    );
    const digest = `${REPOSITORY}@sha256:${digestOf(tagged)}`;
    expect(find(resources, "image-pull-check").inputs.create).toBe(`node build/tools/verifyPull.js ${digest}`);
    // The deploy installs what was pushed, by digest.
    const deploy = parseRequest(deployRequestSchema, stdinOf(find(resources, "app-deploy")), "deploy");
    expect(deploy.image).toBe(digest);
  });

  it("build: false: the existing tag as is; nothing is built, pushed or pull-checked here", async () => {
    const resources = await register({ build: false, imageTag: "0.1.9" });
    const names = resources.map((r) => r.name);
    for (const absent of ["image", "image-tag-guard", "image-pull-check"])
      expect(resources.filter((r) => r.name === absent && !r.type.startsWith("communityrule:"))).toEqual([]);
    expect(names).toContain("app-deploy");
    const deploy = parseRequest(deployRequestSchema, stdinOf(find(resources, "app-deploy")), "deploy");
    expect(deploy.image).toBe(`${REPOSITORY}:0.1.9`);
  });

  it("a build without registry credentials is refused before anything registers", async () => {
    const { RegistryImage } = await import("../steps/image/registryImage");
    expect(
      () => new RegistryImage("image", { repository: "r.example/a/b", tag: "1.0.0", build: true, appDir: "." }),
    ).toThrow("RegistryImage: build needs registryUsername and registryPassword");
  });
});

describe("deploy and env steps", () => {
  it("keep secrets out of command text and stdin, and name their children after the component", async () => {
    const resources = await register();
    const deploy = find(resources, "app-deploy");
    const apply = find(resources, "app-env-apply");
    expect(deploy.inputs.create).toBe("node build/tools/cloudronApp.js deploy");
    expect(deploy.inputs.delete).toBe("node build/tools/cloudronApp.js uninstall");
    expect(apply.inputs.create).toBe("node build/tools/cloudronApp.js env-apply");
    for (const r of [deploy, apply]) {
      // The environment map (token, secret values) is marked secret as a whole.
      expect(isSecret(r.inputs.environment)).toBe(true);
      const env = unwrap(r.inputs.environment) as Record<string, string>;
      expect(env.CLOUDRON_TOKEN).toBe(SECRET_TOKEN);
      expect(env.CR_SECRET_API_KEY).toBe(SECRET_ENV_VALUE);
      expect(env.CR_SECRET_SESSION_SECRET).toBe(GENERATED);
      const stdin = stdinOf(r);
      expect(stdin).toContain('"SMTP_FROM": "Community Rule <hello@communityrule.info>"');
      expect(stdin).toMatch(/"API_KEY": "hmac:[0-9a-f]{16}"/);
      expect(stdin).toMatch(/"SESSION_SECRET": "hmac:[0-9a-f]{16}"/);
      for (const secret of [SECRET_ENV_VALUE, GENERATED, SECRET_TOKEN]) expect(stdin).not.toContain(secret);
      // stdin is a visible input: a preview diff must be able to show it.
      expect(isSecret(r.inputs.stdin)).toBe(false);
    }
    expect(resources.map((r) => r.name)).toEqual(
      expect.arrayContaining(["app-env-session-secret", "app-env-fingerprint-key", "app-env-apply", "app-deploy"]),
    );
  });

  it("send the same stdin whatever order the stack file lists env in (Pulumi stores and compares it)", async () => {
    const smtp = "Community Rule <hello@communityrule.info>";
    const stdins = async (env: Record<string, string>, secretEnv: Record<string, string>) => {
      const resources = await register({ env, secretEnv });
      return [stdinOf(find(resources, "app-deploy")), stdinOf(find(resources, "app-env-apply"))];
    };
    const written = await stdins(
      { UPLOAD_ROOT: "/app/data/uploads", SMTP_FROM: smtp },
      { ZED_KEY: SECRET_ENV_VALUE, API_KEY: SECRET_ENV_VALUE },
    );
    const reordered = await stdins(
      { SMTP_FROM: smtp, UPLOAD_ROOT: "/app/data/uploads" },
      { API_KEY: SECRET_ENV_VALUE, ZED_KEY: SECRET_ENV_VALUE },
    );
    expect(reordered).toEqual(written);
    expect(written[1].indexOf('"SMTP_FROM"')).toBeLessThan(written[1].indexOf('"UPLOAD_ROOT"'));
  });

  it("hand every Cloudron step the config's one connection: deploy, uninstall, env and seed", async () => {
    const resources = await register({
      cloudronTimeoutSeconds: 1234,
      busyWaitSeconds: 56,
      healthTimeoutSeconds: 78,
      seedFloor: "0.1.5",
    });
    const connection = { server: "my.medlab.host", taskTimeoutSeconds: 1234, busyWaitSeconds: 56 };
    const deployStdin = stdinOf(find(resources, "app-deploy"));
    const deploy = parseRequest(deployRequestSchema, deployStdin, "deploy");
    expect(deploy.connection).toEqual(connection);
    expect(deploy.health).toEqual({ baseUrl: `https://${LOCATION}`, timeoutSeconds: 78 });
    expect(deploy.stack).toBe("staging");
    expect(deploy.owner).toMatch(/communityrule:cloudron:App::app\/app-deploy$/);
    // The delete runs with the same stdin: uninstall reads its connection from it.
    expect(parseRequest(uninstallRequestSchema, deployStdin, "uninstall").connection).toEqual(connection);
    const env = parseRequest(envApplyRequestSchema, stdinOf(find(resources, "app-env-apply")), "env");
    expect(env.connection).toEqual(connection);
    expect(env.appId).toBe("app-123");
    const seed = find(resources, "seed");
    expect(seedRequestSchema.parse(unwrap(seed.inputs.request))).toEqual({
      connection,
      location: LOCATION,
      seedFloor: "0.1.5",
    });
    expect(seed.inputs.toolArgv).toEqual(["node", "build/tools/cloudronApp.js", "seed"]);
  });
});

describe("health gate and smoke", () => {
  it("run their tools with the config's timeout, location and base URL; the token in a secret env", async () => {
    const resources = await register({ healthTimeoutSeconds: 300, smokeEmail: "ops@example.org" });
    const health = find(resources, "health");
    expect(health.type).toBe("command:local:Command");
    expect(health.inputs.create).toBe(
      `node build/tools/healthGate.js https://${LOCATION} --timeout-seconds 300 --app ${LOCATION} ` +
        "--cloudron-server my.medlab.host",
    );
    expect(health.inputs.update).toBe(health.inputs.create);
    expect(isSecret(health.inputs.environment)).toBe(true);
    expect((unwrap(health.inputs.environment) as Record<string, string>).CLOUDRON_TOKEN).toBe(SECRET_TOKEN);
    const smoke = find(resources, "smoke");
    expect(smoke.inputs.create).toBe(`node build/tools/smoke.js https://${LOCATION} --email ops@example.org`);
    expect(smoke.inputs.update).toBe(smoke.inputs.create);
  });

  it("re-run exactly when what they follow changed: the gate on a new image, smoke on a new gate result", async () => {
    const keys = async (overrides: Record<string, unknown>) => {
      const resources = await register(overrides);
      const env = (name: string) => unwrap(find(resources, name).inputs.environment) as Record<string, string>;
      return { restart: env("health").CR_RESTART_KEY, after: env("smoke").CR_AFTER_KEY };
    };
    const first = await keys({});
    const same = await keys({});
    const otherImage = await keys({ imageRepository: "git.medlab.host/communityrule/other" });
    const otherHealthTimeout = await keys({ healthTimeoutSeconds: 400 });
    expect(first.restart).toMatch(/^[0-9a-f]{16}$/);
    expect(first.after).toMatch(/^[0-9a-f]{16}$/);
    expect(same).toEqual(first);
    expect(otherImage.restart).not.toBe(first.restart);
    expect(otherImage.after).not.toBe(first.after);
    // A setting of the gate itself changes its command (an update), not what it waits for.
    expect(otherHealthTimeout).toEqual(first);
  });

  it("smoke: false registers no smoke check, and the gate still runs", async () => {
    const resources = await register({ smoke: false });
    expect(resources.filter((r) => r.name === "smoke")).toEqual([]);
    expect(resources.map((r) => r.name)).toContain("health");
  });
});

describe("seed step", () => {
  it("its serialized provider runs on its own and diffs only on seedRun, the seed's sources and location", async () => {
    const seed = find(await register(), "seed");
    // What the engine stores and later loads: the provider's serialized module, alone.
    const requireFromString = require("require-from-string") as (code: string) => {
      handler(): Required<pulumi.dynamic.ResourceProvider>;
    };
    const provider = requireFromString(String(seed.inputs.__provider)).handler();
    const inputs = unwrap(seed.inputs) as Record<string, unknown>;
    const olds = {
      location: inputs.location,
      seedRun: inputs.seedRun,
      seedContent: inputs.seedContent,
      seededAt: "t",
      seededImage: "i1",
      seedOutput: "",
    };
    const news = { ...inputs, image: "another image" };
    expect(await provider.diff("id", olds, news)).toMatchObject({ changes: false });
    expect(await provider.diff("id", olds, { ...news, seedRun: "2" })).toMatchObject({ changes: true, replaces: [] });
    expect(await provider.diff("id", olds, { ...news, seedContent: "seed:bbbb" })).toMatchObject({
      changes: true,
      replaces: [],
    });
    // A seed recorded before the fingerprint existed is not re-run just for lacking one.
    const { seedContent: _none, ...unrecorded } = olds;
    expect(await provider.diff("id", unrecorded, { ...news, seedContent: "seed:bbbb" })).toMatchObject({
      changes: false,
    });
    expect(await provider.diff("id", olds, { ...news, location: "b.example.org" })).toMatchObject({
      changes: true,
      replaces: ["location"],
    });
  });
});
