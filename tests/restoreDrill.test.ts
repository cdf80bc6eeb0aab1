/** The restore drill against the Cloudron API stand-in: backups, clone, health, smoke, uninstall, record. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle } from "../engine/runner";
import { playCommunityRule, startFakeApp } from "../engine/fakeApp";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runRestoreDrill, scratchLocation, type DrillRecord } from "../commands/restore-drill/restoreDrill";
import { drillOptionsFromStack, main as drillMain } from "../commands/restore-drill/main";
import { CONFIG_DEFAULTS } from "../config/schema";

/** The defaults a stack without these keys gets (the drill's own tests shorten the health gate). */
const timeouts = {
  healthTimeoutSeconds: CONFIG_DEFAULTS.healthTimeoutSeconds,
  cloudronTimeoutSeconds: CONFIG_DEFAULTS.cloudronTimeoutSeconds,
  busyWaitSeconds: CONFIG_DEFAULTS.busyWaitSeconds,
};

describe("scratchLocation", () => {
  it("names the scratch app restore-drill-YYYYMMDD on the live app's domain", () => {
    const d = new Date("2026-11-23T10:00:00Z");
    expect(scratchLocation("staging.communityrule.info", d)).toBe("restore-drill-20261123.communityrule.info");
    expect(scratchLocation("communityrule.info", d)).toBe("restore-drill-20261123.communityrule.info");
  });
});

