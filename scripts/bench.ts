/**
 * Benchmark: `npm run bench` (full) or `npm run bench -- --quick` (CI). Prints a table and writes
 * .artifacts/bench.json. Every figure in the README's "Figures" section comes from here.
 *
 * - Cloudron calls and app restarts per scenario, read from the Cloudron API stand-in's call log;
 * - calls per deploy as the number of env vars grows (must stay constant);
 * - program evaluation time under mocks vs a one-resource program, side by side, median of N runs;
 * - health-gate detection latency and timeout accuracy against a loopback server;
 * - full test-suite wall time (full mode only).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { Lifecycle, MUTATING } from "../lifecycle/runner";
import { startFakeApp } from "../lifecycle/fakeApp";
import { waitForHealthy } from "../lib/health/healthGate";

const quick = process.argv.includes("--quick");
const root = path.resolve(__dirname, "..");
const out = (line = "") => process.stdout.write(line + "\n");

interface ScenarioFigure {
  scenario: string;
  cloudronCalls: number;
  mutatingCalls: number;
  restarts: number;
  ok: boolean;
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

async function callsPerEnvSize(): Promise<Array<{ envVars: number; firstDeployCalls: number; mutating: number; changeAllCalls: number }>> {
  const rows = [];
  for (const n of [1, 10, 100]) {
    const env: Record<string, string> = {};
    for (let i = 0; i < n; i++) env[`BENCH_VAR_${i}`] = `value ${i}`;
    const lc = await Lifecycle.create({ stack: "staging", config: { env, smoke: false } });
    try {
      await lc.up();
      const first = lc.calls();
      const before = first.length;
      lc.config.env = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, `${v} changed`]));
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

function evalTimes(runs: number) {
  const time = (which: string) => {
    const r = spawnSync(process.execPath, ["--require", "ts-node/register/transpile-only", path.join(__dirname, "bench", "evalProgram.ts"), which], {
      cwd: root,
      encoding: "utf8",
    });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    if (!line.startsWith("{")) throw new Error(`evaluating the ${which} program failed:\n${r.stderr}`);
    return (JSON.parse(line) as { ms: number }).ms;
  };
  const deploy: number[] = [];
  const one: number[] = [];
  // Interleaved, so machine noise hits both sides alike.
  for (let i = 0; i < runs; i++) {
    deploy.push(time("deploy"));
    one.push(time("one-resource"));
  }
  return { runs, deployMedianMs: median(deploy), oneResourceMedianMs: median(one), ratio: median(deploy) / median(one) };
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

async function main() {
  out(`benchmark (${quick ? "quick" : "full"} mode), ${new Date().toISOString()}, node ${process.version}`);
  const scen = await scenarios();
  out("\nCloudron calls and restarts per scenario (from the stand-in's log)");
  out("| scenario | cloudron calls | mutating | restarts | ok |");
  out("|---|---|---|---|---|");
  for (const s of scen) out(`| ${s.scenario} | ${s.cloudronCalls} | ${s.mutatingCalls} | ${s.restarts} | ${s.ok} |`);

  const envRows = await callsPerEnvSize();
  out("\nMutating calls per deploy as env vars grow");
  out("| env vars | first deploy: all calls | first deploy: mutating | change every value: mutating |");
  out("|---|---|---|---|");
  for (const r of envRows) out(`| ${r.envVars} | ${r.firstDeployCalls} | ${r.mutating} | ${r.changeAllCalls} |`);

  const ev = evalTimes(quick ? 5 : 9);
  out(`\nProgram evaluation under mocks (median of ${ev.runs}, interleaved): deploy program ${ev.deployMedianMs.toFixed(0)} ms, one-resource program ${ev.oneResourceMedianMs.toFixed(0)} ms, ratio ${ev.ratio.toFixed(1)}x`);

  const gate = await gateFigures();
  out(`Health gate: detected healthy ${gate.detectionLatencyMs} ms after the endpoint turned healthy; timeout overshoot ${gate.timeoutOvershootMs["1s"]} ms (1 s timeout), ${gate.timeoutOvershootMs["3s"]} ms (3 s timeout)`);

  const wall = suiteWallTime();
  out(wall === undefined ? "Test-suite wall time: not measured in quick mode" : `Test-suite wall time: ${wall.toFixed(1)} s (npx vitest run)`);

  fs.mkdirSync(path.join(root, ".artifacts"), { recursive: true });
  const file = path.join(root, ".artifacts", "bench.json");
  fs.writeFileSync(file, JSON.stringify({ quick, at: new Date().toISOString(), scenarios: scen, envScaling: envRows, evaluation: ev, gate, suiteWallSeconds: wall }, null, 2));
  out(`\nwrote ${path.relative(root, file)}`);
  const noop = scen.find((s) => s.scenario === "no-op");
  const constant = new Set(envRows.map((r) => r.changeAllCalls)).size === 1;
  if (!noop || noop.mutatingCalls !== 0 || !constant || scen.some((s) => !s.ok)) {
    out("BENCH CHECK FAILED: the no-op must make 0 mutating calls, calls must not grow with env vars, every scenario must succeed");
    return 1;
  }
  return 0;
}

main().then((code) => process.exit(code));
