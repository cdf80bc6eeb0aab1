import { describe, it, expect } from "vitest";
import {
  classifyMigrationSql,
  newClassificationContext,
  worstRisk,
  type MigrationRisk,
} from "../steps/migrations/classifier";

/** Classifies one statement on its own (no earlier statement in context). */
function one(sql: string) {
  const { statements } = classifyMigrationSql(sql);
  expect(statements).toHaveLength(1);
  return statements[0];
}

type Row = [string, string, MigrationRisk, string];

const ADDITIVE: Row[] = [
  [
    "CREATE TABLE as Prisma writes it",
    `-- CreateTable
CREATE TABLE "Rule" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Rule_pkey" PRIMARY KEY ("id")
);`,
    "additive",
    "creates table Rule",
  ],
  [
    "CREATE TABLE IF NOT EXISTS, schema-qualified",
    `CREATE TABLE IF NOT EXISTS "public"."AuditLog" ("id" SERIAL NOT NULL)`,
    "additive",
    "creates table AuditLog",
  ],
  [
    "CREATE INDEX CONCURRENTLY on two columns",
    `CREATE INDEX CONCURRENTLY IF NOT EXISTS "Rule_a_b_idx" ON "Rule" USING btree ("a", "b")`,
    "additive",
    "creates index Rule_a_b_idx on Rule(a, b)",
  ],
  [
    "CREATE TYPE … AS ENUM",
    `CREATE TYPE "Role" AS ENUM ('MEMBER', 'ADMIN')`,
    "additive",
    "creates enum Role (MEMBER, ADMIN)",
  ],
  ["ADD COLUMN nullable", `ALTER TABLE "Rule" ADD COLUMN     "slug" TEXT`, "additive", "adds column Rule.slug"],
  [
    "ADD COLUMN NOT NULL with DEFAULT",
    `ALTER TABLE "User" ADD COLUMN "displayName" TEXT NOT NULL DEFAULT ''`,
    "additive",
    "adds required column User.displayName",
  ],
  [
    "ADD COLUMN NOT NULL DEFAULT now() with precision",
    `ALTER TABLE "Rule" ADD COLUMN "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP`,
    "additive",
    "adds required column Rule.updatedAt",
  ],
  [
    "ADD COLUMN with a stable default (now())",
    `ALTER TABLE "Rule" ADD COLUMN "seenAt" TIMESTAMP(3) NOT NULL DEFAULT now()`,
    "additive",
    "adds required column Rule.seenAt",
  ],
  [
    "ADD CONSTRAINT … FOREIGN KEY … NOT VALID",
    `ALTER TABLE "Rule" ADD CONSTRAINT "Rule_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") NOT VALID`,
    "additive",
    "adds foreign key Rule_authorId_fkey on Rule(authorId) → User",
  ],
  [
    "DROP NOT NULL (relaxes)",
    `ALTER TABLE "Rule" ALTER COLUMN "summary" DROP NOT NULL`,
    "additive",
    "makes column Rule.summary optional",
  ],
  [
    "SET DEFAULT",
    `ALTER TABLE "Rule" ALTER COLUMN "title" SET DEFAULT 'Untitled'`,
    "additive",
    "sets the default of Rule.title",
  ],
  [
    "RENAME INDEX (Prisma's RenameIndex)",
    `ALTER INDEX "Rule_slug_key" RENAME TO "Rule_slug_unique"`,
    "additive",
    "renames index Rule_slug_key to Rule_slug_unique",
  ],
  [
    "INSERT",
    `INSERT INTO "Template" ("id", "slug", "body") VALUES ('t1', 'consensus', '{}')`,
    "additive",
    "inserts rows into Template",
  ],
  ["CREATE EXTENSION", `CREATE EXTENSION IF NOT EXISTS "citext"`, "additive", "enables extension citext"],
  [
    "COMMENT ON",
    `COMMENT ON COLUMN "Rule"."slug" IS 'URL name; unique per author'`,
    "additive",
    "sets a comment on column Rule.slug",
  ],
];

