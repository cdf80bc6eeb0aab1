/**
 * The Cloudron API client against small real loopback HTTP servers started here: the exact
 * message of each error class, read retries counted, mutating calls never re-sent, schema
 * mismatches naming endpoint and field, and the token (and every app's env) kept out of messages.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { apiBaseUrl, CloudronApi, CloudronApiError, resolveToken, type Clock } from "../cloudron/client";
import { taskInfoSchema } from "../cloudron/wire";

const TOKEN = `tok-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const OTHER_APP_SECRET = `other-secret-${Math.random().toString(36).slice(2)}`;

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}
type Handler = (req: Seen, res: http.ServerResponse) => void;

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((r) => {
          s.closeAllConnections();
          s.close(() => r());
        }),
    ),
  );
});

/**
 * A loopback server answering with `handler`; returns its URL and the requests it saw. Unless
 * `tokens` is set, GET /tokens answers 404 (a server that does not show token scopes) and is not
 * counted in `seen`.
 */
async function serve(handler: Handler, o: { tokens?: boolean } = {}): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (!o.tokens && req.url === "/api/v1/tokens")
        return send(res, 404, { status: "Not Found", message: "no such route" });
      const s = { method: req.method ?? "", url: req.url ?? "", auth: req.headers.authorization, body };
      seen.push(s);
      handler(s, res);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** Virtual time: sleeps advance the clock instantly, so bounded waits finish in milliseconds. */
function fastClock(): Clock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

function client(url: string, extra: Partial<ConstructorParameters<typeof CloudronApi>[0]> = {}) {
  const lines: string[] = [];
  const api = new CloudronApi({
    server: url,
    token: TOKEN,
    taskTimeoutSeconds: 5,
    busyWaitSeconds: 3,
    requestTimeoutMs: 300,
    pollIntervalMs: 1000,
    clock: fastClock(),
    log: (l) => lines.push(l),
    ...extra,
  });
  return { api, lines };
}

async function failure(p: Promise<unknown>): Promise<CloudronApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CloudronApiError);
  const e = err as CloudronApiError;
  expect(e.message).not.toContain(TOKEN);
  return e;
}

const APP = {
  id: "app-1",
  installationState: "installed",
  runState: "running",
  health: "healthy",
  error: null,
  taskId: null,
  subdomain: "staging",
  domain: "communityrule.info",
  fqdn: "staging.communityrule.info",
  manifest: { id: "com.medlab.communityrule", version: "0.1.9", dockerImage: "r/x:0.1.9" },
  env: { SMTP_FROM: "a@b.c" },
  enableBackup: true,
};

describe("apiBaseUrl", () => {
  it.each([
    ["my.medlab.host", "https://my.medlab.host/api/v1"],
    ["http://127.0.0.1:4567", "http://127.0.0.1:4567/api/v1"],
    ["http://localhost:80/", "http://localhost/api/v1"],
    ["http://[::1]:9000", "http://[::1]:9000/api/v1"],
    ["https://my.medlab.host", "https://my.medlab.host/api/v1"],
  ])("%s → %s", (server, url) => {
    expect(apiBaseUrl(server)).toBe(url);
  });

  it("refuses plain http to a non-loopback host", () => {
    expect(() => apiBaseUrl("http://my.medlab.host")).toThrow(
      "communityrule:cloudronServer: plain http is allowed only for a loopback" +
        " stand-in (127.0.0.1, localhost, [::1]); use the host name, e.g. my.medlab.host",
    );
  });
});

