/**
 * The Cloudron REST API client (`<server>/api/v1`, `Authorization: Bearer <token>` only).
 *
 * - Reads are retried a bounded number of times, with exponential backoff, on 5xx and timeouts.
 * - Mutating calls are never re-sent blindly. A 409 means nothing was applied; the app is read
 *   once: busy with a task (running or queued) → wait for it and send again, bounded by
 *   busyWaitSeconds; idle → the 409 is about the app's state (debug mode, a location in use) and
 *   fails at once with the server's message. A timeout or 5xx asks the caller's `recover` to
 *   re-read the app and its task, and fails if that shows nothing was accepted.
 * - Before the first mutating call, a token the server shows as read-only is refused (GET /tokens).
 * - Every error names the step and the runbook's action (token, role, busy, unreachable).
 * - Every message goes through a mask holding the token, our secrets and every env value of
 *   every app an answer carried (GET /apps returns other apps' secrets).
 * - Time (clock, sleep, poll interval, backoff) is injectable, so tests run in milliseconds.
 *
 * Only `requestText` from lib/http.ts touches the network.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as z from "../lib/zod";
import { ONE_SHOT_PARSE } from "../lib/zod";
import { excerpt, HttpRequestError, parseJson, requestText, type HttpResult } from "../lib/http";
import {
  ApiShapeError,
  appListEntry,
  appListSchema,
  appSchema,
  backupListSchema,
  backupPolicySchema,
  backupUpdateRequestSchema,
  domainListSchema,
  errorBodySchema,
  noContentSchema,
  parseAnswer,
  tagsRequestSchema,
  profileSchema,
  serverStatusSchema,
  taskSchema,
  tokenListSchema,
  type App,
  type AppListEntry,
  type Backup,
  type Task,
} from "./wire";
import * as semver from "../lib/semver";
import { realClock, type Clock } from "../lib/clock";
import { isLoopbackHost, LOOPBACK_HOSTS_TEXT } from "../lib/loopback";

/** What went wrong, so callers can react to a class of failure without parsing text. */
export type ApiErrorKind =
  | "token"
  | "forbidden"
  | "not_found"
  | "busy"
  | "conflict"
  | "bad_request"
  | "unreachable"
  | "server"
  | "timeout"
  | "shape"
  | "task_failed"
  | "task_timeout"
  | "not_applied"
  | "app_error"
  | "config";

/** A Cloudron API failure, phrased for an operator. Its message is already masked. */
export class CloudronApiError extends Error {
  /** The Cloudron task a task failure or timeout is about (its log is `GET /tasks/:id/logs`). */
  taskId?: string;

  constructor(
    message: string,
    readonly kind: ApiErrorKind,
    readonly status?: number,
  ) {
    super(message);
    this.name = "CloudronApiError";
  }
}

/** Retries of a failed read (5xx, timeout); with the doubling backoff from 0.5 s that is about 3.5 s. */
const DEFAULT_READ_RETRIES = 3;

/**
 * `my.medlab.host` → `https://my.medlab.host/api/v1`; a loopback `http://127.0.0.1:<port>` (test
 * stand-ins) → `<url>/api/v1`. Plain http to any other host is refused: the token would travel
 * in clear.
 */
export function apiBaseUrl(server: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(server)) return `https://${server}/api/v1`;
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new CloudronApiError(`communityrule:cloudronServer "${server}" is not a host name or URL`, "config");
  }
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw new CloudronApiError(
      `communityrule:cloudronServer: plain http is allowed only for a loopback stand-in (${LOOPBACK_HOSTS_TEXT}); ` +
        "use the host name, e.g. my.medlab.host",
      "config",
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new CloudronApiError(`communityrule:cloudronServer: unsupported scheme ${url.protocol}`, "config");
  }
  return `${url.origin}/api/v1`;
}

/** Replaces known secret and env values in text before it is printed. */
export class SecretMask {
  private readonly values = new Set<string>();

  /** A value of ours that is secret whatever its length (token, secretEnv, SESSION_SECRET). */
  addSecret(value: string | undefined): void {
    if (value && value.length >= 3) this.values.add(value);
  }

  /**
   * Any app's env value. Very short values (`1`, `true`) are left alone: masking them would
   * garble every message, and a 5-character secret protects nothing.
   */
  addEnvValue(value: string): void {
    if (value.length >= 6) this.values.add(value);
  }

  apply(text: string): string {
    // Longest first, so a value containing another is replaced whole.
    const sorted = [...this.values].sort((a, b) => b.length - a.length);
    return sorted.reduce((t, v) => t.split(v).join("[masked]"), text);
  }
}