describe("runRestoreDrill (stand-in)", () => {
  let lc: Lifecycle;
  let newest = "";
  const saved = { ...process.env };
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging" });
    // The drill reads only the server: the live app at the location (running, seeded, the stack's
    // env, which the clone's smoke checks read) and its backups. No deploy is under test here, so
    // the app is put there directly, as the program's install leaves it for those reads.
    lc.api.addApp({
      fqdn: lc.location,
      manifest: {
        id: "com.medlab.communityrule",
        version: "0.1.9",
        dockerImage: `${String(lc.config.imageRepository)}:0.1.9`,
      },
      env: { ...(lc.config.env as Record<string, string>) },
      seedRuns: 1,
    });
    lc.api.addBackup("staging.communityrule.info");
    newest = lc.api.addBackup("staging.communityrule.info").id;
    Object.assign(process.env, lc.extraEnv);
  });
  afterAll(async () => {
    process.env = saved;
    // No run of the program here, so close() would not scan: the drill's own API calls are scanned.
    if (lc) expect(lc.scanSecrets().hits).toEqual([]);
    await lc?.close();
  });

  it("clones the newest backup, checks health and smoke on the clone, then removes it", async () => {
    const date = new Date("2026-11-23T10:00:00Z");
    const scratch = scratchLocation("staging.communityrule.info", date);
    // The clone answers like the app when the stand-in lists it (seed data came with the backup).
    const clone = await startFakeApp((req) =>
      playCommunityRule(
        lc.standin().apps.find((a) => a.fqdn === scratch),
        [],
        req,
      ),
    );
    try {
      const before = lc.calls().length;
      const record = await runRestoreDrill({
        server: lc.api.url,
        token: lc.token,
        live: "staging.communityrule.info",
        baseUrl: clone.url,
        timeouts: { ...timeouts, healthTimeoutSeconds: 5 },
        date,
      });
      expect(record.error).toBeUndefined();
      expect(record.ok).toBe(true);
      expect(record.backupId).toBe(newest);
      const liveId = lc.app()!.id;
      const mutating = lc.mutatingCallsSince(before);
      expect(mutating.map((c) => [c.operation, c.path, c.requestBody])).toEqual([
        [
          "cloneApp",
          `/api/v1/apps/${liveId}/clone`,
          { backupId: newest, subdomain: scratch.split(".")[0], domain: "communityrule.info" },
        ],
        ["uninstallApp", `/api/v1/apps/${mutating[0].appId}/uninstall`, expect.anything()],
      ]);
      expect(mutating[0].appId).not.toBe(liveId);
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
      const record = await runRestoreDrill({
        server: lc.api.url,
        token: lc.token,
        live: "staging.communityrule.info",
        baseUrl: sick.url,
        timeouts: { ...timeouts, healthTimeoutSeconds: 1 },
        date,
      });
      expect(record.ok).toBe(false);
      expect(record.error).toMatch(/database|503/);
      expect(lc.mutatingCallsSince(before).map((c) => c.operation)).toEqual(["cloneApp", "uninstallApp"]);
      expect(lc.standin().apps).toHaveLength(1);
    } finally {
      await sick.stop();
    }
  });

  it(
    "a clone whose answer is lost after the server cloned" + " (timeout) is found by location, checked and removed",
    async () => {
      const date = new Date("2026-11-25T10:00:00Z");
      const scratch = scratchLocation("staging.communityrule.info", date);
      const healthy = await startFakeApp((req) =>
        req.path === "/api/health"
          ? { status: 200, body: JSON.stringify({ ok: true, database: "connected" }) }
          : { status: 200, body: JSON.stringify({ templates: [{ slug: "consensus" }], rules: [] }) },
      );
      // The server performs the clone, then the answer never comes (the request times out after 1 s).
      lc.api.injectFault({ operation: "cloneApp", kind: "hang", applied: true, hangMs: 3000 });
      try {
        const before = lc.calls().length;
        const lines: string[] = [];
        const record = await runRestoreDrill({
          server: lc.api.url,
          token: lc.token,
          live: "staging.communityrule.info",
          baseUrl: healthy.url,
          timeouts: { ...timeouts, healthTimeoutSeconds: 3, cloudronTimeoutSeconds: 1 },
          date,
          log: (l) => lines.push(l),
        });
        expect(lines).toContain(
          `drill: clone: POST /apps/${lc.app()!.id}/clone got no clear answer (no response` +
            ` within 1.0s), but the app shows the task it started; following that task`,
        );
        expect(record.error).toBeUndefined();
        expect(lc.mutatingCallsSince(before).map((c) => c.operation)).toEqual(["cloneApp", "uninstallApp"]);
        expect(lc.standin().apps.map((a) => a.fqdn)).not.toContain(scratch);
      } finally {
        await healthy.stop();
      }
    },
  );

  it(
    "a clone whose answer is lost and that recovery cannot" + " see is still removed on the way out, by location",
    async () => {
      const date = new Date("2026-11-26T10:00:00Z");
      const scratch = scratchLocation("staging.communityrule.info", date);
      lc.api.injectFault({ operation: "cloneApp", kind: "hang", applied: true, hangMs: 3000 });
      // The re-read during recovery fails every attempt (1 + 3 retries); the lookup on the way out works.
      lc.api.injectFault({ operation: "listAppsByUser", kind: "500", times: 0 });
      const before = lc.calls().length;
      const lines: string[] = [];
      const started = runRestoreDrill({
        server: lc.api.url,
        token: lc.token,
        live: "staging.communityrule.info",
        timeouts: { ...timeouts, healthTimeoutSeconds: 1, cloudronTimeoutSeconds: 1 },
        date,
        log: (l) => lines.push(l),
      });
      // Arm the GET /apps failures once the clone request is on its way (the drill's own lookups before it must work).
      const armed = setInterval(() => {
        if (
          lc
            .calls()
            .slice(before)
            .some((c) => c.operation === "cloneApp")
        ) {
          clearInterval(armed);
          lc.api.state.faults.find((f) => f.operation === "listAppsByUser")!.times = 4;
        }
      }, 5);
      const record = await started.finally(() => clearInterval(armed));
      expect(record.ok).toBe(false);
      expect(record.error).toMatch(
        /^drill: clone: POST \/apps\/.+\/clone got no clear answer .* so it was not applied; it was NOT re-sent/,
      );
      expect(lines.some((l) => l.startsWith(`drill: the clone's answer was lost, but ${scratch} holds app `))).toBe(
        true,
      );
      expect(lc.mutatingCallsSince(before).map((c) => c.operation)).toEqual(["cloneApp", "uninstallApp"]);
      expect(lc.standin().apps.map((a) => a.fqdn)).toEqual(["staging.communityrule.info"]);
    },
  );

  it("npm run restore-drill -- staging: prints PASS and writes the dated record", async () => {
    const clone = await startFakeApp((req) =>
      playCommunityRule(
        lc.standin().apps.find((a) => a.fqdn.startsWith("restore-drill-")),
        [],
        req,
      ),
    );
    const recordDir = fs.mkdtempSync(path.join(os.tmpdir(), "drill-records-"));
    const savedToken = process.env.CLOUDRON_TOKEN;
    process.env.CLOUDRON_TOKEN = lc.token;
    try {
      const lines: string[] = [];
      expect(
        await drillMain(["staging", "--server", lc.api.url, "--base-url", clone.url, "--record-dir", recordDir], (s) =>
          lines.push(s),
        ),
      ).toBe(0);
      const text = lines.join("\n");
      expect(text).toContain(
        `PASS restore drill of staging.communityrule.info from backup ${newest} via restore-drill-`,
      );
      expect(text).not.toContain(lc.token);
      const files = fs.readdirSync(recordDir);
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/^restore-drill-\d{8}-staging\.json$/);
      const record = JSON.parse(fs.readFileSync(path.join(recordDir, files[0]), "utf8")) as DrillRecord;
      expect(record).toMatchObject({ ok: true, live: "staging.communityrule.info", backupId: newest });
      expect(lc.standin().apps.map((a) => a.fqdn)).toEqual(["staging.communityrule.info"]);
    } finally {
      if (savedToken === undefined) delete process.env.CLOUDRON_TOKEN;
      else process.env.CLOUDRON_TOKEN = savedToken;
      fs.rmSync(recordDir, { recursive: true, force: true });
      await clone.stop();
    }
  });

  it("npm run restore-drill: usage and unknown stack fail before any Cloudron API call", async () => {
    const before = lc.calls().length;
    const out: string[] = [];
    expect(await drillMain([], (s) => out.push(s))).toBe(2);
    expect(await drillMain(["staging", "--bogus"], (s) => out.push(s))).toBe(2);
    expect(await drillMain(["nope"], (s) => out.push(s))).toBe(1);
    expect(out.join("\n")).toMatch(
      /^drill FAILED before cloning: no stack file Pulumi\.nope\.yaml in .*; stacks here: production, staging$/m,
    );
    expect(lc.calls().length).toBe(before);
  });

  it("refuses a live location that is itself a drill name", async () => {
    await expect(
      runRestoreDrill({
        server: "my.medlab.host",
        live: "restore-drill-20261123.communityrule.info",
        timeouts: { ...timeouts, healthTimeoutSeconds: 1 },
        date: new Date("2026-11-23T00:00:00Z"),
      }),
    ).rejects.toThrow(/refusing to drill/);
  });
});

