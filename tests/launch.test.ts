/**
 * bin/launch.cjs, the one way in for operator commands. Two places:
 *
 * - a copy of the whole project as an operator has it, with its fresh build/: the real commands
 *   (`npm run plan`, `bin/plan`) run at once, build nothing and print only JSON;
 * - a small project made of the real launch machinery (bin/launch.cjs, bin/plan, the package.json
 *   build script, lib/build/sourceStamp.ts and toolEntry.ts, lib/build/bundleTools.ts and
 *   stampBuild.ts, lib/projectDir.ts, both tsconfigs, unchanged) around a tiny `commands/plan/main.ts`,
 *   with a source under every root the stamp hashes: no build/ at all (builds, then runs), a source
 *   edit (one line on stderr, builds, runs the new code), a source that does not compile (says so,
 *   does not run the old code). The
 *   same tsc, bundler and stamp as the project's, without compiling the whole project from scratch.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILD_CONFIGS, BUILD_SOURCES, listBuildSources, staleBuildReason } from "../lib/build/sourceStamp";
import { copyProject, npmRun, PROJECT, runCommand, runScript, type CliResult, type ProjectCopy } from "./cliProject";

const STALE_LINE = "build/ is older than the TypeScript sources: building first (npm run build)";
const MISSING_LINE = "build/ is missing: building first (npm run build)";
/** The launcher's own lines on stderr (npm may add warnings of its own about the machine's config). */
const launcherLines = (stderr: string) =>
  stderr.split("\n").filter((l) => l.includes("building first") || l.includes("npm run build failed"));
const stampMtime = (dir: string) => fs.statSync(path.join(dir, "build", "source-stamp.json")).mtimeMs;

describe("bin/launch.cjs in a copy of the whole project", () => {
  let p: ProjectCopy;
  beforeAll(() => {
    p = copyProject();
  });
  afterAll(() => p?.remove());

  it("with a fresh build/ runs the compiled command at once: no build, no line, only JSON on stdout", async () => {
    const before = stampMtime(p.dir);
    const r = await npmRun(p, "plan", ["staging", "--json"], { silent: true });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { stack: string }).stack).toBe("staging");
    expect(launcherLines(r.stderr)).toEqual([]);
    expect(stampMtime(p.dir)).toBe(before);
  });

  it("bin/plan, run from another directory, does the same", async () => {
    const before = stampMtime(p.dir);
    const r = await runCommand(path.dirname(p.dir), [path.join(p.dir, "bin", "plan"), "staging", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { stack: string }).stack).toBe("staging");
    expect(launcherLines(r.stderr)).toEqual([]);
    expect(stampMtime(p.dir)).toBe(before);
  });
});

/** The tiny command's usage line lives in lib/ (a dependency of the command, not the command itself). */
const USAGE_SOURCE = "lib/launchUsage.ts";
const PLAN_SOURCE = "commands/plan/main.ts";
const TINY_PLAN = [
  'import { USAGE } from "../../lib/launchUsage";',
  "const [stack, ...rest] = process.argv.slice(2);",
  "if (!stack) {",
  '  process.stderr.write(USAGE + "\\n");',
  "  process.exit(2);",
  "}",
  'process.stdout.write(JSON.stringify({ stack, json: rest.includes("--json") }) + "\\n");',
  "",
].join("\n");

/**
 * A small project launched and built by the project's own machinery, copied or read from it, never
 * retyped. Every root in BUILD_SOURCES gets a source (the stamp's walker skips a missing root, so
 * without one it would not be exercised), and the project has no build/ yet.
 */
