/**
 * The offline engine against what the Pulumi CLI, engine and providers really do (one test per row
 * of engine/CONFORMANCE.md): the config step before the program, `up` as a preview pass and an
 * update pass, docker.Image's diff, aliases, and the Cloudron token taken from the stack only.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { Lifecycle, MUTATING, type ApiCall, type LifecycleSnapshot } from "../engine/runner";
import type { RunResult } from "../engine/host";

const SHELL_TOKEN = "fake-shell-token-xyz";

describe("the engine's passes and config step", () => {
  let lc: Lifecycle;
  let empty: LifecycleSnapshot;
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging" });
    empty = lc.save();
  });
  afterAll(async () => lc?.close());

  describe("a first up from nothing, with a CLOUDRON_TOKEN exported in the operator's shell", () => {
    // One install serves the two rows below: the exported token must change nothing, so the pass
    // structure the first row checks is that of any up, and the second row's claim needs every step
    // run once (an install runs them all). What they read is taken here, before another row restores.
    let r: RunResult;
    let calls: ApiCall[];
    beforeAll(async () => {
      lc.restore(empty);
      lc.extraEnv.CLOUDRON_TOKEN = SHELL_TOKEN;
      try {
        r = await lc.up();
      } finally {
        delete lc.extraEnv.CLOUDRON_TOKEN;
      }
      calls = lc.calls();
    });

    it("up is a preview pass (nothing executed) then an update pass, each running the program's checks", () => {
      expect(r.errors).toEqual([]);
      expect(r.preview?.ok).toBe(true);
      // The preview planned every create and ran no command, built nothing, stored nothing.
      const previewed = r.preview!.steps;
      expect(previewed.map((s) => s.op)).toEqual(r.steps.map((s) => s.op));
      expect(previewed.every((s) => s.op === "create" && s.command === undefined && s.durationMs === undefined)).toBe(
        true,
      );
      // The live check read the server once per pass (the same reads twice), both before the first change.
      const ops = calls.map((c) => c.operation);
      const second = ops.indexOf("getProfile", 1);
      const liveCheck = ops.slice(0, second);
      expect(liveCheck[0]).toBe("getProfile");
      expect(ops.slice(second, 2 * second)).toEqual(liveCheck);
      expect(ops.indexOf("installApp")).toBeGreaterThan(2 * second);
    });

    it("an exported CLOUDRON_TOKEN does not win over the stack's token", () => {
      expect(r.errors).toEqual([]);
      // Every step ran: the install, its env and tags, the seed.
      expect(calls.filter((c) => MUTATING.has(c.operation)).map((c) => c.operation)).toEqual([
        "installApp",
        "setAppTags",
        "standinExec",
      ]);
      expect(calls.filter((c) => c.status === 401)).toEqual([]);
    });
  });

  it("a failed preview pass ends the up: no update pass, nothing changed", async () => {
    lc.restore(empty);
    lc.api.injectFault({ operation: "getProfile", kind: "401" });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(r.preview?.ok).toBe(false);
    expect(r.errors.join("\n")).toMatch(/rejected the API token/);
    expect(lc.calls().map((c) => c.operation)).toEqual(["getProfile"]);
    expect(lc.builds()).toEqual([]);
  });

  it("preview and up refuse a stack the CLI refuses, in its words; destroy only applies defaults", async () => {
    lc.restore(empty);
    lc.config.healthTimeoutSeconds = "3s";
    const message =
      "validating stack config: Stack 'staging' with configuration" +
      " key 'healthTimeoutSeconds' must be of type 'integer'";
    for (const run of [() => lc.preview(), () => lc.up()]) {
      const r = await run();
      expect(r.errors).toEqual([message]);
      expect(r.preview).toBeUndefined();
    }
    const d = await lc.destroy();
    expect(d.errors).toEqual([]);
    expect(lc.calls()).toEqual([]);
  });

  it("docker.Image: an edit rebuilds and re-pushes; ignored files, a new password, a preview do not", async () => {
    lc.restore(empty);
    const program = { programEntry: path.join(__dirname, "fixtures", "docker-program", "index.cjs") };
    lc.config.fixtureContext = lc.appDir;
    lc.config.fixtureImageName = `${lc.registryHost}/communityrule/fixture:1.0.0`;
    try {
      fs.writeFileSync(path.join(lc.appDir, ".dockerignore"), "notes/\n*.log\n");
      fs.writeFileSync(path.join(lc.appDir, "server.js"), "console.log('v1');\n");
      expect((await lc.run("up", program)).errors).toEqual([]);
      const image = (r: { steps: Array<{ name: string; type: string; op: string }> }) =>
        r.steps.find((s) => s.type === "docker:index/image:Image")?.op;
      const built = lc.builds().length;
      expect(built).toBe(1);

      fs.mkdirSync(path.join(lc.appDir, "notes"), { recursive: true });
      fs.writeFileSync(path.join(lc.appDir, "notes", "todo.md"), "later\n");
      fs.writeFileSync(path.join(lc.appDir, "debug.log"), "noise\n");
      expect(image(await lc.run("up", program))).toBe("same");

      const password = lc.secrets.registryPassword;
      lc.secrets.registryPassword = "fake-rotated-pw-xyz";
      const rotated = await lc.run("up", program);
      lc.secrets.registryPassword = password;
      expect(rotated.errors).toEqual([]);
      expect(image(rotated)).toBe("same");
      expect(lc.builds().length).toBe(built);

      fs.writeFileSync(path.join(lc.appDir, "server.js"), "console.log('v2');\n");
      expect(image(await lc.run("preview", program))).toBe("update");
      expect(lc.builds().length).toBe(built);
      const edited = await lc.run("up", program);
      expect(edited.errors).toEqual([]);
      expect(image(edited)).toBe("update");
      const builds = lc.builds();
      expect(builds.length).toBe(built + 1);
      expect(builds.at(-1)!.imageName).toBe(builds.at(-2)!.imageName);
      expect(builds.at(-1)!.digest).not.toBe(builds.at(-2)!.digest);
    } finally {
      delete lc.config.fixtureContext;
      delete lc.config.fixtureImageName;
    }
  });

  it("a renamed component with an alias keeps its resources: no delete, no create", async () => {
    lc.restore(empty);
    const program = path.join(__dirname, "fixtures", "alias-program", "index.cjs");
    const log = path.join(lc.dir, "alias-deletes.log");
    lc.extraEnv.ALIAS_FIXTURE_LOG = log;
    try {
      const first = await lc.run("up", { programEntry: program });
      expect(first.errors).toEqual([]);
      lc.config.fixtureName = "second";
      const renamed = await lc.run("up", { programEntry: program });
      expect(renamed.errors).toEqual([]);
      expect(renamed.steps.map((s) => `${s.name} ${s.op}`)).toEqual(["second-made same"]);
      expect(renamed.steps[0].alias).toMatch(/::communityrule:test:Thing\$command:local:Command::first-made$/);
      expect(fs.existsSync(log)).toBe(false);
      expect(
        lc
          .pulumiState()
          .resources.filter((r) => r.type !== "pulumi:pulumi:Stack")
          .map((r) => r.name)
          .sort(),
      ).toEqual(["second", "second-made"]);
      // Without the alias the same rename is a create and a delete.
      lc.config.fixtureName = "third";
      lc.config.fixtureAlias = false;
      const unaliased = await lc.run("up", { programEntry: program });
      expect(unaliased.steps.map((s) => `${s.name} ${s.op}`)).toEqual([
        "third-made create",
        "second-made delete",
        "second delete",
      ]);
      expect(fs.readFileSync(log, "utf8")).toBe("deleted made\n");
    } finally {
      delete lc.config.fixtureName;
      delete lc.config.fixtureAlias;
      delete lc.extraEnv.ALIAS_FIXTURE_LOG;
    }
  });
});

// Also the operator-login path as such (no cloudronToken in the stack): the install runs on the
// login's token alone, the shell's being refused by the stand-in.
describe("the Cloudron token comes from the stack or `cloudron login`, never the operator's shell", () => {
  let lc: Lifecycle;
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging", useToken: false });
  });
  afterAll(async () => lc?.close());

  it("with no cloudronToken and CLOUDRON_TOKEN exported, every step and the seed use the login's token", async () => {
    // The stand-in knows only the login's token: any call made with the shell's would answer 401.
    lc.extraEnv.CLOUDRON_TOKEN = SHELL_TOKEN;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(lc.calls().filter((c) => c.status === 401)).toEqual([]);
    expect(lc.calls().every((c) => c.authenticated)).toBe(true);
    expect(lc.mutatingCallsSince(0).map((c) => c.operation)).toEqual(["installApp", "setAppTags", "standinExec"]);
    expect(lc.seedRuns()).toBe(1);
    const destroyed = await lc.destroy();
    expect(destroyed.errors).toEqual([]);
    expect(lc.calls().filter((c) => c.status === 401)).toEqual([]);
    expect(lc.app()).toBeUndefined();
  });
});
