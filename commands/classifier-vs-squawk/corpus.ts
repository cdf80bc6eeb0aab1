/**
 * The corpus the migration classifier is checked on against squawk: CommunityRule's 8 real
 * migrations (read from shared/fixtures/community-rule-history.bundle at run time), Prisma-shaped
 * cases for each rule of steps/migrations/classifier.ts, and a hostile-formatting set. Each
 * case is one migration.sql applied to a database that already has the tables it names, unless
 * the case creates them first.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";

export interface CorpusCase {
  id: string;
  group: "real" | "rule" | "hostile";
  sql: string;
}

/** Prisma-shaped cases, one per rule (and per context the rule depends on). */
export const RULE_CASES: CorpusCase[] = [
  {
    id: "create-table",
    sql:
      `-- CreateTable\nCREATE TABLE "Note" (\n    "id" TEXT NOT NULL,\n    CONSTRAINT "Note_pkey" PRIMARY KEY ` +
      `("id")\n);\n`,
  },
  { id: "add-column-nullable", sql: `-- AlterTable\nALTER TABLE "Rule" ADD COLUMN "summary" TEXT;\n` },
  {
    id: "add-column-not-null-constant-default",
    sql: `ALTER TABLE "Rule" ADD COLUMN "status" TEXT NOT NULL DEFAULT 'draft';\n`,
  },
  {
    id: "add-column-not-null-now-default",
    sql: `ALTER TABLE "Rule" ADD COLUMN "seenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;\n`,
  },
  {
    id: "add-column-not-null-volatile-default",
    sql: `ALTER TABLE "Rule" ADD COLUMN "token" TEXT NOT NULL DEFAULT gen_random_uuid();\n`,
  },
  { id: "add-column-not-null-no-default", sql: `ALTER TABLE "Rule" ADD COLUMN "slug" TEXT NOT NULL;\n` },
  { id: "add-column-serial", sql: `ALTER TABLE "Rule" ADD COLUMN "seq" SERIAL NOT NULL;\n` },
  {
    id: "create-index-existing-table",
    sql: `-- CreateIndex\nCREATE INDEX "Rule_authorId_idx" ON "Rule"("authorId");\n`,
  },
  { id: "create-index-concurrently", sql: `CREATE INDEX CONCURRENTLY "Rule_authorId_idx" ON "Rule"("authorId");\n` },
  {
    id: "create-unique-index-existing-table",
    sql: `-- CreateIndex\nCREATE UNIQUE INDEX "Rule_slug_key" ON "Rule"("slug");\n`,
  },
  {
    id: "create-table-then-index-and-fk",
    sql:
      `CREATE TABLE "Stakeholder" ("id" TEXT NOT NULL, "ruleId" TEXT NOT NULL, CONSTRAINT "Stakeholder_pkey" PRIMARY ` +
      `KEY ("id"));\n` +
      `CREATE INDEX "Stakeholder_ruleId_idx" ON "Stakeholder"("ruleId");\n` +
      `ALTER TABLE "Stakeholder" ADD CONSTRAINT "Stakeholder_ruleId_fkey" FOREIGN KEY ("ruleId") REFERENCES ` +
      `"Rule"("id") ON DELETE CASCADE ON UPDATE CASCADE;\n`,
  },
  {
    id: "add-fk-existing-table",
    sql:
      `-- AddForeignKey\nALTER TABLE "Rule" ADD CONSTRAINT "Rule_authorId_fkey" FOREIGN KEY ("authorId") ` +
      `REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;\n`,
  },
  {
    id: "add-fk-not-valid",
    sql:
      `ALTER TABLE "Rule" ADD CONSTRAINT "Rule_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ` +
      `NOT VALID;\n`,
  },
  {
    id: "replace-fk-drop-and-add",
    sql:
      `-- DropForeignKey\nALTER TABLE "Rule" DROP CONSTRAINT "Rule_authorId_fkey";\n\n` +
      `-- AddForeignKey\nALTER TABLE "Rule" ADD CONSTRAINT "Rule_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES ` +
      `"User"("id") ON DELETE CASCADE ON UPDATE CASCADE;\n`,
  },
  { id: "set-not-null", sql: `ALTER TABLE "Rule" ALTER COLUMN "summary" SET NOT NULL;\n` },
  { id: "drop-not-null", sql: `ALTER TABLE "Rule" ALTER COLUMN "summary" DROP NOT NULL;\n` },
  { id: "alter-column-type", sql: `ALTER TABLE "Rule" ALTER COLUMN "title" SET DATA TYPE VARCHAR(200);\n` },
  { id: "rename-column", sql: `ALTER TABLE "Rule" RENAME COLUMN "name" TO "title";\n` },
  { id: "rename-table", sql: `ALTER TABLE "Rule" RENAME TO "Policy";\n` },
  { id: "enum-add-value", sql: `-- AlterEnum\nALTER TYPE "Role" ADD VALUE 'MODERATOR';\n` },
  { id: "add-unique-constraint", sql: `ALTER TABLE "Rule" ADD CONSTRAINT "Rule_slug_key" UNIQUE ("slug");\n` },
  { id: "drop-index", sql: `-- DropIndex\nDROP INDEX "Rule_slug_key";\n` },
  { id: "drop-column", sql: `-- AlterTable\nALTER TABLE "User" DROP COLUMN "legacyId";\n` },
  { id: "drop-table", sql: `-- DropTable\nDROP TABLE "Legacy";\n` },
  { id: "drop-table-created-same-release", sql: `CREATE TABLE "Draft" ("id" TEXT NOT NULL);\nDROP TABLE "Draft";\n` },
  { id: "truncate", sql: `TRUNCATE TABLE "Session";\n` },
  { id: "delete-without-where", sql: `DELETE FROM "Session";\n` },
  { id: "update-with-where", sql: `UPDATE "Rule" SET "summary" = '' WHERE "summary" IS NULL;\n` },
  { id: "unknown-statement", sql: `GRANT SELECT ON "Rule" TO reporting;\n` },
].map((c) => ({ ...c, group: "rule" as const }));

