/** What the operator docs promise about files and places is true of the repository. */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";

const root = path.resolve(__dirname, "..");
const docs = [
  "README.md",
  ...fs
    .readdirSync(path.join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => path.join("docs", f)),
];

describe("restore-drill records", () => {
  it("the default record path drills/<name>.json is not git-ignored: the runbook says to commit it", () => {
    const r = spawnSync("git", ["check-ignore", "--no-index", "-v", "drills/restore-drill-20261123-staging.json"], {
      cwd: root,
      encoding: "utf8",
    });
    // check-ignore exits 1 when the path is not ignored, 0 (and names the rule) when it is.
    expect(r.stdout).toBe("");
    expect(r.status).toBe(1);
  });
});

describe.each(docs)("%s", (file) => {
  it("every Markdown file it names exists in this repository, or is named with its path outside it", () => {
    const text = fs.readFileSync(path.join(root, file), "utf8");
    const named = [...text.matchAll(/(?<![\w/.-])((?:\.\.\/|\.\/)?[\w./-]*[\w-]+\.md)\b/g)].map((m) => m[1]);
    for (const name of named) {
      if (name.startsWith("../shared/")) continue; // outside the repository, and the text says where
      const candidates = [path.join(root, name), path.join(root, path.dirname(file), name)];
      expect(
        candidates.some((c) => fs.existsSync(c)),
        `${file} names ${name}, which is not in the repository`,
      ).toBe(true);
    }
  });
});
