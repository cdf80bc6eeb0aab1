/**
 * The tools the command resources start are built as one file each (scripts/bundleTools.ts): what
 * runs is build/tools/<name>.js, as the command lines say, and it loads no other file of ours or of
 * node_modules, zod included, so zod's translations are not loaded.
 */
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { toolSources } from "../scripts/bundleTools";
import { PROJECT } from "./cliProject";

/** Loads a built tool as `node build/tools/<name>.js --help` does and lists every file it loaded. */
function filesLoadedBy(tool: string): { status: number | null; files: string[]; stderr: string } {
  const entry = path.join(PROJECT, "build", "tools", tool);
  const probe = [
    `process.argv = [process.argv[0], ${JSON.stringify(entry)}, "--help"];`,
    `process.on("exit", () => process.stderr.write("LOADED " + JSON.stringify(Object.keys(require.cache)) + "\\n"));`,
    `require("node:module").runMain();`,
  ].join("\n");
  const r = spawnSync(process.execPath, ["-e", probe], { cwd: PROJECT, encoding: "utf8" });
  const line = r.stderr.split("\n").find((l) => l.startsWith("LOADED ")) ?? "LOADED []";
  return { status: r.status, files: JSON.parse(line.slice("LOADED ".length)) as string[], stderr: r.stderr };
}

describe("bundled tools", () => {
  it("finds the four tools the command resources and operators run", () => {
    expect(toolSources(PROJECT)).toEqual(["cloudronApp.ts", "healthGate.ts", "smoke.ts", "verifyPull.ts"]);
  });

  it.each(["cloudronApp.js", "healthGate.js", "smoke.js", "verifyPull.js"])("build/tools/%s answers --help having loaded only itself", (tool) => {
    const r = filesLoadedBy(tool);
    expect(r.status, r.stderr).toBe(0);
    expect(r.files).toEqual([path.join(PROJECT, "build", "tools", tool)]);
  });
});
