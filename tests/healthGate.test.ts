/**
 * Health gate against real loopback servers: healthy, database errors, not_configured, slow
 * start, flapping, hanging, malformed and refused connections; plus the CLI as a child process.
 */
import * as http from "node:http";
import { describe, expect, it } from "vitest";
import {
  classifyHealth,
  formatProgress,
  HealthGateError,
  HealthProgress,
  nextWaitMs,
  type Clock,
  waitForHealthy,
} from "../steps/health/poll";
import { main as gateCli } from "../steps/health/cli";
import { closedPort, healthyApp, json, runTool, startFakeApp } from "../engine/fakeApp";
import { serve } from "./serveFakeApp";

const HEALTHY = { ok: true, database: "connected" };
const DB_ERROR = { ok: false, database: "error" };

/** Runs the gate expecting failure; returns the error and how long the gate took. */
async function expectGateFailure(
  opts: Parameters<typeof waitForHealthy>[0],
): Promise<{ err: HealthGateError; elapsed: number }> {
  const t0 = Date.now();
  const err = await waitForHealthy(opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  const elapsed = Date.now() - t0;
  expect(err).toBeInstanceOf(HealthGateError);
  return { err: err as HealthGateError, elapsed };
}

describe("classifyHealth", () => {
  const cases: Array<[string, number | undefined, string, boolean, RegExp]> = [
    ["200 connected", 200, JSON.stringify(HEALTHY), true, /database connected/],
    [
      "200 not_configured",
      200,
      '{"ok":true,"database":"not_configured"}',
      false,
      /database URL is not set.*postgresql addon missing/,
    ],
    [
      "503 database error",
      503,
      JSON.stringify(DB_ERROR),
      false,
      /database error: the app's database query failed \(its URL is set/,
    ],
    [
      "200 database disconnected",
      200,
      '{"ok":true,"database":"disconnected"}',
      false,
      /disconnected: the app's database query failed/,
    ],
    ["503 without JSON", 503, "Service Unavailable", false, /HTTP 503 from the Cloudron proxy \(not the app's JSON\)/],
    ["200 ok false", 200, '{"ok":false,"database":"connected"}', false, /ok=false/],
    ["200 ok as string", 200, '{"ok":"true","database":"connected"}', false, /ok="true"/],
    ["200 malformed", 200, '{"ok":true,', false, /^body is not JSON$/],
    ["200 html", 200, "<html>proxy</html>", false, /^body is not JSON$/],
    ["200 JSON array", 200, "[]", false, /not a JSON object/],
    ["200 other JSON", 200, '{"status":"up"}', false, /no "database" field/],
    [
      "502 from proxy",
      502,
      "<html>Bad Gateway</html>",
      false,
      /HTTP 502 from the Cloudron proxy.*container is not serving/,
    ],
    ["404", 404, "not found", false, /unexpected HTTP 404/],
    [
      "connection error",
      undefined,
      "connect ECONNREFUSED 127.0.0.1:9",
      false,
      /connection failed: connect ECONNREFUSED/,
    ],
  ];
  it.each(cases)("%s", (_name, status, body, healthy, reason) => {
    const verdict = classifyHealth(status, body);
    expect(verdict.healthy).toBe(healthy);
    expect(verdict.reason).toMatch(reason);
  });
});

describe("formatProgress", () => {
  it("renders attempt, elapsed seconds, status and reason on one line", () => {
    const p = { attempt: 3, elapsedMs: 4210, status: 503, reason: "database error" };
    const line = formatProgress(p);
    expect(line).toBe("health: attempt 3, 4.2s elapsed, last: 503 database error");
  });
  it("shows the connection error when there was no response", () => {
    const line = formatProgress({ attempt: 1, elapsedMs: 0, reason: "connection failed: boom" });
    expect(line).toBe("health: attempt 1, 0.0s elapsed, last: connection failed: boom");
  });
});

describe("nextWaitMs", () => {
  it.each([
    // [delay, remaining, finalWindow, expected]
    [250, 10_000, 500, 250], // plain backoff
    [2_000, 1_200, 500, 700], // shortened so a final attempt starts 500 ms before the deadline
    [2_000, 520, 500, 520], // too close to align: never past the deadline
    [2_000, 300, 500, 300], // inside the final window: wait out the rest, never past it
    [250, 0, 500, 0], // deadline passed
  ])("delay %i, remaining %i, window %i → %i", (delay, remaining, window, expected) => {
    expect(nextWaitMs(delay, remaining, window)).toBe(expected);
  });
});

/**
 * Time as an input: `now` moves only when the gate sleeps, so backoff and deadline arithmetic is
 * checked exactly and instantly. Requests still go to real loopback servers.
 */
function virtualClock(): Clock & { sleeps: number[] } {
  let t = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

describe("waitForHealthy against loopback servers", () => {
  it("returns on the first attempt for a healthy app, with the body", async () => {
    const app = await serve(healthyApp());
    const progress: HealthProgress[] = [];
    const onProgress = (p: HealthProgress): void => void progress.push(p);
    const res = await waitForHealthy({ url: app.url, timeoutMs: 5_000, onProgress });
    expect(res.attempts).toBe(1);
    expect(JSON.parse(res.body)).toEqual(HEALTHY);
    expect(progress).toEqual([expect.objectContaining({ attempt: 1, status: 200 })]);
  });

  it("accepts a base URL with a trailing slash and polls /api/health", async () => {
    const paths: string[] = [];
    const app = await serve((req) => {
      paths.push(req.path);
      return json(200, HEALTHY);
    });
    await waitForHealthy({ url: `${app.url}/`, timeoutMs: 2_000 });
    expect(paths).toEqual(["/api/health"]);
  });

  it("fails a 503 database error exactly at its 1500 ms budget, with status, body and hint", async () => {
    const app = await serve(() => json(503, DB_ERROR));
    const clock = virtualClock();
    const { err } = await expectGateFailure({ url: app.url, timeoutMs: 1_500, clock });
    // 250 ms doubling; the third wait is cut so the last look starts 500 ms before the deadline.
    expect(clock.sleeps).toEqual([250, 500, 250, 500]);
    expect(err.attempts).toBe(4);
    expect(err.elapsedMs).toBe(1_500);
    expect(err.lastStatus).toBe(503);
    expect(err.lastBody).toBe(JSON.stringify(DB_ERROR));
    expect(err.message).toBe(
      [
        `health gate: ${app.url}/api/health not healthy after 1.5s (4 attempts)`,
        "  last: HTTP 503, database error: the app's database query failed" +
          " (its URL is set: the postgresql addon is down or unreachable)",
        '  body: {"ok":false,"database":"error"}',
        "  likely cause: the app has a database URL but its query failed" +
          ' (503 {"ok":false,"database":"error"}): the postgresql addon ' +
          "is down or unreachable: dashboard → Services → postgresql, and `cloudron logs --app <app>`",
      ].join("\n"),
    );
  });

  it("treats 200 not_configured as unhealthy: the postgresql addon is missing", async () => {
    const app = await serve(() => json(200, { ok: true, database: "not_configured" }));
    const { err } = await expectGateFailure({ url: app.url, timeoutMs: 800, clock: virtualClock() });
    expect(err.lastStatus).toBe(200);
    expect(err.lastBody).toContain("not_configured");
    expect(err.message).toContain("database URL is not set");
    expect(err.message).toMatch(/likely cause: postgresql addon missing/);
  });

  it("notices an app that turns healthy within 2 s (backoff capped at 2 s)", async () => {
    // Healthy from 4 s on: with 250 ms doubling capped at 2 s the attempts land at
    // 0, .25, .75, 1.75, 3.75, 5.75 s, close to the worst case for the cap.
    const clock = virtualClock();
    const app = await serve(() => (clock.now() >= 4_000 ? json(200, HEALTHY) : json(503, DB_ERROR)));
    const progress: HealthProgress[] = [];
    const res = await waitForHealthy({ url: app.url, timeoutMs: 15_000, clock, onProgress: (p) => progress.push(p) });
    expect(progress.map((p) => p.elapsedMs)).toEqual([0, 250, 750, 1_750, 3_750, 5_750]);
    expect(res.attempts).toBe(6);
    expect(res.elapsedMs - 4_000).toBeLessThanOrEqual(2_000);
  });

  it("backs off exponentially up to maxDelayMs, with a look 500 ms before the deadline", async () => {
    const clock = virtualClock();
    const seen: number[] = [];
    const app = await serve(() => {
      seen.push(clock.now());
      return json(503, DB_ERROR);
    });
    await expectGateFailure({ url: app.url, timeoutMs: 2_500, initialDelayMs: 100, maxDelayMs: 400, clock });
    expect(seen).toEqual([0, 100, 300, 700, 1_100, 1_500, 1_900, 2_000, 2_400]);
    expect(clock.now()).toBe(2_500);
  });

  it("never sleeps past the deadline, even when the backoff delay is longer", async () => {
    const clock = virtualClock();
    const seen: number[] = [];
    const app = await serve(() => {
      seen.push(clock.now());
      return json(503, DB_ERROR);
    });
    const { err } = await expectGateFailure({
      url: app.url,
      timeoutMs: 1_200,
      initialDelayMs: 5_000,
      maxDelayMs: 5_000,
      clock,
    });
    // The long wait is cut so a second look happens before the deadline, not after it.
    expect(seen).toEqual([0, 700]);
    expect(err.elapsedMs).toBe(1_200);
  });

  it("returns at the first healthy answer of a flapping app", async () => {
    let n = 0;
    const app = await serve(() => {
      n += 1;
      return n % 2 === 0 ? json(200, HEALTHY) : json(503, DB_ERROR);
    });
    const progress: HealthProgress[] = [];
    const res = await waitForHealthy({
      url: app.url,
      timeoutMs: 5_000,
      initialDelayMs: 50,
      onProgress: (p) => progress.push(p),
    });
    expect(res.attempts).toBe(2);
    expect(progress.map((p) => p.status)).toEqual([503, 200]);
    expect(progress[0].reason).toMatch(/database query failed/);
  });

  it("does not let a hanging connection hold the gate past its (real) timeout", async () => {
    const app = await serve(() => ({ status: 200, body: "", hang: true }));
    const { err, elapsed } = await expectGateFailure({
      url: app.url,
      timeoutMs: 600,
      requestTimeoutMs: 10_000, // longer than the budget: the deadline must still win
    });
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThanOrEqual(1_000);
    expect(err.lastStatus).toBeUndefined();
    expect(err.message).toMatch(/no HTTP response \(no response within 0\.6s\)/);
    expect(err.message).toContain("container not running");
  });

  it("gives up on a hanging request after requestTimeoutMs and retries", async () => {
    let n = 0;
    const app = await serve(() => {
      n += 1;
      return n === 1 ? { status: 200, body: "", hang: true } : json(200, HEALTHY);
    });
    const t0 = Date.now();
    const res = await waitForHealthy({ url: app.url, timeoutMs: 5_000, requestTimeoutMs: 300 });
    expect(res.attempts).toBe(2);
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it("cuts off a response whose body stalls after the headers", async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"ok":true,'); // … and never finishes
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const { err, elapsed } = await expectGateFailure({
        url: `http://127.0.0.1:${port}`,
        timeoutMs: 500,
        requestTimeoutMs: 200,
      });
      expect(elapsed).toBeLessThanOrEqual(1_000);
      expect(err.message).toMatch(/no response within 0\.2s/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("reports a malformed body as the wrong app or a proxy error page", async () => {
    const page = "<html>\n<h1>Welcome to nginx</h1>\n</html>";
    const app = await serve(() => ({ status: 200, body: page }));
    const { err } = await expectGateFailure({ url: app.url, timeoutMs: 600, clock: virtualClock() });
    expect(err.message).toContain("HTTP 200, body is not JSON");
    expect(err.message).toContain("body: <html> <h1>Welcome to nginx</h1> </html>");
    expect(err.message).toContain("likely cause: wrong app answering at that URL, or proxy error page");
  });

  it("keeps the body excerpt to one line of about 200 characters", async () => {
    const long = `${"line of error text\n".repeat(60)}`;
    const app = await serve(() => ({ status: 503, body: long }));
    const { err } = await expectGateFailure({ url: app.url, timeoutMs: 400, clock: virtualClock() });
    const bodyLine = err.message.split("\n").find((l) => l.startsWith("  body: "));
    expect(bodyLine).toBeDefined();
    expect(bodyLine?.length).toBeLessThanOrEqual("  body: ".length + 201);
    expect(bodyLine?.endsWith("…")).toBe(true);
    expect(err.lastBody).toBe(long); // the field keeps the whole body
  });

  it("maps a 502 from the proxy (not the app's JSON) to the proxy row with a concrete logs hint", async () => {
    const app = await serve(() => ({ status: 502, body: "<html>502 Bad Gateway</html>" }));
    const { err } = await expectGateFailure({
      url: app.url,
      timeoutMs: 400,
      app: "staging.communityrule.info",
      clock: virtualClock(),
    });
    expect(err.lastStatus).toBe(502);
    expect(err.message).toContain(
      "likely cause: the answer (HTTP 502) came from Cloudron's" +
        " proxy, not from the app: the container is not serving " +
        "(still starting, stopped or crashing); its log is below (`cloudron logs --app staging.communityrule.info`)",
    );
  });

  it("reports connection refused when nothing listens", async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const { err } = await expectGateFailure({ url, timeoutMs: 1_000, clock: virtualClock() });
    expect(err.lastStatus).toBeUndefined();
    expect(err.lastBody).toContain("ECONNREFUSED");
    expect(err.message).toContain("ECONNREFUSED");
    expect(err.message).toContain("`cloudron logs --app <app>` around `prisma migrate deploy`");
  });

  it("stops promptly when its signal aborts", async () => {
    const app = await serve(() => json(503, DB_ERROR));
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("cancelled by test")), 300);
    const t0 = Date.now();
    const err = await waitForHealthy({ url: app.url, timeoutMs: 30_000, signal: controller.signal }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(err).not.toBeInstanceOf(HealthGateError);
    expect((err as Error).message).toBe("cancelled by test");
  });
});

describe("fakeApp support", () => {
  it("stop() destroys a hanging connection instead of waiting for it", async () => {
    const app = await startFakeApp(() => ({ status: 200, body: "", hang: true }));
    // A client with no timeout of its own: only the server side can end this request.
    const clientDone = new Promise<string>((resolve) => {
      const req = http.get(`${app.url}/api/health`, (res) => resolve(`answered ${res.statusCode}`));
      req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    await new Promise((r) => setTimeout(r, 100)); // let the request reach the handler
    const stopped = await Promise.race([
      app.stop().then(() => "stopped"),
      new Promise((r) => setTimeout(() => r("stop() still waiting"), 2_000)),
    ]);
    expect(stopped).toBe("stopped");
    expect(await clientDone).toBe("ECONNRESET");
  });

  it("answers after delayMs and records method, path and body", async () => {
    const seen: string[] = [];
    const app = await serve((req) => {
      seen.push(`${req.method} ${req.path} ${req.body}`);
      return { ...json(201, { ok: true }), delayMs: 200 };
    });
    const t0 = Date.now();
    const res = await fetch(`${app.url}/x?y=1`, { method: "POST", body: "hello" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ ok: true });
    expect(seen).toEqual(["POST /x hello"]);
  });
});

describe("tools/healthGate.ts", () => {
  const gate = (args: string[]) => runTool("tools/healthGate.ts", args);
  const inProcess = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await gateCli(args, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  };

  it("as a child process: exits 0 and prints one JSON line when healthy, progress on stderr", async () => {
    const app = await serve(healthyApp());
    const run = await gate([app.url, "--timeout-seconds", "10"]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toEqual({
      healthy: true,
      url: `${app.url}/api/health`,
      attempts: 1,
      elapsedMs: expect.any(Number),
    });
    expect(run.stderr).toMatch(/^health: attempt 1, \d+\.\ds elapsed, last: 200 database connected$/m);
  });

  it("as a child process: exits 1 with the gate message on a 503", async () => {
    const app = await serve(() => json(503, DB_ERROR));
    const run = await gate([app.url, "--timeout-seconds", "0.3"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/health: attempt 1, .*last: 503 database error/);
    expect(run.stderr).toContain(`${app.url}/api/health not healthy after`);
    expect(run.stderr).toContain("the app has a database URL but its query failed");
  });

  it("uses --app to make the logs hint concrete", async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const run = await inProcess([url, "--timeout-seconds=0.3", "--app", "x.example"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("`cloudron logs --app x.example` around `prisma migrate deploy`");
  });

  it.each([
    [["http://127.0.0.1:1"], "healthGate: --timeout-seconds is required"],
    [
      ["http://127.0.0.1:1", "--timeout-seconds", "abc"],
      "healthGate: --timeout-seconds must be a positive number, got abc",
    ],
    [["--timeout-seconds", "5"], "healthGate: missing <baseUrl>"],
    [["ftp://x", "--timeout-seconds", "5"], 'healthGate: unsupported scheme "ftp://": use http(s):// or a bare host'],
  ])("exits 2 on bad usage %j", async (args, message) => {
    const run = await inProcess(args);
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n")).toEqual([message, expect.stringMatching(/^usage: /)]);
    expect(run.stdout).toBe("");
  });
});