function smallProject(): {
  root: string;
  dir: string;
  write(rel: string, text: string): void;
  read(rel: string): string;
  remove(): void;
} {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cr-launch-"));
  const dir = path.join(root, "deploy");
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  const copy = (rel: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.copyFileSync(path.join(PROJECT, rel), path.join(dir, rel));
    fs.chmodSync(path.join(dir, rel), fs.statSync(path.join(PROJECT, rel)).mode);
  };
  for (const rel of [
    "bin/launch.cjs",
    "bin/plan",
    "lib/build/sourceStamp.ts",
    "lib/build/toolEntry.ts",
    "lib/build/bundleTools.ts",
    "lib/build/stampBuild.ts",
    "lib/projectDir.ts",
    "Pulumi.yaml",
    ...BUILD_CONFIGS,
  ])
    copy(rel);
  const scripts = (
    JSON.parse(fs.readFileSync(path.join(PROJECT, "package.json"), "utf8")) as { scripts: Record<string, string> }
  ).scripts;
  write(
    "package.json",
    JSON.stringify(
      { name: "launch-small", private: true, scripts: { build: scripts.build, plan: scripts.plan } },
      null,
      2,
    ) + "\n",
  );
  fs.symlinkSync(path.join(PROJECT, "node_modules"), path.join(dir, "node_modules"));
  write(USAGE_SOURCE, 'export const USAGE = "usage: npm run plan -- <stack> [--json]";\n');
  write(PLAN_SOURCE, TINY_PLAN);
  for (const source of BUILD_SOURCES) {
    const rel = source.endsWith(".ts") ? source : `${source}/launchRoot.ts`;
    if (!fs.existsSync(path.join(dir, source))) write(rel, `export const root = ${JSON.stringify(source)};\n`);
  }
  return {
    root,
    dir,
    write,
    read: (rel) => fs.readFileSync(path.join(dir, rel), "utf8"),
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

describe("bin/launch.cjs in a small project built by the real build", () => {
  let s: ReturnType<typeof smallProject>;
  beforeAll(() => {
    s = smallProject();
  });
  afterAll(() => s?.remove());
  // The package.json script line, as npm runs it; the failed build also goes through npm itself, whose exit
  // code is the launcher's.
  const plan = (args: string[]): Promise<CliResult> => runScript(s, "plan", args);
  const npmPlan = (args: string[]): Promise<CliResult> =>
    runCommand(s.dir, ["npm", "run", "-s", "plan", "--", ...args]);

  it("has a source under every root the stamp hashes, and no build/", () => {
    const roots = new Set(
      listBuildSources(s.dir).map((rel) => BUILD_SOURCES.find((root) => rel === root || rel.startsWith(`${root}/`))),
    );
    expect([...roots].sort()).toEqual([...BUILD_SOURCES].sort());
    expect(fs.existsSync(path.join(s.dir, "build"))).toBe(false);
  });

  it(
    "without build/ (a fresh clone before its first build)" + " builds it, then runs; bin/plan takes the same way in",
    async () => {
      const r = await runCommand(s.root, [path.join(s.dir, "bin", "plan"), "staging", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      expect(launcherLines(r.stderr)).toEqual([MISSING_LINE]);
      expect(r.stdout).toBe('{"stack":"staging","json":true}\n');
      expect(fs.existsSync(path.join(s.dir, "build", "commands", "plan", "main.js"))).toBe(true);
      expect(staleBuildReason(s.dir)).toBeUndefined();
    },
  );

  it(
    "after a source edit says so in one stderr line, builds, and runs" +
      " the edited code with stdout clean; the next run builds nothing",
    async () => {
      s.write(
        USAGE_SOURCE,
        s.read(USAGE_SOURCE).replace('"usage: npm run plan', '"usage (edited in the copy): npm run plan'),
      );
      const r = await plan(["staging", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      expect(launcherLines(r.stderr)).toEqual([STALE_LINE]);
      expect(r.stdout).toBe('{"stack":"staging","json":true}\n');

      const stamp = stampMtime(s.dir);
      const again = await plan([]);
      expect(again.code).toBe(2);
      expect(again.stdout).toBe("");
      expect(launcherLines(again.stderr)).toEqual([]);
      expect(again.stderr).toContain("usage (edited in the copy): npm run plan -- <stack> [--json]\n");
      expect(stampMtime(s.dir)).toBe(stamp);

      // With build/ fresh, a command that was never compiled is named, not built for.
      const missing = await runCommand(s.dir, ["node", "bin/launch.cjs", "commands/nothingHere"]);
      expect(missing.code).toBe(2);
      expect(missing.stdout).toBe("");
      expect(missing.stderr).toBe(
        "no such command: commands/nothingHere (nothing compiled to build/commands/nothingHere.js)\n",
      );
    },
  );

  it(
    "a source that does not compile: the build's errors on stderr, nothing" +
      " on stdout, the old build not run, and nothing of it left in build/",
    async () => {
      const original = s.read(PLAN_SOURCE);
      s.write(
        PLAN_SOURCE,
        'process.stdout.write("BROKEN\\n");\n' +
          original +
          '\nconst notANumber: number = "text";\nexport { notANumber };\n',
      );
      try {
        const r = await npmPlan(["staging", "--json"]);
        // tsc's own code (1: errors, nothing emitted), passed on by npm and the launcher.
        expect(r.code).toBe(1);
        expect(r.stdout).toBe("");
        expect(r.stderr).toContain("commands/plan/main.ts");
        expect(r.stderr).toContain("error TS2322");
        expect(launcherLines(r.stderr)).toEqual([
          STALE_LINE,
          "npm run build failed (above), so commands/plan/main did not run",
        ]);
      } finally {
        s.write(PLAN_SOURCE, original);
      }
      // The edit reverted, the sources match the last good build's stamp again: what runs must be that
      // build, not code the failed build emitted (tsconfig.build.json: noEmitOnError).
      const reverted = await plan(["staging", "--json"]);
      expect(reverted.code, reverted.stderr).toBe(0);
      expect(launcherLines(reverted.stderr)).toEqual([]);
      expect(reverted.stdout).toBe('{"stack":"staging","json":true}\n');
    },
  );

  it("refuses a command outside commands/ and tools/ with its usage (exit 2)", async () => {
    const outside = await runCommand(s.dir, ["node", "bin/launch.cjs", "../outside"]);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toBe("usage: node bin/launch.cjs <commands/name/main | tools/name> [args…]\n");
  });
});
