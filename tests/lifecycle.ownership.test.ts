/**
 * Uninstall acts only on the app this stack installed or adopted (issue 12 item 10): a destroy
 * never uninstalls an app id other than the recorded one, nor an app now owned by another deploy
 * resource (ownership marker COMMUNITYRULE_DEPLOYMENT), and a URN change (a renamed component, no
 * alias) does not uninstall the app the new resources just took over.
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Lifecycle, type LifecycleSnapshot } from "../lifecycle/runner";

// Calls since the row's start (the saved install; calls() counts from the restore).
const uninstalls = (lc: Lifecycle) => lc.calls().filter((c) => c.operation === "uninstallApp");

describe("uninstall ownership", () => {
  // One environment, installed once; every row starts from that saved install.
  let lc: Lifecycle;
  let installed: LifecycleSnapshot;
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging", config: { smoke: false } });
    expect((await lc.up()).errors).toEqual([]);
    expect(lc.calls().filter((c) => c.operation === "installApp").map((c) => c.status)).toEqual([202]);
    installed = lc.save();
  });
  afterAll(async () => lc?.close());
  beforeEach(() => lc.restore(installed));

  it("a URN change (the app component renamed, no alias) deletes the old resources without uninstalling the app", async () => {
    const app = lc.app()!;
    const owner = app.env.COMMUNITYRULE_DEPLOYMENT;
    expect(owner).toMatch(/communityrule:cloudron:App::app\/app-deploy$/);
    // Rewrite state and server as if the previous program had called the component "oldapp":
    // its URN, its children's names and URNs, and the ownership marker it wrote to the app.
    const oldOwner = owner.replace(/App::app\/app-deploy$/, "App::oldapp/oldapp-deploy");
    const text = fs
      .readFileSync(lc.pulumiStatePath, "utf8")
      .split(owner)
      .join(oldOwner)
      .replace(/(communityrule:cloudron:App)::app"/g, '$1::oldapp"')
      .replace(/::app-/g, "::oldapp-")
      .replace(/"name": "app-/g, '"name": "oldapp-');
    fs.writeFileSync(lc.pulumiStatePath, text);
    expect(lc.pulumiState().resources.filter((r) => r.name.startsWith("oldapp-")).map((r) => r.name)).toContain("oldapp-deploy");
    lc.mutateApp((live) => (live.env.COMMUNITYRULE_DEPLOYMENT = oldOwner));

    const r = await lc.up();
    expect(r.errors).toEqual([]);
    const deleted = r.steps.filter((s) => s.op === "delete").map((s) => s.name);
    expect(deleted).toContain("oldapp-deploy");
    expect(uninstalls(lc)).toEqual([]);
    // Still the one install (beforeAll): none in this up.
    expect(lc.calls().filter((c) => c.operation === "installApp")).toEqual([]);
    expect(lc.app()?.id).toBe(app.id);
    // The new resource adopted the app and wrote its own marker.
    expect(lc.app()!.env.COMMUNITYRULE_DEPLOYMENT).toBe(owner);
  });

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

  it("destroy leaves the app installed when it now carries another deploy resource's ownership marker", async () => {
    const app = lc.app()!;
    expect(app.env.COMMUNITYRULE_DEPLOYMENT, "the stack marks the app it owns").toBeDefined();
    lc.mutateApp((live) => (live.env.COMMUNITYRULE_DEPLOYMENT = "urn:pulumi:other::communityrule::communityrule:cloudron:App::app/app-deploy"));
    const r = await lc.destroy();
    expect(r.errors).toEqual([]);
    expect((r as unknown as { log: string }).log).toContain("Leaving the app installed");
    expect(uninstalls(lc)).toEqual([]);
    expect(lc.app()?.id).toBe(app.id);
  });
});
