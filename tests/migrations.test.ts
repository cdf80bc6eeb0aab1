import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import {
  listCheckoutMigrations,
  listMigrations,
  gitRefReader,
  classifyMigrations,
  recordMigrations,
  compareMigrations,
  summarizeMigration,
  MigrationListError,
} from "../steps/migrations/checkoutMigrations";

const RELEASES = path.resolve(__dirname, "..", "engine", "fixtures", "releases");
const sha = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cr-migrations-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of a release state as an app checkout the test may edit. */
function checkout(release: string): string {
  const dir = fs.mkdtempSync(path.join(tmp, `app-${release}-`));
  fs.cpSync(path.join(RELEASES, release), dir, { recursive: true });
  return dir;
}

describe("listCheckoutMigrations", () => {
  it(
    "lists migration directories in name order with the sha256" +
      " of each migration.sql, skipping migration_lock.toml",
    () => {
      const dir = path.join(RELEASES, "0.1.10");
      const listed = listCheckoutMigrations(dir);
      expect(listed.map((m) => m.name)).toEqual([
        "20250301120000_init",
        "20250415093000_add_rule_templates",
        "20250520110000_add_rule_slug",
        "20250521150000_drop_user_legacy_id",
      ]);
      expect(listed[3].path).toBe("prisma/migrations/20250521150000_drop_user_legacy_id/migration.sql");
      expect(listed[3].sha256).toBe(sha(path.join(dir, listed[3].path)));
      expect(listed[3].sql).toContain('DROP COLUMN "legacyId"');
    },
  );

  it("orders by code units, not by locale or creation order", () => {
    const dir = checkout("0.1.9");
    for (const name of ["20250101000000_b", "20250101000000_B", "20240101000000_z"]) {
      fs.mkdirSync(path.join(dir, "prisma", "migrations", name));
      fs.writeFileSync(path.join(dir, "prisma", "migrations", name, "migration.sql"), "SELECT 1;");
    }
    expect(listCheckoutMigrations(dir).map((m) => m.name)).toEqual([
      "20240101000000_z",
      "20250101000000_B",
      "20250101000000_b",
      "20250301120000_init",
      "20250415093000_add_rule_templates",
    ]);
  });

  it("has no migrations when the checkout has no prisma/migrations", () => {
    expect(listCheckoutMigrations(path.join(tmp))).toEqual([]);
  });

  it("refuses a migration directory without migration.sql, naming the file", () => {
    const dir = checkout("0.1.9");
    fs.mkdirSync(path.join(dir, "prisma", "migrations", "20250601000000_empty"));
    expect(() => listCheckoutMigrations(dir)).toThrow(
      new MigrationListError(
        "prisma/migrations/20250601000000_empty/migration.sql is missing: every migration" +
          " directory needs its migration.sql (prisma migrate deploy stops on it at container start)",
      ),
    );
  });
});

describe("gitRefReader", () => {
  it("lists the migrations of an older tag without checking it out", () => {
    const dir = checkout("0.1.9");
    const git = (...args: string[]) =>
      execFileSync("git", ["-C", dir, ...args], {
        stdio: "pipe",
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: "t",
          GIT_AUTHOR_EMAIL: "t@example.org",
          GIT_COMMITTER_NAME: "t",
          GIT_COMMITTER_EMAIL: "t@example.org",
        },
      });
    git("init", "-q");
    git("add", ".");
    git("commit", "-q", "-m", "0.1.9");
    git("tag", "v0.1.9");
    fs.cpSync(path.join(RELEASES, "0.1.10"), dir, { recursive: true });
    git("add", ".");
    git("commit", "-q", "-m", "0.1.10");

    const atTag = listMigrations(gitRefReader(dir, "v0.1.9"));
    expect(atTag.map((m) => [m.name, m.sha256])).toEqual(
      listCheckoutMigrations(path.join(RELEASES, "0.1.9")).map((m) => [m.name, m.sha256]),
    );
    expect(listCheckoutMigrations(dir)).toHaveLength(4);
    expect(() => gitRefReader(dir, "v0.0.1")).toThrow(
      `no git ref "v0.0.1" in ${dir}: fetch the release tags (git -C` +
        ` ${dir} fetch --tags) or point --app-dir at a checkout of that release`,
    );
  });
});

describe("classifyMigrations and recordMigrations", () => {
  it("classifies each migration by its worst statement and records names, hashes, classes and summaries", () => {
    const recorded = recordMigrations(classifyMigrations(listCheckoutMigrations(path.join(RELEASES, "0.1.10"))));
    expect(recorded.map(summarizeMigration)).toEqual([
      "20250301120000_init [additive]: creates enum Role (MEMBER, ADMIN); creates" +
        " table User; creates table Rule; creates unique index User_email_key" +
        " on User(email); creates index Rule_authorId_idx on Rule(authorId);" +
        " adds foreign key Rule_authorId_fkey on Rule(authorId) → User",
      "20250415093000_add_rule_templates [additive]: adds column" +
        " Rule.templateId; creates table Template; creates unique" +
        " index Template_slug_key on Template(slug); adds foreign" +
        " key Rule_templateId_fkey on Rule(templateId) → Template",
      "20250520110000_add_rule_slug [additive]: adds column Rule.slug",
      "20250521150000_drop_user_legacy_id [destructive]: drops column User.legacyId",
    ]);
    expect(Object.keys(recorded[0]).sort()).toEqual(["name", "risk", "sha256", "summary"]);
  });
});

describe("compareMigrations", () => {
  const v9 = () => recordMigrations(classifyMigrations(listCheckoutMigrations(path.join(RELEASES, "0.1.9"))));

  it("finds the migrations a release applies", () => {
    const c = compareMigrations(v9(), listCheckoutMigrations(path.join(RELEASES, "0.1.10")));
    expect(c).toEqual({
      pending: ["20250520110000_add_rule_slug", "20250521150000_drop_user_legacy_id"],
      edited: [],
      missing: [],
      outOfOrder: [],
    });
  });

  it("finds an applied migration whose file changed", () => {
    const dir = checkout("0.1.10");
    const file = path.join(dir, "prisma/migrations/20250301120000_init/migration.sql");
    fs.appendFileSync(file, '\nALTER TABLE "User" ADD COLUMN "oops" TEXT;\n');
    const c = compareMigrations(v9(), listCheckoutMigrations(dir));
    expect(c.edited).toEqual([
      {
        name: "20250301120000_init",
        path: "prisma/migrations/20250301120000_init/migration.sql",
        recordedSha256: v9()[0].sha256,
        checkoutSha256: sha(file),
      },
    ]);
    expect(c.pending).toHaveLength(2);
  });

  it("finds recorded migrations the checkout lacks, and new ones older than what was applied", () => {
    const recorded = recordMigrations(classifyMigrations(listCheckoutMigrations(path.join(RELEASES, "0.1.10"))));
    const dir = checkout("0.1.9");
    fs.mkdirSync(path.join(dir, "prisma/migrations/20250501000000_from_old_branch"));
    fs.writeFileSync(
      path.join(dir, "prisma/migrations/20250501000000_from_old_branch/migration.sql"),
      'ALTER TABLE "Rule" ADD COLUMN "x" TEXT;',
    );
    const c = compareMigrations(recorded, listCheckoutMigrations(dir));
    expect(c.missing).toEqual(["20250520110000_add_rule_slug", "20250521150000_drop_user_legacy_id"]);
    expect(c.pending).toEqual(["20250501000000_from_old_branch"]);
    expect(c.outOfOrder).toEqual(["20250501000000_from_old_branch"]);
  });
});
