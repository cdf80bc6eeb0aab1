/**
 * The Cloudron operations (install / adopt / update, env apply, uninstall) and the tool that runs
 * them, against a small fake Cloudron on loopback started here (tasks finish on the first poll),
 * plus the pure decisions on their own.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { CloudronApi } from "../cloudron/client";
import type { Clock } from "../lib/clock";
import type { DeployRequest, EnvApplyRequest } from "../cloudron/requests";
import { LEGACY_OWNER_ENV_NAME, ownerTag, ownershipTags } from "../steps/app/ownership";
import { readBackProblems, splitLocation } from "../cloudron/operationSupport";
import { deploy, manifestSha, uninstall } from "../steps/app/operations";
import { applyEnv, desiredEnvValues, diffEnv, mergeEnv } from "../steps/env/operation";
import { main } from "../tools/cloudronApp";

const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
const SECRET = `s3cret-${Math.random().toString(36).slice(2)}`;
const SESSION = `sess-${Math.random().toString(36).slice(2)}`;
const OWNER = "urn:pulumi:staging::communityrule::communityrule:cloudron:App::app/app-deploy";
const LOCATION = "staging.communityrule.info";

interface FakeApp {
  id: string;
  fqdn: string;
  installationState: string;
  taskId: string | null;
  manifest: Record<string, unknown>;
  env: Record<string, string>;
  backups: string[];
  tags?: string[];
}
interface Call {
  method: string;
  path: string;
  body: unknown;
}

/** A fake Cloudron: apps, domains, tasks that finish at once; knobs for the failures under test. */
class FakeCloudron {
  apps: FakeApp[] = [];
  calls: Call[] = [];
  /** Drop this env key when applying env (a server that "succeeds" without applying). */
  dropKey?: string;
  /** Answer every app with installationState pending_update (a busy app). */
  alwaysBusy = false;
  /** Tasks never finish. */
  tasksHang = false;
  private nextTask = 100;
  private server?: http.Server;
  url = "";

  posts(): string[] {
    return this.calls.filter((c) => c.method === "POST").map((c) => c.path);
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      let text = "";
      req.on("data", (c: Buffer) => (text += c.toString()));
      req.on("end", () => {
        // Routed without the query string (the backup listing is paged: ?page=&per_page=).
        const path = (req.url ?? "").replace(/^\/api\/v1/, "").replace(/\?.*$/, "");
        const body = text ? (JSON.parse(text) as unknown) : undefined;
        this.calls.push({ method: req.method ?? "", path, body });
        const send = (status: number, data: unknown) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(data));
        };
        if (req.headers.authorization !== `Bearer ${TOKEN}`)
          return send(401, { status: "Unauthorized", message: "bad token" });
        this.route(req.method ?? "", path, body as Record<string, unknown>, send);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((r) => {
      this.server?.closeAllConnections();
      this.server?.close(() => r());
    });
  }

  private view(a: FakeApp) {
    return {
      ...a,
      tags: a.tags ?? [],
      installationState: this.alwaysBusy ? "pending_update" : a.installationState,
      taskId: this.alwaysBusy ? "99" : a.taskId,
      runState: "running",
      health: "healthy",
      error: null,
      subdomain: "",
      domain: "",
    };
  }

  private task(): string {
    return String(this.nextTask++);
  }

