/**
 * Every config wait and timeout is honoured by every step: cloudronTimeoutSeconds bounds
 * the install, update, env, seed and uninstall steps; busyWaitSeconds bounds the wait for a busy app
 * in the update, env, seed and uninstall steps; healthTimeoutSeconds bounds the health gate. One
 * environment is deployed once with short bounds (set from the start: a delete runs with the inputs
 * of the last `up`, as in Pulumi) and every case starts from that saved point: it makes the stand-in
 * slower than a bound and checks that the step failed after the bound (not before; and long before
 * the production defaults of 600 s / 1800 s), naming what it waited for.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RunResult, StepRecord } from "../engine/host";
import { Lifecycle, type LifecycleSnapshot } from "../engine/runner";

const SLACK_MS = 10_000; // tool process start-up, polling interval, a loaded 2-core machine

function failedStep(r: RunResult): StepRecord {
  expect(r.ok).toBe(false);
  const step = r.steps.find((s) => s.error);
  expect(step, r.errors.join("\n")).toBeDefined();
  return step!;
}

function expectBounded(step: StepRecord, boundSeconds: number) {
  expect(step.durationMs).toBeGreaterThanOrEqual(boundSeconds * 1000 - 100);
  expect(step.durationMs).toBeLessThan(boundSeconds * 1000 + SLACK_MS);
}

// The bounds every case runs under (cloudronTimeoutSeconds stays above what a healthy task takes on
// a loaded machine; the others only bound waits that the cases make fail).
const CLOUDRON_TIMEOUT = 2;
const BUSY_WAIT = 1;
const HEALTH_TIMEOUT = 1;

let lc: Lifecycle;
let empty: LifecycleSnapshot;
let installed: LifecycleSnapshot;
beforeAll(async () => {
  lc = await Lifecycle.create({
    stack: "staging",
    manifestVersion: "0.1.9",
    config: {
      smoke: false,
      cloudronTimeoutSeconds: CLOUDRON_TIMEOUT,
      busyWaitSeconds: BUSY_WAIT,
      healthTimeoutSeconds: HEALTH_TIMEOUT,
    },
  });
  empty = lc.save();
  expect((await lc.up()).errors).toEqual([]);
  installed = lc.save();
});
afterAll(async () => lc?.close());
beforeEach(() => lc.restore(installed));

describe("cloudronTimeoutSeconds bounds every step's task wait", () => {
  it("install", async () => {
    lc.restore(empty);
    lc.mutateStandin((s) => (s.taskMs = 60_000));
    const r = await lc.up();
    const step = failedStep(r);
    expect(step.name).toBe("app-deploy");
    expectBounded(step, CLOUDRON_TIMEOUT);
    expect(r.errors.join("\n")).toMatch(/2 ?s|2 seconds|cloudronTimeoutSeconds/);
  });

  it("update", async () => {
    lc.mutateStandin((s) => (s.taskMs = 60_000));
    lc.setManifestVersion("0.1.10");
    const step = failedStep(await lc.up());
    expect(step.name).toBe("app-deploy");
    expectBounded(step, CLOUDRON_TIMEOUT);
  });

  it("env", async () => {
    lc.mutateStandin((s) => (s.taskMs = 60_000));
    lc.config.env = { ...(lc.config.env as Record<string, string>), SLOW: "1" };
    const step = failedStep(await lc.up());
    expect(step.name).toMatch(/env/);
    expectBounded(step, CLOUDRON_TIMEOUT);
  });

  it("seed (exec that never answers)", async () => {
    lc.config.seedRun = "2";
    lc.api.injectFault({ operation: "standinExec", kind: "hang", hangMs: 9000 });
    const step = failedStep(await lc.up());
    expect(step.name).toMatch(/seed/);
    expectBounded(step, CLOUDRON_TIMEOUT);
  });

  it("uninstall (destroy)", async () => {
    lc.mutateStandin((s) => (s.taskMs = 60_000));
    const r = await lc.destroy();
    const step = failedStep(r);
    expect(step.op).toBe("delete");
    expectBounded(step, CLOUDRON_TIMEOUT);
  });
});

describe("busyWaitSeconds bounds the wait for a busy app in every step", () => {
  const busy = (lc: Lifecycle) => lc.api.makeBusy("staging.communityrule.info", 60_000);

  it("update", async () => {
    lc.setManifestVersion("0.1.10");
    const taskId = busy(lc);
    const r = await lc.up();
    const step = failedStep(r);
    expect(step.name).toBe("app-deploy");
    expectBounded(step, BUSY_WAIT);
    expect(r.errors.join("\n")).toContain(`task ${taskId}`);
  });

  it("env (the app turns busy as the env call arrives)", async () => {
    lc.config.env = { ...(lc.config.env as Record<string, string>), WHILE_BUSY: "1" };
    lc.api.injectFault({ operation: "setAppEnv", kind: "409", busyMs: 60_000 });
    const r = await lc.up();
    const step = failedStep(r);
    expect(step.name).toMatch(/env/);
    expectBounded(step, BUSY_WAIT);
    const taskId = lc
      .standin()
      .tasks.filter((t) => t.kind === "backup")
      .at(-1)!.id;
    expect(r.errors.join("\n")).toContain(`task ${taskId}`);
  });

  it("seed", async () => {
    lc.config.seedRun = "2";
    const taskId = busy(lc);
    const r = await lc.up();
    const step = failedStep(r);
    expect(step.name).toMatch(/seed/);
    expectBounded(step, BUSY_WAIT);
    expect(r.errors.join("\n")).toContain(`task ${taskId}`);
    expect(lc.seedRuns()).toBe(1);
  });

  it("uninstall (destroy)", async () => {
    const taskId = busy(lc);
    const r = await lc.destroy();
    const step = failedStep(r);
    expect(step.op).toBe("delete");
    expectBounded(step, BUSY_WAIT);
    expect(r.errors.join("\n")).toContain(`task ${taskId}`);
    expect(lc.app()).toBeDefined();
  });

  it("a busy spell shorter than busyWaitSeconds is waited out (update goes through)", async () => {
    lc.config.busyWaitSeconds = 4;
    lc.setManifestVersion("0.1.10");
    const taskId = lc.api.makeBusy("staging.communityrule.info", 1500);
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(lc.app()!.manifest.version).toBe("0.1.10");
    // It did wait: the update went out only once the busy task's time was up.
    const busyTask = lc.standin().tasks.find((t) => t.id === taskId)!;
    const update = lc.calls().find((c) => c.operation === "updateApp" && c.status === 202)!;
    expect(update.time).toBeGreaterThanOrEqual(busyTask.finishAt);
  });
});

describe("healthTimeoutSeconds bounds the health gate", () => {
  it("an unhealthy release fails the gate after the configured time", async () => {
    lc.setManifestVersion("0.1.10");
    lc.mutateStandin((s) => (s.unhealthyImages = ["@sha256:"]));
    const step = failedStep(await lc.up());
    expect(step.name).toMatch(/health/);
    expectBounded(step, HEALTH_TIMEOUT);
  });
});
