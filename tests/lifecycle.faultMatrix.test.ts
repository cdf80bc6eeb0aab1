/**
 * Fault-injection matrix (issues 6 and 9): one failure at each mutating step, then the fault clears.
 * Each row asserts that the `up` fails naming the step, that the error says what was (not) applied,
 * and that the next `up` converges: one install ever, the seed exactly once, the same SESSION_SECRET.
 */
import { describe, expect, it } from "vitest";
import { Lifecycle } from "../lifecycle/runner";

async function withLifecycle(fn: (lc: Lifecycle) => Promise<void>, opts: Parameters<typeof Lifecycle.create>[0] = {}) {
  const lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9", ...opts });
  try {
    await fn(lc);
  } finally {
    await lc.close();
  }
}

const installs = (lc: Lifecycle) => lc.calls().filter((c) => c.sub === "install" && c.exit === 0).length;

describe("fault matrix", () => {
  it("push fails → nothing reaches Cloudron; next up converges", () =>
    withLifecycle(async (lc) => {
      lc.failBuild = "registry answered 500 Internal Server Error";
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.errors.join("\n")).toMatch(/image [\s\S]*docker build\/push [\s\S]* failed: registry answered 500/);
      expect(lc.mutatingCallsSince(0)).toEqual([]);
      lc.failBuild = undefined;
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(installs(lc)).toBe(1);
      expect(lc.seedRuns()).toBe(1);
    }));

  it("install exits non-zero → up fails naming install; next up installs exactly once", () =>
    withLifecycle(async (lc) => {
      lc.mutateStandin((s) => s.faults.push({ match: "install", exit: 1, stderr: "Image pull failed: manifest unknown", times: 1 }));
      const r = await lc.up();
      expect(r.ok).toBe(false);
      const err = r.errors.join("\n");
      expect(err).toContain("install:");
      expect(err).toContain("Image pull failed");
      expect(err).toMatch(/likely cause: image pull error/);
      expect(lc.app()).toBeUndefined();
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(installs(lc)).toBe(1);
      expect(lc.seedRuns()).toBe(1);
    }));

  it("install hangs past the bound → the step is stopped and named; next up installs once", () =>
    withLifecycle(
      async (lc) => {
        lc.mutateStandin((s) => s.faults.push({ match: "install", hangSeconds: 20, times: 1 }));
        const r = await lc.up();
        expect(r.ok).toBe(false);
        expect(r.errors.join("\n")).toMatch(/app-deploy [\s\S]*did not finish within/);
        const again = await lc.up();
        expect(again.errors).toEqual([]);
        expect(installs(lc)).toBe(1);
      },
      { commandTimeoutMs: 8000 },
    ));

  it("env set fails after install → up fails naming env, app installed; next up applies env once, no second install", () =>
    withLifecycle(async (lc) => {
      lc.mutateStandin((s) => s.faults.push({ match: "env set", exit: 1, stderr: "Request failed with status 500", times: 1 }));
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.errors.join("\n")).toMatch(/app-env-apply [\s\S]*env: `cloudron env set` exited 1/);
      expect(lc.app()).toBeDefined();
      expect(lc.app()!.env).toEqual({});
      expect(lc.seedRuns()).toBe(0);
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(installs(lc)).toBe(1);
      expect(lc.app()!.env.UPLOAD_ROOT).toBe("/app/data/uploads");
      expect(lc.seedRuns()).toBe(1);
    }));

  it("update fails on a release → app stays on the old version; next up updates, same session secret, no reseed", () =>
    withLifecycle(async (lc) => {
      expect((await lc.up()).errors).toEqual([]);
      const secret = lc.app()!.env.SESSION_SECRET;
      lc.setManifestVersion("0.1.10");
      lc.mutateStandin((s) => s.faults.push({ match: "update", exit: 1, stderr: "Backup failed: storage full", times: 1 }));
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.errors.join("\n")).toContain("update:");
      expect(lc.app()!.manifest.version).toBe("0.1.9");
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(lc.app()!.manifest.version).toBe("0.1.10");
      expect(lc.app()!.env.SESSION_SECRET).toBe(secret);
      expect(installs(lc)).toBe(1);
      expect(lc.seedRuns()).toBe(1);
    }));

  it("a silently ignored update (Cloudron says ok, app unchanged) fails loudly", () =>
    withLifecycle(async (lc) => {
      expect((await lc.up()).errors).toEqual([]);
      lc.setManifestVersion("0.1.10");
      lc.mutateStandin((s) => (s.ignoreUpdates = true));
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.errors.join("\n")).toMatch(/reported success but staging\.communityrule\.info runs .*silently ignored/);
      lc.mutateStandin((s) => (s.ignoreUpdates = false));
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(lc.app()!.manifest.version).toBe("0.1.10");
    }));

  it("seed fails → its own output is shown, nothing recorded; next up seeds once", () =>
    withLifecycle(async (lc) => {
      // The app is installed first, then the seed script is made to fail (as a bad migration would).
      lc.config.smoke = false;
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      // Re-seed with a failing seed script.
      lc.mutateStandin((s) => (s.apps[0].env.SEED_SHOULD_FAIL = "1"));
      lc.config.seedRun = "2";
      const failed = await lc.up();
      expect(failed.ok).toBe(false);
      const err = failed.errors.join("\n");
      expect(err).toContain("seed: node prisma/seed.bundle.cjs exited 1");
      expect(err).toContain('relation "MethodFacet" does not exist');
      expect(lc.seedRuns()).toBe(1);
      lc.mutateStandin((s) => delete s.apps[0].env.SEED_SHOULD_FAIL);
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(lc.seedRuns()).toBe(2);
      const fourth = await lc.up();
      expect(fourth.errors).toEqual([]);
      expect(lc.seedRuns()).toBe(2);
    }));

  it("health 503 after a staging release → up fails naming health with the runbook cause; next up passes without a second update", () =>
    withLifecycle(async (lc) => {
      expect((await lc.up()).errors).toEqual([]);
      lc.setManifestVersion("0.1.10");
      lc.mutateStandin((s) => (s.unhealthyImages = ["@sha256:"]));
      const r = await lc.up();
      expect(r.ok).toBe(false);
      const err = r.errors.join("\n");
      expect(err).toMatch(/health [\s\S]*failed/);
      expect(err).toMatch(/postgresql addon|CLOUDRON_POSTGRESQL_URL/);
      const updatesBefore = lc.calls().filter((c) => c.sub === "update").length;
      lc.mutateStandin((s) => (s.unhealthyImages = []));
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(lc.calls().filter((c) => c.sub === "update").length).toBe(updatesBefore);
      expect(lc.seedRuns()).toBe(1);
    }));

  it("smoke fails (templates empty) → up fails naming smoke; the seed is not re-run by itself", () =>
    withLifecycle(async (lc) => {
      lc.config.smoke = false;
      expect((await lc.up()).errors).toEqual([]);
      // Someone wiped the data: templates come back empty.
      const fs = await import("node:fs");
      const path = await import("node:path");
      fs.rmSync(path.join(lc.dir, "containers", lc.app()!.id, "seeded.json"));
      lc.config.smoke = true;
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.errors.join("\n")).toMatch(/smoke [\s\S]*FAIL templates/);
      expect(r.errors.join("\n")).toContain("seed");
    }));
});
