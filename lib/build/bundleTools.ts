/**
 * Step of `npm run build` after tsc: each tool the command resources start (tools/<name>.ts) becomes
 * a single file, build/tools/<name>.bundle.js, run by build/tools/<name>.js (lib/build/toolEntry.ts,
 * which adds V8's code cache) in place of tsc's output. The command lines do not change
 * (`node build/tools/cloudronApp.js deploy`).
 *
 * Why: a tool is a short-lived process (a `pulumi up` starts several of them, the test suite about
 * 360), and much of its life is loading modules. One file, holding zod's English messages only
 * (`zodEnglishOnly`), starts faster than tsc's per-file output: `npm run bench` prints both ("Tool
 * start-up"). tsc has already type-checked these sources; esbuild only joins them (with source maps).
 *
 * Runs compiled, as `node build/lib/build/bundleTools.js`; prints nothing on success.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { build, type BuildOptions, type Plugin } from "esbuild";
import { findProjectDir } from "../projectDir";

/**
 * Resolves zod's index of its message translations (`../locales/index.js`, which zod's classic API
 * re-exports whole as `z.locales` and `z.core.locales`) to one holding only `en`: the program and
 * the tools never switch language, and the other ~60 translations are some 360 KB of every bundle
 * that each process parses. `en` is what zod's classic schemas configure by default (they import
 * `../locales/en.js` themselves), so every message stays the same.
 */
export const zodEnglishOnly: Plugin = {
  name: "zod-english-only",
  setup(esbuild) {
    esbuild.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      const localesDir = path.resolve(args.resolveDir, "..", "locales");
      if (!/[\\/]zod[\\/]v4[\\/]locales$/.test(localesDir)) return undefined;
      return { path: path.join(localesDir, "index.js"), namespace: "zod-english-only" };
    });
    esbuild.onLoad({ filter: /.*/, namespace: "zod-english-only" }, (args) => ({
      contents: 'export { default as en } from "./en.js";\n',
      resolveDir: path.dirname(args.path),
      loader: "js",
    }));
  },
};

/**
 * Rewrites a bundle's non-ASCII characters as `\\uXXXX`. esbuild escapes them in code (its default
 * charset is ASCII) but not in the comments it keeps (`—`, `→`, `…` in ours and zod's), and one such
 * character makes V8 hold the whole source as two-byte text: twice the memory, a slower read and
 * compile, at every start. The escape means the same character wherever JavaScript reads one, and in
 * a comment it is only text.
 */
export function asciiOnly(file: string): void {
  const text = fs.readFileSync(file, "utf8");
  const ascii = text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (ascii !== text) fs.writeFileSync(file, ascii);
}

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

/**
 * A tool's `import()` of one of our modules (steps/health/cli.ts loads the failed gate's log report
 * so) becomes a bundle of its own, build/tools/<tool>.<module>.bundle.js, which the tool's bundle
 * `require`s only when that import runs: a run that never takes the path neither compiles nor
 * deserializes its code. What the two bundles share is in each, so only plain values may cross.
 */
function splitDynamicImports(tool: string, split: Map<string, string>): Plugin {
  return {
    name: "split-dynamic-imports",
    setup(esbuild) {
      esbuild.onResolve({ filter: /^\./ }, (args) => {
        if (args.kind !== "dynamic-import") return undefined;
        const bundle = `${tool}.${path.basename(args.path)}.bundle.js`;
        split.set(bundle, `${path.resolve(args.resolveDir, args.path)}.ts`);
        return { path: bundle, namespace: "split-dynamic-imports" };
      });
      // A `require`, which esbuild leaves as it is: the bundle runs as a script (vm.Script, in
      // lib/build/toolEntry.ts), where `import()` has no loader; the entry's `require` finds the file.
      esbuild.onLoad({ filter: /.*/, namespace: "split-dynamic-imports" }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(`./${args.path}`)});`,
        loader: "js",
      }));
      esbuild.onResolve({ filter: /\.bundle\.js$/, namespace: "split-dynamic-imports" }, (args) => ({
        path: args.path,
        external: true,
      }));
    },
  };
}

/** esbuild's options shared by every bundle the build writes. */
const BUNDLE_OPTIONS: BuildOptions = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  // ES module entries first: zod's lets esbuild leave out what the tools never use.
  mainFields: ["module", "main"],
  logLevel: "warning",
};

export async function bundleTools(projectDir: string): Promise<void> {
  // Caches of the previous bundles would be refused anyway (V8 checks the source); drop them.
  fs.rmSync(path.join(projectDir, "build", "tools", ".code-cache"), { recursive: true, force: true });
  for (const file of toolSources(projectDir)) {
    const name = file.replace(/\.ts$/, "");
    const outfile = path.join(projectDir, "build", "tools", `${name}.bundle.js`);
    const split = new Map<string, string>();
    await build({
      ...BUNDLE_OPTIONS,
      absWorkingDir: projectDir,
      entryPoints: [path.join(projectDir, "tools", file)],
      outfile,
      plugins: [zodEnglishOnly, splitDynamicImports(name, split)],
      sourcemap: true,
    });
    asciiOnly(outfile);
    for (const [bundle, source] of split) {
      const splitFile = path.join(projectDir, "build", "tools", bundle);
      await build({
        ...BUNDLE_OPTIONS,
        absWorkingDir: projectDir,
        entryPoints: [source],
        outfile: splitFile,
        plugins: [zodEnglishOnly],
        sourcemap: true,
      });
      asciiOnly(splitFile);
    }
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
 * take (`npm run bench` prints both: "zod load"). Tree-shaking does not apply: the module re-exports all of
 * zod; only its translations other than English are left out (`zodEnglishOnly`).
 */
export async function bundleZod(projectDir: string): Promise<void> {
  if (!fs.existsSync(path.join(projectDir, ZOD_SOURCE))) return;
  await build({
    ...BUNDLE_OPTIONS,
    absWorkingDir: projectDir,
    entryPoints: [path.join(projectDir, ZOD_SOURCE)],
    outfile: path.join(projectDir, ZOD_BUILD),
    plugins: [zodEnglishOnly],
    allowOverwrite: true,
  });
  asciiOnly(path.join(projectDir, ZOD_BUILD));
  // tsc's map described the one-line module; the bundle is zod's code, not ours.
  fs.rmSync(path.join(projectDir, `${ZOD_BUILD}.map`), { force: true });
}

if (require.main === module) {
  const projectDir = findProjectDir(__dirname);
  bundleTools(projectDir)
    .then(() => bundleZod(projectDir))
    .catch((err: unknown) => {
      // esbuild has printed its errors (logLevel "warning"); the build must fail.
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    });
}
