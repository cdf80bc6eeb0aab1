import { describe, it, expect } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  listCheckoutMigrations,
  classifyMigrations,
  recordMigrations,
  type RecordedMigration,
} from "../steps/migrations/checkoutMigrations";
import {
  reviewRelease,
  reviewRollback,
  findMigrateReset,
  deployRunnableTexts,
  acknowledgeCommand,
  recordedHistoryErrors,
  ACKNOWLEDGEMENT_PATTERN,
} from "../steps/migrations/gate";

const RELEASES = path.resolve(__dirname, "..", "engine", "fixtures", "releases");
const files = (release: string) => listCheckoutMigrations(path.join(RELEASES, release));
const recorded = (release: string): RecordedMigration[] => recordMigrations(classifyMigrations(files(release)));

const DROP = "20250521150000_drop_user_legacy_id";
const SLUG = "20250520110000_add_rule_slug";

describe("reviewRelease", () => {
  const base = {
    stack: "production",
    version: "0.1.10",
    deployed: recorded("0.1.9"),
    target: files("0.1.10"),
    acknowledged: [] as string[],
  };

  it(
    "refuses an unacknowledged destructive migration on production," +
      " naming it, its statements, the command and the backup",
    () => {
      const review = reviewRelease({ ...base, environment: "production" });
      expect(review.pending.map((m) => [m.name, m.risk])).toEqual([
        [SLUG, "additive"],
        [DROP, "destructive"],
      ]);
      expect(review.lines).toEqual([
        "0.1.10 applies 2 new migrations (prisma migrate deploy, at container start):",
        `  ${SLUG} [additive]: adds column Rule.slug`,
        `  ${DROP} [destructive]: drops column User.legacyId`,
      ]);
      expect(review.errors).toEqual([
        [
          "production: 1 new migration is risky or destructive and not acknowledged:",
          `  - ${DROP} [destructive] (prisma/migrations/${DROP}/migration.sql)`,
          "      line 8 [destructive]: drops column User.legacyId (the column and its data are deleted)",
          "Read each migration.sql, then acknowledge it in the production stack config:",
          `  pulumi config set --path 'acknowledgeMigrations[0]' ${DROP} -s production`,
          "The way back is the pre-update backup Cloudron takes before the update (recorded as" +
            " the stack output preUpdateBackupId): rolling the image back does not undo a migration.",
        ].join("\n"),
      ]);
    },
  );

  it("lets production go on once the destructive migration is acknowledged", () => {
    const review = reviewRelease({ ...base, environment: "production", acknowledged: [DROP] });
    expect(review.errors).toEqual([]);
    expect(review.warnings).toEqual([]);
    expect(review.lines[review.lines.length - 1]).toBe(`  acknowledged: ${DROP} [destructive]`);
  });

  it("numbers the acknowledgement commands after the entries already there", () => {
    const review = reviewRelease({
      ...base,
      environment: "production",
      acknowledged: ["20240101000000_old", "rollback:x"],
    });
    expect(review.errors[0]).toContain(`  pulumi config set --path 'acknowledgeMigrations[2]' ${DROP} -s production\n`);
  });

  it("warns on staging and goes on", () => {
    const review = reviewRelease({ ...base, stack: "staging", environment: "staging" });
    expect(review.errors).toEqual([]);
    expect(review.warnings).toEqual([
      `staging: migration ${DROP} is destructive (drops column User.legacyId);` +
        ` production will refuse it until acknowledgeMigrations names it`,
    ]);
  });

  it.each(["staging", "production"] as const)(
    "refuses an edited applied migration on %s, naming the file",
    (environment) => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cr-gate-"));
      try {
        fs.cpSync(path.join(RELEASES, "0.1.10"), tmp, { recursive: true });
        fs.appendFileSync(path.join(tmp, "prisma/migrations/20250301120000_init/migration.sql"), "-- tidy up\n");
        const target = listCheckoutMigrations(tmp);
        const review = reviewRelease(
          { ...base, environment, stack: environment, target, acknowledged: [DROP] },
          "../community-rule",
        );
        const was = recorded("0.1.9")[0].sha256.slice(0, 12);
        const now = target[0].sha256.slice(0, 12);
        expect(review.errors).toEqual([
          `migration 20250301120000_init was edited after it was deployed:` +
            ` prisma/migrations/20250301120000_init/migration.sql has sha256 ${now}…, ` +
            `the deployed image carried ${was}…. Never edit an applied migration: restore the file ` +
            `(git -C ../community-rule checkout <deployed tag> --` +
            ` prisma/migrations/20250301120000_init/migration.sql)` +
            ` and add a new migration for the change (npx prisma migrate dev --name <change>).`,
        ]);
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    },
  );

  it("refuses a checkout that lacks a recorded migration (it is behind what runs)", () => {
    const review = reviewRelease(
      { ...base, environment: "staging", deployed: recorded("0.1.10"), target: files("0.1.9"), version: "0.1.11" },
      "../community-rule",
    );
    expect(review.errors).toEqual([
      `migration ${SLUG} is recorded as deployed but is not in` +
        ` ../community-rule/prisma/migrations: the checkout is behind what runs. Check out` +
        ` the release that added it (or a later one) before releasing; to run` +
        ` older code on purpose, deploy its tag with build: false (a rollback).`,
      `migration ${DROP} is recorded as deployed but is not in` +
        ` ../community-rule/prisma/migrations: the checkout is behind what runs. Check out` +
        ` the release that added it (or a later one) before releasing; to run` +
        ` older code on purpose, deploy its tag with build: false (a rollback).`,
    ]);
  });

  it("says so when a release applies nothing new", () => {
    const review = reviewRelease({ ...base, environment: "production", deployed: recorded("0.1.10") });
    expect(review).toMatchObject({ lines: ["0.1.10 applies no new migration"], errors: [], warnings: [], pending: [] });
  });

  it("describes every migration, gates none, when nothing was recorded yet", () => {
    const review = reviewRelease({ ...base, environment: "production", deployed: undefined });
    expect(review.errors).toEqual([]);
    expect(review.lines[0]).toBe(
      "0.1.10 carries 4 migrations; no list was recorded for the running app, so which are new is" +
        " unknown (prisma migrate deploy applies those the database lacks; this deploy records the list)",
    );
    expect(review.lines).toHaveLength(5);
  });
});

