/**
 * The client and operations against the Cloudron API stand-in where the real server differs from
 * a happy path: a 409 on an idle app (debug mode), an app with odd fields beside ours, backup
 * policies stated in several ways, and an update that leaves a protected rollback point. Real
 * clock and real HTTP, so the waits are the ones an operator would see.
 */
import * as crypto from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startCloudronApi, type CloudronApi as Standin } from "../engine/standin/cloudronApi";
import { CloudronApi } from "../cloudron/client";
import { deploy, pickPreUpdateBackup } from "../steps/app/operations";
import { checkLiveApp } from "../steps/live-check/liveCheck";
import type { DeployRequest } from "../cloudron/requests";
import { realClock, type Clock } from "../lib/clock";
import { readFixtureManifest } from "../engine/fixtureManifest";

const LOCATION = "communityrule.info";
// The app's real manifest; the version is the one these tests deploy and name.
const MANIFEST = { ...readFixtureManifest(), version: "0.1.9" };
const DAY = 86400;

let standin: Standin;
let token: string;
beforeEach(async () => {
  token = `tok-${crypto.randomBytes(8).toString("hex")}`;
  standin = await startCloudronApi({ tokens: [{ token, role: "owner" }], taskMs: 60 });
});
afterEach(async () => {
  await standin.stop();
});

function context(lines: string[] = [], clock: Clock = realClock) {
  const api = new CloudronApi({
    server: standin.url,
    token,
    taskTimeoutSeconds: 10,
    busyWaitSeconds: 600,
    pollIntervalMs: 100,
    log: (l) => lines.push(l),
    clock,
  });
  return { api, secrets: {} };
}

function request(over: Partial<DeployRequest> = {}): DeployRequest {
  return {
    connection: { server: standin.url, taskTimeoutSeconds: 10, busyWaitSeconds: 600 },
    location: LOCATION,
    environment: "production",
    owner: "urn:pulumi:production::communityrule::communityrule:cloudron:App::app/app-deploy",
    stack: "production",
    image: "reg.example/communityrule/community-rule:0.1.9",
    build: false,
    manifest: MANIFEST,
    env: { plain: { SMTP_FROM: "hello@communityrule.info" }, secret: {} },
    autoRollback: false,
    health: { baseUrl: "http://127.0.0.1:1", timeoutSeconds: 1 },
    ...over,
  };
}

const release = (version: string) =>
  request({ image: `reg.example/communityrule/community-rule:${version}`, manifest: { ...MANIFEST, version } });

describe("a 409 that waiting cannot fix", () => {
  it("an update of an app in debug mode fails at once, quoting the server, busyWaitSeconds 600", async () => {
    const first = await deploy(request(), context(), {});
    standin.app(LOCATION)!.debugMode = { readonlyRootfs: false, cmd: ["/bin/bash"] };
    // "At once" is measured as what the client did, not as wall time (which a loaded machine
    // stretches): every wait it makes (busy waits, task polls, retries) sleeps through its clock,
    // and it must not sleep at all. The wall-time bound, a tenth of busyWaitSeconds, only catches
    // a wait that bypassed the clock.
    const slept: number[] = [];
    const clock: Clock = { now: realClock.now, sleep: (ms, signal) => (slept.push(ms), realClock.sleep(ms, signal)) };
    const lines: string[] = [];
    const t0 = Date.now();
    const failed = await deploy(release("0.1.10"), context(lines, clock), first).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(Date.now() - t0).toBeLessThan((600 * 1000) / 10);
    expect(slept).toEqual([]);
    expect(lines.filter((l) => /waiting/.test(l))).toEqual([]);
    expect(failed?.message).toMatch(
      new RegExp(
        '^update: Cloudron refused POST /apps/[^/]+/update \\(409: "debug mode enabled\\. force to override"\\) ' +
          "while communityrule\\.info runs no task \\(installationState installed, runState running\\)",
      ),
    );
    expect(standin.calls().filter((c) => c.operation === "updateApp")).toHaveLength(1);
    expect(standin.app(LOCATION)!.manifest.version).toBe("0.1.9");
  });

  it("a 409 from a busy app still waits for the task and then updates", async () => {
    const first = await deploy(request(), context(), {});
    standin.injectFault({ operation: "updateApp", kind: "409", busyMs: 300 });
    const lines: string[] = [];
    const next = await deploy(release("0.1.10"), context(lines), first);
    expect(next.action).toBe("updated");
    expect(lines.find((l) => l.includes("answered 409"))).toMatch(/is busy with task \d+ \(pending_backup\); waiting$/);
  });
});

describe("GET /apps with someone else's odd app on it", () => {
  it("a malformed foreign app does not stop a deploy, an update or the live check", async () => {
    standin.addApp({
      fqdn: "wiki.communityrule.info",
      manifest: { id: "org.wiki", version: "1", dockerImage: "w" },
      env: { WIKI_SECRET: "wiki-secret-value-1" },
      shownAs: { installationState: 7, manifest: null, error: ["not", "a", "string"] },
    });
    const first = await deploy(request(), context(), {});
    expect(first.action).toBe("installed");
    expect((await deploy(release("0.1.10"), context(), first)).action).toBe("updated");
    const live = await checkLiveApp(liveConfig(), { dryRun: false });
    expect(live.deployedVersion).toBe("0.1.10");
  });
});

