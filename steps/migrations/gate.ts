/**
 * The decisions a deploy makes about database migrations (runbook seed 000 §3.3 and §4), as pure
 * functions that return what to print and whether to refuse:
 * - {@link reviewRelease}: what a release applies; refuses edited or missing history on every
 *   stack, and unacknowledged risky/destructive migrations on production.
 * - {@link reviewRollback}: what an image rollback leaves in the database; refuses rolling back
 *   past a risky/destructive migration on production unless acknowledged, and says the ways back.
 * - {@link findMigrateReset}: `prisma migrate reset` anywhere a deploy could run it.
 *
 * Acknowledgements are the config key `communityrule:acknowledgeMigrations`, a list of migration
 * names. Releasing a migration and rolling back past it are different decisions, so rolling back
 * past one needs its own entry, `rollback:<name>`: the yes that let a destructive migration out
 * does not also wave through the rollback that strands its schema under older code.
 */
import {
  classifyMigrations,
  summarizeMigration,
  compareMigrations,
  type ClassifiedMigration,
  type MigrationFile,
  type RecordedMigration,
  type MigrationComparison,
  MIGRATIONS_DIR,
} from "./checkoutMigrations";
import type { MigrationRisk } from "./classifier";

/** Prefix of an acknowledgement that allows rolling back past a migration (not releasing it). */
export const ROLLBACK_ACK_PREFIX = "rollback:";

