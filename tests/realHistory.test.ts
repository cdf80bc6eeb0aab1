/**
 * The release rules on CommunityRule's real history (shared/fixtures/community-rule-history.bundle:
 * no tags; releases are CloudronManifest.json bumps 0.1.0 … 0.1.9 with code commits between them;
 * all 8 migrations predate 0.1.0; 20260405120000_remove_otp_challenge is a DROP TABLE IF EXISTS).
 * What runs is given as the live check hands it over: nothing installed, a hand-installed app
 * without a record, or the release record a deploy leaves in the app's notes.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reviewDeployMigrations, type DeployMigrationsInput } from "../steps/migrations/deployMigrations";
import { locateRelease, manifestReleases, previousRelease, shippedRelease } from "../release/releaseHistory";
import { readReleaseRecord, runningFromApp, writeReleaseRecord } from "../release/releaseRecord";
import {
  seedFailureBelowFloor,
  seedFingerprintAtRef,
  seedFingerprintOfCheckout,
  seedFloorProblem,
} from "../steps/seed/seedContent";
import { commitRelease, gitIn, historyCheckout } from "./releaseCheckout";

const OTP = "20260405120000_remove_otp_challenge";
const DROP_STAKEHOLDERS = "20260601120000_drop_rule_stakeholder";
const REAL_MIGRATIONS = [
  "20260404180000_init",
  OTP,
  "20260406015738_add_magic_link_token",
  "20260418170000_add_method_facet",
  "20260426000815_add_email_change_token",
  "20260429000000_add_template_facet",
  "20260509035322_add_rule_stakeholder",
  "20260520120000_add_magic_link_draft_payload",
];
const REPO = "git.medlab.host/communityrule/community-rule";

let tmp: string;
let real: string; // the history as it is (HEAD: 0.1.9)
let next: string; // plus a 0.1.10 that drops a table (a destructive migration)

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cr-real-history-"));
  real = path.join(tmp, "real");
  historyCheckout(real);
  next = path.join(tmp, "next");
  historyCheckout(next);
  commitRelease(next, "0.1.10", {
    [`prisma/migrations/${DROP_STAKEHOLDERS}/migration.sql`]: '-- DropTable\nDROP TABLE "RuleStakeholder";\n',
  });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const input = (over: Partial<DeployMigrationsInput>): DeployMigrationsInput => ({
  environment: "production",
  stack: "production",
  location: "communityrule.info",
  build: true,
  imageTag: "0.1.9",
  manifestVersion: "0.1.9",
  appDir: real,
  appDirLabel: "../community-rule",
  acknowledged: [],
  running: "unknown",
  ...over,
});

/** The record a deploy of `version` with these migrations leaves in the app's notes. */
const recordedApp = (version: string, migrations: string[], backupId?: string) => ({
  manifest: { version, dockerImage: `${REPO}@sha256:${"a".repeat(64)}` },
  notes: writeReleaseRecord("Maintained by MEDLab ops", {
    version,
    image: `${REPO}@sha256:${"a".repeat(64)}`,
    migrations,
    ...(backupId ? { backupId } : {}),
  }),
});

describe("release boundaries from the manifest's history (no tags)", () => {
  it("finds every release at the commit where CloudronManifest.json took its version", () => {
    expect(gitIn(real, "tag", "--list")).toBe("");
    const releases = manifestReleases(real).map((r) => `${r.version}@${r.commit.slice(0, 7)}`);
    expect(releases).toEqual([
      "0.1.0@168d88e",
      "0.1.1@3db3b2c",
      "0.1.2@23bf5e1",
      "0.1.3@b79d144",
      "0.1.4@2ec94e8",
      "0.1.5@8622052",
      "0.1.6@6f16cff",
      "0.1.7@693c3f1",
      "0.1.8@c6be1a4",
      "0.1.9@aad3f13",
    ]);
    expect(locateRelease(real, "0.1.9")).toMatchObject({
      source: "manifest-history",
      describe: "commit aad3f13 (where CloudronManifest.json took 0.1.9)",
    });
    expect(previousRelease(next, "0.1.10")).toMatchObject({ version: "0.1.9", source: "manifest-history" });
    expect(locateRelease(real, "0.1.42")).toBeUndefined();
  });
});

