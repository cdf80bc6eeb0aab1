/**
 * Production releases on CommunityRule's real history, end to end (staging's are in
 * lifecycle.realHistory.test.ts): the app checkout is a clone of
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