describe("CloudronApi requests", () => {
  it("sends the token as a Bearer header and never as access_token", async () => {
    const s = await serve((_req, res) => send(res, 200, { apps: [APP] }));
    const { api } = client(s.url);
    const apps = await api.listApps("deploy");
    expect(apps.map((a) => a.id)).toEqual(["app-1"]);
    expect(s.seen).toHaveLength(1);
    expect(s.seen[0].auth).toBe(`Bearer ${TOKEN}`);
    expect(s.seen[0].url).toBe("/api/v1/apps");
    expect(s.seen[0].url).not.toContain("access_token");
  });

  it("401: names the token and how to create one, without the token", async () => {
    const s = await serve((_req, res) => send(res, 401, { status: "Unauthorized", message: `bad token ${TOKEN}` }));
    const e = await failure(client(s.url).api.getProfile("deploy"));
    expect(e.kind).toBe("token");
    expect(e.message).toBe(
      `deploy: Cloudron rejected the API token (401 on GET /profile:` +
        ` bad token [masked]). Create a token in the dashboard: ` +
        `Profile → API Tokens → "Read and Write", then \`pulumi` +
        ` config set --secret communityrule:cloudronToken <token>\` ` +
        `(or run \`cloudron login ${s.url}\`).`,
    );
    expect(s.seen).toHaveLength(1);
  });

  it("403: names the role and the readonly token", async () => {
    const s = await serve((_req, res) => send(res, 403, { status: "Forbidden", message: "Token is readonly" }));
    const e = await failure(
      client(s.url).api.post("/apps/app-1/configure/env", { env: {} }, taskInfoSchema, { step: "env", appId: "app-1" }),
    );
    expect(e.message).toBe(
      `env: the token may not POST /apps/app-1/configure/env (403: Token is` +
        ` readonly). Deploying needs a "Read and Write" token (not "Readonly") ` +
        `of a user whose role is owner or admin (dashboard → Users).`,
    );
  });

  it("404: names the call", async () => {
    const s = await serve((_req, res) => send(res, 404, { status: "Not Found", message: "No such app" }));
    const e = await failure(client(s.url).api.getApp("gone", "uninstall"));
    expect(e.kind).toBe("not_found");
    expect(e.message).toBe(`uninstall: GET /apps/gone not found on ${s.url} (404: No such app).`);
  });

  it("connection refused: cannot reach the server, no retries", async () => {
    const s = await serve((_req, res) => send(res, 200, {}));
    const url = s.url;
    await new Promise<void>((r) => servers.pop()!.close(() => r()));
    const { api, lines } = client(url);
    const e = await failure(api.listApps("preview"));
    expect(e.kind).toBe("unreachable");
    expect(e.message).toBe(
      `preview: cannot reach ${url} (connection refused). Check communityrule:cloudronServer for a` +
        ` typo (it is the dashboard host, e.g. my.medlab.host) and your network; nothing was changed.`,
    );
    expect(lines).toEqual([]);
  });

  it("a name that does not resolve: cannot reach it", async () => {
    const { api } = client("my.medlab.invalid");
    const e = await failure(api.getProfile("preview"));
    expect(e.message).toBe(
      "preview: cannot reach my.medlab.invalid (the name does not resolve). Check communityrule:cloudronServer" +
        " for a typo (it is the dashboard host, e.g. my.medlab.host) and your network; nothing was changed.",
    );
  });

  it("retries a read on 5xx with exponential backoff, then succeeds", async () => {
    let n = 0;
    const s = await serve((_req, res) =>
      ++n < 3 ? send(res, 502, { status: "Bad Gateway", message: "upstream" }) : send(res, 200, APP),
    );
    const clock = fastClock();
    const { api } = client(s.url, { clock });
    const app = await api.getApp("app-1", "deploy");
    expect(app.fqdn).toBe("staging.communityrule.info");
    expect(s.seen).toHaveLength(3);
    expect(clock.slept).toEqual([500, 1000]);
  });

  it("gives up on a read after the bounded number of retries", async () => {
    const s = await serve((_req, res) => send(res, 500, { status: "Internal Server Error", message: "db down" }));
    const e = await failure(client(s.url).api.getApp("app-1", "deploy"));
    expect(s.seen).toHaveLength(4);
    expect(e.kind).toBe("server");
    expect(e.message).toBe(
      `deploy: ${s.url} answered 500 to GET /apps/app-1 (db down). Gave up after 4 attempts; try again later.`,
    );
  });

  it("retries a read that times out", async () => {
    let n = 0;
    const s = await serve((_req, res) => {
      if (++n === 1) return; // hang: the client's own timeout cuts it off
      send(res, 200, APP);
    });
    const app = await client(s.url).api.getApp("app-1", "deploy");
    expect(app.id).toBe("app-1");
    expect(s.seen).toHaveLength(2);
  });
});

