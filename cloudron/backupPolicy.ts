/**
 * Backup policy as code (production): the app must have automatic backups on, and the server must
 * keep its backups at least `minBackupRetentionDays`. The policy is judged as the server states it:
 *
 * - `retention.keepWithinSecs` (or the spec's spelling `keepWWithinSecs`): a negative value keeps
 *   every backup (pogipop/cloudron 2019 src/backups.js cleanup: `retentionSecs < 0` → "keeping all
 *   backups"); otherwise backups are kept that many seconds.
 * - count-based retention (`keepDaily`, `keepWeekly`, `keepMonthly`, `keepYearly`: the dashboard's
 *   "7 daily, 4 weekly, …" choices): judged by the span the counts cover (7 daily = 7 days,
 *   4 weekly = 28 days, 12 monthly ≈ 360 days), the longest of them, together with keepWithinSecs.
 * - anything else (no GET /backups/policy on the server, several backup sites, a shape not listed
 *   here): the backups that exist are judged instead, via GET /apps/:id/backups (every page): the
 *   newest must be recent and none may have been removed younger than the minimum.
 *
 * Every verdict says which rule was used. The judgement functions are pure; {@link assessBackups}
 * does the reads.
 */
import type { CloudronApi } from "./client";
import type { App, Backup } from "./wire";

const DAY = 86_400;

/** What the server's policy says about how long backups are kept. */
export type RetentionReading =
  | { kind: "forever"; field: string }
  | { kind: "within"; seconds: number; field: string }
  | { kind: "counts"; seconds: number; counts: Record<string, number>; withinSeconds?: number }
  | { kind: "unknown"; why: string };

/** Days one unit of each count-based field spans (a month and a year rounded down). */
const COUNT_FIELD_DAYS: Record<string, number> = { keepDaily: 1, keepWeekly: 7, keepMonthly: 30, keepYearly: 365 };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads GET /backups/policy as sent (`undefined`: the route answered 404). The single-policy shape
 * is `{ policy: { schedule, retention } }` (spec getBackupPolicy); a body naming several sites or
 * policies, or a retention with none of the known fields, is "unknown", saying why.
 */
export function readBackupPolicy(body: unknown): RetentionReading {
  if (body === undefined) return { kind: "unknown", why: "the server has no GET /backups/policy (404)" };
  if (!isRecord(body) || !isRecord(body.policy)) {
    const keys = isRecord(body) ? Object.keys(body).join(", ") || "nothing" : typeof body;
    const why = `GET /backups/policy states no single policy (it holds ${keys}), e.g. one per backup site`;
    return { kind: "unknown", why };
  }
  const retention = body.policy.retention;
  if (!isRecord(retention)) return { kind: "unknown", why: "GET /backups/policy has no retention object" };
  const withinField = ["keepWithinSecs", "keepWWithinSecs"].find((f) => typeof retention[f] === "number");
  const within = withinField ? (retention[withinField] as number) : undefined;
  if (within !== undefined && within < 0) return { kind: "forever", field: withinField as string };
  const counts: Record<string, number> = {};
  for (const field of Object.keys(COUNT_FIELD_DAYS)) {
    const n = retention[field];
    if (typeof n === "number" && n > 0) counts[field] = n;
  }
  if (Object.keys(counts).length > 0) {
    const spanDays = Math.max(...Object.entries(counts).map(([f, n]) => n * COUNT_FIELD_DAYS[f]));
    const seconds = Math.max(spanDays * DAY, within ?? 0);
    return { kind: "counts", seconds, counts, ...(within !== undefined ? { withinSeconds: within } : {}) };
  }
  if (within !== undefined) return { kind: "within", seconds: within, field: withinField as string };
  const fields = Object.keys(retention).join(", ") || "no fields";
  const known = ["keepWithinSecs", ...Object.keys(COUNT_FIELD_DAYS)].join(", ");
  return { kind: "unknown", why: `the retention names none of ${known} (it has ${fields})` };
}

/** How long the policy keeps a backup, in seconds; undefined for "forever" or unknown. */
export function retentionSeconds(reading: RetentionReading): number | undefined {
  return reading.kind === "within" || reading.kind === "counts" ? reading.seconds : undefined;
}

/** What exists: the app's backups and when it was created, at `now` (ms). */
export interface ExistingBackups {
  backups: readonly Pick<Backup, "id" | "creationTime">[];
  /** The app's creationTime, when the server gave it. */
  appCreated?: string;
  now: number;
}

/** The newest backup must be at most this old for automatic backups to count as running. */
export const NEWEST_BACKUP_MAX_DAYS = 2;

/** What the check found: problems (each with the dashboard path to fix it) and what was read. */
export interface BackupPolicyVerdict {
  problems: string[];
  /** One line saying what was read and which rule judged it. */
  summary: string;
}

const FIX = "dashboard: Backups → Schedule/Retention";

