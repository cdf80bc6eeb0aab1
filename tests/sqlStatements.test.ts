import { describe, it, expect } from "vitest";
import { splitSqlStatements, type SqlToken } from "../steps/migrations/sqlStatements";

const texts = (sql: string) => splitSqlStatements(sql).map((s) => s.text);
const strings = (tokens: SqlToken[]) => tokens.filter((t) => t.kind === "string").map((t) => t.value);
const idents = (tokens: SqlToken[]) => tokens.filter((t) => t.kind === "ident").map((t) => t.value);

describe("splitSqlStatements", () => {
  it("splits a Prisma migration at its semicolons and keeps comments out of the tokens", () => {
    const sql = [
      "-- CreateTable",
      'CREATE TABLE "Rule" (',
      '    "id" TEXT NOT NULL,',
      '    CONSTRAINT "Rule_pkey" PRIMARY KEY ("id")',
      ");",
      "",
      "-- CreateIndex",
      'CREATE INDEX "Rule_id_idx" ON "Rule"("id");',
      "",
    ].join("\n");
    const statements = splitSqlStatements(sql);
    expect(statements.map((s) => s.line)).toEqual([2, 8]);
    expect(statements[1].text).toBe('CREATE INDEX "Rule_id_idx" ON "Rule"("id")');
    expect(statements[0].tokens.slice(0, 3)).toEqual([
      { kind: "word", value: "CREATE", upper: "CREATE" },
      { kind: "word", value: "TABLE", upper: "TABLE" },
      { kind: "ident", value: "Rule" },
    ]);
  });

  it.each([
    ["single-quoted string with '' escapes", `INSERT INTO "T" ("a") VALUES ('it''s; fine'); SELECT 1`, ["it's; fine"]],
    ["E'' string with a backslash-escaped quote", `INSERT INTO "T" ("a") VALUES (E'a\\';b\\n'); SELECT 1`, ["a';b\n"]],
    ["U&'' string", `INSERT INTO "T" ("a") VALUES (U&'x;y'); SELECT 1`, ["x;y"]],
    ["$$ body", `DO $$ BEGIN PERFORM 1; PERFORM 2; END $$; SELECT 1`, [" BEGIN PERFORM 1; PERFORM 2; END "]],
    [
      "$tag$ body holding $$",
      `CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $$ ; $fn$ LANGUAGE sql; SELECT 1`,
      [" SELECT 1; $$ ; "],
    ],
  ])("keeps a semicolon inside a %s", (_what, sql, expected) => {
    const statements = splitSqlStatements(sql);
    expect(statements).toHaveLength(2);
    expect(strings(statements[0].tokens)).toEqual(expected);
    expect(statements[1].text).toBe("SELECT 1");
  });

  it("keeps a semicolon inside a double-quoted identifier and unescapes doubled quotes", () => {
    const statements = splitSqlStatements(`CREATE TABLE "we;ird""name" ("a;b" TEXT); DROP TABLE x`);
    expect(statements).toHaveLength(2);
    expect(idents(statements[0].tokens)).toEqual(['we;ird"name', "a;b"]);
  });

  it("ignores semicolons in line comments and nested block comments, also mid-statement", () => {
    const sql = `ALTER TABLE "User" -- not the end;
      /* still /* nested ; */ not the end ; */ DROP COLUMN "legacyId"; SELECT 1`;
    const statements = splitSqlStatements(sql);
    expect(statements).toHaveLength(2);
    expect(statements[0].tokens.map((t) => t.value)).toEqual(["ALTER", "TABLE", "User", "DROP", "COLUMN", "legacyId"]);
    expect(statements[0].text.startsWith('ALTER TABLE "User" -- not the end;')).toBe(true);
  });

  it("reads $1 as a parameter, not as a dollar quote", () => {
    const statements = splitSqlStatements(`UPDATE t SET a = $1; SELECT 2`);
    expect(statements).toHaveLength(2);
    expect(statements[0].tokens.map((t) => t.value)).toEqual(["UPDATE", "t", "SET", "a", "=", "$", "1"]);
  });

  it("keeps a $ inside an unquoted identifier", () => {
    expect(splitSqlStatements(`SELECT a$b$ FROM t`)[0].tokens[1]).toEqual({
      kind: "word",
      value: "a$b$",
      upper: "A$B$",
    });
  });

  it("drops empty statements and files of comments only", () => {
    expect(texts(";;\n-- nothing\n/* at all */ ;")).toEqual([]);
    expect(texts("")).toEqual([]);
  });

  it("counts lines across multi-line strings and comments", () => {
    const statements = splitSqlStatements(`SELECT 'a\nb';\n/* x\ny */\nSELECT 2;`);
    expect(statements.map((s) => s.line)).toEqual([1, 5]);
  });

  it.each([
    ["string", `INSERT INTO t VALUES ('oops); DROP TABLE t;`],
    ["identifier", `CREATE TABLE "oops (a int); DROP TABLE t;`],
    ["dollar-quoted body", `DO $x$ BEGIN; DROP TABLE t;`],
    ["comment", `DROP /* never closed; DROP TABLE t;`],
  ])("marks an unterminated %s and swallows the rest instead of guessing", (what, sql) => {
    const statements = splitSqlStatements(`SELECT 1; ${sql}`);
    expect(statements).toHaveLength(2);
    expect(statements[1].unterminated).toBe(what);
  });

  it("reads the final statement without a trailing semicolon", () => {
    expect(texts(`SELECT 1;\nSELECT 2  \n`)).toEqual(["SELECT 1", "SELECT 2"]);
  });
});
