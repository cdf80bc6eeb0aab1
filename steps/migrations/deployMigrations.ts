/**
 * The migration review of one deploy, as the program runs it before any resource registers: find
 * the migrations the image being deployed carries and those the running release carried, decide
 * whether this is a first deploy, a release or a rollback, and apply the rules of
 * migrationGate.ts. Reads the app checkout and its git history (tags when there are any, else the
 * manifest's version bumps: release/releaseHistory.ts); never the network (what runs now is
 * handed in as {@link RunningRelease}, read from the app's release record by the live check).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as semver from "../../lib/semver";
import {
  classifyMigrations,
  compareNames,
  gitRefReader,
  listCheckoutMigrations,
  listMigrations,
  recordMigrations,
  summarizeMigration,
  MigrationListError,
  type MigrationFile,
  type RecordedMigration,
} from "./checkoutMigrations";
import { locateRelease, previousRelease, releaseRefs, type ReleaseLocation } from "../../release/releaseHistory";
import {
  deployRunnableTexts,
  findMigrateReset,
  reviewRelease,
  reviewRollback,
  type MigrationReview,
  type RunnableText,
} from "./gate";

/** What the app at the stack's location runs now, as read before the deploy. */
export interface RunningRelease {
  /** Manifest version Cloudron holds for the app. */
  version: string;
  /** Tag of the image it runs, when it runs a tagged image (a build: false deploy). */
  tag?: string;
  /** The list the deploy step recorded when this release was deployed, when available. */
  migrations?: readonly RecordedMigration[];
  /**
   * Migration names from the release record on the app (release/releaseRecord.ts); undefined
   * when the app carries no record (installed by hand): then they are derived from `version`.
   */
  recordedMigrations?: readonly string[];
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
  /**
   * One line per migration this deploy applies (release) or leaves ahead (rollback): the deploy
   * request's preview-visible field.
   */
  changes: string[];
}

/**
 * The migrations of a released version: its tree at the release's tag or manifest bump commit,
 * else the checkout itself when its manifest is that version. Undefined when none is available.
 */
export function migrationsOfRelease(
  appDir: string,
  version: string,
  manifestVersion: string,
): { files: MigrationFile[]; from?: ReleaseLocation } | undefined {
  const found = locateRelease(appDir, version);
  if (found) return { files: listMigrations(gitRefReader(appDir, found.ref)), from: found };
  return version === manifestVersion ? { files: listCheckoutMigrations(appDir) } : undefined;
}

/** Reviews the deploy; `errors` non-empty means refuse before anything happens. */
export function reviewDeployMigrations(input: DeployMigrationsInput): DeployMigrationsReview {
  const { environment, stack, location, build, imageTag, manifestVersion, appDir, appDirLabel } = input;
  const lines: string[] = [];
  const warnings: string[] = [];
  const errors: string[] = [];
  const done = (
    kind: DeployMigrationsReview["kind"],
    record: RecordedMigration[],
    changes: string[],
    review?: MigrationReview,
  ): DeployMigrationsReview => ({
    kind,
    record,
    changes,
    lines: [...lines, ...(review?.lines ?? [])],
    warnings: [...warnings, ...(review?.warnings ?? [])],
    errors: [...errors, ...(review?.errors ?? [])],
  });

  // migrate reset: in what the image runs (only a build ships the checkout's scripts) and in config.
  const runnable: RunnableText[] = build ? deployRunnableTexts((f) => readText(path.join(appDir, f))) : [];
  for (const [name, value] of Object.entries(input.env ?? {}))
    runnable.push({ label: `communityrule:env.${name}`, text: value });
  errors.push(...findMigrateReset(runnable));

  const version = build ? manifestVersion : imageTag;
  let target: MigrationFile[] | undefined;
  try {
    target = build ? listCheckoutMigrations(appDir) : migrationsOfRelease(appDir, imageTag, manifestVersion)?.files;
  } catch (err) {
    if (!(err instanceof MigrationListError)) throw err;
    errors.push(`${appDirLabel}: ${err.message}`);
    return done("unknown", [], []);
  }
  if (target === undefined) {
    warnings.push(
      `cannot tell which migrations ${imageTag} carries: ${appDirLabel} has no git tag ` +
        `${releaseRefs(imageTag).join(" or ")}, no commit in its history ` +
        `where CloudronManifest.json took ${imageTag}, and is at ${manifestVersion}. Point appDir at a clone of the ` +
        `app that holds ${imageTag} (git -C ${appDirLabel} fetch)`,
    );
    return done("unknown", [], []);
  }
  const record = recordMigrations(classifyMigrations(target));

  if (input.running === "absent") {
    // An empty database has no rows for a destructive statement to lose (the real history's
    // 20260405120000_remove_otp_challenge drops a table the schema never had on a fresh install).
    lines.push(
      `first deploy of ${version} onto an empty database: prisma migrate deploy creates the schema from ` +
        `${count(target.length, "migration")}; ` +
        `no row exists yet for any of them to lose, so none needs an acknowledgement`,
    );
    return done("first-deploy", record, record.map(summarizeMigration));
  }

  let running = input.running === "unknown" ? undefined : input.running;
  if (!running && !build && isPlain(imageTag) && isPlain(manifestVersion) && semver.lt(imageTag, manifestVersion)) {
    // An existing tag older than the checkout: a rollback from the release the checkout holds.
    lines.push(`what ${location} runs was not read: assuming ${manifestVersion}, the version of ${appDirLabel}`);
    running = { version: manifestVersion };
  }
  const runningVersion = running?.tag ?? running?.version;
  let deployed: readonly RecordedMigration[] | undefined = running?.migrations;
  if (running && !deployed && running.recordedMigrations) {
    lines.push(
      `${location} runs ${runningVersion}; its release record lists ` +
        `${count(running.recordedMigrations.length, "applied migration")}`,
    );
    deployed = fromRecordedNames(running.recordedMigrations, target, appDir);
  } else if (running && !deployed) {
    const derived = migrationsOfRelease(appDir, runningVersion as string, manifestVersion);
    if (derived) {
      deployed = recordMigrations(classifyMigrations(derived.files));
      lines.push(
        `nothing recorded on ${location} (installed by hand, or before this program recorded releases): the ` +
          `migrations it has applied are ` +
          `derived from the version it runs, ${runningVersion}: ${derived.from?.describe ?? appDirLabel} carries ` +
          `${count(derived.files.length, "migration")}`,
      );
    }
  }
  if (!deployed) {
    // Not knowing what the database has must not wave a destructive migration through.
    if (target.length > 0) {
      warnings.push(
        `what ${location} runs${running ? ` (${runningVersion})` : ""} carries is unknown (no release record, no ` +
          `tag or manifest bump of that version): every migration of ${version} is treated as new`,
      );
    }
    deployed = [];
  }

  const isRollback =
    !build && !!runningVersion && isPlain(imageTag) && isPlain(runningVersion) && semver.lt(imageTag, runningVersion);
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
    const schema = [...deployed, ...record.filter((m) => !deployed.some((d) => d.name === m.name))].sort((a, b) =>
      compareNames(a.name, b.name),
    );
    return done("rollback", schema, review.ahead.map(summarizeMigration), review);
  }
  const review = reviewRelease(
    { environment, stack, version, deployed, target, acknowledged: input.acknowledged },
    appDirLabel,
  );
  return done("release", record, review.pending.map(summarizeMigration), review);
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

