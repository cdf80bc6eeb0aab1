/**
 * Splits a Postgres migration script into statements and tokens, the way Postgres itself reads
 * the text: a `;` ends a statement only outside comments, strings, quoted identifiers and
 * dollar-quoted bodies. Pure; used by the migration classifier (migrationClassifier.ts).
 *
 * Handles what Prisma writes and what people add by hand: `--` line comments and nested
 * `/* … *\/` block comments (also in the middle of a statement), '…' strings with '' escapes,
 * E'…' strings with backslash escapes, U&'…' strings, "…" identifiers with "" escapes, and
 * $$…$$ / $tag$…$tag$ bodies. Comments are dropped from the tokens but kept in `text`.
 */

/** One lexical token of a statement; comments and whitespace are not tokens. */
export type SqlToken =
  /** An unquoted word: keyword or identifier. `upper` is for keyword matching. */
  | { kind: "word"; value: string; upper: string }
  /** A "double-quoted" identifier, unescaped; its case is significant. */
  | { kind: "ident"; value: string }
  /** A string constant ('…', E'…', U&'…' or dollar-quoted), unescaped where that is simple. */
  | { kind: "string"; value: string }
  | { kind: "number"; value: string }
  /** Any other character or operator: ( ) , . = :: etc. */
  | { kind: "symbol"; value: string };

/** One statement of a script. */
export interface SqlStatement {
  /** The statement as written (comments included), trimmed, without its terminating `;`. */
  text: string;
  /** 1-based line where the statement's first token starts. */
  line: number;
  tokens: SqlToken[];
  /** Set when the script ended inside a string, identifier, comment or dollar body. */
  unterminated?: "string" | "identifier" | "comment" | "dollar-quoted body";
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
/** A dollar-quote opener: `$$` or `$tag$` where tag is an identifier without `$`. */
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/**
 * Splits `sql` into statements. Empty statements (a lone `;`, a file of comments) are dropped.
 * Never throws: an unterminated quote or comment swallows the rest of the script into the last
 * statement, which is marked `unterminated` so the classifier can refuse to guess.
 */
export function splitSqlStatements(sql: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let tokens: SqlToken[] = [];
  let start = -1; // offset of the current statement's first token
  let startLine = 1;
  let line = 1;
  let i = 0;
  const n = sql.length;

  const begin = () => {
    if (start < 0) {
      start = i;
      startLine = line;
    }
  };
  const finish = (end: number, unterminated?: SqlStatement["unterminated"]) => {
    if (start >= 0 && tokens.length > 0) {
      const text = sql.slice(start, end).trim();
      statements.push(
        unterminated ? { text, line: startLine, tokens, unterminated } : { text, line: startLine, tokens },
      );
    }
    tokens = [];
    start = -1;
  };
  /** Advances to `to`, counting newlines on the way. */
  const advance = (to: number) => {
    for (let k = i; k < to && k < n; k++) if (sql[k] === "\n") line++;
    i = Math.min(to, n);
  };

  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];

    if (c === "\n" || c === " " || c === "\t" || c === "\r" || c === "\f") {
      advance(i + 1);
      continue;
    }
    if (c === "-" && next === "-") {
      const eol = sql.indexOf("\n", i);
      advance(eol < 0 ? n : eol);
      continue;
    }
    if (c === "/" && next === "*") {
      // Postgres block comments nest.
      let depth = 0;
      let k = i;
      while (k < n) {
        if (sql[k] === "/" && sql[k + 1] === "*") {
          depth++;
          k += 2;
        } else if (sql[k] === "*" && sql[k + 1] === "/") {
          depth--;
          k += 2;
          if (depth === 0) break;
        } else k++;
      }
      if (depth > 0) {
        // Comments alone do not make a statement; keep what came before it.
        const hadTokens = tokens.length > 0;
        advance(n);
        if (hadTokens) finish(n, "comment");
        break;
      }
      advance(k);
      continue;
    }
    if (c === ";") {
      finish(i);
      advance(i + 1);
      continue;
    }

