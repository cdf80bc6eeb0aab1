/**
 * Benchmark: `npm run bench` (full) or `npm run bench -- --quick` (CI). Prints a table and writes
 * .artifacts/bench.json. Every figure in the README's "Figures" section comes from here.
 *
 * - Cloudron calls and app restarts per scenario, read from the Cloudron API stand-in's call log, and
 *   the CPU the engine's host process spent on each `up` (its own process.cpuUsage);
 * - a production release after staging's: builds and pushes (must be 0: production promotes);
 * - calls per deploy as the number of env vars grows (must stay constant);
 * - program evaluation time under mocks vs a one-resource program, side by side, median of N runs;
 * - tool start-up with and without the bundle and the code cache, and the first request through
 *   node:http vs fetch (commands/bench/startup.ts); the cost of the source-stamp check;
 * - health-gate detection latency and timeout accuracy against a loopback server;
 * - `npm run rehearse -- staging` wall time, as an operator runs it;
 * - full test-suite wall time (full mode only).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { readProjectYaml, runConfigStep, type ConfigValue } from "../../engine/configStep";
import { Lifecycle, MUTATING } from "../../engine/runner";
import { startFakeApp } from "../../engine/fakeApp";
import { waitForHealthy } from "../../steps/health/poll";
import { staleBuildReason } from "../../lib/build/sourceStamp";
import { findProjectDir } from "../../lib/projectDir";
import { inProcessMs, toolStartup } from "./startup";
import { defineCli } from "../../lib/cli";

/** `--quick` (CI): fewer runs, no type-checked comparison, no test-suite timing. Set once, from the command line. */
let quick = false;
const root = findProjectDir(__dirname);
const out = (line = "") => process.stdout.write(line + "\n");

interface ScenarioFigure {
  scenario: string;
  cloudronCalls: number;
  mutatingCalls: number;
  restarts: number;
  ok: boolean;
  /** CPU the engine's host process spent on the `up` (config step, preview and update passes). */
  hostCpuMs?: number;
}

async function measure(lc: Lifecycle, scenario: string, change: () => void): Promise<ScenarioFigure> {
  change();
  const before = lc.calls().length;
  const restartsBefore = lc.restarts();
  const r = await lc.up();
  const calls = lc.callsSince(before);
  return {
    scenario,
    cloudronCalls: calls.length,
    mutatingCalls: calls.filter((c) => MUTATING.has(c.operation)).length,
    restarts: lc.restarts() - restartsBefore,
    ok: r.ok,
    hostCpuMs: r.hostCpuMs,
  };
}

async function scenarios(): Promise<ScenarioFigure[]> {
  const lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9" });
  try {
    const figures: ScenarioFigure[] = [];
    figures.push(await measure(lc, "first install", () => undefined));
    figures.push(await measure(lc, "no-op", () => undefined));
    figures.push(await measure(lc, "release (new version)", () => lc.setManifestVersion("0.1.10")));
    figures.push(
      await measure(lc, "env change", () => {
        lc.config.env = { ...(lc.config.env as Record<string, string>), SMTP_FROM: "Bench <bench@communityrule.info>" };
      }),
    );
    figures.push(
      await measure(lc, "release + env change", () => {
        lc.setManifestVersion("0.1.11");
        lc.config.env = { ...(lc.config.env as Record<string, string>), WEB_VITALS_STORAGE: "external" };
      }),
    );
    figures.push(
      await measure(lc, "rollback (build: false, 0.1.10)", () => {
        lc.config.build = false;
        lc.config.imageTag = "0.1.10";
      }),
    );
    return figures;
  } finally {
    await lc.close();
  }
}

/**
 * Production promotes what staging verified: staging releases 0.1.9 and 0.1.10 (build and push),
 * production, on the same registry, installs 0.1.9 and then releases 0.1.10. The production
 * release is measured like the other scenarios, plus the builds it made (each build is a push).
 */
async function productionRelease(): Promise<ScenarioFigure & { builds: number }> {
  const staging = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9" });
  try {
    await staging.up();
    staging.setManifestVersion("0.1.10");
    await staging.up();
    const production = await Lifecycle.create({
      stack: "production",
      manifestVersion: "0.1.9",
      config: { imageRepository: staging.config.imageRepository },
    });
    try {
      await production.up();
      const builds = production.builds().length;
      const figure = await measure(production, "production release (promotes staging's 0.1.10)", () =>
        production.setManifestVersion("0.1.10"),
      );
      return { ...figure, builds: production.builds().length - builds };
    } finally {
      await production.close();
    }
  } finally {
    await staging.close();
  }
}

