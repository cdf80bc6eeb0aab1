import { defineConfig } from "vitest/config";

// Files that run the program in-process under Pulumi's mocks (pulumi.runtime.setMocks): the SDK's
// runtime state is module-global, so each of these files gets a fresh worker. Every other file may
// share a worker with others (below); they talk to the program only through child processes.
const IN_PROCESS_SDK_FILES = ["tests/steps.test.ts", "tests/components.test.ts"];

const shared = {
  // Lifecycle scenarios spawn real child processes (the compiled program and tools, the cloudron stand-in, a registry).
  testTimeout: 180_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    globalSetup: ["tests/globalSetup.ts"],
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
