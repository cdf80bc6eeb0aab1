/**
 * What passes between the lifecycle runner and a kept lifecycle host (runner.ts ↔ host.ts): the
 * runner sends one {@link HostRunRequest} per run over IPC; the host writes {@link RUN_END_MARKER}
 * as a line of its own on stdout and on stderr when the run's result file is written.
 */

/** A line no program or tool prints: NUL bytes cannot appear in their text output. */
export const RUN_END_MARKER = "\u0000lifecycle-run-end\u0000";

export interface HostRunRequest {
  /** The job file (host.ts `Job`) of this run. */
  jobFile: string;
  /** This environment's variables (PATH with the stand-ins, HOME, …), set for this run only. */
  env: Record<string, string>;
}
