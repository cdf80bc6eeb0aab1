/**
 * Every config wait and timeout is honoured by every step (issue 12): cloudronTimeoutSeconds bounds
 * the install, update, env, seed and uninstall steps; busyWaitSeconds bounds the wait for a busy app
 * in the update, env, seed and uninstall steps; healthTimeoutSeconds bounds the health gate. Each
 * case deploys with a short bound (set from the start: a delete runs with the inputs of the last
 * `up`, as in Pulumi), makes the stand-in slower than it, and checks that the step failed after the
 * bound (not before; and long before the production defaults of 600 s / 1800 s), naming what it
 * waited for.
 */
import { describe, expect, it } from "vitest";
import type { RunResult, StepRecord } from "../lifecycle/host";
import { Lifecycle } from "../lifecycle/runner";

const SLACK_MS = 10_000; // tool process start-up (ts-node), polling interval, a loaded 2-core machine

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

async function withInstalled(fn: (lc: Lifecycle) => Promise<void>, config: Record<string, unknown> = {}) {
  const lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9", config: { smoke: false, ...config } });
  try {
    expect((await lc.up()).errors).toEqual([]);
    await fn(lc);
  } finally {
    await lc.close();
  }
}

describe("cloudronTimeoutSeconds bounds every step's task wait", () => {
  it("install", async () => {
    const lc = await Lifecycle.create({ stack: "staging", config: { smoke: false, cloudronTimeoutSeconds: 2 } });
    try {
      lc.mutateStandin((s) => (s.taskMs = 60_000));
      const r = await lc.up();
      const step = failedStep(r);
      expect(step.name).toBe("app-deploy");
      expectBounded(step, 2);
      expect(r.errors.join("\n")).toMatch(/2 ?s|2 seconds|cloudronTimeoutSeconds/);
    } finally {
      await lc.close();
    }
  });

  it("update", () =>
    withInstalled(async (lc) => {
      lc.mutateStandin((s) => (s.taskMs = 60_000));
      lc.setManifestVersion("0.1.10");
      const step = failedStep(await lc.up());
      expect(step.name).toBe("app-deploy");
      expectBounded(step, 2);
    }, { cloudronTimeoutSeconds: 2 }));

  it("env", () =>
    withInstalled(async (lc) => {
      lc.mutateStandin((s) => (s.taskMs = 60_000));
      lc.config.env = { ...(lc.config.env as Record<string, string>), SLOW: "1" };
      const step = failedStep(await lc.up());
      expect(step.name).toMatch(/env/);
      expectBounded(step, 2);
    }, { cloudronTimeoutSeconds: 2 }));

  it("seed (exec that never answers)", () =>
    withInstalled(async (lc) => {
      lc.config.seedRun = "2";
      lc.api.injectFault({ operation: "standinExec", kind: "hang", hangMs: 9000 });
      const step = failedStep(await lc.up());
      expect(step.name).toMatch(/seed/);
      expectBounded(step, 2);
    }, { cloudronTimeoutSeconds: 2 }));

  it("uninstall (destroy)", () =>
    withInstalled(async (lc) => {
      lc.mutateStandin((s) => (s.taskMs = 60_000));
      const r = await lc.destroy();
      const step = failedStep(r);
      expect(step.op).toBe("delete");
      expectBounded(step, 2);
    }, { cloudronTimeoutSeconds: 2 }));
});

describe("busyWaitSeconds bounds the wait for a busy app in every step", () => {
  const busy = (lc: Lifecycle) => lc.api.makeBusy("staging.communityrule.info", 60_000);
  const BUSY = { busyWaitSeconds: 2 };

  it("update", () =>
    withInstalled(async (lc) => {
      lc.setManifestVersion("0.1.10");
      const taskId = busy(lc);
      const r = await lc.up();
      const step = failedStep(r);
      expect(step.name).toBe("app-deploy");
      expectBounded(step, 2);
      expect(r.errors.join("\n")).toContain(`task ${taskId}`);
    }, BUSY));

  it("env (the app turns busy as the env call arrives)", () =>
    withInstalled(async (lc) => {
      lc.config.env = { ...(lc.config.env as Record<string, string>), WHILE_BUSY: "1" };
      lc.api.injectFault({ operation: "setAppEnv", kind: "409", busyMs: 60_000 });
      const r = await lc.up();
      const step = failedStep(r);
      expect(step.name).toMatch(/env/);
      expectBounded(step, 2);
      const taskId = lc.standin().tasks.filter((t) => t.kind === "backup").at(-1)!.id;
      expect(r.errors.join("\n")).toContain(`task ${taskId}`);
    }, BUSY));

  it("seed", () =>
    withInstalled(async (lc) => {
      lc.config.seedRun = "2";
      const taskId = busy(lc);
      const r = await lc.up();
      const step = failedStep(r);
      expect(step.name).toMatch(/seed/);
      expectBounded(step, 2);
      expect(r.errors.join("\n")).toContain(`task ${taskId}`);
      expect(lc.seedRuns()).toBe(1);
    }, BUSY));

  it("uninstall (destroy)", () =>
    withInstalled(async (lc) => {
      const taskId = busy(lc);
      const r = await lc.destroy();
      const step = failedStep(r);
      expect(step.op).toBe("delete");
      expectBounded(step, 2);
      expect(r.errors.join("\n")).toContain(`task ${taskId}`);
      expect(lc.app()).toBeDefined();
    }, BUSY));

  it("a busy spell shorter than busyWaitSeconds is waited out (update goes through)", () =>
    withInstalled(async (lc) => {
      lc.setManifestVersion("0.1.10");
      lc.api.makeBusy("staging.communityrule.info", 3500);
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      expect(lc.app()!.manifest.version).toBe("0.1.10");
    }, { busyWaitSeconds: 8 }));
});

describe("healthTimeoutSeconds bounds the health gate", () => {
  it("an unhealthy release fails the gate after the configured time", () =>
    withInstalled(async (lc) => {
      lc.setManifestVersion("0.1.10");
      lc.mutateStandin((s) => (s.unhealthyImages = ["@sha256:"]));
      const step = failedStep(await lc.up());
      expect(step.name).toMatch(/health/);
      expectBounded(step, 3);
    }, { healthTimeoutSeconds: 3 }));
});
