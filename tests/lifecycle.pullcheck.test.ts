/**
 * Pull verification in the program: an existing tag is checked before any resource
 * registers (preview and up), a fresh build is checked right after its push, and either failure
 * stops the run before any mutating Cloudron API call.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Lifecycle, type LifecycleSnapshot } from "../engine/runner";

describe("pull verification", () => {
  // One environment, each row from its saved empty point. Images pushed stay in the registry across
  // a restore, so the missing-tag row runs first, on a registry nothing was pushed to, and no row
  // ever pushes its tag (0.1.7).
  let lc: Lifecycle;
  let empty: LifecycleSnapshot;
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging" });
    empty = lc.save();
  });
  afterAll(async () => lc?.close());
  beforeEach(() => lc.restore(empty));

  it("a rollback to a tag that does not exist fails in preview and in up, before anything happens", async () => {
    expect(lc.runs).toEqual([]); // the registry is as created: empty
    lc.config.build = false;
    // 0.1.8: at the seed floor, so it is the pull check that refuses it (a lower one is refused before).
    lc.config.imageTag = "0.1.8";
    for (const r of [await lc.preview(), await lc.up()]) {
      expect(r.ok).toBe(false);
      expect(r.registered).toBe(0);
      const err = r.errors.join("\n");
      expect(err).toContain("communityrule:imageTag: build is false");
      expect(err).toMatch(/0\.1\.8 not found|tag-missing|not found/);
    }
    expect(lc.mutatingCallsSince(0)).toEqual([]);
  });

  it("an image pushed for the wrong platform is caught by the check after the push, before Cloudron", async () => {
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
  });
});
