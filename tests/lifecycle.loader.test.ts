/**
 * The program as Pulumi's language host loads it with this project's settings: Pulumi.yaml says
 * `typescript: false`, so the host registers no TypeScript loader and requires package.json `main`
 * (build/index.js, compiled by `npm run build`). The lifecycle host does exactly that.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { Lifecycle, PROJECT_DIR } from "../engine/runner";

describe("language-host loading", () => {
  it("the project tells the language host to run the compiled entry, without TypeScript", () => {
    const pulumiYaml = fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8");
    expect(pulumiYaml).toMatch(/\n {4}typescript: false\n/);
    const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")) as {
      main: string;
      scripts: Record<string, string>;
    };
    expect(pkg.main).toBe("build/index.js");
    // npm ci runs `prepare`, so a fresh clone has the compiled program before the first up.
    expect(pkg.scripts.prepare).toBe("npm run build");
  });

  it(
    "loads package.json main with plain require (no .ts" + " hook) and deploys, each run in a process of its own",
    async () => {
      const lc = await Lifecycle.create({ stack: "staging", freshHostPerRun: true });
      try {
        const r = await lc.up();
        expect(r.errors).toEqual([]);
        expect(r.loadedEntry).toBe(path.join(PROJECT_DIR, "build", "index.js"));
        expect(r.typescriptHook).toBe(false);
        expect(r.outputs.deployAction).toBe("installed");
        expect(
          lc
            .calls()
            .filter((c) => c.operation === "installApp")
            .map((c) => c.status),
        ).toEqual([202]);
        const again = await lc.up();
        expect(again.errors).toEqual([]);
        expect(again.hostPid).not.toBe(r.hostPid);
      } finally {
        await lc.close();
      }
    },
  );

  it(
    "the kept host (the default) loads the program afresh for every" +
      " run, and is replaced after a failed run that left a wait running",
    async () => {
      const lc = await Lifecycle.create({ stack: "staging" });
      try {
        const runs = [await lc.up(), await lc.preview(), await lc.up()];
        expect(runs.map((r) => r.errors)).toEqual([[], [], []]);
        // One process served all three, and each run required the program anew (not from the cache).
        expect(new Set(runs.map((r) => r.hostPid)).size).toBe(1);
        expect(runs.map((r) => r.programWasCached)).toEqual([false, false, false]);
        // Between an up's passes only zod's bundle stays loaded (host.ts forgetProgramModules says why).
        expect(runs.map((r) => r.keptForUpdate)).toEqual([["build/lib/zod.js"], undefined, ["build/lib/zod.js"]]);
        expect(runs.map((r) => [r.loadedEntry, r.typescriptHook])).toEqual(
          Array(3).fill([path.join(PROJECT_DIR, "build", "index.js"), false]),
        );
        // A config change shows in the next run: nothing of the previous program's evaluation is reused.
        lc.config.env = { ...(lc.config.env as Record<string, string>), KEPT_HOST_CHECK: "1" };
        const changed = await lc.up();
        expect(changed.errors).toEqual([]);
        expect(lc.app()!.env.KEPT_HOST_CHECK).toBe("1");
        // A failed run that left nothing in flight keeps the process.
        lc.config.healthTimeoutSeconds = "abc";
        const failed = await lc.up();
        expect(failed.ok).toBe(false);
        expect(failed.hostPid).toBe(runs[0].hostPid);
        // A failed run with a wait still running (a timer) retires it: the next run gets a new one.
        lc.extraEnv.LIFECYCLE_HOST_TEST_STRAGGLER_MS = "30000";
        const failedMidWait = await lc.up();
        expect(failedMidWait.ok).toBe(false);
        delete lc.extraEnv.LIFECYCLE_HOST_TEST_STRAGGLER_MS;
        lc.config.healthTimeoutSeconds = 3;
        const after = await lc.up();
        expect(after.errors).toEqual([]);
        expect(after.hostPid).not.toBe(failedMidWait.hostPid);
        expect(after.programWasCached).toBe(false);
      } finally {
        await lc.close();
      }
    },
  );

  it(
    "a kept host serves whichever environment runs next, each run" +
      " loading the program afresh; runs at the same time get a host each",
    async () => {
      const first = await Lifecycle.create({ stack: "staging" });
      const second = await Lifecycle.create({
        stack: "staging",
        config: {
          env: { SMTP_FROM: "second@communityrule.info", UPLOAD_ROOT: "/app/data/uploads", SECOND_ENVIRONMENT: "1" },
        },
      });
      try {
        const a = await first.up();
        expect(a.errors).toEqual([]);
        const b = await second.up();
        expect(b.errors).toEqual([]);
        expect(b.hostPid).toBe(a.hostPid);
        expect(b.programWasCached).toBe(false);
        // Its own server, state and config: a first install of its own, with its own env.
        expect(b.outputs.deployAction).toBe("installed");
        expect(second.app()!.env.SECOND_ENVIRONMENT).toBe("1");
        expect(first.app()!.env.SECOND_ENVIRONMENT).toBeUndefined();
        expect(
          second
            .calls()
            .filter((c) => c.operation === "installApp")
            .map((c) => c.status),
        ).toEqual([202]);
        // Two runs at once cannot share a process: the second gets one of its own.
        const [x, y] = await Promise.all([first.preview(), second.preview()]);
        expect([x.errors, y.errors]).toEqual([[], []]);
        expect(x.hostPid).not.toBe(y.hostPid);
        expect([x.hostPid, y.hostPid]).toContain(a.hostPid);
      } finally {
        await first.close();
        await second.close();
      }
    },
  );
});
