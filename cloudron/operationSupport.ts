/**
 * What every step operation the Cloudron tool runs shares (the deploy, uninstall and rollback in
 * steps/app/operations.ts, the env apply in steps/env/operation.ts, the seed in
 * steps/seed/operation.ts): the API client built from the request and the tool's environment, task
 * following, read-backs that name keys but never values, failure logs, the split of a location into
 * subdomain and domain (also used by the cutover and the restore drill), and the run of one
 * operation as a process (masked output, one JSON result line, the likely cause of a failure).
 */
import { CloudronApi, CloudronApiError, isBusy, resolveToken, SecretMask } from "./client";
import type { App } from "./wire";
import { ContractError, type ServerAndTimeouts } from "./requests";
import { formatFailureReport, gatherEvidence } from "./failureReport";
import { likelyCause } from "../steps/health/troubleshooting";
import { secretsFromEnv } from "../lib/secretEnv";

/** An operation failed; the message is for the operator (already masked by the caller). */
export class OperationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OperationError";
  }
}

/** What every operation needs besides its request. */
export interface OperationContext {
  api: CloudronApi;
  /** The values of the secrets the request names, by name (from CR_SECRET_<NAME>). */
  secrets: Record<string, string | undefined>;
  /** The result this resource recorded last time (PULUMI_COMMAND_STDOUT), if any. */
  previousStdout?: string;
  /** Health gate poll interval override (tests). */
  healthPollMs?: number;
}

/** What a run of the tool gets from its process; injectable for tests. */
export interface ToolIo {
  stdin: string;
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  err: (line: string) => void;
}

/** One operation as the tool runs it: its request is on `io.stdin`; it returns the result to print. */
export type ToolOperation = (io: ToolIo, mask: SecretMask) => Promise<unknown>;

/**
 * The API client for a request's server, with the token from the environment or `cloudron login`,
 * and the values of the secrets the request names (`secretNames`), which the mask then hides.
 */
export function contextFor(
  connection: ServerAndTimeouts,
  io: ToolIo,
  mask: SecretMask,
  secretNames: readonly string[] = [],
): OperationContext & { token: string } {
  const { token } = resolveToken({ server: connection.server, envToken: io.env.CLOUDRON_TOKEN || undefined });
  const api = new CloudronApi({
    server: connection.server,
    token,
    taskTimeoutSeconds: connection.taskTimeoutSeconds,
    busyWaitSeconds: connection.busyWaitSeconds,
    log: io.err,
    mask,
  });
  const secrets = secretsFromEnv(io.env, secretNames);
  for (const value of Object.values(secrets)) mask.addSecret(value);
  return { api, token, secrets, previousStdout: io.env.PULUMI_COMMAND_STDOUT };
}

/**
 * Runs one operation as the tool's process: masks every line (the token, our secrets, and every env
 * value of every app an answer carried), prints the result as one JSON line on stdout, or the error
 * with its likely cause on stderr. Returns the exit code.
 */
export async function runToolOperation(run: ToolOperation, io: ToolIo): Promise<number> {
  const mask = new SecretMask();
  mask.addSecret(io.env.CLOUDRON_TOKEN);
  const masked = (line: string) => mask.apply(line);
  const safeIo: ToolIo = { ...io, out: (l) => io.out(masked(l)), err: (l) => io.err(masked(l)) };
  try {
    const result = await run(safeIo, mask);
    safeIo.out(JSON.stringify(result));
    return 0;
  } catch (err) {
    const known = err instanceof CloudronApiError || err instanceof OperationError || err instanceof ContractError;
    const message = masked(err instanceof Error ? (known ? err.message : `${err.name}: ${err.message}`) : String(err));
    // API errors already carry their runbook action; a failed task or operation gets the
    // troubleshooting table's likely cause (image pull, migration crash, database).
    // A report with logs already names its likely cause.
    const apiOwnAction = err instanceof CloudronApiError && err.kind !== "task_failed";
    const cause = apiOwnAction || message.includes("likely cause") ? undefined : likelyCause(message);
    safeIo.err(`error: ${message}${cause ? `\nlikely cause: ${cause}` : ""}`);
    return 1;
  }
}

