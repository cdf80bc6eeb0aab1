/**
 * Smoke checks (runbook §3.5) against real loopback servers, and the `tools/smoke.ts` CLI as a
 * child process.
 */
import { main as smokeCli } from "../steps/smoke/cli";
import { describe, expect, it } from "vitest";
import { formatSmokeReport, normalizeTarget, runSmokeChecks, SmokeResult } from "../steps/smoke/checks";
import { closedPort, FakeHandler, FakeRequest, healthyApp, json, runTool } from "../engine/fakeApp";
import { serve } from "./serveFakeApp";

/** A healthy app with one endpoint replaced, recording every request. */
function withOverride(route: string, answer: FakeHandler, seen: FakeRequest[] = []): FakeHandler {
  const base = healthyApp();
  return (req) => {
    seen.push(req);
    return `${req.method} ${req.path}` === route ? answer(req) : base(req);
  };
}

const byName = (result: SmokeResult, name: string) => result.checks.find((c) => c.name === name);

describe("normalizeTarget", () => {
  it.each([
    ["staging.communityrule.info", "https://staging.communityrule.info"],
    ["communityrule.info/", "https://communityrule.info"],
    ["Staging.CommunityRule.info", "https://staging.communityrule.info"],
    ["localhost:3000", "https://localhost:3000"],
    ["https://staging.communityrule.info/", "https://staging.communityrule.info"],
    ["http://127.0.0.1:8080", "http://127.0.0.1:8080"],
    ["HTTPS://communityrule.info//", "https://communityrule.info"],
    ["https://example.org/sub/path/", "https://example.org/sub/path"],
  ])("%s → %s", (input, expected) => {
    expect(normalizeTarget(input)).toBe(expected);
  });

  it.each([
    ["", /empty/],
    ["   ", /whitespace/],
    ["staging.communityrule.info ", /whitespace/],
    ["https://a b.example", /whitespace/],
    ["ftp://communityrule.info", /unsupported scheme "ftp:\/\/"/],
    ["file:///etc/passwd", /unsupported scheme/],
    ["mailto:ops@example.org", /not a host or URL/],
    ["-bad-.example", /not a host or URL/],
    ["https://user:pw@communityrule.info", /credentials/],
    ["https://communityrule.info/?x=1", /query or fragment/],
  ])("rejects %j", (input, message) => {
    expect(() => normalizeTarget(input)).toThrow(message);
  });
});

