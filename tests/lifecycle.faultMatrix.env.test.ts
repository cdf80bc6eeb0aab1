/**
 * Fault-injection matrix (see lifecycle.faultMatrix.test.ts), env faults on one installed app,
 * played in sequence (update faults are in lifecycle.faultMatrix.update.test.ts, so the two run in
 * parallel workers). Through the lifecycle runner against the Cloudron API stand-in: one fault at
 * configure/env, then the fault clears. Each row asserts that the `up` fails naming the step and what
 * went wrong (a key, never a value), and that the next `up` converges: one install ever, the seed
 * exactly once, the same SESSION_SECRET.
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

describe("fault matrix: env on an installed app", () => {
  let lc: Lifecycle;
  let secret = "";
  const env = (patch: Record<string, string | undefined>) => {
    const next: Record<string, string> = { ...(lc.config.env as Record<string, string>) };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    lc.config.env = next;
  };
  /** The up after a fault cleared: it must succeed and leave the app as configured. */
  const converges = async () => {
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(lc.app()!.manifest.version).toBe("0.1.9");
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
      await converges();
    },
  );
});
