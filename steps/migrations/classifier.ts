/**
 * Classifies the statements of a Prisma migration (Postgres) by what they can do to a database
 * that already holds data, and says each in one line for a reviewer. Pure; the statements come
 * from sqlStatements.ts.
 *
 * - additive: adds structure and changes no existing row (CREATE TABLE, CREATE TYPE, CREATE INDEX
 *   CONCURRENTLY, ADD COLUMN that is nullable or has a constant DEFAULT, INSERT; on a table created
 *   in the same release also CREATE INDEX and FOREIGN KEY, which meet no rows there).
 * - risky: may fail on existing data, rewrite it, lock it for long, or break code that does not
 *   know the change (ALTER COLUMN TYPE, SET NOT NULL, ADD COLUMN NOT NULL without DEFAULT, ADD
 *   COLUMN with a volatile DEFAULT, CREATE INDEX or UNIQUE INDEX without CONCURRENTLY on an
 *   existing table, FOREIGN KEY on an existing table, RENAME, ALTER TYPE … ADD VALUE, DROP
 *   INDEX/CONSTRAINT, UPDATE/DELETE with WHERE). Anything not recognised is risky too: a reviewer
 *   reads it rather than a parser guessing.
 * - destructive: deletes data or what holds it (DROP TABLE/COLUMN/TYPE/SCHEMA/SEQUENCE, TRUNCATE,
 *   DELETE or UPDATE without WHERE, any DROP … CASCADE); a DROP TABLE of a table created earlier
 *   in the same release is not (no data existed before the release).
 *
 * The lock and rewrite rules follow squawk 2.61 (npm squawk-cli; rules adding-foreign-key-constraint,
 * require-concurrent-index-creation, adding-field-with-default), checked case by case against it in
 * docs/classifier-vs-squawk.md (commands/classifier-vs-squawk/main.ts), which also lists where we differ.
 *
 * Two decisions worth knowing:
 * - `ALTER TYPE … ADD VALUE` is risky, not additive. It fails on nothing and changes no row, but
 *   once the new code writes the value, an older image (a rollback) reads rows its Prisma client
 *   cannot decode, so it is not undone by rolling the image back.
 * - `DROP INDEX` and `DROP CONSTRAINT` are risky, not destructive: no row is lost and they can be
 *   recreated, but a unique index or constraint takes its guarantee with it. When the same
 *   migration creates the same name again (Prisma's drop-and-re-add when a relation changes),
 *   the pair is additive.
 * Context carries what earlier statements of the same release created: a unique index, a NOT NULL
 * column or a constraint on a table created (and not yet filled) in this release meets no
 * existing rows, and an UPDATE that only fills columns added in this release overwrites nothing.
 */
import { splitSqlStatements, type SqlStatement, type SqlToken } from "./sqlStatements";

export type MigrationRisk = "additive" | "risky" | "destructive";

const RISK_ORDER: Record<MigrationRisk, number> = { additive: 0, risky: 1, destructive: 2 };

/** The worse of the given risks (additive when there are none). */
export function worstRisk(risks: Iterable<MigrationRisk>): MigrationRisk {
  let worst: MigrationRisk = "additive";
  for (const r of risks) if (RISK_ORDER[r] > RISK_ORDER[worst]) worst = r;
  return worst;
}

/** One statement, classified. */
export interface ClassifiedStatement {
  /** 1-based line in migration.sql. */
  line: number;
  /** The statement as written, without its `;`. */
  text: string;
  risk: MigrationRisk;
  /** One line for a reviewer: "creates table Rule", "drops column User.legacyId". */
  summary: string;
  /** Why it is risky or destructive (absent for additive statements). */
  reason?: string;
  /** Transaction control and session settings: counted, never shown in summaries. */
  bookkeeping?: boolean;
}

/**
 * What earlier statements of the release created. Shared across the new migrations of one
 * release, in order; {@link classifyMigrationSql} fills it as it goes.
 */
export interface ClassificationContext {
  /** Tables created in this release and not yet written to (normalized names). */
  emptyTables: Set<string>;
  /** Tables created in this release, written to or not: dropping one loses no data from before it. */
  createdTables: Set<string>;
  /** Columns added in this release, as `table.column` (normalized). */
  addedColumns: Set<string>;
  /** Constraints the migration being classified both drops and adds again (set per migration). */
  replacedConstraints: Set<string>;
}