async function callsPerEnvSize(): Promise<
  Array<{ envVars: number; firstDeployCalls: number; mutating: number; changeAllCalls: number }>
> {
  const rows = [];
  for (const n of [1, 10, 100]) {
    const env: Record<string, string> = {};
    for (let i = 0; i < n; i++) env[`BENCH_VAR_${i}`] = `value ${i}`;
    const lc = await Lifecycle.create({ stack: "staging", config: { smoke: false } });
    // On top of the stack file's env (SMTP_FROM is required), so only the bench's own vars vary.
    const base = lc.config.env as Record<string, string>;
    lc.config.env = { ...base, ...env };
    try {
      await lc.up();
      const first = lc.calls();
      const before = first.length;
      lc.config.env = { ...base, ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, `${v} changed`])) };
      await lc.up();
      rows.push({
        envVars: n,
        firstDeployCalls: first.length,
        mutating: first.filter((c) => MUTATING.has(c.operation)).length,
        changeAllCalls: lc.callsSince(before).filter((c) => MUTATING.has(c.operation)).length,
      });
    } finally {
      await lc.close();
    }
  }
  return rows;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Stack config the evaluation runs see: staging as written, pointed at the fixture app checkout,
 * after the Pulumi CLI's config step (Pulumi.yaml's defaults applied), as the program gets it.
 */
function evalConfig(): string {
  const plain: Record<string, string> = {
    "communityrule:location": "staging.communityrule.info",
    "communityrule:cloudronServer": "my.medlab.host",
    // build: true keeps the evaluation offline (build: false asks the registry about the tag).
    "communityrule:build": "true",
    "communityrule:registryUsername": "bench",
    "communityrule:appDir": path.join(root, "engine", "fixtures", "community-rule"),
  };
  const stack = new Map<string, ConfigValue>(
    Object.entries(plain).map(([k, v]) => [k, { value: v, secure: false, object: false }]),
  );
  stack.set("communityrule:env", {
    value: JSON.stringify({ SMTP_FROM: "Community Rule <hello@communityrule.info>", UPLOAD_ROOT: "/app/data/uploads" }),
    secure: false,
    object: true,
  });
  stack.set("communityrule:registryPassword", { value: "bench-password-not-real", secure: true, object: false });
  const step = runConfigStep("preview", "staging", readProjectYaml(root), stack);
  if (!step.ok) throw new Error(`bench: the evaluation's stack config fails the CLI's config step: ${step.error}`);
  return JSON.stringify({ values: step.config, secretKeys: step.secretKeys });
}

/**
 * Wall time of one whole evaluation process (start, module loading, program, exit), which is what
 * a preview pays. `runner` decides how the entry is loaded: compiled (as `pulumi up` runs it) or
 * through type-checking ts-node (what the build to build/ saves).
 */
function timeEvaluation(which: "deploy" | "same-sdks", runner: "compiled" | "ts-node"): number {
  const args =
    runner === "compiled"
      ? [path.join(root, "build", "commands", "bench", "evalProgram.js"), which]
      : ["--require", "ts-node/register", path.join(root, "commands", "bench", "evalProgram.ts"), which];
  const entry = runner === "compiled" ? {} : { EVAL_ENTRY: "index.ts" };
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, ...entry, EVAL_CONFIG: evalConfig() },
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`evaluating the ${which} program (${runner}) failed:\n${r.stderr}`);
  return ms;
}

function evalTimes(runs: number) {
  const deploy: number[] = [];
  const sameSdks: number[] = [];
  // Interleaved, so machine noise hits both sides alike.
  for (let i = 0; i < runs; i++) {
    deploy.push(timeEvaluation("deploy", "compiled"));
    sameSdks.push(timeEvaluation("same-sdks", "compiled"));
  }
  // What compiling ahead buys: the same program loaded through type-checking ts-node.
  const typeChecked = quick ? undefined : median([0, 1, 2].map(() => timeEvaluation("deploy", "ts-node")));
  return {
    runs,
    deployMedianMs: median(deploy),
    sameSdksMedianMs: median(sameSdks),
    ratio: median(deploy) / median(sameSdks),
    typeCheckedTsNodeMedianMs: typeChecked,
  };
}

