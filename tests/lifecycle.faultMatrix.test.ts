/**
 * Fault-injection matrix, through the lifecycle runner against the
 * Cloudron API stand-in: one fault at one operation, then the fault clears. Each row asserts that
 * the `up` fails naming the step and what went wrong (a key, never a value), that nothing was re-sent
 * blindly, and that the next `up` converges: one install ever, the seed exactly once, the same
 * SESSION_SECRET. Time is an input: stand-in tasks take ~150 ms and hangs a fraction of a second,
 * so the matrix runs without waiting out any real timeout. This file holds the install faults, every
 * row from the saved empty point of one environment; the other faults are in the files beside it:
 * seed, health and smoke in lifecycle.faultMatrix.steps.test.ts, update and env faults in
 * lifecycle.faultMatrix.app.test.ts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Lifecycle, type ApiCall, type LifecycleSnapshot } from "../engine/runner";
import type { RunResult } from "../engine/host";

// One environment for the file; every row starts from its saved point with nothing deployed.
// `calls()` and `builds()` count from that point; `seedRuns()` is the app's own counter, restored
// with the server.
let lc: Lifecycle;
let empty: LifecycleSnapshot;
beforeAll(async () => {
  // Smoke checks are off: each one is a tool process, i.e. time.
  lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9", config: { smoke: false } });
  empty = lc.save();
});
afterAll(async () => lc?.close());

const accepted = (lc: Lifecycle, operation: string) =>
  lc.calls().filter((c) => c.operation === operation && c.status >= 200 && c.status < 300).length;
const sent = (calls: ApiCall[], operation: string) => calls.filter((c) => c.operation === operation);
const errorsOf = (r: RunResult) => r.errors.join("\n");
const logOf = (r: RunResult) => (r as RunResult & { log: string }).log;

describe("fault matrix: install", () => {
  beforeEach(() => lc.restore(empty));

  it("push fails → nothing reaches Cloudron; next up converges", async () => {
    lc.failBuild = "registry answered 500 Internal Server Error";
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toMatch(/image [\s\S]*docker build\/push [\s\S]* failed: registry answered 500/);
    expect(lc.mutatingCallsSince(0)).toEqual([]);
    lc.failBuild = undefined;
    const again = await lc.up();
    expect(again.errors).toEqual([]);
    expect(accepted(lc, "installApp")).toBe(1);
    expect(lc.seedRuns()).toBe(1);
  });

  it("401 on install → up fails naming the token and how to make one; next up installs once", async () => {
    lc.api.injectFault({ operation: "installApp", kind: "401" });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    const err = errorsOf(r);
    expect(err).toMatch(/401/);
    expect(err).toMatch(/token/i);
    expect(err).toMatch(/API Tokens/);
    expect(lc.app()).toBeUndefined();
    const again = await lc.up();
    expect(again.errors).toEqual([]);
    expect(accepted(lc, "installApp")).toBe(1);
  });

  it("403 on install → up fails naming the role needed", async () => {
    lc.api.injectFault({ operation: "installApp", kind: "403", message: "Not allowed for this role" });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    const err = errorsOf(r);
    expect(err).toMatch(/403/);
    expect(err).toMatch(/owner|admin/i);
    expect(lc.app()).toBeUndefined();
  });

  it(
    "install answer lost (connection dropped after the server" +
      " accepted it) → not re-sent; the up waits for the task it finds",
    async () => {
      lc.api.injectFault({ operation: "installApp", kind: "hang", hangMs: 300, applied: true });
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      expect(sent(lc.calls(), "installApp")).toHaveLength(1);
      expect(lc.app()!.installationState).toBe("installed");
      expect(lc.seedRuns()).toBe(1);
    },
  );

  it(
    "install task fails → up fails with the task's error; after" +
      " the operator removes the failed app, the next up installs",
    async () => {
      lc.api.injectFault({
        operation: "installApp",
        kind: "taskFails",
        message: "Image pull failed: manifest unknown",
      });
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(errorsOf(r)).toContain("Image pull failed: manifest unknown");
      expect(lc.app()).toMatchObject({ installationState: "error", error: "Image pull failed: manifest unknown" });
      expect(lc.seedRuns()).toBe(0);
      // What the runbook says to do: uninstall the failed app in the dashboard.
      lc.mutateStandin((s) => (s.apps = []));
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(accepted(lc, "installApp")).toBe(2);
      expect(lc.app()!.installationState).toBe("installed");
      expect(lc.seedRuns()).toBe(1);
    },
  );

  it(
    "install stores a different SESSION_SECRET than sent → up fails" +
      " naming the key, never the value; the next up corrects it",
    async () => {
      lc.api.injectFault({ operation: "installApp", kind: "envValueDiffers", key: "SESSION_SECRET" });
      const r = await lc.up();
      expect(r.ok).toBe(false);
      const err = errorsOf(r);
      expect(err).toContain("SESSION_SECRET");
      const asked = (sent(lc.calls(), "installApp")[0].requestBody as { env: Record<string, string> }).env
        .SESSION_SECRET;
      expect(`${err}\n${logOf(r)}`).not.toContain(asked);
      expect(lc.app()!.env.SESSION_SECRET).toBe(`${asked}-altered`);
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(accepted(lc, "installApp")).toBe(1);
      expect(lc.app()!.env.SESSION_SECRET).toMatch(/^[A-Za-z0-9]{48}$/);
    },
  );

  it("install drops a key → up fails naming the key", async () => {
    lc.api.injectFault({ operation: "installApp", kind: "envDropKey", key: "UPLOAD_ROOT" });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toContain("UPLOAD_ROOT");
    expect(errorsOf(r)).not.toContain("/app/data/uploads");
    const again = await lc.up();
    expect(again.errors).toEqual([]);
    expect(lc.app()!.env.UPLOAD_ROOT).toBe("/app/data/uploads");
    expect(accepted(lc, "installApp")).toBe(1);
  });
});
