/**
 * engine/CONFORMANCE.md is the record of what the offline engine imitates: every row names a
 * real source (or says it is an assumption) and a test that exists.
 */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";

const root = path.resolve(__dirname, "..");

/** The record's table rows: behaviour, source, and the test as `file › name`. */
export function conformanceRows(
  markdown: string,
): Array<{ behaviour: string; source: string; file: string; test: string }> {
  const start = markdown.indexOf("| behaviour | source | test");
  return markdown
    .slice(start)
    .split("\n")
    .slice(2)
    .filter((line) => line.startsWith("|"))
    .map((line) => {
      const cells = line
        .slice(1, -1)
        .split(" | ")
        .map((c) => c.trim());
      const [file, test] = cells[2].split(" › ");
      return { behaviour: cells[0], source: cells[1], file, test };
    });
}

describe("engine/CONFORMANCE.md", () => {
  const rows = conformanceRows(fs.readFileSync(path.join(root, "engine", "CONFORMANCE.md"), "utf8"));

  it("lists the engine's behaviours", () => {
    expect(rows.length).toBeGreaterThanOrEqual(20);
  });

  it("every row names a source (a file of a repository) or says it is an assumption", () => {
    for (const row of rows) {
      expect(/`[\w./-]+\.(go|json)`|\*\*Assumption\*\*|Go `os\/exec`/.test(row.source), row.behaviour).toBe(true);
    }
  });

  it("every test a row names exists in the file it names", () => {
    for (const row of rows) {
      const file = path.join(root, row.file);
      expect(fs.existsSync(file), row.file).toBe(true);
      const text = fs.readFileSync(file, "utf8");
      expect(
        text.includes(`it("${row.test}"`) || text.includes(`it(\`${row.test}\``),
        `${row.file} › ${row.test}`,
      ).toBe(true);
    }
  });
});
