/**
 * The program as Pulumi's language host loads it with this project's settings: Pulumi.yaml says
 * `typescript: false`, so the host registers no TypeScript loader and requires package.json `main`
 * (build/index.js, compiled by `npm run build`). The lifecycle host does exactly that.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { Lifecycle, PROJECT_DIR } from "../lifecycle/runner";

describe("language-host loading", () => {
  it("the project tells the language host to run the compiled entry, without TypeScript", () => {
    const pulumiYaml = fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8");
    expect(pulumiYaml).toMatch(/\n {4}typescript: false\n/);
    const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")) as { main: string; scripts: Record<string, string> };
    expect(pkg.main).toBe("build/index.js");
    // npm ci runs `prepare`, so a fresh clone has the compiled program before the first up.
    expect(pkg.scripts.prepare).toBe("npm run build");
  });

  it("loads package.json main with plain require (no .ts hook) and deploys", async () => {
    const lc = await Lifecycle.create({ stack: "staging" });
    try {
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      expect(r.loadedEntry).toBe(path.join(PROJECT_DIR, "build", "index.js"));
      expect(r.typescriptHook).toBe(false);
      expect(r.outputs.deployAction).toBe("installed");
      expect(lc.calls().filter((c) => c.operation === "installApp").map((c) => c.status)).toEqual([202]);
    } finally {
      await lc.close();
    }
  });
});
