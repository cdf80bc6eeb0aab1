/**
 * Post-deploy smoke checks (runbook §3.5, the automated part of `scripts/staging-smoke.sh`).
 * ONE implementation, used both at the end of `pulumi up` and by the standalone CLI
 * `tools/smoke.ts`. No Pulumi imports.
 */
import { isHostname } from "../../config/hostname";
import { classifyHealth } from "../health/poll";
import { connectionHint } from "../health/troubleshooting";
import { excerpt, HttpRequestError, isRecord, parseJson, requestText, type HttpResult } from "../../lib/http";

/** Result of one named check. */
export interface SmokeCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** Set when no HTTP answer came back: the connection error's code (ENOTFOUND, ECONNREFUSED, …). */
  errorCode?: string;
}

/** Result of a smoke run: `ok` only when every check passed. */
export interface SmokeResult {
  ok: boolean;
  checks: SmokeCheck[];
  /** What to check, once per connection error seen (host does not resolve, nothing listens, …). */
  hints?: string[];
}

/** Options for {@link runSmokeChecks}. */
export interface SmokeOptions {
  /** Normalized base URL (see {@link normalizeTarget}). */
  baseUrl: string;
  /** When set, also request a magic link for this address (sends a real mail). */
  email?: string;
  /** Cap per request; default 10000 ms. */
  timeoutMs?: number;
}

// A bare host as the runbook's script takes it: a hostname, optional port, optional trailing "/".
const BARE_HOST = /^([^:/]+)(:\d{1,5})?\/?$/;

function isBareHost(value: string): boolean {
  const host = BARE_HOST.exec(value)?.[1];
  return host !== undefined && isHostname(host.toLowerCase(), { singleLabel: true });
}
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/**
 * Turns what an operator types into a base URL: a bare host (`staging.communityrule.info`)
 * means `https://<host>`; an `http(s)://` URL is kept, minus trailing slashes.
 *
 * @throws Error for empty input, whitespace, other schemes, credentials, query or fragment.
 */
export function normalizeTarget(hostOrUrl: string): string {
  if (hostOrUrl === "") throw new Error("target is empty: pass a host or an http(s):// URL");
  if (/\s/.test(hostOrUrl)) {
    throw new Error(`target contains whitespace: ${JSON.stringify(hostOrUrl)}`);
  }
  if (isBareHost(hostOrUrl)) return `https://${hostOrUrl.replace(/\/$/, "").toLowerCase()}`;
  const scheme = SCHEME.exec(hostOrUrl)?.[1].toLowerCase();
  if (scheme === undefined) {
    throw new Error(
      `not a host or URL: ${JSON.stringify(hostOrUrl)} ` +
        "(expected e.g. staging.communityrule.info or https://staging.communityrule.info)",
    );
  }
  if (scheme !== "http" && scheme !== "https") {
    throw new Error(`unsupported scheme "${scheme}://": use http(s):// or a bare host`);
  }
  return checkedUrl(hostOrUrl);
}

/** Validates an http(s) URL and returns it without trailing slashes. */
function checkedUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`not a valid URL: ${JSON.stringify(raw)}`);
  }
  if (url.hostname === "") throw new Error(`URL has no host: ${JSON.stringify(raw)}`);
  // Credentials would end up in reports and logs; a query/fragment would break path joining.
  if (url.username || url.password) throw new Error("URL must not contain credentials");
  if (url.search || url.hash) throw new Error("URL must not contain a query or fragment");
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

type Fetcher = (path: string, init?: { method: string; body: string }) => Promise<HttpResult>;

function makeFetcher(baseUrl: string, timeoutMs: number): Fetcher {
  return (path, init) =>
    requestText({
      url: `${baseUrl}${path}`,
      method: init?.method ?? "GET",
      body: init?.body,
      headers: init
        ? { "content-type": "application/json", accept: "application/json" }
        : { accept: "application/json" },
      timeoutMs,
    });
}

const pass = (name: string, detail: string): SmokeCheck => ({ name, ok: true, detail });
const fail = (name: string, detail: string): SmokeCheck => ({ name, ok: false, detail });

/** Describes a non-200 answer or a body that is not a JSON object. */
function badAnswer(res: HttpResult): string | undefined {
  if (res.status !== 200) return `HTTP ${res.status}: ${excerpt(res.body, 120) || "(empty body)"}`;
  if (!isRecord(parseJson(res.body))) return `body is not a JSON object: ${excerpt(res.body, 120)}`;
  return undefined;
}

