/**
 * Structure rules a reviewer would otherwise have to remember:
 * - no module outside tests/ imports from tests/ (lint has the same rule; this also covers
 *   `require` and dynamic `import()` strings);
 * - config defaults are written once, in config/schema.ts: no copy of one in another product file
 *   (a `?? <default>`, the value beside its key's name, a string default as a literal);
 * - one argument parser: no `class UsageError` and no function named `parseArgs` outside lib/cli.ts.
 */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { CONFIG_DEFAULTS } from "../config/schema";

const root = path.resolve(__dirname, "..");
const SKIP = new Set(["node_modules", "build", "tests", ".git", ".artifacts"]);

function productFiles(dir = root): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return productFiles(full);
    return /\.(ts|cjs|mjs|js)$/.test(e.name) && !e.name.endsWith(".d.ts") ? [full] : [];
  });
}

/** Module specifiers a file loads: import … from, export … from, require(), import(). */
export function specifiers(text: string): string[] {
  return [...text.matchAll(/(?:\bfrom\s+|\brequire\(\s*|\bimport\(\s*)["']([^"']+)["']/g)].map((m) => m[1]);
}

describe("imports", () => {
  it("specifiers() finds every form", () => {
    expect(
      specifiers(
        `import a from "../tests/x";\nexport * from './y';\nconst z = require("../tests/z");\nawait import("./w");`,
      ),
    ).toEqual(["../tests/x", "./y", "../tests/z", "./w"]);
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

describe("zod's process-wide state", () => {
  it("product code never writes it: the lifecycle host keeps zod loaded between passes", () => {
    // zod's config and registries outlive a load of the library (they sit on globalThis), so a
    // program that set them would carry them from one pass into the next (engine/host.ts
    // forgetProgramModules).
    const writes = /\bz\.config\(|\bglobalRegistry\b|\bz\.registry\(|\.register\(|\.meta\(|\.describe\(|\bz\.locales\b/;
    const zodUsers = productFiles().filter((file) =>
      specifiers(fs.readFileSync(file, "utf8")).some((s) => s === "zod" || s.endsWith("/zod")),
    );
    expect(zodUsers.length).toBeGreaterThan(3);
    const offenders = zodUsers.filter((file) => writes.test(fs.readFileSync(file, "utf8")));
    expect(offenders.map((file) => path.relative(root, file))).toEqual([]);
  });
});

/** Words of a camelCase key, lower case: `healthTimeoutSeconds` → health, timeout, seconds. */
const wordsOf = (key: string) => key.split(/(?=[A-Z])/).map((w) => w.toLowerCase());

/**
 * Where a source text writes a config default again, line by line (comments left out):
 * - a number default after `??` or `||`;
 * - a number default (or that many thousand, as milliseconds) on a line naming its key, or the
 *   key's last two words (`timeoutSeconds` for healthTimeoutSeconds);
 * - a string default of five characters or more as a quoted literal (shorter ones, "0" and "1",
 *   are everywhere).
 */
export function defaultCopies(text: string, defaults: Record<string, unknown>): string[] {
  const found: string[] = [];
  const escape = (v: string) => v.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  text.split("\n").forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, "");
    if (/^\s*(\*|\/\*)/.test(code)) return;
    const lower = code.toLowerCase();
    for (const [key, value] of Object.entries(defaults)) {
      let copied = false;
      if (typeof value === "number") {
        const literal = `(?<![\\w.])(?:${value}|${value}_?000)(?![\\w.])`;
        const names = [key.toLowerCase(), wordsOf(key).slice(-2).join("")];
        copied =
          new RegExp(`(\\?\\?|\\|\\|)\\s*${literal}`).test(code) ||
          (names.some((n) => lower.includes(n)) && new RegExp(literal).test(code));
      } else if (typeof value === "string" && value.length >= 5) {
        copied = new RegExp(`["'\`]${escape(value)}["'\`]`).test(code);
      }
      if (copied) found.push(`line ${i + 1}: ${key}`);
    }
  });
  return found;
}

describe("defaults", () => {
  const sample = { healthTimeoutSeconds: 300, appDir: "../community-rule", seedRun: "1" };
  it("defaultCopies() finds a default written again in every form, and not in comments", () => {
    expect(defaultCopies("const t = opts.timeout ?? 300;", sample)).toEqual(["line 1: healthTimeoutSeconds"]);
    expect(defaultCopies("x\nconst timeoutSeconds = 300;", sample)).toEqual(["line 2: healthTimeoutSeconds"]);
    expect(defaultCopies("healthTimeoutSeconds: 300_000, // ms", sample)).toEqual(["line 1: healthTimeoutSeconds"]);
    expect(defaultCopies('const dir = value("appDir") || "../community-rule";', sample)).toEqual(["line 1: appDir"]);
    expect(defaultCopies(' * e.g. `healthTimeoutSeconds: 300`\n// appDir "../community-rule"', sample)).toEqual([]);
    expect(defaultCopies("const retries = 3000; const seedRun = '1';", sample)).toEqual([]);
  });

  it("each config default is written only in config/schema.ts", () => {
    const offenders = productFiles()
      .map((f) => path.relative(root, f))
      // engine/ is the offline test engine: its own knobs (stand-in task times) are not config defaults.
      .filter((f) => f !== path.join("config", "schema.ts") && !f.startsWith(`engine${path.sep}`))
      .flatMap((f) =>
        defaultCopies(fs.readFileSync(path.join(root, f), "utf8"), CONFIG_DEFAULTS).map((c) => `${f} ${c}`),
      );
    expect(offenders).toEqual([]);
  });
});

/** Where a file defines its own argument parser or usage error (declarations, not uses). */
export function argParserCopies(text: string): string[] {
  const found: string[] = [];
  if (/\bclass\s+UsageError\b/.test(text)) found.push("class UsageError");
  const definitions = [
    /\bfunction\s*\*?\s*parseArgs\s*[<(]/,
    /\b(?:const|let|var)\s+parseArgs\s*[:=]/,
    /^\s*(?:(?:public|private|static|async)\s+)*parseArgs\s*\([^)]*\)\s*[:{]/m,
  ];
  if (definitions.some((d) => d.test(text))) found.push("parseArgs");
  return found;
}

describe("one argument parser", () => {
  it("argParserCopies() finds a definition in every form and ignores imports and calls", () => {
    expect(argParserCopies("class UsageError extends Error {}")).toEqual(["class UsageError"]);
    expect(argParserCopies("export function parseArgs(argv: string[]) {}")).toEqual(["parseArgs"]);
    expect(argParserCopies("const parseArgs = (argv: string[]) => argv;")).toEqual(["parseArgs"]);
    expect(argParserCopies("class C {\n  parseArgs(argv: string[]): void {}\n}")).toEqual(["parseArgs"]);
    expect(
      argParserCopies(
        'import { parseArgs, UsageError } from "../lib/cli";\n' +
          'const a = parseArgs(argv, spec);\nthrow new UsageError("x");',
      ),
    ).toEqual([]);
  });

  it("lib/cli.ts is the only product module defining UsageError or parseArgs", () => {
    const own = path.join("lib", "cli.ts");
    const offenders = productFiles()
      .map((f) => path.relative(root, f))
      .filter((f) => f !== own)
      .flatMap((f) => argParserCopies(fs.readFileSync(path.join(root, f), "utf8")).map((what) => `${f}: ${what}`));
    expect(offenders).toEqual([]);
    expect(argParserCopies(fs.readFileSync(path.join(root, own), "utf8"))).toEqual(["class UsageError", "parseArgs"]);
  });
});
