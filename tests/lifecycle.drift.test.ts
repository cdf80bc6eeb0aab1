/**
 * Drift through the whole loop: after real `up`s against the API stand-in, `npm run drift`
 * (a real child process reading the stack outputs through the `pulumi` stand-in) reports a
 * dashboard-style edit of managed keys, plain and secret, naming keys and never secret values; the
 * next `up` that applies env corrects it in one configure/env call, and drift is clean again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTool } from "../engine/fakeApp";
import { Lifecycle } from "../engine/runner";

describe("drift after a dashboard edit", () => {
  let lc: Lifecycle;
  const drift = () =>
    runTool("commands/drift/main.ts", [lc.stack], {
      env: { ...lc.extraEnv, CLOUDRON_TOKEN: lc.token },
      timeoutMs: 60_000,
    });

  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging", config: { smoke: false } });
    expect((await lc.up()).errors).toEqual([]);
  });
  afterAll(async () => lc?.close());

  it("a freshly deployed stack has no drift (exit 0)", async () => {
    const r = await drift();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  let editedSecret = "";
  let deployedSecret = "";
  it(
    "an edited plain key and an edited SESSION_SECRET are reported (exit" +
      " 1), the secret as changed only; a hand-set key is information",
    async () => {
      deployedSecret = lc.app()!.env.SESSION_SECRET;
      editedSecret = `edited-in-dashboard-${Date.now()}`;
      lc.mutateApp((app) => {
        app.env.SMTP_FROM = "Someone <edited@example.org>";
        app.env.SESSION_SECRET = editedSecret;
        app.env.HAND_SET_KEY = "set by hand";
      });
      const before = lc.calls().length;
      const r = await drift();
      expect(r.code).toBe(1);
      const text = r.stdout + r.stderr;
      expect(text).toContain("SMTP_FROM");
      expect(text).toContain("SESSION_SECRET");
      expect(text).toContain("HAND_SET_KEY");
      expect(text).not.toContain(editedSecret);
      expect(text).not.toContain(deployedSecret);
      // Read-only: drift changed nothing.
      expect(lc.mutatingCallsSince(before)).toEqual([]);
    },
  );

  it(
    "the next up that applies env puts the managed keys" + " back in one configure/env call; drift is clean again",
    async () => {
      lc.config.env = { ...(lc.config.env as Record<string, string>), AFTER_DRIFT: "1" };
      const before = lc.calls().length;
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      const envCalls = lc.mutatingCallsSince(before).filter((c) => c.operation === "setAppEnv");
      expect(envCalls).toHaveLength(1);
      const app = lc.app()!;
      expect(app.env.SMTP_FROM).toBe("Community Rule <hello@communityrule.info>");
      expect(app.env.SESSION_SECRET).toBe(deployedSecret);
      expect(app.env.HAND_SET_KEY).toBe("set by hand");
      const after = await drift();
      expect(after.code).toBe(0);
    },
  );
});
