import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/globalSetup.ts"],
    // Lifecycle scenarios spawn real child processes (the compiled program and tools, the cloudron stand-in, a registry).
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // Two cores, three workers: the lifecycle files spend part of their time waiting on purpose
    // (bounds that must expire, busy spells), so a third worker fills the gaps. More buys little
    // (measured: 2 → 102 s, 3 → 85 s, 4 → 80 s) and loads the timing-sensitive gate tests harder.
    maxWorkers: 3,
    // One worker runs many files: loading vitest and the shared modules once per worker, not once
    // per file, is about a third of the unit files' time. Safe because no test mocks modules or
    // fakes timers, and tests that change process.env put it back.
    isolate: false,
  },
});
