/**
 * The Cloudron API stand-in (engine/standin/cloudronApi.ts) against the spec's shapes, with
 * plain HTTP requests: auth, asynchronous tasks, env, backups, body validation, and every
 * injectable fault. The field lists below are read from cloudron-openapi.json (January 2026).
 */
import * as crypto from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startCloudronApi, type CloudronApi } from "../engine/standin/cloudronApi";
import { readFixtureManifest } from "../engine/fixtureManifest";

// The app's real manifest, with the version these tests name and the image a custom app needs.
const MANIFEST = {
  ...readFixtureManifest(),
  version: "0.1.9",
  dockerImage: "registry.example/communityrule/community-rule@sha256:" + "a".repeat(64),
};

// From components.schemas.app (the fields the stand-in shows).
const APP_FIELDS = new Set([
  "id",
  "appStoreId",
  "installationState",
  "error",
  "runState",
  "health",
  "taskId",
  "subdomain",
  "domain",
  "fqdn",
  "manifest",
  "env",
  "enableBackup",
  "enableAutomaticUpdate",
  "accessRestriction",
  "memoryLimit",
  "label",
  "tags",
  "creationTime",
  "updateTime",
  "ts",
  "debugMode",
  "notes",
]);
// From components.schemas.Task.
const TASK_FIELDS = new Set([
  "id",
  "type",
  "percent",
  "message",
  "error",
  "active",
  "pending",
  "creationTime",
  "result",
  "ts",
  "success",
]);

