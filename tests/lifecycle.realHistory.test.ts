/**
 * Releases on CommunityRule's real history, end to end: the app checkout is a clone of
 * shared/fixtures/community-rule-history.bundle (no tags; releases are manifest bumps), deployed
 * by the real program through the lifecycle runner against the Cloudron stand-in and a real
 * registry. What runs is read from the app (its release record in the notes, or nothing for a
 * hand install) before anything registers.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle } from "../engine/runner";
import { readReleaseRecord } from "../release/releaseRecord";
import { commitRelease, gitIn, historyCheckout } from "./releaseCheckout";

const DROP_STAKEHOLDERS = "20260601120000_drop_rule_stakeholder";
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

describe("production on the real history: first install, a destructive release, the rollback past it", () => {
  let lc: Lifecycle;
  let appDir: string;
  beforeAll(async () => {
    appDir = path.join(tmp, "production-app");
    historyCheckout(appDir);
    lc = await Lifecycle.create({ stack: "production", config: { appDir } });
  });
  afterAll(async () => lc?.close());

  it(
    "a first install of 0.1.9 needs no acknowledgement (the" + " DROP TABLE of the history meets an empty database)",
    async () => {
      // Production never builds: staging released 0.1.9 to the registry first.
      await lc.releaseOnStaging("0.1.9");
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      expect(logOf(r)).toContain(
        "first deploy of 0.1.9 onto an empty database: prisma migrate deploy creates" +
          " the schema from 8 migrations; no row exists yet for any of them to lose",
      );
      expect(readReleaseRecord(lc.app()!.notes)?.migrations).toHaveLength(8);
    },
  );

  it("a release adding a destructive migration is refused until acknowledged; no tag is involved", async () => {
    commitRelease(appDir, "0.1.10", {
      [`prisma/migrations/${DROP_STAKEHOLDERS}/migration.sql`]: '-- DropTable\nDROP TABLE "RuleStakeholder";\n',
    });
    expect(gitIn(appDir, "tag", "--list")).toBe("");
    await lc.releaseOnStaging("0.1.10");
    const calls = lc.calls().length;
    const refused = await lc.preview();
    expect(refused.ok).toBe(false);
    expect(refused.errors.join("\n")).toContain(`  - ${DROP_STAKEHOLDERS} [destructive]`);
    expect(refused.errors.join("\n")).not.toContain("20260405120000_remove_otp_challenge");
    lc.config.acknowledgeMigrations = [DROP_STAKEHOLDERS];
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(lc.mutatingCallsSince(calls).map((c) => c.operation)).toContain("updateApp");
    expect(readReleaseRecord(lc.app()!.notes)).toMatchObject({
      version: "0.1.10",
      backupId: expect.stringMatching(/^app_/),
    });
  });

  it("a rollback past it is refused with the restore path, read from the record", async () => {
    const backupId = readReleaseRecord(lc.app()!.notes)!.backupId!;
    const calls = lc.calls().length;
    lc.config.build = false;
    lc.config.imageTag = "0.1.9";
    const r = await lc.preview();
    expect(r.ok).toBe(false);
    const text = r.errors.join("\n");
    expect(text).toContain("production rollback from 0.1.10 to 0.1.9 refused");
    expect(text).toContain(`Cloudron took backup ${backupId} before 0.1.10 was deployed`);
    expect(text).toContain(`rollback:${DROP_STAKEHOLDERS}`);
    expect(lc.mutatingCallsSince(calls)).toEqual([]);
  });
});

describe("production promotes what staging verified", () => {
  let staging: Lifecycle;
  let production: Lifecycle;
  let appDir: string;
  beforeAll(async () => {
    appDir = path.join(tmp, "promotion-app");
    historyCheckout(appDir);
    staging = await Lifecycle.create({ stack: "staging", config: { appDir } });
    production = await Lifecycle.create({
      stack: "production",
      config: { appDir, imageRepository: staging.config.imageRepository },
    });
  });
  afterAll(async () => {
    await production?.close();
    await staging?.close();
  });

  it("deploys staging's 0.1.9 by digest, with no build and no push, and says where the digest came from", async () => {
    expect((await staging.up()).errors).toEqual([]);
    const verified = staging.app()!.manifest.dockerImage;
    const r = await production.up();
    expect(r.errors).toEqual([]);
    expect(production.builds()).toEqual([]);
    expect(production.app()!.manifest.dockerImage).toBe(verified);
    expect(logOf(r)).toContain(
      `image: production deploys 0.1.9 by digest` +
        ` ${verified.split("@")[1]} (the registry's answer for the immutable tag`,
    );
    expect(r.steps.map((s) => s.name)).not.toContain("image-tag-guard");
  });
});