function liveConfig() {
  return {
    cloudronServer: standin.url,
    cloudronToken: token,
    location: LOCATION,
    environment: "production" as const,
    build: true,
    imageTag: "0.1.10",
    manifest: { id: MANIFEST.id, version: "0.1.10", sha256: "0", content: MANIFEST },
    minBackupRetentionDays: 30,
    cloudronTimeoutSeconds: 10,
    busyWaitSeconds: 10,
    stack: "production",
  };
}

describe("backup policies as the server states them (production live check)", () => {
  const judged = async () =>
    checkLiveApp(liveConfig(), { dryRun: false }).then(
      (r) => r.notes.find((n) => n.startsWith("backups: ")),
      (e: Error) => `REFUSED: ${e.message}`,
    );
  const retention = (r: Record<string, number>) => ({ policy: { schedule: "00 00 23 * * *", retention: r } });

  it("forever and a count-based policy pass; a 7-day one fails", async () => {
    await deploy(request(), context(), {});
    standin.state.backupPolicy = retention({ keepWithinSecs: -1 });
    expect(await judged()).toBe(
      "backups: policy: backups kept forever (keepWithinSecs < 0); app backups on; minimum 30 days",
    );
    standin.state.backupPolicy = retention({ keepDaily: 7, keepWeekly: 4, keepMonthly: 6 });
    expect(await judged()).toBe(
      "backups: policy: count-based retention (keepDaily 7, keepWeekly 4, keepMonthly 6) spans 180 days; " +
        "app backups on; minimum 30 days",
    );
    standin.state.backupPolicy = retention({ keepWithinSecs: 7 * DAY });
    expect(await judged()).toMatch(
      /^REFUSED: production backups are not safe enough; .*keeps backups 7 days \(keepWithinSecs\), less than /s,
    );
  });

  it("no policy route (404) or several sites: the app's backups are judged, page by page, saying so", async () => {
    await deploy(request(), context(), {});
    const app = standin.app(LOCATION)!;
    app.creationTime = new Date(Date.now() - 400 * DAY * 1000).toISOString();
    // 130 daily backups: more than one page of 100.
    for (let i = 0; i < 130; i++) {
      standin.addBackup(LOCATION).creationTime = new Date(Date.now() - (i + 0.5) * DAY * 1000).toISOString();
    }
    standin.state.backupPolicy = null;
    expect(await judged()).toBe(
      "backups: policy unreadable (the server has no GET /backups/policy (404)); judged the app's backups: " +
        "130 backup(s), newest 0.5 days old, oldest 129.5 days old; app backups on; minimum 30 days",
    );
    expect(
      standin
        .calls()
        .filter((c) => c.operation === "getAppBackups")
        .map((c) => c.query.page),
    ).toEqual(["1", "2"]);
    standin.state.backupPolicy = { sites: [{ id: "local" }, { id: "offsite" }] };
    // Only the newest 10 are left: backups are removed after about 10 days.
    app.backups = [...app.backups].sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime)).slice(0, 10);
    expect(await judged()).toMatch(
      /^REFUSED: .*the oldest backup of communityrule\.info is 9\.5 days old although the app is 400\.0 days old/s,
    );
  });
});

describe("the rollback point", () => {
  it("is the backup of the old version taken by the update, not a scheduled one that finished meanwhile", () => {
    const backups = [
      { id: "scheduled", creationTime: "2026-03-01T10:00:01Z", packageVersion: "0.1.9" },
      { id: "pre-update", creationTime: "2026-03-01T10:00:05Z", packageVersion: "0.1.9" },
      { id: "old", creationTime: "2026-02-28T23:00:00Z", packageVersion: "0.1.9" },
    ];
    const since = "2026-03-01T10:00:03Z";
    expect(pickPreUpdateBackup(backups, { version: "0.1.9", since, before: new Set(["old"]) })?.id).toBe("pre-update");
    // Without the task's time, set difference by version: the earliest new backup of the old version.
    expect(pickPreUpdateBackup(backups, { version: "0.1.9", before: new Set(["old"]) })?.id).toBe("scheduled");
    expect(pickPreUpdateBackup(backups, { version: "0.1.8", since, before: new Set() })).toBeUndefined();
  });

  it("is kept at least as long as the server's retention (here 90 days) and labelled", async () => {
    standin.state.backupPolicy = { policy: { schedule: "00 00 23 * * *", retention: { keepWithinSecs: 90 * DAY } } };
    const first = await deploy(request(), context(), {});
    const next = await deploy(release("0.1.10"), context(), first);
    const kept = standin.app(LOCATION)!.backups.find((b) => b.id === next.backupId);
    const label = "rollback point: 0.1.9 before 0.1.10";
    expect(kept).toMatchObject({ packageVersion: "0.1.9", label, preserveSecs: 90 * DAY });
  });
});