describe("migrations judged from what is deployed, on the real history", () => {
  it("a first production install of 0.1.9 needs no acknowledgement, and the plan says why", () => {
    const r = reviewDeployMigrations(input({ running: runningFromApp(undefined) ?? "absent" }));
    expect(r.kind).toBe("first-deploy");
    expect(r.errors).toEqual([]);
    expect(r.lines).toEqual([
      "first deploy of 0.1.9 onto an empty database: prisma migrate deploy creates the schema from 8 migrations; " +
        "no row exists yet for any of them to lose, so none needs an acknowledgement",
    ]);
    // Classified as one release, the history's DROP TABLE removes a table the same release created.
    expect(r.changes.find((c) => c.startsWith(OTP))).toBe(
      `${OTP} [additive]: drops table OtpChallenge created earlier in this release`,
    );
    expect(r.record.map((m) => m.name)).toEqual(REAL_MIGRATIONS);
  });

  it(
    "staging adopting a hand-installed 0.1.9 (no record) reports" +
      " no new migrations, derived from the version it runs",
    () => {
      for (const dockerImage of [`${REPO}:0.1.9`, `${REPO}@sha256:${"b".repeat(64)}`]) {
        const running = runningFromApp({ manifest: { version: "0.1.9", dockerImage }, notes: null });
        const r = reviewDeployMigrations(
          input({
            environment: "staging",
            stack: "staging",
            location: "staging.communityrule.info",
            running: running!,
          }),
        );
        expect(r.errors).toEqual([]);
        expect(r.warnings).toEqual([]);
        expect(r.changes).toEqual([]);
        expect(r.lines).toEqual([
          "nothing recorded on staging.communityrule.info (installed by hand, or" +
            " before this program recorded releases): the migrations it has applied are " +
            "derived from the version it runs, 0.1.9: commit aad3f13" +
            " (where CloudronManifest.json took 0.1.9) carries 8 migrations",
          "0.1.9 applies no new migration",
        ]);
      }
    },
  );

  it(
    "a release adding a destructive migration is refused on" +
      " production until acknowledged (judged from the record)",
    () => {
      const running = runningFromApp(recordedApp("0.1.9", REAL_MIGRATIONS))!;
      const refused = reviewDeployMigrations(
        input({ appDir: next, manifestVersion: "0.1.10", imageTag: "0.1.10", running }),
      );
      expect(refused.lines[0]).toBe("communityrule.info runs 0.1.9; its release record lists 8 applied migrations");
      expect(refused.changes).toEqual([`${DROP_STAKEHOLDERS} [destructive]: drops table RuleStakeholder`]);
      expect(refused.errors).toHaveLength(1);
      expect(refused.errors[0]).toContain(
        `pulumi config set --path 'acknowledgeMigrations[0]' ${DROP_STAKEHOLDERS} -s production`,
      );
      const accepted = reviewDeployMigrations(
        input({
          appDir: next,
          manifestVersion: "0.1.10",
          imageTag: "0.1.10",
          running,
          acknowledged: [DROP_STAKEHOLDERS],
        }),
      );
      expect(accepted.errors).toEqual([]);
      expect(accepted.record.map((m) => m.name)).toEqual([...REAL_MIGRATIONS, DROP_STAKEHOLDERS]);
    },
  );

  it("a production rollback past it is refused with the restore path, from the record, with no tag", () => {
    const running = runningFromApp(recordedApp("0.1.10", [...REAL_MIGRATIONS, DROP_STAKEHOLDERS], "bk-before-0110"))!;
    const r = reviewDeployMigrations(
      input({ appDir: next, manifestVersion: "0.1.10", build: false, imageTag: "0.1.9", running }),
    );
    expect(r.kind).toBe("rollback");
    expect(r.changes).toEqual([`${DROP_STAKEHOLDERS} [destructive]: drops table RuleStakeholder`]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^production rollback from 0\.1\.10 to 0\.1\.9 refused/);
    expect(r.errors[0]).toContain("Cloudron took backup bk-before-0110 before 0.1.10 was deployed");
    expect(r.errors[0]).toContain("cloudron clone --app communityrule.info --backup bk-before-0110");
    expect(r.errors[0]).toContain(`acknowledgeMigrations[0]' rollback:${DROP_STAKEHOLDERS}`);
    // Rolling back along the history without a destructive step in between goes on.
    const back = reviewDeployMigrations(
      input({ build: false, imageTag: "0.1.8", running: runningFromApp(recordedApp("0.1.9", REAL_MIGRATIONS))! }),
    );
    expect(back.kind).toBe("rollback");
    expect(back.errors).toEqual([]);
  });

  it("the record round-trips through the app's notes and keeps what an operator wrote there", () => {
    const notes = writeReleaseRecord("Owner: MEDLab\n", {
      version: "0.1.9",
      image: `${REPO}@sha256:${"c".repeat(64)}`,
      migrations: REAL_MIGRATIONS,
      backupId: "bk1",
    });
    expect(notes.split("\n")[0]).toBe("Owner: MEDLab");
    expect(readReleaseRecord(notes)).toMatchObject({ version: "0.1.9", backupId: "bk1", migrations: REAL_MIGRATIONS });
    const again = writeReleaseRecord(notes, {
      version: "0.1.10",
      image: `${REPO}@sha256:${"d".repeat(64)}`,
      migrations: [],
    });
    expect(again.split("\n")).toHaveLength(2);
    expect(readReleaseRecord(again)?.version).toBe("0.1.10");
    expect(readReleaseRecord("communityrule-release: {not json")).toBeUndefined();
  });
});

