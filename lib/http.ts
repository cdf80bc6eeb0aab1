/**
 * The one HTTP client of this project, on Node's `fetch`: one request, a hard bound on the whole
 * exchange, the body for any status (as text from {@link requestText}, as exact bytes with the
 * headers from {@link requestBytes}). Used by the health gate, the smoke checks, the Cloudron API
 * client and the registry pull check. No Pulumi imports; runs inside the short-lived tools that
 * command resources execute.
 *
 * What fetch does not do, and this module adds: a cap on the body size read from the stream, a
 * caller-chosen redirect limit whose failure names the last location (fetch's fixed limit of 20
 * says only "redirect count exceeded"), and one error type carrying the system code (fetch hides
 * it in `cause`).
 */

/** Outcome of one HTTP exchange: the status and the decoded body text. */
export interface HttpResult {
  status: number;
  body: string;
}

/** Outcome of one HTTP exchange with everything a protocol client needs. */
export interface HttpResponse {
  status: number;
  /** The reason phrase the server sent (`Not Found`, …). */
  statusText: string;
  /** Lower-case names; a repeated header's values joined with ", " (as fetch's Headers.get). */
  headers: Record<string, string>;
  /** The body exactly as sent (identity encoding is asked for), e.g. for a content digest. */
  body: Buffer;
  /** The URL that answered: the requested one unless redirects were followed. */
  url: string;
}

/** Options for {@link requestText}. */
export interface RequestTextOptions {
  url: string;
  method?: string;
  /** Request body; sent as-is with the given headers. */
  body?: string;
  headers?: Record<string, string>;
  /** Cap on the whole exchange: connect, headers and body (and any redirects followed). */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Options for {@link requestBytes}. */
export interface RequestOptions extends RequestTextOptions {
  /**
   * How many redirects (301, 302, 303, 307, 308 with a Location) to follow; default 0, so the
   * redirect itself is the answer. Past the limit the request fails with `ETOOMANYREDIRECTS`.
   */
  maxRedirects?: number;
  /** Refuse (`E2BIG`) a body larger than this; default 4 MiB. */
  maxBodyBytes?: number;
}

/** A request that produced no HTTP response: refused, reset, DNS failure, or our own timeout. */
export class HttpRequestError extends Error {
  /**
   * The system's error code (`ECONNREFUSED`, `ENOTFOUND`, …), `ETIMEDOUT` for our own timeout, or
   * one of ours: `ABORT_ERR`, `E2BIG` (body too large), `ETOOMANYREDIRECTS`, `EREDIRECT` (unusable
   * Location).
   */
  readonly code: string;
  /** The URL in flight when the request failed (after any redirects), when known. */
  readonly url?: string;

