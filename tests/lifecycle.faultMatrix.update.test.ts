/**
 * Fault-injection matrix (see lifecycle.faultMatrix.test.ts), update faults on one installed app,
 * played in sequence (env faults are in lifecycle.faultMatrix.env.test.ts, so the two run in
 * parallel workers). Through the lifecycle runner against the Cloudron API stand-in: one fault at one
 * operation, then the fault clears. Each row asserts that
 * the `up` fails naming the step and what went wrong, that nothing was re-sent
 * blindly, and that the next `up` converges: one install ever, the seed exactly once, the same
 * SESSION_SECRET. Time is an input: stand-in tasks take ~150 ms, hangs and busy spells well under a
 * second (or just over the 1 s busy bound they prove), and the test waits on the stand-in rather
 * than sleeping, so the matrix runs without waiting out any real timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle, type ApiCall } from "../engine/runner";
import type { RunResult } from "../engine/host";

const accepted = (lc: Lifecycle, operation: string) =>
  lc.calls().filter((c) => c.operation === operation && c.status >= 200 && c.status < 300).length;
const sent = (calls: ApiCall[], operation: string) => calls.filter((c) => c.operation === operation);
const errorsOf = (r: RunResult) => r.errors.join("\n");

describe("fault matrix: update on an installed app", () => {
  let lc: Lifecycle;
  let secret = "";
  let minor = 9;
  const release = () => lc.setManifestVersion(`0.1.${++minor}`);
  /** The up after a fault cleared: it must succeed and leave the app as configured. */
  const converges = async () => {
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(lc.app()!.manifest.version).toBe(`0.1.${minor}`);
    for (const [k, v] of Object.entries(lc.config.env as Record<string, string>)) expect(lc.app()!.env[k], k).toBe(v);
    expect(lc.app()!.env.SESSION_SECRET).toBe(secret);
    expect(accepted(lc, "installApp")).toBe(1);
    expect(lc.seedRuns()).toBe(1);
  };

  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9", config: { smoke: false } });
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    secret = lc.app()!.env.SESSION_SECRET;
  });
  afterAll(async () => lc?.close());

  it("409 busy shorter than busyWaitSeconds → the update waits for the app, then goes through once", async () => {
    release();
    // A spell well inside busyWaitSeconds (5 s): one poll interval or two.
    lc.api.injectFault({ operation: "updateApp", kind: "409", busyMs: 400 });
    const before = lc.calls().length;
    const tasksBefore = lc.standin().tasks.length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    // A 409 is "not applied": re-sending after it is safe; exactly one POST is accepted.
    const updates = sent(lc.callsSince(before), "updateApp");
    const statuses = updates.map((c) => c.status);
    expect(statuses.at(-1)).toBe(202);
    expect(statuses.slice(0, -1).length).toBeGreaterThanOrEqual(1);
    expect(statuses.slice(0, -1).every((s) => s === 409)).toBe(true);
    // It did wait: the accepted POST went out only once the busy task's time was up.
    const busyTask = lc
      .standin()
      .tasks.slice(tasksBefore)
      .find((t) => t.kind === "backup")!;
    expect(updates.at(-1)!.time).toBeGreaterThanOrEqual(busyTask.finishAt);
    expect(lc.app()!.manifest.version).toBe(`0.1.${minor}`);
  });

  it("409 busy longer than busyWaitSeconds → up fails naming the running task; next up updates", async () => {
    release();
    // busyWaitSeconds at its 1 s minimum; the spell outlasts it by a second (slack for a loaded machine).
    lc.config.busyWaitSeconds = 1;
    lc.api.injectFault({ operation: "updateApp", kind: "409", busyMs: 2000 });
    const r = await lc.up();
    lc.config.busyWaitSeconds = 5;
    expect(r.ok).toBe(false);
    const busyTask = lc
      .standin()
      .tasks.filter((t) => t.kind === "backup")
      .at(-1)!;
    expect(errorsOf(r)).toMatch(/busy/i);
    expect(errorsOf(r)).toContain(`task ${busyTask.id}`);
    await lc.waitUntilNoTask();
    await converges();
  });

  it(
    "500 on the update POST → not re-sent blindly: one" + " POST, the up fails naming the status; next up updates",
    async () => {
      release();
      lc.api.injectFault({ operation: "updateApp", kind: "500", message: "Internal error" });
      const before = lc.calls().length;
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(errorsOf(r)).toMatch(/500/);
      expect(sent(lc.callsSince(before), "updateApp")).toHaveLength(1);
      expect(lc.app()!.manifest.version).toBe(`0.1.${minor - 1}`);
      await converges();
    },
  );

  it(
    "update POST hangs and the connection drops, nothing" +
      " applied → not re-sent: one POST, up fails; next up updates",
    async () => {
      release();
      lc.api.injectFault({ operation: "updateApp", kind: "hang", hangMs: 300 });
      const before = lc.calls().length;
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(errorsOf(r)).toMatch(/not re-sent/i);
      expect(sent(lc.callsSince(before), "updateApp")).toHaveLength(1);
      expect(lc.app()!.manifest.version).toBe(`0.1.${minor - 1}`);
      await converges();
    },
  );

  it("500 and a dropped connection on reads (GET /apps/:id) are retried; the release goes through", async () => {
    release();
    lc.api.injectFault({ operation: "getApp", kind: "500", times: 1 });
    lc.api.injectFault({ operation: "getApp", kind: "hang", hangMs: 200, times: 1 });
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    const faulted = lc
      .callsSince(before)
      .filter((c) => c.fault)
      .map((c) => [c.operation, c.fault]);
    expect(faulted).toEqual([
      ["getApp", "500"],
      ["getApp", "hang"],
    ]);
    expect(sent(lc.callsSince(before), "updateApp")).toHaveLength(1);
    expect(lc.app()!.manifest.version).toBe(`0.1.${minor}`);
  });

  it(
    "update task fails → the task's error is shown; the app stays" +
      " on the old version until repaired, then the next up updates",
    async () => {
      release();
      lc.api.injectFault({ operation: "updateApp", kind: "taskFails", message: "Backup failed: storage full" });
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(errorsOf(r)).toContain("Backup failed: storage full");
      expect(lc.app()!.manifest.version).toBe(`0.1.${minor - 1}`);
      // Repair in the dashboard (Cloudron's "Repair" on an app in error state).
      lc.mutateStandin((s) => Object.assign(s.apps[0], { installationState: "installed", error: null }));
      await converges();
    },
  );

  it("update task succeeds without applying → read-back fails naming the version; next up updates", async () => {
    release();
    lc.api.injectFault({ operation: "updateApp", kind: "taskNoop" });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    const err = errorsOf(r);
    expect(err).toContain(`0.1.${minor}`);
    expect(err).toContain(`0.1.${minor - 1}`);
    await converges();
  });
});
