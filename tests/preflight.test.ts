/** The preflight checklist against a real registry, the cloudron stand-in and a git checkout. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { Lifecycle, PROJECT_DIR } from "../engine/runner";
import * as http from "node:http";
import { checkServerAnswers, formatPreflight, runPreflight, CHECK } from "../commands/preflight/preflight";
import { main as preflightMain } from "../commands/preflight/main";
import { copyProject, runScript, type ProjectCopy } from "./cliProject";
import { FIXTURE_MANIFEST } from "../engine/fixtureManifest";

describe("preflight", () => {
  let lc: Lifecycle;
  const saved = { ...process.env };
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9" });
    // Preflight only reads: the registry (0.1.9 as staging's build pushes it) and the app the server
    // runs at the location. No deploy is under test here, so both are put there directly.
    const digest = await lc.releaseOnStaging("0.1.9");
    lc.api.addApp({
      id: "staging-app-0-1-9",
      fqdn: lc.location,
      manifest: {
        id: "com.medlab.communityrule",
        version: "0.1.9",
        dockerImage: `${String(lc.config.imageRepository)}@${digest}`,
      },
    });
    const git = (...a: string[]) => execFileSync("git", a, { cwd: lc.appDir });
    git("init", "-q");
    git("-c", "user.email=t@example.org", "-c", "user.name=t", "add", ".");
    git("-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "app");
    Object.assign(process.env, lc.extraEnv);
  });
  afterAll(async () => {
    process.env = saved;
    // No run of the program here, so close() would not scan: preflight's own API calls are scanned.
    if (lc) expect(lc.scanSecrets().hits).toEqual([]);
    await lc?.close();
  });
  const stackText = () => fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.staging.yaml"), "utf8");
  const run = (overrides: Record<string, string>) =>
    runPreflight({
      stack: "staging",
      projectDir: PROJECT_DIR,
      stackText: stackText(),
      token: lc.token,
      overrides: {
        appDir: lc.appDir,
        cloudronServer: lc.api.url,
        imageRepository: `${lc.registryHost}/communityrule/community-rule`,
        build: "false",
        ...overrides,
      },
      // The cloudron stand-in plays my.medlab.host, which has no DNS here: this one check is stubbed
      // (the real one is tested below against a loopback server and through the CLI).
      serverCheck: async (server) => ({ ok: true, detail: `${server} (stand-in)` }),
    });

  it("passes every automated check for a rollback-ready existing tag", async () => {
    const results = await run({ imageTag: "0.1.9" });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.map((r) => `${r.skipped ? "SKIP" : r.warning ? "WARN" : "PASS"} ${r.name}`)).toEqual([
      "PASS config valid, required secrets set",
      // The committed staging file has no organizer inbox yet: a warning, not a failure.
      "WARN app env as the app reads it",
      "PASS cloudronServer resolves and answers",
      "SKIP app checkout is a clean git tree",
      "PASS CloudronManifest.json valid",
      "PASS image tag pullable anonymously (linux/amd64)",
      "PASS Cloudron reachable and authenticated",
      "PASS API token may write (Read and Write scope)",
      "PASS Cloudron version meets the manifest's minBoxVersion",
      "PASS manifest version not below the deployed one",
    ]);
    expect(results.find((r) => r.name === CHECK.serverVersion)?.detail).toBe("Cloudron 9.0.2, manifest needs 9.0.0");
    expect(results.find((r) => r.name === CHECK.version)?.detail).toBe("deployed 0.1.9, manifest 0.1.9");
    expect(results.find((r) => r.name === CHECK.checkout)?.detail).toBe(
      "not needed: build is false, nothing is built from the checkout",
    );
    expect(formatPreflight(results, "staging")).toMatch(/REMINDER migration SQL/);
    expect(formatPreflight(results, "staging")).not.toContain("production:");
  });

  it(
    "fails on a dirty checkout (build: true), a missing tag" +
      " (build: false) and a wrong login, each on its own line",
    async () => {
      fs.writeFileSync(path.join(lc.appDir, "stray.txt"), "uncommitted");
      const building = await run({ build: "true", registryUsername: "deployer", registryPassword: "[set]" });
      expect(building.find((r) => r.name === CHECK.checkout)).toMatchObject({
        ok: false,
        detail: expect.stringContaining("stray.txt"),
      });
      const results = await run({ imageTag: "0.2.0" });
      const failed = Object.fromEntries(results.filter((r) => !r.ok).map((r) => [r.name, r.detail]));
      expect(failed[CHECK.pull]).toMatch(/0\.2\.0/);
      fs.rmSync(path.join(lc.appDir, "stray.txt"));
      const noAuth = await runPreflight({
        stack: "staging",
        projectDir: PROJECT_DIR,
        stackText: stackText(),
        token: "wrong-token-000000",
        serverCheck: async () => ({ ok: true, detail: "stand-in" }),
        overrides: {
          appDir: lc.appDir,
          cloudronServer: lc.api.url,
          build: "false",
          imageTag: "0.1.9",
          imageRepository: `${lc.registryHost}/communityrule/community-rule`,
        },
      });
      expect(noAuth.find((r) => r.name === CHECK.cloudron)).toMatchObject({ ok: false });
    },
  );

  it("refuses a server below the manifest's minBoxVersion (9.0.0) and reports a read-only token", async () => {
    lc.api.state.version = "8.3.1";
    lc.api.state.tokens.push({ token: "ro-preflight-token-1", role: "admin", readonly: true });
    try {
      const results = await runPreflight({
        stack: "staging",
        projectDir: PROJECT_DIR,
        stackText: stackText(),
        token: "ro-preflight-token-1",
        serverCheck: async () => ({ ok: true, detail: "stand-in" }),
        overrides: {
          appDir: lc.appDir,
          cloudronServer: lc.api.url,
          build: "false",
          imageTag: "0.1.9",
          imageRepository: `${lc.registryHost}/communityrule/community-rule`,
        },
      });
      const failed = Object.fromEntries(results.filter((r) => !r.ok).map((r) => [r.name, r.detail]));
      expect(failed).toEqual({
        [CHECK.token]:
          'the token "deploy (read only)" is read-only: create a' +
          ' "Read and Write" token (dashboard → Profile → API Tokens)',
        [CHECK.serverVersion]:
          `preflight: ${lc.api.url} runs Cloudron 8.3.1, below the 9.0.0 the app's CloudronManifest.json` +
          ` needs (minBoxVersion); update Cloudron first (dashboard → Settings → Updates), nothing was changed`,
      });
    } finally {
      lc.api.state.version = "9.0.2";
      lc.api.state.tokens = lc.api.state.tokens.filter((t) => t.token !== "ro-preflight-token-1");
    }
  });

  it("an invalid config does not stop the checks that do not depend on the broken key", async () => {
    const results = await run({ healthTimeoutSeconds: "0", imageTag: "0.2.0" });
    const line = (name: string) => results.find((r) => r.name === name);
    expect(line(CHECK.config)).toMatchObject({
      ok: false,
      detail: expect.stringContaining("communityrule:healthTimeoutSeconds"),
    });
    // Not about healthTimeoutSeconds: still run, and still report their own problems.
    expect(line(CHECK.pull)).toMatchObject({ ok: false, detail: expect.stringMatching(/0\.2\.0/) });
    expect(line(CHECK.manifest)).toMatchObject({ ok: true });
    expect(line(CHECK.cloudron)).toMatchObject({ ok: true });
  });
});

describe("checkServerAnswers (real DNS and HTTP)", () => {
  it("a loopback server that answers passes; a closed port and an unknown name fail, each saying which", async () => {
    const server = http.createServer((_, res) => res.writeHead(200).end("{}"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      expect(await checkServerAnswers(`http://127.0.0.1:${port}`)).toEqual({
        ok: true,
        detail: "127.0.0.1; answers HTTP 200",
      });
    } finally {
      await new Promise((r) => server.close(r));
    }
    const closed = await checkServerAnswers(`http://127.0.0.1:${port}`, 2000);
    expect(closed).toMatchObject({
      ok: false,
      detail: expect.stringContaining(`http://127.0.0.1:${port}/api/v1/cloudron/status does not answer (ECONNREFUSED`),
    });
    expect(await checkServerAnswers("my.medlab.hots")).toEqual({
      ok: false,
      detail:
        "my.medlab.hots does not resolve (no such host): check the spelling" +
        " of communityrule:cloudronServer, and that this machine is online",
    });
  });
});

describe("npm run preflight (child process, edited stack files)", () => {
  let p: ProjectCopy;
  beforeAll(() => {
    p = copyProject();
  });
  afterAll(() => p?.remove());

  it(
    "reports every failure in one run: config problems, an unresolvable" +
      " server, a missing checkout; no production reminder on staging",
    async () => {
      p.writeStack(
        "staging",
        p
          .stackText("staging")
          .replace("communityrule:cloudronServer: my.medlab.host", "communityrule:cloudronServer: my.medlab.hots") +
          "  communityrule:healthTimeoutSeconds: abc\n",
      );
      const r = await runScript(p, "preflight", ["staging"]);
      expect(r.code).toBe(1);
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^FAIL config valid, required secrets set: \d problem\(s\)$/);
      expect(lines).toContain('  - communityrule:healthTimeoutSeconds: must be a whole number of seconds, got "abc"');
      expect(lines).toContain(
        "FAIL cloudronServer resolves and answers: my.medlab.hots does not resolve (no such host):" +
          " check the spelling of communityrule:cloudronServer, and that this machine is online",
      );
      expect(lines).toContain(`SKIP ${CHECK.cloudron}: needs ${CHECK.server} (failed above)`);
      expect(lines.filter((l) => l.startsWith("REMINDER "))).toEqual([
        "REMINDER code review completed and approved (a person decides)",
        "REMINDER migration SQL in prisma/migrations reviewed; no destructive change without a restore plan",
      ]);
      expect(lines.at(-1)).toMatch(/^preflight: \d+ passed, \d+ failed, \d+ skipped$/);
    },
  );

  it("build: false needs no git checkout and no Dockerfile, only the manifest the program sends", async () => {
    const app = path.join(p.dir, "..", "manifest-only");
    fs.mkdirSync(app, { recursive: true });
    fs.copyFileSync(FIXTURE_MANIFEST, path.join(app, "CloudronManifest.json"));
    p.writeStack(
      "staging",
      fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.staging.yaml"), "utf8") +
        `  communityrule:build: false\n  communityrule:imageTag: 0.1.9\n  communityrule:appDir: ${app}\n`,
    );
    const r = await runScript(p, "preflight", ["staging"]);
    const lines = r.stdout.split("\n");
    expect(lines).toContain(`SKIP ${CHECK.checkout}: not needed: build is false, nothing is built from the checkout`);
    expect(lines).toContain(`PASS ${CHECK.manifest}: version 0.1.9`);
    expect(lines.find((l) => l.startsWith(`PASS ${CHECK.config}`))).toBeDefined();
    expect(r.stdout).not.toContain("Dockerfile");
  });

  it("production gets the production reminder", async () => {
    const r = await runScript(p, "preflight", ["production"]);
    expect(r.stdout).toContain("REMINDER production: Cloudron backups are on and recent (dashboard → Backups)");
  });
});

describe("npm run preflight (script)", () => {
  it(
    "usage errors exit 2, an unknown stack exits 1, and a" + " missing app checkout is a FAIL line with reminders",
    async () => {
      const out: string[] = [];
      expect(await preflightMain([], (s) => out.push(s))).toBe(2);
      expect(await preflightMain(["staging", "--bogus"], (s) => out.push(s))).toBe(2);
      expect(await preflightMain(["staging", "--app-dir"], (s) => out.push(s))).toBe(2);
      expect(await preflightMain(["nope"], (s) => out.push(s))).toBe(1);
      expect(out.join("\n")).toContain("FAIL stack file: ");
      expect(out.join("\n")).toContain("Pulumi.nope.yaml");
      const lines: string[] = [];
      const missing = path.join(PROJECT_DIR, "no-such-app-checkout");
      expect(await preflightMain(["production", "--app-dir", missing], (s) => lines.push(...s.split("\n")))).toBe(1);
      expect(lines[0]).toMatch(/^FAIL config valid, required secrets set: \d problem\(s\)$/);
      expect(lines.some((l) => /^ {2}- communityrule:appDir: no CloudronManifest\.json/.test(l))).toBe(true);
      // Production never builds, so it needs no push credentials.
      expect(lines.some((l) => l.startsWith("  - communityrule:registryUsername: "))).toBe(false);
      expect(lines.filter((l) => l.startsWith("REMINDER "))).toHaveLength(3);
      expect(lines.at(-1)).toMatch(/^preflight: \d+ passed, [1-9]\d* failed, \d+ skipped$/);
    },
  );
});
