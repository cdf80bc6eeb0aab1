/**
 * The `cloudron` CLI stand-in (engine/standin/cloudron), reduced to `exec`: it reads the login
 * from $HOME/.cloudron.json, reaches the API stand-in over its private endpoint, plays the seed,
 * prints the `__SEED_EXIT__` marker, refuses --token, and logs its argv. Run as a real process.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCloudronApi, type CloudronApi } from "../engine/standin/cloudronApi";

const STANDIN = path.resolve(__dirname, "..", "engine", "standin", "cloudron");
const SEED = ["sh", "-c", 'node prisma/seed.bundle.cjs; echo "__SEED_EXIT__:$?"'];

let api: CloudronApi;
let dir: string;
let home: string;
let log: string;
const token = `tok-${crypto.randomBytes(8).toString("hex")}`;

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(STANDIN, args, {
      env: { PATH: process.env.PATH ?? "", HOME: home, CLOUDRON_STANDIN_LOG: log, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function login(server: string, tok: string) {
  fs.writeFileSync(
    path.join(home, ".cloudron.json"),
    JSON.stringify({ cloudrons: { default: server, [server]: { apiEndpoint: server, token: tok } } }),
  );
}

beforeAll(async () => {
  api = await startCloudronApi({ tokens: [{ token, role: "owner" }] });
  api.addApp({
    fqdn: "staging.communityrule.info",
    manifest: { id: "com.medlab.communityrule", version: "0.1.9", dockerImage: "img" },
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "exec-standin-"));
  home = path.join(dir, "home");
  fs.mkdirSync(home);
  log = path.join(dir, "argv.jsonl");
  login(api.url, token);
});
afterAll(async () => {
  await api.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("cloudron exec stand-in", () => {
  it("plays the seed: its output, then the marker with status 0; the app counts one seed run", async () => {
    const r = await run(["exec", "--app", "staging.communityrule.info", "--", ...SEED]);
    expect(r).toEqual({ code: 0, stdout: "Seeded 12 templates and 40 method facets\n__SEED_EXIT__:0\n", stderr: "" });
    expect(api.app("staging.communityrule.info")!.seedRuns).toBe(1);
    const call = api.calls().at(-1)!;
    expect(call).toMatchObject({
      method: "POST",
      path: "/__standin__/exec",
      operation: "standinExec",
      status: 200,
      authenticated: true,
    });
  });

  it("a failing seed (SEED_SHOULD_FAIL=1 in the app's env): the error, marker 1, but exit 0 like the CLI", async () => {
    api.app("staging.communityrule.info")!.env.SEED_SHOULD_FAIL = "1";
    try {
      const r = await run(["exec", "--app", "staging.communityrule.info", "--", ...SEED]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("Seeding templates...\n__SEED_EXIT__:1\n");
      expect(r.stderr).toBe('PrismaClientKnownRequestError: relation "MethodFacet" does not exist\n');
      expect(api.app("staging.communityrule.info")!.seedRuns).toBe(1);
    } finally {
      delete api.app("staging.communityrule.info")!.env.SEED_SHOULD_FAIL;
    }
  });

  it("refuses --token on argv before doing anything", async () => {
    const before = api.calls().length;
    for (const args of [
      ["exec", "--token", "x", "--app", "a", "--", "ls"],
      ["exec", "--token=x", "--app", "a", "--", "ls"],
    ]) {
      const r = await run(args);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain("--token on the command line is forbidden");
    }
    expect(api.calls().length).toBe(before);
  });

  it("plays nothing but exec", async () => {
    const r = await run(["install", "--location", "x.communityrule.info"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("only `cloudron exec` is played here");
  });

  it("without a login, or with a token the server does not know, fails like the CLI", async () => {
    const other = fs.mkdtempSync(path.join(dir, "nohome-"));
    const r = await run(["exec", "--app", "staging.communityrule.info", "--", ...SEED], { HOME: other });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Not logged in. Use `cloudron login` first\n");
    login(api.url, "not-a-valid-token");
    try {
      const bad = await run(["exec", "--app", "staging.communityrule.info", "--", ...SEED]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toBe(`Login failed: invalid token for ${api.url} (401)\n`);
    } finally {
      login(api.url, token);
    }
  });

  it("an unknown app is a 404 failure", async () => {
    const r = await run(["exec", "--app", "nope.communityrule.info", "--", ...SEED]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("exec failed: No such app: nope.communityrule.info (404)\n");
  });

  it("logs every invocation's argv (what the secret scan reads)", () => {
    const lines = fs
      .readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { argv: string[]; exit: number });
    expect(lines[0].argv).toEqual(["exec", "--app", "staging.communityrule.info", "--", ...SEED]);
    expect(lines.map((l) => l.exit)).toEqual([0, 0, 3, 3, 2, 1, 1, 1]);
  });
});