/** Options for {@link CloudronApi}. */
export interface CloudronApiOptions {
  /** communityrule:cloudronServer as configured (host name, or a loopback URL). */
  server: string;
  token: string;
  /** communityrule:cloudronTimeoutSeconds: bound on each task (install, update, env, uninstall, clone). */
  taskTimeoutSeconds: number;
  /** communityrule:busyWaitSeconds: how long to wait for an app busy with another task. */
  busyWaitSeconds: number;
  /** Bound on one HTTP exchange. Defaults to 30 s (or the task timeout if that is shorter). */
  requestTimeoutMs?: number;
  /**
   * Longest interval between task polls and busy re-reads. Polling starts at 250 ms (or this, if
   * smaller) and doubles up to it, so short tasks are noticed quickly. Defaults to 2000 ms.
   */
  pollIntervalMs?: number;
  /** Retries of a read after a 5xx or a timeout. Defaults to 3. */
  readRetries?: number;
  /** First backoff delay; doubles per retry. Defaults to 500 ms. */
  backoffMs?: number;
  clock?: Clock;
  /** Progress lines for the operator (stderr in the tools). Already masked. */
  log?: (line: string) => void;
  mask?: SecretMask;
}

type Method = "GET" | "POST";

/** The client. One instance per tool run; it holds no connection between calls. */
export class CloudronApi {
  readonly server: string;
  readonly baseUrl: string;
  readonly mask: SecretMask;
  readonly taskTimeoutSeconds: number;
  readonly busyWaitSeconds: number;
  private readonly token: string;
  private readonly clock: Clock;
  private readonly pollIntervalMs: number;
  private readonly readRetries: number;
  private readonly backoffMs: number;
  private readonly requestTimeoutMs: number;
  private readonly logLine: (line: string) => void;
  /** The token's scope was looked at before this client's first mutating call. */
  private writeChecked = false;

  constructor(o: CloudronApiOptions) {
    this.server = o.server;
    this.baseUrl = apiBaseUrl(o.server);
    this.token = o.token;
    this.taskTimeoutSeconds = o.taskTimeoutSeconds;
    this.busyWaitSeconds = o.busyWaitSeconds;
    this.clock = o.clock ?? realClock;
    this.pollIntervalMs = o.pollIntervalMs ?? 2000;
    this.readRetries = o.readRetries ?? DEFAULT_READ_RETRIES;
    this.backoffMs = o.backoffMs ?? 500;
    this.requestTimeoutMs = o.requestTimeoutMs ?? Math.min(30_000, o.taskTimeoutSeconds * 1000);
    this.mask = o.mask ?? new SecretMask();
    this.mask.addSecret(o.token);
    const log = o.log ?? ((line: string) => process.stderr.write(line + "\n"));
    this.logLine = (line) => log(this.mask.apply(line));
  }

  log(line: string): void {
    this.logLine(line);
  }

  /** The n-th wait (0-based) between polls: 250 ms doubling up to pollIntervalMs. */
  private pollDelay(n: number): number {
    return Math.min(this.pollIntervalMs, 250 * 2 ** Math.min(n, 10));
  }

  private fail(message: string, kind: ApiErrorKind, status?: number): CloudronApiError {
    return new CloudronApiError(this.mask.apply(message), kind, status);
  }

