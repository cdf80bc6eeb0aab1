/**
 * Ties everything compiled into `build/` to the TypeScript it was compiled from. `pulumi up` runs
 * `build/index.js` (package.json `main`, Pulumi.yaml `typescript: false`) and every operator command
 * runs from build/ too (bin/launch.cjs), so an edit to a `.ts` file without `npm run build` would
 * silently run the old code. `npm run build` records a hash of the sources; the launcher recomputes
 * it and rebuilds on a mismatch, the program recomputes it at start and refuses to run.
 *
 * One list for both: everything tsconfig.build.json compiles. So the program also refuses after an
 * edit to an operator command or the offline engine without a build (a build is one command, and the
 * operator commands run it for you).
 *
 * Pure apart from reading files; no Pulumi imports (the program calls it before anything else, and
 * bin/launch.cjs requires the compiled copy of this file, which must load in milliseconds).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * What `npm run build` compiles: the roots of tsconfig.build.json's `include` (a test keeps the two
 * equal). The program, the tools its commands run, the operator commands and the offline engine.
 */
export const BUILD_SOURCES = [
  "index.ts",
  "steps.ts",
  "config",
  "steps",
  "cloudron",
  "registry",
  "release",
  "lib",
  "tools",
  "commands",
  "engine",
] as const;

/** The compiler settings: a change to them changes build/ as much as a source edit. */
export const BUILD_CONFIGS = ["tsconfig.json", "tsconfig.build.json"] as const;

/** Where `npm run build` writes the stamp, relative to the project directory. */
export const STAMP_FILE = path.join("build", "source-stamp.json");

/** Every `.ts` file under the build's sources, as sorted project-relative paths. */
export function listBuildSources(projectDir: string): string[] {
  const found: string[] = [];
  const add = (rel: string): void => {
    if (rel.endsWith(".ts") && !rel.endsWith(".d.ts")) found.push(rel.split(path.sep).join("/"));
  };
  // The directory's entries carry their type: no stat per file (the program and every operator
  // command run this check at start). A symbolic link is followed, as for a root.
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(projectDir, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isSymbolicLink()) walkPath(child);
      else if (entry.isDirectory()) walk(child);
      else add(child);
    }
  };
  const walkPath = (rel: string): void => {
    const stat = fs.statSync(path.join(projectDir, rel), { throwIfNoEntry: false });
    if (stat?.isDirectory()) walk(rel);
    else if (stat) add(rel);
  };
  for (const root of BUILD_SOURCES) walkPath(root);
  return found.sort();
}

/**
 * sha256 over each source's (and compiler config's) path and bytes, in order: any edit, addition
 * or removal changes it. Paths are project-relative, so a copied project keeps its stamp.
 */
export function hashBuildSources(projectDir: string): string {
  const hash = crypto.createHash("sha256");
  const configs = BUILD_CONFIGS.filter((rel) => fs.existsSync(path.join(projectDir, rel)));
  for (const rel of [...listBuildSources(projectDir), ...configs]) {
    hash
      .update(rel)
      .update("\0")
      .update(fs.readFileSync(path.join(projectDir, rel)))
      .update("\0");
  }
  return hash.digest("hex");
}

/** The stamp `npm run build` leaves next to the compiled program. */
export interface SourceStamp {
  sourceHash: string;
  files: number;
}

export function writeSourceStamp(projectDir: string): SourceStamp {
  const stamp: SourceStamp = { sourceHash: hashBuildSources(projectDir), files: listBuildSources(projectDir).length };
  fs.mkdirSync(path.join(projectDir, "build"), { recursive: true });
  fs.writeFileSync(path.join(projectDir, STAMP_FILE), JSON.stringify(stamp, null, 2) + "\n");
  return stamp;
}

const NO_STAMP = "build/ has no source stamp";
const OLDER_THAN_SOURCES = "build/ is older than the TypeScript sources";

/**
 * Why build/ does not match its sources, in a few words, or undefined when it does (what
 * bin/launch.cjs says before it rebuilds). A checkout without the TypeScript sources (only `build/`
 * shipped) has nothing to compare and passes.
 */
export function staleBuildReason(projectDir: string): typeof NO_STAMP | typeof OLDER_THAN_SOURCES | undefined {
  if (listBuildSources(projectDir).length === 0) return undefined;
  let stamp: SourceStamp;
  try {
    stamp = JSON.parse(fs.readFileSync(path.join(projectDir, STAMP_FILE), "utf8")) as SourceStamp;
  } catch {
    return NO_STAMP;
  }
  return stamp.sourceHash === hashBuildSources(projectDir) ? undefined : OLDER_THAN_SOURCES;
}

/** Why the compiled program must not run, with the fix, or undefined when build/ matches its sources. */
export function staleBuildProblem(projectDir: string): string | undefined {
  const reason = staleBuildReason(projectDir);
  if (reason === undefined) return undefined;
  const fix = "run `npm run build` (it compiles the TypeScript into build/), then run the command again";
  if (reason === NO_STAMP) {
    return `build/ has no source stamp, so it cannot be shown to match the TypeScript sources: ${fix}`;
  }
  return (
    "the compiled program in build/ is older than the TypeScript sources " +
    `(a .ts file or tsconfig changed since the last build): ${fix}`
  );
}
