import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/globalSetup.ts"],
    // Lifecycle scenarios spawn real child processes (the compiled program and tools, the cloudron stand-in, a registry).
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // Two cores: keep parallelism modest so timing-sensitive gate tests stay honest.
    maxWorkers: 2,
    // One worker runs many files: loading vitest and the shared modules once per worker, not once
    // per file, is about a third of the unit files' time. Safe because no test mocks modules or
    // fakes timers, and tests that change process.env put it back.
    isolate: false,
  },
});
