/**
 * The migration review of one deploy, as the program runs it before any resource registers: find
 * the migrations the image being deployed carries and those the running release carried, decide
 * whether this is a first deploy, a release or a rollback, and apply the rules of
 * migrationGate.ts. Reads the app checkout and its git tags; never the network (what runs now is
 * handed in as {@link RunningRelease}).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as semver from "./semver";
import { execFileSync } from "node:child_process";
import { classifyMigrations, compareNames, gitRefReader, listCheckoutMigrations, listMigrations, recordMigrations, summarizeMigration, MigrationListError, type MigrationFile, type RecordedMigration } from "./migrations";
import { deployRunnableTexts, findMigrateReset, reviewRelease, reviewRollback, type MigrationReview, type RunnableText } from "./migrationGate";

/** What the app at the stack's location runs now, as read before the deploy. */
export interface RunningRelease {
  /** Manifest version Cloudron holds for the app. */
  version: string;
  /** Tag of the image it runs, when it runs a tagged image (a build: false deploy). */
  tag?: string;
  /** The list the deploy step recorded when this release was deployed, when available. */
  migrations?: readonly RecordedMigration[];
  /** Backup Cloudron took before this release was deployed, when recorded. */
  preUpdateBackupId?: string;
}

export interface DeployMigrationsInput {
  environment: "staging" | "production";
  stack: string;
  location: string;
  build: boolean;
  /** The tag being deployed (build: false) or the manifest version being built. */
  imageTag: string;
  manifestVersion: string;
  /** Absolute path of the app checkout. */
  appDir: string;
  /** How messages name the checkout (the config value, e.g. ../community-rule). */
  appDirLabel: string;
  acknowledged: readonly string[];
  /** Plain env values from config, checked for `migrate reset` like the scripts. */
  env?: Readonly<Record<string, string>>;
  /**
   * What runs now: a release, `"absent"` when nothing is installed at the location, or
   * `"unknown"` when it was not read: then every migration of the image counts as new (so no
   * dangerous one slips through), and an existing tag older than the checkout counts as a
   * rollback from the checkout's version.
   */
  running: RunningRelease | "absent" | "unknown";
}

export interface DeployMigrationsReview extends MigrationReview {
  kind: "first-deploy" | "release" | "rollback" | "unknown";
  /**
   * What the deploy step records: the migrations the schema has been taken through, classified.
   * After a release or first deploy, the image's list; after a rollback, the running list plus
   * anything the older image adds, because rolling the image back does not undo a migration.
   */
  record: RecordedMigration[];
  /** One line per migration this deploy applies (release) or leaves ahead (rollback): the deploy request's preview-visible field. */
  changes: string[];
}

/** The refs an app release is tagged with, in the order tried (`v0.1.9`, then `0.1.9`). */
export function releaseRefs(version: string): string[] {
  return [`v${version}`, version];
}

/**
 * The migrations of a released version: its git tag in the checkout, else the checkout itself
 * when its manifest is that version. Undefined when neither is available.
 */
export function migrationsOfRelease(appDir: string, version: string, manifestVersion: string): MigrationFile[] | undefined {
  for (const ref of releaseRefs(version)) {
    // Only a tag whose CloudronManifest.json (next to prisma/) says that version is this app's release.
    if (manifestVersionAt(appDir, ref) === version) return listMigrations(gitRefReader(appDir, ref));
  }
  return version === manifestVersion ? listCheckoutMigrations(appDir) : undefined;
}