async function checkHealth(get: Fetcher): Promise<SmokeCheck> {
  const res = await get("/api/health");
  const verdict = classifyHealth(res.status, res.body);
  return verdict.healthy
    ? pass("health", `200 ${verdict.reason}`)
    : fail("health", `HTTP ${res.status}: ${verdict.reason}`);
}

async function checkTemplates(get: Fetcher): Promise<SmokeCheck> {
  const res = await get("/api/templates");
  const bad = badAnswer(res);
  if (bad) return fail("templates", bad);
  const templates = (parseJson(res.body) as Record<string, unknown>).templates;
  if (!Array.isArray(templates)) return fail("templates", '"templates" is not a list');
  if (templates.length === 0) {
    return fail("templates", "no templates: the seed has not run (node prisma/seed.bundle.cjs)");
  }
  const slugs = templates.flatMap((t: unknown) => (isRecord(t) && typeof t.slug === "string" ? [t.slug] : []));
  if (slugs.length === 0) {
    return fail(
      "templates",
      `${templates.length} templates but none has a "slug": ` +
        "seed data missing (node prisma/seed.bundle.cjs) or wrong app",
    );
  }
  return pass("templates", `${templates.length} templates, ${slugs.length} seeded ` + `(e.g. ${slugs[0]})`);
}

async function checkRules(get: Fetcher): Promise<SmokeCheck> {
  const res = await get("/api/rules");
  const bad = badAnswer(res);
  if (bad) return fail("rules", bad);
  const rules = (parseJson(res.body) as Record<string, unknown>).rules;
  if (!Array.isArray(rules)) return fail("rules", '"rules" is not a list');
  return pass("rules", `${rules.length} rules`);
}

/**
 * Uploads configured: the app's public read route `GET /api/uploads/:id`
 * (app/api/uploads/[id]/route.ts, CommunityRule commit 9de1e85) answers 500 `server_misconfigured`
 * before anything else when UPLOAD_ROOT is unset, and 404 `not_found` for an id that names no
 * upload ("smoke-check" is not a valid upload id, so no file is read). So 404 is the pass.
 */
export const UPLOADS_PROBE_PATH = "/api/uploads/smoke-check";

async function checkUploads(get: Fetcher): Promise<SmokeCheck> {
  const res = await get(UPLOADS_PROBE_PATH);
  if (res.status === 404) return pass("uploads", `GET ${UPLOADS_PROBE_PATH} → 404 (UPLOAD_ROOT is configured)`);
  const json = parseJson(res.body);
  const code = isRecord(json) && isRecord(json.error) ? json.error.code : undefined;
  if (res.status === 500 && code === "server_misconfigured") {
    return fail(
      "uploads",
      `GET ${UPLOADS_PROBE_PATH} → 500 server_misconfigured: UPLOAD_ROOT is not set on the app, ` +
        "so every upload fails (pulumi config set --path 'env.UPLOAD_ROOT' /app/data/uploads, then up)",
    );
  }
  return fail(
    "uploads",
    `GET ${UPLOADS_PROBE_PATH}: expected 404, got HTTP ${res.status}: ` + `${excerpt(res.body, 120) || "(empty body)"}`,
  );
}

/**
 * Method recommendations seeded: `GET /api/create-flow/methods?section=…&facet.size=…`
 * (app/api/create-flow/methods/route.ts, commit 45bbbb8; lib/server/methodRecommendations.ts)
 * ranks a section's methods by the `MethodFacet` rows the seed writes; with no rows it answers
 * `{ section, methods: [] }` and the wizard shows no "Recommended" tags. Every size value is asked
 * for, so any seeded method of the section matches at least one.
 */
export const RECOMMENDATIONS_PROBE_PATH =
  "/api/create-flow/methods?section=communication&facet.size=oneMember&facet.size=twoToFive" +
  "&facet.size=sixToTwelve&facet.size=thirteenToOneHundred&facet.size=oneHundredToOneHundredK";