describe("runSmokeChecks", () => {
  it("passes every check against a healthy seeded app, without touching magic-link", async () => {
    const seen: FakeRequest[] = [];
    const app = await serve(withOverride("none", healthyApp(), seen));
    const result = await runSmokeChecks({ baseUrl: app.url });
    expect(result.ok).toBe(true);
    expect(result.checks.map((c) => [c.name, c.ok])).toEqual([
      ["health", true],
      ["templates", true],
      ["rules", true],
      ["uploads", true],
      ["recommendations", true],
    ]);
    expect(byName(result, "templates")?.detail).toBe("3 templates, 3 seeded (e.g. template-1)");
    expect(byName(result, "rules")?.detail).toBe("1 rules");
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /api/health",
      "GET /api/templates",
      "GET /api/rules",
      "GET /api/uploads/smoke-check",
      "GET /api/create-flow/methods",
    ]);
    expect(seen[4].query.get("section")).toBe("communication");
    expect(seen[4].query.getAll("facet.size")).toHaveLength(5);
    expect(byName(result, "uploads")?.detail).toBe("GET /api/uploads/smoke-check → 404 (UPLOAD_ROOT is configured)");
    expect(byName(result, "recommendations")?.detail).toBe("3 communication methods recommended (e.g. discord)");
  });

  it("fails uploads when the app answers 500 server_misconfigured (UPLOAD_ROOT unset), naming the fix", async () => {
    const app = await serve(healthyApp({ uploadRoot: "" }));
    const result = await runSmokeChecks({ baseUrl: app.url });
    expect(result.ok).toBe(false);
    expect(result.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["uploads"]);
    expect(byName(result, "uploads")?.detail).toBe(
      "GET /api/uploads/smoke-check → 500 server_misconfigured: UPLOAD_ROOT is not set on the app, so every upload " +
        "fails (pulumi config set --path 'env.UPLOAD_ROOT' /app/data/uploads, then up)",
    );
  });

  it.each([
    ["a 200 (no such route in this app)", json(200, { rules: [] }), /expected 404, got HTTP 200/],
    [
      "another 500",
      json(500, { error: { code: "internal_error", message: "boom" } }),
      /expected 404, got HTTP 500: .*internal_error/,
    ],
  ])("fails uploads on %s", async (_name, answer, detail) => {
    const app = await serve(withOverride("GET /api/uploads/smoke-check", () => answer));
    expect(byName(await runSmokeChecks({ baseUrl: app.url }), "uploads")?.detail).toMatch(detail);
  });

  it.each([
    [
      "no methods (seed not run)",
      json(200, { section: "communication", methods: [] }),
      /no method recommendations: the seed has not written the method facets/,
    ],
    [
      "methods all scored 0",
      json(200, { section: "communication", methods: [{ slug: "discord", matches: { score: 0, matchedFacets: [] } }] }),
      /no method recommendations/,
    ],
    [
      "no database",
      json(503, { error: { code: "db_unavailable", message: "Database is not configured (DATABASE_URL)." } }),
      /HTTP 503/,
    ],
  ])("fails recommendations on %s", async (_name, answer, detail) => {
    const app = await serve(withOverride("GET /api/create-flow/methods", () => answer));
    const check = byName(await runSmokeChecks({ baseUrl: app.url }), "recommendations");
    expect(check?.ok).toBe(false);
    expect(check?.detail).toMatch(detail);
  });

  it("fails templates with the seed hint when the list is empty", async () => {
    const app = await serve(withOverride("GET /api/templates", () => json(200, { templates: [] })));
    const result = await runSmokeChecks({ baseUrl: app.url });
    expect(result.ok).toBe(false);
    expect(byName(result, "templates")).toEqual({
      name: "templates",
      ok: false,
      detail: "no templates: the seed has not run (node prisma/seed.bundle.cjs)",
    });
    expect(byName(result, "health")?.ok).toBe(true);
    expect(byName(result, "rules")?.ok).toBe(true);
  });

  it("fails templates when no entry has a slug", async () => {
    const app = await serve(
      withOverride("GET /api/templates", () => json(200, { templates: [{ id: 1 }, { id: 2, slug: 7 }] })),
    );
    const check = byName(await runSmokeChecks({ baseUrl: app.url }), "templates");
    expect(check?.ok).toBe(false);
    expect(check?.detail).toMatch(/2 templates but none has a "slug"/);
  });

  it.each([
    ["rules is an object", json(200, { rules: {} }), /"rules" is not a list/],
    ["rules missing", json(200, { items: [] }), /"rules" is not a list/],
    ["body not JSON", { status: 200, body: "<html>" }, /body is not a JSON object/],
    ["HTTP 500", json(500, { error: "boom" }), /HTTP 500: \{"error":"boom"\}/],
  ])("fails rules when %s", async (_name, answer, detail) => {
    const app = await serve(withOverride("GET /api/rules", () => answer));
    const result = await runSmokeChecks({ baseUrl: app.url });
    expect(result.ok).toBe(false);
    expect(byName(result, "rules")?.ok).toBe(false);
    expect(byName(result, "rules")?.detail).toMatch(detail);
  });

  it("fails health on a 503 database error: the query failed although the URL is set", async () => {
    const app = await serve(withOverride("GET /api/health", () => json(503, { ok: false, database: "error" })));
    const check = byName(await runSmokeChecks({ baseUrl: app.url }), "health");
    expect(check?.ok).toBe(false);
    expect(check?.detail).toMatch(/^HTTP 503: database error: the app's database query failed \(its URL is set/);
  });

  it("fails health on not_configured", async () => {
    const app = await serve(withOverride("GET /api/health", () => json(200, { ok: true, database: "not_configured" })));
    const check = byName(await runSmokeChecks({ baseUrl: app.url }), "health");
    expect(check?.ok).toBe(false);
    expect(check?.detail).toMatch(/postgresql addon missing/);
  });

  it("requests a magic link only when an email is given, sending it as JSON", async () => {
    const seen: FakeRequest[] = [];
    const app = await serve(withOverride("none", healthyApp(), seen));
    const result = await runSmokeChecks({ baseUrl: app.url, email: "ops@example.org" });
    expect(result.ok).toBe(true);
    const post = seen.find((r) => r.method === "POST");
    expect(post?.path).toBe("/api/auth/magic-link/request");
    expect(JSON.parse(post?.body ?? "null")).toEqual({ email: "ops@example.org" });
    const check = byName(result, "magic-link");
    expect(check?.ok).toBe(true);
    expect(check?.detail).toMatch(/check the inbox/);
  });

  it.each([
    [json(429, { error: "rate_limited" }), /rate limited/],
    [json(500, { ok: false }), /mail addon or SMTP_FROM/],
    [json(200, { ok: false }), /HTTP 200/],
  ])("fails magic-link on %j", async (answer, detail) => {
    const app = await serve(withOverride("POST /api/auth/magic-link/request", () => answer));
    const result = await runSmokeChecks({ baseUrl: app.url, email: "ops@example.org" });
    expect(result.ok).toBe(false);
    expect(byName(result, "magic-link")?.detail).toMatch(detail);
  });

  it("turns connection refused into FAIL lines instead of throwing", async () => {
    const port = await closedPort();
    const result = await runSmokeChecks({ baseUrl: `http://127.0.0.1:${port}` });
    expect(result.ok).toBe(false);
    expect(result.checks).toHaveLength(5);
    for (const c of result.checks) {
      expect(c.ok).toBe(false);
      expect(c.detail).toMatch(/no HTTP response: connect ECONNREFUSED/);
    }
    // One hint for the five failures, and it is printed in the report.
    const hint =
      `nothing listens at http://127.0.0.1:${port} (ECONNREFUSED):` +
      ` is the app running (Cloudron dashboard), is the port right?`;
    expect(result.hints).toEqual([hint]);
    expect(formatSmokeReport(result, `http://127.0.0.1:${port}`).split("\n").slice(-2)).toEqual([
      `hint: ${hint}`,
      `smoke: 0 passed, 5 failed against http://127.0.0.1:${port}`,
    ]);
  });

  it("names a host that does not resolve and says to check its name", async () => {
    const result = await runSmokeChecks({ baseUrl: "https://my.medlab.invalid", timeoutMs: 2_000 });
    expect(result.hints).toEqual([
      expect.stringMatching(
        new RegExp(
          /^my\.medlab\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\):/.source +
            / check the host name \(e\.g\. staging\.communityrule\.info\)$/.source,
        ),
      ),
    ]);
  });

  it("fails a hanging endpoint after the per-request timeout and still runs the rest", async () => {
    const hang = () => ({ status: 200, body: "", hang: true });
    const app = await serve(withOverride("GET /api/templates", hang));
    const t0 = Date.now();
    const result = await runSmokeChecks({ baseUrl: app.url, timeoutMs: 300 });
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(byName(result, "templates")?.detail).toBe("no HTTP response: no response within 0.3s");
    expect(byName(result, "rules")?.ok).toBe(true);
  });
});

