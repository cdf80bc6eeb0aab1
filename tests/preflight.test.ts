/** The preflight checklist against a real registry, the cloudron stand-in and a git checkout. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { Lifecycle, PROJECT_DIR } from "../lifecycle/runner";
import { formatPreflight, runPreflight } from "../lib/preflight";
import { main as preflightMain } from "../scripts/preflight";

describe("preflight", () => {
  let lc: Lifecycle;
  const saved = { ...process.env };
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9" });
    expect((await lc.up()).errors).toEqual([]);
    const git = (...a: string[]) => execFileSync("git", a, { cwd: lc.appDir });
    git("init", "-q");
    git("-c", "user.email=t@example.org", "-c", "user.name=t", "add", ".");
    git("-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "app");
    Object.assign(process.env, lc.extraEnv);
  });
  afterAll(async () => {
    process.env = saved;
    await lc?.close();
  });
  const stackText = () => fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.staging.yaml"), "utf8");
  const run = (overrides: Record<string, string>) =>
    runPreflight({
      stack: "staging",
      projectDir: PROJECT_DIR,
      stackText: stackText(),
      token: lc.token,
      overrides: { appDir: lc.appDir, cloudronServer: lc.api.url, imageRepository: `${lc.registryHost}/communityrule/community-rule`, build: "false", ...overrides },
    });

  it("passes every automated check for a rollback-ready existing tag", async () => {
    const results = await run({ imageTag: "0.1.9" });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.map((r) => r.name)).toEqual([
      "config valid, required secrets set",
      "app checkout is a clean git tree",
      "CloudronManifest.json valid",
      "image tag pullable anonymously (linux/amd64)",
      "Cloudron reachable and authenticated",
      "manifest version not below the deployed one",
    ]);
    expect(formatPreflight(results)).toMatch(/REMINDER migration SQL/);
  });

  it("fails on a dirty checkout, a missing tag and a wrong login, each on its own line", async () => {
    fs.writeFileSync(path.join(lc.appDir, "stray.txt"), "uncommitted");
    const results = await run({ imageTag: "0.2.0" });
    const failed = Object.fromEntries(results.filter((r) => !r.ok).map((r) => [r.name, r.detail]));
    expect(failed["app checkout is a clean git tree"]).toContain("stray.txt");
    expect(failed["image tag pullable anonymously (linux/amd64)"]).toMatch(/0\.2\.0/);
    fs.rmSync(path.join(lc.appDir, "stray.txt"));
    const noAuth = await runPreflight({ stack: "staging", projectDir: PROJECT_DIR, stackText: stackText(), token: "wrong-token-000000", overrides: { appDir: lc.appDir, cloudronServer: lc.api.url, build: "false", imageTag: "0.1.9", imageRepository: `${lc.registryHost}/communityrule/community-rule` } });
    expect(noAuth.find((r) => r.name === "Cloudron reachable and authenticated")).toMatchObject({ ok: false });
  });

  it("stops at the config line when the config is invalid", async () => {
    const results = await run({ healthTimeoutSeconds: "0" });
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ ok: false });
    expect(results[0].detail).toContain("communityrule:healthTimeoutSeconds");
  });
});

describe("npm run preflight (script)", () => {
  it("usage errors exit 2, an unknown stack exits 1, and a missing app checkout is a FAIL line with reminders", async () => {
    const out: string[] = [];
    expect(await preflightMain([], (s) => out.push(s))).toBe(2);
    expect(await preflightMain(["staging", "--bogus"], (s) => out.push(s))).toBe(2);
    expect(await preflightMain(["staging", "--app-dir"], (s) => out.push(s))).toBe(2);
    expect(await preflightMain(["nope"], (s) => out.push(s))).toBe(1);
    expect(out.join("\n")).toContain("FAIL stack file: no Pulumi.nope.yaml");
    const lines: string[] = [];
    const missing = path.join(PROJECT_DIR, "no-such-app-checkout");
    expect(await preflightMain(["production", "--app-dir", missing], (s) => lines.push(...s.split("\n")))).toBe(1);
    expect(lines[0]).toMatch(/^FAIL config valid, required secrets set: .*communityrule:appDir: no CloudronManifest\.json/);
    expect(lines[0]).toContain("communityrule:registryUsername");
    expect(lines.filter((l) => l.startsWith("REMINDER "))).toHaveLength(3);
    expect(lines.at(-1)).toBe("preflight: 0 passed, 1 failed");
  });
});