describe("CloudronApi mutating calls", () => {
  it("never re-sends a POST after a 5xx: re-reads instead and fails saying nothing was applied", async () => {
    const s = await serve((_req, res) => send(res, 500, { status: "Internal Server Error", message: "oops" }));
    let recovered = 0;
    const e = await failure(
      client(s.url).api.post("/apps/app-1/update", { manifest: {} }, taskInfoSchema, {
        step: "update",
        appId: "app-1",
        recover: async () => {
          recovered++;
          return undefined;
        },
      }),
    );
    expect(s.seen.filter((r) => r.method === "POST")).toHaveLength(1);
    expect(recovered).toBe(1);
    expect(e.kind).toBe("not_applied");
    expect(e.message).toBe(
      "update: POST /apps/app-1/update got no clear answer (HTTP 500) and the app shows no task from it," +
        " so it was not applied; it was NOT re-sent. Check the app in the dashboard, then run up again.",
    );
  });

  it("after a POST timeout follows the task the re-read found, without re-sending", async () => {
    const s = await serve(() => undefined); // never answers
    const { api, lines } = client(s.url);
    const r = await api.post("/apps/app-1/configure/env", { env: {} }, taskInfoSchema, {
      step: "env",
      appId: "app-1",
      recover: async () => ({ taskId: "77" }),
    });
    expect(r).toEqual({ taskId: "77" });
    expect(s.seen).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        /^env: POST \/apps\/app-1\/configure\/env got no clear answer \(no response/.source +
          / within 0\.3s\), but the app shows the task it started; following that task$/.source,
      ),
    );
  });

  it("409 busy: waits until the app is idle, then sends once more (nothing was applied)", async () => {
    let posts = 0;
    let reads = 0;
    const s = await serve((req, res) => {
      if (req.method === "POST")
        return ++posts === 1
          ? send(res, 409, { status: "Conflict", message: "Locked by task 12" })
          : send(res, 202, { taskId: 13 });
      reads++;
      send(res, 200, reads < 3 ? { ...APP, installationState: "pending_backup", taskId: "12" } : APP);
    });
    const { api, lines } = client(s.url);
    const r = await api.post("/apps/app-1/configure/env", { env: {} }, taskInfoSchema, { step: "env", appId: "app-1" });
    expect(r).toEqual({ taskId: "13" });
    expect(posts).toBe(2);
    expect(reads).toBe(3);
    expect(lines).toEqual([
      'env: POST /apps/app-1/configure/env answered 409 ("Locked by task 12"):' +
        " staging.communityrule.info is busy with task 12 (pending_backup); waiting",
      "env: staging.communityrule.info is busy with task 12 (pending_backup); waiting, 0 s so far",
    ]);
  });

  it(
    "409 busy for longer than busyWaitSeconds: fails naming the" +
      " task and quoting the server, never sleeping past the bound",
    async () => {
      const s = await serve((req, res) =>
        req.method === "POST"
          ? send(res, 409, { status: "Conflict", message: "Locked" })
          : send(res, 200, { ...APP, installationState: "pending_update", taskId: "12" }),
      );
      const clock = fastClock();
      const e = await failure(
        client(s.url, { busyWaitSeconds: 2, clock }).api.post("/apps/app-1/uninstall", {}, taskInfoSchema, {
          step: "uninstall",
          appId: "app-1",
        }),
      );
      expect(e.kind).toBe("busy");
      expect(e.message).toBe(
        "uninstall: staging.communityrule.info is busy with task 12" +
          " (pending_update) and stayed busy for 2 s (communityrule:busyWaitSeconds" +
          ' = 2); the server said (409): "Locked". Wait for that task' +
          " in the dashboard, then run up again; nothing was changed.",
      );
      // A pause after the first read, then 250, 500 and the 1000 ms left to the bound: the last look is at 2 s.
      expect(clock.slept).toEqual([250, 250, 500, 1000]);
      expect(s.seen.filter((r) => r.method === "POST")).toHaveLength(1);
    },
  );

  it(
    "409 on an idle app: read once, then fails at once with" + " the server's message and the step (never re-sent)",
    async () => {
      const said = "debug mode enabled. force to override";
      const s = await serve((req, res) =>
        req.method === "POST" ? send(res, 409, { status: "Conflict", message: said }) : send(res, 200, APP),
      );
      const clock = fastClock();
      const e = await failure(
        client(s.url, { busyWaitSeconds: 600, clock }).api.post("/apps/app-1/update", {}, taskInfoSchema, {
          step: "update",
          appId: "app-1",
        }),
      );
      expect(e.kind).toBe("conflict");
      expect(e.message).toBe(
        `update: Cloudron refused POST /apps/app-1/update (409:` +
          ` "${said}") while staging.communityrule.info runs no task ` +
          "(installationState installed, runState running), so waiting would not help; nothing was changed. " +
          "Resolve what the server says in the dashboard (the app → its settings), then run up again.",
      );
      expect(s.seen.map((r) => `${r.method} ${r.url}`)).toEqual([
        "POST /api/v1/apps/app-1/update",
        "GET /api/v1/apps/app-1",
      ]);
      expect(clock.slept).toEqual([]);
    },
  );

  it("409 while the app's task is queued (active: false, pending: true): waits for it, then sends again", async () => {
    let posts = 0;
    let taskReads = 0;
    const s = await serve((req, res) => {
      if (req.method === "POST")
        return ++posts === 1
          ? send(res, 409, { status: "Conflict", message: "Locked" })
          : send(res, 202, { taskId: 31 });
      if (req.url === "/api/v1/tasks/30") {
        taskReads++;
        return send(
          res,
          200,
          taskReads < 3
            ? { id: "30", active: false, pending: true, percent: 1, message: "Queued" }
            : { id: "30", active: false, pending: false, success: true },
        );
      }
      send(res, 200, { ...APP, taskId: taskReads < 3 ? "30" : null });
    });
    const { api, lines } = client(s.url);
    expect(await api.post("/apps/app-1/restart", {}, taskInfoSchema, { step: "restart", appId: "app-1" })).toEqual({
      taskId: "31",
    });
    expect(posts).toBe(2);
    expect(lines[0]).toBe(
      'restart: POST /apps/app-1/restart answered 409 ("Locked"):' +
        " staging.communityrule.info is busy with task 30 (queued, installed); waiting",
    );
  });

  it(
    "a read-only token is refused before the first POST," + " when GET /tokens shows its scope; nothing is sent",
    async () => {
      const s = await serve(
        (req, res) =>
          req.url === "/api/v1/tokens"
            ? send(res, 200, {
                tokens: [
                  { id: "tid-1", name: "ci", accessToken: TOKEN, scope: { "*": "r" } },
                  { id: "tid-2", accessToken: "other", scope: { "*": "rw" } },
                ],
              })
            : send(res, 202, { taskId: 1 }),
        { tokens: true },
      );
      const e = await failure(
        client(s.url).api.post("/apps/app-1/restart", {}, taskInfoSchema, { step: "restart", appId: "app-1" }),
      );
      expect(e.kind).toBe("forbidden");
      expect(e.message).toMatch(
        new RegExp(
          /^restart: the API token "ci" is read-only \(its scope on Cloudron/.source +
            / has no "rw"\), so nothing was sent\. Create a "Read and Write" token/.source,
        ),
      );
      expect(e.message).not.toContain(TOKEN);
      expect(s.seen.map((r) => r.method)).toEqual(["GET"]);
    },
  );
});

