/** The restore drill against the cloudron stand-in: clone, health, smoke, uninstall, record. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle } from "./lifecycle/runner";
import { startFakeApp } from "./support/fakeApp";
import { runRestoreDrill, scratchLocation } from "../lib/restoreDrill";

describe("scratchLocation", () => {
  it("names the scratch app restore-drill-YYYYMMDD on the live app's domain", () => {
    const d = new Date("2026-11-23T10:00:00Z");
    expect(scratchLocation("staging.communityrule.info", d)).toBe("restore-drill-20261123.communityrule.info");
    expect(scratchLocation("communityrule.info", d)).toBe("restore-drill-20261123.communityrule.info");
  });
});

describe("runRestoreDrill (stand-in)", () => {
  let lc: Lifecycle;
  const saved = { ...process.env };
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging" });
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    lc.mutateStandin((s) => {
      const app = s.apps[0];
      app.backups.unshift({ id: "backup-older", dockerImage: app.manifest.dockerImage, version: app.manifest.version });
      app.backups.unshift({ id: "backup-newest", dockerImage: app.manifest.dockerImage, version: app.manifest.version });
    });
    Object.assign(process.env, lc.extraEnv);
  });
  afterAll(async () => {
    process.env = saved;
    await lc?.close();
  });

  it("clones the newest backup, checks health and smoke on the clone, then removes it", async () => {
    const date = new Date("2026-11-23T10:00:00Z");
    const scratch = scratchLocation("staging.communityrule.info", date);
    // The clone answers like the app when the stand-in lists it (seed data came with the backup).
    const clone = await startFakeApp((req) => {
      const app = lc.standin().apps.find((a) => a.fqdn === scratch);
      if (!app) return { status: 502, body: "no app" };
      if (req.path === "/api/health") return { status: 200, body: JSON.stringify({ ok: true, database: "connected" }) };
      if (req.path === "/api/templates") return { status: 200, body: JSON.stringify({ templates: [{ slug: "consensus" }] }) };
      return { status: 200, body: JSON.stringify({ rules: [] }) };
    });
    try {
      const before = lc.calls().length;
      const record = await runRestoreDrill({ server: "my.medlab.host", token: lc.token, live: "staging.communityrule.info", baseUrl: clone.url, healthTimeoutMs: 5000, date });
      expect(record.error).toBeUndefined();
      expect(record.ok).toBe(true);
      expect(record.backupId).toBe("backup-newest");
      const mutating = lc.mutatingCallsSince(before).map((c) => c.argv);
      expect(mutating).toEqual([
        ["clone", "--app", "staging.communityrule.info", "--backup", "backup-newest", "--location", scratch],
        ["uninstall", "--app", scratch],
      ]);
      expect(lc.standin().apps.map((a) => a.fqdn)).toEqual(["staging.communityrule.info"]);
      expect(Object.keys(record.timingsMs)).toEqual(["backupList", "clone", "health", "smoke", "uninstall"]);
      expect(record.smoke).toContain("0 failed");
    } finally {
      await clone.stop();
    }
  });

  it("removes the scratch app even when the clone never becomes healthy, and reports failure", async () => {
    const date = new Date("2026-11-24T10:00:00Z");
    const sick = await startFakeApp(() => ({ status: 503, body: JSON.stringify({ ok: false, database: "error" }) }));
    try {
      const before = lc.calls().length;
      const record = await runRestoreDrill({ server: "my.medlab.host", token: lc.token, live: "staging.communityrule.info", baseUrl: sick.url, healthTimeoutMs: 1000, date });
      expect(record.ok).toBe(false);
      expect(record.error).toMatch(/database|503/);
      expect(lc.mutatingCallsSince(before).map((c) => c.sub)).toEqual(["clone", "uninstall"]);
      expect(lc.standin().apps).toHaveLength(1);
    } finally {
      await sick.stop();
    }
  });

  it("refuses a live location that is itself a drill name", async () => {
    await expect(
      runRestoreDrill({ server: "my.medlab.host", live: "restore-drill-20261123.communityrule.info", healthTimeoutMs: 1000, date: new Date("2026-11-23T00:00:00Z") }),
    ).rejects.toThrow(/refusing to drill/);
  });
});