/** Reviews the deploy; `errors` non-empty means refuse before anything happens. */
export function reviewDeployMigrations(input: DeployMigrationsInput): DeployMigrationsReview {
  const { environment, stack, location, build, imageTag, manifestVersion, appDir, appDirLabel } = input;
  const lines: string[] = [];
  const warnings: string[] = [];
  const errors: string[] = [];
  const done = (kind: DeployMigrationsReview["kind"], record: RecordedMigration[], changes: string[], review?: MigrationReview): DeployMigrationsReview => ({
    kind,
    record,
    changes,
    lines: [...lines, ...(review?.lines ?? [])],
    warnings: [...warnings, ...(review?.warnings ?? [])],
    errors: [...errors, ...(review?.errors ?? [])],
  });

  // migrate reset: in what the image runs (only a build ships the checkout's scripts) and in config.
  const runnable: RunnableText[] = build ? deployRunnableTexts((f) => readText(path.join(appDir, f))) : [];
  for (const [name, value] of Object.entries(input.env ?? {})) runnable.push({ label: `communityrule:env.${name}`, text: value });
  errors.push(...findMigrateReset(runnable));

  const version = build ? manifestVersion : imageTag;
  let target: MigrationFile[] | undefined;
  try {
    target = build ? listCheckoutMigrations(appDir) : migrationsOfRelease(appDir, imageTag, manifestVersion);
  } catch (err) {
    if (!(err instanceof MigrationListError)) throw err;
    errors.push(`${appDirLabel}: ${err.message}`);
    return done("unknown", [], []);
  }
  if (target === undefined) {
    warnings.push(
      `cannot tell which migrations ${imageTag} carries: ${appDirLabel} has no git tag ${releaseRefs(imageTag).join(" or ")} and is at ${manifestVersion}. ` +
        `Fetch the release tags (git -C ${appDirLabel} fetch --tags) or point appDir at a checkout of ${imageTag}`,
    );
    return done("unknown", [], []);
  }
  const record = recordMigrations(classifyMigrations(target));

  if (input.running === "absent") {
    lines.push(`first deploy of ${version}: prisma migrate deploy creates the schema from ${target.length} migration${target.length === 1 ? "" : "s"} on an empty database`);
    return done("first-deploy", record, record.map(summarizeMigration));
  }

  let running = input.running === "unknown" ? undefined : input.running;
  if (!running && !build && isPlain(imageTag) && isPlain(manifestVersion) && semver.lt(imageTag, manifestVersion)) {
    // An existing tag older than the checkout: a rollback from the release the checkout holds.
    lines.push(`what ${location} runs was not read: assuming ${manifestVersion}, the version of ${appDirLabel}`);
    running = { version: manifestVersion };
  }
  let deployed: readonly RecordedMigration[] | undefined = running?.migrations;
  if (running && !deployed) {
    const files = migrationsOfRelease(appDir, running.tag ?? running.version, manifestVersion);
    if (files) deployed = recordMigrations(classifyMigrations(files));
  }
  if (!deployed) {
    // Not knowing what the database has must not wave a destructive migration through.
    if (target.length > 0) {
      warnings.push(
        `what ${location} runs${running ? ` (${running.tag ?? running.version})` : ""} carries is unknown (no recorded list, no git tag): every migration of ${version} is treated as new`,
      );
    }
    deployed = [];
  }

  const runningVersion = running?.tag ?? running?.version;
  const isRollback = !build && !!runningVersion && isPlain(imageTag) && isPlain(runningVersion) && semver.lt(imageTag, runningVersion);
  if (isRollback && deployed && running) {
    const review = reviewRollback({
      environment,
      stack,
      location,
      fromVersion: runningVersion as string,
      toVersion: imageTag,
      running: deployed,
      target: record,
      acknowledged: input.acknowledged,
      preUpdateBackupId: running.preUpdateBackupId,
    });
    // The database keeps what it had: the record stays the schema's list, not only the older image's.
    const schema = [...deployed, ...record.filter((m) => !deployed.some((d) => d.name === m.name))].sort((a, b) => compareNames(a.name, b.name));
    return done("rollback", schema, review.ahead.map(summarizeMigration), review);
  }
  const review = reviewRelease({ environment, stack, version, deployed, target, acknowledged: input.acknowledged }, appDirLabel);
  return done("release", record, review.pending.map(summarizeMigration), review);
}

function isPlain(v: string | undefined): v is string {
  return !!v && semver.valid(v) === v;
}

function readText(file: string): string | undefined {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
}

/**
 * The newest release tag of the checkout older than `version` (`v0.1.9` or `0.1.9` → "0.1.9"):
 * what the offline plan compares a release with, since a plan never asks the server what runs.
 */
export function previousReleaseTag(appDir: string, version: string): string | undefined {
  let tags: string[];
  try {
    tags = execFileSync("git", ["-C", appDir, "tag", "--list"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n");
  } catch {
    return undefined;
  }
  const older = tags
    .map((t) => t.trim())
    .filter((t) => isPlain(t.replace(/^v/, "")) && isPlain(version) && semver.lt(t.replace(/^v/, ""), version))
    .sort((a, b) => semver.rcompare(a.replace(/^v/, ""), b.replace(/^v/, "")));
  return older.map((t) => t.replace(/^v/, "")).find((v, k) => manifestVersionAt(appDir, older[k]) === v);
}

/** The `version` of CloudronManifest.json in appDir at a git ref; undefined when there is none. */
export function manifestVersionAt(appDir: string, ref: string): string | undefined {
  try {
    const text = execFileSync("git", ["-C", appDir, "show", `${ref}:./CloudronManifest.json`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === "string" ? version : undefined;
  } catch {
    return undefined;
  }
}

/** The migration part of the offline plan (`npm run plan`). */
export interface PlanMigrations {
  /** What the changes are relative to. */
  since: string;
  kind: DeployMigrationsReview["kind"];
  /** One line per migration the deploy applies or, for a rollback, leaves ahead. */
  changes: string[];
  warnings: string[];
  /** First line of each refusal `up` would make. */
  refusals: string[];
}

/** The review for a plan: against the previous release tag when there is one. */
export function planMigrations(input: Omit<DeployMigrationsInput, "running">): PlanMigrations {
  const version = input.build ? input.manifestVersion : input.imageTag;
  const previous = input.build ? previousReleaseTag(input.appDir, version) : undefined;
  const review = reviewDeployMigrations({ ...input, running: previous ? { version: previous } : "unknown" });
  return {
    since: previous ? `release tag ${previous} (newest older tag in ${input.appDirLabel})` : "unknown (no older release tag): every migration counts as new",
    kind: review.kind,
    changes: review.changes,
    warnings: review.warnings,
    refusals: review.errors.map((e) => e.split("\n")[0]),
  };
}
