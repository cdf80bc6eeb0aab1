/**
 * Structure rules a reviewer would otherwise have to remember:
 * - no module outside tests/ imports from tests/ (lint has the same rule; this also covers
 *   `require` and dynamic `import()` strings);
 * - config defaults are written once, in lib/config/schema.ts: no `?? <default>` copy elsewhere.
 */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { CONFIG_DEFAULTS } from "../lib/config/schema";

const root = path.resolve(__dirname, "..");
const SKIP = new Set(["node_modules", "build", "tests", ".git", ".artifacts"]);

function productFiles(dir = root): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return productFiles(full);
    return /\.ts$/.test(e.name) && !e.name.endsWith(".d.ts") ? [full] : [];
  });
}

/** Module specifiers a file loads: import … from, export … from, require(), import(). */
export function specifiers(text: string): string[] {
  return [...text.matchAll(/(?:\bfrom\s+|\brequire\(\s*|\bimport\(\s*)["']([^"']+)["']/g)].map((m) => m[1]);
}

/** Files whose default copies belong to another branch's rewrite; empty this list once it lands. */
const PENDING_REWRITE = new Set(["components/cloudronApp.ts", "components/appEnv.ts", "components/seedOnce.ts", "tools/cloudronApp.ts"]);

describe("imports", () => {
  it("specifiers() finds every form", () => {
    expect(specifiers(`import a from "../tests/x";\nexport * from './y';\nconst z = require("../tests/z");\nawait import("./w");`)).toEqual(["../tests/x", "./y", "../tests/z", "./w"]);
  });

  it("no module outside tests/ imports from tests/", () => {
    const testsDir = path.join(root, "tests");
    const offenders = productFiles().flatMap((file) =>
      specifiers(fs.readFileSync(file, "utf8"))
        .filter((s) => s.startsWith("."))
        .filter((s) => path.resolve(path.dirname(file), s).startsWith(testsDir + path.sep))
        .map((s) => `${path.relative(root, file)} → ${s}`),
    );
    expect(offenders).toEqual([]);
  });
});

describe("defaults", () => {
  it("each numeric config default is written only in lib/config/schema.ts", () => {
    const numbers = (Object.values(CONFIG_DEFAULTS) as unknown[]).filter((v): v is number => typeof v === "number");
    const copy = new RegExp(`\\?\\?\\s*(${numbers.join("|")})\\b`);
    const offenders = productFiles()
      .map((f) => path.relative(root, f))
      .filter((f) => f !== path.join("lib", "config", "schema.ts") && !PENDING_REWRITE.has(f))
      .filter((f) => copy.test(fs.readFileSync(path.join(root, f), "utf8")));
    expect(offenders).toEqual([]);
  });
});