const RISKY: Row[] = [
  [
    "CREATE INDEX without CONCURRENTLY on an existing table",
    `CREATE INDEX "Rule_authorId_idx" ON "Rule"("authorId")`,
    "risky",
    "creates index Rule_authorId_idx on Rule(authorId)",
  ],
  [
    "ADD CONSTRAINT … FOREIGN KEY on an existing table (Prisma's new relation)",
    `ALTER TABLE "Rule" ADD CONSTRAINT "Rule_authorId_fkey" FOREIGN KEY` +
      ` ("authorId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE`,
    "risky",
    "adds foreign key Rule_authorId_fkey on Rule(authorId) → User",
  ],
  [
    "ADD COLUMN NOT NULL DEFAULT a volatile function",
    `ALTER TABLE "Rule" ADD COLUMN "token" TEXT NOT NULL DEFAULT gen_random_uuid()`,
    "risky",
    "adds required column Rule.token with a per-row default (gen_random_uuid())",
  ],
  [
    "ADD COLUMN SERIAL (a per-row sequence default)",
    `ALTER TABLE "Rule" ADD COLUMN "seq" SERIAL NOT NULL`,
    "risky",
    "adds required column Rule.seq with a per-row default (nextval() of its serial sequence)",
  ],
  [
    "ALTER COLUMN SET DATA TYPE",
    `ALTER TABLE "Rule" ALTER COLUMN "title" SET DATA TYPE VARCHAR(200)`,
    "risky",
    "changes type of column Rule.title to VARCHAR(200)",
  ],
  [
    "ALTER COLUMN TYPE … USING",
    `ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new")`,
    "risky",
    "changes type of column User.role to Role_new",
  ],
  [
    "SET NOT NULL",
    `ALTER TABLE "Rule" ALTER COLUMN "summary" SET NOT NULL`,
    "risky",
    "makes column Rule.summary required (SET NOT NULL)",
  ],
  [
    "ADD COLUMN NOT NULL without DEFAULT",
    `ALTER TABLE "Rule" ADD COLUMN "slug" TEXT NOT NULL`,
    "risky",
    "adds required column Rule.slug without a default",
  ],
  [
    "CREATE UNIQUE INDEX on an existing table",
    `CREATE UNIQUE INDEX "Rule_slug_key" ON "Rule"("slug")`,
    "risky",
    "creates unique index Rule_slug_key on Rule(slug)",
  ],
  ["RENAME COLUMN", `ALTER TABLE "Rule" RENAME COLUMN "name" TO "title"`, "risky", "renames column Rule.name to title"],
  ["RENAME table", `ALTER TABLE "Rule" RENAME TO "Policy"`, "risky", "renames table Rule to Policy"],
  ["RENAME type", `ALTER TYPE "Role" RENAME TO "Role_old"`, "risky", "renames type Role to Role_old"],
  ["ALTER TYPE ADD VALUE", `ALTER TYPE "Role" ADD VALUE 'MODERATOR'`, "risky", "adds value 'MODERATOR' to enum Role"],
  [
    "ADD CONSTRAINT UNIQUE on an existing table",
    `ALTER TABLE "Rule" ADD CONSTRAINT "Rule_slug_key" UNIQUE ("slug")`,
    "risky",
    "adds unique Rule_slug_key on Rule",
  ],
  ["DROP INDEX", `DROP INDEX "Rule_slug_key"`, "risky", "drops index Rule_slug_key"],
  [
    "DROP CONSTRAINT not re-added",
    `ALTER TABLE "Rule" DROP CONSTRAINT "Rule_authorId_fkey"`,
    "risky",
    "drops constraint Rule_authorId_fkey on Rule",
  ],
  [
    "UPDATE with WHERE",
    `UPDATE "Rule" SET "summary" = '' WHERE "summary" IS NULL`,
    "risky",
    "updates some rows of Rule (Rule.summary)",
  ],
  ["DELETE with WHERE", `DELETE FROM "Rule" WHERE "publishedAt" IS NULL`, "risky", "deletes some rows of Rule"],
  ["a DO block", `DO $$ BEGIN UPDATE "Rule" SET "x" = 1; END $$`, "risky", "runs a DO block"],
  [
    "an unknown statement",
    `GRANT SELECT ON "Rule" TO reporting`,
    "risky",
    `unrecognised statement: GRANT SELECT ON "Rule" TO reporting`,
  ],
  [
    "CREATE OR REPLACE FUNCTION",
    `CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql`,
    "risky",
    "replaces function touch",
  ],
];