  /** One exchange. Resolves with the HTTP result, or rejects with the transport error. */
  private async exchange(method: Method, apiPath: string, body: unknown): Promise<HttpResult> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: "application/json" };
    let text: string | undefined;
    if (method === "POST") {
      text = JSON.stringify(body ?? {});
      headers["content-type"] = "application/json";
    }
    return requestText({ url: this.baseUrl + apiPath, method, headers, body: text, timeoutMs: this.requestTimeoutMs });
  }

  /** The server's own words in an error answer (`message`), else a short excerpt of the body. */
  private serverSaid(res: HttpResult): string {
    const parsed = errorBodySchema.safeParse(parseJson(res.body), ONE_SHOT_PARSE);
    return parsed.success && parsed.data.message ? parsed.data.message : excerpt(res.body, 160) || "no message";
  }

  /** Maps a 4xx answer to the runbook's action. */
  private statusError(step: string, method: Method, apiPath: string, res: HttpResult): CloudronApiError {
    const said = this.serverSaid(res);
    const call = `${method} ${apiPath}`;
    switch (res.status) {
      case 401:
        return this.fail(
          `${step}: Cloudron rejected the API token (401 on ${call}: ${said}). Create a token in the dashboard: ` +
            `Profile → API Tokens → "Read and Write", ` +
            `then \`pulumi config set --secret communityrule:cloudronToken <token>\` ` +
            `(or run \`cloudron login ${this.server}\`).`,
          "token",
          401,
        );
      case 403:
        return this.fail(
          `${step}: the token may not ${call} (403: ${said}). Deploying needs a "Read and Write" token (not ` +
            `"Readonly") ` +
            `of a user whose role is owner or admin (dashboard → Users).`,
          "forbidden",
          403,
        );
      case 404:
        return this.fail(`${step}: ${call} not found on ${this.server} (404: ${said}).`, "not_found", 404);
      case 409:
        return this.fail(`${step}: ${call} conflicts with the app's state (409: ${said}).`, "conflict", 409);
      default:
        if (res.status >= 500) {
          return this.fail(
            `${step}: ${this.server} answered ${res.status} to ${call} (${said}).`,
            "server",
            res.status,
          );
        }
        return this.fail(`${step}: Cloudron refused ${call} (${res.status}: ${said}).`, "bad_request", res.status);
    }
  }

  private transportError(step: string, method: Method, apiPath: string, err: HttpRequestError): CloudronApiError {
    if (
      ["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "CERT_HAS_EXPIRED"].includes(
        err.code,
      ) ||
      err.code.startsWith("ERR_TLS") ||
      err.code.includes("CERT")
    ) {
      const why =
        err.code === "ENOTFOUND" || err.code === "EAI_AGAIN"
          ? "the name does not resolve"
          : err.code === "ECONNREFUSED"
            ? "connection refused"
            : err.code;
      return this.fail(
        `${step}: cannot reach ${this.server} (${why}). Check communityrule:cloudronServer for a typo (it is the ` +
          `dashboard host, e.g. my.medlab.host) and your network; nothing was changed.`,
        "unreachable",
      );
    }
    return this.fail(`${step}: ${method} ${apiPath} got no answer from ${this.server} (${err.message}).`, "timeout");
  }

  /** Decodes a 2xx body with the endpoint's schema; registers every env value for masking. */
  private decode<S extends z.ZodType>(schema: S, res: HttpResult, endpoint: string): z.output<S> {
    const json = parseJson(res.body);
    if (json === undefined)
      throw this.fail(`Cloudron's answer to ${endpoint} is not JSON (HTTP ${res.status})`, "shape", res.status);
    this.collectEnvValues(json);
    try {
      return parseAnswer(schema, json, endpoint);
    } catch (err) {
      if (err instanceof ApiShapeError) throw this.fail(err.message, "shape", res.status);
      throw err;
    }
  }

  /** Every `env` map in an answer (one app, or a list of apps) goes into the mask. */
  private collectEnvValues(json: unknown): void {
    const visitApp = (a: unknown) => {
      if (a && typeof a === "object" && "env" in a) {
        const env = (a as { env: unknown }).env;
        if (env && typeof env === "object")
          for (const v of Object.values(env)) if (typeof v === "string") this.mask.addEnvValue(v);
      }
    };
    visitApp(json);
    if (json && typeof json === "object" && Array.isArray((json as { apps?: unknown }).apps))
      (json as { apps: unknown[] }).apps.forEach(visitApp);
  }

  /** GET with bounded retries (`retries`, default readRetries) on 5xx and timeouts. */
  async get<S extends z.ZodType>(
    apiPath: string,
    schema: S,
    step: string,
    retries = this.readRetries,
  ): Promise<z.output<S>> {
    const endpoint = `GET ${apiPath}`;
    let lastError: CloudronApiError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        const delay = this.backoffMs * 2 ** (attempt - 1);
        this.log(`${step}: ${lastError?.message ?? "retrying"}; retry ${attempt} of ${retries} in ${delay} ms`);
        await this.clock.sleep(delay);
      }
      let res: HttpResult;
      try {
        res = await this.exchange("GET", apiPath, undefined);
      } catch (err) {
        if (!(err instanceof HttpRequestError)) throw err;
        lastError = this.transportError(step, "GET", apiPath, err);
        if (lastError.kind === "unreachable") throw lastError;
        continue;
      }
      if (res.status >= 200 && res.status < 300) return this.decode(schema, res, endpoint);
      lastError = this.statusError(step, "GET", apiPath, res);
      if (lastError.kind !== "server") throw lastError;
    }
    throw this.fail(
      `${lastError?.message ?? endpoint} Gave up after ${retries + 1} attempts; try again later.`,
      lastError?.kind ?? "server",
      lastError?.status,
    );
  }

  /**
   * POST a mutating call. Never re-sent after a timeout or 5xx: `recover` re-reads the app and
   * its task and returns the accepted answer if the call took effect; otherwise this fails saying
   * nothing was applied. A 409 (busy) is waited out, then the call is sent again.
   */
  async post<S extends z.ZodType>(
    apiPath: string,
    body: unknown,
    schema: S,
    o: { step: string; appId?: string; recover?: () => Promise<z.output<S> | undefined> },
  ): Promise<z.output<S>> {
    const endpoint = `POST ${apiPath}`;
    if (!this.writeChecked) {
      await this.refuseReadOnlyToken(o.step);
      this.writeChecked = true;
    }
    const started = this.clock.now();
    for (;;) {
      let res: HttpResult | undefined;
      let uncertain: string | undefined;
      try {
        res = await this.exchange("POST", apiPath, body);
      } catch (err) {
        if (!(err instanceof HttpRequestError)) throw err;
        const mapped = this.transportError(o.step, "POST", apiPath, err);
        // Refused or unresolvable: the request never reached the server.
        if (mapped.kind === "unreachable") throw mapped;
        uncertain = err.message;
      }
      if (res && res.status >= 200 && res.status < 300) return this.decode(schema, res, endpoint);
      if (res && res.status >= 500) uncertain = `HTTP ${res.status}`;
      if (uncertain !== undefined) {
        const recovered = o.recover ? await o.recover() : undefined;
        if (recovered !== undefined) {
          this.log(
            `${o.step}: ${endpoint} got no clear answer (${uncertain}), but the app shows the task it started; ` +
              `following that task`,
          );
          return recovered;
        }
        throw this.fail(
          `${o.step}: ${endpoint} got no clear answer (${uncertain}) and the app shows no task from it, so it was ` +
            `not applied; ` +
            `it was NOT re-sent. Check the app in the dashboard, then run up again.`,
          "not_applied",
          res?.status,
        );
      }
      const error = this.statusError(o.step, "POST", apiPath, res as HttpResult);
      if (error.kind !== "conflict" || !o.appId) throw error;
      await this.afterConflict(o.appId, o.step, endpoint, this.serverSaid(res as HttpResult), started);
    }
  }

  /**
   * A 409 on an existing app: nothing was applied. The server answers 409 for a busy app and for
   * a state no wait will change (pogipop/cloudron 2019 src/apps.js: BAD_STATE "debug mode enabled.
   * force to override", ALREADY_EXISTS "… is in use", both mapped to 409 in src/routes/apps.js), so
   * the app is read once: busy → wait for it (bounded from `started`) and return to send again;
   * idle → fail now with the server's message.
   */
  private async afterConflict(
    appId: string,
    step: string,
    endpoint: string,
    said: string,
    started: number,
  ): Promise<void> {
    const app = await this.getApp(appId, step);
    const activity = await this.activityOf(app, step);
    if (!activity.busy) {
      throw this.fail(
        `${step}: Cloudron refused ${endpoint} (409: "${said}") while ${app.fqdn} runs no task ` +
          `(installationState ${app.installationState}, runState ${app.runState ?? "unknown"}), ` +
          `so waiting would not help; nothing was changed. ` +
          `Resolve what the server says in the dashboard (the app → its settings), then run up again.`,
        "conflict",
        409,
      );
    }
    const waited = (this.clock.now() - started) / 1000;
    if (this.clock.now() >= started + this.busyWaitSeconds * 1000) {
      throw this.busyError(step, app, activity, waited, said);
    }
    const busyWith = describeActivity(activity);
    this.log(`${step}: ${endpoint} answered 409 ("${said}"): ${app.fqdn} is busy with ${busyWith}; waiting`);
    await this.waitUntilIdle(appId, step, started, true, said);
  }

  /**
   * Whether the app runs a task now: a `pending_*` installationState (the server sets it with the
   * task: pogipop/cloudron 2019 src/appdb.js ISTATE_PENDING_*), or a taskId whose task is active or
   * still queued (spec Task: `active` = running, `pending` = scheduled to run).
   */
  async activityOf(app: App, step: string): Promise<AppActivity> {
    if (isBusy(app)) return { busy: true, taskId: app.taskId, state: app.installationState, queued: false };
    if (!app.taskId) return { busy: false, taskId: null, state: app.installationState, queued: false };
    const task = await this.getTask(app.taskId, step).catch((err: unknown) => {
      // A task id the server no longer knows is no task running.
      if (err instanceof CloudronApiError && err.kind === "not_found") return undefined;
      throw err;
    });
    const running = !!task && (task.active || task.pending === true);
    const queued = !!task && !task.active && task.pending === true;
    return { busy: running, taskId: app.taskId, state: app.installationState, queued };
  }

  // ---- reads ------------------------------------------------------------------------------

  getProfile(step: string) {
    return this.get("/profile", profileSchema, step);
  }

  /** GET /apps, each entry only looked at for id and fqdn (see {@link appListSchema}). */
  async listApps(step: string): Promise<AppListEntry[]> {
    return (await this.get("/apps", appListSchema, step)).apps.map(appListEntry);
  }

  getApp(appId: string, step: string): Promise<App> {
    return this.get(`/apps/${encodeURIComponent(appId)}`, appSchema, step);
  }

  async listDomains(step: string): Promise<string[]> {
    return (await this.get("/domains", domainListSchema, step)).domains.map((d) => d.domain);
  }

  /**
   * Every backup of the app, page by page: the server answers one page (`page`, `per_page`,
   * default 25, newest first: pogipop/cloudron 2019 src/routes/apps.js listBackups), so reading
   * only the first page misses the older ones. Bounded to {@link BACKUP_PAGES_MAX} pages.
   */
  async listBackups(appId: string, step: string): Promise<Backup[]> {
    const all: Backup[] = [];
    for (let page = 1; page <= BACKUP_PAGES_MAX; page++) {
      const query = `?page=${page}&per_page=${BACKUP_PAGE_SIZE}`;
      const { backups } = await this.get(`/apps/${encodeURIComponent(appId)}/backups${query}`, backupListSchema, step);
      all.push(...backups);
      if (backups.length < BACKUP_PAGE_SIZE) return all;
    }
    const most = BACKUP_PAGES_MAX * BACKUP_PAGE_SIZE;
    this.log(`${step}: app ${appId} has more than ${most} backups; only the newest were read`);
    return all;
  }

  /**
   * Labels a backup and keeps it at least `preserveSecs` from its creation, whatever the retention
   * (spec: POST /apps/:id/backups/:backupId, updateAppBackup; the 2019 server's cleanup skips a
   * backup younger than its preserveSecs: pogipop/cloudron src/backups.js cleanupAppBackups).
   */
  async preserveBackup(
    appId: string,
    backupId: string,
    label: string,
    preserveSecs: number,
    step: string,
  ): Promise<void> {
    const body = backupUpdateRequestSchema.parse({ label, preserveSecs }, ONE_SHOT_PARSE);
    const path = `/apps/${encodeURIComponent(appId)}/backups/${encodeURIComponent(backupId)}`;
    await this.post(path, body, backupUpdateAnswerSchema, { step, appId });
  }

  /** The version the server runs (GET /cloudron/status; no auth needed, spec getStatus). */
  async getServerVersion(step: string): Promise<string> {
    return (await this.get("/cloudron/status", serverStatusSchema, step)).version;
  }

  /**
   * Refuses a server older than the app's manifest allows (`minBoxVersion`: Cloudron will not
   * install or update the app there, and before 8.1 install was a different route).
   */
  async checkServerVersion(minBoxVersion: string | undefined, step: string): Promise<string> {
    const version = await this.getServerVersion(step);
    const problem = serverVersionProblem(version, minBoxVersion);
    if (problem) throw this.fail(`${step}: ${this.server} ${problem}`, "config");
    return version;
  }

  /**
   * What GET /tokens shows of this token's scope. The list is the user's tokens (spec getTokens);
   * ours is recognised only if the answer carries `accessToken`, which the spec lists in Token
   * but does not promise for the list. Anything else (no such route, an odd answer, no answer:
   * one attempt only) is "unknown": the 403 of the first mutating call then says that a Read and
   * Write token is needed.
   */
  async tokenScope(step: string): Promise<TokenScope> {
    let tokens;
    try {
      ({ tokens } = await this.get("/tokens", tokenListSchema, step, 0));
    } catch (err) {
      if (err instanceof CloudronApiError) {
        return { access: "unknown", why: `GET /tokens: ${err.kind}${err.status ? ` (${err.status})` : ""}` };
      }
      throw err;
    }
    // The list may carry the user's other tokens: they are secrets like ours.
    for (const t of tokens) this.mask.addSecret(t.accessToken);
    const ours = tokens.find((t) => t.accessToken !== undefined && t.accessToken === this.token);
    if (!ours) return { access: "unknown", why: "GET /tokens does not show which token is this one" };
    const name = ours.name ?? undefined;
    const readOnly = scopeAccess(ours.scope ?? undefined) === "read-only";
    return readOnly ? { access: "read-only", name } : { access: "read-write", name };
  }

  /** Fails before any mutating call when the server shows this token as read-only. */
  private async refuseReadOnlyToken(step: string): Promise<void> {
    const scope = await this.tokenScope(step);
    if (scope.access === "read-only") {
      throw this.fail(
        `${step}: the API token${scope.name ? ` "${scope.name}"` : ""} is read-only ` +
          `(its scope on Cloudron has no "rw"), ` +
          `so nothing was sent. Create a "Read and Write" token (dashboard → Profile → API Tokens) and set it: ` +
          `\`pulumi config set --secret communityrule:cloudronToken <token>\`.`,
        "forbidden",
        403,
      );
    }
  }

  getTask(taskId: string, step: string): Promise<Task> {
    return this.get(`/tasks/${encodeURIComponent(taskId)}`, taskSchema, step);
  }

  /**
   * The body of GET /backups/policy as the server sent it, or undefined when the server has no
   * such route (404: servers that state policies per backup site).
   */
  async getBackupPolicy(step: string): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.get("/backups/policy", backupPolicySchema, step);
    } catch (err) {
      if (err instanceof CloudronApiError && err.kind === "not_found") return undefined;
      throw err;
    }
  }

  /**
   * Replaces the app's tags (POST /apps/:id/configure/tags). The spec answers 200 `no_content`:
   * no task, so nothing to wait for and no restart. After an unclear answer the app is re-read:
   * tags already as sent count as applied.
   */
  async setTags(appId: string, tags: string[], step: string): Promise<void> {
    const path = `/apps/${encodeURIComponent(appId)}/configure/tags`;
    await this.post(path, tagsRequestSchema.parse({ tags }, ONE_SHOT_PARSE), noContentSchema, {
      step,
      appId,
      recover: async () => {
        const now = await this.getApp(appId, step).catch(() => undefined);
        const same = now && now.tags.length === tags.length && tags.every((t) => now.tags.includes(t));
        return same ? {} : undefined;
      },
    });
  }

  /**
   * The last `lines` lines of a log endpoint (`GET /apps/:id/logs` or `GET /tasks/:id/logs`, format
   * json: one NDJSON object per line with `message`; pogipop/cloudron 9833ad5 src/apps.js and
   * src/tasks.js getLogs). Diagnostics only: one attempt, never retried, and the masked text is
   * returned as lines (a line that is not JSON is kept as it came).
   */
  async getLogLines(apiPath: string, lines: number, step: string): Promise<string[]> {
    const query = `?lines=${Math.max(1, Math.floor(lines))}&format=json`;
    let res: HttpResult;
    try {
      res = await this.exchange("GET", apiPath + query, undefined);
    } catch (err) {
      if (err instanceof HttpRequestError) throw this.transportError(step, "GET", apiPath, err);
      throw err;
    }
    if (res.status < 200 || res.status >= 300) throw this.statusError(step, "GET", apiPath, res);
    return parseLogText(res.body).map((line) => this.mask.apply(line));
  }

  /**
   * The app at a location (fqdn, case-insensitive), or undefined. Only that entry is parsed in
   * full: a malformed entry of another app is passed over, a malformed one of ours is an error.
   */
  async findApp(location: string, step: string): Promise<App | undefined> {
    return this.appAt(await this.listApps(step), location, step);
  }

  /** The app at a location within a listing already read (see {@link findApp}). */
  appAt(entries: readonly AppListEntry[], location: string, step: string): App | undefined {
    const entry = entries.find((a) => a.fqdn?.toLowerCase() === location.toLowerCase());
    return entry ? this.parseListEntry(entry, step) : undefined;
  }

  /** One GET /apps entry parsed with the full app schema (a mismatch names the field, never a value). */
  private parseListEntry(entry: AppListEntry, step: string): App {
    try {
      return parseAnswer(appSchema, entry.raw, `GET /apps (the entry of ${entry.fqdn ?? entry.id ?? "our app"})`);
    } catch (err) {
      if (err instanceof ApiShapeError) throw this.fail(`${step}: ${err.message}`, "shape");
      throw err;
    }
  }

  /** Token valid, and its user may deploy (owner or admin). Returns the user name. */
  async checkAccess(step: string): Promise<string> {
    const profile = await this.getProfile(step);
    if (profile.role !== "owner" && profile.role !== "admin") {
      throw this.fail(
        `${step}: the token belongs to ${profile.username ?? "a user"} whose role is ${profile.role}; deploying ` +
          `needs an owner or admin ` +
          `(dashboard → Users → the user → role), or a token created by such a user.`,
        "forbidden",
      );
    }
    return profile.username ?? "";
  }

  private busyError(
    step: string,
    app: App,
    activity: AppActivity,
    waitedSeconds: number,
    said?: string,
  ): CloudronApiError {
    const quote = said ? `; the server said (409): "${said}"` : "";
    return this.fail(
      `${step}: ${app.fqdn} is busy with ${describeActivity(activity)} ` +
        `and stayed busy for ${Math.round(waitedSeconds)} s ` +
        `(communityrule:busyWaitSeconds = ${this.busyWaitSeconds})${quote}. ` +
        `Wait for that task in the dashboard, then run up again; nothing was changed.`,
      "busy",
      409,
    );
  }

  /**
   * Waits until the app has no running task (installationState `pending_*`), bounded by
   * busyWaitSeconds. An app in the `error` state is refused: fix it first.
   */
  async waitUntilIdle(
    appId: string,
    step: string,
    since: number = this.clock.now(),
    pauseFirst = false,
    said?: string,
  ): Promise<App> {
    const deadline = since + this.busyWaitSeconds * 1000;
    if (pauseFirst) await this.clock.sleep(Math.min(this.pollDelay(0), Math.max(0, deadline - this.clock.now())));
    for (let round = 0; ; round++) {
      const app = await this.getApp(appId, step);
      if (app.installationState === "error") {
        throw this.fail(
          `${step}: ${app.fqdn} is in an error state on Cloudron (${app.error ?? "no message"}). Fix it first ` +
            `(dashboard → the app → Repair, or \`cloudron logs --app ${app.fqdn}\`); nothing was changed.`,
          "app_error",
        );
      }
      const activity = await this.activityOf(app, step);
      if (!activity.busy) return app;
      const now = this.clock.now();
      const waited = (now - since) / 1000;
      if (now >= deadline) throw this.busyError(step, app, activity, waited, said);
      const busyWith = describeActivity(activity);
      this.log(`${step}: ${app.fqdn} is busy with ${busyWith}; waiting, ${Math.round(waited)} s so far`);
      // Never sleep past the bound: the last look is at the deadline, not a poll interval after it.
      await this.clock.sleep(Math.min(this.pollDelay(round), deadline - now));
    }
  }

  /**
   * Polls GET /tasks/:id until the task is over, printing "percent% message" when it changes.
   * Bounded by taskTimeoutSeconds; fails with the task's own error.
   */
  async waitForTask(taskId: string, step: string): Promise<Task> {
    const deadline = this.clock.now() + this.taskTimeoutSeconds * 1000;
    let last = "";
    for (let round = 0; ; round++) {
      const task = await this.getTask(taskId, step);
      const line = `${step}: ${task.percent ?? 0}% ${task.message ?? ""}`.trimEnd();
      if (line !== last) this.log(line);
      last = line;
      if (!task.active && task.pending !== true) {
        const ok = task.success === true || ((task.success === null || task.success === undefined) && !task.error);
        if (ok) return task;
        throw Object.assign(
          this.fail(
            `${step}: Cloudron task ${taskId} failed: ${task.error ?? "no error message"}. The app's event log and ` +
              `logs in the dashboard show why.`,
            "task_failed",
          ),
          { taskId },
        );
      }
      const now = this.clock.now();
      if (now >= deadline) {
        throw Object.assign(
          this.fail(
            `${step}: Cloudron task ${taskId} is still running after ${this.taskTimeoutSeconds} s ` +
              `(communityrule:cloudronTimeoutSeconds); ` +
              `it goes on on the server. Watch it in the dashboard, then run up again.`,
            "task_timeout",
          ),
          { taskId },
        );
      }
      await this.clock.sleep(Math.min(this.pollDelay(round), deadline - now));
    }
  }
}