export function newClassificationContext(): ClassificationContext {
  return { emptyTables: new Set(), createdTables: new Set(), addedColumns: new Set(), replacedConstraints: new Set() };
}

/** The classified statements of one migration.sql and their worst class. */
export interface MigrationClassification {
  risk: MigrationRisk;
  statements: ClassifiedStatement[];
}

/** Splits and classifies a whole migration.sql, updating `ctx` in statement order. */
export function classifyMigrationSql(
  sql: string,
  ctx: ClassificationContext = newClassificationContext(),
): MigrationClassification {
  const statements = splitSqlStatements(sql);
  const recreated = namesCreatedIn(statements);
  ctx.replacedConstraints = new Set([...constraintsDroppedIn(statements)].filter((n) => recreated.has(n)));
  const classified = statements.map((s) => classifyStatement(s, ctx, recreated));
  return { risk: worstRisk(classified.map((c) => c.risk)), statements: classified };
}

/** Names of constraints a script drops (ALTER TABLE … DROP CONSTRAINT [IF EXISTS] name). */
function constraintsDroppedIn(statements: SqlStatement[]): Set<string> {
  const names = new Set<string>();
  for (const s of statements) {
    const t = s.tokens;
    for (let k = 0; k + 1 < t.length; k++) {
      if (upper(t[k]) !== "CONSTRAINT" || upper(t[k - 1]) !== "DROP") continue;
      const at = upper(t[k + 1]) === "IF" ? k + 3 : k + 1;
      if (t[at]) names.add(normalizeName(readNameAt(t, at).parts));
    }
  }
  return names;
}

/** Names of indexes and constraints a script creates: a DROP of one of them is a replacement. */
function namesCreatedIn(statements: SqlStatement[]): Set<string> {
  const names = new Set<string>();
  for (const s of statements) {
    const t = s.tokens;
    for (let k = 0; k + 1 < t.length; k++) {
      const w = upper(t[k]);
      if (w === "CONSTRAINT" && k > 0 && upper(t[k - 1]) === "ADD") names.add(normalizeName([t[k + 1]]));
      if (w === "INDEX" && k > 0 && (upper(t[k - 1]) === "CREATE" || upper(t[k - 1]) === "UNIQUE")) {
        let j = k + 1;
        if (upper(t[j]) === "CONCURRENTLY") j++;
        if (upper(t[j]) === "IF") j += 3;
        if (t[j] && upper(t[j]) !== "ON") names.add(normalizeName(readNameAt(t, j).parts));
      }
    }
  }
  return names;
}

function upper(t: SqlToken | undefined): string | undefined {
  return t && t.kind === "word" ? t.upper : undefined;
}

/** A name as Postgres resolves it: unquoted words fold to lower case; `public.` is implied. */
function normalizeName(parts: SqlToken[]): string {
  const names = parts.map((p) => (p.kind === "word" ? p.value.toLowerCase() : p.value));
  if (names.length > 1 && names[0] === "public") names.shift();
  return names.join(".");
}

/** How a name is shown: as Postgres will store it, schema kept only when it is not public. */
function displayName(parts: SqlToken[]): string {
  return normalizeName(parts);
}

/** Reads a possibly qualified name (a.b.c) starting at token `at`. */
function readNameAt(tokens: SqlToken[], at: number): { parts: SqlToken[]; next: number } {
  const parts: SqlToken[] = [];
  let k = at;
  while (k < tokens.length && (tokens[k].kind === "word" || tokens[k].kind === "ident")) {
    parts.push(tokens[k]);
    k++;
    if (tokens[k]?.kind === "symbol" && (tokens[k] as { value: string }).value === "." && tokens[k + 1]) k++;
    else break;
  }
  return { parts, next: k };
}