const DESTRUCTIVE: Row[] = [
  ["DROP TABLE", `-- DropTable\nDROP TABLE "Legacy"`, "destructive", "drops table Legacy"],
  ["DROP TABLE of two", `DROP TABLE IF EXISTS "A", "B"`, "destructive", "drops tables A, B"],
  ["DROP COLUMN", `ALTER TABLE "User" DROP COLUMN "legacyId"`, "destructive", "drops column User.legacyId"],
  ["DROP TYPE", `DROP TYPE "Role_old"`, "destructive", "drops type Role_old"],
  ["TRUNCATE", `TRUNCATE TABLE "Session"`, "destructive", "empties table Session"],
  [
    "DELETE without WHERE",
    `DELETE FROM "Session"`,
    "destructive",
    "deletes every row of Session (DELETE without WHERE)",
  ],
  [
    "UPDATE without WHERE",
    `UPDATE "Rule" SET "title" = 'x'`,
    "destructive",
    "updates every row of Rule (UPDATE without WHERE: Rule.title)",
  ],
  [
    "DROP INDEX … CASCADE",
    `DROP INDEX "Rule_slug_key" CASCADE`,
    "destructive",
    "drops index Rule_slug_key with CASCADE",
  ],
  [
    "an ALTER TABLE mixing an additive and a destructive action (Prisma's combined AlterTable)",
    `ALTER TABLE "User" DROP COLUMN "legacyId",\nADD COLUMN     "displayName" TEXT`,
    "destructive",
    "drops column User.legacyId; adds column User.displayName",
  ],
];

const HOSTILE: Row[] = [
  [
    "lower case, unquoted (folded to lower case)",
    `alter table rule drop column legacyid`,
    "destructive",
    "drops column rule.legacyid",
  ],
  ["mixed case keywords", `Alter Table "Rule" Add Column "slug" text`, "additive", "adds column Rule.slug"],
  [
    "a comment inside the statement hiding the keyword",
    `ALTER TABLE "User" /* keep ADD COLUMN? no: */ DROP -- really\n COLUMN "legacyId"`,
    "destructive",
    "drops column User.legacyId",
  ],
  [
    "a commented-out WHERE",
    `DELETE FROM "Session" -- WHERE "expires" < now()\n`,
    "destructive",
    "deletes every row of Session (DELETE without WHERE)",
  ],
  [
    "WHERE only inside a string",
    `UPDATE "Rule" SET "summary" = 'see WHERE clause'`,
    "destructive",
    "updates every row of Rule (UPDATE without WHERE: Rule.summary)",
  ],
  [
    "a quoted name that reads like a keyword",
    `ALTER TABLE "DROP" ADD COLUMN "TABLE" TEXT`,
    "additive",
    "adds column DROP.TABLE",
  ],
  [
    "a quoted name with a semicolon and a space",
    `ALTER TABLE "odd; name" ADD COLUMN "a b" TEXT`,
    "additive",
    "adds column odd; name.a b",
  ],
  [
    "NOT NULL only inside a CHECK",
    `ALTER TABLE "Rule" ADD COLUMN "x" TEXT CHECK ("x" IS NOT NULL OR "y" IS NOT NULL)`,
    "additive",
    "adds column Rule.x",
  ],
  [
    "a dollar-quoted string default",
    `ALTER TABLE "Rule" ADD COLUMN "note" TEXT NOT NULL DEFAULT $q$it's; fine$q$`,
    "additive",
    "adds required column Rule.note",
  ],
  [
    "an E'' string with an escaped quote",
    `UPDATE "Rule" SET "summary" = E'it\\'s' WHERE "id" = 'a'`,
    "risky",
    "updates some rows of Rule (Rule.summary)",
  ],
  [
    "ONLY and IF EXISTS",
    `ALTER TABLE IF EXISTS ONLY "Rule" DROP COLUMN IF EXISTS "old"`,
    "destructive",
    "drops column Rule.old",
  ],
];