/** The same kinds of statement, written the way hand-edited or generated files can look. */
export const HOSTILE_CASES: CorpusCase[] = [
  { id: "lowercase-and-spacing", sql: `alter   table\n  "Rule"\n    add   column "x"   text   not null ;\n` },
  {
    id: "comments-between-tokens",
    sql: `ALTER /* why */ TABLE "User" -- the table\n DROP /* old */ COLUMN "legacyId";\n`,
  },
  {
    id: "drop-in-string-literal",
    sql: `INSERT INTO "Note" ("id", "body") VALUES ('n1', 'DROP TABLE "Rule"; -- not a statement');\n`,
  },
  { id: "drop-in-dollar-quote", sql: `COMMENT ON TABLE "Rule" IS $$DROP TABLE "Rule";$$;\n` },
  { id: "two-statements-one-line", sql: `ALTER TABLE "Rule" ADD COLUMN "a" TEXT; DROP TABLE "Legacy";\n` },
  { id: "crlf-line-endings", sql: `-- CreateIndex\r\nCREATE UNIQUE INDEX "Rule_slug_key" ON "Rule"("slug");\r\n` },
  {
    id: "schema-qualified-unquoted",
    sql:
      `ALTER TABLE public.rule ADD CONSTRAINT rule_author_fkey FOREIGN KEY (author_id) REFERENCES ` +
      `public.app_user(id);\n`,
  },
  { id: "no-trailing-semicolon", sql: `DROP TABLE IF EXISTS "OtpChallenge"` },
  { id: "quoted-identifier-with-semicolon", sql: `ALTER TABLE "Rule" ADD COLUMN "a;b" TEXT;\n` },
].map((c) => ({ ...c, group: "hostile" as const }));

/** The history bundle, resolved from the repository (shared/ sits beside it in CI's clean clone). */
export function historyBundle(projectDir: string): string {
  return path.resolve(projectDir, "..", "shared", "fixtures", "community-rule-history.bundle");
}

/** CommunityRule's real migrations at the bundle's HEAD, in Prisma's order. */
export function realCases(projectDir: string, scratchDir: string): CorpusCase[] {
  const bundle = historyBundle(projectDir);
  if (!fs.existsSync(bundle))
    throw new Error(`${bundle} is missing: the comparison needs shared/fixtures beside the repository`);
  const clone = path.join(scratchDir, "history");
  execFileSync("git", ["clone", "-q", bundle, clone], { stdio: "pipe" });
  const dir = path.join(clone, "prisma", "migrations");
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .map((name) => ({
      id: name,
      group: "real" as const,
      sql: fs.readFileSync(path.join(dir, name, "migration.sql"), "utf8"),
    }));
}