/** What an entry of acknowledgeMigrations may look like: a migration directory name, maybe prefixed. */
export const ACKNOWLEDGEMENT_PATTERN = /^(rollback:)?[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The result of a review: lines to show, warnings to log, and errors that stop the deploy. */
export interface MigrationReview {
  /** Plain description for preview, plan and the up log. */
  lines: string[];
  warnings: string[];
  /** Non-empty: refuse, before anything happens; each entry is a complete message. */
  errors: string[];
}

export interface ReleaseReviewInput {
  environment: "staging" | "production";
  /** Stack name, for the `pulumi config set … -s <stack>` commands in messages. */
  stack: string;
  /** The version being released, for messages (e.g. "0.1.10"). */
  version: string;
  /** What the running image carried, as recorded at its deploy; undefined when nothing was recorded. */
  deployed?: readonly RecordedMigration[];
  /** The migrations the image being deployed carries. */
  target: readonly MigrationFile[];
  /** communityrule:acknowledgeMigrations. */
  acknowledged: readonly string[];
}

export interface ReleaseReview extends MigrationReview {
  /** What `prisma migrate deploy` applies at the next start, classified, in order. */
  pending: ClassifiedMigration[];
  /** Undefined when nothing was recorded to compare with. */
  comparison?: MigrationComparison;
}

const short = (sha: string) => sha.slice(0, 12);
const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
const isDangerous = (risk: MigrationRisk | undefined) => risk !== "additive";

/** `pulumi config set --path 'acknowledgeMigrations[<index>]' <value> -s <stack>` */
export function acknowledgeCommand(stack: string, index: number, value: string): string {
  return `pulumi config set --path 'acknowledgeMigrations[${index}]' ${value} -s ${stack}`;
}

/** The statement lines of a migration that make it risky or destructive, for messages. */
function dangerousStatementLines(m: ClassifiedMigration): string[] {
  return m.statements
    .filter((s) => s.risk !== "additive")
    .map((s) => `      line ${s.line} [${s.risk}]: ${s.summary}${s.reason ? ` (${s.reason})` : ""}`);
}

/** Messages for history that must never change: an edited applied migration, or one gone missing. */
export function historyErrors(comparison: MigrationComparison, appDirLabel: string): string[] {
  const errors: string[] = [];
  for (const e of comparison.edited) {
    errors.push(
      `migration ${e.name} was edited after it was deployed: ${e.path} has sha256 ${short(e.checkoutSha256)}…, ` +
        `the deployed image carried ${short(e.recordedSha256)}…. Never edit an applied migration: restore the file ` +
        `(git -C ${appDirLabel} checkout <deployed tag> -- ${e.path}) and add a new migration for the change ` +
        `(npx prisma migrate dev --name <change>).`,
    );
  }
  for (const name of comparison.missing) {
    errors.push(
      `migration ${name} is recorded as deployed but is not in ${appDirLabel}/${MIGRATIONS_DIR}: the checkout is ` +
        `behind what runs. ` +
        `Check out the release that added it (or a later one) before releasing; to run older code on purpose, ` +
        `deploy its tag with build: false (a rollback).`,
    );
  }
  return errors;
}

/**
 * Reviews a release: compares the recorded list with the target image's migrations, classifies
 * the new ones, and applies the rules. `appDirLabel` names the checkout in messages.
 */
export function reviewRelease(input: ReleaseReviewInput, appDirLabel = "appDir"): ReleaseReview {
  const { environment, stack, version } = input;
  const lines: string[] = [];
  const warnings: string[] = [];
  const errors: string[] = [];

  if (input.deployed === undefined) {
    const all = classifyMigrations(input.target);
    lines.push(
      `${version} carries ${count(all.length, "migration")}; no list was recorded for the running app, so which are ` +
        `new is unknown ` +
        `(prisma migrate deploy applies those the database lacks; this deploy records the list)`,
    );
    for (const m of all) lines.push(`  ${summarizeMigration(m)}`);
    return { lines, warnings, errors, pending: [] };
  }

  const comparison = compareMigrations(input.deployed, input.target);
  errors.push(...historyErrors(comparison, appDirLabel));
  const pendingFiles = input.target.filter((m) => comparison.pending.includes(m.name));
  // Classified together and in order: a table created by one new migration is empty for the next.
  const pending = classifyMigrations(pendingFiles);

  if (pending.length === 0) lines.push(`${version} applies no new migration`);
  else {
    lines.push(
      `${version} applies ${count(pending.length, "new migration")} (prisma migrate deploy, at container start):`,
    );
    for (const m of pending) lines.push(`  ${summarizeMigration(m)}`);
  }
  for (const name of comparison.outOfOrder) {
    warnings.push(
      `migration ${name} sorts before migrations already applied; prisma migrate deploy still applies it, after ` +
        `them: check it does not assume an older schema`,
    );
  }

  const acknowledged = new Set(input.acknowledged);
  const unacknowledged = pending.filter((m) => isDangerous(m.risk) && !acknowledged.has(m.name));
  for (const m of pending.filter((m) => isDangerous(m.risk) && acknowledged.has(m.name))) {
    lines.push(`  acknowledged: ${m.name} [${m.risk}]`);
  }
  if (unacknowledged.length > 0) {
    if (environment === "production") errors.push(gateMessage(stack, unacknowledged, input.acknowledged.length));
    else {
      for (const m of unacknowledged) {
        warnings.push(
          `${environment}: migration ${m.name} is ${m.risk} (${m.summary}); production will refuse it until ` +
            `acknowledgeMigrations names it`,
        );
      }
    }
  }
  return { lines, warnings, errors, pending, comparison };
}

function gateMessage(stack: string, migrations: ClassifiedMigration[], firstIndex: number): string {
  return [
    `production: ${count(migrations.length, "new migration")} ${migrations.length === 1 ? "is" : "are"} risky or ` +
      `destructive and not acknowledged:`,
    ...migrations.flatMap((m) => [`  - ${m.name} [${m.risk}] (${m.path})`, ...dangerousStatementLines(m)]),
    `Read each migration.sql, then acknowledge ${migrations.length === 1 ? "it" : "them"} in the production stack ` +
      `config:`,
    ...migrations.map((m, k) => `  ${acknowledgeCommand(stack, firstIndex + k, m.name)}`),
    `The way back is the pre-update backup Cloudron takes before the update (recorded as the stack output ` +
      `preUpdateBackupId): ` +
      `rolling the image back does not undo a migration.`,
  ].join("\n");
}

export interface RollbackReviewInput {
  environment: "staging" | "production";
  stack: string;
  /** The app's location, for the dashboard restore steps. */
  location: string;
  /** The version running now, and the one being rolled back to. */
  fromVersion: string;
  toVersion: string;
  /** What the running release recorded: the schema has these applied. */
  running: readonly RecordedMigration[];
  /** What the older release carries (recorded at its deploy, or read from its git tag). */
  target: readonly RecordedMigration[];
  acknowledged: readonly string[];
  /** Backup Cloudron took before the running release was deployed, when recorded. */
  preUpdateBackupId?: string;
}

export interface RollbackReview extends MigrationReview {
  /** Migrations the database keeps that the older code does not know. */
  ahead: RecordedMigration[];
}

/**
 * Reviews an image rollback. The database keeps every migration the running release applied;
 * the older code may not expect them. Additive ones: warn. Risky/destructive ones: refuse on
 * production unless `rollback:<name>` is acknowledged, and say how else to get back.
 */
export function reviewRollback(input: RollbackReviewInput): RollbackReview {
  const { environment, fromVersion, toVersion } = input;
  const lines: string[] = [];
  const warnings: string[] = [];
  const errors: string[] = [];
  const targetByName = new Map(input.target.map((m) => [m.name, m]));
  const runningNames = new Set(input.running.map((m) => m.name));
  const ahead = input.running.filter((m) => !targetByName.has(m.name));

  for (const m of input.running) {
    const old = targetByName.get(m.name);
    if (old && old.sha256 !== m.sha256) {
      errors.push(
        `migration ${m.name} differs between ${toVersion} (sha256 ${short(old.sha256)}…) and the running ` +
          `${fromVersion} (${short(m.sha256)}…): ` +
          `an applied migration was edited between releases. Never edit an applied migration; fix forward with a ` +
          `new one.`,
      );
    }
  }
  const behind = input.target.filter((m) => !runningNames.has(m.name)).map((m) => m.name);
  if (behind.length > 0) {
    warnings.push(
      `${toVersion} carries ${count(behind.length, "migration")} the database lacks (${behind.join(", ")}); prisma ` +
        `migrate deploy applies ${behind.length === 1 ? "it" : "them"} when ${toVersion} starts`,
    );
  }

  if (ahead.length === 0) {
    lines.push(`rollback to ${toVersion}: the database has no migration that ${toVersion} does not know`);
    return { lines, warnings, errors, ahead };
  }
  const list = ahead.map((m) => `  - ${summarizeMigration(m)}`);
  const dangerous = ahead.filter((m) => isDangerous(m.risk));
  lines.push(
    `rollback to ${toVersion}: the database keeps ${count(ahead.length, "migration")} that ${toVersion} does not ` +
      `know (rolling back the image does not undo ${ahead.length === 1 ? "it" : "them"}):`,
    ...list,
  );

  if (dangerous.length === 0) {
    warnings.push(
      `rollback to ${toVersion}: the database keeps ${count(ahead.length, "additive migration")} that ${toVersion} ` +
        `does not know; ` +
        `older code usually ignores new tables and nullable columns, so the rollback goes on: ` +
        `${ahead.map((m) => m.name).join(", ")}`,
    );
    return { lines, warnings, errors, ahead };
  }

  const acknowledged = new Set(input.acknowledged);
  const unacknowledged = dangerous.filter((m) => !acknowledged.has(`${ROLLBACK_ACK_PREFIX}${m.name}`));
  if (unacknowledged.length === 0) {
    warnings.push(
      `rollback to ${toVersion} past ${dangerous.map((m) => `${m.name} [${m.risk ?? "unclassified"}]`).join(", ")}: ` +
        `acknowledged; ${toVersion} runs against a schema it was not written for`,
    );
    return { lines, warnings, errors, ahead };
  }
  if (environment !== "production") {
    warnings.push(
      `${environment}: rollback to ${toVersion} leaves ` +
        `${unacknowledged.map((m) => `${m.name} [${m.risk ?? "unclassified"}]`).join(", ")} in the database; ` +
        `production would refuse this rollback until acknowledged`,
    );
    return { lines, warnings, errors, ahead };
  }
  errors.push(rollbackRefusal(input, unacknowledged));
  return { lines, warnings, errors, ahead };
}

function rollbackRefusal(input: RollbackReviewInput, migrations: RecordedMigration[]): string {
  const { stack, location, fromVersion, toVersion, preUpdateBackupId } = input;
  const backup = preUpdateBackupId
    ? `Cloudron took backup ${preUpdateBackupId} before ${fromVersion} was deployed (stack output preUpdateBackupId)`
    : `the backup Cloudron took before ${fromVersion} was deployed is the stack output preUpdateBackupId (pulumi ` +
      `stack output preUpdateBackupId -s ${stack}); without it, use the newest backup taken before that deploy ` +
      `(dashboard → ${location} → Backups)`;
  const backupRef = preUpdateBackupId ?? "<backup id>";
  return [
    `production rollback from ${fromVersion} to ${toVersion} refused: the database keeps ` +
      `${count(migrations.length, "risky or destructive migration")} that ${toVersion} does not know, and rolling ` +
      `back the image does not undo ${migrations.length === 1 ? "it" : "them"}:`,
    ...migrations.map((m) => `  - ${summarizeMigration(m)}`),
    `Ways back:`,
    `  - Fix forward (usually best): keep ${fromVersion} and release a new version with a corrective migration (npx ` +
      `prisma migrate dev --name <fix>); never edit or reset an applied migration.`,
    `  - Restore the database: ${backup}. Check the backup first on a scratch app (npm run restore-drill -- ` +
      `${stack}, or cloudron clone --app ${location} --backup ${backupRef} --location <scratch location>), ` +
      `then in the dashboard: ${location} → Backups → restore it, and deploy ${toVersion} with build: false.`,
    `  - If ${toVersion} is known to run on this schema, acknowledge the rollback and run it again:`,
    ...migrations.map(
      (m, k) => `      ${acknowledgeCommand(stack, input.acknowledged.length + k, `${ROLLBACK_ACK_PREFIX}${m.name}`)}`,
    ),
  ].join("\n");
}

/** A text a deploy may run (a script, a command, a config value), with where it came from. */
export interface RunnableText {
  /** Where it is, for the message: `scripts/start.sh`, `package.json scripts.db:deploy`, `communityrule:env.X`. */
  label: string;
  text: string;
}

const MIGRATE_RESET = /\bmigrate\s+reset\b|--force-reset\b/i;

/**
 * `prisma migrate reset` (and `db push --force-reset`) drop and recreate the database; the runbook
 * forbids them on staging and production. One message per place that holds one.
 */
export function findMigrateReset(texts: readonly RunnableText[]): string[] {
  return texts
    .filter((t) => MIGRATE_RESET.test(t.text))
    .map(
      (t) =>
        `${t.label} runs "${MIGRATE_RESET.exec(t.text)?.[0]}", which wipes the database: never on staging or ` +
        `production (runbook §3.3). ` +
        `Remove it; schema changes ship as new migrations that prisma migrate deploy applies.`,
    );
}

/**
 * The parts of an app checkout that run on staging and production: `scripts/start.sh` (run at
 * every container start), the Dockerfile, and the package.json scripts they or the runbook call
 * (`start`, `db:deploy`, and every `npm run X` reachable from those). Development scripts such
 * as a local `db:reset` stay out: they never run on a server.
 */
export function deployRunnableTexts(read: (file: string) => string | undefined): RunnableText[] {
  const out: RunnableText[] = [];
  const runs = /\b(?:npm\s+run(?:-script)?|yarn(?:\s+run)?|pnpm(?:\s+run)?)\s+([A-Za-z0-9:_.-]+)/g;
  const wanted = new Set(["start", "db:deploy"]);
  for (const file of ["scripts/start.sh", "Dockerfile"]) {
    const text = read(file);
    if (text === undefined) continue;
    out.push({ label: file, text });
    for (const m of text.matchAll(runs)) wanted.add(m[1]);
  }
  const pkgText = read("package.json");
  let scripts: Record<string, unknown> = {};
  try {
    scripts = (pkgText ? (JSON.parse(pkgText) as { scripts?: Record<string, unknown> }).scripts : undefined) ?? {};
  } catch {
    scripts = {};
  }
  const seen = new Set<string>();
  const queue = [...wanted];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    const text = scripts[name];
    if (typeof text !== "string") continue;
    out.push({ label: `package.json scripts.${name}`, text });
    for (const m of text.matchAll(runs)) queue.push(m[1]);
  }
  return out;
}