/** Judges the app's `enableBackup` and the retention (or, when unknown, the existing backups). */
export function judgeBackupPolicy(o: {
  enableBackup: boolean | undefined;
  reading: RetentionReading;
  minDays: number;
  location: string;
  /** Needed when the reading is unknown and the app is installed. */
  existing?: ExistingBackups;
}): BackupPolicyVerdict {
  const problems: string[] = [];
  if (o.enableBackup !== true) {
    problems.push(
      `${o.location} has automatic backups ` +
        `${o.enableBackup === false ? "turned off" : "in an unknown state (enableBackup missing)"}; ` +
        `turn them on in the dashboard: the app → Backups → automatic backups`,
    );
  }
  const min = `communityrule:minBackupRetentionDays = ${o.minDays}`;
  let rule: string;
  const r = o.reading;
  if (r.kind === "forever") {
    rule = `policy: backups kept forever (${r.field} < 0)`;
  } else if (r.kind === "within") {
    rule = `policy: backups kept ${formatDays(r.seconds / DAY)} (${r.field})`;
    if (r.seconds / DAY < o.minDays) {
      const kept = formatDays(r.seconds / DAY);
      problems.push(`the backup policy keeps backups ${kept} (${r.field}), less than ${min}; raise it in the ${FIX}`);
    }
  } else if (r.kind === "counts") {
    const counts = Object.entries(r.counts)
      .map(([f, n]) => `${f} ${n}`)
      .join(", ");
    rule = `policy: count-based retention (${counts}) spans ${formatDays(r.seconds / DAY)}`;
    if (r.seconds / DAY < o.minDays) {
      const span = formatDays(r.seconds / DAY);
      problems.push(
        `the count-based backup retention (${counts}) spans ${span}, less than ${min}; keep more in the ${FIX}`,
      );
    }
  } else if (!o.existing) {
    rule = `policy unreadable (${r.why}); ${o.location} is not installed, so no backups to judge yet`;
  } else {
    const judged = judgeExistingBackups(o.existing, o.minDays, o.location);
    rule = `policy unreadable (${r.why}); judged the app's backups: ${judged.summary}`;
    problems.push(...judged.problems.map((p) => `${p} (the server's policy could not be read: ${r.why})`));
  }
  const backupsOn = o.enableBackup === true ? "on" : "off";
  return { problems, summary: `${rule}; app backups ${backupsOn}; minimum ${o.minDays} days` };
}

/**
 * Judges the backups that exist: the newest at most {@link NEWEST_BACKUP_MAX_DAYS} old, and the
 * oldest at least `minDays` old unless the app itself is younger (then nothing was removed early).
 */
export function judgeExistingBackups(e: ExistingBackups, minDays: number, location: string): BackupPolicyVerdict {
  const ages = e.backups
    .map((b) => (b.creationTime ? Date.parse(b.creationTime) : NaN))
    .filter((t) => Number.isFinite(t))
    .map((t) => (e.now - t) / (DAY * 1000));
  if (ages.length === 0) {
    const problem = `${location} has no backups with a creation time; take one and check the ${FIX}`;
    return { problems: [problem], summary: "no backups" };
  }
  const newest = Math.min(...ages);
  const oldest = Math.max(...ages);
  const created = e.appCreated ? Date.parse(e.appCreated) : NaN;
  const appAge = Number.isFinite(created) ? (e.now - created) / (DAY * 1000) : undefined;
  const problems: string[] = [];
  if (newest > NEWEST_BACKUP_MAX_DAYS) {
    problems.push(
      `the newest backup of ${location} is ${formatDays(newest)} old (more than ${NEWEST_BACKUP_MAX_DAYS} days): ` +
        `automatic backups do not seem to run; check the ${FIX}`,
    );
  }
  // Backups younger than the minimum are fine while the app itself is that young.
  const removedEarly = oldest < minDays && (appAge === undefined || appAge > oldest + 1);
  if (removedEarly) {
    problems.push(
      `the oldest backup of ${location} is ${formatDays(oldest)} old although the app is ` +
        `${appAge === undefined ? "of unknown age" : `${formatDays(appAge)} old`}: ` +
        `backups are not kept ${minDays} days; raise the retention in the ${FIX}`,
    );
  }
  const summary = `${e.backups.length} backup(s), newest ${formatDays(newest)} old, oldest ${formatDays(oldest)} old`;
  return { problems, summary };
}

/**
 * Reads what the judgement needs (the policy; when it is unreadable and the app exists, its
 * backups) and judges it. `app` undefined: not installed yet (Cloudron turns automatic backups on
 * at install, and production installs ask for them).
 */
export async function assessBackups(
  api: CloudronApi,
  app: App | undefined,
  minDays: number,
  location: string,
  step: string,
  now = Date.now(),
): Promise<BackupPolicyVerdict> {
  const reading = readBackupPolicy(await api.getBackupPolicy(step));
  let existing: ExistingBackups | undefined;
  if (reading.kind === "unknown" && app) {
    const appCreated = typeof app.creationTime === "string" ? app.creationTime : undefined;
    existing = { backups: await api.listBackups(app.id, step), appCreated, now };
  }
  return judgeBackupPolicy({ enableBackup: app ? app.enableBackup : true, reading, minDays, location, existing });
}

function formatDays(days: number): string {
  const shown = Number.isInteger(days) ? String(days) : days.toFixed(1);
  return `${shown} day${days === 1 ? "" : "s"}`;
}
