/**
 * Entry of every bundled tool: `npm run build` (lib/build/bundleTools.ts) copies this file, compiled,
 * to build/tools/<name>.js, next to the bundle build/tools/<name>.bundle.js, so the command lines stay
 * `node build/tools/<name>.js …`.
 *
 * It runs the bundle with V8's code cache, as Node 22's module.enableCompileCache() would (Node 20
 * has no such switch): a tool is a short-lived process, and compiling its bundle again on every run
 * is a good part of its start (`npm run bench` prints the run with and without the cache).
 * The cache holds compiled code only, no run-time values: secrets arrive later, via the environment
 * and stdin. It holds the functions one run compiled, so what it saves depends on that run: each of
 * cloudronApp's operations (a first argument that is a plain word: `deploy`, `env-apply`, …) has a
 * cache of its own, and only a run that succeeded writes one (a failed run stops early, and its
 * cache would leave the rest of the operation to compile at every later start). It is written once,
 * at the end of the first such run on this Node (and again if V8 refuses it: another V8, other
 * flags, a changed bundle), to a temporary file renamed into place, so concurrent runs never read
 * half a file. Anything that goes wrong with it only means no cache.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as vm from "node:vm";
import Module from "node:module";

const bundle = path.join(__dirname, `${path.basename(__filename, ".js")}.bundle.js`);
const cacheDir = path.join(__dirname, ".code-cache");
const operation = /^[a-z]+(-[a-z]+)*$/.test(process.argv[2] ?? "") ? `-${process.argv[2]}` : "";
const cacheFile = path.join(
  cacheDir,
  `${path.basename(__filename, ".js")}${operation}-${process.version}-${process.arch}.bin`,
);

let cachedData: Buffer | undefined;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new vm.Script(Module.wrap(fs.readFileSync(bundle, "utf8")), { filename: bundle, cachedData });
if (cachedData === undefined || script.cachedDataRejected) {
  // At exit, so the cache also holds the functions this run compiled on the way.
  process.once("exit", (code) => {
    if (code !== 0) return;
    const partial = `${cacheFile}.${process.pid}`;
    try {
      fs.mkdirSync(cacheDir, { recursive: true });
      fs.writeFileSync(partial, script.createCachedData());
      fs.renameSync(partial, cacheFile);
    } catch {
      fs.rmSync(partial, { force: true });
    }
  });
}
// The bundle runs as this module: `require.main === module` holds in it, as it did unbundled.
script.runInThisContext()(exports, require, module, bundle, __dirname);
