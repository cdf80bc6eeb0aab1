/**
 * `npm run classifier-vs-squawk [-- --check]`: runs the migration classifier
 * (steps/migrations/classifier.ts) and squawk (npm squawk-cli, its own binary, offline) over
 * the corpus (commands/classifier-vs-squawk/corpus.ts) and writes the case-by-case table to
 * docs/classifier-vs-squawk.md. `--check` writes nothing and exits 1 when the file is not what the
 * run produces, or when a disagreement has no reason written down (tests/classifierVsSquawk.test.ts).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { classifyMigrationSql, type MigrationRisk } from "../../steps/migrations/classifier";
import { findProjectDir } from "../../lib/projectDir";
import { defineCli, runAsMain } from "../../lib/cli";
import { HOSTILE_CASES, RULE_CASES, realCases, type CorpusCase } from "./corpus";

export const DOC = path.join("docs", "classifier-vs-squawk.md");

/**
 * Squawk rules about how a migration is written, not what it does to existing rows (retries,
 * timeouts, column type preferences): reported, but not counted as squawk calling a case unsafe.
 */
export const HYGIENE_RULES = new Set([
  "prefer-robust-stmts",
  "require-lock-timeout",
  "require-statement-timeout",
  "prefer-bigint-over-int",
  "prefer-bigint-over-smallint",
  "prefer-identity",
  "prefer-timestamp-tz",
  "prefer-text-field",
  "ban-char-field",
  "transaction-nesting",
  "ban-concurrent-index-creation-in-transaction",
]);

/**
 * Where the classifier and squawk disagree on purpose, and why. A disagreement without an entry
 * here fails `--check` (and the test), so a new one is either fixed or explained.
 */
export const DELIBERATE: Record<string, string> = {
  "20260404180000_init":
    "Prisma's initial migration: every index and foreign key is on a table the same file creates, so none meets a row",
  "20260406015738_add_magic_link_token":
    "a new table and its indexes, created in the same file: no row to lock or check",
  "20260418170000_add_method_facet": "a new table and its indexes, created in the same file: no row to lock or check",
  "20260426000815_add_email_change_token":
    "a new table with its indexes and foreign key, created in the same file: no row to lock or check",
  "20260429000000_add_template_facet": "a new table and its indexes, created in the same file: no row to lock or check",
  "20260509035322_add_rule_stakeholder":
    "a new table with its indexes and foreign keys, created in the same file: no row to lock or check",
  "create-table-then-index-and-fk":
    "the table is created in the same migration, so the index and the foreign key meet no rows; squawk does not track that the referencing table is new",
  "replace-fk-drop-and-add":
    "Prisma's drop-and-re-add of the same foreign key (a changed ON DELETE): the rows already satisfied the same constraint, so it cannot fail; the re-validation scan remains, which we accept",
  "drop-not-null":
    "squawk's ban-drop-not-null warns that clients may not expect NULL; no existing row changes and older code still reads every row, so we count it additive",
  "drop-table-created-same-release":
    "the table was created earlier in the same release: no data existed before it; squawk flags every DROP TABLE",
  truncate: "squawk flags only TRUNCATE … CASCADE; every row is deleted either way, so we count it destructive",
  "delete-without-where":
    "squawk does not look at data changes; a DELETE without WHERE deletes every row, so we count it destructive",
  "update-with-where":
    "squawk does not look at data changes; an UPDATE overwrites existing values, so we count it risky",
  "unknown-statement": "not recognised: a reviewer reads it rather than a parser guessing (unknown stays risky)",
};

/** One row of the table. */
export interface ComparisonRow {
  id: string;
  group: CorpusCase["group"];
  classifier: MigrationRisk;
  /** What the classifier says, in its own summary. */
  summary: string;
  /** Squawk's safety rules for the case (hygiene rules left out), sorted. */
  squawk: string[];
  /** Squawk's hygiene rules for the case, sorted. */
  hygiene: string[];
  agree: boolean;
  /** Why we differ, when we do. */
  reason?: string;
}

/** Runs squawk once over every case (each written to its own file) and returns its rules per case id. */
export function runSquawk(cases: readonly CorpusCase[], scratchDir: string): Map<string, string[]> {
  const dir = path.join(scratchDir, "corpus");
  fs.mkdirSync(dir, { recursive: true });
  const files = cases.map((c) => {
    const file = path.join(dir, `${c.id}.sql`);
    fs.writeFileSync(file, c.sql);
    return file;
  });
  const bin = path.join(path.dirname(require.resolve("squawk-cli/package.json")), "js", "bin", "squawk");
  const run = spawnSync(process.execPath, [bin, "--reporter", "json", ...files], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error) throw run.error;
  let findings: Array<{ file: string; rule_name: string }>;
  try {
    findings = JSON.parse(run.stdout || "[]") as typeof findings;
  } catch {
    throw new Error(`squawk did not answer with JSON (exit ${run.status}): ${run.stderr.trim().slice(0, 300)}`);
  }
  const byId = new Map<string, string[]>(cases.map((c) => [c.id, []]));
  for (const f of findings) byId.get(path.basename(f.file, ".sql"))?.push(f.rule_name);
  return byId;
}