describe("reviewRollback", () => {
  const base = {
    stack: "production",
    location: "communityrule.info",
    fromVersion: "0.1.10",
    toVersion: "0.1.9",
    running: recorded("0.1.10"),
    target: recorded("0.1.9"),
    acknowledged: [DROP],
    preUpdateBackupId: "mybackup-20250601-abc",
  };

  it("refuses a rollback past a destructive migration on production and prints the ways back", () => {
    const review = reviewRollback({ ...base, environment: "production" });
    expect(review.ahead.map((m) => m.name)).toEqual([SLUG, DROP]);
    expect(review.errors).toEqual([
      [
        "production rollback from 0.1.10 to 0.1.9 refused: the database keeps 1 risky or destructive" +
          " migration that 0.1.9 does not know, and rolling back the image does not undo it:",
        `  - ${DROP} [destructive]: drops column User.legacyId`,
        "Ways back:",
        "  - Fix forward (usually best): keep 0.1.10 and release a new version with a corrective" +
          " migration (npx prisma migrate dev --name <fix>); never edit or reset an applied migration.",
        "  - Restore the database: Cloudron took backup mybackup-20250601-abc" +
          " before 0.1.10 was deployed (stack output preUpdateBackupId). " +
          "Check the backup first on a scratch app (npm run restore-drill -- production, or cloudron" +
          " clone --app communityrule.info --backup mybackup-20250601-abc --location <scratch location>), " +
          "then in the dashboard: communityrule.info → Backups → restore it, and deploy 0.1.9 with build: false.",
        "  - If 0.1.9 is known to run on this schema, acknowledge the rollback and run it again:",
        `      pulumi config set --path 'acknowledgeMigrations[1]' rollback:${DROP} -s production`,
      ].join("\n"),
    ]);
  });

  it("says where to find the backup id when none was handed in", () => {
    const review = reviewRollback({ ...base, environment: "production", preUpdateBackupId: undefined });
    expect(review.errors[0]).toContain(
      "  - Restore the database: the backup Cloudron took before 0.1.10 was" +
        " deployed is the stack output preUpdateBackupId (pulumi stack output" +
        " preUpdateBackupId -s production); without it, use the newest backup" +
        " taken before that deploy (dashboard → communityrule.info → Backups). ",
    );
    expect(review.errors[0]).toContain("--backup <backup id>");
  });

  it("goes on once rollback:<name> is acknowledged (acknowledging the release is not enough)", () => {
    const review = reviewRollback({ ...base, environment: "production", acknowledged: [DROP, `rollback:${DROP}`] });
    expect(review.errors).toEqual([]);
    expect(review.warnings).toEqual([
      `rollback to 0.1.9 past ${DROP} [destructive]: acknowledged; 0.1.9 runs against a schema it was not written for`,
    ]);
  });

  it("warns and goes on when only additive migrations are left behind", () => {
    const running = recorded("0.1.10").filter((m) => m.name !== DROP);
    const review = reviewRollback({ ...base, environment: "production", running, acknowledged: [] });
    expect(review.errors).toEqual([]);
    expect(review.warnings).toEqual([
      `rollback to 0.1.9: the database keeps 1 additive migration that 0.1.9 does not know; older` +
        ` code usually ignores new tables and nullable columns, so the rollback goes on: ${SLUG}`,
    ]);
    expect(review.lines).toEqual([
      "rollback to 0.1.9: the database keeps 1 migration that 0.1.9" +
        " does not know (rolling back the image does not undo it):",
      `  - ${SLUG} [additive]: adds column Rule.slug`,
    ]);
  });

  it("warns on staging past a destructive migration and goes on", () => {
    const review = reviewRollback({
      ...base,
      stack: "staging",
      location: "staging.communityrule.info",
      environment: "staging",
    });
    expect(review.errors).toEqual([]);
    expect(review.warnings).toEqual([
      `staging: rollback to 0.1.9 leaves ${DROP} [destructive] in the` +
        ` database; production would refuse this rollback until acknowledged`,
    ]);
  });

  it("treats a migration recorded without a class as risky", () => {
    const running = [...recorded("0.1.9"), { name: "20250601000000_unknown", sha256: "ab".repeat(32) }];
    const review = reviewRollback({ ...base, environment: "production", running, acknowledged: [] });
    expect(review.errors[0]).toContain("  - 20250601000000_unknown [unclassified]\n");
  });

  it("refuses when the two releases disagree on an applied migration's bytes", () => {
    const target = recorded("0.1.9").map((m, k) => (k === 0 ? { ...m, sha256: "0".repeat(64) } : m));
    const review = reviewRollback({ ...base, environment: "staging", target });
    expect(review.errors).toEqual([
      `migration 20250301120000_init differs between 0.1.9 (sha256 000000000000…)` +
        ` and the running 0.1.10 (${recorded("0.1.10")[0].sha256.slice(0, 12)}…):` +
        ` an applied migration was edited between releases. Never` +
        ` edit an applied migration; fix forward with a new one.`,
    ]);
  });

  it("has nothing to say when the schema is not ahead", () => {
    const review = reviewRollback({ ...base, environment: "production", running: recorded("0.1.9") });
    expect(review).toMatchObject({
      ahead: [],
      errors: [],
      warnings: [],
      lines: ["rollback to 0.1.9: the database has no migration that 0.1.9 does not know"],
    });
  });
});