/**
 * Reads `communityrule:acknowledgeMigrations` as Pulumi hands it over (a list arrives as JSON
 * text; a single name as plain text). Returns the names, or a problem phrased for the operator.
 */
export function parseAcknowledgements(text: string): { names: string[] } | { problem: string } {
  let parsed: unknown = text;
  if (text.trim().startsWith("[")) {
    try {
      parsed = JSON.parse(text);
    } catch {
      return { problem: "must be a list of migration names" };
    }
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const names: string[] = [];
  for (const entry of list) {
    if (typeof entry !== "string" || !ACKNOWLEDGEMENT_PATTERN.test(entry)) {
      return {
        problem:
          `${JSON.stringify(entry)} is not a migration name: use the directory name under prisma/migrations ` +
          `(e.g. 20250521150000_drop_user_legacy_id), or rollback:<name> to allow a rollback past it`,
      };
    }
    names.push(entry);
  }
  return { names };
}

/**
 * The deploy step's own history check, against the list it recorded at the last deploy (state,
 * not git): an applied migration whose bytes changed is refused on every stack; one that
 * disappeared is refused on a build (the checkout is behind) and expected on a rollback.
 */
export function recordedHistoryErrors(
  previous: readonly RecordedMigration[],
  next: readonly RecordedMigration[],
  opts: { build: boolean; appDirLabel: string },
): string[] {
  const files = next.map((m) => ({
    name: m.name,
    sha256: m.sha256,
    sql: "",
    path: `${MIGRATIONS_DIR}/${m.name}/migration.sql`,
  }));
  const comparison = compareMigrations(previous, files);
  return historyErrors({ ...comparison, missing: opts.build ? comparison.missing : [] }, opts.appDirLabel);
}
