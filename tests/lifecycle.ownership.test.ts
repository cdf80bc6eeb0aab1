/**
 * Ownership, through the real program on the stand-in: the stack marks its app with Cloudron tags
 * (no restart); a destroy never uninstalls an app id other than the recorded one, nor an app now
 * owned by another deploy resource, and a URN change (a renamed component, no alias) does not
 * uninstall the app the new resources just took over; another stack's app is adopted only with
 * communityrule:takeOverFrom; an app removed or moved by hand makes the next `up` act. And drift:
 * after a dashboard edit of managed env keys, plain and secret, `npm run drift` (a real child process
 * reading the stack outputs through the `pulumi` stand-in) names the keys and never a secret value;
 * the next `up` that applies env corrects them in one configure/env call, and drift is clean again.
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runTool } from "../engine/fakeApp";
import { Lifecycle, type LifecycleSnapshot } from "../engine/runner";
import { ownerTag, ownershipTags } from "../steps/app/ownership";

// Calls since the row's start (the saved install; calls() counts from the restore).
const uninstalls = (lc: Lifecycle) => lc.calls().filter((c) => c.operation === "uninstallApp");
const ops = (lc: Lifecycle, from = 0) => lc.mutatingCallsSince(from).map((c) => c.operation);

/** The deploy resource's owner string, as the component derives it from its URN. */
function ownerOf(lc: Lifecycle): string {
  const component = lc.pulumiState().resources.find((r) => r.type === "communityrule:cloudron:App");
  if (!component) throw new Error("no communityrule:cloudron:App in state");
  return `${component.urn}/${component.name}-deploy`;
}

// One staging environment, installed once; every row starts from that saved install (the takeover
// row too: production shares its server).
let lc: Lifecycle;
let installed: LifecycleSnapshot;
beforeAll(async () => {
  lc = await Lifecycle.create({ stack: "staging", config: { smoke: false } });
  expect((await lc.up()).errors).toEqual([]);
  expect(
    lc
      .calls()
      .filter((c) => c.operation === "installApp")
      .map((c) => c.status),
  ).toEqual([202]);
  installed = lc.save();
});
afterAll(async () => lc?.close());

