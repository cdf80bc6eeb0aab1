/**
 * Start-up of a short-lived tool process, the cost the build's tool bundles and code cache are
 * there to cut, for the two tools a deploy starts: one health-gate run (`build/tools/healthGate.js
 * <url>`) against a healthy loopback app, and the start of `build/tools/cloudronApp.js` (its
 * `--help`: the whole bundle loads, zod and every operation's contract, then it exits; the command
 * resources start it some 220 times a suite), each measured three ways side by side (interleaved,
 * so machine noise hits all alike):
 * - as `npm run build` ships it: the bundle, run with V8's code cache (lib/build/toolEntry.ts);
 * - the bundle alone, compiled afresh on every run;
 * - unbundled: the tool's own module requiring tsc's per-file output under build/.
 * Also the first HTTP request of a fresh process through `node:http` (what lib/http.ts uses) and
 * through `fetch`, whose first call loads undici; and the first parse of three of the Cloudron
 * client's and the requests' schemas in a fresh process, with zod's default (each object schema
 * compiles a parser of its own) and with ONE_SHOT_PARSE (lib/zod.ts), which the tools use.
 *
 * A figure is the child's CPU time (user + system, from /proc/self/stat's children fields, so
 * waiting on a busy machine is not counted) or, where /proc is missing, its wall time.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import * as ts from "typescript";

/** CPU ms of this process's reaped children (Linux counts in ticks of 10 ms), or undefined off Linux. */
function childrenCpuMs(): number | undefined {
  try {
    // Fields after the command name's closing parenthesis; cutime and cstime are fields 16 and 17.
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[13]) + Number(fields[14]);
    return (ticks * 1000) / 100;
  } catch {
    return undefined;
  }
}

/** Runs one child to completion; its CPU ms (or wall ms when CPU cannot be read). */
function runChild(args: string[], cwd: string): number {
  const cpu0 = childrenCpuMs();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd, encoding: "utf8" });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu1 = childrenCpuMs();
  if (r.status !== 0) throw new Error(`bench: ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
  return cpu0 === undefined || cpu1 === undefined ? wall : cpu1 - cpu0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Linux counts a child's CPU in ticks of 10 ms, so one run's figure is a multiple of 10 and a median
 * of a few runs cannot show a difference of a few ms (what a code cache saves on a 150 ms start). The
 * mean of N runs resolves 10/N ms; a CPU figure, unlike wall time, has no waits to skew it.
 */
function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** A loopback app whose health endpoint is healthy, served from a child process (this one blocks on spawnSync). */
function healthyApp(root: string): { url: string; stop(): void; ready: Promise<void> } {
  const script = [
    'const http = require("node:http");',
    "const s = http.createServer((q, r) => {",
    '  r.setHeader("content-type", "application/json");',
    '  r.end(JSON.stringify({ ok: true, database: "connected" }));',
    "});",
    's.listen(0, "127.0.0.1", () => process.stdout.write(String(s.address().port) + "\\n"));',
  ].join("\n");
  const child = spawn(process.execPath, ["-e", script], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const app = { url: "", stop: () => child.kill(), ready: Promise.resolve() };
  app.ready = new Promise<void>((resolve) =>
    child.stdout.once("data", (d: Buffer) => {
      app.url = `http://127.0.0.1:${d.toString().trim()}`;
      resolve();
    }),
  );
  return app;
}

export interface StartupFigures {
  runs: number;
  unit: "cpu ms" | "wall ms";
  /** How the start-up and first-request figures sum up their runs: the mean of CPU, the median of wall time. */
  statistic: "mean" | "median";
  bundleWithCodeCache: number;
  bundleWithoutCodeCache: number;
  unbundled: number;
  /** The same three for cloudronApp's start (`--help`). */
  cloudronApp: { bundleWithCodeCache: number; bundleWithoutCodeCache: number; unbundled: number };
  firstRequestNodeHttp: number;
  firstRequestFetch: number;
  /** CPU ms of the first parse of an app, a task and an env request: zod's default, and ONE_SHOT_PARSE. */
  firstParseCompiled: number;
  firstParseOneShot: number;
  /** Wall ms of loading zod after the SDK: build/lib/zod.js (the build's one-file bundle) vs the package. */
  zodBundled: number;
  zodPackage: number;
}

