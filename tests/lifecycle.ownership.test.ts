/**
 * Uninstall acts only on the app this stack installed or adopted (issue 12 item 10): a destroy
 * refuses an app id that is not the recorded one, or an app now owned by another deploy resource,
 * and a URN change (a renamed deploy resource, no alias) does not uninstall the app the new
 * resource just took over.
 */
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { Lifecycle } from "../lifecycle/runner";

const uninstalls = (lc: Lifecycle) => lc.calls().filter((c) => c.operation === "uninstallApp");

describe("uninstall ownership", () => {
  it("a URN change (app-deploy renamed, no alias) deletes the old resource without uninstalling the app", async () => {
    const lc = await Lifecycle.create({ stack: "staging", config: { smoke: false } });
    try {
      expect((await lc.up()).errors).toEqual([]);
      const id = lc.app()!.id;
      // Rewrite the state as if the previous program had named the resource differently.
      const state = JSON.parse(fs.readFileSync(lc.pulumiStatePath, "utf8")) as { resources: Array<{ urn: string; name: string }> };
      const old = state.resources.find((r) => r.name === "app-deploy")!;
      old.urn = old.urn.replace(/::app-deploy$/, "::app-deploy-before-refactor");
      old.name = "app-deploy-before-refactor";
      fs.writeFileSync(lc.pulumiStatePath, JSON.stringify(state, null, 2));

      const r = await lc.up();
      const deleted = r.steps.filter((s) => s.op === "delete").map((s) => s.name);
      expect(deleted).toContain("app-deploy-before-refactor");
      expect(uninstalls(lc)).toEqual([]);
      expect(lc.app()?.id).toBe(id);
      expect(r.errors).toEqual([]);
    } finally {
      await lc.close();
    }
  });

  it("destroy refuses to uninstall an app at the location that is not the one it installed", async () => {
    const lc = await Lifecycle.create({ stack: "staging", config: { smoke: false } });
    try {
      expect((await lc.up()).errors).toEqual([]);
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
    } finally {
      await lc.close();
    }
  });

  it("destroy refuses when the recorded app now carries another deploy resource's ownership marker", async () => {
    const lc = await Lifecycle.create({ stack: "staging", config: { smoke: false } });
    try {
      expect((await lc.up()).errors).toEqual([]);
      const app = lc.app()!;
      const marker = Object.keys(app.env).find((k) => k === "COMMUNITYRULE_DEPLOYMENT");
      expect(marker, "the stack marks the app it owns").toBeDefined();
      app.env.COMMUNITYRULE_DEPLOYMENT = "urn:pulumi:other::communityrule::communityrule:cloudron:App::app/app-deploy";
      const r = await lc.destroy();
      expect(r.ok).toBe(false);
      expect(r.errors.join("\n")).toMatch(/refus/i);
      expect(uninstalls(lc)).toEqual([]);
      expect(lc.app()?.id).toBe(app.id);
    } finally {
      await lc.close();
    }
  });
});
