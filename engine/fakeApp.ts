/**
 * A fake CommunityRule app on a real loopback HTTP server, for tests of the health gate, the
 * smoke checks and anything else that talks HTTP to the deployed app.
 *
 *   const app = await startFakeApp(healthyApp());
 *   // … point code at app.url (http://127.0.0.1:PORT) …
 *   await app.stop();
 *
 * The handler decides every answer; `hang: true` accepts the request and never answers, and
 * `delayMs` answers late. `stop()` destroys open sockets (hanging ones included) so tests never
 * wait on a connection they deliberately left open.
 */
import { spawn } from "node:child_process";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import * as path from "node:path";
import { findProjectDir } from "../lib/projectDir";
import type { StandinApp } from "./standin/cloudronApi";

/** Repository root, where `tools/` and `node_modules/` live. */
export const repoRoot = findProjectDir(__dirname);

/** What the handler sees: method, path without query string, the query, and the request body text. */
export interface FakeRequest {
  method: string;
  path: string;
  body: string;
  query: URLSearchParams;
}

/** What the server does: answer `status`/`body` (after `delayMs`), or `hang` forever. */
export type FakeResponse = {
  status: number;
  body: string;
  headers?: Record<string, string>;
  delayMs?: number;
  /** Accept the request and never answer (until `stop()`). */
  hang?: boolean;
};

export type FakeHandler = (req: FakeRequest) => FakeResponse | Promise<FakeResponse>;

/** A running fake app. */
export interface FakeApp {
  /** Base URL, `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  port: number;
  /** Closes the server, destroying every open socket and cancelling delayed answers. */
  stop(): Promise<void>;
}

/** A JSON answer with the right content type. */
export function json(status: number, value: unknown): FakeResponse {
  return { status, body: JSON.stringify(value), headers: { "content-type": "application/json" } };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/**
 * Starts a fake app on 127.0.0.1 with an OS-assigned port. A handler that throws answers 500
 * with the error text, so a broken test handler is visible rather than a hang.
 */
export async function startFakeApp(handler: FakeHandler): Promise<FakeApp> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url ?? "/", "http://fake");
      let answer: FakeResponse;
      try {
        answer = await handler({ method: req.method ?? "GET", path: url.pathname, body, query: url.searchParams });
      } catch (e) {
        answer = { status: 500, body: `fake handler threw: ${String(e)}` };
      }
      if (answer.hang) return;
      const send = (): void => {
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body);
      };
      if (!answer.delayMs) return send();
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, answer.delayMs);
      timers.add(timer);
    })().catch(() => res.destroy());
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, stop: () => stopServer(server, sockets, timers) };
}

function stopServer(server: http.Server, sockets: Set<Socket>, timers: Set<NodeJS.Timeout>): Promise<void> {
  for (const t of timers) clearTimeout(t);
  timers.clear();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // close() only stops accepting; open (e.g. hanging) connections must be destroyed explicitly.
  for (const s of sockets) s.destroy();
  return closed;
}

/** A port on 127.0.0.1 with nothing listening (bound, released): for "connection refused". */
export async function closedPort(): Promise<number> {
  const app = await startFakeApp(() => json(200, {}));
  await app.stop();
  return app.port;
}

/** How many templates the healthy fake app lists once seeded. */
const SEEDED_TEMPLATE_COUNT = 3;

/** Template entries as the seed creates them: each has a `slug`. */
export function seededTemplates(count: number): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, i) => ({
    id: `tpl-${i + 1}`,
    slug: `template-${i + 1}`,
    title: `Template ${i + 1}`,
  }));
}

/**
 * `GET /api/uploads/:id` as the app answers it (app/api/uploads/[id]/route.ts, CommunityRule commit
 * 9de1e85; lib/server/uploads/uploadRoot.ts): UPLOAD_ROOT trimmed and empty → 500
 * `server_misconfigured`; otherwise an id that is not an upload ("smoke-check") → 404 `not_found`.
 * Error bodies as lib/server/responses.ts builds them: `{ error: { code, message } }`.
 */
export function uploadsAnswer(uploadRoot: string | undefined): FakeResponse {
  if (!uploadRoot?.trim()) {
    return json(500, {
      error: { code: "server_misconfigured", message: "File uploads are not configured (UPLOAD_ROOT is unset)." },
    });
  }
  return json(404, { error: { code: "not_found", message: "Upload not found" } });
}

/** The first method slugs of each section in the real seed data (data/create/customRule/<section>.json). */
const SEEDED_METHODS: Record<string, string[]> = {
  communication: ["discord", "discourse-forum", "email-distribution-list"],
  membership: ["application-review", "collective-interviews"],
  decisionApproaches: ["advisory-committees", "approval-voting"],
  conflictManagement: ["ad-hoc-arbitration", "binding-arbitration"],
};

/**
 * `GET /api/create-flow/methods` as the app answers it (app/api/create-flow/methods/route.ts,
 * commit 45bbbb8; lib/server/methodRecommendations.ts): an unknown section → 400
 * `validation_error`; no requested facet or no seeded `MethodFacet` rows → `methods: []`;
 * otherwise the matching methods with a score (one point per requested facet they match).
 */