describe("acknowledgements", () => {
  it("builds the exact config command", () => {
    expect(acknowledgeCommand("production", 3, DROP)).toBe(
      `pulumi config set --path 'acknowledgeMigrations[3]' ${DROP} -s production`,
    );
  });
  it.each([
    [DROP, true],
    [`rollback:${DROP}`, true],
    ["", false],
    ["x; rm -rf /", false],
    ["rollback:", false],
    ["../etc", false],
  ])("%j is %s as an entry", (entry, ok) => {
    expect(ACKNOWLEDGEMENT_PATTERN.test(entry)).toBe(ok);
  });
});

describe("findMigrateReset", () => {
  it.each([
    ["prisma migrate reset --force", "migrate reset"],
    ["npx prisma   migrate\treset", "migrate\treset"],
    ["npx prisma db push --force-reset", "--force-reset"],
  ])("refuses %j", (text, found) => {
    expect(findMigrateReset([{ label: "scripts/start.sh", text }])).toEqual([
      `scripts/start.sh runs "${found}", which wipes the database: never on staging or production (runbook` +
        ` §3.3). Remove it; schema changes ship as new migrations that prisma migrate deploy applies.`,
    ]);
  });

  it("lets migrate deploy and the seed through", () => {
    expect(
      findMigrateReset([
        { label: "start", text: "npx prisma migrate deploy && node server.js" },
        { label: "seed", text: "node prisma/seed.bundle.cjs" },
      ]),
    ).toEqual([]);
  });

  it(
    "checks what runs on a server (start.sh, Dockerfile," +
      " reachable package.json scripts) and not local dev scripts",
    () => {
      const tree: Record<string, string> = {
        "scripts/start.sh": "#!/bin/sh\nchown -R cloudron /app/data\nnpm run db:deploy\nexec node server.js\n",
        Dockerfile: 'FROM node:20\nCMD ["/app/scripts/start.sh"]\n',
        "package.json": JSON.stringify({
          scripts: {
            start: "next start",
            "db:deploy": "npm run db:prepare && prisma migrate deploy",
            "db:prepare": "prisma migrate reset --force --skip-seed",
            "db:reset": "prisma migrate reset",
          },
        }),
      };
      const texts = deployRunnableTexts((f) => tree[f]);
      expect(texts.map((t) => t.label)).toEqual([
        "scripts/start.sh",
        "Dockerfile",
        "package.json scripts.start",
        "package.json scripts.db:deploy",
        "package.json scripts.db:prepare",
      ]);
      expect(findMigrateReset(texts)).toEqual([
        `package.json scripts.db:prepare runs "migrate reset",` +
          ` which wipes the database: never on staging or production` +
          ` (runbook §3.3). Remove it; schema changes ship as new migrations that prisma migrate deploy applies.`,
      ]);
    },
  );
});

describe("recordedHistoryErrors (the deploy step's check against its own record)", () => {
  it("refuses a changed hash on a build and on a rollback, and a missing migration only on a build", () => {
    const previous = recorded("0.1.10");
    const edited = recorded("0.1.10").map((m, k) => (k === 0 ? { ...m, sha256: "f".repeat(64) } : m));
    for (const build of [true, false]) {
      const errors = recordedHistoryErrors(previous, edited, { build, appDirLabel: "../community-rule" });
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        new RegExp(
          /^migration 20250301120000_init was edited after it was deployed:/.source +
            / prisma\/migrations\/20250301120000_init\/migration.sql has sha256 ffffffffffff…/.source,
        ),
      );
    }
    expect(recordedHistoryErrors(previous, recorded("0.1.9"), { build: true, appDirLabel: "x" })).toHaveLength(2);
    expect(recordedHistoryErrors(previous, recorded("0.1.9"), { build: false, appDirLabel: "x" })).toEqual([]);
    expect(recordedHistoryErrors(recorded("0.1.9"), recorded("0.1.10"), { build: true, appDirLabel: "x" })).toEqual([]);
  });
});