describe("CloudronApi tasks", () => {
  it("prints percent and message while polling, returns when the task succeeded", async () => {
    const states = [
      { id: "5", active: true, percent: 10, message: "Downloading image" },
      { id: "5", active: true, percent: 10, message: "Downloading image" },
      { id: "5", active: true, percent: 60, message: "Starting" },
      { id: "5", active: false, percent: 100, message: "Done", success: true, error: null },
    ];
    let i = 0;
    const s = await serve((_req, res) => send(res, 200, states[Math.min(i++, states.length - 1)]));
    const { api, lines } = client(s.url);
    const t = await api.waitForTask("5", "install");
    expect(t.success).toBe(true);
    expect(lines).toEqual(["install: 10% Downloading image", "install: 60% Starting", "install: 100% Done"]);
    expect(s.seen.map((r) => r.url)).toEqual(Array(4).fill("/api/v1/tasks/5"));
  });

  it("fails with the task's error", async () => {
    const s = await serve((_req, res) =>
      send(res, 200, {
        id: "6",
        active: false,
        percent: 100,
        message: "",
        success: false,
        error: { message: "Image not found" },
      }),
    );
    const e = await failure(client(s.url).api.waitForTask("6", "update"));
    expect(e.message).toBe(
      "update: Cloudron task 6 failed: Image not found. The app's event log and logs in the dashboard show why.",
    );
  });

  it("is bounded by the task timeout (cloudronTimeoutSeconds)", async () => {
    const s = await serve((_req, res) => send(res, 200, { id: "7", active: true, percent: 5, message: "Backing up" }));
    const e = await failure(client(s.url, { taskTimeoutSeconds: 3 }).api.waitForTask("7", "update"));
    expect(e.kind).toBe("task_timeout");
    expect(e.message).toBe(
      "update: Cloudron task 7 is still running after 3 s (communityrule:cloudronTimeoutSeconds);" +
        " it goes on on the server. Watch it in the dashboard, then run up again.",
    );
    // Polls at 0, 0.25, 0.75, 1.75, 2.75 and exactly 3 s (virtual): never a poll interval past the bound.
    expect(s.seen).toHaveLength(6);
  });
});