describe("the seed follows its content, on the real history", () => {
  it("the seed sources' fingerprint changes with 0.1.8 and not with 0.1.9 (a manifest-only bump)", () => {
    const at = (v: string) => seedFingerprintAtRef(real, locateRelease(real, v)!.ref);
    expect(at("0.1.7")).not.toBe(at("0.1.8"));
    expect(at("0.1.8")).toBe(at("0.1.9"));
    expect(at("0.1.9")).toBe(seedFingerprintOfCheckout(real));
    expect(shippedRelease(real, false, "0.1.8")).toMatchObject({ version: "0.1.8", seed: at("0.1.8") });
    expect(shippedRelease(real, true, "0.1.9").commit).toBe(gitIn(real, "rev-parse", "HEAD").trim());
  });

  it("an app in a subdirectory of a larger repository: its own manifest history, tags and seed", () => {
    const repo = path.join(tmp, "larger");
    const app = path.join(repo, "apps", "communityrule");
    fs.mkdirSync(path.join(app, "prisma"), { recursive: true });
    gitIn(repo, "init", "-q");
    // The repository's own manifest at the root says another version: only the app's counts.
    fs.writeFileSync(path.join(repo, "CloudronManifest.json"), JSON.stringify({ version: "9.9.9" }));
    for (const version of ["0.1.0", "0.1.1", "0.1.2"]) {
      fs.writeFileSync(path.join(app, "CloudronManifest.json"), JSON.stringify({ version }));
      fs.writeFileSync(path.join(app, "prisma", "seed.ts"), `// seed of ${version}\n`);
      gitIn(repo, "add", ".");
      gitIn(repo, "commit", "-q", "-m", version);
      if (version === "0.1.0") gitIn(repo, "tag", "v0.1.0");
    }
    expect(manifestReleases(app).map((r) => r.version)).toEqual(["0.1.0", "0.1.1", "0.1.2"]);
    expect(locateRelease(app, "0.1.0")).toMatchObject({ ref: "v0.1.0", source: "tag" });
    expect(locateRelease(app, "0.1.1")).toMatchObject({ source: "manifest-history" });
    expect(locateRelease(app, "9.9.9")).toBeUndefined();
    expect(previousRelease(app, "0.1.2")).toMatchObject({ version: "0.1.1", source: "manifest-history" });
    expect(seedFingerprintAtRef(app, "HEAD")).toBe(seedFingerprintOfCheckout(app));
    expect(seedFingerprintAtRef(app, "v0.1.0")).not.toBe(seedFingerprintOfCheckout(app));
    expect(seedFingerprintOfCheckout(app)).not.toBe("seed:none");
    expect(shippedRelease(app, false, "0.1.0")).toMatchObject({ commit: gitIn(repo, "rev-parse", "v0.1.0").trim() });
  });

  it("a release that changes seed data changes the fingerprint", () => {
    const dir = path.join(tmp, "seed-change");
    historyCheckout(dir);
    const before = seedFingerprintOfCheckout(dir);
    commitRelease(dir, "0.1.10", { "data/templates/templateFacet.json": "[]\n" });
    expect(seedFingerprintOfCheckout(dir)).not.toBe(before);
  });

  it("a release or rollback below the seed floor is refused; a seed failure there is explained", () => {
    expect(seedFloorProblem("0.1.7", "0.1.8", "rollback")).toMatch(
      new RegExp(
        /^communityrule:imageTag: rollback to 0\.1\.7 refused before anything changed:/.source +
          / images below 0\.1\.8 \(communityrule:seedFloor\) cannot run the seed/.source,
      ),
    );
    expect(seedFloorProblem("0.1.8", "0.1.8", "rollback")).toBeUndefined();
    expect(seedFloorProblem("0.1.10", "0.1.8", "release")).toBeUndefined();
    expect(seedFailureBelowFloor("0.1.4", "0.1.8")).toMatch(/below the seed floor 0\.1\.8/);
    expect(seedFailureBelowFloor("0.1.9", "0.1.8")).toBeUndefined();
  });
});
