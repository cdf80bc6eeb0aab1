/**
 * The env step's operation (`node build/tools/cloudronApp.js env-apply`): the managed env applied
 * against the app's LIVE env in one configure/env call with the complete map, or none. The request
 * (cloudron/requests.ts) carries plain values and secret fingerprints; secret values arrive as
 * CR_SECRET_<NAME>. The pure decisions (values, merge, diff) are exported and tested on their own.
 */
import type { CloudronApi } from "../../cloudron/client";
import { taskInfoSchema, type EnvRequest } from "../../cloudron/wire";
import {
  envApplyRequestSchema,
  envApplyResultSchema,
  parseRequest,
  parseResultLine,
  type FingerprintedEnv,
  type EnvApplyRequest,
  type EnvApplyResult,
} from "../../cloudron/requests";
import {
  contextFor,
  follow,
  OperationError,
  readBack,
  readBackProblems,
  taskChangedSince,
  withFailureLogs,
  type OperationContext,
  type ToolOperation,
} from "../../cloudron/operationSupport";
import { LEGACY_OWNER_ENV_NAME } from "../app/ownership";

/**
 * The full managed env with values: plain values and secret values from the environment. Fails
 * naming a secret whose value did not reach the tool.
 */
export function desiredEnvValues(
  env: FingerprintedEnv,
  secrets: Record<string, string | undefined>,
  step: string,
): Record<string, string> {
  const out: Record<string, string> = { ...env.plain };
  for (const name of Object.keys(env.secret)) {
    const value = secrets[name];
    if (value === undefined)
      throw new OperationError(
        `${step}: the value of secret ${name} did not reach this step (CR_SECRET_${name} is not set)`,
      );
    out[name] = value;
  }
  return out;
}

/**
 * The complete map to send with configure/env: the live env without the keys this stack managed
 * before (so removed ones go), then the desired managed keys on top. Keys set by hand that the
 * stack never managed stay as they are.
 */
export function mergeEnv(
  live: Record<string, string>,
  desired: Record<string, string>,
  previouslyManaged: readonly string[],
): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries(live)) if (!previouslyManaged.includes(k) && !(k in desired)) merged[k] = v;
  return { ...merged, ...desired };
}

/** Names added, changed and removed from `live` to `next`, each sorted. */
export function diffEnv(
  live: Record<string, string>,
  next: Record<string, string>,
): { added: string[]; changed: string[]; removed: string[] } {
  const added = Object.keys(next)
    .filter((k) => !(k in live))
    .sort();
  const changed = Object.keys(next)
    .filter((k) => k in live && live[k] !== next[k])
    .sort();
  const removed = Object.keys(live)
    .filter((k) => !(k in next))
    .sort();
  return { added, changed, removed };
}

/**
 * Applies the managed env against the LIVE env: one configure/env call with the complete map when
 * anything differs (additions, changes, removals: one task, one restart), none otherwise.
 * `previous` is the result this resource recorded last time: the names it managed may be removed.
 */
export async function applyEnv(
  req: EnvApplyRequest,
  ctx: OperationContext,
  previous: Partial<EnvApplyResult>,
): Promise<EnvApplyResult> {
  const { api } = ctx;
  await api.checkAccess("env");
  const app = await api.waitUntilIdle(req.appId, "env");
  if (app.fqdn.toLowerCase() !== req.location.toLowerCase()) {
    throw new OperationError(
      `env: app ${req.appId} now serves ${app.fqdn}, not ${req.location}; refusing to change its env. ` +
        `Run up again so the deploy step finds the app.`,
    );
  }
  const desired = desiredEnvValues(req.env, ctx.secrets, "env");
  // Sorted for the result Pulumi records: the same names in the same order leave the state as it was.
  const managed = Object.keys(desired).sort();
  // The legacy ownership env var goes in this same call (the marker is a tag).
  const next = mergeEnv(app.env, desired, [...(previous.managed ?? []), LEGACY_OWNER_ENV_NAME]);
  const { added, changed, removed } = diffEnv(app.env, next);
  if (added.length + changed.length + removed.length === 0) {
    api.log("env: the app's env already matches; nothing to change");
    return { appId: app.id, managed, added, changed, removed, applied: false };
  }
  const secretNames = new Set(Object.keys(req.env.secret));
  const label = (n: string) => (secretNames.has(n) || n === "SESSION_SECRET" ? `${n} (secret)` : n);
  const parts = [
    added.length ? `adding ${added.map(label).join(", ")}` : "",
    changed.length ? `changing ${changed.map(label).join(", ")}` : "",
    removed.length ? `removing ${removed.map(label).join(", ")}` : "",
  ].filter(Boolean);
  api.log(`env: ${parts.join("; ")}: one configure/env call, one restart`);
  if (changed.includes("SESSION_SECRET"))
    api.log("env: SESSION_SECRET rotates now (communityrule:sessionSecretRotation changed): every user is logged out");
  await postEnv(api, app, next, removed);
  await readBack(api, app.id, "env", { env: desired, absent: removed });
  return { appId: app.id, managed, added, changed, removed, applied: true };
}

/** POST configure/env with the complete map, and wait for its task. */
async function postEnv(
  api: CloudronApi,
  app: Parameters<typeof taskChangedSince>[2],
  env: Record<string, string>,
  removed: readonly string[],
): Promise<void> {
  const body: EnvRequest = { env };
  const started = await api.post(`/apps/${encodeURIComponent(app.id)}/configure/env`, body, taskInfoSchema, {
    step: "env",
    appId: app.id,
    recover: taskChangedSince(
      api,
      app.id,
      app,
      "env",
      (a) => readBackProblems(a, { env, absent: removed }).length === 0,
    ),
  });
  await follow(api, started.taskId, "env");
}

/** The tool's `env-apply`: the request from stdin, the previous result from PULUMI_COMMAND_STDOUT. */
export const runEnvApply: ToolOperation = async (io, mask) => {
  const req = parseRequest(envApplyRequestSchema, io.stdin, "env");
  const ctx = contextFor(req.connection, io, mask, Object.keys(req.env.secret));
  const previous = parseResultLine(envApplyResultSchema.partial(), ctx.previousStdout) ?? {};
  return withFailureLogs(ctx.api, { step: "env", location: req.location, appId: req.appId }, () =>
    applyEnv(req, ctx, previous),
  );
};