async function gateFigures() {
  const healthyAfterMs = 3000;
  const started = Date.now();
  const app = await startFakeApp(() =>
    Date.now() - started < healthyAfterMs
      ? { status: 503, body: JSON.stringify({ ok: false, database: "error" }) }
      : { status: 200, body: JSON.stringify({ ok: true, database: "connected" }) },
  );
  const failing = await startFakeApp(() => ({ status: 503, body: JSON.stringify({ ok: false, database: "error" }) }));
  try {
    await waitForHealthy({ url: app.url, timeoutMs: 20_000 });
    const detectionLatencyMs = Date.now() - started - healthyAfterMs;
    const timeouts: number[] = [];
    for (const timeoutMs of [1000, 3000]) {
      const t0 = Date.now();
      await waitForHealthy({ url: failing.url, timeoutMs }).catch(() => undefined);
      timeouts.push(Date.now() - t0 - timeoutMs);
    }
    return { detectionLatencyMs, timeoutOvershootMs: { "1s": timeouts[0], "3s": timeouts[1] } };
  } finally {
    await app.stop();
    await failing.stop();
  }
}

function suiteWallTime(): number | undefined {
  if (quick) return undefined;
  const t0 = Date.now();
  spawnSync("npx", ["vitest", "run"], { cwd: root, stdio: "ignore" });
  return (Date.now() - t0) / 1000;
}

/** `npm run rehearse -- staging` as an operator runs it (build check included), wall seconds. */
function rehearsalWallTime(): { seconds: number; passed: boolean } {
  const t0 = Date.now();
  const r = spawnSync("npm", ["run", "-s", "rehearse", "--", "staging"], { cwd: root, encoding: "utf8" });
  const seconds = (Date.now() - t0) / 1000;
  return { seconds, passed: r.status === 0 && /^REHEARSAL PASS/m.test(r.stdout) };
}

const verdict = (met: boolean) => (met ? "met" : "NOT met");