  private route(
    method: string,
    path: string,
    body: Record<string, unknown>,
    send: (s: number, d: unknown) => void,
  ): void {
    const appMatch = /^\/apps\/([^/]+)(\/.*)?$/.exec(path);
    const app = appMatch ? this.apps.find((a) => a.id === appMatch[1]) : undefined;
    if (method === "GET" && path === "/profile") return send(200, { id: "u", username: "deployer", role: "owner" });
    if (method === "GET" && path === "/apps") return send(200, { apps: this.apps.map((a) => this.view(a)) });
    if (method === "GET" && path === "/domains")
      return send(200, { domains: [{ domain: "communityrule.info" }, { domain: "info" }] });
    if (method === "GET" && path.startsWith("/tasks/")) {
      return send(
        200,
        this.tasksHang
          ? { id: path.slice(7), active: true, percent: 20, message: "Working" }
          : { id: path.slice(7), active: false, percent: 100, message: "Done", success: true, error: null },
      );
    }
    if (method === "POST" && path === "/apps") {
      const id = `app-${this.apps.length + 1}`;
      const manifest = body.manifest as Record<string, unknown>;
      this.apps.push({
        id,
        fqdn: `${String(body.subdomain)}.${String(body.domain)}`,
        installationState: "installed",
        taskId: null,
        manifest,
        env: { ...(body.env as Record<string, string>) },
        backups: [],
      });
      return send(202, { id, taskId: Number(this.task()) });
    }
    if (!appMatch) return send(404, { status: "Not Found", message: "no route" });
    if (!app) return send(404, { status: "Not Found", message: "No such app" });
    const sub = appMatch[2] ?? "";
    if (method === "GET" && sub === "") return send(200, this.view(app));
    if (method === "GET" && sub === "/backups") return send(200, { backups: app.backups.map((id) => ({ id })) });
    if (method === "POST" && sub === "/update") {
      app.backups.unshift(`backup-${app.backups.length + 1}`);
      app.manifest = body.manifest as Record<string, unknown>;
      return send(202, { taskId: Number(this.task()) });
    }
    if (method === "POST" && /^\/backups\/[^/]+$/.test(sub)) {
      if (!app.backups.includes(sub.slice("/backups/".length)))
        return send(404, { status: "Not Found", message: "Backup not found" });
      return send(200, {});
    }
    if (method === "POST" && sub === "/configure/env") {
      app.env = { ...(body.env as Record<string, string>) };
      if (this.dropKey) delete app.env[this.dropKey];
      return send(202, { taskId: Number(this.task()) });
    }
    if (method === "POST" && sub === "/configure/tags") {
      app.tags = [...(body.tags as string[])];
      return send(200, {});
    }
    if (method === "POST" && sub === "/uninstall") {
      this.apps = this.apps.filter((a) => a !== app);
      return send(202, { taskId: Number(this.task()) });
    }
    send(404, { status: "Not Found", message: "no route" });
  }
}

const fakes: FakeCloudron[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});
async function fake(): Promise<FakeCloudron> {
  const f = await new FakeCloudron().start();
  fakes.push(f);
  return f;
}

const fastClock = (): Clock => {
  let t = 0;
  return { now: () => t, sleep: async (ms) => void (t += ms) };
};

function ctxFor(f: FakeCloudron, lines: string[] = []) {
  const api = new CloudronApi({
    server: f.url,
    token: TOKEN,
    taskTimeoutSeconds: 5,
    busyWaitSeconds: 5,
    clock: fastClock(),
    log: (l) => lines.push(l),
  });
  api.mask.addSecret(SECRET);
  api.mask.addSecret(SESSION);
  return { api, secrets: { API_KEY: SECRET, SESSION_SECRET: SESSION } };
}

const MANIFEST = { id: "com.medlab.communityrule", version: "0.1.9", httpPort: 3000 };
/** An installed app this stack owns, on the image the requests below ask for, with `env`. */
function stagingAppRunningAaa(env: Record<string, string> = {}): FakeApp {
  return {
    id: "app-1",
    fqdn: LOCATION,
    installationState: "installed",
    taskId: null,
    manifest: { ...MANIFEST, dockerImage: "reg/x@sha256:aaa" },
    env,
    tags: ownershipTags("staging", OWNER),
    backups: [],
  };
}
const ENV = {
  plain: { SMTP_FROM: "hello@communityrule.info" },
  secret: { API_KEY: "hmac:00", SESSION_SECRET: "hmac:11" },
};

function deployRequest(over: Partial<DeployRequest> = {}): DeployRequest {
  return {
    connection: { server: "unused", taskTimeoutSeconds: 5, busyWaitSeconds: 5 },
    location: LOCATION,
    environment: "staging",
    owner: OWNER,
    stack: "staging",
    image: "reg/x@sha256:aaa",
    build: true,
    manifest: MANIFEST,
    env: ENV,
    autoRollback: false,
    health: { baseUrl: "http://127.0.0.1:1", timeoutSeconds: 1 },
    ...over,
  };
}

function envRequest(appId: string, over: Partial<EnvApplyRequest> = {}): EnvApplyRequest {
  return {
    connection: { server: "unused", taskTimeoutSeconds: 5, busyWaitSeconds: 5 },
    location: LOCATION,
    appId,
    env: ENV,
    rotation: { sessionSecret: "0", warning: "w" },
    ...over,
  };
}

