/**
 * Health gate for a freshly updated CommunityRule app: poll `GET <url>/api/health` until the app
 * reports a connected database, or fail with a message that names the likely cause and the
 * operator action from the runbook's troubleshooting table (§8).
 *
 * No Pulumi imports: this module runs inside a short-lived CLI (`tools/healthGate.ts`) that a
 * Pulumi command resource executes, and it is unit-tested against loopback servers.
 */
import { excerpt, HttpRequestError, isRecord, parseJson, requestText } from "../../lib/http";
import { troubleshoot, type TroubleKind } from "./troubleshooting";

/** Which row of the troubleshooting table an unhealthy answer belongs to. */
type HealthKind =
  "healthy" | "not_configured" | "database" | "proxy" | "unreachable" | "dns" | "malformed" | "unexpected";

interface Diagnosis {
  kind: HealthKind;
  healthy: boolean;
  reason: string;
}

// The app answers 503 {"ok":false,"database":"error"} when its URL is set and `SELECT 1` fails
// (fixture app/api/health/route.ts); a missing URL is `not_configured`, a different answer.
const DB_REASON = "the app's database query failed (its URL is set: the postgresql addon is down or unreachable)";

/**
 * Full classification, including the troubleshooting kind used to pick a hint. When `status`
 * is undefined no HTTP response arrived and `body` carries the connection error text.
 */
function diagnose(status: number | undefined, body: string, errorCode?: string): Diagnosis {
  const bad = (kind: HealthKind, reason: string): Diagnosis => ({ kind, healthy: false, reason });
  if (status === undefined) {
    if (errorCode === "ENOTFOUND" || errorCode === "EAI_AGAIN") {
      return bad("dns", `host not found: ${body}`);
    }
    return bad("unreachable", `connection failed: ${body}`);
  }
  const json = parseJson(body);
  const database = isRecord(json) ? json.database : undefined;
  if (status === 200 && isRecord(json)) return diagnose200(json);
  if (isRecord(json) && (database === "error" || database === "disconnected")) {
    return bad("database", `database ${String(database)}: ${DB_REASON}`);
  }
  if (status === 502 || status === 503 || status === 504) {
    // Not the app's JSON: Cloudron's proxy answered because the container is not serving.
    return bad(
      "proxy",
      `HTTP ${status} from the Cloudron proxy (not the app's JSON): the app container is not serving`,
    );
  }
  if (status === 200) {
    return bad("malformed", json === undefined ? "body is not JSON" : "body is not a JSON object");
  }
  if (status >= 300 && status < 400) {
    return bad("unexpected", `redirected (HTTP ${status}) instead of answering the health check`);
  }
  return bad("unexpected", `unexpected HTTP ${status}`);
}

/** Classifies a 200 whose body is a JSON object: only ok:true + database connected passes. */
function diagnose200(json: Record<string, unknown>): Diagnosis {
  const { ok, database } = json;
  if (ok === true && database === "connected") {
    return { kind: "healthy", healthy: true, reason: "database connected" };
  }
  if (database === "not_configured") {
    return {
      kind: "not_configured",
      healthy: false,
      reason: "database not_configured: the database URL is not set (postgresql addon missing)",
    };
  }
  if (database === "error" || database === "disconnected") {
    return { kind: "database", healthy: false, reason: `database ${database}: ${DB_REASON}` };
  }
  if (database === undefined) {
    // JSON without a database field: some other JSON service answers at this URL.
    return { kind: "malformed", healthy: false, reason: 'JSON has no "database" field' };
  }
  return {
    kind: "unexpected",
    healthy: false,
    reason: `ok=${JSON.stringify(ok)}, database=${JSON.stringify(database)}`,
  };
}

/**
 * Decides whether one `/api/health` answer means "deployed and healthy".
 *
 * Healthy ONLY for HTTP 200 with JSON `"ok": true` and `"database": "connected"`.
 * `not_configured` is unhealthy: the app runs without a database URL. When `status` is
 * undefined, no response arrived and `body` is the connection error text.
 */
export function classifyHealth(status: number | undefined, body: string): { healthy: boolean; reason: string } {
  const { healthy, reason } = diagnose(status, body);
  return { healthy, reason };
}