let api: CloudronApi;
let token: string;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function call(
  method: string,
  path: string,
  opts: { body?: unknown; auth?: string | null; query?: string; rawBody?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const auth = opts.auth === undefined ? token : opts.auth;
  if (auth !== null) headers.authorization = `Bearer ${auth}`;
  const res = await fetch(`${api.url}/api/v1${path}${opts.query ?? ""}`, {
    method,
    headers,
    body: opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function waitTask(
  taskId: unknown,
): Promise<{ polls: Array<Record<string, unknown>>; final: Record<string, unknown> }> {
  const polls: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 200; i++) {
    const r = await call("GET", `/tasks/${String(taskId)}`);
    expect(r.status).toBe(200);
    polls.push(r.body);
    if (r.body.active === false) return { polls, final: r.body };
    await new Promise((res) => setTimeout(res, 40));
  }
  throw new Error(`task ${String(taskId)} never finished`);
}

const installBody = (extra: Record<string, unknown> = {}) => ({
  manifest: MANIFEST,
  subdomain: "staging",
  domain: "communityrule.info",
  accessRestriction: null,
  env: { SESSION_SECRET: "s3cret-value-1234", SMTP_FROM: "Community Rule <hello@communityrule.info>" },
  ...extra,
});

async function installed(): Promise<string> {
  const r = await call("POST", "/apps", { body: installBody() });
  expect(r.status).toBe(202);
  await waitTask(r.body.taskId);
  return String(r.body.id);
}

beforeEach(async () => {
  token = `tok-${crypto.randomBytes(8).toString("hex")}`;
  api = await startCloudronApi({ tokens: [{ token, role: "owner" }], taskMs: 120 });
});
afterEach(async () => {
  await api.stop();
});

describe("auth", () => {
  it("answers 401 with the spec's error shape without a token or with a wrong one", async () => {
    for (const auth of [null, "wrong-token"]) {
      const r = await call("GET", "/profile", { auth });
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ status: "Unauthorized", message: auth ? "Token invalid or expired" : "Token required" });
    }
  });

  it("GET /profile reports the token's role; a user role may read its profile but not apps (403)", async () => {
    expect((await call("GET", "/profile")).body.role).toBe("owner");
    api.state.tokens.push({ token: "user-token-123", role: "user" });
    expect((await call("GET", "/profile", { auth: "user-token-123" })).body.role).toBe("user");
    const apps = await call("GET", "/apps", { auth: "user-token-123" });
    expect(apps.status).toBe(403);
    expect(apps.body.message).toBe("Role user is not allowed to manage apps");
  });

  it("a read-only token may GET but any POST is 403", async () => {
    api.state.tokens.push({ token: "ro-token-1234", role: "admin", readonly: true });
    expect((await call("GET", "/apps", { auth: "ro-token-1234" })).status).toBe(200);
    const r = await call("POST", "/apps", { auth: "ro-token-1234", body: installBody() });
    expect(r.status).toBe(403);
    expect(api.state.apps).toEqual([]);
  });

  it("the access_token query parameter authenticates (as on the server) but is recorded as a violation", async () => {
    const r = await call("GET", "/apps", { auth: null, query: `?access_token=${token}` });
    expect(r.status).toBe(200);
    expect(api.state.violations).toEqual([
      "GET /api/v1/apps: token sent as the access_token query parameter (it ends up in server logs)",
    ]);
    expect(api.calls()[0].query).toEqual({ access_token: token });
  });
});

describe("install and tasks", () => {
  it(
    "install answers 202 {id, taskId:int}; the app is pending" +
      " until the task ends; progress has percent and message",
    async () => {
      const r = await call("POST", "/apps", { body: installBody() });
      expect(r.status).toBe(202);
      expect(Object.keys(r.body).sort()).toEqual(["id", "taskId"]);
      expect(typeof r.body.id).toBe("string");
      expect(Number.isInteger(r.body.taskId)).toBe(true);
      const pending = await call("GET", `/apps/${String(r.body.id)}`);
      expect(pending.body.installationState).toBe("pending_install");
      expect(pending.body.taskId).toBe(String(r.body.taskId));
      const { polls, final } = await waitTask(r.body.taskId);
      expect(polls.length).toBeGreaterThan(1);
      expect(polls[0].active).toBe(true);
      expect(polls[0].percent).toBeGreaterThanOrEqual(1);
      expect(polls[0].percent).toBeLessThanOrEqual(99);
      expect(typeof polls[0].message).toBe("string");
      for (const p of polls) for (const k of Object.keys(p)) expect(TASK_FIELDS.has(k), `Task field ${k}`).toBe(true);
      expect(final).toMatchObject({
        id: String(r.body.taskId),
        active: false,
        success: true,
        error: null,
        percent: 100,
      });
      const app = (await call("GET", `/apps/${String(r.body.id)}`)).body;
      for (const k of Object.keys(app)) expect(APP_FIELDS.has(k), `app field ${k}`).toBe(true);
      expect(app).toMatchObject({
        installationState: "installed",
        runState: "running",
        health: "healthy",
        taskId: null,
        fqdn: "staging.communityrule.info",
        subdomain: "staging",
        domain: "communityrule.info",
      });
      expect(app.env).toEqual(installBody().env);
      expect(api.app("staging.communityrule.info")!.restarts).toBe(1);
    },
  );

  it("GET /apps lists every app with its env (why a client must never print raw answers)", async () => {
    await installed();
    api.addApp({
      fqdn: "wiki.communityrule.info",
      manifest: { id: "org.wiki", version: "1.0.0", dockerImage: "wiki:1" },
      env: { WIKI_SECRET: "other-apps-secret" },
    });
    const list = await call("GET", "/apps");
    const apps = list.body.apps as Array<Record<string, unknown>>;
    expect(apps.map((a) => a.fqdn)).toEqual(["staging.communityrule.info", "wiki.communityrule.info"]);
    expect(apps[1].env).toEqual({ WIKI_SECRET: "other-apps-secret" });
  });

  it("GET /apps/:id/task: the running task with error as a string; 400 'No active task' when idle", async () => {
    const r = await call("POST", "/apps", { body: installBody() });
    const running = await call("GET", `/apps/${String(r.body.id)}/task`);
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({ id: String(r.body.taskId), active: true, error: null, args: [r.body.id] });
    await waitTask(r.body.taskId);
    const idle = await call("GET", `/apps/${String(r.body.id)}/task`);
    expect(idle).toEqual({ status: 400, body: { status: "Bad Request", message: "No active task" } });
  });

  it("a second mutating call while a task runs answers 409 naming the task", async () => {
    const r = await call("POST", "/apps", { body: installBody() });
    const busy = await call("POST", `/apps/${String(r.body.id)}/configure/env`, { body: { env: {} } });
    expect(busy.status).toBe(409);
    expect(busy.body.message).toBe(`Locked by task ${String(r.body.taskId)} : pending_install / stopped`);
  });

  it("install refuses a location in use (409) and a domain the server does not have (404)", async () => {
    await installed();
    expect((await call("POST", "/apps", { body: installBody() })).body).toEqual({
      status: "Conflict",
      message: "Location 'staging.communityrule.info' is in use",
    });
    const r = await call("POST", "/apps", { body: installBody({ domain: "example.org" }) });
    expect(r).toEqual({ status: 404, body: { status: "Not Found", message: "No such domain: example.org" } });
  });

  it("the apex: subdomain '' installs at the domain itself", async () => {
    const r = await call("POST", "/apps", { body: installBody({ subdomain: "" }) });
    await waitTask(r.body.taskId);
    expect(api.app("communityrule.info")?.subdomain).toBe("");
  });
});

describe("request bodies are checked against the spec's shapes", () => {
  it.each([
    ["accessRestriction missing", { accessRestriction: undefined }, "accessRestriction: is required"],
    [
      "env value not a string",
      { env: { PORT: 3000 } },
      'env.PORT: must be a string (the spec: "an object where the values are strings")',
    ],
    ["subdomain not a string", { subdomain: 7 }, "subdomain: must be a string"],
    [
      "manifest without dockerImage",
      { manifest: { ...MANIFEST, dockerImage: undefined } },
      "manifest.dockerImage: is required for a custom app (no app store package to take it from)",
    ],
    [
      "manifest without version",
      { manifest: { ...MANIFEST, version: undefined } },
      expect.stringMatching(/^manifest: is not a valid CloudronManifest: .*version/),
    ],
  ])("install with %s → 400 naming the field, and a violation", async (_name, patch, message) => {
    const r = await call("POST", "/apps", { body: JSON.parse(JSON.stringify(installBody(patch))) });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ status: "Bad Request", message });
    expect(api.state.violations).toHaveLength(1);
    expect(api.state.apps).toEqual([]);
  });

  it("an unknown field is accepted (OpenAPI allows it) but recorded as a violation", async () => {
    const id = await installed();
    const r = await call("POST", `/apps/${id}/update`, {
      body: { manifest: { ...MANIFEST, version: "0.1.10" }, skip_backup: true },
    });
    expect(r.status).toBe(202);
    expect(api.state.violations).toEqual(["updateApp: body.skip_backup is not a field of this request in the spec"]);
  });

  it("update wants exactly one of manifest and appStoreId", async () => {
    const id = await installed();
    const r = await call("POST", `/apps/${id}/update`, { body: { manifest: MANIFEST, appStoreId: "" } });
    expect(r.body).toEqual({
      status: "Bad Request",
      message: "manifest: exactly one of manifest or appStoreId is required",
    });
  });

  it("a body that is not JSON is 400", async () => {
    const r = await call("POST", "/apps", { rawBody: "{not json" });
    expect(r.body).toEqual({ status: "Bad Request", message: "body: is not valid JSON" });
  });
});