describe("formatSmokeReport", () => {
  it("prints PASS/FAIL lines and a summary", () => {
    const report = formatSmokeReport(
      {
        ok: false,
        checks: [
          { name: "health", ok: true, detail: "200 database connected" },
          { name: "templates", ok: false, detail: "no templates" },
        ],
      },
      "https://staging.communityrule.info",
    );
    expect(report).toBe(
      [
        "PASS health: 200 database connected",
        "FAIL templates: no templates",
        "smoke: 1 passed, 1 failed against https://staging.communityrule.info",
      ].join("\n"),
    );
  });
});

describe("tools/smoke.ts", () => {
  const smoke = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runTool("tools/smoke.ts", args, { env: { EMAIL: "", ...env } });

  it("exits 0 with PASS lines against a healthy app", async () => {
    const app = await serve(healthyApp());
    const run = await smoke([app.url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^PASS health: /m);
    expect(run.stdout).toMatch(/^PASS templates: /m);
    expect(run.stdout).toMatch(/^PASS rules: /m);
    expect(run.stdout).toMatch(/^PASS uploads: /m);
    expect(run.stdout).toMatch(/^PASS recommendations: /m);
    expect(run.stdout).toContain(`smoke: 5 passed, 0 failed against ${app.url}`);
    expect(run.stderr).toContain("magic-link check skipped");
    // After the automated checks: what only a person can check, the magic link's host first.
    const manual = run.stdout.slice(run.stdout.indexOf("manual acceptance"));
    expect(manual.trimEnd().split("\n")).toEqual([
      "manual acceptance (not automated; do these by hand):",
      expect.stringMatching(
        new RegExp(`^  - sign in: .*check that the link's host is ${new URL(app.url).host.replace(/\./g, "\\.")};`),
      ),
      "  - publish a rule: sign in, create a rule, publish it, and open its public page",
      expect.stringMatching(/^ {2}- optional: a draft syncs .* an upload/),
    ]);
  });

  it("exits 1 when uploads are misconfigured", async () => {
    const app = await serve(healthyApp({ uploadRoot: "" }));
    const run = await smoke([app.url]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAIL uploads: GET \/api\/uploads\/smoke-check → 500 server_misconfigured/m);
    expect(run.stdout).toContain("smoke: 4 passed, 1 failed");
  });

  it("exits 1 with a FAIL line when the seed has not run", async () => {
    const app = await serve(withOverride("GET /api/templates", () => json(200, { templates: [] })));
    const run = await smoke([app.url]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("FAIL templates: no templates: the seed has not run (node prisma/seed.bundle.cjs)");
    expect(run.stdout).toContain("smoke: 4 passed, 1 failed");
  });

  it("takes the email from EMAIL like the runbook's script", async () => {
    const seen: FakeRequest[] = [];
    const app = await serve(withOverride("none", healthyApp(), seen));
    const run = await smoke([app.url], { EMAIL: "ops@example.org" });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^PASS magic-link: requested for ops@example.org/m);
    expect(seen.filter((r) => r.method === "POST").map((r) => r.body)).toEqual([
      JSON.stringify({ email: "ops@example.org" }),
    ]);
  });

  it.each([
    [[], /missing <host or URL>/],
    [["ftp://communityrule.info"], /unsupported scheme/],
    [["a.example", "b.example"], /unexpected argument: b\.example/],
    [["a.example", "--verbose"], /unknown option --verbose/],
    [["a.example", "--email"], /--email needs a value/],
    [["a.example", "--email", "not-an-email"], /not an email address/],
  ])("exits 2 on bad usage %j (in-process)", async (args, message) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await smokeCli(args, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) }, { env: {} });
    const run = { code, stdout: out.join("\n"), stderr: err.join("\n") };
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain("usage:");
    expect(run.stdout).toBe("");
  });
});
