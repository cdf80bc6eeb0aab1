/**
 * The seed follows its content. `node prisma/seed.bundle.cjs` upserts the templates and facets
 * that the app's seed sources describe (shared/reference/community-rule-app.md, "Seed"; in the
 * real history, shared/fixtures/community-rule-history.bundle, `prisma/seed.ts`,
 * `prisma/seed/**` and `data/**` changed with 0.1.8). A fingerprint of those sources is an input
 * of the seed resource, so a release that changes them re-seeds once; `seedRun` stays the manual
 * switch.
 *
 * The seed cannot run on every image: the real Dockerfile builds `prisma/seed.bundle.cjs` only
 * from 0.1.3 and ships the seed data at `/app/seed-data` only from 0.1.8, so older images fail the
 * seed with ENOENT. The first version that can run it is the config key `seedFloor`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import * as semver from "../../lib/semver";
import { catFiles } from "../../release/releaseHistory";

/** What feeds the seed, relative to the app checkout: a file, and two directories taken whole. */
export const SEED_SOURCES = { files: ["prisma/seed.ts"], dirs: ["prisma/seed", "data"] } as const;

const isSeedPath = (p: string) =>
  SEED_SOURCES.files.includes(p as "prisma/seed.ts") || SEED_SOURCES.dirs.some((d) => p.startsWith(`${d}/`));

/** `seed:<16 hex>` over the sorted paths and contents; `seed:none` when the checkout has no seed sources. */
export function fingerprintSeedFiles(files: ReadonlyArray<{ path: string; bytes: Buffer }>): string {
  const sorted = files
    .filter((f) => isSeedPath(f.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (sorted.length === 0) return "seed:none";
  const h = createHash("sha256");
  for (const f of sorted) h.update(`${f.path}\0${createHash("sha256").update(f.bytes).digest("hex")}\n`);
  return `seed:${h.digest("hex").slice(0, 16)}`;
}

/** The fingerprint of the seed sources in a checkout on disk. */
export function seedFingerprintOfCheckout(appDir: string): string {
  const files: Array<{ path: string; bytes: Buffer }> = [];
  const walk = (rel: string) => {
    const abs = path.join(appDir, rel);
    if (!fs.existsSync(abs)) return;
    if (fs.statSync(abs).isDirectory()) {
      for (const name of fs.readdirSync(abs)) walk(`${rel}/${name}`);
    } else files.push({ path: rel, bytes: fs.readFileSync(abs) });
  };
  for (const f of SEED_SOURCES.files) walk(f);
  for (const d of SEED_SOURCES.dirs) walk(d);
  return fingerprintSeedFiles(files);
}

/** The fingerprint of the seed sources at a git ref of the checkout (a release's tag or bump commit). */
export function seedFingerprintAtRef(appDir: string, ref: string): string {
  const git = (args: string[]) =>
    execFileSync("git", ["-C", appDir, ...args], { stdio: ["ignore", "pipe", "ignore"], maxBuffer: 64 * 1024 * 1024 });
  // Without --full-name, ls-tree names paths from appDir (the `-C` directory), as the fingerprint does.
  const listing = git(["ls-tree", "-r", ref, "--", ...SEED_SOURCES.files, ...SEED_SOURCES.dirs]).toString("utf8");
  const entries = listing
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const [meta, name] = l.split("\t");
      return { path: name, blob: meta.split(" ")[2] };
    });
  const contents = catFiles(
    appDir,
    entries.map((e) => e.blob),
  );
  return fingerprintSeedFiles(entries.map((e, k) => ({ path: e.path, bytes: contents[k] ?? Buffer.alloc(0) })));
}

/**
 * Refuses a version below the seed floor, before anything changes: the seed cannot run on such
 * an image (no seed data in it), so the deploy would end in a failed seed after the app changed.
 */
export function seedFloorProblem(version: string, floor: string, what: "release" | "rollback"): string | undefined {
  if (!/^\d+\.\d+\.\d+$/.test(version) || !semver.valid(version) || !semver.valid(floor)) return undefined;
  if (!semver.lt(version, floor)) return undefined;
  return (
    `communityrule:${what === "rollback" ? "imageTag" : "seedFloor"}: ${what} to ${version} refused before anything ` +
    `changed: images below ${floor} ` +
    `(communityrule:seedFloor) cannot run the seed (they do not carry the seed data; the seed fails with ENOENT). ` +
    (what === "rollback"
      ? `Roll back to ${floor} or later, or restore a backup taken while that version ran (dashboard → the app → ` +
        `Backups).`
      : `Release ${floor} or later.`)
  );
}

/** The explanation added to a failed seed when the app runs a version below the floor. */
export function seedFailureBelowFloor(runningVersion: string | undefined, floor: string): string | undefined {
  if (
    !runningVersion ||
    !/^\d+\.\d+\.\d+$/.test(runningVersion) ||
    !semver.valid(floor) ||
    !semver.lt(runningVersion, floor)
  )
    return undefined;
  return (
    `the app runs ${runningVersion}, below the seed floor ${floor} (communityrule:seedFloor): its image does not ` +
    `carry the seed data, ` +
    `so the seed cannot run on it; deploy ${floor} or later and the seed runs on the next up`
  );
}