describe("pure decisions", () => {
  it("splits a location on the longest served domain", () => {
    expect(splitLocation("staging.communityrule.info", ["info", "communityrule.info"])).toEqual({
      subdomain: "staging",
      domain: "communityrule.info",
    });
    expect(splitLocation("communityrule.info", ["communityrule.info"])).toEqual({
      subdomain: "",
      domain: "communityrule.info",
    });
    expect(() => splitLocation("x.example.org", ["communityrule.info"])).toThrow(
      "install: x.example.org is not under any domain this Cloudron serves (communityrule.info)." +
        " Add the domain in the dashboard (Domains) or fix communityrule:location.",
    );
  });

  it("merges desired managed keys over hand-set ones, dropping keys it managed before", () => {
    const live = { HAND: "kept", OLD: "gone", SAME: "1" };
    const merged = mergeEnv(live, { SAME: "1", NEW: "n" }, ["OLD", "SAME"]);
    expect(merged).toEqual({ HAND: "kept", SAME: "1", NEW: "n" });
    expect(diffEnv(live, merged)).toEqual({ added: ["NEW"], changed: [], removed: ["OLD"] });
  });

  it("names a secret whose value did not reach the step", () => {
    expect(() => desiredEnvValues(ENV, { API_KEY: "x" }, "env")).toThrow(
      "env: the value of secret SESSION_SECRET did not reach this step (CR_SECRET_SESSION_SECRET is not set)",
    );
    expect(desiredEnvValues(ENV, { API_KEY: "x", SESSION_SECRET: "y" }, "env")).toEqual({
      SMTP_FROM: "hello@communityrule.info",
      API_KEY: "x",
      SESSION_SECRET: "y",
    });
  });

  it("read-back names keys, never values", () => {
    const app = {
      id: "a",
      installationState: "installed",
      fqdn: "f",
      manifest: { dockerImage: "i", version: "1.0.0" },
      env: { A: "live-a", C: "c" },
      error: null,
      taskId: null,
      tags: [],
    };
    expect(
      readBackProblems(app, { image: "j", version: "1.0.0", env: { A: "wanted-a", B: "b" }, absent: ["C"] }),
    ).toEqual([
      "runs image i, not j",
      "env A holds a different value than was sent",
      "env B is missing",
      "env C is still set although it was removed",
    ]);
  });

  it("fingerprints a manifest independently of key order", () => {
    expect(manifestSha({ a: 1, b: { c: 2, d: 3 } })).toBe(manifestSha({ b: { d: 3, c: 2 }, a: 1 }));
    expect(manifestSha({ a: 1 })).not.toBe(manifestSha({ a: 2 }));
  });
});

