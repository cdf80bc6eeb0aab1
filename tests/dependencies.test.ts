/**
 * Dependency categories: a package that the program, a tool, an operator command or the build
 * (which the launcher runs before a command when build/ is stale) loads is a dependency; the
 * benchmark and the tests may load dev dependencies.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { builtinModules } from "node:module";
import { describe, expect, it } from "vitest";

const root = path.resolve(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
// What runs outside the tests: everything tsconfig.build.json compiles, less the benchmark.
const PRODUCT_ROOTS = ["index.ts", "steps.ts", "config", "steps", "cloudron", "registry", "release", "lib", "tools"];
const DEV_ONLY = [path.join("commands", "bench")];

function productFiles(): string[] {
  const found: string[] = [];
  const walk = (rel: string): void => {
    if (DEV_ONLY.includes(rel)) return;
    const abs = path.join(root, rel);
    if (fs.statSync(abs).isDirectory()) for (const entry of fs.readdirSync(abs)) walk(path.join(rel, entry));
    else if (rel.endsWith(".ts") || rel.endsWith(".cjs")) found.push(rel);
  };
  for (const rel of [...PRODUCT_ROOTS, "commands", "engine", "bin"]) walk(rel);
  return found;
}

/** The packages a source imports or requires by bare name (`@scope/name` or `name`, no subpath). */
function importedPackages(source: string): string[] {
  const names = new Set<string>();
  const statements =
    /^\s*(?:import|export)\s[^"';]*?from\s+["']([^"']+)["']|\b(?:require|import)\(\s*["']([^"']+)["']\s*\)/gm;
  for (const m of source.matchAll(statements)) {
    const spec = m[1] ?? m[2];
    if (spec.startsWith(".")) continue;
    if (spec.startsWith("node:") || builtinModules.includes(spec.split("/")[0])) continue;
    const parts = spec.split("/");
    names.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]);
  }
  return [...names].sort();
}

describe("dependency categories", () => {
  it("reads bare package names from imports and requires, not relative paths or built-ins", () => {
    const source = [
      'import * as pulumi from "@pulumi/pulumi";',
      'import { x } from "./local";',
      'import * as fs from "node:fs";',
      'const mocks = require("@pulumi/pulumi/runtime/mocks");',
      'const y = require("yaml");',
      'import("semver/functions/compare");',
      'import * as path from "path";',
      '// all start from "installed"',
      'import {\n  a,\n  b,\n} from "zod";',
    ].join("\n");
    expect(importedPackages(source)).toEqual(["@pulumi/pulumi", "semver", "yaml", "zod"]);
  });

  it("every package the product loads is a dependency, not a dev dependency", () => {
    const misplaced: string[] = [];
    for (const file of productFiles()) {
      for (const name of importedPackages(fs.readFileSync(path.join(root, file), "utf8"))) {
        if (!(name in pkg.dependencies)) misplaced.push(`${file}: ${name}`);
      }
    }
    expect(misplaced).toEqual([]);
  });

  it("the build's compiler is a dependency (the launcher builds before a command when build/ is stale)", () => {
    expect(pkg.scripts.build).toMatch(/^tsc /);
    expect(Object.keys(pkg.dependencies)).toContain("typescript");
  });

  it("every dependency is loaded by the product or runs its build", () => {
    const used = new Set(productFiles().flatMap((f) => importedPackages(fs.readFileSync(path.join(root, f), "utf8"))));
    if (/^tsc /.test(pkg.scripts.build)) used.add("typescript");
    expect(Object.keys(pkg.dependencies).filter((name) => !used.has(name))).toEqual([]);
  });
});
