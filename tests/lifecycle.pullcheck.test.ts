/**
 * Pull verification in the program (issue 5): an existing tag is checked before any resource
 * registers (preview and up), a fresh build is checked right after its push, and either failure
 * stops the run before any mutating Cloudron API call.
 */
import { describe, expect, it } from "vitest";
import { Lifecycle } from "../lifecycle/runner";

describe("pull verification", () => {
  it("a rollback to a tag that does not exist fails in preview and in up, before anything happens", async () => {
    const lc = await Lifecycle.create({ stack: "staging", config: { build: false, imageTag: "0.1.7" } });
    try {
      for (const r of [await lc.preview(), await lc.up()]) {
        expect(r.ok).toBe(false);
        expect(r.registered).toBe(0);
        const err = r.errors.join("\n");
        expect(err).toContain("communityrule:imageTag: build is false");
        expect(err).toMatch(/0\.1\.7 not found|tag-missing|not found/);
      }
      expect(lc.mutatingCallsSince(0)).toEqual([]);
    } finally {
      await lc.close();
    }
  });

  it("an image pushed for the wrong platform is caught by the check after the push, before Cloudron", async () => {
    const lc = await Lifecycle.create({ stack: "staging" });
    try {
      lc.forceBuildPlatform = "linux/arm64"; // what an unpinned build on an arm64 laptop would push
      const r = await lc.up();
      expect(r.ok).toBe(false);
      const err = r.errors.join("\n");
      expect(err).toContain("image-pull-check");
      expect(err).toMatch(/no-amd64|linux\/amd64/);
      expect(lc.mutatingCallsSince(0)).toEqual([]);
      lc.forceBuildPlatform = undefined;
      lc.setManifestVersion("0.1.10"); // a new tag: the next build pushes amd64
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(lc.app()!.manifest.version).toBe("0.1.10");
    } finally {
      await lc.close();
    }
  });
});