/** Errors after which the app's and the task's logs say more than the error does. */
const LOGGED_FAILURES = new Set(["task_failed", "task_timeout", "app_error"]);

/**
 * Runs an operation; when a Cloudron task fails or times out, or the app is in an error state, the
 * error gets the app's and the task's last log lines and the troubleshooting row they point to.
 */
export async function withFailureLogs<T>(
  api: CloudronApi,
  o: { step: string; location: string; appId?: string },
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof CloudronApiError) || !LOGGED_FAILURES.has(err.kind)) throw err;
    const evidence = await gatherEvidence(api, { ...o, taskId: err.taskId });
    const mask = (t: string) => api.mask.apply(t);
    const report = formatFailureReport({ step: o.step, app: o.location, message: err.message }, evidence, mask);
    throw new OperationError(`${err.message}\n${report}`);
  }
}

/**
 * Splits a location into Cloudron's subdomain and domain: the longest configured domain the
 * location ends with. `staging.communityrule.info` + [communityrule.info] → staging / communityrule.info.
 */
export function splitLocation(location: string, domains: readonly string[]): { subdomain: string; domain: string } {
  const loc = location.toLowerCase();
  const match = domains
    .map((d) => d.toLowerCase())
    .filter((d) => loc === d || loc.endsWith(`.${d}`))
    .sort((a, b) => b.length - a.length)[0];
  if (!match) {
    throw new OperationError(
      `install: ${location} is not under any domain this Cloudron serves (${domains.join(", ") || "none"}). ` +
        `Add the domain in the dashboard (Domains) or fix communityrule:location.`,
    );
  }
  return { subdomain: loc === match ? "" : loc.slice(0, loc.length - match.length - 1), domain: match };
}

/**
 * What a read-back found wrong: image, manifest version, and each managed env key that is missing,
 * different, or (for `absent`) still there. Names only.
 */
export function readBackProblems(
  app: App,
  want: { image?: string; version?: string; env?: Record<string, string>; absent?: readonly string[] },
): string[] {
  const problems: string[] = [];
  if (want.image !== undefined && app.manifest.dockerImage !== want.image) {
    problems.push(`runs image ${app.manifest.dockerImage ?? "(none)"}, not ${want.image}`);
  }
  if (want.version !== undefined && app.manifest.version !== want.version) {
    problems.push(`has manifest version ${app.manifest.version ?? "(none)"}, not ${want.version}`);
  }
  for (const [k, v] of Object.entries(want.env ?? {})) {
    if (!(k in app.env)) problems.push(`env ${k} is missing`);
    else if (app.env[k] !== v) problems.push(`env ${k} holds a different value than was sent`);
  }
  for (const k of want.absent ?? []) if (k in app.env) problems.push(`env ${k} is still set although it was removed`);
  return problems;
}

/** Reads the app after a task and fails naming what is not as asked. */
export async function readBack(
  api: CloudronApi,
  appId: string,
  step: string,
  want: Parameters<typeof readBackProblems>[1],
): Promise<App> {
  const app = await api.getApp(appId, step);
  const problems = readBackProblems(app, want);
  if (problems.length > 0) {
    throw new OperationError(
      `${step}: Cloudron reported the task done, but ${app.fqdn} ${problems.join("; ")}. ` +
        `Check the app's event log in the dashboard, then run up again.`,
    );
  }
  return app;
}

/** Waits for a task id; "" means the re-read found the change already applied. */
export async function follow(api: CloudronApi, taskId: string, step: string): Promise<void> {
  if (taskId !== "") await api.waitForTask(taskId, step);
}

/** A recover function for POSTs on an existing app: a task other than `before` means accepted. */
export function taskChangedSince(
  api: CloudronApi,
  appId: string,
  before: App,
  step: string,
  applied?: (a: App) => boolean,
) {
  return async (): Promise<{ taskId: string } | undefined> => {
    const now = await api.getApp(appId, step).catch(() => undefined);
    if (!now) return undefined;
    if (now.taskId && now.taskId !== before.taskId) return { taskId: now.taskId };
    if (applied && !isBusy(now) && applied(now)) return { taskId: "" };
    return undefined;
  };
}
