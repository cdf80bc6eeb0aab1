/**
 * The program's read-only live check (downgrade refused before building, production backups) and
 * the backup-policy judgement, against a loopback server started here.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { judgeBackupPolicy } from "../lib/cloudron/backupPolicy";
import { checkLiveApp } from "../lib/cloudron/liveCheck";

const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

interface World {
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
    if (req.url === "/api/v1/apps") {
      const apps = world.version
        ? [{ id: "a1", installationState: "installed", fqdn: "communityrule.info", manifest: { id: world.manifestId ?? "com.medlab.communityrule", version: world.version, dockerImage: "r@sha256:1" }, env: { SECRET: "never-shown-value" }, enableBackup: world.enableBackup }]
        : [];
      return send(200, { apps });
    }
    if (req.url === "/api/v1/backups/policy") return send(200, { policy: { schedule: "00 00 * * *", retention: world.retention ?? {} } });
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
  manifest: { id: "com.medlab.communityrule", version: "0.1.10", sha256: "0", content: {} },
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
      "communityrule.info: downgrade without rollback intent: deployed 0.2.0, manifest 0.1.10; to roll back set build: false and imageTag: 0.1.10. Refused before building anything.",
    );
    expect(c.calls.every((call) => call.startsWith("GET "))).toBe(true);
  });

  it("production up: passes with backups on and 30 days kept, and says which retention field it read", async () => {
    const c = await cloudron({ version: "0.1.9", enableBackup: true, retention: { keepWWithinSecs: 30 * DAY } });
    const live = await checkLiveApp(cfg(c.url), { dryRun: false });
    expect(live.release?.kind).toBe("release");
    expect(live.notes).toContain("backups: retention 30 days (keepWWithinSecs), app backups on, minimum 30 days");
  });

  it("production up: fails on app backups off and a short retention, naming the dashboard paths", async () => {
    const c = await cloudron({ version: "0.1.9", enableBackup: false, retention: { keepWithinSecs: 7 * DAY } });
    await expect(checkLiveApp(cfg(c.url), { dryRun: false })).rejects.toThrow(
      "production backups are not safe enough; nothing was built or deployed:\n" +
        "  - communityrule.info has automatic backups turned off; turn them on in the dashboard: the app → Backups → automatic backups\n" +
        "  - the backup policy keeps backups 7 days (keepWithinSecs), less than communityrule:minBackupRetentionDays = 30; raise it in the dashboard: Backups → Schedule/Retention",
    );
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
    await expect(checkLiveApp(noToken, { dryRun: false, homeDir: "/nonexistent" })).rejects.toThrow(/^no Cloudron API token/);
  });

  it("a typo'd server is reported as unreachable before anything happens", async () => {
    await expect(checkLiveApp(cfg("my.medlab.invalid"), { dryRun: true })).rejects.toThrow(/^live check: cannot reach my\.medlab\.invalid \(the name does not resolve\)/);
  });
});

describe("judgeBackupPolicy", () => {
  it("reports a missing retention", () => {
    expect(judgeBackupPolicy(true, {}, 30, "x").problems).toEqual([
      "the backup policy has no retention (neither keepWithinSecs nor keepWWithinSecs); set one of at least 30 days in the dashboard: Backups → Schedule/Retention",
    ]);
  });
  it("accepts exactly the minimum", () => {
    expect(judgeBackupPolicy(true, { keepWithinSecs: 30 * DAY, field: "keepWithinSecs" }, 30, "x").problems).toEqual([]);
  });
});