    begin();

    // E'…' (backslash escapes) and U&'…' (Unicode escapes, read as plain) string constants.
    if ((c === "E" || c === "e") && next === "'") {
      const end = scanQuoted(sql, i + 1, "'", true);
      if (end < 0) return unterminatedTail("string");
      tokens.push({ kind: "string", value: unescapeE(sql.slice(i + 2, end - 1)) });
      advance(end);
      continue;
    }
    if ((c === "U" || c === "u") && next === "&" && (sql[i + 2] === "'" || sql[i + 2] === '"')) {
      const q = sql[i + 2];
      const end = scanQuoted(sql, i + 2, q, false);
      if (end < 0) return unterminatedTail(q === "'" ? "string" : "identifier");
      const value = sql
        .slice(i + 3, end - 1)
        .split(q + q)
        .join(q);
      tokens.push(q === "'" ? { kind: "string", value } : { kind: "ident", value });
      advance(end);
      continue;
    }
    if (c === "'") {
      const end = scanQuoted(sql, i, "'", false);
      if (end < 0) return unterminatedTail("string");
      tokens.push({
        kind: "string",
        value: sql
          .slice(i + 1, end - 1)
          .split("''")
          .join("'"),
      });
      advance(end);
      continue;
    }
    if (c === '"') {
      const end = scanQuoted(sql, i, '"', false);
      if (end < 0) return unterminatedTail("identifier");
      tokens.push({
        kind: "ident",
        value: sql
          .slice(i + 1, end - 1)
          .split('""')
          .join('"'),
      });
      advance(end);
      continue;
    }
    if (c === "$") {
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 130));
      if (tag) {
        const delimiter = tag[0];
        const close = sql.indexOf(delimiter, i + delimiter.length);
        if (close < 0) return unterminatedTail("dollar-quoted body");
        tokens.push({ kind: "string", value: sql.slice(i + delimiter.length, close) });
        advance(close + delimiter.length);
        continue;
      }
      // `$1`: a positional parameter; read it as a symbol plus digits.
    }
    if (WORD_START.test(c)) {
      let k = i + 1;
      while (k < n && WORD_PART.test(sql[k])) k++;
      const value = sql.slice(i, k);
      tokens.push({ kind: "word", value, upper: value.toUpperCase() });
      advance(k);
      continue;
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(next ?? ""))) {
      let k = i + 1;
      while (k < n && /[0-9.eE]/.test(sql[k])) k++;
      tokens.push({ kind: "number", value: sql.slice(i, k) });
      advance(k);
      continue;
    }
    if (c === ":" && next === ":") {
      tokens.push({ kind: "symbol", value: "::" });
      advance(i + 2);
      continue;
    }
    tokens.push({ kind: "symbol", value: c });
    advance(i + 1);
  }
  finish(n);
  return statements;

  function unterminatedTail(what: NonNullable<SqlStatement["unterminated"]>): SqlStatement[] {
    finish(n, what);
    return statements;
  }
}

/**
 * Offset just past the closing quote of the quoted run opening at `open`, or -1 when it never
 * closes. A doubled quote is an escaped quote; with `backslash`, `\x` escapes any character.
 */
function scanQuoted(sql: string, open: number, quote: string, backslash: boolean): number {
  let k = open + 1;
  while (k < sql.length) {
    const ch = sql[k];
    if (backslash && ch === "\\") {
      k += 2;
      continue;
    }
    if (ch === quote) {
      if (sql[k + 1] === quote) {
        k += 2;
        continue;
      }
      return k + 1;
    }
    k++;
  }
  return -1;
}

/** The common escapes of an E'…' constant; enough for naming things in summaries. */
function unescapeE(body: string): string {
  return body.replace(/''|\\(.)/g, (m, ch: string | undefined) => {
    if (m === "''") return "'";
    switch (ch) {
      case "n":
        return "\n";
      case "t":
        return "\t";
      case "r":
        return "\r";
      default:
        return ch ?? "";
    }
  });
}
