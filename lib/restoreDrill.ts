/**
 * The quarterly restore drill (runbook §5): newest backup → clone to a scratch location → health →
 * smoke → uninstall the scratch app → dated record. The live app is only read (backup list).
 */
import { CloudronCli } from "./cloudron/cloudronCli";
import { waitForHealthy } from "./health/healthGate";
import { runSmokeChecks, formatSmokeReport } from "./health/smoke";

/** `restore-drill-YYYYMMDD.<domain>`, where the domain is the live location minus its first label (apex kept). */
export function scratchLocation(live: string, date: Date): string {
  const labels = live.split(".");
  const domain = labels.length > 2 ? labels.slice(1).join(".") : live;
  const ymd = date.toISOString().slice(0, 10).replace(/-/g, "");
  return `restore-drill-${ymd}.${domain}`;
}

export interface DrillRecord {
  date: string;
  live: string;
  scratch: string;
  backupId: string;
  ok: boolean;
  timingsMs: Record<string, number>;
  health: string;
  smoke: string;
  error?: string;
}

export interface DrillOptions {
  server: string;
  token?: string;
  live: string;
  /** Where the scratch app answers; default https://<scratch>. */
  baseUrl?: string;
  healthTimeoutMs: number;
  date?: Date;
  log?: (line: string) => void;
}

/** Runs the drill; always tries to remove the scratch app, and reports what happened. */
export async function runRestoreDrill(o: DrillOptions): Promise<DrillRecord> {
  const log = o.log ?? (() => undefined);
  const date = o.date ?? new Date();
  const scratch = scratchLocation(o.live, date);
  if (scratch === o.live) throw new Error(`refusing to drill: scratch location ${scratch} is the live location`);
  const cli = new CloudronCli({ server: o.server, token: o.token, timeoutMs: 30 * 60 * 1000 });
  const record: DrillRecord = { date: date.toISOString(), live: o.live, scratch, backupId: "", ok: false, timingsMs: {}, health: "", smoke: "" };
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      record.timingsMs[name] = Date.now() - t0;
    }
  };
  const list = await timed("backupList", () => cli.run(["backup", "list", "--app", o.live, "--raw"], { step: "drill: backup list" }));
  const backups = JSON.parse(list.stdout) as Array<{ id: string }>;
  if (backups.length === 0) throw new Error(`no backups of ${o.live}: the drill has nothing to restore (check the backup policy in the dashboard)`);
  record.backupId = backups[0].id;
  log(`drill: cloning backup ${record.backupId} of ${o.live} to ${scratch}`);
  let cloned = false;
  try {
    // A concrete id, never `latest` (reported to fail on servers with several backup sites).
    await timed("clone", () => cli.run(["clone", "--app", o.live, "--backup", record.backupId, "--location", scratch], { step: "drill: clone" }));
    cloned = true;
    const baseUrl = o.baseUrl ?? `https://${scratch}`;
    const h = await timed("health", () => waitForHealthy({ url: baseUrl, timeoutMs: o.healthTimeoutMs, app: scratch }));
    record.health = `healthy after ${h.attempts} attempts`;
    const smoke = await timed("smoke", () => runSmokeChecks({ baseUrl }));
    record.smoke = formatSmokeReport(smoke, baseUrl);
    record.ok = smoke.ok;
  } catch (err) {
    record.error = (err as Error).message;
  } finally {
    if (cloned) {
      log(`drill: removing ${scratch}`);
      await timed("uninstall", () => cli.run(["uninstall", "--app", scratch], { step: "drill: uninstall" })).catch((e: Error) => {
        record.ok = false;
        record.error = `${record.error ? record.error + "; " : ""}scratch app NOT removed: ${e.message}`;
      });
    }
  }
  return record;
}