/** The troubleshooting row for each kind of unhealthy answer. */
const TROUBLE: Record<HealthKind, TroubleKind> = {
  database: "database",
  proxy: "proxy-page",
  not_configured: "not-configured",
  unreachable: "crash",
  dns: "dns",
  malformed: "wrong-app",
  unexpected: "unexpected",
  healthy: "unexpected",
};

function hintFor(kind: HealthKind, app: string | undefined, status?: number): string {
  return troubleshoot(TROUBLE[kind], app, { status });
}

/** One progress report, emitted after every attempt. */
export interface HealthProgress {
  attempt: number;
  elapsedMs: number;
  /** HTTP status of this attempt; undefined when no response arrived. */
  status?: number;
  reason: string;
}

/** Options for {@link waitForHealthy}. */
export interface WaitForHealthyOptions {
  /** Base URL of the app, e.g. `https://staging.communityrule.info`; `/api/health` is appended. */
  url: string;
  /** Overall budget. The gate returns or throws by this deadline (plus scheduling jitter). */
  timeoutMs: number;
  /** Cap per request; default `min(10000, timeoutMs)`. */
  requestTimeoutMs?: number;
  /** First wait between attempts; default 250 ms, doubled after every attempt. */
  initialDelayMs?: number;
  /** Backoff cap; default 2000 ms, so a healthy app is noticed within about 2 s. */
  maxDelayMs?: number;
  /** Cloudron location, only used to make the `cloudron logs --app …` hint concrete. */
  app?: string;
  onProgress?: (p: HealthProgress) => void;
  signal?: AbortSignal;
  /**
   * Time as an input: the real clock by default; tests pass a virtual one to check backoff and
   * deadlines without waiting.
   */
  clock?: Clock;
}

/** Where the gate reads the time and waits. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Wall-clock time and real timers. */
export const realClock: Clock = { now: () => Date.now(), sleep: (ms, signal) => sleep(ms, signal) };

/** Resolved value of {@link waitForHealthy}. */
export interface HealthyResult {
  attempts: number;
  elapsedMs: number;
  /** The healthy `/api/health` body. */
  body: string;
}

/** Diagnostic fields carried by {@link HealthGateError}. */
export interface HealthGateErrorFields {
  lastStatus: number | undefined;
  lastBody: string;
  attempts: number;
  elapsedMs: number;
}

/** Thrown by {@link waitForHealthy} when the deadline passes without a healthy answer. */
export class HealthGateError extends Error {
  /** HTTP status of the last attempt that got a response; undefined if none did. */
  readonly lastStatus: number | undefined;
  /** Body of that response, or the connection error text when there was none. */
  readonly lastBody: string;
  readonly attempts: number;
  readonly elapsedMs: number;

  constructor(message: string, fields: HealthGateErrorFields) {
    super(message);
    this.name = "HealthGateError";
    this.lastStatus = fields.lastStatus;
    this.lastBody = fields.lastBody;
    this.attempts = fields.attempts;
    this.elapsedMs = fields.elapsedMs;
  }
}

/** What one probe saw; `errorCode` is set when no HTTP response arrived. */
interface Observation {
  status?: number;
  body: string;
  errorCode?: string;
  diagnosis: Diagnosis;
}