describe("deploy", () => {
  it(
    "first install is one POST /apps carrying the whole env, then" +
      " the ownership tags; the env step after it changes nothing",
    async () => {
      const f = await fake();
      const ctx = ctxFor(f);
      const result = await deploy(deployRequest(), ctx, {});
      expect(result).toMatchObject({
        action: "installed",
        appId: "app-1",
        image: "reg/x@sha256:aaa",
        version: "0.1.9",
        backupId: "",
      });
      expect(f.posts()).toEqual(["/apps", "/apps/app-1/configure/tags"]);
      expect(f.apps[0].tags).toEqual(["communityrule-stack:staging", ownerTag(OWNER)]);
      const body = f.calls.find((c) => c.method === "POST")!.body as Record<string, unknown>;
      expect(body).toEqual({
        appStoreId: "",
        manifest: { ...MANIFEST, dockerImage: "reg/x@sha256:aaa" },
        subdomain: "staging",
        domain: "communityrule.info",
        accessRestriction: null,
        env: { SMTP_FROM: "hello@communityrule.info", API_KEY: SECRET, SESSION_SECRET: SESSION },
      });
      const before = f.posts().length;
      const env = await applyEnv(envRequest("app-1"), ctx, {});
      expect(env).toEqual({
        appId: "app-1",
        managed: ["API_KEY", "SESSION_SECRET", "SMTP_FROM"],
        added: [],
        changed: [],
        removed: [],
        applied: false,
      });
      expect(f.posts().length).toBe(before);
    },
  );

  it("a second deploy of the same image and manifest makes no mutating call", async () => {
    const f = await fake();
    const ctx = ctxFor(f);
    const first = await deploy(deployRequest(), ctx, {});
    const second = await deploy(deployRequest(), ctx, first);
    expect(second.action).toBe("unchanged");
    expect(f.posts()).toEqual(["/apps", "/apps/app-1/configure/tags"]);
  });

  it(
    "update sends the manifest with the new image, never" + " skipBackup, reports the new backup id and protects it",
    async () => {
      const f = await fake();
      const ctx = ctxFor(f);
      const first = await deploy(deployRequest(), ctx, {});
      const next = await deploy(
        deployRequest({ image: "reg/x@sha256:bbb", manifest: { ...MANIFEST, version: "0.1.10" } }),
        ctx,
        first,
      );
      expect(next).toMatchObject({
        action: "updated",
        appId: "app-1",
        previousImage: "reg/x@sha256:aaa",
        backupId: "backup-1",
        version: "0.1.10",
      });
      const update = f.calls.find((c) => c.path === "/apps/app-1/update")!;
      expect(update.body).toEqual({ manifest: { ...MANIFEST, version: "0.1.10", dockerImage: "reg/x@sha256:bbb" } });
      // No GET /backups/policy here (404): kept the production minimum's default, 30 days.
      expect(f.calls.filter((c) => c.method === "POST").map((c) => [c.path, c.body])).toEqual([
        ["/apps", expect.anything()],
        ["/apps/app-1/configure/tags", { tags: ownershipTags("staging", OWNER) }],
        ["/apps/app-1/update", expect.anything()],
        ["/apps/app-1/backups/backup-1", { label: "rollback point: 0.1.9 before 0.1.10", preserveSecs: 30 * 86400 }],
      ]);
    },
  );

  it(
    "a production install asks for automatic backups" + " (enableBackup: true); staging leaves the server's default",
    async () => {
      const f = await fake();
      await deploy(deployRequest({ environment: "production", build: false, image: "reg/x:0.1.9" }), ctxFor(f), {});
      await deploy(deployRequest({ location: "other.communityrule.info", owner: `${OWNER}-other` }), ctxFor(f), {});
      const installs = f.calls
        .filter((c) => c.method === "POST" && c.path === "/apps")
        .map((c) => (c.body as { enableBackup?: boolean }).enableBackup);
      expect(installs).toEqual([true, undefined]);
    },
  );

  it("adopts our app installed by hand, and refuses someone else's", async () => {
    const f = await fake();
    f.apps.push({
      id: "hand",
      fqdn: LOCATION,
      installationState: "installed",
      taskId: null,
      manifest: { ...MANIFEST, dockerImage: "reg/x@sha256:aaa" },
      env: {},
      backups: [],
    });
    expect((await deploy(deployRequest(), ctxFor(f), {})).action).toBe("adopted");
    f.apps[0].manifest = { id: "org.other.app", version: "1.0.0" };
    await expect(deploy(deployRequest(), ctxFor(f), {})).rejects.toThrow(
      `deploy: ${LOCATION} is occupied by another app (manifest id org.other.app,` +
        ` not com.medlab.communityrule). This program never updates someone else's app`,
    );
    expect(f.posts()).toEqual(["/apps/hand/configure/tags"]);
  });

  it(
    "refuses an app marked by another stack unless communityrule:takeOverFrom" +
      " names that stack; a takeover re-tags it, keeping other tags",
    async () => {
      const f = await fake();
      const STAGING_OWNER = OWNER;
      const PROD_OWNER = OWNER.replace("urn:pulumi:staging::", "urn:pulumi:production::");
      f.apps.push({
        id: "app-9",
        fqdn: LOCATION,
        installationState: "installed",
        taskId: null,
        manifest: { ...MANIFEST, dockerImage: "reg/x@sha256:aaa" },
        env: {},
        tags: ["office", ...ownershipTags("staging", STAGING_OWNER)],
        backups: [],
      });
      const production = deployRequest({ stack: "production", owner: PROD_OWNER, environment: "production" });
      await expect(deploy(production, ctxFor(f), {})).rejects.toThrow(
        `deploy: ${LOCATION} (app app-9) is deployed by stack "staging"` +
          ` (Cloudron tag communityrule-stack:staging), not by "production"; ` +
          "a stack never takes over another stack's app unless told" +
          " to. To take it over deliberately (e.g. a cutover), run " +
          "`pulumi config set communityrule:takeOverFrom staging -s production`",
      );
      expect(f.posts()).toEqual([]);
      const lines: string[] = [];
      const r = await deploy({ ...production, takeOverFrom: "staging" }, ctxFor(f, lines), {});
      expect(r.action).toBe("adopted");
      expect(f.posts()).toEqual(["/apps/app-9/configure/tags"]);
      expect(f.apps[0].tags).toEqual(["office", ...ownershipTags("production", PROD_OWNER)]);
      expect(lines).toContain(
        `adopt: marking ${LOCATION} as deployed by stack production` +
          ` (was stack staging) with Cloudron tags (no restart)`,
      );
    },
  );

  it("reads the legacy env marker as the owner: another stack's env-marked app is refused too", async () => {
    const f = await fake();
    const other = OWNER.replace("urn:pulumi:staging::", "urn:pulumi:pr-7::");
    f.apps.push({
      id: "app-9",
      fqdn: LOCATION,
      installationState: "installed",
      taskId: null,
      manifest: { ...MANIFEST, dockerImage: "reg/x@sha256:aaa" },
      env: { [LEGACY_OWNER_ENV_NAME]: other },
      backups: [],
    });
    await expect(deploy(deployRequest(), ctxFor(f), {})).rejects.toThrow(
      `is deployed by stack "pr-7" (env ${LEGACY_OWNER_ENV_NAME}), not by "staging"`,
    );
  });

  it("refuses to install a second copy when this stack's app was moved to another location by hand", async () => {
    const f = await fake();
    f.apps.push({
      id: "app-1",
      fqdn: "communityrule.info",
      installationState: "installed",
      taskId: null,
      manifest: { ...MANIFEST, dockerImage: "reg/x@sha256:aaa" },
      env: {},
      tags: ownershipTags("staging", OWNER),
      backups: [],
    });
    await expect(deploy(deployRequest(), ctxFor(f), { appId: "app-1" })).rejects.toThrow(
      `deploy: the app this stack deployed (app app-1) now serves` +
        ` communityrule.info, not ${LOCATION}; refusing to install a second copy.`,
    );
    expect(f.posts()).toEqual([]);
  });

  it("refuses a downgrade before any mutating call", async () => {
    const f = await fake();
    f.apps.push({
      id: "a",
      fqdn: LOCATION,
      installationState: "installed",
      taskId: null,
      manifest: { ...MANIFEST, version: "0.2.0", dockerImage: "reg/x@sha256:zzz" },
      env: {},
      backups: [],
    });
    await expect(deploy(deployRequest(), ctxFor(f), {})).rejects.toThrow(
      "update: downgrade without rollback intent: deployed 0.2.0, manifest 0.1.9;" +
        " to roll back set build: false and imageTag: 0.1.9. Nothing was changed.",
    );
    expect(f.posts()).toEqual([]);
  });
});

