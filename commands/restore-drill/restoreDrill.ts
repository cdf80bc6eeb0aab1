/**
 * The quarterly restore drill (runbook §5): newest backup → clone to a scratch location → health →
 * smoke → uninstall the scratch app → dated record. Through the Cloudron REST API: the live app is
 * only read (GET /apps, GET /apps/:id/backups); the only mutating calls are the clone and the
 * uninstall of the scratch app the clone created. The scratch location must be free before the
 * clone, so whatever is there afterwards is this drill's: it is found by the id the clone answered,
 * or, when that answer was lost (a timeout after the server already cloned), by its location, and
 * removed on every exit.
 */
import { CloudronApi, resolveToken } from "../../cloudron/client";
import { CONFIG_DEFAULTS } from "../../config/schema";
import { splitLocation } from "../../cloudron/operationSupport";
import { cloneRequestSchema, newAppTaskSchema, taskInfoSchema, type Backup } from "../../cloudron/wire";
import { waitForHealthy } from "../../steps/health/poll";
import { runSmokeChecks, formatSmokeReport } from "../../steps/smoke/checks";

/** `restore-drill-YYYYMMDD.<domain>`, where the domain is the live location minus its first label (apex kept). */
export function scratchLocation(live: string, date: Date): string {
  const labels = live.split(".");
  const domain = labels.length > 2 ? labels.slice(1).join(".") : live;
  const ymd = date.toISOString().slice(0, 10).replace(/-/g, "");
  return `restore-drill-${ymd}.${domain}`;
}

/** The newest backup: by creationTime when every entry has one, else the first listed (Cloudron lists newest first). */
export function newestBackup(backups: readonly Backup[]): Backup | undefined {
  if (backups.length === 0) return undefined;
  if (backups.every((b) => b.creationTime)) {
    return backups.reduce((best, b) =>
      Date.parse(b.creationTime as string) > Date.parse(best.creationTime as string) ? b : best,
    );
  }
  return backups[0];
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
  /** communityrule:cloudronServer (host, or a loopback stand-in URL). */
  server: string;
  /** API token; absent: CLOUDRON_TOKEN, else the `cloudron login` for the server. */
  token?: string;
  live: string;
  /** Where the scratch app answers; default https://<scratch>. */
  baseUrl?: string;
  healthTimeoutMs: number;
  /** Bound on the clone and uninstall tasks. Defaults to cloudronTimeoutSeconds' default. */
  taskTimeoutSeconds?: number;
  date?: Date;
  log?: (line: string) => void;
}

/** Runs the drill; always tries to remove the scratch app, and reports what happened. */
export async function runRestoreDrill(o: DrillOptions): Promise<DrillRecord> {
  const log = o.log ?? (() => undefined);
  const date = o.date ?? new Date();
  const scratch = scratchLocation(o.live, date);
  if (scratch === o.live) throw new Error(`refusing to drill: scratch location ${scratch} is the live location`);
  const { token } = resolveToken({
    server: o.server,
    configToken: o.token,
    envToken: process.env.CLOUDRON_TOKEN || undefined,
  });
  const api = new CloudronApi({
    server: o.server,
    token,
    taskTimeoutSeconds: o.taskTimeoutSeconds ?? CONFIG_DEFAULTS.cloudronTimeoutSeconds,
    busyWaitSeconds: CONFIG_DEFAULTS.busyWaitSeconds,
    log,
  });
  const record: DrillRecord = {
    date: date.toISOString(),
    live: o.live,
    scratch,
    backupId: "",
    ok: false,
    timingsMs: {},
    health: "",
    smoke: "",
  };
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      record.timingsMs[name] = Date.now() - t0;
    }
  };
  const live = await api.findApp(o.live, "drill");
  if (!live) throw new Error(`${o.live} is not installed on ${o.server}: nothing to drill`);
  const backup = await timed("backupList", async () => newestBackup(await api.listBackups(live.id, "drill: backups")));
  if (!backup)
    throw new Error(
      `no backups of ${o.live}: the drill has nothing to restore (check the backup policy: dashboard → Backups)`,
    );
  record.backupId = backup.id;
  const { subdomain, domain } = splitLocation(scratch, await api.listDomains("drill"));
  const occupant = await api.findApp(scratch, "drill");
  if (occupant) {
    throw new Error(
      `${scratch} is already taken (app ${occupant.id}): the drill never touches an app it did not create; ` +
        `remove it in the dashboard or drill another day`,
    );
  }
  log(`drill: cloning backup ${record.backupId} of ${o.live} to ${scratch}`);
  let scratchId = "";
  let cloneSent = false;
  try {
    // A concrete backup id, never `latest` (reported to fail on servers with several backup sites).
    await timed("clone", async () => {
      const body = cloneRequestSchema.parse({ backupId: record.backupId, subdomain, domain });
      cloneSent = true;
      const started = await api.post(`/apps/${encodeURIComponent(live.id)}/clone`, body, newAppTaskSchema, {
        step: "drill: clone",
        // The location was free: an app there now is the clone, its task running or already over.
        recover: async () => {
          const found = await api.findApp(scratch, "drill: clone").catch(() => undefined);
          return found ? { id: found.id, taskId: found.taskId ?? "" } : undefined;
        },
      });
      scratchId = started.id;
      if (started.taskId !== "") await api.waitForTask(started.taskId, "drill: clone");
    });
    const baseUrl = o.baseUrl ?? `https://${scratch}`;
    const h = await timed("health", () => waitForHealthy({ url: baseUrl, timeoutMs: o.healthTimeoutMs, app: scratch }));
    record.health = `healthy after ${h.attempts} attempts`;
    const smoke = await timed("smoke", () => runSmokeChecks({ baseUrl }));
    record.smoke = formatSmokeReport(smoke, baseUrl);
    record.ok = smoke.ok;
  } catch (err) {
    record.error = (err as Error).message;
  } finally {
    if (!scratchId && cloneSent) {
      const found = await scratchAppAt(api, scratch, log);
      if (found === undefined) {
        record.ok = false;
        const unknown = `could not check whether a clone exists at ${scratch}: remove it in the dashboard if it does`;
        record.error = `${record.error ? record.error + "; " : ""}${unknown}`;
      }
      scratchId = found ?? "";
    }
    if (scratchId) {
      log(`drill: removing ${scratch} (app ${scratchId})`);
      await timed("uninstall", async () => {
        await api.waitUntilIdle(scratchId, "drill: uninstall").catch(() => undefined);
        const started = await api.post(`/apps/${encodeURIComponent(scratchId)}/uninstall`, {}, taskInfoSchema, {
          step: "drill: uninstall",
          appId: scratchId,
        });
        await api.waitForTask(started.taskId, "drill: uninstall");
      }).catch((e: Error) => {
        record.ok = false;
        record.error = `${record.error ? record.error + "; " : ""}scratch app NOT removed: ${e.message}`;
      });
    }
  }
  return record;
}

/**
 * The id of the app at the scratch location after a clone whose answer was lost, "" when there is
 * none (the clone was not accepted), undefined when the lookup failed.
 */
async function scratchAppAt(
  api: CloudronApi,
  scratch: string,
  log: (line: string) => void,
): Promise<string | undefined> {
  try {
    const found = await api.findApp(scratch, "drill: cleanup");
    if (found) log(`drill: the clone's answer was lost, but ${scratch} holds app ${found.id}: removing it`);
    return found?.id ?? "";
  } catch (err) {
    log(`drill: could not look for a clone at ${scratch} (${(err as Error).message}); check the dashboard`);
    return undefined;
  }
}
