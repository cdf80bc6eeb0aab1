/**
 * The one step list: the program (index.ts) registers it and the plan (commands/plan/plan.ts) describes it.
 * Adding a step to the list shows up in both, with no other edit; the order is the runbook's.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { STEPS, describeSteps, type Step } from "../steps";
import { buildPlan } from "../commands/plan/plan";
import { readStackText } from "../config/stackFile";
import { FIXTURE_APP_DIR } from "../engine/fixtureManifest";

const projectDir = path.resolve(__dirname, "..");
const appDir = FIXTURE_APP_DIR;

interface Recorded {
  type: string;
  name: string;
}
const recorded: Recorded[] = [];

// The program's live check reads the server before registering anything: a tiny loopback
// Cloudron answers it (a token of an admin, a server recent enough, no app installed yet).
const TOKEN = `crtok-${randomBytes(8).toString("hex")}`;
const ANSWERS: Record<string, unknown> = {
  "/api/v1/profile": { username: "ops", role: "admin" },
  "/api/v1/cloudron/status": { version: "9.0.2" },
};
const cloudron = http.createServer((req, res) => {
  res.writeHead(req.headers.authorization === `Bearer ${TOKEN}` ? 200 : 401, { "content-type": "application/json" });
  res.end(JSON.stringify(ANSWERS[req.url ?? ""] ?? { apps: [] }));
});
afterAll(() => new Promise<void>((r) => cloudron.close(() => r())));

beforeAll(async () => {
  await new Promise<void>((r) => cloudron.listen(0, "127.0.0.1", () => r()));
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        recorded.push({ type: args.type, name: args.name });
        return {
          id: `${args.name}-id`,
          state: { ...args.inputs, stdout: "", result: "x".repeat(32), repoDigest: "reg/x@sha256:abc" },
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
  const config: Record<string, string> = {
    "communityrule:location": "staging.communityrule.info",
    "communityrule:cloudronServer": `http://127.0.0.1:${(cloudron.address() as AddressInfo).port}`,
    "communityrule:cloudronToken": TOKEN,
    "communityrule:appDir": appDir,
    "communityrule:env": JSON.stringify({ SMTP_FROM: "hello@communityrule.info" }),
    "communityrule:registryUsername": "deployer",
    "communityrule:registryPassword": `regpw-${randomBytes(8).toString("hex")}`,
  };
  pulumi.runtime.setAllConfig(config, ["communityrule:registryPassword", "communityrule:cloudronToken"]);
});

afterEach(() => {
  recorded.length = 0;
});

/** Runs the program as Pulumi's language host would, and waits until every output has resolved. */
async function runProgram(): Promise<Record<string, unknown>> {
  const deploy = (await import("../index")).default as unknown as () => Promise<Record<string, unknown>>;
  const outputs = await deploy();
  return new Promise((resolve) => pulumi.output(outputs).apply((v) => resolve(v as Record<string, unknown>)));
}

class Marker extends pulumi.CustomResource {
  constructor(name: string, props: Record<string, unknown>, opts?: pulumi.CustomResourceOptions) {
    super("test:index:Marker", name, props, opts);
  }
}

const marker: Step = {
  id: "marker",
  describe: (cfg) => [`marker: note the deploy of ${cfg.location}`],
  async register(ctx) {
    const res = new Marker("marker", { location: ctx.cfg.location }, { dependsOn: ctx.smoke ? [ctx.smoke] : [] });
    ctx.outputs.marker = res.id;
  },
};

describe("steps.ts", () => {
  it("lists the runbook's steps in order", () => {
    expect(STEPS.map((s) => s.id)).toEqual([
      "live-check",
      "image",
      "pull-check",
      "migrations",
      "deploy",
      "env",
      "health",
      "seed",
      "smoke",
    ]);
  });

  it("the program registers each step's component, in the list's order", async () => {
    const outputs = await runProgram();
    // Each step's top resource is named after it; children reuse or extend that name.
    const tops = ["image", "app", "app-env", "health", "seed", "smoke"];
    expect([...new Set(recorded.map((r) => r.name))].filter((n) => tops.includes(n))).toEqual(tops);
    expect(Object.keys(outputs)).toEqual([
      "url",
      "location",
      "environment",
      "imageTag",
      "manifestVersion",
      "cloudronServer",
      "imageRef",
      "appId",
      "deployAction",
      "preUpdateBackupId",
      "previousImage",
      "migrations",
      "envNames",
      "managedEnv",
      "secretEnvNames",
      "healthCheck",
      "seededAt",
      "seededImage",
      "smokeReport",
    ]);
  });

  it("a step added to the list appears in the program's resources and outputs and in the plan", async () => {
    (STEPS as Step[]).push(marker);
    try {
      const outputs = await runProgram();
      expect(recorded.filter((r) => r.type === "test:index:Marker").map((r) => r.name)).toEqual(["marker"]);
      expect(outputs.marker).toBe("marker-id");
      const plan = buildPlan("staging", readStackText(projectDir, "staging").text, { projectDir, appDir });
      expect(plan.operations.at(-1)).toBe("marker: note the deploy of staging.communityrule.info");
    } finally {
      (STEPS as Step[]).pop();
    }
    const plan = buildPlan("staging", readStackText(projectDir, "staging").text, { projectDir, appDir });
    expect(plan.operations.some((o) => o.startsWith("marker:"))).toBe(false);
  });

  it("a step that needs an earlier one says which, when the list is out of order", async () => {
    const { checkConfig } = await import("../config/loader");
    const { registerSteps } = await import("../steps");
    const raw = {
      values: {
        "communityrule:location": "a.example.org",
        "communityrule:cloudronServer": "my.medlab.host",
        "communityrule:appDir": appDir,
        "communityrule:build": "false",
        "communityrule:imageTag": "0.1.9",
        "communityrule:env": '{"SMTP_FROM":"a@b.c"}',
      },
      secretKeys: new Set<string>(),
    };
    const cfg = checkConfig(raw, { stack: "staging", projectDir }).config!;
    const image = STEPS.find((s) => s.id === "image")!;
    const deploy = STEPS.find((s) => s.id === "deploy")!;
    await expect(registerSteps(cfg, [deploy, image])).rejects.toThrow(
      'step "deploy" needs step "image" to come before it in steps.ts',
    );
    expect(describeSteps(cfg, [image])).toEqual([
      "image: existing tag git.medlab.host/communityrule/community-rule:0.1.9, no build (rollback or promotion)",
    ]);
  });
});