describe("env apply", () => {
  it("adds, changes and removes keys in ONE configure/env call, keeping keys set by hand", async () => {
    const f = await fake();
    const ctx = ctxFor(f);
    await deploy(
      deployRequest({ env: { plain: { SMTP_FROM: "a@b.c", UPLOAD_ROOT: "/app/data" }, secret: ENV.secret } }),
      ctx,
      {},
    );
    f.apps[0].env.HAND_SET = "by-an-operator";
    const previous = { managed: ["API_KEY", "SESSION_SECRET", "SMTP_FROM", "UPLOAD_ROOT"] };
    const lines: string[] = [];
    const result = await applyEnv(
      envRequest("app-1", { env: { plain: { SMTP_FROM: "new@b.c", NEW_KEY: "n" }, secret: ENV.secret } }),
      ctxFor(f, lines),
      previous,
    );
    expect(result).toMatchObject({
      added: ["NEW_KEY"],
      changed: ["SMTP_FROM"],
      removed: ["UPLOAD_ROOT"],
      applied: true,
    });
    expect(f.posts()).toEqual(["/apps", "/apps/app-1/configure/tags", "/apps/app-1/configure/env"]);
    expect(f.apps[0].env).toEqual({
      HAND_SET: "by-an-operator",
      SMTP_FROM: "new@b.c",
      NEW_KEY: "n",
      API_KEY: SECRET,
      SESSION_SECRET: SESSION,
    });
    expect(lines).toContain(
      "env: adding NEW_KEY; changing SMTP_FROM; removing UPLOAD_ROOT: one configure/env call, one restart",
    );
  });

  it("removes the legacy ownership env var in the same single configure/env call", async () => {
    const f = await fake();
    const ctx = ctxFor(f);
    await deploy(deployRequest(), ctx, {});
    f.apps[0].env[LEGACY_OWNER_ENV_NAME] = OWNER;
    const r = await applyEnv(envRequest("app-1"), ctx, {
      managed: ["API_KEY", LEGACY_OWNER_ENV_NAME, "SESSION_SECRET", "SMTP_FROM"],
    });
    expect(r).toMatchObject({ removed: [LEGACY_OWNER_ENV_NAME], applied: true });
    expect(f.posts().filter((p) => p.endsWith("/configure/env"))).toHaveLength(1);
    expect(f.apps[0].env).not.toHaveProperty(LEGACY_OWNER_ENV_NAME);
  });

  it("corrects a managed key edited in the dashboard (compares with the LIVE env)", async () => {
    const f = await fake();
    const ctx = ctxFor(f);
    await deploy(deployRequest(), ctx, {});
    f.apps[0].env.API_KEY = "edited-by-hand";
    const r = await applyEnv(envRequest("app-1"), ctx, { managed: ["API_KEY", "SESSION_SECRET", "SMTP_FROM"] });
    expect(r).toMatchObject({ changed: ["API_KEY"], applied: true });
    expect(f.apps[0].env.API_KEY).toBe(SECRET);
  });

  it("fails naming the key when the server drops it, never printing its value", async () => {
    const f = await fake();
    const ctx = ctxFor(f);
    await deploy(deployRequest(), ctx, {});
    f.dropKey = "API_KEY";
    f.apps[0].env.API_KEY = "old-value-000";
    const err = await applyEnv(envRequest("app-1"), ctx, {}).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toBe(
      `env: Cloudron reported the task done, but ${LOCATION} env API_KEY is` +
        ` missing. Check the app's event log in the dashboard, then run up again.`,
    );
    expect(err?.message).not.toContain(SECRET);
  });
});

