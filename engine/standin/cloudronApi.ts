/**
 * A stand-in for Cloudron's REST API (test tooling, not product): a real HTTP server on loopback
 * that answers the operations the deploy uses, written from Cloudron's OpenAPI description
 * (../shared/reference/cloudron-openapi.json, January 2026) and cloudron-api.md — not from the
 * project's client, so the two are independent readings of the spec.
 *
 *   const api = await startCloudronApi({ tokens: [{ token, role: "owner" }] });
 *   // client talks to `${api.url}/api/v1`; tests read api.state, api.calls(), inject api.state.faults
 *   await api.stop();
 *
 * What it does like the real server: Bearer-token auth (401), role and read-only tokens (403),
 * long operations as asynchronous tasks (202 + task id; progress with percent and message; the app
 * is `pending_*` while its task runs and a second mutating call answers 409), per-app env that GET
 * /apps returns for every app, a pre-update backup unless `skipBackup`, request bodies checked
 * against the spec's shapes (400 naming the field). What it adds for tests: a call log, a list of
 * violations (access_token in the query, skipBackup: true, unknown or malformed fields) that the
 * lifecycle runner turns into a failure, per-operation fault injection, restart counting, and a
 * private test-only endpoint (`POST /__standin__/exec`) that the `cloudron exec` stand-in uses to
 * play the seed. Where the spec is ambiguous the stand-in takes the strict reading; the choices are
 * listed in /work/coord/api.md and engine/README.md.
 */
import * as crypto from "node:crypto";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";

// ---- state ----------------------------------------------------------------------------------------

/** A user role as `GET /profile` reports it (spec: Profile.role). */
export type Role = "owner" | "admin" | "usermanager" | "mailmanager" | "user";

/** An API token the stand-in accepts. Read-only tokens may only GET. */
export interface StandinToken {
  token: string;
  role: Role;
  readonly?: boolean;
}

/** A manifest as the app runs it (the deploy's custom app carries `dockerImage`). */
export interface StandinManifest {
  id: string;
  version: string;
  dockerImage: string;
  [field: string]: unknown;
}

/** A backup of one app (spec: components.schemas.backups items). */
export interface StandinBackup {
  id: string;
  creationTime: string;
  packageVersion: string;
  type: "app";
  state: "normal";
  format: "tgz";
  label: string;
  preserveSecs: number;
  identifier: string;
  remotePath: string;
  manifest: StandinManifest;
}

/** One app on the stand-in server: the spec's app fields plus test bookkeeping. */
export interface StandinApp {
  id: string;
  appStoreId: string;
  subdomain: string;
  domain: string;
  fqdn: string;
  manifest: StandinManifest;
  installationState: string;
  runState: string;
  health: string | null;
  error: string | null;
  /** The running task's id (a string, as the spec's app.taskId), null when no task runs. */
  taskId: string | null;
  env: Record<string, string>;
  enableBackup: boolean;
  enableAutomaticUpdate: boolean;
  accessRestriction: unknown;
  memoryLimit: number;
  label: string | null;
  tags: string[];
  /** Free text shown in the dashboard (spec: app.notes, string or null). */
  notes: string | null;
  /**
   * Debug mode (spec app.debugMode: null or `{ readonlyRootfs, cmd }`); while set, an update
   * without `force` answers 409 "debug mode enabled. force to override" (pogipop/cloudron 2019
   * src/apps.js update(), BAD_STATE → 409 in src/routes/apps.js).
   */
  debugMode: Record<string, unknown> | null;
  creationTime: string;
  updateTime: string;
  ts: string;
  // ---- not part of the API answer --------------------------------------------------------------
  /** Backups, newest first (`GET /apps/:id/backups`). */
  backups: StandinBackup[];
  /** Container starts: install, update, env change, restart, clone. */
  restarts: number;
  /** Times the seed completed in this app's database (read by the fake app's /api/templates). */
  seedRuns: number;
  clonedFrom?: string;
  /** The backup a restore put into this app. */
  restoredFrom?: string;
  /**
   * The app's log as `GET /apps/:id/logs` tails it: `<ISO timestamp> <message>` lines, oldest first
   * (the server tails the app's apptask.log and app.log; see the logs handlers). Tests append what the
   * container printed, e.g. a failed `prisma migrate deploy`.
   */
  logLines: string[];
  /**
   * Fields shown in the API answer in place of the real ones: an app whose answer another client
   * or a newer server shaped differently (e.g. `installationState: 7`, `manifest: null`).
   */
  shownAs?: Record<string, unknown>;
}

/** What a task does when it finishes. */
export type TaskKind = "install" | "update" | "configureEnv" | "uninstall" | "clone" | "restart" | "backup" | "restore";

/** A task of the stand-in (spec: Task). */
export interface StandinTask {
  id: number;
  kind: TaskKind;
  appId: string;
  createdAt: number;
  /** Earliest time it may finish (ms since epoch). */
  finishAt: number;
  /** Reads of this task through GET /tasks/:id or GET /apps/:id/task. */
  polls: number;
  active: boolean;
  success: boolean;
  /** Error message when the task failed. */
  error: string | null;
  result: Record<string, unknown> | null;
  /** Whether the first read must see it active (false for busy tasks, which end on the clock). */
  waitsForPoll: boolean;
  /**
   * Until this time (ms) the task is queued: the spec's Task has `pending` ("scheduled to run")
   * beside `active` ("currently running"), so a queued task reads `active: false, pending: true`.
   */
  queuedUntil: number;
  /** Progress messages, one per stage. */
  stages: string[];
  /** Applies the task's effect (null: nothing to apply, e.g. an injected no-op). */
  apply: (() => string | void) | null;
  /** Failure message to end with, instead of applying. */
  failWith?: string;
  /** The task's own log (`GET /tasks/:id/logs`): `<ISO timestamp> <message>` lines, oldest first. */
  logLines?: string[];
}

/** Operation names: the spec's operationIds, plus the private exec endpoint. */
export type OperationName =
  | "getProfile"
  | "listAppsByUser"
  | "getApp"
  | "listDomains"
  | "installApp"
  | "updateApp"
  | "setAppEnv"
  | "getTask"
  | "getAppTask"
  | "getAppBackups"
  | "uninstallApp"
  | "cloneApp"
  | "getBackupPolicy"
  | "setAutomaticAppBackup"
  | "restartApp"
  | "setAppTags"
  | "downloadAppLogs"
  | "getTaskLogs"
  | "setAppNotes"
  | "backupApp"
  | "updateAppBackup"
  | "restoreFromBackup"
  | "getStatus"
  | "getTokens"
  | "standinExec";

/** Operations that change something on the server (the seed exec included: it writes data). */
export const MUTATING_OPERATIONS: ReadonlySet<OperationName> = new Set<OperationName>([
  "installApp",
  "updateApp",
  "setAppEnv",
  "uninstallApp",
  "cloneApp",
  "setAutomaticAppBackup",
  "restartApp",
  // Writes the app's tags (no task, no restart), so a no-op up must not send it either.
  "setAppTags",
  "backupApp",
  "updateAppBackup",
  "restoreFromBackup",
  "standinExec",
]);

