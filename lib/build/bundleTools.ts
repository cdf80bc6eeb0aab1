/**
 * Step of `npm run build` after tsc: each tool the command resources start (tools/<name>.ts) becomes
 * a single file, build/tools/<name>.bundle.js, run by build/tools/<name>.js (lib/build/toolEntry.ts,
 * which adds V8's code cache) in place of tsc's output. The command lines do not change
 * (`node build/tools/cloudronApp.js deploy`).
 *
 * Why: a tool is a short-lived process (a `pulumi up` starts several of them, the test suite about
 * 360), and much of its life is loading modules. One file, built from zod's ES modules so that the
 * ~60 message translations zod's CommonJS entry loads for `z.locales` are left out, starts faster
 * than tsc's per-file output: `npm run bench` prints both ("Tool start-up"). tsc has already
 * type-checked these sources; esbuild only joins them (with source maps).
 *
 * Runs compiled, as `node build/lib/build/bundleTools.js`; prints nothing on success.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { buildSync } from "esbuild";
import { findProjectDir } from "../projectDir";

/**
 * What runs the bundle, with V8's code cache: lib/build/toolEntry.ts as tsc compiled it, copied to
 * build/tools/<name>.js for every tool.
 */
export const TOOL_ENTRY = path.join("build", "lib", "build", "toolEntry.js");

/** The tools under `tools/`, as file names (`cloudronApp.ts`, …). */
export function toolSources(projectDir: string): string[] {
  const dir = path.join(projectDir, "tools");
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .sort();
}

export function bundleTools(projectDir: string): void {
  // Caches of the previous bundles would be refused anyway (V8 checks the source); drop them.
  fs.rmSync(path.join(projectDir, "build", "tools", ".code-cache"), { recursive: true, force: true });
  for (const file of toolSources(projectDir)) {
    const name = file.replace(/\.ts$/, "");
    const outfile = path.join(projectDir, "build", "tools", `${name}.bundle.js`);
    buildSync({
      absWorkingDir: projectDir,
      entryPoints: [path.join(projectDir, "tools", file)],
      outfile,
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      // ES module entries first: zod's lets esbuild leave out what the tools never use.
      mainFields: ["module", "main"],
      sourcemap: true,
      logLevel: "warning",
    });
    // Without tsc's source-map comment: the map stays with build/lib/build/toolEntry.js.
    const entry = fs
      .readFileSync(path.join(projectDir, TOOL_ENTRY), "utf8")
      .replace(/\n\/\/# sourceMappingURL=.*\s*$/, "\n");
    fs.writeFileSync(path.join(projectDir, "build", "tools", `${name}.js`), entry);
    // tsc's map belonged to the unbundled tool; the bundle has its own.
    fs.rmSync(path.join(projectDir, "build", "tools", `${name}.js.map`), { force: true });
  }
}

/** Where product code loads zod from (lib/zod.ts), and what tsc compiled it to. */
export const ZOD_SOURCE = path.join("lib", "zod.ts");
export const ZOD_BUILD = path.join("build", "lib", "zod.js");

/**
 * Replaces tsc's build/lib/zod.js (a `require("zod")`) with one file holding zod: the program
 * loads it at every evaluation, and one file loads in a fraction of the time zod's ~230 files
 * take (`npm run bench` prints both: "zod load"). Tree-shaking does not apply: the module re-exports `z` whole.
 */
export function bundleZod(projectDir: string): void {
  if (!fs.existsSync(path.join(projectDir, ZOD_SOURCE))) return;
  buildSync({
    absWorkingDir: projectDir,
    entryPoints: [path.join(projectDir, ZOD_SOURCE)],
    outfile: path.join(projectDir, ZOD_BUILD),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    mainFields: ["module", "main"],
    allowOverwrite: true,
    logLevel: "warning",
  });
  // tsc's map described the one-line module; the bundle is zod's code, not ours.
  fs.rmSync(path.join(projectDir, `${ZOD_BUILD}.map`), { force: true });
}

if (require.main === module) {
  const projectDir = findProjectDir(__dirname);
  bundleTools(projectDir);
  bundleZod(projectDir);
}