describe("CloudronApi answers", () => {
  it("a malformed entry of another app in GET /apps is passed over; ours is parsed in full", async () => {
    const other = {
      ...APP,
      id: "other",
      fqdn: "other.example.org",
      env: { API_KEY: OTHER_APP_SECRET },
      manifest: { id: "x", version: 7 },
      installationState: 3,
    };
    const s = await serve((_req, res) => send(res, 200, { apps: [other, "not an app", APP] }));
    const found = await client(s.url).api.findApp("STAGING.communityrule.info", "deploy");
    expect(found?.id).toBe("app-1");
    expect(await client(s.url).api.findApp("nowhere.example.org", "deploy")).toBeUndefined();
  });

  it("a mismatching entry at our location names endpoint and field, never the value or any app's env", async () => {
    const ours = { ...APP, env: { API_KEY: OTHER_APP_SECRET }, manifest: { id: "x", version: 7 } };
    const s = await serve((_req, res) => send(res, 200, { apps: [ours] }));
    const e = await failure(client(s.url).api.findApp("staging.communityrule.info", "deploy"));
    expect(e.kind).toBe("shape");
    expect(e.message).toBe(
      "deploy: Cloudron's answer to GET /apps (the entry of staging.communityrule.info)" +
        " does not have the documented shape: manifest.version: expected string",
    );
    expect(e.message).not.toContain(OTHER_APP_SECRET);
  });

  it("masks every env value of every app it has seen in later messages", async () => {
    let n = 0;
    const s = await serve((_req, res) =>
      n++ === 0
        ? send(res, 200, { apps: [{ ...APP, env: { API_KEY: OTHER_APP_SECRET } }] })
        : send(res, 400, { status: "Bad Request", message: `env value ${OTHER_APP_SECRET} rejected` }),
    );
    const { api } = client(s.url);
    await api.listApps("deploy");
    const e = await failure(api.getApp("app-1", "deploy"));
    expect(e.message).toBe("deploy: Cloudron refused GET /apps/app-1 (400: env value [masked] rejected).");
  });

  it("checkAccess refuses a user who is neither owner nor admin", async () => {
    const s = await serve((_req, res) => send(res, 200, { id: "u1", username: "alice", role: "user" }));
    const e = await failure(client(s.url).api.checkAccess("preflight"));
    expect(e.message).toBe(
      "preflight: the token belongs to alice whose role is user; deploying needs an owner" +
        " or admin (dashboard → Users → the user → role), or a token created by such a user.",
    );
    const ok = await serve((_req, res) => send(res, 200, { id: "u2", username: "bob", role: "admin" }));
    expect(await client(ok.url).api.checkAccess("preflight")).toBe("bob");
  });
});

describe("resolveToken", () => {
  const login = (server: string, token: string) =>
    JSON.stringify({ cloudrons: { default: server, [server]: { apiEndpoint: server, token } } });

  it("prefers communityrule:cloudronToken", () => {
    expect(
      resolveToken({ server: "my.medlab.host", configToken: "cfg", readFile: () => login("my.medlab.host", "file") }),
    ).toEqual({
      token: "cfg",
      source: "communityrule:cloudronToken",
    });
  });

  it("falls back to the cloudron login for this server", () => {
    expect(
      resolveToken({
        server: "my.medlab.host",
        homeDir: "/h",
        readFile: (f) => (f === "/h/.cloudron.json" ? login("my.medlab.host", "file") : ""),
      }),
    ).toEqual({
      token: "file",
      source: "~/.cloudron.json",
    });
  });

  it("matches a login stored with a scheme", () => {
    expect(
      resolveToken({ server: "http://127.0.0.1:9", readFile: () => login("http://127.0.0.1:9/", "t9") }).token,
    ).toBe("t9");
  });

  it("refuses a login for another server, naming how to get a token", () => {
    expect(() =>
      resolveToken({ server: "my.medlab.host", homeDir: "/h", readFile: () => login("my.other.host", "x") }),
    ).toThrow(
      "no Cloudron API token: communityrule:cloudronToken is not set and /h/.cloudron.json" +
        " has no login for my.medlab.host. Create one in the dashboard (Profile" +
        ' → API Tokens → "Read and Write") and run `pulumi config set --secret' +
        " communityrule:cloudronToken <token>`, or run `cloudron login my.medlab.host`.",
    );
  });

  it("explains a missing ~/.cloudron.json", () => {
    expect(() =>
      resolveToken({
        server: "my.medlab.host",
        homeDir: "/h",
        readFile: () => {
          throw new Error("ENOENT");
        },
      }),
    ).toThrow("no Cloudron API token: communityrule:cloudronToken is not set and there is no /h/.cloudron.json.");
  });
});