export function recommendationsAnswer(query: URLSearchParams, seeded: boolean): FakeResponse {
  const section = query.get("section");
  const sections = Object.keys(SEEDED_METHODS);
  if (!section || !sections.includes(section)) {
    return json(400, {
      error: { code: "validation_error", message: `Unknown section. Expected one of: ${sections.join(", ")}` },
    });
  }
  const facets = [...query.entries()]
    .filter(([k]) => k.startsWith("facet."))
    .map(([k, v]) => `${k.slice("facet.".length)}:${v}`);
  if (!seeded || facets.length === 0) return json(200, { section, methods: [] });
  return json(200, {
    section,
    methods: SEEDED_METHODS[section].map((slug) => ({
      slug,
      matches: { score: facets.length, matchedFacets: facets },
    })),
  });
}

/** CommunityRule's manifest id (engine/fixtures/community-rule/CloudronManifest.json). */
const COMMUNITYRULE_MANIFEST_ID = "com.medlab.communityrule";

/**
 * The loopback app of the lifecycle runner: answers from the stand-in's view of the app at a
 * location (502 unless it runs; 503 health for an image listed as unhealthy; templates and method
 * recommendations once the seed ran; uploads by the app's UPLOAD_ROOT).
 */
export function playCommunityRule(
  app: StandinApp | undefined,
  unhealthyImages: readonly string[],
  req: FakeRequest,
): FakeResponse {
  if (!app || app.runState !== "running") return { status: 502, body: "<html>502 Bad Gateway</html>" };
  // Another app at the location (the legacy LAMP site before the cutover) has none of these routes.
  if (app.manifest.id !== COMMUNITYRULE_MANIFEST_ID) {
    return req.path === "/"
      ? { status: 200, body: `<html>${app.manifest.id}</html>` }
      : { status: 404, body: "<html>404 Not Found</html>" };
  }
  const unhealthy = unhealthyImages.some((s) => app.manifest.dockerImage.includes(s));
  switch (req.path) {
    case "/api/health":
      return unhealthy
        ? { status: 503, body: JSON.stringify({ ok: false, database: "error" }) }
        : { status: 200, body: JSON.stringify({ ok: true, database: "connected" }) };
    case "/api/templates":
      return {
        status: 200,
        body: JSON.stringify({ templates: app.seedRuns > 0 ? [{ slug: "consensus" }, { slug: "do-ocracy" }] : [] }),
      };
    case "/api/rules":
      return { status: 200, body: JSON.stringify({ rules: [] }) };
    case "/api/create-flow/methods":
      return recommendationsAnswer(req.query, app.seedRuns > 0);
    default:
      if (req.path.startsWith("/api/uploads/")) return uploadsAnswer(app.env.UPLOAD_ROOT);
      return { status: 404, body: "not found" };
  }
}

/**
 * Handler for a healthy, seeded app: `GET /api/health` (database connected),
 * `GET /api/templates` (`templates` seeded entries, default 3), `GET /api/rules` (one rule),
 * `GET /api/uploads/:id` (404: UPLOAD_ROOT set, unless `uploadRoot` is given empty),
 * `GET /api/create-flow/methods` (seeded recommendations) and `POST /api/auth/magic-link/request`
 * (`{ok:true}` for a JSON body with an email). Anything else is 404. Wrap it to override one endpoint.
 */
export const healthyApp =
  (opts?: { templates?: number; uploadRoot?: string }): FakeHandler =>
  (req) => {
    if (req.method === "GET" && req.path.startsWith("/api/uploads/"))
      return uploadsAnswer(opts?.uploadRoot ?? "/app/data/uploads");
    if (req.method === "GET" && req.path === "/api/create-flow/methods") return recommendationsAnswer(req.query, true);
    const route = `${req.method} ${req.path}`;
    switch (route) {
      case "GET /api/health":
        return json(200, { ok: true, database: "connected" });
      case "GET /api/templates":
        return json(200, { templates: seededTemplates(opts?.templates ?? SEEDED_TEMPLATE_COUNT) });
      case "GET /api/rules":
        return json(200, { rules: [{ id: "rule-1", title: "Example rule" }] });
      case "POST /api/auth/magic-link/request": {
        let email: unknown;
        try {
          email = (JSON.parse(req.body) as { email?: unknown }).email;
        } catch {
          email = undefined;
        }
        return typeof email === "string" ? json(200, { ok: true }) : json(400, { ok: false, error: "invalid_email" });
      }
      default:
        return json(404, { error: "not_found" });
    }
  };

/** Exit code and captured output of a child process run by {@link runTool}. */
export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/**
 * Runs a CLI from the repo as a real child process, in its compiled form as the command resources
 * run it (`tools/smoke.ts` → `node build/tools/smoke.js …args`; `npm run build` first).
 * Asynchronous on purpose: the fake app serving the CLI lives in the test's own event loop, so a
 * sync spawn would deadlock.
 * The child is killed after `timeoutMs` so a hanging tool fails the test instead of stalling it.
 */
export function runTool(
  script: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ToolRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join("build", script.replace(/\.ts$/, ".js")), ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const killer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}