describe("ownership", () => {
  beforeEach(() => lc.restore(installed));

  it("the install marks the app with the stack's tags and no env var; the marks cost no restart", () => {
    const app = lc.app()!;
    expect(app.tags).toEqual(ownershipTags("staging", ownerOf(lc)));
    expect(app.env).not.toHaveProperty("COMMUNITYRULE_DEPLOYMENT");
    expect(lc.standin().restartLog.map((e) => e.reason)).toEqual(["install"]);
  });

  it("an app marked the old way (env var) gets its tags and loses the env var in one env apply", async () => {
    const owner = ownerOf(lc);
    lc.mutateApp((live) => {
      live.tags = [];
      live.env.COMMUNITYRULE_DEPLOYMENT = owner;
    });
    // State as the version before tags wrote it: the deploy request had no stack, the env request an owner.
    const state = lc.pulumiState() as { resources: Array<{ name: string; inputs: Record<string, unknown> }> };
    for (const res of state.resources) {
      if (res.name === "app-deploy") res.inputs.stdin = String(res.inputs.stdin).replace('  "stack": "staging",\n', "");
      if (res.name === "app-env-apply")
        res.inputs.stdin = String(res.inputs.stdin).replace(
          /("appId": "[^"]+",\n)/,
          `$1  "owner": ${JSON.stringify(owner)},\n`,
        );
    }
    fs.writeFileSync(lc.pulumiStatePath, JSON.stringify(state, null, 2));
    const restarts = lc.app()!.restarts;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(ops(lc)).toEqual(["setAppTags", "setAppEnv"]);
    const app = lc.app()!;
    expect(app.env).not.toHaveProperty("COMMUNITYRULE_DEPLOYMENT");
    expect(app.tags).toEqual(ownershipTags("staging", owner));
    // One restart: the env apply's; the tags call adds none.
    expect(app.restarts).toBe(restarts + 1);
    expect((await lc.up()).steps.filter((s) => s.op !== "same")).toEqual([]);
  });

  it(
    "a URN change (the app component renamed, no alias)" + " deletes the old resources without uninstalling the app",
    async () => {
      const app = lc.app()!;
      const owner = ownerOf(lc);
      expect(owner).toMatch(/communityrule:cloudron:App::app\/app-deploy$/);
      // Rewrite state and server as if the previous program had called the component "oldapp":
      // its URN, its children's names and URNs, and the owner tag it wrote to the app.
      const oldOwner = owner.replace(/App::app\/app-deploy$/, "App::oldapp/oldapp-deploy");
      const text = fs
        .readFileSync(lc.pulumiStatePath, "utf8")
        .split(owner)
        .join(oldOwner)
        .replace(/(communityrule:cloudron:App)::app"/g, '$1::oldapp"')
        .replace(/::app-/g, "::oldapp-")
        .replace(/"name": "app-/g, '"name": "oldapp-')
        .replace(/"name": "app"/g, '"name": "oldapp"');
      fs.writeFileSync(lc.pulumiStatePath, text);
      expect(
        lc
          .pulumiState()
          .resources.filter((r) => r.name.startsWith("oldapp-"))
          .map((r) => r.name),
      ).toContain("oldapp-deploy");
      lc.mutateApp((live) => (live.tags = ownershipTags("staging", oldOwner)));

      const r = await lc.up();
      expect(r.errors).toEqual([]);
      const deleted = r.steps.filter((s) => s.op === "delete").map((s) => s.name);
      expect(deleted).toContain("oldapp-deploy");
      expect(uninstalls(lc)).toEqual([]);
      // Still the one install (beforeAll): none in this up.
      expect(lc.calls().filter((c) => c.operation === "installApp")).toEqual([]);
      expect(lc.app()?.id).toBe(app.id);
      // The new resource adopted the app and wrote its own owner tag.
      expect(lc.app()!.tags).toEqual(ownershipTags("staging", owner));
    },
  );

  it("destroy refuses to uninstall an app at the location that is not the one it installed", async () => {
    // Someone uninstalled our app and installed another one at the same location.
    lc.mutateStandin((s) => (s.apps = []));
    const other = lc.api.addApp({
      id: "someone-elses-app",
      fqdn: "staging.communityrule.info",
      manifest: { id: "com.medlab.communityrule", version: "0.1.9", dockerImage: "by-hand:0.1.9" },
    });
    await lc.destroy();
    expect(uninstalls(lc).filter((c) => c.path.includes(other.id))).toEqual([]);
    expect(lc.app()?.id).toBe("someone-elses-app");
  });

  it("destroy leaves the app installed when it now carries another deploy resource's owner tag", async () => {
    const app = lc.app()!;
    const other = "urn:pulumi:other::communityrule::communityrule:cloudron:App::app/app-deploy";
    lc.mutateApp((live) => (live.tags = ownershipTags("other", other)));
    const r = await lc.destroy();
    expect(r.errors).toEqual([]);
    expect((r as unknown as { log: string }).log).toContain(`owned by stack other, ${ownerTag(other)}`);
    expect((r as unknown as { log: string }).log).toContain("Leaving the app installed");
    expect(uninstalls(lc)).toEqual([]);
    expect(lc.app()?.id).toBe(app.id);
  });

  it(
    "an app removed by hand: the next up installs it again," +
      " applies env, passes the gate and seeds the new database",
    async () => {
      const before = lc.app()!;
      lc.mutateStandin((s) => (s.apps = []));
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      const ran = r.steps.filter((s) => s.op !== "same").map((s) => s.name);
      expect(ran).toEqual(expect.arrayContaining(["app-presence", "app-deploy", "app-env-apply", "health", "seed"]));
      expect(ops(lc)).toEqual(["installApp", "setAppTags", "standinExec"]);
      const now = lc.app()!;
      expect(now.id).not.toBe(before.id);
      expect(now.seedRuns).toBe(1);
      expect(r.outputs.appId).toBe(now.id);
      // And the up after it is a no-op again.
      const again = await lc.up();
      expect(again.steps.filter((s) => s.op !== "same")).toEqual([]);
    },
  );

  it("an app moved by hand: the next up fails naming where it went, and installs no second copy", async () => {
    const app = lc.app()!;
    lc.mutateApp((live) => {
      live.fqdn = "moved.communityrule.info";
      live.subdomain = "moved";
    });
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(r.errors.join("\n")).toContain(
      `the app this stack deployed (app ${app.id}) now serves moved.communityrule.info,` +
        ` not staging.communityrule.info; refusing to install a second copy`,
    );
    expect(ops(lc)).toEqual([]);
  });
});

describe("taking over another stack's app", () => {
  let staging: Lifecycle;
  let production: Lifecycle | undefined;
  beforeAll(() => {
    staging = lc;
    staging.restore(installed);
  });
  // Before the staging environment's own close (the file's afterAll): production shares its server.
  afterAll(async () => production?.close());

  it(
    "production refuses staging's app without communityrule:takeOverFrom;" +
      " with it, adopts and re-tags it without a restart",
    async () => {
      const app = staging.app()!;
      // The apex cutover's shape: production pointed at the location staging's app serves.
      production = await Lifecycle.create({
        stack: "production",
        shareCloudronWith: staging,
        config: { location: "staging.communityrule.info", smoke: false, autoRollback: false },
      });
      const refused = await production.up();
      expect(refused.ok).toBe(false);
      expect(refused.errors.join("\n")).toContain(
        `staging.communityrule.info (app ${app.id}) is deployed by stack "staging"` +
          ` (Cloudron tag communityrule-stack:staging), not by "production"`,
      );
      expect(refused.errors.join("\n")).toContain("pulumi config set communityrule:takeOverFrom staging -s production");
      expect(staging.app()!.tags).toEqual(ownershipTags("staging", ownerOf(staging)));

      production.config.takeOverFrom = "staging";
      // Production promotes what staging released; its registry gets the same release.
      await production.releaseOnStaging();
      const restarts = staging.app()!.restarts;
      const from = production.calls().length;
      const r = await production.up();
      expect(r.errors).toEqual([]);
      expect(r.outputs.deployAction).toBe("adopted");
      expect(r.outputs.appId).toBe(app.id);
      const calls = production.mutatingCallsSince(from).map((c) => c.operation);
      expect(calls[0]).toBe("setAppTags");
      expect(staging.app()!.tags).toEqual(ownershipTags("production", ownerOf(production)));
      // Production's own image and env are applied (an update and an env task, a restart each); the tags add none.
      const tasks = calls.filter((op) => op === "updateApp" || op === "setAppEnv");
      expect(staging.app()!.restarts - restarts).toBe(tasks.length);
    },
  );
});

describe("drift after a dashboard edit", () => {
  beforeEach(() => lc.restore(installed));
  const drift = () =>
    runTool("commands/drift/main.ts", [lc.stack], {
      env: { ...lc.extraEnv, CLOUDRON_TOKEN: lc.token },
      timeoutMs: 60_000,
    });

  it("a freshly deployed stack has no drift (exit 0)", async () => {
    const r = await drift();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  const editedSecret = `edited-in-dashboard-${Date.now()}`;
  /** A dashboard edit: a managed plain key, the managed secret, and a key of the editor's own. */
  const editInDashboard = () =>
    lc.mutateApp((app) => {
      app.env.SMTP_FROM = "Someone <edited@example.org>";
      app.env.SESSION_SECRET = editedSecret;
      app.env.HAND_SET_KEY = "set by hand";
    });

  it(
    "an edited plain key and an edited SESSION_SECRET are reported (exit" +
      " 1), the secret as changed only; a hand-set key is information",
    async () => {
      const deployedSecret = lc.app()!.env.SESSION_SECRET;
      editInDashboard();
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
      const deployedSecret = lc.app()!.env.SESSION_SECRET;
      editInDashboard();
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