/**
 * The recorded names as the review compares them. A name the image being deployed carries takes
 * its entry (the record has names, not bytes; the deploy step's own state record catches edited
 * files). A name it lacks is what the database has beyond that image: classified from the
 * checkout's file, those together and in order (a table one of them creates is empty for the
 * next), and without a file its class stays unknown, which the gates treat as risky.
 */
function fromRecordedNames(
  names: readonly string[],
  target: readonly MigrationFile[],
  appDir: string,
): RecordedMigration[] {
  const byName = new Map(target.map((m) => [m.name, m]));
  const beyond = names.filter((n) => !byName.has(n));
  let classified = new Map<string, RecordedMigration>();
  if (beyond.length > 0) {
    let checkout: MigrationFile[] = [];
    try {
      checkout = listCheckoutMigrations(appDir);
    } catch (err) {
      if (!(err instanceof MigrationListError)) throw err;
    }
    const files = checkout.filter((m) => beyond.includes(m.name));
    classified = new Map(recordMigrations(classifyMigrations(files)).map((m) => [m.name, m]));
  }
  return names.map((name) => {
    const own = byName.get(name);
    if (own) return { name, sha256: own.sha256 };
    return classified.get(name) ?? { name, sha256: "" };
  });
}

function isPlain(v: string | undefined): v is string {
  return !!v && semver.valid(v) === v;
}

function readText(file: string): string | undefined {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
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

/**
 * The review for a plan: against the previous release (its tag, else the commit where the
 * manifest took that version) when there is one. A plan never asks the server what runs.
 */
export function planMigrations(input: Omit<DeployMigrationsInput, "running">): PlanMigrations {
  const version = input.build ? input.manifestVersion : input.imageTag;
  // A build or a promotion of the checkout's own version (production) goes over the previous release;
  // an older tag is a rollback from the checkout's version, which the review assumes.
  const promotesCheckout = !input.build && input.imageTag === input.manifestVersion;
  const previous = input.build || promotesCheckout ? previousRelease(input.appDir, version) : undefined;
  const review = reviewDeployMigrations({ ...input, running: previous ? { version: previous.version } : "unknown" });
  return {
    since: previous
      ? `release ${previous.version} (${previous.describe}, the newest older release in ${input.appDirLabel})`
      : "unknown (no older release in the tags or the manifest's history): every migration counts as new",
    kind: review.kind,
    changes: review.changes,
    warnings: review.warnings,
    refusals: review.errors.map((e) => e.split("\n")[0]),
  };
}
