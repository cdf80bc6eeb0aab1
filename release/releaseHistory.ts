/**
 * Where each release of the app lives in its git history, with or without tags.
 *
 * CommunityRule's repository has no tags: a release is a bump of `version` in
 * CloudronManifest.json, with code commits between bumps (shared/fixtures/README.md). A release
 * `X` is therefore found as, in order: a tag `vX` or `X` whose manifest says `X` (repositories
 * that do tag), else the newest commit at which the manifest's `version` became `X` (the bump
 * commit, which is what the release's image was built from in the runbook).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import * as semver from "../lib/semver";
import { seedFingerprintAtRef, seedFingerprintOfCheckout } from "../steps/seed/seedContent";

/** The refs an app release may be tagged with, in the order tried (`v0.1.9`, then `0.1.9`). */
export function releaseRefs(version: string): string[] {
  return [`v${version}`, version];
}

function git(appDir: string, args: string[]): string | undefined {
  try {
    return execFileSync("git", ["-C", appDir, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch {
    return undefined;
  }
}

/**
 * Several objects in one `git cat-file --batch` (one process, not one per object): each spec is
 * `<rev>:<path>` (from the repository root, or from appDir when it starts with `./`) or an object
 * id; undefined for one that is missing.
 */
export function catFiles(appDir: string, specs: readonly string[]): Array<Buffer | undefined> {
  // One spec per line: a spec with a line break names no object (and must not name two).
  if (specs.some((s) => /[\r\n]/.test(s))) {
    const sent = specs.filter((s) => !/[\r\n]/.test(s));
    const found = catFiles(appDir, sent);
    return specs.map((s) => (/[\r\n]/.test(s) ? undefined : found[sent.indexOf(s)]));
  }
  if (specs.length === 0) return [];
  let out: Buffer;
  try {
    out = execFileSync("git", ["-C", appDir, "cat-file", "--batch"], {
      input: specs.join("\n") + "\n",
      stdio: ["pipe", "pipe", "ignore"],
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch {
    return specs.map(() => undefined);
  }
  const result: Array<Buffer | undefined> = [];
  let at = 0;
  for (let k = 0; k < specs.length; k++) {
    const eol = out.indexOf(0x0a, at);
    const header = out.subarray(at, eol).toString("utf8");
    at = eol + 1;
    // "<oid> <type> <size>" then the content and a newline; "<spec> missing" otherwise.
    const size = / (blob|tree|commit|tag) (\d+)$/.exec(header);
    if (!size) {
      result.push(undefined);
      continue;
    }
    const length = Number(size[2]);
    result.push(out.subarray(at, at + length));
    at += length + 1;
  }
  return result;
}

function versionOf(text: Buffer | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const version = (JSON.parse(text.toString("utf8")) as { version?: unknown }).version;
    return typeof version === "string" ? version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The object spec of appDir's CloudronManifest.json at a git ref: `./` makes the path relative to
 * appDir (the `-C` directory), so an app inside a larger repository works too.
 */
function manifestAt(ref: string): string {
  return `${ref}:./CloudronManifest.json`;
}

/** The `version` of CloudronManifest.json in appDir at a git ref; undefined when there is none. */
export function manifestVersionAt(appDir: string, ref: string): string | undefined {
  return versionOf(catFiles(appDir, [manifestAt(ref)])[0]);
}

/** One release as the manifest's history shows it. */
export interface ManifestRelease {
  version: string;
  /** Full hash of the commit at which the manifest's version became `version`. */
  commit: string;
}

/**
 * The releases in the manifest's history, oldest first: one entry per commit at which `version`
 * changed (a version taken twice, e.g. after a revert, keeps its newest bump). Commits that edit
 * the manifest without changing the version are not releases. Empty outside a git checkout.
 */
export function manifestReleases(appDir: string): ManifestRelease[] {
  // `-- CloudronManifest.json` is relative to appDir, so an app inside a larger repository works too.
  const out = git(appDir, ["log", "--reverse", "--format=%H", "--", "CloudronManifest.json"]);
  if (!out) return [];
  const byVersion = new Map<string, ManifestRelease>();
  let previous: string | undefined;
  const commits = out.split("\n").filter((l) => l !== "");
  const manifests = catFiles(appDir, commits.map(manifestAt));
  for (const [k, commit] of commits.entries()) {
    const version = versionOf(manifests[k]);
    if (version === undefined || version === previous) continue;
    previous = version;
    byVersion.delete(version);
    byVersion.set(version, { version, commit });
  }
  return [...byVersion.values()];
}

/** How a release was located: a tag, or the manifest bump commit. */
export interface ReleaseLocation {
  version: string;
  /** A git ref that holds the release's tree: the tag, or the bump commit's hash. */
  ref: string;
  source: "tag" | "manifest-history";
  /** For messages: `tag v0.1.9` or `commit aad3f13 (where CloudronManifest.json took 0.1.9)`. */
  describe: string;
}

/**
 * Finds release `version` in the checkout's history; undefined when it is in neither tags nor the
 * manifest's history.
 */
export function locateRelease(
  appDir: string,
  version: string,
  releases?: readonly ManifestRelease[],
): ReleaseLocation | undefined {
  return locateReleases(appDir, [version], releases)[0];
}

/**
 * {@link locateRelease} for several versions: one git process reads every tag's manifest, and the
 * manifest's history is walked once, only if a version has no tag.
 */
function locateReleases(
  appDir: string,
  versions: readonly string[],
  releases?: readonly ManifestRelease[],
): Array<ReleaseLocation | undefined> {
  const refs = [...new Set(versions.flatMap(releaseRefs))];
  const manifests = catFiles(appDir, refs.map(manifestAt));
  const versionAt = new Map(refs.map((ref, k) => [ref, versionOf(manifests[k])]));
  let history = releases;
  return versions.map((version) => {
    // Only a tag whose CloudronManifest.json says that version is this app's release.
    const tag = releaseRefs(version).find((ref) => versionAt.get(ref) === version);
    if (tag) return { version, ref: tag, source: "tag", describe: `tag ${tag}` };
    history ??= manifestReleases(appDir);
    const bump = history.find((r) => r.version === version);
    if (!bump) return undefined;
    return {
      version,
      ref: bump.commit,
      source: "manifest-history",
      describe: `commit ${bump.commit.slice(0, 7)} (where CloudronManifest.json took ${version})`,
    };
  });
}

/**
 * The newest release older than `version`, from tags and the manifest's history together: what
 * the offline plan compares a release with, since a plan never asks the server what runs.
 */
export function previousRelease(appDir: string, version: string): ReleaseLocation | undefined {
  if (!isPlain(version)) return undefined;
  const tagged = (git(appDir, ["tag", "--list"]) ?? "")
    .split("\n")
    .map((t) => t.trim().replace(/^v/, ""))
    .filter((v) => isPlain(v));
  const releases = manifestReleases(appDir);
  const candidates = [...new Set([...tagged, ...releases.map((r) => r.version).filter(isPlain)])]
    .filter((v) => semver.lt(v, version))
    .sort((a, b) => semver.rcompare(a, b));
  return locateReleases(appDir, candidates, releases).find((found) => found !== undefined);
}

/** HEAD's full hash; undefined outside git or before the first commit. */
export function headCommit(appDir: string): string | undefined {
  return git(appDir, ["rev-parse", "HEAD"])?.trim() || undefined;
}

function isPlain(v: string | undefined): v is string {
  return !!v && /^\d+\.\d+\.\d+$/.test(v) && semver.valid(v) === v;
}

/** What a deploy ships, as far as the checkout tells: the code version, its commit and its seed fingerprint. */
export interface ShippedRelease {
  version: string;
  commit?: string;
  seed?: string;
}

/**
 * What a deploy ships: a build ships the checkout (HEAD, and the seed sources on disk); a deploy
 * of an existing tag ships that release's tree (its tag or manifest bump commit). Parts the
 * checkout cannot tell (not a git clone, release not in its history) are left out.
 */
export function shippedRelease(appDir: string, build: boolean, version: string): ShippedRelease {
  if (build) {
    const head = headCommit(appDir);
    return { version, ...(head ? { commit: head } : {}), seed: seedFingerprintOfCheckout(appDir) };
  }
  const found = locateRelease(appDir, version);
  if (!found) return { version };
  const commit = git(appDir, ["rev-parse", `${found.ref}^{commit}`])?.trim();
  return { version, ...(commit ? { commit } : {}), seed: seedFingerprintAtRef(appDir, found.ref) };
}

/**
 * A fingerprint of the build's sources: every file of the checkout git would consider (tracked,
 * or untracked and not ignored), or outside git every file but `.git` and `node_modules`. It
 * changes exactly when a build could produce other content, which is when the release-tag guard
 * must ask the registry again (steps/image/registryImage.ts).
 */
export function sourceFingerprint(appDir: string): string {
  const listed = git(appDir, ["ls-files", "-co", "--exclude-standard", "-z", "--", "."]);
  let files: string[];
  if (listed !== undefined) {
    files = listed.split("\0").filter((f) => f !== "");
  } else {
    files = [];
    const walk = (rel: string) => {
      for (const entry of fs.readdirSync(path.join(appDir, rel), { withFileTypes: true })) {
        if (entry.name === ".git" || entry.name === "node_modules") continue;
        const child = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) walk(child);
        else if (entry.isFile()) files.push(child);
      }
    };
    walk("");
  }
  const h = createHash("sha256");
  for (const f of files.sort()) {
    const abs = path.join(appDir, f);
    if (!fs.existsSync(abs) || !fs.statSync(abs).isFile()) continue;
    h.update(`${f}\0${createHash("sha256").update(fs.readFileSync(abs)).digest("hex")}\n`);
  }
  return `src:${h.digest("hex").slice(0, 16)}`;
}