/** A cursor over one statement's tokens, with keyword matching. */
class Reader {
  pos = 0;
  constructor(readonly tokens: SqlToken[]) {}
  peek(offset = 0): SqlToken | undefined {
    return this.tokens[this.pos + offset];
  }
  /** True (and consumed) when the next tokens are these keywords. */
  accept(...words: string[]): boolean {
    for (let k = 0; k < words.length; k++) if (upper(this.peek(k)) !== words[k]) return false;
    this.pos += words.length;
    return true;
  }
  is(word: string, offset = 0): boolean {
    return upper(this.peek(offset)) === word;
  }
  name(): SqlToken[] {
    const { parts, next } = readNameAt(this.tokens, this.pos);
    this.pos = next;
    return parts;
  }
  /** Comma-separated names (DROP TABLE a, b). */
  names(): SqlToken[][] {
    const out: SqlToken[][] = [];
    for (;;) {
      const n = this.name();
      if (n.length === 0) break;
      out.push(n);
      if (!this.symbol(",")) break;
    }
    return out;
  }
  symbol(value: string): boolean {
    const t = this.peek();
    if (t?.kind === "symbol" && t.value === value) {
      this.pos++;
      return true;
    }
    return false;
  }
  rest(): SqlToken[] {
    return this.tokens.slice(this.pos);
  }
}

/** Keywords of `tokens` outside parentheses, in order. */
function topLevelWords(tokens: SqlToken[]): string[] {
  const out: string[] = [];
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === "symbol" && t.value === "(") depth++;
    else if (t.kind === "symbol" && t.value === ")") depth--;
    else if (depth === 0 && t.kind === "word") out.push(t.upper);
  }
  return out;
}

/** Splits tokens at commas outside parentheses (the actions of one ALTER TABLE). */
function splitTopLevel(tokens: SqlToken[]): SqlToken[][] {
  const parts: SqlToken[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === "symbol" && t.value === "(") depth++;
    if (t.kind === "symbol" && t.value === ")") depth--;
    if (depth === 0 && t.kind === "symbol" && t.value === ",") parts.push([]);
    else parts[parts.length - 1].push(t);
  }
  return parts.filter((p) => p.length > 0);
}

/** The identifiers inside the first parenthesised group of `tokens` ("(\"email\")" → email). */
function parenthesisedNames(tokens: SqlToken[]): string[] {
  const open = tokens.findIndex((t) => t.kind === "symbol" && t.value === "(");
  if (open < 0) return [];
  const names: string[] = [];
  let depth = 0;
  for (let k = open; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.kind === "symbol" && t.value === "(") depth++;
    else if (t.kind === "symbol" && t.value === ")") {
      depth--;
      if (depth === 0) break;
    } else if (depth === 1 && (t.kind === "ident" || t.kind === "word")) names.push(normalizeName([t]));
  }
  return names;
}

function hasTopLevelSequence(words: string[], ...seq: string[]): boolean {
  for (let k = 0; k + seq.length <= words.length; k++) if (seq.every((w, j) => words[k + j] === w)) return true;
  return false;
}