/**
 * Log text as lines of messages: NDJSON objects give their `message` (the server's json format);
 * anything else is kept as it came (format short, or a server that answers differently).
 */
export function parseLogText(text: string): string[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const json = parseJson(line);
      return json && typeof json === "object" && typeof (json as { message?: unknown }).message === "string"
        ? (json as { message: string }).message
        : line;
    });
}

/** True while Cloudron runs a task on the app (its installationState is `pending_*`). */
export function isBusy(app: App): boolean {
  return app.installationState.startsWith("pending_");
}

/** Whether an app runs (or has queued) a task, and which. */
export interface AppActivity {
  busy: boolean;
  taskId: string | null;
  /** installationState as read. */
  state: string;
  /** The task is scheduled but not started yet (spec Task: `active: false, pending: true`). */
  queued: boolean;
}

/** "task 12 (pending_update)", "task 12 (queued, installed)", "no task (installed)". */
export function describeActivity(a: AppActivity): string {
  const task = a.taskId ? `task ${a.taskId}` : a.busy ? "task (id not shown)" : "no task";
  return `${task} (${a.queued ? "queued, " : ""}${a.state})`;
}

/** Pages of GET /apps/:id/backups read at most, and their size. */
export const BACKUP_PAGE_SIZE = 100;
export const BACKUP_PAGES_MAX = 20;