describe("update, env, backups, uninstall, clone", () => {
  it("update takes a pre-update backup (in GET /apps/:id/backups) and runs the new manifest", async () => {
    const id = await installed();
    const r = await call("POST", `/apps/${id}/update`, {
      body: { manifest: { ...MANIFEST, version: "0.1.10", dockerImage: "img:0.1.10" } },
    });
    expect(r.status).toBe(202);
    expect(Object.keys(r.body)).toEqual(["taskId"]);
    expect(api.app(id)!.installationState).toBe("pending_update");
    await waitTask(r.body.taskId);
    const backups = (await call("GET", `/apps/${id}/backups`)).body.backups as Array<Record<string, unknown>>;
    expect(backups).toHaveLength(1);
    expect(backups[0].id).toMatch(new RegExp(`^app_${id}_v0\\.1\\.9_[0-9a-f]{8}$`));
    expect(backups[0]).toMatchObject({ packageVersion: "0.1.9", type: "app", state: "normal" });
    expect((backups[0].manifest as Record<string, unknown>).dockerImage).toBe(MANIFEST.dockerImage);
    const app = api.app(id)!;
    expect(app.manifest.version).toBe("0.1.10");
    expect(app.manifest.dockerImage).toBe("img:0.1.10");
    expect(app.restarts).toBe(2);
  });

  it("skipBackup: true updates without a backup and is recorded as a violation", async () => {
    const id = await installed();
    const r = await call("POST", `/apps/${id}/update`, {
      body: { manifest: { ...MANIFEST, version: "0.1.10" }, skipBackup: true },
    });
    await waitTask(r.body.taskId);
    expect(api.app(id)!.backups).toEqual([]);
    expect(api.state.violations).toEqual([
      "updateApp: skipBackup: true sent for staging.communityrule.info (the pre-update backup must be kept)",
    ]);
  });

  it("a lower version is refused unless force", async () => {
    const id = await installed();
    const r = await call("POST", `/apps/${id}/update`, { body: { manifest: { ...MANIFEST, version: "0.1.8" } } });
    expect(r.status).toBe(400);
    expect(String(r.body.message)).toMatch(/^Downgrades are not permitted/);
    expect(
      (await call("POST", `/apps/${id}/update`, { body: { manifest: { ...MANIFEST, version: "0.1.8" }, force: true } }))
        .status,
    ).toBe(202);
  });

  it("configure/env replaces the whole map in one task and one restart", async () => {
    const id = await installed();
    const r = await call("POST", `/apps/${id}/configure/env`, {
      body: { env: { SMTP_FROM: "x <x@y.z>", NEW_KEY: "a=b=c\nline2" } },
    });
    expect(r.status).toBe(202);
    await waitTask(r.body.taskId);
    expect(api.app(id)!.env).toEqual({ SMTP_FROM: "x <x@y.z>", NEW_KEY: "a=b=c\nline2" });
    expect(api.app(id)!.restarts).toBe(2);
    expect(api.state.restartLog.map((e) => e.reason)).toEqual(["install", "configureEnv"]);
  });

  it("uninstall removes the app when its task ends; clone from a backup answers 201 {id, taskId}", async () => {
    const id = await installed();
    const up = await call("POST", `/apps/${id}/update`, { body: { manifest: { ...MANIFEST, version: "0.1.10" } } });
    await waitTask(up.body.taskId);
    api.app(id)!.seedRuns = 1;
    const backupId = api.app(id)!.backups[0].id;
    const c = await call("POST", `/apps/${id}/clone`, {
      body: { backupId, subdomain: "restore-drill-20261123", domain: "communityrule.info" },
    });
    expect(c.status).toBe(201);
    expect(Object.keys(c.body).sort()).toEqual(["id", "taskId"]);
    await waitTask(c.body.taskId);
    const clone = api.app("restore-drill-20261123.communityrule.info")!;
    expect(clone).toMatchObject({
      installationState: "installed",
      runState: "running",
      seedRuns: 1,
      clonedFrom: backupId,
    });
    expect(clone.manifest.version).toBe("0.1.9");
    const u = await call("POST", `/apps/${String(c.body.id)}/uninstall`);
    expect(u.status).toBe(202);
    await waitTask(u.body.taskId);
    expect(api.state.apps.map((a) => a.fqdn)).toEqual(["staging.communityrule.info"]);
    expect((await call("GET", `/apps/${String(c.body.id)}`)).status).toBe(404);
  });

  it(
    "an on-demand backup is a task that lists a new backup; preserveSecs is" +
      " kept; the backup outlives an uninstall and restores into another app",
    async () => {
      const id = await installed();
      const b = await call("POST", `/apps/${id}/backup`);
      expect(b.status).toBe(202);
      expect(Object.keys(b.body)).toEqual(["taskId"]);
      expect(api.app(id)!.installationState).toBe("pending_backup");
      await waitTask(b.body.taskId);
      const backupId = api.app(id)!.backups[0].id;
      expect(
        (await call("POST", `/apps/${id}/backups/${backupId}`, { body: { preserveSecs: 7776000, label: "final" } }))
          .status,
      ).toBe(200);
      expect((await call("GET", `/apps/${id}/backups`)).body.backups).toEqual([
        expect.objectContaining({ id: backupId, preserveSecs: 7776000, label: "final" }),
      ]);
      expect((await call("POST", `/apps/${id}/backups/no-such-backup`, { body: { preserveSecs: 1 } })).status).toBe(
        404,
      );
      expect((await call("POST", `/apps/${id}/backups/${backupId}`, { body: { preserveSecs: "long" } })).status).toBe(
        400,
      );
      api.state.violations.length = 0;
      await waitTask((await call("POST", `/apps/${id}/uninstall`)).body.taskId);
      expect(api.state.detachedBackups.map((x) => x.id)).toEqual([backupId]);
      // A new app at the same place, then the backup restored into it: the backup's manifest, a restart.
      const other = await call("POST", "/apps", {
        body: {
          appStoreId: "",
          manifest: { ...MANIFEST, version: "0.1.10" },
          subdomain: "staging",
          domain: "communityrule.info",
          accessRestriction: null,
        },
      });
      await waitTask(other.body.taskId);
      const newId = String(other.body.id);
      expect((await call("POST", `/apps/${newId}/restore`, { body: {} })).status).toBe(400);
      api.state.violations.length = 0;
      expect((await call("POST", `/apps/${newId}/restore`, { body: { backupId: "gone" } })).status).toBe(424);
      const r = await call("POST", `/apps/${newId}/restore`, { body: { backupId } });
      expect(r.status).toBe(202);
      expect(api.app(newId)!.installationState).toBe("pending_restore");
      await waitTask(r.body.taskId);
      expect(api.app(newId)).toMatchObject({
        installationState: "installed",
        restoredFrom: backupId,
        manifest: { version: "0.1.9" },
      });
    },
  );

  it("GET /backups/policy and configure/automatic_backup", async () => {
    expect((await call("GET", "/backups/policy")).body).toEqual({
      policy: { schedule: "00 00 23 * * *", retention: { keepWithinSecs: 2592000 } },
    });
    const id = await installed();
    const r = await call("POST", `/apps/${id}/configure/automatic_backup`, { body: { enable: false } });
    expect(r.status).toBe(200);
    expect(api.app(id)!.enableBackup).toBe(false);
  });
});