/** Tokens back to compact text for a summary: `VARCHAR(200)`, `DOUBLE PRECISION`, `Role_new`. */
function renderTokens(tokens: SqlToken[]): string {
  return tokens
    .map((t) => (t.kind === "word" ? t.value.toUpperCase() : t.kind === "string" ? `'${t.value}'` : t.value))
    .join(" ")
    .replace(/\s+([(),.[\]])/g, "$1")
    .replace(/([(.[])\s+/g, "$1")
    .replace(/,(?! )/g, ", ");
}

/** One line of SQL for messages: comments stay out, whitespace collapses, long text is cut. */
function excerpt(text: string): string {
  const flat = text
    .replace(/--[^\n]*/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return flat.length > 70 ? `${flat.slice(0, 67)}…` : flat;
}

type Verdict = Omit<ClassifiedStatement, "line" | "text">;

const additive = (summary: string): Verdict => ({ risk: "additive", summary });
const risky = (summary: string, reason: string): Verdict => ({ risk: "risky", summary, reason });
const destructive = (summary: string, reason: string): Verdict => ({ risk: "destructive", summary, reason });

/**
 * Classifies one statement. `ctx` is read and updated (tables created, columns added);
 * `recreated` names indexes and constraints the same migration creates (see the module notes).
 */
export function classifyStatement(
  stmt: SqlStatement,
  ctx: ClassificationContext = newClassificationContext(),
  recreated: ReadonlySet<string> = new Set(),
): ClassifiedStatement {
  const verdict = stmt.unterminated
    ? risky(
        `unreadable: unterminated ${stmt.unterminated} from line ${stmt.line}`,
        "the file cannot be read to its end, so nothing after this point was checked",
      )
    : judge(new Reader(stmt.tokens), stmt, ctx, recreated);
  return { line: stmt.line, text: stmt.text, ...verdict };
}

function judge(r: Reader, stmt: SqlStatement, ctx: ClassificationContext, recreated: ReadonlySet<string>): Verdict {
  const unknown = () =>
    risky(
      `unrecognised statement: ${excerpt(stmt.text)}`,
      "not recognised, so treated as risky: read it before releasing",
    );

  if (r.accept("BEGIN") || r.accept("COMMIT") || r.accept("START", "TRANSACTION") || r.accept("END")) {
    return { ...additive("transaction control"), bookkeeping: true };
  }
  if (r.is("SET") || r.is("RESET")) return { ...additive("session setting"), bookkeeping: true };
  if (r.accept("COMMENT", "ON")) {
    const kind = r.peek()?.kind === "word" ? (r.peek() as { value: string }).value.toLowerCase() : "?";
    r.pos++;
    return additive(`sets a comment on ${kind} ${displayName(r.name())}`);
  }
  if (r.accept("CREATE")) return judgeCreate(r, ctx, unknown);
  if (r.accept("ALTER", "TABLE")) return judgeAlterTable(r, ctx, recreated, unknown);
  if (r.accept("ALTER", "TYPE")) return judgeAlterType(r, unknown);
  if (r.accept("ALTER", "INDEX")) {
    r.accept("IF", "EXISTS");
    const name = displayName(r.name());
    if (r.accept("RENAME", "TO")) return additive(`renames index ${name} to ${displayName(r.name())}`);
    return unknown();
  }
  if (r.accept("DROP")) return judgeDrop(r, ctx, recreated, unknown);
  if (r.accept("TRUNCATE")) {
    r.accept("TABLE");
    r.accept("ONLY");
    const names = r.names().map(displayName);
    return destructive(`empties ${plural("table", names)}`, "every row is deleted");
  }
  if (r.accept("DELETE", "FROM")) {
    r.accept("ONLY");
    const table = displayName(r.name());
    ctx.emptyTables.delete(table);
    if (topLevelWords(r.rest()).includes("WHERE")) return risky(`deletes some rows of ${table}`, "rows are deleted");
    return destructive(`deletes every row of ${table} (DELETE without WHERE)`, "every row is deleted");
  }
  if (r.accept("UPDATE")) return judgeUpdate(r, ctx);
  if (r.accept("INSERT", "INTO")) {
    const table = displayName(r.name());
    ctx.emptyTables.delete(table);
    const words = topLevelWords(r.rest());
    if (hasTopLevelSequence(words, "DO", "UPDATE"))
      return risky(`inserts or updates rows of ${table}`, "existing rows are overwritten on conflict");
    return additive(`inserts rows into ${table}`);
  }
  if (r.accept("DO")) return risky("runs a DO block", "runs arbitrary code: read it before releasing");
  return unknown();
}

function plural(noun: string, names: string[]): string {
  return `${noun}${names.length > 1 ? "s" : ""} ${names.join(", ")}`;
}

function judgeCreate(r: Reader, ctx: ClassificationContext, unknown: () => Verdict): Verdict {
  const replace = r.accept("OR", "REPLACE");
  const unique = r.accept("UNIQUE");
  if (r.accept("INDEX")) {
    const concurrently = r.accept("CONCURRENTLY");
    r.accept("IF", "NOT", "EXISTS");
    const indexName = r.is("ON") ? "" : displayName(r.name());
    if (!r.accept("ON")) return unknown();
    r.accept("ONLY");
    const table = displayName(r.name());
    const columns = parenthesisedNames(r.rest());
    const label = `${indexName ? `${indexName} ` : ""}on ${table}(${columns.join(", ")})`;
    if (ctx.emptyTables.has(table)) return additive(`creates ${unique ? "unique " : ""}index ${label}`);
    // Without CONCURRENTLY Postgres holds a SHARE lock while it reads the whole table: writes wait.
    const blocks = concurrently ? "" : `; writes to ${table} wait while it is built (no CONCURRENTLY)`;
    if (!unique)
      return concurrently
        ? additive(`creates index ${label}`)
        : risky(`creates index ${label}`, `writes to ${table} wait while it is built (no CONCURRENTLY)`);
    return risky(
      `creates unique index ${label}`,
      `fails when existing rows of ${table} hold duplicate values${blocks}`,
    );
  }
  if (unique) return unknown();
  if (replace) {
    const kind = r.peek();
    if (kind?.kind !== "word") return unknown();
    r.pos++;
    const name = displayName(r.name());
    return risky(
      `replaces ${kind.value.toLowerCase()} ${name}`,
      "an existing definition is replaced: read it before releasing",
    );
  }
  void (r.accept("UNLOGGED") || r.accept("TEMPORARY") || r.accept("TEMP"));
  if (r.accept("TABLE")) {
    r.accept("IF", "NOT", "EXISTS");
    const table = displayName(r.name());
    ctx.emptyTables.add(table);
    ctx.createdTables.add(table);
    if (topLevelWords(r.rest()).includes("AS")) {
      ctx.emptyTables.delete(table);
      return additive(`creates table ${table} from a query`);
    }
    return additive(`creates table ${table}`);
  }
  if (r.accept("TYPE")) {
    const name = displayName(r.name());
    return additive(
      r.accept("AS", "ENUM")
        ? `creates enum ${name} (${r
            .rest()
            .filter((t) => t.kind === "string")
            .map((t) => t.value)
            .join(", ")})`
        : `creates type ${name}`,
    );
  }
  if (r.accept("EXTENSION")) {
    r.accept("IF", "NOT", "EXISTS");
    return additive(`enables extension ${displayName(r.name())}`);
  }
  for (const kind of ["SEQUENCE", "VIEW", "SCHEMA", "FUNCTION", "PROCEDURE"]) {
    if (r.accept(kind)) {
      r.accept("IF", "NOT", "EXISTS");
      return additive(`creates ${kind.toLowerCase()} ${displayName(r.name())}`);
    }
  }
  if (r.accept("TRIGGER") || r.accept("CONSTRAINT", "TRIGGER")) {
    const name = displayName(r.name());
    const on = r.rest().findIndex((t) => upper(t) === "ON");
    const table = on >= 0 ? displayName(readNameAt(r.rest(), on + 1).parts) : "?";
    return risky(`creates trigger ${name} on ${table}`, `changes what every write to ${table} does`);
  }
  return unknown();
}

function judgeAlterType(r: Reader, unknown: () => Verdict): Verdict {
  const name = displayName(r.name());
  if (r.accept("ADD", "VALUE")) {
    r.accept("IF", "NOT", "EXISTS");
    const value = r.peek();
    return risky(
      `adds value ${value?.kind === "string" ? `'${value.value}'` : "?"} to enum ${name}`,
      "once rows hold the new value, an older release (a rollback) cannot read them",
    );
  }
  if (r.accept("RENAME", "VALUE")) {
    const from = r.peek(0);
    const to = r.peek(2);
    return risky(
      `renames value ${from?.kind === "string" ? `'${from.value}'` : "?"} of enum ${name} to ` +
        `${to?.kind === "string" ? `'${to.value}'` : "?"}`,
      "code that still uses the old value (the release running during the update, any rollback) fails",
    );
  }
  if (r.accept("RENAME", "TO")) {
    return risky(`renames type ${name} to ${displayName(r.name())}`, "code that still uses the old name fails");
  }
  return unknown();
}

function judgeDrop(
  r: Reader,
  ctx: ClassificationContext,
  recreated: ReadonlySet<string>,
  unknown: () => Verdict,
): Verdict {
  const cascade = topLevelWords(r.tokens).includes("CASCADE");
  const cascadeReason = "CASCADE also drops whatever depends on it, data included";
  const kindWords = r.accept("MATERIALIZED", "VIEW") ? "materialized view" : undefined;
  const kind = kindWords ?? (r.peek()?.kind === "word" ? (r.peek() as { upper: string }).upper : "");
  if (!kindWords) r.pos++;
  r.accept("CONCURRENTLY");
  r.accept("IF", "EXISTS");
  const names = r.names().map(displayName);
  const what = (noun: string) => plural(noun, names);
  switch (kind) {
    case "TABLE": {
      if (!cascade && names.length > 0 && names.every((n) => ctx.createdTables.has(n))) {
        for (const n of names) {
          ctx.createdTables.delete(n);
          ctx.emptyTables.delete(n);
        }
        return additive(`drops ${what("table")} created earlier in this release`);
      }
      return destructive(`drops ${what("table")}`, "the table and every row in it are deleted");
    }
    case "TYPE":
      return destructive(
        `drops ${what("type")}`,
        cascade ? cascadeReason : "the type is gone, with any value of it still stored",
      );
    case "SCHEMA":
    case "SEQUENCE":
    case "DATABASE":
      return destructive(
        `drops ${what(kind.toLowerCase())}`,
        kind === "SEQUENCE" ? "its counter is lost" : "everything in it is deleted",
      );
    case "INDEX": {
      if (cascade) return destructive(`drops ${what("index")} with CASCADE`, cascadeReason);
      if (names.length > 0 && names.every((n) => recreated.has(n))) return additive(`recreates ${what("index")}`);
      return risky(
        `drops ${what("index")}`,
        "no row is lost, but a unique index takes its guarantee with it and queries may slow down",
      );
    }
    case "VIEW":
    case "FUNCTION":
    case "PROCEDURE":
    case "TRIGGER":
    case "EXTENSION":
    case "materialized view": {
      const noun = kind.toLowerCase();
      if (cascade) return destructive(`drops ${what(noun)} with CASCADE`, cascadeReason);
      return risky(`drops ${what(noun)}`, `code or queries that use the ${noun} fail`);
    }
    default:
      return unknown();
  }
}

function judgeUpdate(r: Reader, ctx: ClassificationContext): Verdict {
  r.accept("ONLY");
  const table = displayName(r.name());
  const rest = r.rest();
  const words = topLevelWords(rest);
  // The assigned columns: the names right before a top-level '=' between SET and FROM/WHERE.
  const targets: string[] = [];
  let depth = 0;
  let inSet = false;
  for (let k = 0; k < rest.length; k++) {
    const t = rest[k];
    if (t.kind === "symbol" && t.value === "(") depth++;
    else if (t.kind === "symbol" && t.value === ")") depth--;
    else if (depth === 0 && t.kind === "word" && t.upper === "SET") inSet = true;
    else if (depth === 0 && t.kind === "word" && (t.upper === "FROM" || t.upper === "WHERE" || t.upper === "RETURNING"))
      inSet = false;
    else if (inSet && depth === 0 && t.kind === "symbol" && t.value === "=" && k > 0)
      targets.push(normalizeName([rest[k - 1]]));
  }
  ctx.emptyTables.delete(table);
  const fillsOnlyNewColumns = targets.length > 0 && targets.every((c) => ctx.addedColumns.has(`${table}.${c}`));
  const columns = targets.map((c) => `${table}.${c}`).join(", ");
  if (fillsOnlyNewColumns) return additive(`fills new column${targets.length > 1 ? "s" : ""} ${columns}`);
  if (words.includes("WHERE"))
    return risky(`updates some rows of ${table} (${columns || "?"})`, "existing values are overwritten");
  return destructive(
    `updates every row of ${table} (UPDATE without WHERE: ${columns || "?"})`,
    "existing values in every row are overwritten",
  );
}

const SERIAL_TYPES = new Set(["SERIAL", "BIGSERIAL", "SMALLSERIAL", "SERIAL4", "SERIAL8", "SERIAL2"]);

/**
 * Functions Postgres evaluates once for ADD COLUMN … DEFAULT (stable or immutable): since
 * Postgres 11 such a default is stored in the catalog and no row is rewritten. Any other call in a
 * default (random(), gen_random_uuid(), clock_timestamp(), nextval(), an unknown function) is
 * evaluated per row, which rewrites the whole table under an ACCESS EXCLUSIVE lock.
 */
const NON_VOLATILE_FUNCTIONS = new Set([
  "now",
  "transaction_timestamp",
  "statement_timestamp",
  "lower",
  "upper",
  "coalesce",
  "jsonb_build_object",
  "json_build_object",
  "array",
]);

/** Words that end a column's DEFAULT expression at the top level. */
const AFTER_DEFAULT = new Set([
  "NOT",
  "NULL",
  "CONSTRAINT",
  "REFERENCES",
  "UNIQUE",
  "CHECK",
  "PRIMARY",
  "GENERATED",
  "COLLATE",
]);

/** The first function call in the column's DEFAULT expression that Postgres evaluates per row, if any. */
function volatileDefault(tokens: SqlToken[]): string | undefined {
  let depth = 0;
  let inDefault = false;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.kind === "symbol" && t.value === "(") depth++;
    else if (t.kind === "symbol" && t.value === ")") depth--;
    else if (depth === 0 && t.kind === "word" && t.upper === "DEFAULT") inDefault = true;
    else if (depth === 0 && t.kind === "word" && AFTER_DEFAULT.has(t.upper)) inDefault = false;
    if (!inDefault || t.kind !== "word" || t.upper === "DEFAULT") continue;
    const next = tokens[k + 1];
    const cast = k > 0 && tokens[k - 1].kind === "symbol" && (tokens[k - 1] as { value: string }).value === "::";
    if (!cast && next?.kind === "symbol" && next.value === "(" && !NON_VOLATILE_FUNCTIONS.has(t.value.toLowerCase()))
      return `${t.value.toLowerCase()}()`;
  }
  return undefined;
}

function judgeAlterTable(
  r: Reader,
  ctx: ClassificationContext,
  recreated: ReadonlySet<string>,
  unknown: () => Verdict,
): Verdict {
  r.accept("IF", "EXISTS");
  r.accept("ONLY");
  const table = displayName(r.name());
  r.symbol("*");
  const isNew = ctx.emptyTables.has(table);

  if (r.accept("RENAME")) {
    if (r.accept("TO"))
      return risky(
        `renames table ${table} to ${displayName(r.name())}`,
        "code that still uses the old name (the release running during the update, any rollback) fails",
      );
    if (r.accept("CONSTRAINT")) {
      const from = displayName(r.name());
      r.accept("TO");
      return additive(`renames constraint ${from} to ${displayName(r.name())}`);
    }
    r.accept("COLUMN");
    const from = displayName(r.name());
    r.accept("TO");
    const to = displayName(r.name());
    return risky(
      `renames column ${table}.${from} to ${to}`,
      "code that still uses the old name (the release running during the update, any rollback) fails",
    );
  }

  const verdicts = splitTopLevel(r.rest()).map((action) =>
    judgeTableAction(new Reader(action), table, isNew, ctx, recreated),
  );
  if (verdicts.length === 0 || verdicts.some((v) => v === undefined)) return unknown();
  const all = verdicts as Verdict[];
  const risk = worstRisk(all.map((v) => v.risk));
  const reasons = all.filter((v) => v.risk === risk && v.reason).map((v) => v.reason as string);
  const summary = all.map((v) => v.summary).join("; ");
  return risk === "additive" ? additive(summary) : { risk, summary, reason: [...new Set(reasons)].join("; ") };
}

/** One action of an ALTER TABLE; undefined when not recognised. */
function judgeTableAction(
  r: Reader,
  table: string,
  isNew: boolean,
  ctx: ClassificationContext,
  recreated: ReadonlySet<string>,
): Verdict | undefined {
  if (r.accept("ADD")) {
    const constraintName = r.accept("CONSTRAINT") ? displayName(r.name()) : undefined;
    const words = topLevelWords(r.rest());
    const label = constraintName ? `${constraintName} ` : "";
    if (r.is("FOREIGN")) {
      const refAt = r.rest().findIndex((t) => upper(t) === "REFERENCES");
      const target = refAt >= 0 ? displayName(readNameAt(r.rest(), refAt + 1).parts) : "?";
      const summary = `adds foreign key ${label}on ${table}(${parenthesisedNames(r.rest()).join(", ")}) → ${target}`;
      // A new table has no rows to check; NOT VALID skips the check; Prisma's drop-and-re-add of
      // the same constraint meets only rows the old one already held to it.
      if (
        isNew ||
        hasTopLevelSequence(words, "NOT", "VALID") ||
        (constraintName !== undefined && ctx.replacedConstraints.has(constraintName))
      ) {
        return additive(summary);
      }
      return risky(
        summary,
        `validates every existing row of ${table} (fails on rows whose ${target} is gone) and blocks writes to both ` +
          `tables while it does (SHARE ROW EXCLUSIVE)`,
      );
    }
    if (r.is("UNIQUE") || r.is("PRIMARY") || r.is("CHECK") || r.is("EXCLUDE")) {
      const kind = r.is("PRIMARY") ? "primary key" : (r.peek() as { value: string }).value.toLowerCase();
      const summary = `adds ${kind} ${label}on ${table}`;
      if (isNew || (kind === "check" && words.includes("NOT") && words.includes("VALID"))) return additive(summary);
      return risky(summary, `fails when existing rows of ${table} violate it`);
    }
    if (constraintName) return undefined;
    r.accept("COLUMN");
    r.accept("IF", "NOT", "EXISTS");
    const columnTokens = r.name();
    if (columnTokens.length === 0) return undefined;
    const column = displayName(columnTokens);
    ctx.addedColumns.add(`${table}.${column}`);
    const rest = topLevelWords(r.rest());
    const required = hasTopLevelSequence(rest, "NOT", "NULL") || hasTopLevelSequence(rest, "PRIMARY", "KEY");
    const filled = rest.includes("DEFAULT") || rest.includes("GENERATED") || rest.some((w) => SERIAL_TYPES.has(w));
    const summary = `adds ${required ? "required " : ""}column ${table}.${column}`;
    const perRow =
      volatileDefault(r.rest()) ??
      (rest.some((w) => SERIAL_TYPES.has(w)) ? "nextval() of its serial sequence" : undefined);
    if (perRow && !isNew) {
      return risky(
        `${summary} with a per-row default (${perRow})`,
        `rewrites every row of ${table} and blocks reads and writes while it does (ACCESS EXCLUSIVE)`,
      );
    }
    if (required && !filled && !isNew)
      return risky(
        `${summary} without a default`,
        `fails when ${table} already has rows: a required column needs a DEFAULT`,
      );
    if (rest.includes("UNIQUE") && filled && !isNew)
      return risky(
        `${summary} (unique, with a default)`,
        `every existing row gets the same default, which a unique column refuses`,
      );
    return additive(summary);
  }
  if (r.accept("DROP")) {
    if (r.accept("CONSTRAINT")) {
      r.accept("IF", "EXISTS");
      const name = displayName(r.name());
      if (topLevelWords(r.rest()).includes("CASCADE"))
        return destructive(
          `drops constraint ${name} on ${table} with CASCADE`,
          "CASCADE also drops whatever depends on it",
        );
      if (recreated.has(name)) return additive(`replaces constraint ${name} on ${table}`);
      return risky(
        `drops constraint ${name} on ${table}`,
        "removes a guarantee (unique, foreign key or check) the code may rely on",
      );
    }
    r.accept("COLUMN");
    r.accept("IF", "EXISTS");
    const column = displayName(r.name());
    if (!column) return undefined;
    return destructive(`drops column ${table}.${column}`, "the column and its data are deleted");
  }
  if (r.accept("ALTER")) {
    r.accept("COLUMN");
    const column = displayName(r.name());
    const qualified = `${table}.${column}`;
    if (r.accept("SET", "DATA", "TYPE") || r.accept("TYPE")) {
      const using = r.rest().findIndex((t) => upper(t) === "USING" || upper(t) === "COLLATE");
      const type = renderTokens(using < 0 ? r.rest() : r.rest().slice(0, using));
      if (isNew) return additive(`changes type of column ${qualified} to ${type}`);
      return risky(
        `changes type of column ${qualified} to ${type}`,
        "existing values are converted; the change fails or loses data when they do not fit",
      );
    }
    if (r.accept("SET", "NOT", "NULL")) {
      if (isNew) return additive(`makes column ${qualified} required`);
      return risky(
        `makes column ${qualified} required (SET NOT NULL)`,
        `fails when rows of ${table} hold NULL in ${column}`,
      );
    }
    if (r.accept("DROP", "NOT", "NULL")) return additive(`makes column ${qualified} optional`);
    if (r.accept("SET", "DEFAULT")) return additive(`sets the default of ${qualified}`);
    if (r.accept("DROP", "DEFAULT")) return additive(`drops the default of ${qualified}`);
    return undefined;
  }
  if (r.accept("VALIDATE", "CONSTRAINT")) {
    return risky(
      `validates constraint ${displayName(r.name())} on ${table}`,
      `fails when existing rows of ${table} violate it`,
    );
  }
  return undefined;
}