/** POST /apps/:id/backups/:backupId answers 200 with no content (spec: no_content). */
const backupUpdateAnswerSchema = z.unknown();

/**
 * Why a server at `version` cannot run an app needing `minBoxVersion`, or undefined when it can
 * (or when the manifest names no minimum). An unreadable version is a problem too.
 */
export function serverVersionProblem(version: string, minBoxVersion: string | undefined): string | undefined {
  if (!minBoxVersion) return undefined;
  if (!semver.valid(version)) {
    return `reports version "${version}", which is not a version this check can compare with ${minBoxVersion}`;
  }
  if (!semver.valid(minBoxVersion)) return undefined;
  if (semver.lt(version, minBoxVersion)) {
    return (
      `runs Cloudron ${version}, below the ${minBoxVersion} the app's CloudronManifest.json needs (minBoxVersion); ` +
      `update Cloudron first (dashboard → Settings → Updates), nothing was changed`
    );
  }
  return undefined;
}

/** What a token may do, as GET /tokens shows its scope. */
export type TokenScope =
  { access: "read-write"; name?: string } | { access: "read-only"; name?: string } | { access: "unknown"; why: string };

/** A scope map (`{"*": "rw"}`, `{"*": "r"}`, or per route) grants writing when any entry is `rw`. */
export function scopeAccess(scope: Record<string, string> | undefined): "read-write" | "read-only" {
  if (!scope) return "read-write";
  return Object.values(scope).some((v) => v.includes("w")) ? "read-write" : "read-only";
}