describe("classifyStatement", () => {
  it.each([...ADDITIVE, ...RISKY, ...DESTRUCTIVE, ...HOSTILE])("%s", (_name, sql, risk, summary) => {
    const s = one(sql);
    expect({ risk: s.risk, summary: s.summary }).toEqual({ risk, summary });
    // Every risky or destructive statement says why; additive ones need no reason.
    expect(s.reason === undefined).toBe(risk === "additive");
  });

  it("gives the reasons a reviewer reads in the gate", () => {
    expect(one(`ALTER TABLE "Rule" ALTER COLUMN "summary" SET NOT NULL`).reason).toBe(
      "fails when rows of Rule hold NULL in summary",
    );
    expect(one(`ALTER TABLE "User" DROP COLUMN "legacyId"`).reason).toBe("the column and its data are deleted");
    expect(one(`CREATE UNIQUE INDEX "Rule_slug_key" ON "Rule"("slug")`).reason).toBe(
      "fails when existing rows of Rule hold duplicate values; writes to Rule wait while it is built (no CONCURRENTLY)",
    );
    expect(one(`ALTER TABLE "Rule" ADD CONSTRAINT "f" FOREIGN KEY ("a") REFERENCES "User"("id")`).reason).toBe(
      "validates every existing row of Rule (fails on rows whose User is gone)" +
        " and blocks writes to both tables while it does (SHARE ROW EXCLUSIVE)",
    );
    expect(one(`GRANT ALL ON "Rule" TO x`).reason).toBe(
      "not recognised, so treated as risky: read it before releasing",
    );
  });

  it("treats an unterminated quote as risky instead of reading past it", () => {
    const { statements, risk } = classifyMigrationSql(
      `ALTER TABLE "Rule" ADD COLUMN "x" TEXT DEFAULT 'oops;\nDROP TABLE "Rule";`,
    );
    expect(risk).toBe("risky");
    expect(statements.map((s) => s.summary)).toEqual(["unreadable: unterminated string from line 1"]);
  });
});

