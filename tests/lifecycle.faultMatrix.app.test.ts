/**
 * Fault-injection matrix, second half (update and env faults on one installed app, played in
 * sequence; the install, seed, health and smoke faults are in lifecycle.faultMatrix.test.ts and
 * lifecycle.faultMatrix.steps.test.ts, which run in parallel workers).
 * Through the lifecycle runner against the Cloudron API stand-in: one fault at one operation, then
 * the fault clears. Each row asserts that
 * the `up` fails naming the step and what went wrong (a key, never a value), that nothing was re-sent
 * blindly, and that the next `up` converges: one install ever, the seed exactly once, the same
 * SESSION_SECRET. Time is an input: stand-in tasks take ~150 ms, hangs and busy spells well under a
 * second (or just over the 1 s busy bound they prove), and the test waits on the stand-in rather
 * than sleeping, so the matrix runs without waiting out any real timeout.
 */
import * as crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle, type ApiCall } from "../engine/runner";
import type { RunResult } from "../engine/host";

const accepted = (lc: Lifecycle, operation: string) =>
  lc.calls().filter((c) => c.operation === operation && c.status >= 200 && c.status < 300).length;
const sent = (calls: ApiCall[], operation: string) => calls.filter((c) => c.operation === operation);
const errorsOf = (r: RunResult) => r.errors.join("\n");
const logOf = (r: RunResult) => (r as RunResult & { log: string }).log;

describe("fault matrix: update and env on an installed app", () => {
  let lc: Lifecycle;
  let secret = "";
  let minor = 9;
  const release = () => lc.setManifestVersion(`0.1.${++minor}`);
  const env = (patch: Record<string, string | undefined>) => {
    const next: Record<string, string> = { ...(lc.config.env as Record<string, string>) };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    lc.config.env = next;
  };
  /** The app as configured: one install ever, the seed once, the same SESSION_SECRET. */
  const converged = () => {
    expect(lc.app()!.manifest.version).toBe(`0.1.${minor}`);
    for (const [k, v] of Object.entries(lc.config.env as Record<string, string>)) expect(lc.app()!.env[k], k).toBe(v);
    expect(lc.app()!.env.SESSION_SECRET).toBe(secret);
    expect(accepted(lc, "installApp")).toBe(1);
    expect(lc.seedRuns()).toBe(1);
  };
  /** The up after a fault cleared: it must succeed and leave the app as configured. */
  const converges = async () => {
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    converged();
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

  it("404 on configure/env (the app vanished) → up fails naming the status", async () => {
    env({ FAULT_404: "x" });
    lc.api.injectFault({ operation: "setAppEnv", kind: "404" });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toMatch(/404/);
    await converges();
  });

  it("401 on configure/env (token revoked mid-deploy) → up fails naming the token", async () => {
    env({ FAULT_401: "x" });
    lc.api.injectFault({ operation: "setAppEnv", kind: "401" });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toMatch(/401[\s\S]*token|token[\s\S]*401/i);
    await converges();
  });

  it(
    "configure/env stores a different value → up fails" + " naming the key, not the value; the next up corrects it",
    async () => {
      const value = `v-${crypto.randomBytes(6).toString("hex")}`;
      env({ SMTP_FROM: value });
      lc.api.injectFault({ operation: "setAppEnv", kind: "envValueDiffers", key: "SMTP_FROM" });
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(errorsOf(r)).toContain("SMTP_FROM");
      expect(`${errorsOf(r)}\n${logOf(r)}`).not.toContain(value);
      expect(lc.app()!.env.SMTP_FROM).toBe(`${value}-altered`);
      await converges();
    },
  );

  it("configure/env drops a key → up fails naming the key; the next up puts it back", async () => {
    env({ DROPPED_KEY: "dropped-value" });
    lc.api.injectFault({ operation: "setAppEnv", kind: "envDropKey", key: "DROPPED_KEY" });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toContain("DROPPED_KEY");
    expect(lc.app()!.env).not.toHaveProperty("DROPPED_KEY");
    await converges();
  });

  it("configure/env task succeeds without applying → up fails naming the key", async () => {
    env({ NOOP_KEY: "noop" });
    lc.api.injectFault({ operation: "setAppEnv", kind: "taskNoop" });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toContain("NOOP_KEY");
    await converges();
  });

  it("configure/env task fails → the task's error is shown", async () => {
    env({ FAILING_KEY: "x" });
    lc.api.injectFault({ operation: "setAppEnv", kind: "taskFails", message: "Could not restart container" });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toContain("Could not restart container");
    lc.mutateStandin((s) => Object.assign(s.apps[0], { installationState: "installed", error: null }));
    await converges();
  });

  it(
    "a dashboard edit of a managed key is corrected by the" + " next up that applies env, in the same single call",
    async () => {
      lc.mutateApp((app) => (app.env.SMTP_FROM = "Edited In Dashboard <x@example.org>"));
      env({ AFTER_DASHBOARD_EDIT: "1" });
      const before = lc.calls().length;
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      const envCalls = sent(lc.callsSince(before), "setAppEnv");
      expect(envCalls).toHaveLength(1);
      expect((envCalls[0].requestBody as { env: Record<string, string> }).env.SMTP_FROM).toBe(
        (lc.config.env as Record<string, string>).SMTP_FROM,
      );
      // No fault to clear: this up is the one that must leave the app as configured.
      converged();
    },
  );
});
