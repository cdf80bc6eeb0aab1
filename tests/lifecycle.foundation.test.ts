/**
 * Foundation scenarios (issue 4), played through the offline lifecycle runner: the real program,
 * loaded with ts-node (CommonJS) in a child process, against the `cloudron` stand-in, a real OCI
 * registry and a loopback app. Assertions read the stand-in's call log and server state.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle } from "../lifecycle/runner";

const subs = (calls: Array<{ sub: string }>) => calls.map((c) => c.sub);

describe("staging lifecycle: install, no-op, release, env change, reseed, destroy", () => {
  let lc: Lifecycle;
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9" });
  });
  afterAll(async () => lc?.close());

  let firstSecret = "";

  it("first up on a fresh staging installs, sets env, seeds once and passes the health gate", async () => {
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    const calls = lc.calls();
    expect(subs(calls.filter((c) => c.sub !== "inspect" && c.sub !== "backup list"))).toEqual(["install", "env set", "exec"]);
    const install = calls.find((c) => c.sub === "install")!;
    expect(install.argv).toEqual(["install", "--location", "staging.communityrule.info", "--image", expect.stringMatching(/@sha256:[0-9a-f]{64}$/)]);
    expect(install.cwd).toBe(lc.appDir);
    const app = lc.app()!;
    expect(app.manifest.version).toBe("0.1.9");
    expect(app.env.SMTP_FROM).toBe("Community Rule <hello@communityrule.info>");
    expect(app.env.UPLOAD_ROOT).toBe("/app/data/uploads");
    expect(app.env.SESSION_SECRET).toMatch(/^[A-Za-z0-9]{48}$/);
    firstSecret = app.env.SESSION_SECRET;
    expect(lc.seedRuns()).toBe(1);
    expect(lc.builds()).toHaveLength(1);
    expect(lc.builds()[0].platform).toBe("linux/amd64");
    expect(r.outputs.deployAction).toBe("installed");
    expect(String(r.outputs.smokeReport)).toContain("3 passed, 0 failed");
    expect(JSON.parse(String(r.outputs.healthCheck)).healthy).toBe(true);
    // The token never reached argv; every call authenticated through the private .cloudron.json.
    expect(calls.every((c) => c.authenticated && !c.argv.includes("--token"))).toBe(true);
  });

  it("second up with nothing changed makes no mutating Cloudron call and no build", async () => {
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.ok).toBe(true);
    expect(lc.mutatingCallsSince(before)).toEqual([]);
    expect(r.steps.filter((s) => s.op !== "same")).toEqual([]);
    expect(lc.builds()).toHaveLength(1);
    expect(lc.app()!.restarts).toBe(2); // install + the one env set
  });

  it("a new manifest version builds once and updates once, without reseeding or a new session secret", async () => {
    lc.setManifestVersion("0.1.10");
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    const mutating = lc.mutatingCallsSince(before);
    expect(subs(mutating)).toEqual(["update"]);
    expect(mutating[0].argv).toEqual(["update", "--app", "staging.communityrule.info", "--image", expect.stringContaining("@sha256:")]);
    expect(mutating[0].argv).not.toContain("--no-backup");
    expect(lc.builds().map((b) => b.imageName)).toEqual([expect.stringMatching(/:0\.1\.9$/), expect.stringMatching(/:0\.1\.10$/)]);
    expect(lc.app()!.manifest.version).toBe("0.1.10");
    expect(lc.app()!.env.SESSION_SECRET).toBe(firstSecret);
    expect(lc.seedRuns()).toBe(1);
    expect(r.outputs.deployAction).toBe("updated");
    expect(String(r.outputs.preUpdateBackupId)).toMatch(/^backup-/);
  });

  it("one env value changed and one removed: one set with the changed key, one unset, nothing else", async () => {
    const env = { ...(lc.config.env as Record<string, string>) };
    env.SMTP_FROM = `Community Rule "Staging" <staging@communityrule.info>`;
    delete env.UPLOAD_ROOT;
    lc.config.env = env;
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    const mutating = lc.mutatingCallsSince(before);
    expect(mutating.map((c) => c.argv)).toEqual([
      ["env", "set", "--app", "staging.communityrule.info", `SMTP_FROM=Community Rule "Staging" <staging@communityrule.info>`],
      ["env", "unset", "--app", "staging.communityrule.info", "UPLOAD_ROOT"],
    ]);
    const app = lc.app()!;
    expect(app.env.SMTP_FROM).toBe(`Community Rule "Staging" <staging@communityrule.info>`);
    expect(app.env).not.toHaveProperty("UPLOAD_ROOT");
    expect(app.env.SESSION_SECRET).toBe(firstSecret);
    expect(lc.seedRuns()).toBe(1);
  });

  it("changing seedRun runs the seed again, and only the seed", async () => {
    lc.config.seedRun = "2";
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(subs(lc.mutatingCallsSince(before))).toEqual(["exec"]);
    expect(lc.seedRuns()).toBe(2);
  });

  it("changing sessionSecretRotation sets a new SESSION_SECRET in one call, and says users are logged out", async () => {
    lc.config.sessionSecretRotation = "2026-11-rotation";
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    const mutating = lc.mutatingCallsSince(before);
    expect(mutating.map((c) => c.argv.slice(0, 4))).toEqual([["env", "set", "--app", "staging.communityrule.info"]]);
    expect(mutating[0].argv.slice(4).map((a) => a.split("=")[0])).toEqual(["SESSION_SECRET"]);
    const secret = lc.app()!.env.SESSION_SECRET;
    expect(secret).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(secret).not.toBe(firstSecret);
    expect((r as unknown as { log: string }).log).toContain("every user is logged out");
    expect(lc.seedRuns()).toBe(2);
  });

  it("destroy on staging uninstalls the app", async () => {
    const before = lc.calls().length;
    const r = await lc.destroy();
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(subs(lc.mutatingCallsSince(before))).toEqual(["uninstall"]);
    expect(lc.app()).toBeUndefined();
  });
});

describe("adoption and refusal", () => {
  it("adopts a staging app installed by hand (same manifest id) instead of installing a second one", async () => {
    const lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9" });
    try {
      lc.mutateStandin((s) => {
        s.apps.push({
          id: "hand-installed-1",
          fqdn: "staging.communityrule.info",
          manifest: { id: "com.medlab.communityrule", version: "0.1.8", dockerImage: "git.medlab.host/communityrule/community-rule:0.1.8" },
          installationState: "installed",
          runState: "running",
          health: "healthy",
          env: { SMTP_FROM: "old", HAND_SET: "kept" },
          backups: [],
          restarts: 0,
        });
      });
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      expect(subs(lc.calls()).filter((s) => s === "install")).toEqual([]);
      expect(subs(lc.calls()).filter((s) => s === "update")).toEqual(["update"]);
      expect(r.outputs.deployAction).toBe("adopted");
      expect(r.outputs.appId).toBe("hand-installed-1");
      const app = lc.app()!;
      expect(app.manifest.version).toBe("0.1.9");
      expect(app.env.SMTP_FROM).toBe("Community Rule <hello@communityrule.info>");
      expect(app.env.HAND_SET).toBe("kept"); // not ours: never unset
    } finally {
      await lc.close();
    }
  });

  it("refuses to touch another app at the location (different manifest id)", async () => {
    const lc = await Lifecycle.create({ stack: "staging" });
    try {
      lc.mutateStandin((s) => {
        s.apps.push({
          id: "wordpress-1",
          fqdn: "staging.communityrule.info",
          manifest: { id: "org.wordpress.cloudronapp", version: "3.0.0", dockerImage: "cloudron/wordpress:3.0.0" },
          installationState: "installed",
          runState: "running",
          health: "healthy",
          env: {},
          backups: [],
          restarts: 0,
        });
      });
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.errors.join("\n")).toContain("occupied by another app (manifest id org.wordpress.cloudronapp");
      expect(lc.mutatingCallsSince(0)).toEqual([]);
      expect(lc.standin().apps[0].manifest.dockerImage).toBe("cloudron/wordpress:3.0.0");
    } finally {
      await lc.close();
    }
  });
});

describe("config errors", () => {
  it("a config error registers nothing and calls nothing", async () => {
    const lc = await Lifecycle.create({ stack: "staging" });
    try {
      delete lc.config.location;
      lc.config.healthTimeoutSeconds = -5;
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.registered).toBe(0);
      expect(r.steps).toEqual([]);
      const message = r.errors.join("\n");
      expect(message).toContain("communityrule:location: is required");
      expect(message).toContain("communityrule:healthTimeoutSeconds: must be between 10 and 3600 seconds");
      expect(message).not.toMatch(/\n\s+at /); // no stack trace
      expect(lc.calls()).toEqual([]);
      expect(lc.builds()).toEqual([]);
    } finally {
      await lc.close();
    }
  });
});

describe("production protection", () => {
  it("production's app and seed are protected: destroy deletes nothing", async () => {
    const lc = await Lifecycle.create({ stack: "production", manifestVersion: "0.1.9" });
    try {
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      const protectedNames = lc.pulumiState().resources.filter((x) => x.protect).map((x) => x.name).sort();
      expect(protectedNames).toEqual(["app-deploy", "seed"]);
      const before = lc.calls().length;
      const d = await lc.destroy();
      expect(d.ok).toBe(false);
      expect(d.errors.join("\n")).toContain("protected");
      expect(lc.mutatingCallsSince(before)).toEqual([]);
      expect(lc.app()).toBeDefined();
    } finally {
      await lc.close();
    }
  });
});
