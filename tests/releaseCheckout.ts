/**
 * Test helper: an app checkout built from the fixture releases (lifecycle/fixtures/releases), one
 * commit per release in order, as an operator's clone of the app repository looks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";

export const RELEASES = path.resolve(__dirname, "..", "lifecycle", "fixtures", "releases");

const GIT_IDENTITY = { GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.org", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.org" };

/** `git -C <dir> <args…>` with a fixed identity; returns stdout. */
export function gitIn(dir: string, ...args: string[]): string {
  return execFileSync("git", ["-C", dir, ...args], { stdio: "pipe", env: { ...process.env, ...GIT_IDENTITY }, encoding: "utf8" });
}

/**
 * Creates `dir` as a git repository holding each of `versions` in turn (its files and a manifest
 * of that version), tagging `v<version>` for those in `tag`. The checkout ends at the last one.
 */
export function releaseCheckout(dir: string, versions: string[], opts: { tag: string[]; extraFiles?: Record<string, string> }): void {
  fs.mkdirSync(dir);
  for (const [rel, text] of Object.entries(opts.extraFiles ?? {})) fs.writeFileSync(path.join(dir, rel), text);
  gitIn(dir, "init", "-q");
  for (const version of versions) {
    fs.cpSync(path.join(RELEASES, version), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "CloudronManifest.json"), JSON.stringify({ id: "com.medlab.communityrule", version }));
    gitIn(dir, "add", ".");
    gitIn(dir, "commit", "-q", "-m", version);
    if (opts.tag.includes(version)) gitIn(dir, "tag", `v${version}`);
  }
}
