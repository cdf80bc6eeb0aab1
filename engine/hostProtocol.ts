/**
 * What passes between the lifecycle runner and a kept lifecycle host (runner.ts ↔ host.ts): the
 * runner sends one {@link HostRunRequest} per run over IPC; when the run's result file is written
 * the host ends the run with a line of its own on stdout ({@link runEndLine}: the marker and whether
 * it is settled) and the bare {@link RUN_END_MARKER} line on stderr.
 */

/** A line no program or tool prints: NUL bytes cannot appear in their text output. */
export const RUN_END_MARKER = "\u0000lifecycle-run-end\u0000";

/**
 * Whether nothing of the finished run is still in flight in the host: no timer left. Every wait
 * the program or the host starts carries one (the HTTP client's request timeout, retry and poll
 * back-offs, a command's time bound), so a program still waiting on something shows as a timer.
 * A host that is not settled after a failed run is replaced before the next run.
 */
export function hostIsSettled(activeResources: string[]): boolean {
  return !activeResources.includes("Timeout");
}

/** The end-marker line on stdout, with whether the host was settled. */
export function runEndLine(settled: boolean): string {
  return `${RUN_END_MARKER}${settled ? "settled" : "busy"}\n`;
}

export interface HostRunRequest {
  /** The job file (host.ts `Job`) of this run. */
  jobFile: string;
  /** This environment's variables (PATH with the stand-ins, HOME, …), set for this run only. */
  env: Record<string, string>;
}