  constructor(message: string, code: string, url?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "HttpRequestError";
    this.code = code;
    if (url !== undefined) this.url = url;
  }
}

// A health or list body is small; a huge body means something other than the app is answering,
// and reading it whole would only waste memory.
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// Credentials meant for one origin must not follow a redirect to another.
const ORIGIN_BOUND_HEADERS = new Set(["authorization", "proxy-authorization", "cookie"]);
const BODY_HEADERS = new Set(["content-type", "content-length", "content-encoding"]);

/**
 * Performs one HTTP(S) request and resolves with status and body text for ANY status. Rejects
 * with {@link HttpRequestError} only when no complete response arrived within `timeoutMs`.
 * Redirects are not followed: a redirect on an API path is itself a finding.
 */
export async function requestText(opts: RequestTextOptions): Promise<HttpResult> {
  const res = await requestBytes(opts);
  return { status: res.status, body: res.body.toString("utf8") };
}

/**
 * Performs one HTTP(S) request (following up to `maxRedirects` redirects) and resolves with
 * status, headers and the exact body bytes for ANY final status. Rejects with
 * {@link HttpRequestError} when no complete response arrived within `timeoutMs` or `signal`.
 * A followed redirect keeps method and body, except that 303 (and 301/302 after a POST) turn
 * into a bodiless GET, and it drops credentials when it leaves the origin.
 */
export async function requestBytes(opts: RequestOptions): Promise<HttpResponse> {
  const maxRedirects = opts.maxRedirects ?? 0;
  const maxBodyBytes = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  // One bound for the whole exchange: a server that sends headers and then stalls the body must
  // be cut off just like one that never answers.
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  let hop: Hop = {
    url: new URL(opts.url),
    method: (opts.method ?? "GET").toUpperCase(),
    headers: opts.headers ?? {},
    body: opts.body,
  };
  try {
    for (let redirectsLeft = maxRedirects; ; redirectsLeft -= 1) {
      const res = await fetch(hop.url, {
        method: hop.method,
        // Identity, so the bytes are what the server sent (a digest is over those).
        headers: { "accept-encoding": "identity", ...hop.headers },
        // Bytes, not a string: fetch would add a text/plain content type to a string body.
        body: hop.body === undefined ? undefined : Buffer.from(hop.body),
        redirect: "manual",
        signal,
      });
      const location = REDIRECT_STATUSES.has(res.status) && maxRedirects > 0 ? res.headers.get("location") : null;
      if (location === null) {
        return {
          status: res.status,
          statusText: res.statusText,
          headers: Object.fromEntries(res.headers),
          body: await readBody(res, maxBodyBytes, hop.url),
          url: hop.url.toString(),
        };
      }
      await res.body?.cancel();
      if (redirectsLeft === 0) {
        const last = shownUrl(location, hop.url);
        const message = `more than ${maxRedirects} redirects, the last to ${last}`;
        throw new HttpRequestError(message, "ETOOMANYREDIRECTS", hop.url.toString());
      }
      const next = redirectTarget(hop, res.status, location);
      if (typeof next === "string") throw new HttpRequestError(next, "EREDIRECT", hop.url.toString());
      hop = next;
    }
  } catch (err) {
    if (err instanceof HttpRequestError) throw err;
    throw requestError(err, hop.url, opts.timeoutMs, timeout, signal);
  }
}

/** What went wrong, as one {@link HttpRequestError}: the bound, the caller's abort, or the system's code. */
function requestError(err: unknown, url: URL, timeoutMs: number, timeout: AbortSignal, signal: AbortSignal) {
  const at = url.toString();
  // The combined signal keeps the reason of whichever fired first: the caller's deadline may
  // share the length of ours.
  if (signal.aborted) {
    return signal.reason === timeout.reason
      ? new HttpRequestError(`no response within ${(timeoutMs / 1000).toFixed(1)}s`, "ETIMEDOUT", at)
      : new HttpRequestError("request aborted", "ABORT_ERR", at, signal.reason);
  }
  const cause = systemCause(err);
  if (cause) return new HttpRequestError(cause.message || cause.code, cause.code, at, err);
  return new HttpRequestError(err instanceof Error ? err.message : String(err), "EREQUEST", at, err);
}

/**
 * The system error behind fetch's "fetch failed" (or a body read's "terminated"): its `cause`,
 * or the first of an AggregateError's (several addresses tried). A peer closing mid-response is
 * undici's UND_ERR_SOCKET, reported as the reset it is.
 */
function systemCause(err: unknown): { code: string; message: string } | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; depth += 1) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string") {
      if (code === "UND_ERR_SOCKET") return { code: "ECONNRESET", message: "response cut off by peer" };
      return { code, message: e.message };
    }
    e = e instanceof AggregateError && e.errors.length > 0 ? e.errors[0] : e.cause;
  }
  return undefined;
}

/** Reads a response body, refusing one over `maxBytes` as soon as it passes the cap. */
async function readBody(res: Response, maxBytes: number, url: URL): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new HttpRequestError(`response body larger than ${maxBytes} bytes`, "E2BIG", url.toString());
    }
    chunks.push(value);
  }
}

/** One leg of a request: what is sent where. */
interface Hop {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/** The next leg after a redirect, or why it cannot be followed. */
function redirectTarget(from: Hop, status: number, location: string): Hop | string {
  let url: URL;
  try {
    url = new URL(location, from.url);
  } catch {
    return `redirect to an invalid URL ${JSON.stringify(location)}`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `redirect to unsupported scheme ${url.protocol}`;
  }
  const toGet =
    (status === 303 && from.method !== "HEAD") || ((status === 301 || status === 302) && from.method === "POST");
  const crossOrigin = url.origin !== from.url.origin;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(from.headers)) {
    const lower = name.toLowerCase();
    if (crossOrigin && ORIGIN_BOUND_HEADERS.has(lower)) continue;
    if (toGet && BODY_HEADERS.has(lower)) continue;
    headers[name] = value;
  }
  return toGet ? { url, method: "GET", headers } : { url, method: from.method, headers, body: from.body };
}

/** A Location for an error message: origin and path only (a signed query is a credential). */
function shownUrl(location: string, base: URL): string {
  try {
    const url = new URL(location, base);
    return `${url.origin}${url.pathname}`;
  } catch {
    return JSON.stringify(location);
  }
}

/** Parses JSON, returning `undefined` (not throwing) for anything that is not JSON. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/** Narrows an unknown JSON value to a plain object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Collapses a body to one line of at most `max` characters, for error messages and log lines
 * (a multi-line HTML error page must not flood the `pulumi up` output).
 */
export function excerpt(body: string, max = 200): string {
  const line = body.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
