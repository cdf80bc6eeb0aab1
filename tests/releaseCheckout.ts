/**
 * Test helper: an app checkout built from the fixture releases (engine/fixtures/releases), one
 * commit per release in order, as an operator's clone of the app repository looks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";

export const RELEASES = path.resolve(__dirname, "..", "engine", "fixtures", "releases");

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@example.org",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@example.org",
};

/** `git -C <dir> <args…>` with a fixed identity; returns stdout. */
export function gitIn(dir: string, ...args: string[]): string {
  return execFileSync("git", ["-C", dir, ...args], {
    stdio: "pipe",
    env: { ...process.env, ...GIT_IDENTITY },
    encoding: "utf8",
  });
}

/**
 * Creates `dir` as a git repository holding each of `versions` in turn (its files and a manifest
 * of that version), tagging `v<version>` for those in `tag`. The checkout ends at the last one.
 */
export function releaseCheckout(
  dir: string,
  versions: string[],
  opts: { tag: string[]; extraFiles?: Record<string, string> },
): void {
  fs.mkdirSync(dir);
  for (const [rel, text] of Object.entries(opts.extraFiles ?? {})) fs.writeFileSync(path.join(dir, rel), text);
  gitIn(dir, "init", "-q");
  for (const version of versions) {
    fs.cpSync(path.join(RELEASES, version), dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, "CloudronManifest.json"),
      JSON.stringify({ id: "com.medlab.communityrule", version }),
    );
    gitIn(dir, "add", ".");
    gitIn(dir, "commit", "-q", "-m", version);
    if (opts.tag.includes(version)) gitIn(dir, "tag", `v${version}`);
  }
}

/**
 * CommunityRule's real history (30 commits, no tags, releases as manifest bumps): resolved from the
 * repository, as CI's clean clone has shared/ beside it (`<repo>/../shared/fixtures/…`).
 */
export const HISTORY_BUNDLE = path.resolve(
  __dirname,
  "..",
  "..",
  "shared",
  "fixtures",
  "community-rule-history.bundle",
);

/** Clones the real history into `dir` (HEAD: manifest 0.1.9), optionally checked out at `ref`. */
export function historyCheckout(dir: string, ref?: string): void {
  if (!fs.existsSync(HISTORY_BUNDLE))
    throw new Error(`${HISTORY_BUNDLE} is missing: the tests need shared/fixtures beside the repository`);
  execFileSync("git", ["clone", "-q", HISTORY_BUNDLE, dir], { stdio: "pipe" });
  if (ref) gitIn(dir, "checkout", "-q", ref);
}

/**
 * Commits a release on top of the checkout: `files` written (relative paths), the real
 * manifest's `version` bumped, as the app's maintainers release (no tag). Returns the commit.
 */
export function commitRelease(dir: string, version: string, files: Record<string, string> = {}): string {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  const manifestPath = path.join(dir, "CloudronManifest.json");
  const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8")) as Record<string, unknown>;
  fs.writeFileSync(manifestPath, JSON.stringify({ ...manifest, version }, null, 2) + "\n");
  gitIn(dir, "add", "-A");
  gitIn(dir, "commit", "-q", "-m", `Release ${version}`);
  return gitIn(dir, "rev-parse", "HEAD").trim();
}