describe("tags and logs", () => {
  async function text(path: string, query = ""): Promise<{ status: number; type: string; body: string }> {
    const res = await fetch(`${api.url}/api/v1${path}${query}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
  }

  it(
    "configure/tags answers 200 with no task: the app is" + " not busy and not restarted; GET /apps shows the tags",
    async () => {
      const id = await installed();
      const r = await call("POST", `/apps/${id}/configure/tags`, {
        body: { tags: ["communityrule-stack:staging", "office"] },
      });
      expect(r.status).toBe(200);
      expect(r.body.taskId).toBeUndefined();
      expect(api.app(id)!.installationState).toBe("installed");
      expect(api.app(id)!.restarts).toBe(1);
      const list = await call("GET", "/apps");
      expect((list.body.apps as Array<Record<string, unknown>>)[0].tags).toEqual([
        "communityrule-stack:staging",
        "office",
      ]);
    },
  );

  it("configure/tags refuses what the server's validateTags refuses (empty, too long, not an array)", async () => {
    const id = await installed();
    expect((await call("POST", `/apps/${id}/configure/tags`, { body: { tags: [""] } })).status).toBe(400);
    expect((await call("POST", `/apps/${id}/configure/tags`, { body: { tags: ["x".repeat(129)] } })).status).toBe(400);
    expect((await call("POST", `/apps/${id}/configure/tags`, { body: { tags: "a" } })).status).toBe(400);
    expect(api.app(id)!.tags).toEqual([]);
  });

  it(
    "GET /apps/:id/logs answers the last N lines as NDJSON" + " {realtimeTimestamp (µs), message, source}; default 10",
    async () => {
      const id = await installed();
      const app = api.app(id)!;
      for (let i = 0; i < 15; i++) app.logLines.push(`2026-05-21T15:00:${String(i).padStart(2, "0")}.000Z line ${i}`);
      const r = await text(`/apps/${id}/logs`, "?format=json");
      expect(r.status).toBe(200);
      expect(r.type).toBe("application/x-logs");
      const lines = r.body
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { realtimeTimestamp: number; message: string; source: string });
      expect(lines.map((l) => l.message)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14].map((i) => `line ${i}`));
      expect(lines[0]).toEqual({
        realtimeTimestamp: Date.parse("2026-05-21T15:00:05.000Z") * 1000,
        message: "line 5",
        source: id,
      });
      expect((await text(`/apps/${id}/logs`, "?lines=2&format=short")).body).toBe(
        "2026-05-21T15:00:13.000Z line 13\n2026-05-21T15:00:14.000Z line 14\n",
      );
      expect((await text(`/apps/${id}/logs`, "?lines=abc")).status).toBe(400);
    },
  );

  it("GET /tasks/:id/logs: the task's own lines, its failure last; 404 for an unknown task", async () => {
    api.injectFault({ operation: "installApp", kind: "taskFails", message: "Could not pull image" });
    const r = await call("POST", "/apps", { body: installBody() });
    await waitTask(r.body.taskId);
    const logs = await text(`/tasks/${String(r.body.taskId)}/logs`, "?lines=100&format=json");
    const messages = logs.body
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { message: string }).message);
    expect(messages[0]).toMatch(/^install of app .* Queued$/);
    expect(messages.at(-1)).toBe("task failed: Could not pull image");
    expect((await text("/tasks/99999/logs")).status).toBe(404);
  });
});

describe("injected faults", () => {
  it.each(["401", "403", "404", "500"] as const)(
    "%s on one operation answers that status once, with the spec's error shape",
    async (kind) => {
      const id = await installed();
      api.injectFault({ operation: "getApp", kind });
      const r = await call("GET", `/apps/${id}`);
      expect(r.status).toBe(Number(kind));
      expect(Object.keys(r.body).sort()).toEqual(["message", "status"]);
      expect((await call("GET", `/apps/${id}`)).status).toBe(200);
      expect(
        api
          .calls()
          .filter((c) => c.fault)
          .map((c) => [c.operation, c.fault, c.status]),
      ).toEqual([["getApp", kind, Number(kind)]]);
    },
  );

  it("409: the app is busy with a real backup task for busyMs, then accepts the call", async () => {
    const id = await installed();
    api.injectFault({ operation: "setAppEnv", kind: "409", busyMs: 300 });
    const first = await call("POST", `/apps/${id}/configure/env`, { body: { env: {} } });
    expect(first.status).toBe(409);
    const taskId = api.app(id)!.taskId;
    expect(first.body.message).toBe(`Locked by task ${taskId} : pending_backup / running`);
    expect((await call("GET", `/apps/${id}/task`)).body).toMatchObject({ id: taskId, active: true });
    expect((await call("POST", `/apps/${id}/configure/env`, { body: { env: {} } })).status).toBe(409);
    await new Promise((r) => setTimeout(r, 400));
    expect((await call("POST", `/apps/${id}/configure/env`, { body: { env: {} } })).status).toBe(202);
  });

  it("hang holds the request, then drops the connection (bounded); applied: true performs it first", async () => {
    const id = await installed();
    api.injectFault({ operation: "setAppEnv", kind: "hang", hangMs: 300, applied: true });
    const started = Date.now();
    await expect(call("POST", `/apps/${id}/configure/env`, { body: { env: { A: "1" } } })).rejects.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(api.app(id)!.installationState).toBe("pending_configure");
    await waitTask(api.app(id)!.taskId);
    expect(api.app(id)!.env).toEqual({ A: "1" });
  });

  it("taskFails: the task ends with success false and error.message; the app is left in error, unchanged", async () => {
    const id = await installed();
    api.injectFault({ operation: "updateApp", kind: "taskFails", message: "Backup failed: storage full" });
    const r = await call("POST", `/apps/${id}/update`, { body: { manifest: { ...MANIFEST, version: "0.1.10" } } });
    const { final } = await waitTask(r.body.taskId);
    expect(final).toMatchObject({ active: false, success: false, error: { message: "Backup failed: storage full" } });
    expect(api.app(id)).toMatchObject({ installationState: "error", error: "Backup failed: storage full" });
    expect(api.app(id)!.manifest.version).toBe("0.1.9");
  });

  it("taskNoop: the task succeeds but nothing is applied", async () => {
    const id = await installed();
    api.injectFault({ operation: "updateApp", kind: "taskNoop" });
    const r = await call("POST", `/apps/${id}/update`, { body: { manifest: { ...MANIFEST, version: "0.1.10" } } });
    const { final } = await waitTask(r.body.taskId);
    expect(final.success).toBe(true);
    expect(api.app(id)!.manifest.version).toBe("0.1.9");
  });

  it("envValueDiffers / envDropKey: the server stores something else than asked", async () => {
    const id = await installed();
    api.injectFault({ operation: "setAppEnv", kind: "envValueDiffers", key: "B", value: "not-what-was-asked" });
    let r = await call("POST", `/apps/${id}/configure/env`, { body: { env: { A: "1", B: "2" } } });
    await waitTask(r.body.taskId);
    expect(api.app(id)!.env).toEqual({ A: "1", B: "not-what-was-asked" });
    api.injectFault({ operation: "setAppEnv", kind: "envDropKey", key: "A" });
    r = await call("POST", `/apps/${id}/configure/env`, { body: { env: { A: "1", B: "2" } } });
    await waitTask(r.body.taskId);
    expect(api.app(id)!.env).toEqual({ B: "2" });
  });
});

describe("snapshot and restore (how lifecycle scenarios share one install)", () => {
  it(
    "restore brings back apps, env, backups, faults and" + " knobs, drops held requests, and keeps the call log",
    async () => {
      const id = await installed();
      const saved = api.snapshot();
      const callsAtSnapshot = api.calls().length;

      const update = await call("POST", `/apps/${id}/update`, {
        body: { manifest: { ...MANIFEST, version: "0.1.10" } },
      });
      await waitTask(update.body.taskId);
      expect(api.app(id)!.backups).toHaveLength(1);
      api.state.taskMs = 60_000;
      api.state.unhealthyImages.push("@sha256:");
      api.injectFault({ operation: "getApp", kind: "500" });
      api.injectFault({ operation: "setAppEnv", kind: "hang", hangMs: 5000, applied: true });
      const held = call("POST", `/apps/${id}/configure/env`, { body: { env: { LATE: "1" } } });
      // The held request was applied (a task started) before it hangs; snapshots refuse running tasks.
      await new Promise((r) => setTimeout(r, 100));
      expect(() => api.snapshot()).toThrow(/cannot snapshot while task\(s\) \d+ run/);

      const started = Date.now();
      api.restore(saved);
      await expect(held).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(2000);
      expect(api.app(id)!.manifest.version).toBe("0.1.9");
      expect(api.app(id)!.env).toEqual(installBody().env);
      expect(api.app(id)!.backups).toEqual([]);
      expect(api.app(id)!.installationState).toBe("installed");
      expect(api.state.faults).toEqual([]);
      expect(api.state.taskMs).toBe(120);
      expect(api.state.unhealthyImages).toEqual([]);
      expect((await call("GET", `/apps/${id}`)).status).toBe(200);
      // The record of what happened is not rewound.
      expect(api.calls().length).toBeGreaterThan(callsAtSnapshot + 3);
      expect(api.calls().some((c) => c.operation === "updateApp" && c.status === 202)).toBe(true);
      // The restored server still works: a task runs to its end.
      const env = await call("POST", `/apps/${id}/configure/env`, { body: { env: { AFTER: "1" } } });
      expect(env.status).toBe(202);
      await waitTask(env.body.taskId);
      expect(api.app(id)!.env).toEqual({ AFTER: "1" });
    },
  );
});

describe("the private exec endpoint (for the cloudron exec stand-in)", () => {
  it("plays the seed: counts a run, or fails with the seed's error when SEED_SHOULD_FAIL=1", async () => {
    const id = await installed();
    const exec = (cmd: string[]) =>
      fetch(`${api.url}/__standin__/exec`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          app: "staging.communityrule.info",
          cmd,
          argv: ["exec", "--app", "staging.communityrule.info", "--", ...cmd],
        }),
      }).then((r) => r.json() as Promise<Record<string, unknown>>);
    const seed = ["sh", "-c", 'node prisma/seed.bundle.cjs; echo "__SEED_EXIT__:$?"'];
    expect(await exec(seed)).toEqual({ stdout: "Seeded 12 templates and 40 method facets\n", stderr: "", exitCode: 0 });
    expect(api.app(id)!.seedRuns).toBe(1);
    api.app(id)!.env.SEED_SHOULD_FAIL = "1";
    expect((await exec(seed)).exitCode).toBe(1);
    expect(api.app(id)!.seedRuns).toBe(1);
    expect((await exec(["ls"])).exitCode).toBe(127);
    expect(api.calls().filter((c) => c.operation === "standinExec")).toHaveLength(3);
    // While a task replaces the container, exec answers 409 like any mutating call.
    delete api.app(id)!.env.SEED_SHOULD_FAIL;
    const taskId = api.makeBusy(id, 5000);
    expect(await exec(seed)).toEqual({
      status: "Conflict",
      message: `Locked by task ${taskId} : pending_backup / running`,
    });
    expect(api.app(id)!.seedRuns).toBe(1);
  });
});

describe("what the real server does that a happy path never shows", () => {
  it(
    "an update of an app in debug mode is 409 'debug" + " mode enabled. force to override' while no task runs",
    async () => {
      const id = await installed();
      api.app(id)!.debugMode = { readonlyRootfs: false, cmd: ["/bin/bash"] };
      const r = await call("POST", `/apps/${id}/update`, { body: { manifest: { ...MANIFEST, version: "0.1.10" } } });
      expect(r).toEqual({
        status: 409,
        body: { status: "Conflict", message: "debug mode enabled. force to override" },
      });
      const app = await call("GET", `/apps/${id}`);
      expect([app.body.installationState, app.body.taskId]).toEqual(["installed", null]);
    },
  );

  it("an idle 409 fault refuses without starting any task", async () => {
    const id = await installed();
    api.injectFault({ operation: "setAppEnv", kind: "409", idle: true });
    const r = await call("POST", `/apps/${id}/configure/env`, { body: { env: {} } });
    expect(r).toEqual({
      status: 409,
      body: { status: "Conflict", message: "Domain 'staging.communityrule.info' is in use" },
    });
    expect(api.app(id)!.taskId).toBeNull();
  });

  it("a queued task reads active: false, pending: true, and the app is pending_* meanwhile", async () => {
    const id = await installed();
    // Long enough phases that a loaded machine still sees each of them.
    api.state.queueMs = 1500;
    api.state.taskMs = 1500;
    const r = await call("POST", `/apps/${id}/restart`);
    const first = await call("GET", `/tasks/${String(r.body.taskId)}`);
    expect([first.body.active, first.body.pending, first.body.message]).toEqual([false, true, "Queued"]);
    expect((await call("GET", `/apps/${id}`)).body.installationState).toBe("pending_restart");
    const seen: Array<[unknown, unknown]> = [];
    for (let i = 0; i < 100; i++) {
      const t = (await call("GET", `/tasks/${String(r.body.taskId)}`)).body;
      seen.push([t.active, t.pending]);
      if (t.active === false && t.pending === false) break;
      await new Promise((res) => setTimeout(res, 40));
    }
    // Queued, then running, then over: a client that stops at the first `active: false` stops too early.
    expect(seen[0]).toEqual([false, true]);
    expect(seen).toContainEqual([true, false]);
    expect(seen.at(-1)).toEqual([false, false]);
  });

  it("lists an app's backups page by page, newest first (page, per_page; 25 by default)", async () => {
    const id = await installed();
    const made = Array.from({ length: 27 }, () => api.addBackup(id));
    made.forEach((b, i) => (b.creationTime = new Date(Date.UTC(2026, 0, 1 + i)).toISOString()));
    const ids = (r: Answer) => (r.body.backups as Array<{ id: string }>).map((b) => b.id);
    const newestFirst = [...made].reverse().map((b) => b.id);
    expect(ids(await call("GET", `/apps/${id}/backups`))).toEqual(newestFirst.slice(0, 25));
    expect(ids(await call("GET", `/apps/${id}/backups`, { query: "?page=2" }))).toEqual(newestFirst.slice(25));
    expect(ids(await call("GET", `/apps/${id}/backups`, { query: "?page=3&per_page=10" }))).toEqual(
      newestFirst.slice(20, 27),
    );
    expect((await call("GET", `/apps/${id}/backups`, { query: "?page=0" })).status).toBe(400);
  });

  it("labels and preserves one backup (POST /apps/:id/backups/:backupId); an unknown backup is 404", async () => {
    const id = await installed();
    const b = api.addBackup(id);
    const r = await call("POST", `/apps/${id}/backups/${b.id}`, {
      body: { label: "rollback point", preserveSecs: 2592000 },
    });
    expect(r.status).toBe(200);
    const listed = (await call("GET", `/apps/${id}/backups`)).body.backups as Array<Record<string, unknown>>;
    expect(listed[0]).toMatchObject({ id: b.id, label: "rollback point", preserveSecs: 2592000 });
    expect((await call("POST", `/apps/${id}/backups/nope`, { body: { label: "x", preserveSecs: 1 } })).status).toBe(
      404,
    );
  });

  it("backup policy shapes: as set, or 404 for a server without the route", async () => {
    api.state.backupPolicy = { policy: { schedule: "00 00 23 * * *", retention: { keepDaily: 7, keepWeekly: 4 } } };
    expect((await call("GET", "/backups/policy")).body).toEqual(api.state.backupPolicy);
    api.state.backupPolicy = null;
    expect((await call("GET", "/backups/policy")).status).toBe(404);
  });

  it("GET /cloudron/status answers the version without a token; GET /tokens shows the token's scope", async () => {
    expect(await call("GET", "/cloudron/status", { auth: null })).toEqual({ status: 200, body: { version: "9.0.2" } });
    api.state.tokens.push({ token: "ro-token-5678", role: "admin", readonly: true });
    const list = await call("GET", "/tokens", { auth: "ro-token-5678" });
    expect(list.body.tokens).toEqual([expect.objectContaining({ accessToken: "ro-token-5678", scope: { "*": "r" } })]);
    expect(((await call("GET", "/tokens")).body.tokens as Array<{ scope: unknown }>)[0].scope).toEqual({ "*": "rw" });
  });

  it("an app whose answer has odd field values shows them in GET /apps", async () => {
    api.addApp({
      fqdn: "wiki.communityrule.info",
      manifest: { id: "org.wiki", version: "1.0.0", dockerImage: "w" },
      shownAs: { installationState: 7, manifest: null },
    });
    const apps = (await call("GET", "/apps")).body.apps as Array<Record<string, unknown>>;
    expect(apps[0]).toMatchObject({ fqdn: "wiki.communityrule.info", installationState: 7, manifest: null });
    expect(apps[0]).not.toHaveProperty("shownAs");
  });
});
