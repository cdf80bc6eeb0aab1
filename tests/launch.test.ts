/**
 * bin/launch.cjs, the one way in for operator commands, in a copy of the project as an operator
 * has it: fresh build/ (runs at once, builds nothing), stale build/ after a source edit or a pull
 * (one line on stderr, builds, runs the new code), no build/ at all (builds), a source that does
 * not compile (says so, does not run the old code). stdout stays the command's own throughout.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyProject, npmRun, runCommand, type ProjectCopy } from "./cliProject";

let p: ProjectCopy;
beforeAll(() => {
  p = copyProject();
});
afterAll(() => p?.remove());

const STALE_LINE = "build/ is older than the TypeScript sources: building first (npm run build)";
const MISSING_LINE = "build/ is missing: building first (npm run build)";
/** The launcher's own lines on stderr (npm may add warnings of its own about the machine's config). */
const launcherLines = (stderr: string) => stderr.split("\n").filter((l) => l.includes("building first") || l.includes("npm run build failed"));
const stampMtime = () => fs.statSync(path.join(p.dir, "build", "source-stamp.json")).mtimeMs;
const planSource = () => path.join(p.dir, "scripts", "plan.ts");

describe("bin/launch.cjs", () => {
  it("with a fresh build/ runs the compiled command at once: no build, no line, only JSON on stdout", async () => {
    const before = stampMtime();
    const r = await npmRun(p, "plan", ["staging", "--json"], { silent: true });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { stack: string }).stack).toBe("staging");
    expect(launcherLines(r.stderr)).toEqual([]);
    expect(stampMtime()).toBe(before);
  });

  it("without build/ (a fresh clone before its first build) builds it, then runs; bin/plan takes the same way in", async () => {
    fs.rmSync(path.join(p.dir, "build"), { recursive: true, force: true });
    const r = await runCommand(path.dirname(p.dir), [path.join(p.dir, "bin", "plan"), "staging", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(launcherLines(r.stderr)).toEqual([MISSING_LINE]);
    expect((JSON.parse(r.stdout) as { stack: string }).stack).toBe("staging");
    expect(fs.existsSync(path.join(p.dir, "build", "scripts", "plan.js"))).toBe(true);
    expect(fs.existsSync(path.join(p.dir, "build", "source-stamp.json"))).toBe(true);
  });

  it("after a source edit says so in one stderr line, builds, and runs the edited code with stdout clean; the next run builds nothing", async () => {
    const original = fs.readFileSync(planSource(), "utf8");
    fs.writeFileSync(planSource(), original.replace('"usage: npm run plan -- <stack>', '"usage (edited in the copy): npm run plan -- <stack>'));
    const r = await npmRun(p, "plan", ["staging", "--json"], { silent: true });
    expect(r.code, r.stderr).toBe(0);
    expect(launcherLines(r.stderr)).toEqual([STALE_LINE]);
    expect((JSON.parse(r.stdout) as { stack: string }).stack).toBe("staging");

    const stamp = stampMtime();
    const again = await npmRun(p, "plan", [], { silent: true });
    expect(again.code).toBe(2);
    expect(again.stdout).toBe("");
    expect(launcherLines(again.stderr)).toEqual([]);
    expect(again.stderr).toContain("usage (edited in the copy): npm run plan -- <stack> [--json]");
    expect(stampMtime()).toBe(stamp);
  });

  it("a source that does not compile: the build's errors on stderr, nothing on stdout, the old build not run", async () => {
    const original = fs.readFileSync(planSource(), "utf8");
    fs.writeFileSync(planSource(), original + "\nconst notANumber: number = \"text\";\nexport { notANumber };\n");
    try {
      const r = await npmRun(p, "plan", ["staging", "--json"], { silent: true });
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("scripts/plan.ts");
      expect(r.stderr).toContain("error TS2322");
      expect(launcherLines(r.stderr)).toEqual([STALE_LINE, "npm run build failed (above), so scripts/plan did not run"]);
    } finally {
      fs.writeFileSync(planSource(), original);
    }
  });

  it("refuses a command outside scripts/ and tools/ with its usage (exit 2)", async () => {
    const r = await runCommand(p.dir, ["node", "bin/launch.cjs", "../outside"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("usage: node bin/launch.cjs <scripts/name | tools/name> [args…]\n");
  });
});
