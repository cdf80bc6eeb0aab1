/**
 * Ties the compiled program in `build/` to the TypeScript it was compiled from. `pulumi up` runs
 * `build/index.js` (package.json `main`, Pulumi.yaml `typescript: false`), so an edit to a `.ts`
 * file without `npm run build` would silently deploy the old code. `npm run build` records a hash
 * of the sources; the program recomputes it at start and refuses to run on a mismatch.
 *
 * Pure apart from reading files; no Pulumi imports (the program calls it before anything else).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** What the deploy program and the tools its commands run are compiled from. */
export const PROGRAM_SOURCES = ["index.ts", "steps.ts", "components", "lib", "tools"] as const;

/** Where `npm run build` writes the stamp, relative to the project directory. */
export const STAMP_FILE = path.join("build", "source-stamp.json");

/** Every `.ts` file under the program's sources, as sorted project-relative paths. */
export function listProgramSources(projectDir: string): string[] {
  const found: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(projectDir, rel);
    if (!fs.existsSync(abs)) return;
    if (fs.statSync(abs).isDirectory()) {
      for (const entry of fs.readdirSync(abs)) walk(path.join(rel, entry));
    } else if (rel.endsWith(".ts") && !rel.endsWith(".d.ts")) {
      found.push(rel.split(path.sep).join("/"));
    }
  };
  for (const root of PROGRAM_SOURCES) walk(root);
  return found.sort();
}

/** sha256 over each source's path and bytes, in sorted order: any edit, addition or removal changes it. */
export function hashProgramSources(projectDir: string): string {
  const hash = crypto.createHash("sha256");
  for (const rel of listProgramSources(projectDir)) {
    hash.update(rel).update("\0").update(fs.readFileSync(path.join(projectDir, rel))).update("\0");
  }
  return hash.digest("hex");
}

/** The stamp `npm run build` leaves next to the compiled program. */
export interface SourceStamp {
  sourceHash: string;
  files: number;
}

export function writeSourceStamp(projectDir: string): SourceStamp {
  const stamp: SourceStamp = { sourceHash: hashProgramSources(projectDir), files: listProgramSources(projectDir).length };
  fs.mkdirSync(path.join(projectDir, "build"), { recursive: true });
  fs.writeFileSync(path.join(projectDir, STAMP_FILE), JSON.stringify(stamp, null, 2) + "\n");
  return stamp;
}

/**
 * Why the compiled program must not run, or undefined when it matches its sources. A checkout
 * without the TypeScript sources (only `build/` shipped) has nothing to compare and passes.
 */
export function staleBuildProblem(projectDir: string): string | undefined {
  if (listProgramSources(projectDir).length === 0) return undefined;
  const fix = "run `npm run build` (it compiles the TypeScript into build/), then run the command again";
  let stamp: SourceStamp;
  try {
    stamp = JSON.parse(fs.readFileSync(path.join(projectDir, STAMP_FILE), "utf8")) as SourceStamp;
  } catch {
    return `build/ has no source stamp, so it cannot be shown to match the TypeScript sources: ${fix}`;
  }
  if (stamp.sourceHash !== hashProgramSources(projectDir)) {
    return `the compiled program in build/ is older than the TypeScript sources (a .ts file changed since the last build): ${fix}`;
  }
  return undefined;
}

/**
 * The Pulumi project directory (the one holding Pulumi.yaml), found upwards from `from`: the same
 * answer for `index.ts` run by ts-node and for `build/index.js` run compiled.
 */
export function findProjectDir(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no Pulumi.yaml above ${from}: run from the deploy project`);
  }
}