async function checkRecommendations(get: Fetcher): Promise<SmokeCheck> {
  const res = await get(RECOMMENDATIONS_PROBE_PATH);
  const bad = badAnswer(res);
  if (bad) return fail("recommendations", bad);
  const methods = (parseJson(res.body) as Record<string, unknown>).methods;
  if (!Array.isArray(methods)) return fail("recommendations", '"methods" is not a list');
  const scored = methods.filter(
    (m: unknown) => isRecord(m) && isRecord(m.matches) && typeof m.matches.score === "number" && m.matches.score > 0,
  );
  if (scored.length === 0) {
    return fail(
      "recommendations",
      "no method recommendations: the seed has not written the method facets " +
        "(change communityrule:seedRun and up, or run node prisma/seed.bundle.cjs)",
    );
  }
  return pass(
    "recommendations",
    `${scored.length} communication methods recommended ` +
      `(e.g. ${String((scored[0] as Record<string, unknown>).slug)})`,
  );
}

async function checkMagicLink(get: Fetcher, email: string): Promise<SmokeCheck> {
  const body = JSON.stringify({ email });
  const res = await get("/api/auth/magic-link/request", { method: "POST", body });
  if (res.status === 429) {
    return fail("magic-link", "HTTP 429: rate limited (one request per email per 60 s): " + "retry later");
  }
  const json = parseJson(res.body);
  if (res.status === 200 && isRecord(json) && json.ok === true) {
    return pass("magic-link", `requested for ${email}: check the inbox and click the link`);
  }
  return fail(
    "magic-link",
    `HTTP ${res.status}: ${excerpt(res.body, 120) || "(empty body)"} ` +
      "(mail addon or SMTP_FROM: see Cloudron mail logs)",
  );
}

/** Runs one check, turning a network error into a FAIL instead of an exception. */
async function guarded(name: string, check: () => Promise<SmokeCheck>): Promise<SmokeCheck> {
  try {
    return await check();
  } catch (e) {
    if (e instanceof HttpRequestError) return { ...fail(name, `no HTTP response: ${e.message}`), errorCode: e.code };
    return fail(name, `error: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Runs the app's automated acceptance checks against `baseUrl`: health, templates (seeded),
 * rules, uploads configured, method recommendations (seeded), and — only when `email` is given —
 * a magic-link request. Never throws for a failing
 * check: each one gets ok/detail, network errors included.
 */
export async function runSmokeChecks(opts: SmokeOptions): Promise<SmokeResult> {
  const baseUrl = opts.baseUrl.replace(/\/+$/, "");
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const get = makeFetcher(baseUrl, timeoutMs);
  // Sequential on purpose: a handful of requests, and the order matches the report.
  const checks = [
    await guarded("health", () => checkHealth(get)),
    await guarded("templates", () => checkTemplates(get)),
    await guarded("rules", () => checkRules(get)),
    await guarded("uploads", () => checkUploads(get)),
    await guarded("recommendations", () => checkRecommendations(get)),
  ];
  const email = opts.email;
  if (email) checks.push(await guarded("magic-link", () => checkMagicLink(get, email)));
  // One hint per kind of connection failure, not one per check that hit it.
  const codes = [...new Set(checks.flatMap((c) => (c.errorCode ? [c.errorCode] : [])))];
  const hints = codes.flatMap((code) => connectionHint(code, baseUrl, timeoutMs) ?? []);
  return { ok: checks.every((c) => c.ok), checks, ...(hints.length ? { hints } : {}) };
}

/**
 * What only a person can check, from the app's own acceptance list (scripts/staging-smoke.sh's
 * "Manual follow-up" and the first-install guide §10): printed after the automated checks.
 */
export function manualAcceptanceSteps(baseUrl: string): string[] {
  const host = new URL(baseUrl).host;
  return [
    `sign in: request a magic link on ${baseUrl} (or pass --email), open the mail and check that the ` +
      `link's host is ${host}; a link to another host means the app builds links from the wrong origin`,
    "publish a rule: sign in, create a rule, publish it, and open its public page",
    "optional: a draft syncs between two browsers, and an upload in the create flow is shown back",
  ];
}

/** Renders `PASS name: detail` / `FAIL name: detail` lines and a one-line summary. */
export function formatSmokeReport(result: SmokeResult, baseUrl: string): string {
  const lines = result.checks.map((c) => `${c.ok ? "PASS" : "FAIL"} ${c.name}: ${c.detail}`);
  for (const hint of result.hints ?? []) lines.push(`hint: ${hint}`);
  const passed = result.checks.filter((c) => c.ok).length;
  const failed = result.checks.length - passed;
  lines.push(`smoke: ${passed} passed, ${failed} failed against ${baseUrl}`);
  return lines.join("\n");
}
