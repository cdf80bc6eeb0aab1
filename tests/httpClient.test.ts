/**
 * The one HTTP client (lib/http.ts) against real loopback servers: exact body bytes and
 * headers, redirects followed only when asked and only up to the limit, credentials dropped when
 * a redirect leaves the origin, bounded bodies, and failures that name their code.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { HttpRequestError, requestBytes, requestText } from "../lib/http";
import { freePort } from "../engine/registry";

interface Seen {
  method: string;
  path: string;
  authorization?: string;
  contentType?: string;
  body: string;
}

interface Loopback {
  origin: string;
  seen: Seen[];
}

const servers: { close(): void; closeAllConnections(): void }[] = [];

afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A loopback server that records every request and answers through `handler`. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, origin: string) => void): Promise<Loopback> {
  const seen: Seen[] = [];
  let origin = "";
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      seen.push({
        method: req.method ?? "",
        path: req.url ?? "",
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
        body: Buffer.concat(chunks).toString("utf8"),
      });
      handler(req, res, origin);
    });
  });
  servers.push(server);
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("loopback server has no address");
  origin = `http://127.0.0.1:${address.port}`;
  return { origin, seen };
}

/** Resolves with the HttpRequestError the promise must reject with. */
async function rejection(promise: Promise<unknown>): Promise<HttpRequestError> {
  const err: unknown = await promise.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`),
    (thrown: unknown) => thrown,
  );
  if (!(err instanceof HttpRequestError)) throw err;
  return err;
}

function redirect(res: ServerResponse, status: number, location: string): void {
  res.writeHead(status, { location });
  res.end("moved");
}

describe("requestBytes", () => {
  it("returns the exact body bytes, the reason phrase and lower-case headers", async () => {
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0xc3]); // not valid UTF-8
    const server = await serve((_req, res) => {
      res.statusMessage = "Gone Fishing";
      res.setHeader("Docker-Content-Digest", "sha256:abc");
      res.setHeader("X-Many", ["one", "two"]);
      res.writeHead(418);
      res.end(bytes);
    });

    const res = await requestBytes({ url: `${server.origin}/thing`, timeoutMs: 2000 });

    expect(res.status).toBe(418);
    expect(res.statusText).toBe("Gone Fishing");
    expect(res.body.equals(bytes)).toBe(true);
    expect(res.headers["docker-content-digest"]).toBe("sha256:abc");
    expect(res.headers["x-many"]).toBe("one, two");
    expect(res.url).toBe(`${server.origin}/thing`);
  });

  it("does not follow a redirect unless asked (HEAD sees the 307 itself)", async () => {
    const server = await serve((_req, res) => redirect(res, 307, "/elsewhere"));

    const head = await requestBytes({ url: `${server.origin}/blob`, method: "HEAD", timeoutMs: 2000 });
    const text = await requestText({ url: `${server.origin}/api`, timeoutMs: 2000 });

    expect(head.status).toBe(307);
    expect(head.headers.location).toBe("/elsewhere");
    expect(text).toEqual({ status: 307, body: "moved" });
    expect(server.seen.map((s) => s.path)).toEqual(["/blob", "/api"]);
  });

  it("follows relative and absolute redirects up to the limit and reports the final URL", async () => {
    const other = await serve((_req, res) => res.end("landed"));
    const server = await serve((req, res) => {
      if (req.url === "/a") redirect(res, 301, "/b");
      else redirect(res, 302, `${other.origin}/c?sig=1`);
    });

    const res = await requestBytes({ url: `${server.origin}/a`, maxRedirects: 2, timeoutMs: 2000 });

    expect(res.status).toBe(200);
    expect(res.body.toString("utf8")).toBe("landed");
    expect(res.url).toBe(`${other.origin}/c?sig=1`);
    expect(server.seen.map((s) => s.path)).toEqual(["/a", "/b"]);
    expect(other.seen.map((s) => s.path)).toEqual(["/c?sig=1"]);
  });

  it("fails ETOOMANYREDIRECTS one redirect past the limit, without the signed query", async () => {
    const server = await serve((req, res) => {
      if (req.url === "/a") redirect(res, 302, "/b?sig=secret");
      else redirect(res, 302, "/c");
    });

    const err = await rejection(requestBytes({ url: `${server.origin}/a`, maxRedirects: 1, timeoutMs: 2000 }));

    expect(err.code).toBe("ETOOMANYREDIRECTS");
    expect(err.message).toBe(`more than 1 redirects, the last to ${server.origin}/c`);
    expect(server.seen.map((s) => s.path)).toEqual(["/a", "/b?sig=secret"]);
  });

  it("stops a redirect loop after maxRedirects + 1 requests", async () => {
    const server = await serve((_req, res) => redirect(res, 302, "/loop?sig=secret"));

    const err = await rejection(requestBytes({ url: `${server.origin}/loop`, maxRedirects: 5, timeoutMs: 2000 }));

    expect(err.code).toBe("ETOOMANYREDIRECTS");
    expect(err.message).toBe(`more than 5 redirects, the last to ${server.origin}/loop`);
    expect(err.message).not.toContain("secret");
    expect(server.seen).toHaveLength(6);
  });

  it("keeps credentials on the same origin and drops them when a redirect leaves it", async () => {
    const other = await serve((_req, res) => res.end("blob"));
    const server = await serve((req, res) => {
      if (req.url === "/first") redirect(res, 307, "/second");
      else redirect(res, 307, `${other.origin}/storage`);
    });

    await requestBytes({
      url: `${server.origin}/first`,
      headers: { Authorization: "Bearer anon", accept: "x/y" },
      maxRedirects: 3,
      timeoutMs: 2000,
    });

    expect(server.seen.map((s) => s.authorization)).toEqual(["Bearer anon", "Bearer anon"]);
    expect(other.seen).toEqual([
      { method: "GET", path: "/storage", authorization: undefined, contentType: undefined, body: "" },
    ]);
  });

  it("turns a 303 after POST into a bodiless GET and keeps POST and body across a 307", async () => {
    const server = await serve((req, res) => {
      if (req.url === "/see-other") redirect(res, 303, "/result");
      else if (req.url === "/temporary") redirect(res, 307, "/again");
      else res.end("ok");
    });
    const post = { method: "POST", body: '{"a":1}', headers: { "content-type": "application/json" } };

    await requestBytes({ url: `${server.origin}/see-other`, ...post, maxRedirects: 1, timeoutMs: 2000 });
    await requestBytes({ url: `${server.origin}/temporary`, ...post, maxRedirects: 1, timeoutMs: 2000 });

    expect(server.seen.map(({ method, path, contentType, body }) => [method, path, contentType, body])).toEqual([
      ["POST", "/see-other", "application/json", '{"a":1}'],
      ["GET", "/result", undefined, ""],
      ["POST", "/temporary", "application/json", '{"a":1}'],
      ["POST", "/again", "application/json", '{"a":1}'],
    ]);
  });

  it("refuses a redirect to a scheme other than http(s)", async () => {
    const server = await serve((_req, res) => redirect(res, 302, "ftp://127.0.0.1/file"));

    const err = await rejection(requestBytes({ url: `${server.origin}/x`, maxRedirects: 3, timeoutMs: 2000 }));

    expect(err.code).toBe("EREDIRECT");
    expect(err.message).toBe("redirect to unsupported scheme ftp:");
  });

  it("speaks TLS to an https URL (a plain-http server cannot answer its handshake)", async () => {
    const server = await serve((_req, res) => res.end("plain"));
    const httpsUrl = server.origin.replace(/^http:/, "https:");

    const err = await rejection(requestBytes({ url: `${httpsUrl}/x`, timeoutMs: 2000 }));

    expect(err.code).toBe("EPROTO");
    expect(err.url).toBe(`${httpsUrl}/x`);
    expect(server.seen).toEqual([]);
  });

  it("refuses a body over maxBodyBytes and names the URL that sent it", async () => {
    const server = await serve((_req, res) => res.end(Buffer.alloc(64 * 1024, 0x61)));

    const err = await rejection(requestBytes({ url: `${server.origin}/big`, maxBodyBytes: 1024, timeoutMs: 2000 }));
    const small = await requestBytes({ url: `${server.origin}/big`, maxBodyBytes: 64 * 1024, timeoutMs: 2000 });

    expect(err.code).toBe("E2BIG");
    expect(err.message).toBe("response body larger than 1024 bytes");
    expect(err.url).toBe(`${server.origin}/big`);
    expect(small.body.length).toBe(64 * 1024);
  });

  it("bounds redirects and the final answer by one timeout", async () => {
    const server = await serve((req, res) => {
      if (req.url === "/start") redirect(res, 302, "/stall");
      // "/stall" never answers.
    });
    const started = Date.now();

    const err = await rejection(requestBytes({ url: `${server.origin}/start`, maxRedirects: 3, timeoutMs: 300 }));

    expect(err.code).toBe("ETIMEDOUT");
    expect(err.message).toBe("no response within 0.3s");
    expect(err.url).toBe(`${server.origin}/stall`);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("rejects with the signal's abort and with the system code when nothing listens", async () => {
    const server = await serve(() => undefined);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const port = await freePort();

    const aborted = await rejection(
      requestBytes({ url: `${server.origin}/slow`, timeoutMs: 5000, signal: controller.signal }),
    );
    const refused = await rejection(requestBytes({ url: `http://127.0.0.1:${port}/`, timeoutMs: 2000 }));

    expect([aborted.code, aborted.message]).toEqual(["ABORT_ERR", "request aborted"]);
    expect(refused.code).toBe("ECONNREFUSED");
  });
});