export async function toolStartup(root: string, runs: number): Promise<StartupFigures> {
  const tools = path.join(root, "build", "tools");
  // The unbundled tool: its own module as tsc compiles it, placed where its relative imports
  // resolve to tsc's output (build/lib, build/steps, …).
  const unbundledTool = (name: string): string => {
    const file = path.join(tools, `.bench-${name}.unbundled.js`);
    const source = fs.readFileSync(path.join(root, "tools", `${name}.ts`), "utf8");
    const compiled = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    fs.writeFileSync(file, compiled.outputText);
    return file;
  };
  const unbundled = unbundledTool("healthGate");
  const unbundledApp = unbundledTool("cloudronApp");
  const probe = path.join(os.tmpdir(), `bench-first-request-${process.pid}.js`);
  fs.writeFileSync(
    probe,
    [
      "const [how, url] = process.argv.slice(2);",
      'if (how === "fetch") fetch(url).then((r) => r.text());',
      'else require("node:http").get(url, { agent: false }, (r) => r.resume());',
    ].join("\n"),
  );
  // Prints the CPU ms of the parses alone (zod and the schemas are loaded before it starts counting).
  const parseProbe = path.join(os.tmpdir(), `bench-first-parse-${process.pid}.js`);
  fs.writeFileSync(
    parseProbe,
    [
      "const [build, how] = process.argv.slice(2);",
      'const { ONE_SHOT_PARSE } = require(build + "/lib/zod.js");',
      'const wire = require(build + "/cloudron/wire.js");',
      'const requests = require(build + "/cloudron/requests.js");',
      'const options = how === "one-shot" ? ONE_SHOT_PARSE : undefined;',
      'const manifest = { id: "info.communityrule.app", version: "0.1.9", dockerImage: "registry/cr:0.1.9" };',
      'const app = { id: "a1", installationState: "installed", runState: "running", health: "healthy",',
      '  error: null, taskId: null, subdomain: "staging", domain: "communityrule.info",',
      '  fqdn: "staging.communityrule.info", manifest, env: { NODE_ENV: "production" }, tags: [], notes: "" };',
      'const task = { id: "7", active: false, success: true, percent: 100, message: "done", error: null };',
      'const connection = { server: "https://my.example.org", taskTimeoutSeconds: 900, busyWaitSeconds: 600 };',
      'const request = { connection, location: app.fqdn, appId: "a1", env: { plain: { A: "1" }, secret: {} },',
      '  rotation: { sessionSecret: "unchanged", warning: "" } };',
      "const t0 = process.cpuUsage();",
      "wire.appSchema.parse(app, options);",
      "wire.taskSchema.parse(task, options);",
      "requests.envApplyRequestSchema.parse(request, options);",
      "const used = process.cpuUsage(t0);",
      "process.stdout.write(String((used.user + used.system) / 1000));",
    ].join("\n"),
  );
  const firstParse = (how: "compiled" | "one-shot"): number => {
    const r = spawnSync(process.execPath, [parseProbe, path.join(root, "build"), how], { cwd: root, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`bench: the first-parse probe failed:\n${r.stderr}`);
    return Number(r.stdout);
  };
  const zodProbe = path.join(os.tmpdir(), `bench-zod-load-${process.pid}.js`);
  // As the program meets it: after @pulumi/pulumi, which makes every later module load dearer. The
  // probe prints the load's own wall time.
  fs.writeFileSync(
    zodProbe,
    [
      "require(process.argv[3]);",
      "const t0 = process.hrtime.bigint();",
      "require(process.argv[2]);",
      "process.stdout.write(String(Number(process.hrtime.bigint() - t0) / 1e6));",
    ].join("\n"),
  );
  const zodLoad = (file: string): number => {
    const r = spawnSync(process.execPath, [zodProbe, file, sdk], { cwd: root, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`bench: loading ${file} failed:\n${r.stderr}`);
    return Number(r.stdout);
  };
  const zodPackage = require.resolve("zod", { paths: [root] });
  const sdk = require.resolve("@pulumi/pulumi", { paths: [root] });
  const app = healthyApp(root);
  try {
    await app.ready;
    const gate = (file: string) => runChild([file, app.url, "--timeout-seconds", "30"], root);
    const appStart = (file: string) => runChild([file, "--help"], root);
    gate(path.join(tools, "healthGate.js")); // writes the code cache, as a tool's first run does
    appStart(path.join(tools, "cloudronApp.js"));
    const figures = { cached: [] as number[], fresh: [] as number[], unbundled: [] as number[] };
    const app3 = { cached: [] as number[], fresh: [] as number[], unbundled: [] as number[] };
    const first = { http: [] as number[], fetch: [] as number[] };
    const zod = { bundled: [] as number[], package: [] as number[] };
    const parse = { compiled: [] as number[], oneShot: [] as number[] };
    for (let i = 0; i < runs; i++) {
      figures.cached.push(gate(path.join(tools, "healthGate.js")));
      figures.fresh.push(gate(path.join(tools, "healthGate.bundle.js")));
      figures.unbundled.push(gate(unbundled));
      app3.cached.push(appStart(path.join(tools, "cloudronApp.js")));
      app3.fresh.push(appStart(path.join(tools, "cloudronApp.bundle.js")));
      app3.unbundled.push(appStart(unbundledApp));
      first.http.push(runChild([probe, "http", `${app.url}/api/health`], root));
      first.fetch.push(runChild([probe, "fetch", `${app.url}/api/health`], root));
      zod.bundled.push(zodLoad(path.join(root, "build", "lib", "zod.js")));
      zod.package.push(zodLoad(zodPackage));
      parse.compiled.push(firstParse("compiled"));
      parse.oneShot.push(firstParse("one-shot"));
    }
    const cpu = childrenCpuMs() !== undefined;
    const center = cpu ? mean : median;
    return {
      runs,
      unit: cpu ? "cpu ms" : "wall ms",
      statistic: cpu ? "mean" : "median",
      bundleWithCodeCache: center(figures.cached),
      bundleWithoutCodeCache: center(figures.fresh),
      unbundled: center(figures.unbundled),
      cloudronApp: {
        bundleWithCodeCache: center(app3.cached),
        bundleWithoutCodeCache: center(app3.fresh),
        unbundled: center(app3.unbundled),
      },
      firstRequestNodeHttp: center(first.http),
      firstRequestFetch: center(first.fetch),
      firstParseCompiled: median(parse.compiled),
      firstParseOneShot: median(parse.oneShot),
      zodBundled: median(zod.bundled),
      zodPackage: median(zod.package),
    };
  } finally {
    app.stop();
    fs.rmSync(unbundled, { force: true });
    fs.rmSync(unbundledApp, { force: true });
    fs.rmSync(probe, { force: true });
    fs.rmSync(zodProbe, { force: true });
    fs.rmSync(parseProbe, { force: true });
  }
}

/** Wall time of a thing done in this process, median of `runs`, in ms. */
export function inProcessMs(runs: number, work: () => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    work();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}