/** Classifies and compares every case. */
export function compareCorpus(projectDir: string): ComparisonRow[] {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "classifier-vs-squawk-"));
  try {
    const cases = [...realCases(projectDir, scratch), ...RULE_CASES, ...HOSTILE_CASES];
    const squawk = runSquawk(cases, scratch);
    return cases.map((c) => {
      const { risk, statements } = classifyMigrationSql(c.sql);
      const rules = [...new Set(squawk.get(c.id) ?? [])].sort();
      const safety = rules.filter((r) => !HYGIENE_RULES.has(r));
      const agree = (risk === "additive") === (safety.length === 0);
      const summary = statements
        .filter((s) => !s.bookkeeping)
        .map((s) => s.summary)
        .join("; ");
      const reason = DELIBERATE[c.id] || undefined;
      return {
        id: c.id,
        group: c.group,
        classifier: risk,
        summary,
        squawk: safety,
        hygiene: rules.filter((r) => HYGIENE_RULES.has(r)),
        agree,
        ...(agree ? {} : { reason }),
      };
    });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The document: how it is made, then one table row per case. */
export function formatComparison(rows: readonly ComparisonRow[]): string {
  const disagreements = rows.filter((r) => !r.agree);
  const lines = [
    "# Migration classifier vs squawk",
    "",
    "Produced by `npm run classifier-vs-squawk` (commands/classifier-vs-squawk/main.ts); `npm test` checks this file is what the run",
    "produces and that every disagreement has a reason. Do not edit by hand.",
    "",
    "Each case is one migration.sql run through our classifier (steps/migrations/classifier.ts, on a database that",
    "already has the tables it names unless the case creates them) and through squawk (npm `squawk-cli`, its default",
    "Postgres version). Squawk's verdict is its safety rules; the rules about how a file is written (`" +
      [...HYGIENE_RULES].join("`, `") +
      "`)",
    "are left out of the verdict. The two agree when we say additive exactly when squawk raises no safety rule.",
    "Cases: CommunityRule's 8 real migrations (`real`, from shared/fixtures/community-rule-history.bundle), one Prisma-shaped",
    "case per rule (`rule`), and the same statements written the hard way (`hostile`). On production, a new risky or destructive",
    "migration is refused until `communityrule:acknowledgeMigrations` names it (README: Database migrations in a release).",
    "",
    `${rows.length} cases, ${rows.length - disagreements.length} agree, ${disagreements.length} differ on purpose (reason given).`,
    "",
    "| case | set | classifier | what it says | squawk (safety rules) | agree | why we differ |",
    "|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| \`${r.id}\` | ${r.group} | ${r.classifier} | ${cell(r.summary)} | ${r.squawk.length > 0 ? r.squawk.map((x) => `\`${x}\``).join(", ") : "—"} | ${r.agree ? "yes" : "no"} | ${cell(r.reason ?? "")} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

/** Problems `--check` reports: an unexplained disagreement, or a file that is not what this run produces. */
export function comparisonProblems(
  rows: readonly ComparisonRow[],
  written: string | undefined,
  produced: string,
): string[] {
  const problems = rows
    .filter((r) => !r.agree && !r.reason)
    .map(
      (r) =>
        `${r.id}: classifier says ${r.classifier}, squawk says ${r.squawk.join(", ") || "nothing"}; fix the rule or give the reason in DELIBERATE`,
    );
  const agreeing = new Set(rows.filter((r) => r.agree).map((r) => r.id));
  const known = new Set(rows.map((r) => r.id));
  for (const id of Object.keys(DELIBERATE)) {
    if (agreeing.has(id) || !known.has(id))
      problems.push(`${id}: DELIBERATE gives a reason, but there is no disagreement to explain; remove it`);
  }
  if (written !== produced)
    problems.push(`${DOC} is not what the comparison produces: run npm run classifier-vs-squawk`);
  return problems;
}

export const classifierVsSquawkCli = defineCli({
  name: "classifier-vs-squawk",
  usage: "usage: npm run classifier-vs-squawk [-- --check]",
  spec: { positional: [], flags: ["check"] },
  parse: (a) => ({ check: a.flags.check }),
  run: ({ check }, { io }) => {
    const projectDir = findProjectDir(__dirname);
    const rows = compareCorpus(projectDir);
    const produced = formatComparison(rows);
    const file = path.join(projectDir, DOC);
    if (!check) {
      fs.writeFileSync(file, produced);
      io.stdout(`wrote ${DOC}: ${rows.length} cases, ${rows.filter((r) => !r.agree).length} deliberate differences`);
      return rows.some((r) => !r.agree && !r.reason) ? 1 : 0;
    }
    const problems = comparisonProblems(
      rows,
      fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined,
      produced,
    );
    for (const p of problems) io.stderr(p);
    if (problems.length === 0) io.stdout(`${DOC} is up to date: ${rows.length} cases`);
    return problems.length === 0 ? 0 : 1;
  },
});

if (require.main === module) runAsMain(classifierVsSquawkCli);
