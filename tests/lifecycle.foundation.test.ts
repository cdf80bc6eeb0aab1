/**
 * Foundation scenarios, played through the offline lifecycle runner: the real
 * program, loaded with ts-node (CommonJS) in a child process, against the Cloudron API stand-in,
 * a real OCI registry and a loopback app. Assertions read the stand-in's call log (method, path,
 * operation, request body) and its server state.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle, type ApiCall, type LifecycleSnapshot } from "../engine/runner";

const ops = (calls: ApiCall[]) => calls.map((c) => c.operation);
const body = (c: ApiCall) => c.requestBody as Record<string, unknown>;
const envOf = (c: ApiCall) => body(c).env as Record<string, string>;
const SEED_ARGV = [
  "exec",
  "--app",
  "staging.communityrule.info",
  "--",
  "sh",
  "-c",
  'node prisma/seed.bundle.cjs; echo "__SEED_EXIT__:$?"',
];

// One staging environment for the file: the lifecycle plays on it in sequence from nothing; the
// staging rows after it start again from that empty point (`calls()` and `builds()` count from the
// restore). Production's protection on destroy is in lifecycle.release.test.ts, from its saved
// production install; the operator-login path (no cloudronToken) is lifecycle.engine.test.ts's,
// with a shell token exported that must not win.
let lc: Lifecycle;
let empty: LifecycleSnapshot;
beforeAll(async () => {
  lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9" });
  // One key more than the stack file, for the env scenario below to remove.
  lc.config.env = { ...(lc.config.env as Record<string, string>), RETIRED_FLAG: "1" };
  empty = lc.save();
});
afterAll(async () => lc?.close());

describe("staging lifecycle: install, no-op, release, env change, reseed, rotation, destroy", () => {
  let firstSecret = "";

  it(
    "first up installs in one task with the whole env (no" + " configure/env), seeds once, passes the health gate",
    async () => {
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      expect(r.ok).toBe(true);
      const calls = lc.calls();
      // The ownership tags follow the install: a tags call is no task, so it costs no restart (below).
      expect(ops(lc.mutatingCallsSince(0))).toEqual(["installApp", "setAppTags", "standinExec"]);
      const install = calls.find((c) => c.operation === "installApp")!;
      expect(install).toMatchObject({ method: "POST", path: "/api/v1/apps", status: 202 });
      expect(body(install)).toMatchObject({ subdomain: "staging", domain: "communityrule.info" });
      const manifest = body(install).manifest as Record<string, unknown>;
      expect(manifest).toMatchObject({ id: "com.medlab.communityrule", version: "0.1.9" });
      expect(manifest.dockerImage).toMatch(
        new RegExp(`^${lc.registryHost}/communityrule/community-rule@sha256:[0-9a-f]{64}$`),
      );
      // The first boot already has SESSION_SECRET and the config env.
      expect(envOf(install)).toMatchObject({
        SMTP_FROM: "Community Rule <hello@communityrule.info>",
        UPLOAD_ROOT: "/app/data/uploads",
        SESSION_SECRET: expect.stringMatching(/^[A-Za-z0-9]{48}$/),
      });
      const app = lc.app()!;
      expect(app.env).toEqual(envOf(install));
      expect(app.manifest.version).toBe("0.1.9");
      expect(app.restarts).toBe(1); // one start: no env restart after the install, none for the tags
      expect(app.tags).toEqual([
        "communityrule-stack:staging",
        expect.stringMatching(/^communityrule-owner:[0-9a-f]{16}$/),
      ]);
      expect(app.env).not.toHaveProperty("COMMUNITYRULE_DEPLOYMENT");
      firstSecret = app.env.SESSION_SECRET;
      expect(lc.seedRuns()).toBe(1);
      expect(lc.execCalls().map((c) => c.argv)).toEqual([SEED_ARGV]);
      expect(lc.builds()).toHaveLength(1);
      expect(lc.builds()[0].platform).toBe("linux/amd64");
      expect(r.outputs.deployAction).toBe("installed");
      expect(r.outputs.appId).toBe(app.id);
      expect(String(r.outputs.smokeReport)).toContain("5 passed, 0 failed");
      expect(JSON.parse(String(r.outputs.healthCheck)).healthy).toBe(true);
      // Bearer header only, every call authenticated, nothing off the spec's shapes.
      expect(calls.filter((c) => !c.authenticated || "access_token" in c.query)).toEqual([]);
      expect(lc.standin().violations).toEqual([]);
    },
  );

  it("second up with nothing changed makes zero mutating API calls and no build", async () => {
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.ok).toBe(true);
    expect(lc.mutatingCallsSince(before)).toEqual([]);
    expect(r.steps.filter((s) => s.op !== "same")).toEqual([]);
    expect(lc.builds()).toHaveLength(1);
    expect(lc.app()!.restarts).toBe(1);
  });

  it(
    "a new manifest version: one update, never skipBackup, the" +
      " pre-update backup's id reported; no reseed, same secret",
    async () => {
      lc.setManifestVersion("0.1.10");
      const before = lc.calls().length;
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      const mutating = lc.mutatingCallsSince(before);
      // The update, then the protection of its pre-update backup (the rollback point).
      expect(ops(mutating)).toEqual(["updateApp", "updateAppBackup"]);
      const update = body(mutating[0]);
      expect(update.skipBackup).not.toBe(true);
      expect(update.manifest).toMatchObject({
        id: "com.medlab.communityrule",
        version: "0.1.10",
        dockerImage: expect.stringContaining("@sha256:"),
      });
      expect(lc.builds().map((b) => b.imageName)).toEqual([
        expect.stringMatching(/:0\.1\.9$/),
        expect.stringMatching(/:0\.1\.10$/),
      ]);
      const app = lc.app()!;
      expect(app.manifest.version).toBe("0.1.10");
      expect(app.env.SESSION_SECRET).toBe(firstSecret);
      expect(app.backups).toHaveLength(1);
      expect(app.backups[0].packageVersion).toBe("0.1.9");
      expect(r.outputs.preUpdateBackupId).toBe(app.backups[0].id);
      expect(r.outputs.deployAction).toBe("updated");
      expect(lc.seedRuns()).toBe(1);
      expect(app.restarts).toBe(2);
    },
  );

  it("adding, changing and removing env keys in one up: exactly one configure/env call and one restart", async () => {
    const env = { ...(lc.config.env as Record<string, string>) };
    env.SMTP_FROM = `Community Rule "Staging" <staging@communityrule.info>`;
    delete env.RETIRED_FLAG;
    env.FEATURE_FLAGS = "a=b=c";
    lc.config.env = env;
    const before = lc.calls().length;
    const restarts = lc.app()!.restarts;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    const mutating = lc.mutatingCallsSince(before);
    expect(ops(mutating)).toEqual(["setAppEnv"]);
    expect(mutating[0].path).toBe(`/api/v1/apps/${lc.app()!.id}/configure/env`);
    const sent = envOf(mutating[0]);
    expect(sent).toMatchObject({
      SMTP_FROM: `Community Rule "Staging" <staging@communityrule.info>`,
      FEATURE_FLAGS: "a=b=c",
      SESSION_SECRET: firstSecret,
    });
    expect(sent).not.toHaveProperty("RETIRED_FLAG");
    const app = lc.app()!;
    expect(app.env).toEqual(sent);
    expect(app.restarts).toBe(restarts + 1);
    expect(lc.seedRuns()).toBe(1);
  });

  it("changing seedRun runs the seed again, and only the seed", async () => {
    lc.config.seedRun = "2";
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(ops(lc.mutatingCallsSince(before))).toEqual(["standinExec"]);
    expect(lc.seedRuns()).toBe(2);
  });

  it(
    "changing sessionSecretRotation sends a new SESSION_SECRET" +
      " in one configure/env call, and says users are logged out",
    async () => {
      lc.config.sessionSecretRotation = "2026-11-rotation";
      const before = lc.calls().length;
      const envBefore = { ...lc.app()!.env };
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      const mutating = lc.mutatingCallsSince(before);
      expect(ops(mutating)).toEqual(["setAppEnv"]);
      const secret = lc.app()!.env.SESSION_SECRET;
      expect(secret).toMatch(/^[A-Za-z0-9]{48}$/);
      expect(secret).not.toBe(firstSecret);
      // Only the secret changed.
      expect({ ...lc.app()!.env, SESSION_SECRET: "x" }).toEqual({ ...envBefore, SESSION_SECRET: "x" });
      expect((r as unknown as { log: string }).log).toContain("every user is logged out");
      expect(lc.seedRuns()).toBe(2);
    },
  );

  it("destroy on staging uninstalls the app it installed", async () => {
    const id = lc.app()!.id;
    const before = lc.calls().length;
    const r = await lc.destroy();
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    const mutating = lc.mutatingCallsSince(before);
    expect(ops(mutating)).toEqual(["uninstallApp"]);
    expect(mutating[0].path).toBe(`/api/v1/apps/${id}/uninstall`);
    expect(lc.app()).toBeUndefined();
  });
});

describe("adoption and refusal", () => {
  it("adopts a staging app installed by hand (same manifest id): update and env, keys set by hand kept", async () => {
    lc.restore(empty);
    lc.api.addApp({
      id: "hand-installed-1",
      fqdn: "staging.communityrule.info",
      manifest: {
        id: "com.medlab.communityrule",
        version: "0.1.8",
        dockerImage: "git.medlab.host/communityrule/community-rule:0.1.8",
      },
      env: { SMTP_FROM: "old", HAND_SET: "kept" },
    });
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    const mutating = ops(lc.mutatingCallsSince(0));
    expect(mutating.filter((o) => o === "installApp")).toEqual([]);
    expect(mutating.filter((o) => o === "updateApp")).toEqual(["updateApp"]);
    expect(mutating.filter((o) => o === "setAppEnv")).toEqual(["setAppEnv"]);
    expect(r.outputs.deployAction).toBe("adopted");
    expect(r.outputs.appId).toBe("hand-installed-1");
    const app = lc.app()!;
    expect(app.manifest.version).toBe("0.1.9");
    expect(app.env.SMTP_FROM).toBe("Community Rule <hello@communityrule.info>");
    expect(app.env.HAND_SET).toBe("kept"); // not ours: never removed
    expect(app.env.SESSION_SECRET).toMatch(/^[A-Za-z0-9]{48}$/);
  });

  it("refuses to touch another app at the location (different manifest id)", async () => {
    lc.restore(empty);
    lc.api.addApp({
      id: "wordpress-1",
      fqdn: "staging.communityrule.info",
      manifest: { id: "org.wordpress.cloudronapp", version: "3.0.0", dockerImage: "cloudron/wordpress:3.0.0" },
      env: { WP_SECRET: "wordpress-own-secret-value" },
    });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    const err = r.errors.join("\n");
    expect(err).toContain("org.wordpress.cloudronapp");
    expect(err).toContain("staging.communityrule.info");
    // Another app's env came back in GET /apps; none of it may reach a message.
    expect(`${err}\n${(r as unknown as { log: string }).log}`).not.toContain("wordpress-own-secret-value");
    expect(lc.mutatingCallsSince(0)).toEqual([]);
    expect(lc.standin().apps[0].manifest.dockerImage).toBe("cloudron/wordpress:3.0.0");
  });
});

describe("config errors", () => {
  it(
    "a config error registers nothing and calls nothing:" + " the CLI's config step first, then the program's rules",
    async () => {
      lc.restore(empty);
      delete lc.config.location;
      lc.config.healthTimeoutSeconds = -5;
      const cli = await lc.up();
      expect(cli.ok).toBe(false);
      expect(cli.registered).toBe(0);
      expect(cli.steps).toEqual([]);
      // Pulumi.yaml declares location without a default: the CLI refuses before the program runs.
      expect(cli.errors).toEqual([
        "validating stack config: Stack 'staging' is missing configuration value 'location'",
      ]);

      lc.config.location = "staging.communityrule.info";
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.registered).toBe(0);
      expect(r.steps).toEqual([]);
      const message = r.errors.join("\n");
      // -5 is an integer, so the CLI passes it on; the program's own range check refuses it.
      expect(message).toMatch(/communityrule:healthTimeoutSeconds: must be between \d+ and 3600 seconds/);
      expect(message).not.toMatch(/\n\s+at /); // no stack trace
      expect(lc.calls()).toEqual([]);
      expect(lc.builds()).toEqual([]);
    },
  );
});
