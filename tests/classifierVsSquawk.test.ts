/**
 * The classifier checked against squawk (npm squawk-cli, run offline) over the corpus: the 8 real
 * migrations, a Prisma-shaped case per rule and a hostile-formatting set. The table in
 * docs/classifier-vs-squawk.md is what the script produces, and every disagreement has a reason.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import {
  compareCorpus,
  comparisonProblems,
  formatComparison,
  DOC,
  type ComparisonRow,
} from "../commands/classifier-vs-squawk/main";

const projectDir = path.resolve(__dirname, "..");
let rows: ComparisonRow[];
const row = (id: string) => rows.find((r) => r.id === id)!;

beforeAll(() => {
  rows = compareCorpus(projectDir);
});

describe("classifier vs squawk", () => {
  it(
    "the script's --check passes: docs/classifier-vs-squawk.md" +
      " is what it produces and every difference is explained",
    () => {
      const out = execFileSync(
        process.execPath,
        [path.join(projectDir, "build", "commands", "classifier-vs-squawk", "main.js"), "--check"],
        { encoding: "utf8" },
      );
      expect(out).toContain(`${DOC} is up to date: ${rows.length} cases`);
      expect(
        comparisonProblems(rows, fs.readFileSync(path.join(projectDir, DOC), "utf8"), formatComparison(rows)),
      ).toEqual([]);
    },
  );

  it("covers the 8 real migrations, every rule case and the hostile set", () => {
    expect(rows.filter((r) => r.group === "real")).toHaveLength(8);
    expect(rows.filter((r) => r.group === "hostile").length).toBeGreaterThanOrEqual(8);
    expect(row("20260405120000_remove_otp_challenge")).toMatchObject({
      classifier: "destructive",
      squawk: ["ban-drop-table"],
      agree: true,
    });
  });

  it("follows squawk where it is right: lock, scan and rewrite on an existing table are not additive", () => {
    expect(row("add-fk-existing-table")).toMatchObject({ classifier: "risky", agree: true });
    expect(row("add-fk-existing-table").squawk).toContain("adding-foreign-key-constraint");
    expect(row("create-index-existing-table")).toMatchObject({
      classifier: "risky",
      squawk: ["require-concurrent-index-creation"],
      agree: true,
    });
    expect(row("add-column-not-null-volatile-default")).toMatchObject({
      classifier: "risky",
      squawk: ["adding-field-with-default"],
      agree: true,
    });
    expect(row("add-column-not-null-now-default")).toMatchObject({ classifier: "additive", squawk: [], agree: true });
    expect(row("create-index-concurrently")).toMatchObject({ classifier: "additive", agree: true });
  });

  it("differs on purpose with our own context (table created in this release), and unknown stays risky", () => {
    expect(row("drop-table-created-same-release")).toMatchObject({ classifier: "additive", agree: false });
    expect(row("create-table-then-index-and-fk")).toMatchObject({ classifier: "additive", agree: false });
    expect(row("unknown-statement")).toMatchObject({ classifier: "risky", squawk: [], agree: false });
    for (const r of rows.filter((x) => !x.agree)) expect(r.reason, r.id).toBeTruthy();
  });

  it("an unexplained disagreement or a stale file is a problem", () => {
    const broken = rows.map((r) =>
      r.id === "add-fk-existing-table" ? { ...r, classifier: "additive" as const, agree: false } : r,
    );
    expect(comparisonProblems(broken, formatComparison(rows), formatComparison(rows))).toEqual([
      "add-fk-existing-table: classifier says additive, squawk says adding-foreign-key-constraint," +
        " constraint-missing-not-valid; fix the rule or give the reason in DELIBERATE",
    ]);
    expect(comparisonProblems(rows, "old text", formatComparison(rows))).toEqual([
      `${DOC} is not what the comparison produces: run npm run classifier-vs-squawk`,
    ]);
  });
});