/** A fault to inject into the next matching call(s). */
export type FaultKind =
  "401" | "403" | "404" | "409" | "500" | "hang" | "taskFails" | "taskNoop" | "envValueDiffers" | "envDropKey";

export interface Fault {
  operation: OperationName;
  kind: FaultKind;
  /** How many matching calls it affects (default 1). */
  times?: number;
  /** Error text (status faults, taskFails). */
  message?: string;
  /** `hang`: how long the request is held before its socket is destroyed (default 3000, max 10000). */
  hangMs?: number;
  /** `hang` on a mutating call: perform the operation first, then hang (the answer is lost). */
  applied?: boolean;
  /** `409`: how long the app stays busy with a backup task (default 1500 ms). */
  busyMs?: number;
  /**
   * `409`: answer 409 without making the app busy: a refusal about the app's state, not a task
   * (e.g. "Domain 'x' is in use": pogipop/cloudron 2019 src/apps.js getDuplicateErrorDetails).
   */
  idle?: boolean;
  /** `envValueDiffers` / `envDropKey`: the key to alter (default: the first key, sorted). */
  key?: string;
  /** `envValueDiffers`: the value stored instead (default: asked value + "-altered"). */
  value?: string;
}

/** One recorded call. Request bodies are kept for assertions (install and env carry secrets). */
export interface ApiCall {
  seq: number;
  method: string;
  /** Path without the query string, e.g. `/api/v1/apps/<id>/configure/env`. */
  path: string;
  operation: OperationName | "unknown";
  status: number;
  /** Query parameters as sent (an access_token here is a violation). */
  query: Record<string, string>;
  authenticated: boolean;
  fault?: FaultKind;
  requestBody?: unknown;
  /** Task started by this call, if any. */
  taskId?: number;
  appId?: string;
  time: number;
}

export interface RestartEntry {
  appId: string;
  fqdn: string;
  reason: TaskKind;
  image: string;
  time: number;
}

export interface CloudronApiState {
  tokens: StandinToken[];
  apps: StandinApp[];
  tasks: StandinTask[];
  domains: Array<{ domain: string; zoneName: string; provider: string }>;
  /**
   * The body of GET /backups/policy, as the server would send it (the spec's single policy
   * `{ policy: { schedule, retention } }` by default; tests put other shapes here), or null for a
   * server without that route (404).
   */
  backupPolicy: Record<string, unknown> | null;
  /** The Cloudron version GET /cloudron/status reports. */
  version: string;
  /** How long each new task stays queued before it runs (ms; default 0). */
  queueMs: number;
  faults: Fault[];
  calls: ApiCall[];
  /** Things a correct client never does; the lifecycle runner fails a scenario that has any. */
  violations: string[];
  restartLog: RestartEntry[];
  /** How long a task runs before it may finish (ms). */
  taskMs: number;
  /** Fake-app knob: images (substring match) whose /api/health answers 503. */
  unhealthyImages: string[];
  /**
   * Fake-app knob: the port an image (substring match) listens on. Cloudron's proxy sends requests to
   * the manifest's `httpPort` (CloudronManifest format), so an app whose manifest names another port
   * than its image listens on answers only with the proxy's 502.
   */
  imageHttpPorts: Record<string, number>;
  /**
   * Backups of uninstalled apps. Cloudron keeps backups in its backup table, not in the app, so an
   * uninstall leaves them until the cleanup removes those past retention and `preserveSecs`
   * (pogipop/cloudron @9833ad5, src/backups.js cleanupAppBackups); a restore can still name them.
   */
  detachedBackups: StandinBackup[];
}

export interface CloudronApiOptions {
  tokens?: StandinToken[];
  /** The Cloudron version GET /cloudron/status reports (default 9.0.2). */
  version?: string;
  domains?: string[];
  taskMs?: number;
}

/** A running stand-in. */
export interface CloudronApi {
  /** `http://127.0.0.1:<port>`: the value for `communityrule:cloudronServer`. */
  url: string;
  port: number;
  state: CloudronApiState;
  calls(): ApiCall[];
  /** The app at a location (fqdn) or with an id. */
  app(fqdnOrId: string): StandinApp | undefined;
  /** Puts an app on the server as if installed by hand (dashboard); fields default sensibly. */
  addApp(fields: Partial<StandinApp> & { fqdn: string; manifest: StandinManifest }): StandinApp;
  /** Makes an app busy with a backup task for `ms` (as the nightly backup would); returns the task id. */
  makeBusy(fqdnOrId: string, ms: number): number;
  /** Takes a backup of an app now (as the daily schedule would); newest first in its list. */
  addBackup(fqdnOrId: string): StandinBackup;
  injectFault(fault: Fault): void;
  /**
   * The server as it is now, to come back to with {@link restore}. Only between requests with no
   * task running (a running task's effect is code, not data).
   */
  snapshot(): CloudronApiSnapshot;
  /**
   * Puts the server back as it was at `snapshot`: apps, tasks, faults, backups, policy, knobs.
   * Held (hung) requests are dropped first, so nothing from before can land in the restored state.
   * The call log and violations are not rewound: they are the record of everything that happened.
   */
  restore(snapshot: CloudronApiSnapshot): void;
  stop(): Promise<void>;
}

/** A copy of the stand-in's state (not the call log or violations); see {@link CloudronApi.snapshot}. */
export type CloudronApiSnapshot = { readonly json: string };

// ---- helpers --------------------------------------------------------------------------------------

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  424: "Failed Dependency",
  500: "Internal Server Error",
};

