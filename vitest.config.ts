import * as fs from "node:fs";
import * as path from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

// The test files sort themselves into three projects by what they do, read from their own text,
// so a new file needs no entry here:
// - "in-process-sdk": runs the program in-process under Pulumi's mocks (pulumi.runtime.setMocks).
//   The SDK's runtime state is module-global, so each of these files gets a fresh worker.
// - "processes": runs the program offline (engine/runner.ts) or operator commands (tests/cliProject.ts),
//   seconds of child processes each, much of it waiting on purpose (bounds that must expire, busy
//   spells, stand-in tasks).
// - "unit": the rest, a second or less each.
// Every process the suite starts talks to loopback only (stand-ins, a local registry, the fake
// app), so a CA bundle named by the machine's NODE_EXTRA_CA_CERTS is never used; Node still reads
// and parses it at every start (about 40 ms of CPU each, some 700 processes a run). Workers and
// everything they start inherit this environment.
delete process.env.NODE_EXTRA_CA_CERTS;

const tests = fs
  .readdirSync(path.join(__dirname, "tests"))
  .filter((f) => f.endsWith(".test.ts"))
  .map((f) => `tests/${f}`);
const text = (file: string) => fs.readFileSync(path.join(__dirname, file), "utf8");
const IN_PROCESS_SDK = tests.filter((f) => /\bsetMocks\(/.test(text(f)));
const PROCESSES = tests.filter(
  (f) => !IN_PROCESS_SDK.includes(f) && /from "(\.\.\/engine\/runner|\.\/cliProject)"/.test(text(f)),
);
const UNIT = tests.filter((f) => !IN_PROCESS_SDK.includes(f) && !PROCESSES.includes(f));

// The "processes" files start first, so their waits overlap the CPU-bound files; the unit files
// fill the gaps at the end. Within a project, Vitest's own order (longest first by the last run,
// else largest first). Whatever the cache says, so a clean clone (CI) gets the same order.
const START_ORDER = ["processes", "in-process-sdk", "unit"];
class ProjectOrderSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => START_ORDER.indexOf(f.project.name);
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f);
  }
}

const shared = {
  // Lifecycle scenarios spawn real child processes (the compiled program and tools, the cloudron stand-in, a registry).
  testTimeout: 180_000,
  hookTimeout: 120_000,
  // One worker runs many files: loading vitest and the shared modules once per worker, not once
  // per file, is about a third of the unit files' time; and a lifecycle host a closed environment
  // leaves settled serves the next file's environment. Safe because these files mock no modules,
  // fake no timers, put process.env back, and hold no SDK state in-process.
  isolate: false,
};

export default defineConfig({
  test: {
    globalSetup: ["tests/globalSetup.ts"],
    sequence: { sequencer: ProjectOrderSequencer },
    // Two cores, four workers: the lifecycle files spend much of their time waiting on purpose
    // (bounds that must expire, busy spells, tasks), so extra workers fill the gaps.
    maxWorkers: 4,
    projects: [
      { test: { ...shared, name: "processes", include: PROCESSES } },
      { test: { ...shared, name: "unit", include: UNIT } },
      { test: { ...shared, name: "in-process-sdk", include: IN_PROCESS_SDK, isolate: true } },
    ],
  },
});
