/**
 * When the app does not come up: fetch the app's last log lines (`GET /apps/:id/logs`) and the
 * failed task's log (`GET /tasks/:id/logs`), bounded and masked, choose the troubleshooting row from
 * the failing step plus what they say (steps/health/troubleshooting.ts), and write the block shown
 * under the step's error. Fetching is best effort: a log that cannot be read is named, and never
 * hides the step's own error.
 */
import type { CloudronApi } from "./client";
import { diagnoseFailure, readAppLog, type FailureContext } from "../steps/health/troubleshooting";

/** How much of each log is fetched and shown. */
export const LOG_BOUNDS = { appLines: 60, taskLines: 30, shownLines: 25, lineChars: 300 } as const;

/** The logs gathered for a failure (masked), and what could not be read. */
export interface FailureEvidence {
  appLog: string[];
  taskLog: string[];
  notes: string[];
}

/**
 * Password parts of URLs (`postgres://user:secret@host`): the addon URLs the app may print are not
 * in any app's `env` answer, so the env-value mask does not know them.
 */
export function maskUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:)[^\s@/]+@/gi, "$1[masked]@");
}

/** Fetches the app's and the task's last log lines; never throws. */
export async function gatherEvidence(
  api: CloudronApi,
  o: { step: string; appId?: string; location?: string; taskId?: string },
): Promise<FailureEvidence> {
  const evidence: FailureEvidence = { appLog: [], taskLog: [], notes: [] };
  let appId = o.appId;
  if (!appId && o.location) {
    try {
      appId = (await api.findApp(o.location, o.step))?.id;
    } catch (err) {
      evidence.notes.push(`app log not fetched: ${(err as Error).message}`);
    }
  }
  const read = async (what: string, path: string, lines: number): Promise<string[]> => {
    try {
      return (await api.getLogLines(path, lines, o.step)).map((l) => maskUrlCredentials(l));
    } catch (err) {
      evidence.notes.push(`${what} not fetched: ${(err as Error).message}`);
      return [];
    }
  };
  if (o.taskId) {
    const path = `/tasks/${encodeURIComponent(o.taskId)}/logs`;
    evidence.taskLog = await read(`task ${o.taskId} log`, path, LOG_BOUNDS.taskLines);
  }
  if (appId) evidence.appLog = await read("app log", `/apps/${encodeURIComponent(appId)}/logs`, LOG_BOUNDS.appLines);
  return evidence;
}

/** The lines to quote: those a finding rests on, then the last ones, in log order, bounded. */
export function excerptLines(lines: readonly string[], evidence: readonly number[] = []): string[] {
  const last = lines.map((_, i) => i).slice(-LOG_BOUNDS.shownLines);
  const keep = [...new Set([...evidence.filter((i) => !last.includes(i)).slice(-5), ...last])].sort((a, b) => a - b);
  const cut = (l: string) => (l.length > LOG_BOUNDS.lineChars ? `${l.slice(0, LOG_BOUNDS.lineChars)}…` : l);
  const out: string[] = [];
  keep.forEach((i, n) => {
    if (n > 0 && i !== keep[n - 1] + 1) out.push("…");
    out.push(cut(lines[i]));
  });
  return out;
}

/**
 * The block under a step's error: the likely cause (when one row fits) and the log excerpts, each
 * line prefixed with `| `. `mask` is applied again to everything (the logs are masked on arrival).
 */
export function formatFailureReport(
  ctx: Omit<FailureContext, "appLog" | "taskLog">,
  evidence: FailureEvidence,
  mask: (t: string) => string,
): string {
  const diagnosis = diagnoseFailure({ ...ctx, appLog: evidence.appLog, taskLog: evidence.taskLog });
  const lines: string[] = [];
  const fromLogs = evidence.appLog.length + evidence.taskLog.length > 0;
  if (diagnosis) lines.push(`likely cause${fromLogs ? ", from the step and the logs" : ""}: ${diagnosis.action}`);
  if (evidence.taskLog.length) {
    lines.push(`task log (last ${Math.min(evidence.taskLog.length, LOG_BOUNDS.shownLines)} lines, masked):`);
    lines.push(...excerptLines(evidence.taskLog).map((l) => `  | ${l}`));
  }
  if (evidence.appLog.length) {
    const findings = diagnosis?.findings ?? readAppLog(evidence.appLog);
    lines.push(`app log (last lines, masked; all of it: \`cloudron logs --app ${ctx.app ?? "<app>"}\`):`);
    lines.push(...excerptLines(evidence.appLog, findings.evidence).map((l) => `  | ${l}`));
  }
  lines.push(...evidence.notes);
  return mask(maskUrlCredentials(lines.join("\n")));
}