/** The URL the gate polls for a given base URL. */
export function healthUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/api/health`;
}

async function probe(url: string, timeoutMs: number, signal?: AbortSignal): Promise<Observation> {
  try {
    const res = await requestText({ url, timeoutMs, signal });
    return { status: res.status, body: res.body, diagnosis: diagnose(res.status, res.body) };
  } catch (e) {
    const code = e instanceof HttpRequestError ? e.code : "EREQUEST";
    const text = e instanceof Error ? e.message : String(e);
    return { body: text, errorCode: code, diagnosis: diagnose(undefined, text, code) };
  }
}

/** Sleeps `ms`, waking early (with a rejection) when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error("health gate aborted");
}

// The last attempt is aligned to start this long before the deadline (capped by the request
// timeout), so the tail of the budget is not spent asleep after the last real look.
const FINAL_WINDOW_MS = 500;
// Never shorten a wait below this: avoids hammering the app in the final window.
const MIN_SLEEP_MS = 50;

/**
 * How long to wait before the next attempt (0 once the deadline has passed). Waits follow the
 * backoff delay but never cross the deadline, and are shortened once so a final attempt starts
 * `finalWindowMs` before the deadline instead of the budget ending in a sleep.
 */
export function nextWaitMs(delayMs: number, remainingMs: number, finalWindowMs: number): number {
  if (remainingMs <= 0) return 0;
  const alignedToFinal = remainingMs - finalWindowMs;
  if (delayMs > alignedToFinal && alignedToFinal >= MIN_SLEEP_MS) return alignedToFinal;
  return Math.min(delayMs, remainingMs);
}

/**
 * Polls `<url>/api/health` until it is healthy (see {@link classifyHealth}) or `timeoutMs`
 * passes. Exponential backoff from `initialDelayMs`, capped at `maxDelayMs`; each request is
 * capped at `requestTimeoutMs` and never runs past the deadline, so a hanging connection
 * cannot eat the budget or hold the gate open.
 *
 * @throws {HealthGateError} on timeout, with the last status, a body excerpt and the hint.
 * @throws the signal's reason when `signal` aborts.
 */
export async function waitForHealthy(opts: WaitForHealthyOptions): Promise<HealthyResult> {
  const url = healthUrl(opts.url);
  const requestCap = opts.requestTimeoutMs ?? Math.min(10_000, opts.timeoutMs);
  const maxDelay = opts.maxDelayMs ?? 2_000;
  const finalWindow = Math.min(FINAL_WINDOW_MS, requestCap);
  const clock = opts.clock ?? realClock;
  const start = clock.now();
  const deadline = start + opts.timeoutMs;
  let delay = opts.initialDelayMs ?? 250;
  let attempts = 0;
  let last: Observation | undefined;
  for (;;) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    attempts += 1;
    // At least 1 ms so a zero budget still makes one honest attempt instead of none.
    const cap = Math.max(1, Math.min(requestCap, deadline - clock.now()));
    const seen = await probe(url, cap, opts.signal);
    if (opts.signal?.aborted) throw abortError(opts.signal);
    // A request cut short by the overall deadline says nothing new about the app: keep the
    // previous real observation (e.g. the 503) for the report instead of "no response".
    const cutByDeadline = seen.errorCode === "ETIMEDOUT" && cap < requestCap;
    if (!(cutByDeadline && last)) last = seen;
    const elapsedMs = clock.now() - start;
    const reason = seen.diagnosis.reason;
    opts.onProgress?.({ attempt: attempts, elapsedMs, status: seen.status, reason });
    if (seen.diagnosis.healthy) return { attempts, elapsedMs, body: seen.body };
    const remaining = deadline - clock.now();
    if (remaining <= 0) break;
    await clock.sleep(nextWaitMs(delay, remaining, finalWindow), opts.signal);
    if (deadline - clock.now() <= 0) break;
    delay = Math.min(delay * 2, maxDelay);
  }
  throw gateError(url, last, attempts, clock.now() - start, opts.app);
}

function gateError(
  url: string,
  last: Observation | undefined,
  attempts: number,
  elapsedMs: number,
  app: string | undefined,
): HealthGateError {
  const kind = last?.diagnosis.kind ?? "unreachable";
  const lastLine =
    last?.status === undefined
      ? `last: no HTTP response (${last?.body ?? "no attempt"})`
      : `last: HTTP ${last.status}, ${last.diagnosis.reason}`;
  const lines = [
    `health gate: ${url} not healthy after ${(elapsedMs / 1000).toFixed(1)}s ` +
      `(${attempts} attempt${attempts === 1 ? "" : "s"})`,
    `  ${lastLine}`,
  ];
  if (last?.status !== undefined) lines.push(`  body: ${excerpt(last.body) || "(empty)"}`);
  lines.push(`  likely cause: ${hintFor(kind, app, last?.status)}`);
  return new HealthGateError(lines.join("\n"), {
    lastStatus: last?.status,
    lastBody: last?.body ?? "",
    attempts,
    elapsedMs,
  });
}

/**
 * One progress line for the CLI, e.g. `health: attempt 3, 4.2s elapsed, last: 503 database
 * error: …`. Without a response the reason (e.g. `connection failed: …`) stands alone.
 */
export function formatProgress(p: HealthProgress): string {
  const last = p.status === undefined ? p.reason : `${p.status} ${p.reason}`;
  return `health: attempt ${p.attempt}, ${(p.elapsedMs / 1000).toFixed(1)}s elapsed, last: ${last}`;
}
