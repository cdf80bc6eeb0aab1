/**
 * The one HTTP client of this project: one request, a hard bound on the whole exchange, the body
 * for any status (as text from {@link requestText}, as exact bytes with the headers from
 * {@link requestBytes}). Used by the health gate, the smoke checks, the Cloudron API client and
 * the registry pull check. No Pulumi imports; runs inside the short-lived tools that command
 * resources execute.
 */
import * as http from "node:http";

/**
 * `node:https` on first use: loading it (tls, net's secure side) is some 15 ms CPU of every tool's
 * start, and a tool that talks to loopback only (the stand-ins, the health gate on a local app)
 * never needs it.
 */
let httpsModule: typeof import("node:https") | undefined;
function https(): typeof import("node:https") {
  return (httpsModule ??= require("node:https") as typeof import("node:https"));
}

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
  /** The body exactly as received (nothing decoded), e.g. for a content digest. */
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
   * Node's error code (`ECONNREFUSED`, `ENOTFOUND`, …), `ETIMEDOUT` for our own timeout, or one of
   * ours: `ABORT_ERR`, `E2BIG` (body too large), `ETOOMANYREDIRECTS`, `EREDIRECT` (unusable
   * Location).
   */
  readonly code: string;
  /** The URL in flight when the request failed (after any redirects), when known. */
  readonly url?: string;

  constructor(message: string, code: string, url?: string) {
    super(message);
    this.name = "HttpRequestError";
    this.code = code;
    if (url !== undefined) this.url = url;
  }
}

// A health or list body is small; a huge body means something other than the app is answering,
// and reading it whole would only waste memory.
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// Credentials meant for one origin must not follow a redirect to another (as fetch does).
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
 *
 * Uses `node:http` rather than `fetch` so every request gets a fresh connection (no keep-alive
 * pool that could keep a CLI process alive), so error codes such as ECONNREFUSED surface
 * directly, and so a short-lived tool does not pay for loading undici. A followed redirect
 * keeps method and body, except that 303 (and 301/302 after a POST) turn into a bodiless GET,
 * and it drops credentials when it leaves the origin.
 */
export function requestBytes(opts: RequestOptions): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const maxRedirects = opts.maxRedirects ?? 0;
    const maxBodyBytes = opts.maxBodyBytes ?? MAX_BODY_BYTES;
    let current: { req: http.ClientRequest; url: URL } | undefined;
    let settled = false;
    const finish = (err: HttpRequestError | undefined, result?: HttpResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (err) {
        current?.req.destroy();
        reject(err);
      } else if (result) {
        resolve(result);
      }
    };
    const fail = (message: string, code: string): void =>
      finish(new HttpRequestError(message, code, current?.url.toString()));
    // One timer for the whole exchange: a server that sends headers and then stalls the body
    // must be cut off just like one that never answers.
    const timer = setTimeout(() => {
      fail(`no response within ${(opts.timeoutMs / 1000).toFixed(1)}s`, "ETIMEDOUT");
    }, opts.timeoutMs);
    const onAbort = (): void => fail("request aborted", "ABORT_ERR");
    if (opts.signal?.aborted) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    const send = (hop: Hop, redirectsLeft: number): void => {
      const client = hop.url.protocol === "https:" ? https() : http;
      const headers: Record<string, string> = { connection: "close", ...hop.headers };
      if (hop.body !== undefined) headers["content-length"] = String(Buffer.byteLength(hop.body));
      const req = client.request(hop.url, { method: hop.method, headers, agent: false });
      current = { req, url: hop.url };
      // A hop left behind for a redirect may still report its socket closing; only the one
      // in flight speaks for the request.
      const live = (): boolean => current?.req === req;
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (live()) fail(e.message || String(e.code), e.code ?? "EREQUEST");
      });
      req.on("response", (res) => {
        if (!live()) return;
        const next = REDIRECT_STATUSES.has(res.statusCode ?? 0) && maxRedirects > 0 ? res.headers.location : undefined;
        if (next !== undefined) {
          res.destroy();
          if (redirectsLeft === 0) {
            const last = shownUrl(next, hop.url);
            fail(`more than ${maxRedirects} redirects, the last to ${last}`, "ETOOMANYREDIRECTS");
            return;
          }
          const target = redirectTarget(hop, res.statusCode ?? 0, next);
          if (typeof target === "string") fail(target, "EREDIRECT");
          else send(target, redirectsLeft - 1);
          return;
        }
        readBody(res, maxBodyBytes, (err, body) => {
          if (err) {
            fail(err.message, err.code);
            return;
          }
          finish(undefined, {
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? "",
            headers: flatHeaders(res.headers),
            body: body ?? Buffer.alloc(0),
            url: hop.url.toString(),
          });
        });
      });
      req.end(hop.body);
    };
    const method = (opts.method ?? "GET").toUpperCase();
    send({ url: new URL(opts.url), method, headers: opts.headers ?? {}, body: opts.body }, maxRedirects);
  });
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

function flatHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return flat;
}

/** Collects a response body, refusing bodies over `maxBytes`. */
function readBody(
  res: http.IncomingMessage,
  maxBytes: number,
  done: (err: HttpRequestError | undefined, body?: Buffer) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      done(new HttpRequestError(`response body larger than ${maxBytes} bytes`, "E2BIG"));
      res.destroy();
      return;
    }
    chunks.push(chunk);
  });
  res.on("end", () => done(undefined, Buffer.concat(chunks)));
  res.on("error", (e: NodeJS.ErrnoException) => {
    done(new HttpRequestError(`response interrupted: ${e.message}`, e.code ?? "ERESPONSE"));
  });
  // A peer that closes mid-body does not always emit "error"; an incomplete close is a failure.
  res.on("close", () => {
    if (!res.complete) done(new HttpRequestError("response cut off by peer", "ECONNRESET"));
  });
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
