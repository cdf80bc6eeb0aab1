/**
 * The one HTTP client of this project: one request, a hard bound on the whole exchange, the body
 * as text for any status. Used by the health gate, the smoke checks and the Cloudron API client.
 * No Pulumi imports; runs inside the short-lived tools that command resources execute.
 */
import * as http from "node:http";
import * as https from "node:https";

/** Outcome of one HTTP exchange: the status and the decoded body text. */
export interface HttpResult {
  status: number;
  body: string;
}

/** Options for {@link requestText}. */
export interface RequestTextOptions {
  url: string;
  method?: string;
  /** Request body; sent as-is with the given headers. */
  body?: string;
  headers?: Record<string, string>;
  /** Cap on the whole exchange: connect, headers and body. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** A request that produced no HTTP response: refused, reset, DNS failure, or our own timeout. */
export class HttpRequestError extends Error {
  /** Node's error code (`ECONNREFUSED`, `ENOTFOUND`, …) or `ETIMEDOUT` for our own timeout. */
  readonly code: string;

  constructor(message: string, code: string) {
    super(message);
    this.name = "HttpRequestError";
    this.code = code;
  }
}

// A health or list body is small; a huge body means something other than the app is answering,
// and reading it whole would only waste memory.
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Performs one HTTP(S) request and resolves with status and body text for ANY status. Rejects
 * with {@link HttpRequestError} only when no complete response arrived within `timeoutMs`.
 *
 * Uses `node:http` rather than `fetch` so every request gets a fresh connection (no keep-alive
 * pool that could keep a CLI process alive) and so error codes such as ECONNREFUSED surface
 * directly. Redirects are not followed: a redirect on an API path is itself a finding.
 */
export function requestText(opts: RequestTextOptions): Promise<HttpResult> {
  return new Promise<HttpResult>((resolve, reject) => {
    const target = new URL(opts.url);
    const client = target.protocol === "https:" ? https : http;
    const headers: Record<string, string> = { connection: "close", ...opts.headers };
    if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
    let settled = false;
    const finish = (err: HttpRequestError | undefined, result?: HttpResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else if (result) {
        resolve(result);
      }
    };
    const req = client.request(target, { method: opts.method ?? "GET", headers, agent: false });
    // One timer for the whole exchange: a server that sends headers and then stalls the body
    // must be cut off just like one that never answers.
    const timer = setTimeout(() => {
      const secs = (opts.timeoutMs / 1000).toFixed(1);
      finish(new HttpRequestError(`no response within ${secs}s`, "ETIMEDOUT"));
    }, opts.timeoutMs);
    const onAbort = (): void => finish(new HttpRequestError("request aborted", "ABORT_ERR"));
    if (opts.signal?.aborted) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (e: NodeJS.ErrnoException) => {
      finish(new HttpRequestError(e.message || String(e.code), e.code ?? "EREQUEST"));
    });
    req.on("response", (res) => readBody(res, (err, body) => {
      if (err) finish(err);
      else finish(undefined, { status: res.statusCode ?? 0, body: body ?? "" });
    }));
    req.end(opts.body);
  });
}

/** Collects a response body as UTF-8, refusing bodies over {@link MAX_BODY_BYTES}. */
function readBody(
  res: http.IncomingMessage,
  done: (err: HttpRequestError | undefined, body?: string) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      done(new HttpRequestError(`response body larger than ${MAX_BODY_BYTES} bytes`, "E2BIG"));
      res.destroy();
      return;
    }
    chunks.push(chunk);
  });
  res.on("end", () => done(undefined, Buffer.concat(chunks).toString("utf8")));
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