async function main() {
  out(`benchmark (${quick ? "quick" : "full"} mode), ${new Date().toISOString()}, node ${process.version}`);
  const scen = await scenarios();
  const promotion = await productionRelease();
  scen.push(promotion);
  out("\nCloudron calls and restarts per scenario (from the stand-in's log), and the engine host's CPU per up");
  out("| scenario | cloudron calls | mutating | restarts | ok | engine host CPU ms |");
  out("|---|---|---|---|---|---|");
  for (const s of scen)
    out(
      `| ${s.scenario} | ${s.cloudronCalls} | ${s.mutatingCalls} | ${s.restarts} | ${s.ok} | ${s.hostCpuMs ?? "?"} |`,
    );
  out(
    `Production release: ${promotion.builds} builds and ${promotion.builds} pushes ` +
      `(it deploys staging's digest; must be 0: ${verdict(promotion.builds === 0)})`,
  );

  const envRows = await callsPerEnvSize();
  out("\nMutating calls per deploy as env vars grow");
  out("| env vars | first deploy: all calls | first deploy: mutating | change every value: mutating |");
  out("|---|---|---|---|");
  for (const r of envRows) out(`| ${r.envVars} | ${r.firstDeployCalls} | ${r.mutating} | ${r.changeAllCalls} |`);

  const ev = evalTimes(quick ? 5 : 9);
  out(
    `\nProgram evaluation, whole process under mocks (median of ${ev.runs}, interleaved): compiled deploy program ` +
      `${ev.deployMedianMs.toFixed(0)} ms, ` +
      `same four SDKs with one resource each ${ev.sameSdksMedianMs.toFixed(0)} ms, ` +
      `ratio ${ev.ratio.toFixed(2)}x (target <= 1.3x: ${verdict(ev.ratio <= 1.3)})` +
      (ev.typeCheckedTsNodeMedianMs === undefined
        ? ""
        : `; the same program through type-checking ts-node: ${ev.typeCheckedTsNodeMedianMs.toFixed(0)} ms`),
  );

  const st = await toolStartup(root, quick ? 10 : 20);
  const pct = (a: number, b: number) => `${(100 * (1 - a / b)).toFixed(0)}%`;
  out(
    `\nTool start-up, one health-gate run (${st.statistic} of ${st.runs}, interleaved, ${st.unit}): ` +
      `bundle + code cache ${st.bundleWithCodeCache.toFixed(0)}, ` +
      `bundle alone ${st.bundleWithoutCodeCache.toFixed(0)} (the cache saves ` +
      `${pct(st.bundleWithCodeCache, st.bundleWithoutCodeCache)}), ` +
      `unbundled tsc output ${st.unbundled.toFixed(0)} ` +
      `(bundle + cache saves ${pct(st.bundleWithCodeCache, st.unbundled)})`,
  );
  const app = st.cloudronApp;
  out(
    "Tool start-up, cloudronApp (--help: the whole tool loads) " +
      `(${st.statistic} of ${st.runs}, interleaved, ${st.unit}): ` +
      `bundle + code cache ${app.bundleWithCodeCache.toFixed(0)}, ` +
      `bundle alone ${app.bundleWithoutCodeCache.toFixed(0)} (the cache saves ` +
      `${pct(app.bundleWithCodeCache, app.bundleWithoutCodeCache)}), ` +
      `unbundled tsc output ${app.unbundled.toFixed(0)} ` +
      `(bundle + cache saves ${pct(app.bundleWithCodeCache, app.unbundled)})`,
  );
  out(
    `First HTTP request of a fresh process (${st.statistic} of ${st.runs}, ${st.unit}): ` +
      `node:http ${st.firstRequestNodeHttp.toFixed(0)}, ` +
      `fetch ${st.firstRequestFetch.toFixed(0)} ` +
      `(ratio ${(st.firstRequestFetch / st.firstRequestNodeHttp).toFixed(2)}x; ` +
      "lib/http.ts uses node:http)",
  );
  out(
    `zod's first parse of an app, a task and an env request in a fresh process (cpu ms, median of ${st.runs}): ` +
      `compiled parsers (zod's default) ${st.firstParseCompiled.toFixed(1)}, ` +
      `ONE_SHOT_PARSE (lib/zod.ts, the tools' parses) ${st.firstParseOneShot.toFixed(1)}`,
  );
  out(
    `zod load after @pulumi/pulumi (wall ms, median of ${st.runs}, interleaved): ` +
      `build/lib/zod.js (one-file bundle) ${st.zodBundled.toFixed(0)}, ` +
      `the package's files ${st.zodPackage.toFixed(0)} (the program loads it at every evaluation)`,
  );
  const stampCheckMs = inProcessMs(5, () => staleBuildReason(root));
  out(`Source-stamp check (bin/launch.cjs and the program at start): ${stampCheckMs.toFixed(1)} ms`);

  const gate = await gateFigures();
  out(
    `Health gate: detected healthy ${gate.detectionLatencyMs} ms after the endpoint turned healthy; ` +
      `timeout overshoot ${gate.timeoutOvershootMs["1s"]} ms (1 s timeout), ` +
      `${gate.timeoutOvershootMs["3s"]} ms (3 s timeout)`,
  );

  const rehearsal = rehearsalWallTime();
  out(
    `Rehearsal: npm run rehearse -- staging ${rehearsal.seconds.toFixed(1)} s wall, ` +
      `${rehearsal.passed ? "PASS" : "did NOT pass"} ` +
      `(target <= 10 s: ${verdict(rehearsal.passed && rehearsal.seconds <= 10)})`,
  );

  const wall = suiteWallTime();
  out(
    wall === undefined
      ? "Test-suite wall time: not measured in quick mode (npm run bench measures it)"
      : `Test-suite wall time: ${wall.toFixed(1)} s (npx vitest run; target <= 60 s: ${verdict(wall <= 60)})`,
  );

  fs.mkdirSync(path.join(root, ".artifacts"), { recursive: true });
  const file = path.join(root, ".artifacts", "bench.json");
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        quick,
        at: new Date().toISOString(),
        scenarios: scen,
        envScaling: envRows,
        evaluation: ev,
        toolStartup: st,
        stampCheckMs,
        gate,
        rehearsal,
        suiteWallSeconds: wall,
      },
      null,
      2,
    ),
  );
  out(`\nwrote ${path.relative(root, file)}`);
  const noop = scen.find((s) => s.scenario === "no-op");
  // A deploy that made no call at all (a refused config) measures nothing: that fails the bench too.
  const constant =
    new Set(envRows.map((r) => r.changeAllCalls)).size === 1 && envRows.every((r) => r.firstDeployCalls > 0);
  if (
    !noop ||
    noop.mutatingCalls !== 0 ||
    !constant ||
    scen.some((s) => !s.ok) ||
    !rehearsal.passed ||
    promotion.builds !== 0
  ) {
    out(
      "BENCH CHECK FAILED: the no-op must make 0 mutating calls, calls must not grow with env vars, " +
        "a production release must build and push nothing, " +
        "every scenario and the rehearsal must succeed",
    );
    return 1;
  }
  return 0;
}

const benchCli = defineCli({
  name: "bench",
  usage: "usage: npm run bench [-- --quick]",
  spec: { flags: ["quick"] },
  parse: (a) => a.flags.quick,
  run: (quickMode) => {
    quick = quickMode;
    return main();
  },
});

// process.exit: the stand-ins the scenarios start must not keep the benchmark open.
void benchCli(process.argv.slice(2)).then((code) => process.exit(code));
