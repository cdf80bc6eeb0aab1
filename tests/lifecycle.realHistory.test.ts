/**
 * Releases on CommunityRule's real history, end to end: the app checkout is a clone of
 * shared/fixtures/community-rule-history.bundle (no tags; releases are manifest bumps), deployed
 * by the real program through the lifecycle runner against the Cloudron stand-in and a real
 * registry. What runs is read from the app (its release record in the notes, or nothing for a
 * hand install) before anything registers. Staging's releases are here; production's, and its
 * promotion of what staging verified, are in lifecycle.realHistory.production.test.ts (the two run in
 * parallel workers).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle } from "../engine/runner";
import { readReleaseRecord } from "../release/releaseRecord";
import { commitRelease, gitIn, historyCheckout } from "./releaseCheckout";

const logOf = (r: unknown) => (r as { log: string }).log;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cr-lifecycle-history-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("staging on the real history: adoption, immutable release tags, the seed following its content", () => {
  let lc: Lifecycle;
  let appDir: string;
  beforeAll(async () => {
    appDir = path.join(tmp, "staging-app");
    historyCheckout(appDir);
    lc = await Lifecycle.create({ stack: "staging", config: { appDir } });
  });
  afterAll(async () => lc?.close());

  it(
    "adopting a hand-installed 0.1.9 reports no new migrations," +
      " derived from the version it runs, and records the release",
    async () => {
      lc.api.addApp({
        id: "hand-installed-staging",
        fqdn: "staging.communityrule.info",
        manifest: {
          id: "com.medlab.communityrule",
          version: "0.1.9",
          dockerImage: `${String(lc.config.imageRepository)}:0.1.9`,
        },
        env: {},
      });
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      const log = logOf(r);
      expect(log).toContain(
        "nothing recorded on staging.communityrule.info (installed by hand, or before this program recorded releases)",
      );
      expect(log).toContain("commit aad3f13 (where CloudronManifest.json took 0.1.9) carries 8 migrations");
      expect(log).toContain("0.1.9 applies no new migration");
      expect(log).not.toContain("treated as new");
      const record = readReleaseRecord(lc.app()!.notes);
      expect(record).toMatchObject({ version: "0.1.9", commit: gitIn(appDir, "rev-parse", "HEAD").trim() });
      expect(record!.migrations).toHaveLength(8);
      expect(record!.image).toBe(lc.app()!.manifest.dockerImage);

      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(logOf(again)).toContain(
        "staging.communityrule.info runs 0.1.9; its release record lists 8 applied migrations",
      );
      expect(again.steps.filter((s) => s.op !== "same")).toEqual([]);
    },
  );

  it("re-pushing the existing release tag 0.1.9 with other content is refused before the build", async () => {
    const builds = lc.builds().length;
    const calls = lc.calls().length;
    fs.appendFileSync(path.join(appDir, "Dockerfile"), "\n# local edit, same version\n");
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(r.errors.join("\n")).toMatch(
      /community-rule:0\.1\.9 already exists \(sha256:[0-9a-f]{64}\) and release tags never change/,
    );
    expect(lc.builds()).toHaveLength(builds);
    expect(lc.mutatingCallsSince(calls)).toEqual([]);
    gitIn(appDir, "checkout", "--", "Dockerfile");
    expect((await lc.up()).errors).toEqual([]);
  });

  it("a release that changes seed data re-seeds once and says so", async () => {
    const seeds = lc.seedRuns();
    commitRelease(appDir, "0.1.10", { "data/templates/templateFacet.json": "[]\n" });
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(lc.seedRuns()).toBe(seeds + 1);
    const seedStep = r.steps.find((s) => s.name === "seed");
    expect(seedStep?.op).toBe("update");
    expect(JSON.stringify(lc.pulumiState().resources.find((x) => x.name === "seed")!.outputs)).toContain(
      "the seed's sources changed",
    );
    const again = await lc.up();
    expect(again.errors).toEqual([]);
    expect(lc.seedRuns()).toBe(seeds + 1);
  });

  it("a rollback below the seed floor is refused before Cloudron is touched", async () => {
    const calls = lc.calls().length;
    lc.config.build = false;
    lc.config.imageTag = "0.1.7";
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(r.registered).toBe(0);
    expect(r.errors.join("\n")).toContain(
      "communityrule:imageTag: rollback to 0.1.7 refused before anything" +
        " changed: images below 0.1.8 (communityrule:seedFloor) cannot run the seed",
    );
    expect(lc.mutatingCallsSince(calls)).toEqual([]);
    delete lc.config.build;
    delete lc.config.imageTag;
  });
});