describe("the drill's settings come from the stack's checked config", () => {
  const staging = fs.readFileSync(path.join(__dirname, "..", "Pulumi.staging.yaml"), "utf8");
  const projectWith = (extra: string): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drill-stack-"));
    fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), `${staging.trimEnd()}\n${extra}`);
    return dir;
  };
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it("the stack's health, task and busy-wait bounds reach the drill", () => {
    const dir = projectWith(
      [
        "  communityrule:healthTimeoutSeconds: 42",
        "  communityrule:cloudronTimeoutSeconds: 99",
        "  communityrule:busyWaitSeconds: 7",
      ].join("\n") + "\n",
    );
    dirs.push(dir);
    const options = drillOptionsFromStack(dir, { stack: "staging" }, {});
    expect(options.timeouts).toEqual({ healthTimeoutSeconds: 42, cloudronTimeoutSeconds: 99, busyWaitSeconds: 7 });
    expect(options).toMatchObject({ server: "my.medlab.host", live: "staging.communityrule.info" });
  });

  it("without those keys the drill gets the schema's defaults, and --server replaces the server", () => {
    const options = drillOptionsFromStack(
      path.join(__dirname, ".."),
      { stack: "staging", server: "http://127.0.0.1:9" },
      {},
    );
    expect(options.timeouts).toEqual(timeouts);
    expect(options.server).toBe("http://127.0.0.1:9");
  });

  it("a typo'd key, a wrong type or a plain-http --server stops the drill naming the key and the fix", async () => {
    const dir = projectWith("  communityrule:busyWaitSecond: 7\n  communityrule:healthTimeoutSeconds: soon\n");
    dirs.push(dir);
    const out: string[] = [];
    expect(await drillMain(["staging"], (s) => out.push(s), dir)).toBe(1);
    expect(out.join("\n")).toMatch(/^drill FAILED before cloning: stack "staging" has 2 configuration problems/);
    expect(out.join("\n")).toContain(
      "communityrule:busyWaitSecond: unknown key: did you mean communityrule:busyWaitSeconds?",
    );
    expect(out.join("\n")).toContain(
      'communityrule:healthTimeoutSeconds: must be a whole number of seconds, got "soon"',
    );
    out.length = 0;
    expect(await drillMain(["staging", "--server", "http://drill.example"], (s) => out.push(s))).toBe(1);
    expect(out.join("\n")).toMatch(/communityrule:cloudronServer: plain http is allowed only for a loopback stand-in/);
  });
});