/** Where the token came from, for messages (never the token itself). */
export type TokenSource = "communityrule:cloudronToken" | "CLOUDRON_TOKEN" | "~/.cloudron.json";

/** Same server, ignoring scheme, trailing slash and case. */
export function sameServer(a: string, b: string): boolean {
  const norm = (s: string) =>
    s
      .replace(/^https?:\/\//i, "")
      .replace(/\/+$/, "")
      .toLowerCase();
  return norm(a) === norm(b);
}

/**
 * The API token: the configured one, else the one `cloudron login <server>` stored in
 * `~/.cloudron.json` for this server. Pure apart from `readFile`.
 */
export function resolveToken(o: {
  server: string;
  configToken?: string;
  envToken?: string;
  homeDir?: string;
  readFile?: (file: string) => string;
}): { token: string; source: TokenSource } {
  if (o.configToken) return { token: o.configToken, source: "communityrule:cloudronToken" };
  if (o.envToken) return { token: o.envToken, source: "CLOUDRON_TOKEN" };
  const file = path.join(o.homeDir ?? os.homedir(), ".cloudron.json");
  const readFile = o.readFile ?? ((f: string) => fs.readFileSync(f, "utf8"));
  const how =
    `Create one in the dashboard (Profile → API Tokens → "Read and Write") and run ` +
    `\`pulumi config set --secret communityrule:cloudronToken <token>\`, or run \`cloudron login ${o.server}\`.`;
  let text: string;
  try {
    text = readFile(file);
  } catch {
    throw new CloudronApiError(
      `no Cloudron API token: communityrule:cloudronToken is not set and there is no ${file}. ${how}`,
      "token",
    );
  }
  const parsed = parseJson(text) as { cloudrons?: Record<string, unknown> } | undefined;
  const entries = parsed && typeof parsed.cloudrons === "object" && parsed.cloudrons ? parsed.cloudrons : {};
  for (const [key, value] of Object.entries(entries)) {
    if (!value || typeof value !== "object") continue;
    const entry = value as { apiEndpoint?: unknown; token?: unknown };
    const endpoint = typeof entry.apiEndpoint === "string" ? entry.apiEndpoint : key;
    if (
      (sameServer(key, o.server) || sameServer(endpoint, o.server)) &&
      typeof entry.token === "string" &&
      entry.token !== ""
    ) {
      return { token: entry.token, source: "~/.cloudron.json" };
    }
  }
  throw new CloudronApiError(
    `no Cloudron API token: communityrule:cloudronToken is not set and ${file} has no login for ${o.server}. ${how}`,
    "token",
  );
}