describe("uninstall", () => {
  it("uninstalls the recorded app while it names this resource as owner", async () => {
    const f = await fake();
    const ctx = ctxFor(f);
    const installed = await deploy(deployRequest(), ctx, {});
    const r = await uninstall(
      { connection: deployRequest().connection, location: LOCATION, owner: OWNER, manifest: MANIFEST },
      ctx,
      installed,
    );
    expect(r).toEqual({ action: "uninstalled", appId: "app-1", location: LOCATION });
    expect(f.posts()).toEqual(["/apps", "/apps/app-1/configure/tags", "/apps/app-1/uninstall"]);
  });

  it("leaves an app adopted by a renamed resource alone (its owner tag names the new owner)", async () => {
    const f = await fake();
    const ctx = ctxFor(f);
    const installed = await deploy(deployRequest(), ctx, {});
    // The renamed resource's deploy wrote its own owner tag.
    await deploy(deployRequest({ owner: `${OWNER}-renamed` }), ctx, {});
    expect(f.apps[0].tags).toEqual(ownershipTags("staging", `${OWNER}-renamed`));
    const r = await uninstall(
      { connection: deployRequest().connection, location: LOCATION, owner: OWNER, manifest: MANIFEST },
      ctx,
      installed,
    );
    expect(r.action).toBe("kept");
    expect(f.posts()).not.toContain("/apps/app-1/uninstall");
  });

  it("never touches an app id it did not record: another app at the location stays", async () => {
    const f = await fake();
    f.apps.push({
      id: "someone-else",
      fqdn: LOCATION,
      installationState: "installed",
      taskId: null,
      manifest: MANIFEST,
      env: {},
      backups: [],
    });
    const r = await uninstall(
      { connection: deployRequest().connection, location: LOCATION, owner: OWNER, manifest: MANIFEST },
      ctxFor(f),
      { appId: "app-gone" },
    );
    expect(r.action).toBe("absent");
    expect(f.posts()).toEqual([]);
    await expect(
      uninstall(
        { connection: deployRequest().connection, location: LOCATION, owner: OWNER, manifest: MANIFEST },
        ctxFor(f),
        {},
      ),
    ).rejects.toThrow(
      "uninstall: this resource recorded no app id, so it cannot tell which app is its own; nothing was uninstalled.",
    );
  });

  it("refuses when the recorded id now serves another location", async () => {
    const f = await fake();
    f.apps.push({
      id: "app-1",
      fqdn: "other.communityrule.info",
      installationState: "installed",
      taskId: null,
      manifest: MANIFEST,
      env: {},
      backups: [],
    });
    await expect(
      uninstall(
        { connection: deployRequest().connection, location: LOCATION, owner: OWNER, manifest: MANIFEST },
        ctxFor(f),
        { appId: "app-1" },
      ),
    ).rejects.toThrow(
      `uninstall: app app-1 now serves other.communityrule.info (manifest com.medlab.communityrule),` +
        ` not ${LOCATION} (com.medlab.communityrule); refusing to uninstall it. Nothing was changed.`,
    );
    expect(f.posts()).toEqual([]);
  });
});

