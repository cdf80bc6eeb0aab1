/** The restore drill against the cloudron stand-in: clone, health, smoke, uninstall, record. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle } from "../lifecycle/runner";
import { startFakeApp } from "../lifecycle/fakeApp";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runRestoreDrill, scratchLocation, type DrillRecord } from "../lib/restoreDrill";
import { main as drillMain } from "../scripts/restoreDrill";

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

  it("npm run restore-drill -- staging: prints PASS and writes the dated record", async () => {
    const clone = await startFakeApp((req) => {
      if (!lc.standin().apps.some((a) => a.fqdn.startsWith("restore-drill-"))) return { status: 502, body: "no app" };
      if (req.path === "/api/health") return { status: 200, body: JSON.stringify({ ok: true, database: "connected" }) };
      if (req.path === "/api/templates") return { status: 200, body: JSON.stringify({ templates: [{ slug: "consensus" }] }) };
      return { status: 200, body: JSON.stringify({ rules: [] }) };
    });
    const recordDir = fs.mkdtempSync(path.join(os.tmpdir(), "drill-records-"));
    const savedToken = process.env.CLOUDRON_TOKEN;
    process.env.CLOUDRON_TOKEN = lc.token;
    try {
      const lines: string[] = [];
      expect(await drillMain(["staging", "--base-url", clone.url, "--record-dir", recordDir], (s) => lines.push(s))).toBe(0);
      const text = lines.join("\n");
      expect(text).toMatch(/^PASS restore drill of staging\.communityrule\.info from backup backup-newest via restore-drill-\d{8}\.communityrule\.info$/m);
      expect(text).not.toContain(lc.token);
      const files = fs.readdirSync(recordDir);
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/^restore-drill-\d{8}-staging\.json$/);
      const record = JSON.parse(fs.readFileSync(path.join(recordDir, files[0]), "utf8")) as DrillRecord;
      expect(record).toMatchObject({ ok: true, live: "staging.communityrule.info", backupId: "backup-newest" });
      expect(lc.standin().apps.map((a) => a.fqdn)).toEqual(["staging.communityrule.info"]);
    } finally {
      if (savedToken === undefined) delete process.env.CLOUDRON_TOKEN;
      else process.env.CLOUDRON_TOKEN = savedToken;
      fs.rmSync(recordDir, { recursive: true, force: true });
      await clone.stop();
    }
  });

  it("npm run restore-drill: usage and unknown stack fail before any cloudron call", async () => {
    const before = lc.calls().length;
    const out: string[] = [];
    expect(await drillMain([], (s) => out.push(s))).toBe(2);
    expect(await drillMain(["staging", "--bogus"], (s) => out.push(s))).toBe(2);
    expect(await drillMain(["nope"], (s) => out.push(s))).toBe(1);
    expect(out.join("\n")).toMatch(/usage[\s\S]*drill FAILED before cloning: no stack file Pulumi\.nope\.yaml in .*; stacks here: production, staging/);
    expect(lc.calls().length).toBe(before);
  });

  it("refuses a live location that is itself a drill name", async () => {
    await expect(
      runRestoreDrill({ server: "my.medlab.host", live: "restore-drill-20261123.communityrule.info", healthTimeoutMs: 1000, date: new Date("2026-11-23T00:00:00Z") }),
    ).rejects.toThrow(/refusing to drill/);
  });
});