describe("classifyMigrationSql", () => {
  it("counts a unique index on a table the same migration created as additive (Prisma's initial migration)", () => {
    const { risk, statements } = classifyMigrationSql(`
CREATE TABLE "User" ("id" TEXT NOT NULL, "email" TEXT NOT NULL, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
ALTER TABLE "User" ADD COLUMN "handle" TEXT NOT NULL;
ALTER TABLE "User" ADD CONSTRAINT "User_handle_key" UNIQUE ("handle");`);
    expect(statements.map((s) => s.risk)).toEqual(["additive", "additive", "additive", "additive"]);
    expect(risk).toBe("additive");
  });

  it("stops counting a created table as empty once the migration writes rows to it", () => {
    const { statements } = classifyMigrationSql(`
CREATE TABLE "Tag" ("id" TEXT NOT NULL, "name" TEXT);
INSERT INTO "Tag" ("id", "name") VALUES ('a', 'x'), ('b', 'x');
CREATE UNIQUE INDEX "Tag_name_key" ON "Tag"("name");`);
    expect(statements.map((s) => s.risk)).toEqual(["additive", "additive", "risky"]);
  });

  it("carries the context across the migrations of one release", () => {
    const ctx = newClassificationContext();
    classifyMigrationSql(`CREATE TABLE "Flag" ("id" TEXT NOT NULL)`, ctx);
    expect(classifyMigrationSql(`CREATE UNIQUE INDEX "Flag_id_key" ON "Flag"("id")`, ctx).risk).toBe("additive");
    expect(classifyMigrationSql(`CREATE UNIQUE INDEX "Flag_id_key" ON "Flag"("id")`).risk).toBe("risky");
  });

  it("counts filling a column added in the same release as additive, and anything else as a data change", () => {
    const { statements } = classifyMigrationSql(`
ALTER TABLE "Rule" ADD COLUMN "slug" TEXT;
UPDATE "Rule" SET "slug" = lower("title");
UPDATE "Rule" SET "slug" = "id", "title" = 'x';
ALTER TABLE "Rule" ALTER COLUMN "slug" SET NOT NULL;`);
    expect(statements.map((s) => [s.risk, s.summary])).toEqual([
      ["additive", "adds column Rule.slug"],
      ["additive", "fills new column Rule.slug"],
      ["destructive", "updates every row of Rule (UPDATE without WHERE: Rule.slug, Rule.title)"],
      ["risky", "makes column Rule.slug required (SET NOT NULL)"],
    ]);
  });

  it("counts an index and a foreign key on a table created in the same release as additive", () => {
    const { risk, statements } = classifyMigrationSql(`
CREATE TABLE "Stakeholder" ("id" TEXT NOT NULL, "ruleId" TEXT NOT NULL,
  CONSTRAINT "Stakeholder_pkey" PRIMARY KEY ("id"));
CREATE INDEX "Stakeholder_ruleId_idx" ON "Stakeholder"("ruleId");
ALTER TABLE "Stakeholder" ADD CONSTRAINT "Stakeholder_ruleId_fkey" FOREIGN KEY ("ruleId")
  REFERENCES "Rule"("id") ON DELETE CASCADE ON UPDATE CASCADE;`);
    expect(statements.map((s) => s.risk)).toEqual(["additive", "additive", "additive"]);
    expect(risk).toBe("additive");
  });

  it("counts a DROP TABLE of a table created earlier in the same release as additive, across migrations", () => {
    const ctx = newClassificationContext();
    classifyMigrationSql(`CREATE TABLE "Draft" ("id" TEXT NOT NULL);`, ctx);
    const dropped = classifyMigrationSql(`DROP TABLE "Draft";`, ctx);
    expect(dropped.statements[0]).toMatchObject({
      risk: "additive",
      summary: "drops table Draft created earlier in this release",
    });
    expect(classifyMigrationSql(`DROP TABLE "Draft";`, ctx).risk).toBe("destructive");
    expect(classifyMigrationSql(`DROP TABLE "Rule";`).risk).toBe("destructive");
  });

  it("counts Prisma's drop-and-re-add of a foreign key as additive, and a lone drop as risky", () => {
    const pair = classifyMigrationSql(`
-- DropForeignKey
ALTER TABLE "Rule" DROP CONSTRAINT "Rule_authorId_fkey";
-- AddForeignKey
ALTER TABLE "Rule" ADD CONSTRAINT "Rule_authorId_fkey" FOREIGN KEY ("authorId")
  REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;`);
    expect(pair.statements.map((s) => s.summary)).toEqual([
      "replaces constraint Rule_authorId_fkey on Rule",
      "adds foreign key Rule_authorId_fkey on Rule(authorId) → User",
    ]);
    expect(pair.risk).toBe("additive");
    expect(classifyMigrationSql(`ALTER TABLE "Rule" DROP CONSTRAINT "Rule_authorId_fkey";`).risk).toBe("risky");
  });

  it("classifies Prisma's enum value removal as destructive and leaves out transaction control from summaries", () => {
    const { risk, statements } = classifyMigrationSql(`
-- AlterEnum
BEGIN;
CREATE TYPE "Role_new" AS ENUM ('MEMBER', 'ADMIN');
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'MEMBER';
COMMIT;`);
    expect(risk).toBe("destructive");
    expect(statements.filter((s) => s.bookkeeping).map((s) => s.line)).toEqual([3, 11]);
    expect(statements.filter((s) => s.risk !== "additive").map((s) => s.line)).toEqual([6, 7, 8, 9]);
  });
});

describe("worstRisk", () => {
  it.each([
    [[], "additive"],
    [["additive", "risky"], "risky"],
    [["destructive", "additive", "risky"], "destructive"],
  ] as Array<[MigrationRisk[], MigrationRisk]>)("%j → %s", (risks, expected) => {
    expect(worstRisk(risks)).toBe(expected);
  });
});