describe("tools/cloudronApp.ts: every step honours the connection it is given", () => {
  async function run(op: string, stdin: unknown, env: Record<string, string> = {}) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main([op], {
      stdin: JSON.stringify(stdin),
      env: { CLOUDRON_TOKEN: TOKEN, CR_SECRET_API_KEY: SECRET, CR_SECRET_SESSION_SECRET: SESSION, ...env },
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    return { code, out, err: err.join("\n") };
  }

  it.each(["deploy", "env-apply", "uninstall", "seed"])("%s: busyWaitSeconds reaches the step", async (op) => {
    const f = await fake();
    f.apps.push(stagingAppRunningAaa());
    f.alwaysBusy = true;
    const connection = { server: f.url, taskTimeoutSeconds: 5, busyWaitSeconds: 0 };
    // Deploy: a release (a new image) must wait; an app already running the image is not waited for.
    const release = { connection, image: "reg/x@sha256:bbb", manifest: { ...MANIFEST, version: "0.1.10" } };
    const stdin =
      op === "env-apply"
        ? envRequest("app-1", { connection })
        : op === "seed"
          ? { connection, location: LOCATION }
          : deployRequest(op === "deploy" ? release : { connection });
    const r = await run(
      op,
      stdin,
      op === "uninstall" ? { PULUMI_COMMAND_STDOUT: JSON.stringify({ appId: "app-1" }) } : {},
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `is busy with task 99 (pending_update) and stayed busy for 0 s (communityrule:busyWaitSeconds = 0)`,
    );
    expect(f.posts()).toEqual([]);
  });

  it("env-apply removes a name its previous result (PULUMI_COMMAND_STDOUT) managed; other names stay", async () => {
    const f = await fake();
    f.apps.push(
      stagingAppRunningAaa({
        SMTP_FROM: "hello@communityrule.info",
        API_KEY: SECRET,
        SESSION_SECRET: SESSION,
        DROPPED: "d",
        HAND: "h",
      }),
    );
    const connection = { server: f.url, taskTimeoutSeconds: 5, busyWaitSeconds: 5 };
    const previous = { appId: "app-1", managed: ["API_KEY", "DROPPED", "SESSION_SECRET", "SMTP_FROM"] };
    const r = await run("env-apply", envRequest("app-1", { connection }), {
      PULUMI_COMMAND_STDOUT: `progress line\n${JSON.stringify(previous)}`,
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out[r.out.length - 1])).toMatchObject({ removed: ["DROPPED"], added: [], changed: [] });
    expect(f.apps[0].env).not.toHaveProperty("DROPPED");
    expect(f.apps[0].env.HAND).toBe("h");
  });

  it("a CR_SECRET_ variable its request does not name (the operator's shell) is not read or masked", async () => {
    const f = await fake();
    f.apps.push(stagingAppRunningAaa());
    const connection = { server: f.url, taskTimeoutSeconds: 5, busyWaitSeconds: 5 };
    // Its value is a word of the result line: masking it would break the JSON Pulumi records.
    const r = await run("env-apply", envRequest("app-1", { connection }), { CR_SECRET_SHELL_FLAG: "true" });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out[r.out.length - 1])).toMatchObject({ appId: "app-1", applied: true });
    expect(f.apps[0].env).not.toHaveProperty("SHELL_FLAG");
    expect(Object.keys(f.apps[0].env).sort()).toEqual(Object.keys({ ...ENV.plain, ...ENV.secret }).sort());
    expect(f.apps[0].env.API_KEY).toBe(SECRET);
  });

  it("deploy does not wait for a busy app that already runs the requested image", async () => {
    const f = await fake();
    f.apps.push(stagingAppRunningAaa());
    f.alwaysBusy = true;
    const r = await run(
      "deploy",
      deployRequest({ connection: { server: f.url, taskTimeoutSeconds: 5, busyWaitSeconds: 0 } }),
      { PULUMI_COMMAND_STDOUT: JSON.stringify({ appId: "app-1" }) },
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out[0])).toMatchObject({ action: "unchanged", appId: "app-1" });
    expect(f.posts()).toEqual([]);
  });

  it.each(["deploy", "env-apply", "uninstall"])("%s: cloudronTimeoutSeconds bounds the task", async (op) => {
    const f = await fake();
    if (op !== "deploy") f.apps.push(stagingAppRunningAaa());
    f.tasksHang = true;
    const connection = { server: f.url, taskTimeoutSeconds: 1, busyWaitSeconds: 5 };
    const stdin = op === "env-apply" ? envRequest("app-1", { connection }) : deployRequest({ connection });
    const t0 = Date.now();
    const r = await run(
      op,
      stdin,
      op === "uninstall" ? { PULUMI_COMMAND_STDOUT: JSON.stringify({ appId: "app-1" }) } : {},
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Cloudron task \d+ is still running after 1 s \(communityrule:cloudronTimeoutSeconds\)/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("prints one masked JSON result line and keeps every secret out of stdout and stderr", async () => {
    const f = await fake();
    const connection = { server: f.url, taskTimeoutSeconds: 5, busyWaitSeconds: 5 };
    const r = await run("deploy", deployRequest({ connection }));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out[0])).toMatchObject({ action: "installed", appId: "app-1" });
    for (const s of [TOKEN, SECRET, SESSION]) {
      expect(r.out.join("\n")).not.toContain(s);
      expect(r.err).not.toContain(s);
    }
  });

  it(
    "deploy: releaseMigrations is checked against the recorded" + " list before any call, then recorded in the result",
    async () => {
      const f = await fake();
      const connection = { server: f.url, taskTimeoutSeconds: 5, busyWaitSeconds: 5 };
      const init = { name: "20250301120000_init", sha256: "a".repeat(64), risk: "additive" as const };
      const slug = { name: "20250520110000_add_rule_slug", sha256: "b".repeat(64), risk: "additive" as const };
      const installed = await run(
        "deploy",
        deployRequest({ connection, releaseMigrations: { kind: "first", changes: [], record: [init] } }),
      );
      expect(installed.code).toBe(0);
      expect(JSON.parse(installed.out[0]).migrations).toEqual([init]);

      // The applied migration's bytes changed since it was recorded: refused, and nothing is asked of Cloudron.
      const callsBefore = f.calls.length;
      const edited = { ...init, sha256: "c".repeat(64) };
      const release = { connection, image: "reg/x@sha256:bbb", manifest: { ...MANIFEST, version: "0.1.10" } };
      const refused = await run(
        "deploy",
        deployRequest({ ...release, releaseMigrations: { kind: "release", changes: [], record: [edited, slug] } }),
        {
          PULUMI_COMMAND_STDOUT: installed.out[0],
        },
      );
      expect(refused.code).toBe(1);
      expect(refused.err).toContain(
        "deploy: refused before any change:\nmigration 20250301120000_init was edited after it was" +
          " deployed: prisma/migrations/20250301120000_init/migration.sql has sha256 cccccccccccc",
      );
      expect(f.calls.length).toBe(callsBefore);

      // A build whose checkout lost a recorded migration is refused; a rollback (build false) is not.
      const behind = deployRequest({ ...release, releaseMigrations: { kind: "release", changes: [], record: [] } });
      expect((await run("deploy", behind, { PULUMI_COMMAND_STDOUT: installed.out[0] })).err).toContain(
        "migration 20250301120000_init is recorded as deployed but is not in <communityrule:appDir>/prisma/migrations",
      );
      expect(f.calls.length).toBe(callsBefore);

      const next = await run(
        "deploy",
        deployRequest({ ...release, releaseMigrations: { kind: "release", changes: ["x"], record: [init, slug] } }),
        { PULUMI_COMMAND_STDOUT: installed.out[0] },
      );
      expect(next.code).toBe(0);
      expect(JSON.parse(next.out[0])).toMatchObject({ action: "updated", migrations: [init, slug] });
    },
  );

  it("rejects a request that does not match the contract, naming the field", async () => {
    const r = await run("deploy", {
      ...deployRequest(),
      connection: { server: "x", taskTimeoutSeconds: "soon", busyWaitSeconds: 1 },
    });
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      "error: deploy: the request on stdin does not match the contract: connection.taskTimeoutSeconds (invalid_type)",
    );
  });
});

describe("cloudronApp.ts command line", () => {
  it("no operation or an unknown one is a usage mistake (exit 2, usage on stderr, nothing on stdout)", async () => {
    const usage = "usage: cloudronApp.ts <deploy|uninstall|env-apply|seed>  (the request is read from stdin as JSON)";
    for (const [argv, message] of [
      [[], "cloudronApp: missing <operation>"],
      [["toString"], "cloudronApp: unknown operation toString"],
      [["deploy", "x"], "cloudronApp: unexpected argument: x"],
    ] as const) {
      const out: string[] = [];
      const err: string[] = [];
      expect(await main([...argv], { stdin: "{}", env: {}, out: (l) => out.push(l), err: (l) => err.push(l) })).toBe(2);
      expect(err).toEqual([message, usage]);
      expect(out).toEqual([]);
    }
  });
});
