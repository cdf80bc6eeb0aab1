/**
 * The program's read-only live check (downgrade refused before building, production backups) and
 * the backup-policy judgement, against a loopback server started here.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { judgeBackupPolicy, judgeExistingBackups, readBackupPolicy, retentionSeconds } from "../cloudron/backupPolicy";
import { checkLiveApp } from "../steps/live-check/liveCheck";

const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

interface World {
  /** What GET /cloudron/status reports; default 9.0.2. */
  serverVersion?: string;
  version?: string;
  manifestId?: string;
  enableBackup?: boolean;
  retention?: Record<string, number>;
}

async function cloudron(world: World): Promise<{ url: string; calls: string[] }> {
  const calls: string[] = [];
  const server = http.createServer((req, res) => {
    calls.push(`${req.method} ${req.url}`);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { status: "Unauthorized", message: "no" });
    if (req.url === "/api/v1/profile") return send(200, { username: "ops", role: "admin" });
    if (req.url === "/api/v1/cloudron/status") return send(200, { version: world.serverVersion ?? "9.0.2" });
    if (req.url === "/api/v1/apps") {
      const apps = world.version
        ? [
            {
              id: "a1",
              installationState: "installed",
              fqdn: "communityrule.info",
              manifest: {
                id: world.manifestId ?? "com.medlab.communityrule",
                version: world.version,
                dockerImage: "r@sha256:1",
              },
              env: { SECRET: "never-shown-value" },
              enableBackup: world.enableBackup,
            },
          ]
        : [];
      return send(200, { apps });
    }
    if (req.url === "/api/v1/backups/policy")
      return send(200, { policy: { schedule: "00 00 * * *", retention: world.retention ?? {} } });
    send(404, { status: "Not Found", message: "?" });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

const cfg = (url: string, over: Record<string, unknown> = {}) => ({
  cloudronServer: url,
  cloudronToken: TOKEN,
  location: "communityrule.info",
  environment: "production" as const,
  build: true,
  imageTag: "0.1.10",
  manifest: { id: "com.medlab.communityrule", version: "0.1.10", sha256: "0", content: { minBoxVersion: "9.0.0" } },
  minBackupRetentionDays: 30,
  cloudronTimeoutSeconds: 5,
  busyWaitSeconds: 5,
  stack: "production",
  ...over,
});

const DAY = 86400;

describe("checkLiveApp", () => {
  it("refuses a downgrade during preview, before anything is built, with reads only", async () => {
    const c = await cloudron({ version: "0.2.0" });
    await expect(checkLiveApp(cfg(c.url), { dryRun: true })).rejects.toThrow(
      "communityrule.info: downgrade without rollback intent: deployed 0.2.0, manifest 0.1.10;" +
        " to roll back set build: false and imageTag: 0.1.10. Refused before building anything.",
    );
    expect(c.calls.every((call) => call.startsWith("GET "))).toBe(true);
  });

  it("production up: passes with backups on and 30 days kept, and says which retention field it read", async () => {
    const c = await cloudron({ version: "0.1.9", enableBackup: true, retention: { keepWWithinSecs: 30 * DAY } });
    const live = await checkLiveApp(cfg(c.url), { dryRun: false });
    expect(live.release?.kind).toBe("release");
    expect(live.notes).toContain(
      "backups: policy: backups kept 30 days (keepWWithinSecs); app backups on; minimum 30 days",
    );
  });

  it("production up: fails on app backups off and a short retention, naming the dashboard paths", async () => {
    const c = await cloudron({ version: "0.1.9", enableBackup: false, retention: { keepWithinSecs: 7 * DAY } });
    await expect(checkLiveApp(cfg(c.url), { dryRun: false })).rejects.toThrow(
      "production backups are not safe enough; nothing was built or deployed:\n" +
        "  - communityrule.info has automatic backups turned off; turn" +
        " them on in the dashboard: the app → Backups → automatic backups\n" +
        "  - the backup policy keeps backups 7 days (keepWithinSecs), less than" +
        " communityrule:minBackupRetentionDays = 30; raise it in the dashboard: Backups → Schedule/Retention",
    );
  });

  it("refuses a server below the manifest's minBoxVersion, in preview too, before anything else is read", async () => {
    const c = await cloudron({ version: "0.1.9", serverVersion: "8.3.1" });
    await expect(checkLiveApp(cfg(c.url), { dryRun: true })).rejects.toThrow(
      `live check: ${c.url} runs Cloudron 8.3.1, below the 9.0.0 the app's CloudronManifest.json needs` +
        ` (minBoxVersion); update Cloudron first (dashboard → Settings → Updates), nothing was changed`,
    );
    expect(c.calls).toEqual(["GET /api/v1/profile", "GET /api/v1/cloudron/status"]);
  });

  it("staging and previews do not judge backups", async () => {
    const c = await cloudron({ version: "0.1.9", enableBackup: false, retention: { keepWithinSecs: DAY } });
    await checkLiveApp(cfg(c.url, { environment: "staging" }), { dryRun: false });
    await checkLiveApp(cfg(c.url), { dryRun: true });
    expect(c.calls).not.toContain("GET /api/v1/backups/policy");
  });

  it("a preview without any token skips the check with a note; an up refuses", async () => {
    const noToken = { ...cfg("my.medlab.host"), cloudronToken: undefined };
    const preview = await checkLiveApp(noToken, { dryRun: true, homeDir: "/nonexistent" });
    expect(preview.checked).toBe(false);
    expect(preview.notes[0]).toMatch(/^live check skipped: no Cloudron API token/);
    await expect(checkLiveApp(noToken, { dryRun: false, homeDir: "/nonexistent" })).rejects.toThrow(
      /^no Cloudron API token/,
    );
  });

  it("a typo'd server is reported as unreachable before anything happens", async () => {
    await expect(checkLiveApp(cfg("my.medlab.invalid"), { dryRun: true })).rejects.toThrow(
      /^live check: cannot reach my\.medlab\.invalid \(the name does not resolve\)/,
    );
  });
});

const policy = (retention: unknown) => ({ policy: { schedule: "00 00 23 * * *", retention } });
const judge = (body: unknown, existing?: Parameters<typeof judgeBackupPolicy>[0]["existing"]) =>
  judgeBackupPolicy({ enableBackup: true, reading: readBackupPolicy(body), minDays: 30, location: "x", existing });

describe("readBackupPolicy", () => {
  it.each([
    ["keepWithinSecs", policy({ keepWithinSecs: 86400 }), { kind: "within", seconds: 86400, field: "keepWithinSecs" }],
    [
      "the spec's keepWWithinSecs",
      policy({ keepWWithinSecs: 7 }),
      { kind: "within", seconds: 7, field: "keepWWithinSecs" },
    ],
    ["forever (-1)", policy({ keepWithinSecs: -1 }), { kind: "forever", field: "keepWithinSecs" }],
    [
      "count-based: the longest span",
      policy({ keepDaily: 7, keepWeekly: 4, keepMonthly: 6 }),
      { kind: "counts", seconds: 180 * DAY, counts: { keepDaily: 7, keepWeekly: 4, keepMonthly: 6 } },
    ],
    [
      "count-based with a longer keepWithinSecs",
      policy({ keepWithinSecs: 400 * DAY, keepDaily: 3 }),
      { kind: "counts", seconds: 400 * DAY, counts: { keepDaily: 3 }, withinSeconds: 400 * DAY },
    ],
  ])("%s", (_name, body, expected) => {
    expect(readBackupPolicy(body)).toEqual(expected);
  });
  it.each([
    ["404", undefined, "the server has no GET /backups/policy (404)"],
    [
      "several sites",
      { sites: [{ id: "s1" }, { id: "s2" }] },
      "GET /backups/policy states no single policy (it holds sites), e.g. one per backup site",
    ],
    [
      "no known field",
      policy({ keepLatest: true }),
      "the retention names none of keepWithinSecs, keepDaily, keepWeekly, keepMonthly, keepYearly (it has keepLatest)",
    ],
  ])("unknown: %s", (_name, body, why) => {
    expect(readBackupPolicy(body)).toEqual({ kind: "unknown", why });
  });
  it("gives the seconds a rollback point must be kept: none for forever or unknown", () => {
    expect(
      [policy({ keepWithinSecs: 60 }), policy({ keepWithinSecs: -1 }), undefined].map((b) =>
        retentionSeconds(readBackupPolicy(b)),
      ),
    ).toEqual([60, undefined, undefined]);
  });
});

describe("judgeBackupPolicy", () => {
  it("passes forever and a count-based policy spanning the minimum, saying which rule judged", () => {
    expect(judge(policy({ keepWithinSecs: -1 }))).toEqual({
      problems: [],
      summary: "policy: backups kept forever (keepWithinSecs < 0); app backups on; minimum 30 days",
    });
    expect(judge(policy({ keepDaily: 7, keepWeekly: 4, keepMonthly: 1 }))).toEqual({
      problems: [],
      summary:
        "policy: count-based retention (keepDaily 7, keepWeekly 4," +
        " keepMonthly 1) spans 30 days; app backups on; minimum 30 days",
    });
  });
  it("fails a 7-day policy, stated either way", () => {
    expect(judge(policy({ keepWithinSecs: 7 * DAY })).problems).toEqual([
      "the backup policy keeps backups 7 days (keepWithinSecs), less than" +
        " communityrule:minBackupRetentionDays = 30; raise it in the dashboard: Backups → Schedule/Retention",
    ]);
    expect(judge(policy({ keepDaily: 7 })).problems).toEqual([
      "the count-based backup retention (keepDaily 7) spans 7 days, less than" +
        " communityrule:minBackupRetentionDays = 30; keep more in the dashboard: Backups → Schedule/Retention",
    ]);
  });
  it("accepts exactly the minimum", () => {
    expect(judge(policy({ keepWithinSecs: 30 * DAY })).problems).toEqual([]);
  });
  it("an unreadable policy judges the app's backups, and says so", () => {
    const now = Date.parse("2026-03-01T00:00:00Z");
    const at = (daysAgo: number) => new Date(now - daysAgo * DAY * 1000).toISOString();
    const kept = {
      backups: [
        { id: "b1", creationTime: at(1) },
        { id: "b0", creationTime: at(45) },
      ],
      appCreated: at(400),
      now,
    };
    expect(judge(undefined, kept)).toEqual({
      problems: [],
      summary:
        "policy unreadable (the server has no GET /backups/policy (404)); judged the app's backups:" +
        " 2 backup(s), newest 1 day old, oldest 45 days old; app backups on; minimum 30 days",
    });
    const pruned = {
      backups: [
        { id: "b1", creationTime: at(5) },
        { id: "b0", creationTime: at(7) },
      ],
      appCreated: at(400),
      now,
    };
    expect(judge(undefined, pruned).problems).toEqual([
      "the newest backup of x is 5 days old (more than 2 days):" +
        " automatic backups do not seem to run; check the dashboard:" +
        " Backups → Schedule/Retention (the server's policy could" +
        " not be read: the server has no GET /backups/policy (404))",
      "the oldest backup of x is 7 days old although the app is 400 days" +
        " old: backups are not kept 30 days; raise the retention in the" +
        " dashboard: Backups → Schedule/Retention (the server's policy" +
        " could not be read: the server has no GET /backups/policy (404))",
    ]);
  });
  it("a young app's young backups are not a short retention", () => {
    const now = Date.parse("2026-03-01T00:00:00Z");
    const at = (daysAgo: number) => new Date(now - daysAgo * DAY * 1000).toISOString();
    expect(
      judgeExistingBackups(
        {
          backups: [
            { id: "b", creationTime: at(1) },
            { id: "c", creationTime: at(9) },
          ],
          appCreated: at(9.5),
          now,
        },
        30,
        "x",
      ).problems,
    ).toEqual([]);
  });
});
