/**
 * Backup policy as code (production): the app must have automatic backups on and the server's
 * policy must keep backups at least `minBackupRetentionDays`. Pure: it judges what the API read.
 */
import type { BackupRetention } from "./api";

/** What the check found: problems (each with the dashboard path to fix it) and what was read. */
export interface BackupPolicyVerdict {
  problems: string[];
  /** One line saying what was read, e.g. "retention 30 days (keepWithinSecs), app backups on". */
  summary: string;
}

const DAY = 86_400;

/** Judges the app's `enableBackup` and the server retention against the configured minimum. */
export function judgeBackupPolicy(enableBackup: boolean | undefined, retention: BackupRetention, minDays: number, location: string): BackupPolicyVerdict {
  const problems: string[] = [];
  if (enableBackup !== true) {
    problems.push(
      `${location} has automatic backups ${enableBackup === false ? "turned off" : "in an unknown state (enableBackup missing)"}; ` +
        `turn them on in the dashboard: the app → Backups → automatic backups`,
    );
  }
  const days = retention.keepWithinSecs === undefined ? undefined : retention.keepWithinSecs / DAY;
  if (days === undefined) {
    problems.push(`the backup policy has no retention (neither keepWithinSecs nor keepWWithinSecs); set one of at least ${minDays} days in the dashboard: Backups → Schedule/Retention`);
  } else if (days < minDays) {
    problems.push(
      `the backup policy keeps backups ${formatDays(days)} (${retention.field}), less than communityrule:minBackupRetentionDays = ${minDays}; ` +
        `raise it in the dashboard: Backups → Schedule/Retention`,
    );
  }
  const summary =
    `retention ${days === undefined ? "not set" : `${formatDays(days)} (${retention.field})`}` +
    `, app backups ${enableBackup === true ? "on" : "off"}, minimum ${minDays} days`;
  return { problems, summary };
}

function formatDays(days: number): string {
  return `${Number.isInteger(days) ? days : days.toFixed(1)} day${days === 1 ? "" : "s"}`;
}