/** An answer that is not JSON (the logs endpoints answer `application/x-logs` text). */
class RawText {
  constructor(
    readonly text: string,
    readonly contentType: string,
  ) {}
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const now = () => new Date().toISOString();

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map(Number);
  const pb = b.split(/[.+-]/).map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** Fills an app's fields the way the server would for an app installed by hand. */
export function makeApp(fields: Partial<StandinApp> & { fqdn: string; manifest: StandinManifest }): StandinApp {
  const [sub, ...rest] = fields.fqdn.split(".");
  const apex = rest.length < 2;
  const t = now();
  return {
    id: crypto.randomUUID(),
    appStoreId: "",
    subdomain: apex ? "" : sub,
    domain: apex ? fields.fqdn : rest.join("."),
    installationState: "installed",
    runState: "running",
    health: "healthy",
    error: null,
    taskId: null,
    env: {},
    enableBackup: true,
    enableAutomaticUpdate: false,
    accessRestriction: null,
    memoryLimit: 0,
    label: null,
    tags: [],
    notes: null,
    debugMode: null,
    creationTime: t,
    updateTime: t,
    ts: t,
    backups: [],
    restarts: 0,
    seedRuns: 0,
    logLines: [],
    ...fields,
  };
}

/** The app as the API shows it (bookkeeping fields left out). */
function apiApp(app: StandinApp): Record<string, unknown> {
  const {
    backups: _b,
    restarts: _r,
    seedRuns: _s,
    clonedFrom: _c,
    restoredFrom: _rf,
    logLines: _l,
    shownAs,
    ...shown
  } = app;
  return { ...shown, env: { ...app.env }, manifest: { ...app.manifest }, tags: [...app.tags], ...(shownAs ?? {}) };
}

// ---- request shapes (from the spec's requestBody schemas) ------------------------------------------

type FieldCheck = (value: unknown) => string | undefined;
interface BodyShape {
  required: string[];
  fields: Record<string, FieldCheck>;
}

const isString: FieldCheck = (v) => (typeof v === "string" ? undefined : "must be a string");
const isBoolean: FieldCheck = (v) => (typeof v === "boolean" ? undefined : "must be a boolean");
const isNumber: FieldCheck = (v) => (typeof v === "number" && Number.isFinite(v) ? undefined : "must be a number");
const isObject: FieldCheck = (v) => (isPlainObject(v) ? undefined : "must be an object");
const isNullableString: FieldCheck = (v) =>
  v === null || typeof v === "string" ? undefined : "must be a string or null";
const isStringArray: FieldCheck = (v) =>
  Array.isArray(v) && v.every((x) => typeof x === "string") ? undefined : "must be an array of strings";
const isEnvMap: FieldCheck = (v) => {
  if (!isPlainObject(v)) return "must be an object of string values";
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") return `.${k}: must be a string (the spec: "an object where the values are strings")`;
  }
  return undefined;
};
const isManifest: FieldCheck = (v) => {
  if (!isPlainObject(v)) return "must be an object";
  const error = (require("cloudron-manifestformat") as { parse(m: unknown): Error | null }).parse(v);
  if (error) return `is not a valid CloudronManifest: ${error.message}`;
  if (typeof v.dockerImage !== "string" || v.dockerImage === "")
    return ".dockerImage: is required for a custom app (no app store package to take it from)";
  return undefined;
};
const isAccessRestriction: FieldCheck = (v) => {
  if (v === null) return undefined;
  if (!isPlainObject(v)) return "must be null or an object {users, groups}";
  for (const k of ["users", "groups"]) if (k in v && isStringArray(v[k])) return `.${k}: must be an array of strings`;
  return undefined;
};

const INSTALL_SHAPE: BodyShape = {
  required: ["manifest", "domain", "subdomain", "accessRestriction"],
  fields: {
    appStoreId: isString,
    manifest: isManifest,
    domain: isString,
    subdomain: isString,
    accessRestriction: isAccessRestriction,
    ports: isObject,
    icon: isString,
    label: isNullableString,
    memoryLimit: isNumber,
    sso: isBoolean,
    enableBackup: isBoolean,
    enableAutomaticUpdate: isBoolean,
    debugMode: isObject,
    secondaryDomains: isObject,
    redirectDomains: isObject,
    aliasDomains: isObject,
    overwriteDns: isBoolean,
    skipDnsSetup: isBoolean,
    env: isEnvMap,
    enableMailbox: isBoolean,
    enableTurn: isBoolean,
    upstreamUri: isString,
  },
};
const UPDATE_SHAPE: BodyShape = {
  required: [],
  fields: { manifest: isManifest, appStoreId: isString, skipBackup: isBoolean, force: isBoolean },
};
const ENV_SHAPE: BodyShape = { required: ["env"], fields: { env: isEnvMap } };
const CLONE_SHAPE: BodyShape = {
  required: ["backupId", "subdomain", "domain"],
  fields: {
    backupId: isString,
    subdomain: isString,
    domain: isString,
    ports: isObject,
    overwriteDns: isBoolean,
    skipDnsSetup: isBoolean,
  },
};
// Spec: setAppNotes, body { notes: string | null }; 200 with no task (nothing restarts).
const NOTES_SHAPE: BodyShape = { required: ["notes"], fields: { notes: isNullableString } };
const BACKUP_UPDATE_SHAPE: BodyShape = { required: [], fields: { label: isString, preserveSecs: isNumber } };
const AUTOMATIC_BACKUP_SHAPE: BodyShape = { required: ["enable"], fields: { enable: isBoolean } };
// Spec: setAppTags requestBody `{ tags: schemas/tags }` (an array of strings), required.
const TAGS_SHAPE: BodyShape = { required: ["tags"], fields: { tags: isStringArray } };
// POST /apps/:id/restore (spec: restoreFromBackup).
const RESTORE_SHAPE: BodyShape = { required: ["backupId"], fields: { backupId: isString } };
const EXEC_SHAPE: BodyShape = {
  required: ["app", "cmd", "argv"],
  fields: { app: isString, cmd: isStringArray, argv: isStringArray },
};

// ---- the server -------------------------------------------------------------------------------------

interface Route {
  method: "GET" | "POST";
  pattern: RegExp;
  operation: OperationName;
  shape?: BodyShape;
  /** Body may be empty (POSTs with no requestBody in the spec). */
  noBody?: boolean;
  /** Answers without a token (spec: `security: []`). */
  public?: boolean;
}

const API = "/api/v1";
const ROUTES: Route[] = [
  { method: "GET", pattern: /^\/api\/v1\/profile$/, operation: "getProfile" },
  { method: "GET", pattern: /^\/api\/v1\/apps$/, operation: "listAppsByUser" },
  { method: "POST", pattern: /^\/api\/v1\/apps$/, operation: "installApp", shape: INSTALL_SHAPE },
  { method: "GET", pattern: /^\/api\/v1\/apps\/([^/]+)$/, operation: "getApp" },
  { method: "GET", pattern: /^\/api\/v1\/domains$/, operation: "listDomains" },
  { method: "POST", pattern: /^\/api\/v1\/apps\/([^/]+)\/update$/, operation: "updateApp", shape: UPDATE_SHAPE },
  { method: "POST", pattern: /^\/api\/v1\/apps\/([^/]+)\/configure\/env$/, operation: "setAppEnv", shape: ENV_SHAPE },
  {
    method: "POST",
    pattern: /^\/api\/v1\/apps\/([^/]+)\/configure\/automatic_backup$/,
    operation: "setAutomaticAppBackup",
    shape: AUTOMATIC_BACKUP_SHAPE,
  },
  {
    method: "POST",
    pattern: /^\/api\/v1\/apps\/([^/]+)\/configure\/notes$/,
    operation: "setAppNotes",
    shape: NOTES_SHAPE,
  },
  { method: "GET", pattern: /^\/api\/v1\/tasks\/([^/]+)$/, operation: "getTask" },
  { method: "GET", pattern: /^\/api\/v1\/apps\/([^/]+)\/task$/, operation: "getAppTask" },
  { method: "GET", pattern: /^\/api\/v1\/apps\/([^/]+)\/backups$/, operation: "getAppBackups" },
  { method: "POST", pattern: /^\/api\/v1\/apps\/([^/]+)\/uninstall$/, operation: "uninstallApp", noBody: true },
  { method: "POST", pattern: /^\/api\/v1\/apps\/([^/]+)\/restart$/, operation: "restartApp", noBody: true },
  { method: "POST", pattern: /^\/api\/v1\/apps\/([^/]+)\/clone$/, operation: "cloneApp", shape: CLONE_SHAPE },
  { method: "GET", pattern: /^\/api\/v1\/backups\/policy$/, operation: "getBackupPolicy" },
  {
    method: "POST",
    pattern: /^\/api\/v1\/apps\/([^/]+)\/configure\/tags$/,
    operation: "setAppTags",
    shape: TAGS_SHAPE,
  },
  { method: "GET", pattern: /^\/api\/v1\/apps\/([^/]+)\/logs$/, operation: "downloadAppLogs" },
  { method: "GET", pattern: /^\/api\/v1\/tasks\/([^/]+)\/logs$/, operation: "getTaskLogs" },
  { method: "GET", pattern: /^\/api\/v1\/cloudron\/status$/, operation: "getStatus", public: true },
  { method: "GET", pattern: /^\/api\/v1\/tokens$/, operation: "getTokens" },
  {
    method: "POST",
    pattern: /^\/api\/v1\/apps\/([^/]+)\/backups\/([^/]+)$/,
    operation: "updateAppBackup",
    shape: BACKUP_UPDATE_SHAPE,
  },
  // Not in the January 2026 description; the server routes it (pogipop/cloudron @9833ad5, src/server.js:
  // router.post('/api/v1/apps/:id/backup'), answered 202; a 2026 client reads a taskId (cloudron-cli.md §8).
  { method: "POST", pattern: /^\/api\/v1\/apps\/([^/]+)\/backup$/, operation: "backupApp", noBody: true },
  {
    method: "POST",
    pattern: /^\/api\/v1\/apps\/([^/]+)\/restore$/,
    operation: "restoreFromBackup",
    shape: RESTORE_SHAPE,
  },
  { method: "POST", pattern: /^\/__standin__\/exec$/, operation: "standinExec", shape: EXEC_SHAPE },
];

