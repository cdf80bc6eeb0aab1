import * as fs from "node:fs";
import * as path from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

// Files that run the program in-process under Pulumi's mocks (pulumi.runtime.setMocks): the SDK's
// runtime state is module-global, so each of these files gets a fresh worker. Every other file may
// share a worker with others (below); they talk to the program only through child processes.
const IN_PROCESS_SDK_FILES = ["tests/steps.test.ts", "tests/components.test.ts"];

// Start order. Vitest runs the longest files first when it has last run's durations, but a clean
// clone (CI) has none and it falls back to file size: there the timeouts file (25 s of mostly waiting)
// and the process-heavy files started late and trailed the run by 5-7 s. So, whatever the cache says:
// 1. files that spend most of their wall time waiting out real (shortened) bounds (measured, listed
//    below): their waits then overlap the CPU-bound files;
// 2. files that run the program offline or run operator commands (they import the lifecycle runner
//    or the CLI project helper): seconds of child processes each;
// 3. the rest (unit tests, a second or less each), which fill the gaps at the end.
// Within a rank, Vitest's own order.
const START_FIRST = [
  "tests/lifecycle.timeouts.test.ts", // 24 s, 7 s of it CPU
  "tests/cloudronApiStandin.test.ts", // 6 s, 2 s of it CPU (bounded hangs, busy spells)
  "tests/cloudronOperations.test.ts", // 3 s, mostly task polling and bounds
  "tests/healthGate.test.ts", // 3 s, mostly bounds expiring
];
for (const name of START_FIRST) {
  if (!fs.existsSync(path.join(__dirname, name)))
    throw new Error(`vitest.config.ts START_FIRST names ${name}, which does not exist: rename or remove it`);
}
const SPAWNS_PROCESSES = /from "(\.\.\/engine\/runner|\.\/cliProject)"/;

function startRank(file: string): number {
  const listed = START_FIRST.findIndex((name) => file.endsWith(`/${name}`));
  if (listed !== -1) return listed - START_FIRST.length; // in the listed order, before everything else
  return SPAWNS_PROCESSES.test(fs.readFileSync(file, "utf8")) ? 1 : 2;
}

class StartOrderSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const ranked = sorted.map((f, i) => ({ f, i, rank: startRank(f.moduleId) }));
    return ranked.sort((a, b) => a.rank - b.rank || a.i - b.i).map(({ f }) => f);
  }
}

const shared = {
  // Lifecycle scenarios spawn real child processes (the compiled program and tools, the cloudron stand-in, a registry).
  testTimeout: 180_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    globalSetup: ["tests/globalSetup.ts"],
    sequence: { sequencer: StartOrderSequencer },
    // Two cores, four workers: the lifecycle files spend much of their time waiting on purpose
    // (bounds that must expire, busy spells, tasks), so extra workers fill the gaps (measured on the
    // 2-core machine: 2 → 77 s, 3 → 73 s, 4 → 65 s).
    maxWorkers: 4,
    projects: [
      {
        test: {
          ...shared,
          name: "shared-workers",
          include: ["tests/**/*.test.ts"],
          exclude: IN_PROCESS_SDK_FILES,
          // One worker runs many files: loading vitest and the shared modules once per worker, not
          // once per file, is about a third of the unit files' time; and a lifecycle host a closed
          // environment leaves settled serves the next file's environment. Safe because these files
          // mock no modules, fake no timers, put process.env back, and hold no SDK state in-process.
          isolate: false,
        },
      },
      { test: { ...shared, name: "isolated", include: IN_PROCESS_SDK_FILES, isolate: true } },
    ],
  },
});