/** Stage messages a task reports as it progresses (percent rises with them). */
const STAGES: Record<TaskKind, string[]> = {
  install: ["Queued", "Registering subdomain", "Downloading image", "Creating container", "Starting app"],
  update: ["Queued", "Backing up app", "Downloading image", "Updating container", "Starting app"],
  configureEnv: ["Queued", "Updating environment", "Restarting app"],
  uninstall: ["Queued", "Stopping app", "Removing container", "Unregistering subdomain"],
  clone: ["Queued", "Downloading backup", "Restoring app", "Starting app"],
  restart: ["Queued", "Restarting app"],
  backup: ["Queued", "Backing up app"],
  restore: ["Queued", "Downloading backup", "Restoring app", "Starting app"],
};

const PENDING_STATE: Record<TaskKind, string> = {
  install: "pending_install",
  update: "pending_update",
  configureEnv: "pending_configure",
  uninstall: "pending_uninstall",
  clone: "pending_clone",
  restart: "pending_restart",
  backup: "pending_backup",
  restore: "pending_restore",
};

/** Starts the stand-in on 127.0.0.1 with an OS-assigned port. */
export async function startCloudronApi(options: CloudronApiOptions = {}): Promise<CloudronApi> {
  const state: CloudronApiState = {
    tokens: options.tokens ?? [],
    apps: [],
    tasks: [],
    domains: (options.domains ?? ["communityrule.info"]).map((d) => ({ domain: d, zoneName: d, provider: "noop" })),
    backupPolicy: { policy: { schedule: "00 00 23 * * *", retention: { keepWithinSecs: 30 * 24 * 3600 } } },
    version: options.version ?? "9.0.2",
    queueMs: 0,
    faults: [],
    calls: [],
    violations: [],
    restartLog: [],
    taskMs: options.taskMs ?? 300,
    unhealthyImages: [],
    imageHttpPorts: {},
    detachedBackups: [],
  };
  let nextTaskId = 100;
  const sockets = new Set<Socket>();
  const hangTimers = new Set<NodeJS.Timeout>();

  const findApp = (idOrFqdn: string) => state.apps.find((a) => a.id === idOrFqdn || a.fqdn === idOrFqdn);

  function restart(app: StandinApp, reason: TaskKind) {
    app.restarts += 1;
    // What the app prints at each start: its start script runs `prisma migrate deploy` first (fixture
    // scripts/start.sh), and Prisma opens with its schema line. Tests add what a failing start prints.
    appLog(app, "Prisma schema loaded from prisma/schema.prisma");
    appLog(app, `No pending migrations to apply. (${reason} of ${app.manifest.dockerImage})`);
    state.restartLog.push({ appId: app.id, fqdn: app.fqdn, reason, image: app.manifest.dockerImage, time: Date.now() });
  }

  function startTask(
    app: StandinApp,
    kind: TaskKind,
    apply: StandinTask["apply"],
    opts: { durationMs?: number; waitsForPoll?: boolean; failWith?: string } = {},
  ): StandinTask {
    const queuedUntil = Date.now() + state.queueMs;
    const task: StandinTask = {
      id: nextTaskId++,
      kind,
      appId: app.id,
      createdAt: Date.now(),
      queuedUntil,
      finishAt: queuedUntil + (opts.durationMs ?? state.taskMs),
      polls: 0,
      active: true,
      success: false,
      error: null,
      result: null,
      waitsForPoll: opts.waitsForPoll ?? true,
      stages: STAGES[kind],
      apply,
      failWith: opts.failWith,
    };
    taskLog(task, `${kind} of app ${app.id} (${app.fqdn}): ${task.stages[0]}`);
    state.tasks.push(task);
    app.taskId = String(task.id);
    app.installationState = PENDING_STATE[kind];
    app.ts = now();
    return task;
  }

  function finishTask(task: StandinTask) {
    task.active = false;
    const app = state.apps.find((a) => a.id === task.appId);
    for (const stage of task.stages.slice(1)) taskLog(task, stage);
    if (task.failWith !== undefined) {
      taskLog(task, `task failed: ${task.failWith}`);
      task.success = false;
      task.error = task.failWith;
      if (app) {
        app.taskId = null;
        app.installationState = "error";
        app.error = task.failWith;
        app.ts = now();
      }
      return;
    }
    task.success = true;
    const note = task.apply ? task.apply() : undefined;
    task.result = note ? { message: note } : {};
    if (app && state.apps.includes(app)) {
      app.taskId = null;
      if (app.installationState.startsWith("pending_")) app.installationState = "installed";
      app.error = null;
      app.ts = now();
    }
  }

  /** Finishes every task whose time has come (and that was read at least once, or waited 3x). */
  function advanceTasks() {
    const t = Date.now();
    for (const task of state.tasks) {
      if (!task.active || t < task.finishAt) continue;
      const grace = task.finishAt + 2 * Math.max(state.taskMs, 1);
      if (task.waitsForPoll && task.polls === 0 && t < grace) continue;
      finishTask(task);
    }
  }
  const ticker = setInterval(advanceTasks, 25);
  ticker.unref();

  function taskProgress(task: StandinTask): { percent: number; message: string } {
    if (!task.active) return { percent: 100, message: task.success ? "Done" : `Failed: ${task.error}` };
    if (Date.now() < task.queuedUntil) return { percent: 1, message: "Queued" };
    const span = Math.max(task.finishAt - task.queuedUntil, 1);
    const fraction = Math.min((Date.now() - task.queuedUntil) / span, 0.99);
    const stage = Math.min(Math.floor(fraction * task.stages.length), task.stages.length - 1);
    return { percent: Math.max(1, Math.min(99, Math.round(fraction * 100))), message: task.stages[stage] };
  }

  function takeFault(operation: OperationName): Fault | undefined {
    const fault = state.faults.find((f) => f.operation === operation && (f.times ?? 1) > 0);
    if (!fault) return undefined;
    fault.times = (fault.times ?? 1) - 1;
    return fault;
  }

  function violation(message: string) {
    state.violations.push(message);
  }

  function checkBody(operation: OperationName, shape: BodyShape, body: unknown): Record<string, unknown> {
    if (!isPlainObject(body)) {
      violation(`${operation}: request body is not a JSON object`);
      throw new HttpError(400, "body: must be a JSON object");
    }
    for (const key of shape.required) {
      if (!(key in body) || body[key] === undefined) {
        violation(`${operation}: body.${key} is required by the spec and missing`);
        throw new HttpError(400, `${key}: is required`);
      }
    }
    for (const [key, value] of Object.entries(body)) {
      const check = shape.fields[key];
      if (!check) {
        violation(`${operation}: body.${key} is not a field of this request in the spec`);
        continue;
      }
      const problem = check(value);
      if (problem) {
        violation(`${operation}: body.${key}${problem.startsWith(".") ? problem : `: ${problem}`}`);
        throw new HttpError(400, `${key}${problem.startsWith(".") ? problem : `: ${problem}`}`);
      }
    }
    return body;
  }

  function requireApp(id: string): StandinApp {
    const app = state.apps.find((a) => a.id === id);
    if (!app) throw new HttpError(404, "No such app");
    return app;
  }

  function requireIdle(app: StandinApp) {
    if (app.taskId !== null)
      throw new HttpError(409, `Locked by task ${app.taskId} : ${app.installationState} / ${app.runState}`);
  }

  function requireDomain(domain: string) {
    if (!state.domains.some((d) => d.domain === domain)) throw new HttpError(404, `No such domain: ${domain}`);
  }

  function fqdnOf(subdomain: string, domain: string) {
    return subdomain === "" ? domain : `${subdomain}.${domain}`;
  }

  /** Env as a faulty server would store it: one value altered or one key dropped. */
  function storedEnv(asked: Record<string, string>, fault: Fault | undefined): Record<string, string> {
    const env = { ...asked };
    if (!fault || (fault.kind !== "envValueDiffers" && fault.kind !== "envDropKey")) return env;
    const key = fault.key ?? Object.keys(env).sort()[0];
    if (key === undefined) return env;
    if (fault.kind === "envDropKey") delete env[key];
    else env[key] = fault.value ?? `${env[key] ?? ""}-altered`;
    return env;
  }

  function taskOptions(fault: Fault | undefined): { failWith?: string; noop: boolean } {
    if (fault?.kind === "taskFails") return { failWith: fault.message ?? "Injected task failure", noop: false };
    return { noop: fault?.kind === "taskNoop" };
  }

  // ---- operations --------------------------------------------------------------------------------
  type Handler = (ctx: {
    params: string[];
    body: Record<string, unknown>;
    fault: Fault | undefined;
    token: StandinToken;
    call: ApiCall;
  }) => { status: number; body: unknown };

  const handlers: Record<OperationName, Handler> = {
    getProfile: ({ token }) => ({
      status: 200,
      body: {
        id: `uid-${crypto.createHash("sha256").update(token.token).digest("hex").slice(0, 12)}`,
        username: "deployer",
        email: "deployer@medlab.host",
        displayName: "Deploy token owner",
        twoFactorAuthenticationEnabled: false,
        role: token.role,
        hasBackgroundImage: false,
        avatarUrl: "",
        source: "",
      },
    }),
    listAppsByUser: () => ({ status: 200, body: { apps: state.apps.map(apiApp) } }),
    getApp: ({ params }) => ({ status: 200, body: apiApp(requireApp(params[0])) }),
    listDomains: () => ({ status: 200, body: { domains: state.domains.map((d) => ({ ...d })) } }),
    getBackupPolicy: () => {
      // A server without the route: the 2019 server (pogipop/cloudron src/server.js) has none; its
      // retention lived in the settings' backup_config.retentionSecs.
      if (state.backupPolicy === null) throw new HttpError(404, "Not found");
      return { status: 200, body: structuredClone(state.backupPolicy) };
    },
    getAppBackups: ({ params, call }) => {
      const page = backupPage(requireApp(params[0]), call.query);
      return { status: 200, body: { backups: page.map((b) => ({ ...b })) } };
    },
    // spec getStatus; the 2019 server answers the same route with its version among other fields
    // (pogipop/cloudron src/routes/provision.js getStatus, src/provision.js `version: constants.VERSION`).
    getStatus: () => ({ status: 200, body: { version: state.version } }),
    getTokens: ({ token }) => ({ status: 200, body: { tokens: [tokenEntry(token)] } }),
    // spec updateAppBackup (label, preserveSecs; 200 no content). The server's cleanup keeps a
    // backup younger than its preserveSecs (pogipop/cloudron 2019 src/backups.js cleanupAppBackups).
    updateAppBackup: ({ params, body, fault }) => {
      const app = requireApp(params[0]);
      const backup = app.backups.find((b) => b.id === params[1]);
      if (!backup) throw new HttpError(404, "Backup not found");
      // taskNoop: the call answers 200 but nothing is stored (what a client must read back to notice).
      if (fault?.kind === "taskNoop") return { status: 200, body: {} };
      if (typeof body.label === "string") backup.label = body.label;
      if (typeof body.preserveSecs === "number") backup.preserveSecs = body.preserveSecs;
      return { status: 200, body: {} };
    },
    getTask: ({ params }) => {
      const task = state.tasks.find((t) => String(t.id) === params[0]);
      if (!task) throw new HttpError(404, "No such task");
      task.polls += 1;
      return { status: 200, body: taskBody(task, "object") };
    },
    getAppTask: ({ params }) => {
      const app = requireApp(params[0]);
      const task = app.taskId === null ? undefined : state.tasks.find((t) => String(t.id) === app.taskId);
      if (!task) throw new HttpError(400, "No active task");
      task.polls += 1;
      return { status: 200, body: { ...taskBody(task, "string"), args: [app.id] } };
    },
    installApp: ({ body, fault, call }) => {
      const manifest = body.manifest as StandinManifest;
      const subdomain = body.subdomain as string;
      const domain = body.domain as string;
      requireDomain(domain);
      const fqdn = fqdnOf(subdomain, domain);
      if (findApp(fqdn)) throw new HttpError(409, `Location '${fqdn}' is in use`);
      const asked = (body.env ?? {}) as Record<string, string>;
      const app = makeApp({
        fqdn,
        subdomain,
        domain,
        manifest: { ...manifest },
        appStoreId: (body.appStoreId as string | undefined) ?? "",
        accessRestriction: body.accessRestriction,
        enableBackup: (body.enableBackup as boolean | undefined) ?? true,
        enableAutomaticUpdate: (body.enableAutomaticUpdate as boolean | undefined) ?? false,
        memoryLimit: (body.memoryLimit as number | undefined) ?? 0,
        label: (body.label as string | null | undefined) ?? null,
        runState: "stopped",
        health: null,
      });
      state.apps.push(app);
      const { failWith, noop } = taskOptions(fault);
      const task = startTask(
        app,
        "install",
        () => {
          if (!noop) app.env = storedEnv(asked, fault);
          app.runState = "running";
          app.health = "healthy";
          restart(app, "install");
        },
        { failWith },
      );
      call.taskId = task.id;
      call.appId = app.id;
      return { status: 202, body: { id: app.id, taskId: task.id } };
    },
    updateApp: ({ params, body, fault, call }) => {
      const app = requireApp(params[0]);
      const hasManifest = "manifest" in body;
      const hasStoreId = "appStoreId" in body;
      if (hasManifest === hasStoreId) {
        violation("updateApp: the spec wants exactly one of manifest or appStoreId");
        throw new HttpError(400, "manifest: exactly one of manifest or appStoreId is required");
      }
      if (!hasManifest) throw new HttpError(400, "appStoreId: this server has no app store; send manifest");
      const manifest = body.manifest as StandinManifest;
      if (manifest.id !== app.manifest.id && body.force !== true)
        throw new HttpError(400, "manifest id does not match. force to override");
      if (compareVersions(manifest.version, app.manifest.version) < 0 && body.force !== true) {
        throw new HttpError(
          400,
          "Downgrades are not permitted for apps installed from the appstore or with a lower version: " +
            `${app.manifest.version} → ${manifest.version}`,
        );
      }
      requireIdle(app);
      if (app.debugMode && body.force !== true) throw new HttpError(409, "debug mode enabled. force to override");
      const skipBackup = body.skipBackup === true;
      if (skipBackup)
        violation(`updateApp: skipBackup: true sent for ${app.fqdn} (the pre-update backup must be kept)`);
      const { failWith, noop } = taskOptions(fault);
      const task = startTask(
        app,
        "update",
        () => {
          let note: string | undefined;
          if (!skipBackup) note = `backup ${addBackup(app).id}`;
          if (!noop) {
            app.manifest = { ...manifest };
            app.updateTime = now();
          }
          restart(app, "update");
          return note;
        },
        { failWith },
      );
      call.taskId = task.id;
      call.appId = app.id;
      return { status: 202, body: { taskId: task.id } };
    },
    setAppEnv: ({ params, body, fault, call }) => {
      const app = requireApp(params[0]);
      requireIdle(app);
      const asked = body.env as Record<string, string>;
      const { failWith, noop } = taskOptions(fault);
      const task = startTask(
        app,
        "configureEnv",
        () => {
          if (!noop) app.env = storedEnv(asked, fault);
          restart(app, "configureEnv");
        },
        { failWith },
      );
      call.taskId = task.id;
      call.appId = app.id;
      return { status: 202, body: { taskId: task.id } };
    },
    uninstallApp: ({ params, fault, call }) => {
      const app = requireApp(params[0]);
      requireIdle(app);
      const { failWith, noop } = taskOptions(fault);
      const task = startTask(
        app,
        "uninstall",
        () => {
          if (noop) return;
          state.apps = state.apps.filter((a) => a !== app);
          state.detachedBackups.push(...app.backups);
        },
        { failWith },
      );
      call.taskId = task.id;
      call.appId = app.id;
      return { status: 202, body: { taskId: task.id } };
    },
    restartApp: ({ params, fault, call }) => {
      const app = requireApp(params[0]);
      requireIdle(app);
      const { failWith } = taskOptions(fault);
      const task = startTask(app, "restart", () => restart(app, "restart"), { failWith });
      call.taskId = task.id;
      call.appId = app.id;
      return { status: 202, body: { taskId: task.id } };
    },
    cloneApp: ({ params, body, fault, call }) => {
      const source = requireApp(params[0]);
      const backup = source.backups.find((b) => b.id === body.backupId);
      if (!backup) throw new HttpError(404, "No such backup");
      const subdomain = body.subdomain as string;
      const domain = body.domain as string;
      requireDomain(domain);
      const fqdn = fqdnOf(subdomain, domain);
      if (findApp(fqdn)) throw new HttpError(409, `Location '${fqdn}' is in use`);
      const clone = makeApp({
        fqdn,
        subdomain,
        domain,
        manifest: { ...backup.manifest },
        env: { ...source.env },
        runState: "stopped",
        health: null,
        clonedFrom: backup.id,
      });
      state.apps.push(clone);
      const { failWith } = taskOptions(fault);
      const task = startTask(
        clone,
        "clone",
        () => {
          // The backup carries the database, so seeded data comes along.
          clone.seedRuns = source.seedRuns;
          clone.runState = "running";
          clone.health = "healthy";
          restart(clone, "clone");
        },
        { failWith },
      );
      call.taskId = task.id;
      call.appId = clone.id;
      return { status: 201, body: { id: clone.id, taskId: task.id } };
    },
    setAppNotes: ({ params, body }) => {
      const app = requireApp(params[0]);
      app.notes = body.notes as string | null;
      return { status: 200, body: {} };
    },
    setAutomaticAppBackup: ({ params, body }) => {
      const app = requireApp(params[0]);
      app.enableBackup = body.enable as boolean;
      return { status: 200, body: {} };
    },
    // Tags are stored on the app and answered 200 without a task: the spec's setAppTags answers
    // `no_content` (200) where setAppEnv answers 202 `task_info` (a configure task that recreates the
    // container). So a tags call neither makes the app busy nor restarts it. Validation as the server's
    // validateTags (pogipop/cloudron 9833ad5, src/apps.js): at most 64 non-empty strings of < 128 chars.
    setAppTags: ({ params, body }) => {
      const app = requireApp(params[0]);
      const tags = body.tags as string[];
      if (tags.length > 64) throw new HttpError(400, "Can only set up to 64 tags");
      if (tags.some((t) => t === "")) throw new HttpError(400, "tags must be an array of non-empty strings");
      if (tags.some((t) => t.length > 128)) throw new HttpError(400, "tag must be less than 128");
      app.tags = [...tags];
      return { status: 200, body: {} };
    },
    downloadAppLogs: ({ params, call }) => {
      const app = requireApp(params[0]);
      return { status: 200, body: logAnswer(app.logLines, call.query, app.id) };
    },
    getTaskLogs: ({ params, call }) => {
      const task = state.tasks.find((t) => String(t.id) === params[0]);
      if (!task) throw new HttpError(404, "No such task");
      return { status: 200, body: logAnswer(task.logLines ?? [], call.query, String(task.id)) };
    },
    // An on-demand backup: a task like the nightly one; the new backup is listed first.
    backupApp: ({ params, fault, call }) => {
      const app = requireApp(params[0]);
      requireIdle(app);
      const { failWith, noop } = taskOptions(fault);
      const task = startTask(app, "backup", () => (noop ? undefined : `backup ${addBackup(app).id}`), { failWith });
      call.taskId = task.id;
      call.appId = app.id;
      return { status: 202, body: { taskId: task.id } };
    },
    // Spec: restoreFromBackup { backupId } → 202 task_info. The server looks the backup up by id
    // among all backups, also those of uninstalled apps, and restores it into this app with the
    // backup's manifest (pogipop/cloudron @9833ad5, src/apps.js restore: backups.get(backupId)).
    restoreFromBackup: ({ params, body, fault, call }) => {
      const app = requireApp(params[0]);
      requireIdle(app);
      const backupId = body.backupId as string;
      const backup = [...state.apps.flatMap((a) => a.backups), ...state.detachedBackups].find((b) => b.id === backupId);
      // 2019 source: a backup it cannot find is BackupsError.NOT_FOUND → AppsError.EXTERNAL_ERROR → 424.
      if (!backup) throw new HttpError(424, `Backup ${backupId} not found`);
      const { failWith, noop } = taskOptions(fault);
      const task = startTask(
        app,
        "restore",
        () => {
          if (noop) return;
          app.manifest = { ...backup.manifest };
          app.restoredFrom = backup.id;
          app.runState = "running";
          app.health = "healthy";
          restart(app, "restore");
        },
        { failWith },
      );
      call.taskId = task.id;
      call.appId = app.id;
      return { status: 202, body: { taskId: task.id } };
    },
    standinExec: ({ body }) => {
      const app = findApp(body.app as string);
      if (!app) throw new HttpError(404, `No such app: ${String(body.app)}`);
      // A task may be replacing the container: the CLI's exec fails then, so the seed must wait for the app.
      requireIdle(app);
      if (app.runState !== "running") throw new HttpError(409, `App ${app.fqdn} is not running`);
      const command = (body.cmd as string[]).join(" ");
      if (!command.includes("prisma/seed.bundle.cjs")) {
        return {
          status: 200,
          body: { stdout: "", stderr: `stand-in: only the seed is played, not: ${command}\n`, exitCode: 127 },
        };
      }
      if (app.env.SEED_SHOULD_FAIL === "1") {
        return {
          status: 200,
          body: {
            stdout: "Seeding templates...\n",
            stderr: 'PrismaClientKnownRequestError: relation "MethodFacet" does not exist\n',
            exitCode: 1,
          },
        };
      }
      app.seedRuns += 1;
      return { status: 200, body: { stdout: "Seeded 12 templates and 40 method facets\n", stderr: "", exitCode: 0 } };
    },
  };

  /**
   * A logs answer as the server builds it (pogipop/cloudron 9833ad5: src/routes/apps.js getLogs and
   * src/routes/tasks.js getLogs parse `lines` with parseInt, default 10, 400 when not a number;
   * src/apps.js / src/tasks.js getLogs run `tail --lines=N` (-1: everything) and, for format json, turn
   * each `<ISO timestamp> <message>` line into one NDJSON object `{realtimeTimestamp, message,
   * source}` with the timestamp in microseconds). The spec (downloadAppLogs, getTaskLogs) names the
   * content type `application/x-logs` and the fields `realtimeTimestamp` and `message`.
   */
  function logAnswer(lines: string[], query: Record<string, string>, source: string): RawText {
    const asked = "lines" in query ? parseInt(query.lines, 10) : 10;
    if (Number.isNaN(asked)) throw new HttpError(400, "lines must be a number");
    const tail = asked === -1 ? lines : lines.slice(Math.max(0, lines.length - asked));
    const format = query.format || "json";
    const text = tail
      .map((line) => {
        if (format !== "json") return line + "\n";
        const [stamp] = line.split(" ");
        const ms = new Date(stamp).getTime();
        const message = line.slice(stamp.length + 1);
        return JSON.stringify({ realtimeTimestamp: (Number.isNaN(ms) ? 0 : ms) * 1000, message, source }) + "\n";
      })
      .join("");
    return new RawText(text, "application/x-logs");
  }

  /** Appends a line to an app's log the way the server's log files hold it: `<ISO timestamp> <message>`. */
  function appLog(app: StandinApp, message: string) {
    app.logLines.push(`${now()} ${message}`);
  }

  function taskLog(task: StandinTask, message: string) {
    (task.logLines ??= []).push(`${now()} ${message}`);
  }

  /**
   * One page of an app's backups, newest first: `page` (1-based) and `per_page` (default 25), as
   * pogipop/cloudron 2019 src/routes/apps.js listBackups and src/backupdb.js getByAppIdPaged
   * (ORDER BY creationTime DESC LIMIT (page-1)*perPage, perPage); a bad number is a 400.
   */
  function backupPage(app: StandinApp, query: Record<string, string>): StandinBackup[] {
    const page = query.page === undefined ? 1 : Number.parseInt(query.page, 10);
    if (!page || page < 0) throw new HttpError(400, "page query param has to be a postive number");
    const perPage = query.per_page === undefined ? 25 : Number.parseInt(query.per_page, 10);
    if (!perPage || perPage < 0) throw new HttpError(400, "per_page query param has to be a postive number");
    const newestFirst = [...app.backups].sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime));
    return newestFirst.slice((page - 1) * perPage, page * perPage);
  }

  /**
   * The token as GET /tokens lists it (spec Token: id, name, accessToken, scope `{"*": "rw"}` or
   * `{"*": "r"}`). Each stand-in token is its own user, so the list holds only itself.
   */
  function tokenEntry(token: StandinToken): Record<string, unknown> {
    const id = `tid-${crypto.createHash("sha256").update(token.token).digest("hex").slice(0, 12)}`;
    const name = token.readonly ? "deploy (read only)" : "deploy";
    return { id, name, accessToken: token.token, scope: { "*": token.readonly ? "r" : "rw" } };
  }

  function addBackup(app: StandinApp): StandinBackup {
    const hex = crypto.randomBytes(4).toString("hex");
    const id = `app_${app.id}_v${app.manifest.version}_${hex}`;
    const backup: StandinBackup = {
      id,
      creationTime: now(),
      packageVersion: app.manifest.version,
      type: "app",
      state: "normal",
      format: "tgz",
      label: "",
      preserveSecs: 0,
      identifier: app.id,
      remotePath: `${new Date().toISOString().slice(0, 10)}/${id}`,
      manifest: { ...app.manifest },
    };
    app.backups.unshift(backup);
    return backup;
  }

  function taskBody(task: StandinTask, errorAs: "object" | "string"): Record<string, unknown> {
    const { percent, message } = taskProgress(task);
    const error = task.error === null ? null : errorAs === "object" ? { message: task.error } : task.error;
    const queued = task.active && Date.now() < task.queuedUntil;
    return {
      id: String(task.id),
      type: "app",
      percent,
      message,
      active: task.active && !queued,
      pending: queued,
      success: task.success,
      error,
      result: task.result,
      creationTime: new Date(task.createdAt).toISOString(),
      ts: now(),
    };
  }

  // ---- HTTP plumbing -----------------------------------------------------------------------------
  function send(res: http.ServerResponse, status: number, body: unknown) {
    if (body instanceof RawText) {
      res.writeHead(status, { "content-type": body.contentType });
      res.end(body.text);
      return;
    }
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const raw = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      req.on("error", reject);
    });
    advanceTasks();
    const url = new URL(req.url ?? "/", "http://standin");
    const method = req.method ?? "GET";
    const query = Object.fromEntries(url.searchParams.entries());
    const route = ROUTES.find((r) => r.method === method && r.pattern.test(url.pathname));
    const call: ApiCall = {
      seq: state.calls.length,
      method,
      path: url.pathname,
      operation: route?.operation ?? "unknown",
      status: 0,
      query,
      authenticated: false,
      time: Date.now(),
    };
    state.calls.push(call);
    const answer = (status: number, body: unknown) => {
      call.status = status;
      send(res, status, body);
    };
    const fail = (status: number, message: string) =>
      answer(status, { status: STATUS_TEXT[status] ?? "Error", message });

    // Auth first, like the server: the token decides before the route does.
    if ("access_token" in query)
      violation(
        `${method} ${url.pathname}: token sent as the access_token query parameter (it ends up in server logs)`,
      );
    const header = req.headers.authorization ?? "";
    const bearer = /^Bearer (.+)$/.exec(header)?.[1];
    const presented = bearer ?? query.access_token;
    // spec getStatus: `security: []`, so it answers whatever token (or none) comes along.
    if (route?.public) {
      call.authenticated = state.tokens.some((t) => t.token === presented);
      const anonymous: StandinToken = { token: "", role: "user" };
      const out = handlers[route.operation]({ params: [], body: {}, fault: undefined, token: anonymous, call });
      return answer(out.status, out.body);
    }
    const token = state.tokens.find((t) => t.token === presented);
    if (!token) return fail(401, presented ? "Token invalid or expired" : "Token required");
    call.authenticated = true;
    if (!route) {
      violation(`${method} ${url.pathname}: no such operation in the stand-in (not one the deploy should use)`);
      return fail(404, `No route ${method} ${url.pathname}`);
    }
    if (method !== "GET" && token.readonly) return fail(403, "Token is read-only");
    // Profile and tokens are the user's own (spec getTokens: "tokens are personal (per user)").
    const ownData = route.operation === "getProfile" || route.operation === "getTokens";
    if (!ownData && token.role !== "owner" && token.role !== "admin") {
      return fail(403, `Role ${token.role} is not allowed to manage apps`);
    }

    let body: Record<string, unknown> = {};
    if (method === "POST") {
      if (raw.trim() !== "" && !/application\/json/.test(req.headers["content-type"] ?? "")) {
        violation(`${route.operation}: body sent without content-type application/json`);
      }
      let parsed: unknown = {};
      if (raw.trim() !== "") {
        try {
          parsed = JSON.parse(raw);
        } catch {
          violation(`${route.operation}: request body is not JSON`);
          return fail(400, "body: is not valid JSON");
        }
      } else if (!route.noBody) {
        violation(`${route.operation}: request body missing`);
        return fail(400, "body: is required");
      }
      call.requestBody = parsed;
      try {
        body = route.shape ? checkBody(route.operation, route.shape, parsed) : (parsed as Record<string, unknown>);
      } catch (e) {
        const err = e as HttpError;
        return fail(err.status, err.message);
      }
    }

    const params = route.pattern.exec(url.pathname)!.slice(1).map(decodeURIComponent);
    const fault = takeFault(route.operation);
    if (fault) call.fault = fault.kind;
    if (fault && ["401", "403", "404", "500"].includes(fault.kind)) {
      const status = Number(fault.kind);
      const defaults: Record<number, string> = {
        401: "Token invalid or expired",
        403: "Not allowed",
        404: "No such app",
        500: "Internal error (injected)",
      };
      return fail(status, fault.message ?? defaults[status]);
    }
    if (fault?.kind === "409") {
      // The app is in the path, or (for the exec endpoint) named in the body.
      const app = params[0]
        ? state.apps.find((a) => a.id === params[0])
        : typeof body.app === "string"
          ? findApp(body.app)
          : undefined;
      if (fault.idle) return fail(409, fault.message ?? `Domain '${app?.fqdn ?? "the location"}' is in use`);
      if (app && app.taskId === null)
        startTask(app, "backup", null, { durationMs: fault.busyMs ?? 1500, waitsForPoll: false });
      const taskId = app?.taskId ?? "0";
      return fail(
        409,
        fault.message ??
          `Locked by task ${taskId} : ${app?.installationState ?? "pending_backup"} / ${app?.runState ?? "running"}`,
      );
    }
    if (fault?.kind === "hang") {
      if (fault.applied) {
        try {
          handlers[route.operation]({ params, body, fault: undefined, token, call });
        } catch {
          // The hang hides the answer either way.
        }
      }
      call.status = -1;
      const timer = setTimeout(
        () => {
          hangTimers.delete(timer);
          res.socket?.destroy();
        },
        Math.min(fault.hangMs ?? 3000, 10_000),
      );
      hangTimers.add(timer);
      return;
    }
    try {
      const out = handlers[route.operation]({ params, body, fault, token, call });
      answer(out.status, out.body);
    } catch (e) {
      if (e instanceof HttpError) return fail(e.status, e.message);
      return fail(500, `stand-in error: ${(e as Error).message}`);
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      state.violations.push(`stand-in crashed on ${req.method} ${req.url}: ${(e as Error).message}`);
      res.destroy();
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    state,
    calls: () => state.calls.map((c) => ({ ...c })),
    app: (fqdnOrId) => findApp(fqdnOrId),
    addApp: (fields) => {
      const app = makeApp(fields);
      state.apps.push(app);
      return app;
    },
    makeBusy: (fqdnOrId, ms) => {
      const app = findApp(fqdnOrId);
      if (!app) throw new Error(`stand-in: no app ${fqdnOrId}`);
      return startTask(app, "backup", null, { durationMs: ms, waitsForPoll: false }).id;
    },
    addBackup: (fqdnOrId) => {
      const app = findApp(fqdnOrId);
      if (!app) throw new Error(`stand-in: no app ${fqdnOrId}`);
      return addBackup(app);
    },
    injectFault: (fault) => {
      state.faults.push({ ...fault });
    },
    snapshot: () => {
      advanceTasks();
      const running = state.tasks.filter((t) => t.active);
      if (running.length > 0)
        throw new Error(`stand-in: cannot snapshot while task(s) ${running.map((t) => t.id).join(", ")} run`);
      const { calls: _calls, violations: _violations, ...rest } = state;
      return { json: JSON.stringify({ ...rest, tasks: state.tasks.map((t) => ({ ...t, apply: null })) }) };
    },
    restore: (snapshot) => {
      for (const t of hangTimers) clearTimeout(t);
      hangTimers.clear();
      for (const s of sockets) s.destroy();
      Object.assign(state, JSON.parse(snapshot.json) as Omit<CloudronApiState, "calls" | "violations">);
    },
    stop: () => {
      clearInterval(ticker);
      for (const t of hangTimers) clearTimeout(t);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      return closed;
    },
  };
}

/** The base URL a client uses for the stand-in at `url`. */
export function apiBase(url: string): string {
  return `${url}${API}`;
}
