/**
 * The app step's operations, run by `node build/tools/cloudronApp.js deploy|uninstall` with the
 * deploy request (cloudron/requests.ts) on stdin: deploy (install / adopt / update, with the
 * production auto-rollback) and uninstall. Every task is waited for and read back; a read-back
 * mismatch names the key, never the value. The pure decisions (location split, manifest hash,
 * backup choice, rollback manifest) are exported and tested on their own.
 */
import { createHash } from "node:crypto";
import { CloudronApi, CloudronApiError, isBusy } from "../../cloudron/client";
import type { App, Backup } from "../../cloudron/wire";
import {
  installRequestSchema,
  newAppTaskSchema,
  noContentSchema,
  taskInfoSchema,
  updateRequestSchema,
} from "../../cloudron/wire";
import {
  deployRequestSchema,
  deployResultSchema,
  parseRequest,
  parseResultLine,
  uninstallRequestSchema,
  type DeployRequest,
  type DeployResult,
  type UninstallRequest,
} from "../../cloudron/requests";
import {
  contextFor,
  follow,
  splitLocation,
  OperationError,
  readBack,
  taskChangedSince,
  withFailureLogs,
  type OperationContext,
  type ToolOperation,
} from "../../cloudron/operationSupport";
import { readBackupPolicy, retentionSeconds } from "../../cloudron/backupPolicy";
import { formatFailureReport, gatherEvidence } from "../../cloudron/failureReport";
import { foreignOwnerProblem, ownerTag, readEntryMarks, readOwnership, tagsToWrite } from "./ownership";
import { readReleaseRecord, writeReleaseRecord, type ReleaseRecord } from "../../release/releaseRecord";
import { decideRelease, manifestVersionToSend, tagOfImage } from "../../release/versionRules";
import { formatProgress, HealthGateError, waitForHealthy } from "../health/poll";
import { recordedHistoryErrors } from "../migrations/gate";
import { desiredEnvValues } from "../env/operation";
import { CONFIG_DEFAULTS } from "../../config/schema";
import { ONE_SHOT_PARSE } from "../../lib/zod";

/** First 16 hex of the manifest's canonical sha256 (keys sorted): a manifest edit shows up here. */
export function manifestSha(manifest: Record<string, unknown>): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.keys(v as object)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          )
        : v;
  return createHash("sha256")
    .update(JSON.stringify(canonical(manifest)))
    .digest("hex")
    .slice(0, 16);
}

/**
 * Refuses a deploy whose migration list rewrites the one recorded at the last deploy: an applied
 * migration whose bytes changed, on every stack; one that disappeared, on a build (on a rollback
 * the older image is expected to lack the newer migrations). No list on either side: no check.
 */
export function checkRecordedMigrations(
  req: Pick<DeployRequest, "build" | "releaseMigrations">,
  previous: Partial<DeployResult>,
): void {
  const record = req.releaseMigrations?.record;
  if (!record || !previous.migrations) return;
  const errors = recordedHistoryErrors(previous.migrations, record, {
    build: req.build,
    appDirLabel: "<communityrule:appDir>",
  });
  if (errors.length > 0) throw new OperationError(`deploy: refused before any change:\n${errors.join("\n")}`);
}

/** The list the result records: the schema's migrations after this deploy, when the request carried them. */
function migrationsRecord(req: DeployRequest): { migrations?: DeployResult["migrations"] } {
  return req.releaseMigrations ? { migrations: req.releaseMigrations.record } : {};
}

/** The release record this deploy leaves on the app; undefined when the request asks for none. */
export function releaseRecordFor(req: DeployRequest, backupId: string): ReleaseRecord | undefined {
  if (!req.release || !req.releaseMigrations) return undefined;
  return {
    version: req.release.version,
    image: req.image,
    ...(req.release.commit ? { commit: req.release.commit } : {}),
    migrations: req.releaseMigrations.record.map((m) => m.name),
    ...(backupId ? { backupId } : {}),
    ...(req.release.seed ? { seed: req.release.seed } : {}),
  };
}

/**
 * Writes what this deploy shipped into the app's notes (POST configure/notes: no task, no
 * restart), only when the app does not already carry exactly that record: a no-op `up` makes no
 * call. Lines of the notes that are not the record are kept.
 */
async function recordRelease(api: CloudronApi, app: App, req: DeployRequest, backupId: string): Promise<void> {
  const record = releaseRecordFor(req, backupId);
  if (!record) return;
  const current = readReleaseRecord(app.notes);
  if (current && JSON.stringify(current) === JSON.stringify(record)) return;
  const notes = writeReleaseRecord(app.notes, record);
  await api.post(`/apps/${encodeURIComponent(app.id)}/configure/notes`, { notes }, noContentSchema, {
    step: "record",
    appId: app.id,
    // No task to follow: the call took effect if the app's notes now hold the record.
    recover: async () =>
      (await api.getApp(app.id, "record").catch(() => undefined))?.notes === notes ? {} : undefined,
  });
  api.log(
    `record: ${req.location} runs ${record.version} (${record.image}); ${record.migrations.length} migrations ` +
      `recorded in the app's notes`,
  );
}

/**
 * Install (location free), adopt (our manifest id already there) or update (image or manifest
 * changed), deciding from the live app. Release order is checked against what really runs.
 */
export async function deploy(
  req: DeployRequest,
  ctx: OperationContext,
  previous: Partial<DeployResult>,
): Promise<DeployResult> {
  const { api } = ctx;
  // Before any call: the list recorded at the last deploy is what the database has.
  checkRecordedMigrations(req, previous);
  await api.checkAccess("deploy");
  let app = await api.findApp(req.location, "deploy");
  let plan = planDeploy(req, app, previous);
  // An app already running what is asked needs nothing from us, so it is not waited for even
  // while busy (an env step or seed behind a busy app names its own wait); anything else waits.
  if (app && !(isBusy(app) && plan.sameCode)) {
    app = await api.waitUntilIdle(app.id, "deploy");
    plan = planDeploy(req, app, previous);
  }
  const { version, manifest, sha, sameCode } = plan;
  if (plan.release.kind === "rollback") api.log(plan.release.message);
  const base = {
    location: req.location,
    image: req.image,
    version,
    manifestSha: sha,
    owner: req.owner,
    ...migrationsRecord(req),
  };

  if (!app) {
    await refuseIfMoved(api, req);
    const { subdomain, domain } = splitLocation(req.location, await api.listDomains("install"));
    const env = desiredEnvValues(req.env, ctx.secrets, "install");
    // Production asks for automatic backups rather than relying on the server's default.
    const backups = req.environment === "production" ? { enableBackup: true } : {};
    const body = installRequestSchema.parse(
      {
        appStoreId: "",
        manifest,
        subdomain,
        domain,
        accessRestriction: null,
        env,
        ...backups,
      },
      ONE_SHOT_PARSE,
    );
    api.log(
      `install: ${req.location} is free; installing ${req.image} (version ${version}) with ` +
        `${Object.keys(env).length} env vars`,
    );
    const started = await api.post("/apps", body, newAppTaskSchema, {
      step: "install",
      // The location was free before the call: an app of ours there now means the install was
      // accepted (its task may already be over, then there is nothing left to wait for).
      recover: async () => {
        const found = await api.findApp(req.location, "install").catch(() => undefined);
        if (!found || found.manifest.id !== req.manifest.id) return undefined;
        return { id: found.id, taskId: found.taskId ?? "" };
      },
    });
    await follow(api, started.taskId, "install");
    const installed = await readBack(api, started.id, "install", { image: req.image, version, env });
    await markOwnership(api, installed, req, "install");
    api.log(`install: done; ${req.location} is app ${started.id}`);
    await recordRelease(api, installed, req, "");
    return { action: "installed", appId: started.id, previousImage: "", backupId: "", ...base };
  }

  const adopting = !previous.appId || previous.appId !== app.id;
  await markOwnership(api, app, req, adopting ? "adopt" : "deploy");
  if (sameCode) {
    api.log(
      `${adopting ? "adopt" : "deploy"}: ${req.location} already runs ${req.image} (version ${version}); nothing to do`,
    );
    await recordRelease(api, app, req, readReleaseRecord(app.notes)?.backupId ?? previous.backupId ?? "");
    return {
      action: adopting ? "adopted" : "unchanged",
      appId: app.id,
      previousImage: previous.previousImage ?? "",
      backupId: previous.backupId ?? "",
      ...base,
    };
  }

  if (adopting) api.log(`adopt: ${req.location} was installed outside this stack (app ${app.id}); taking it over`);
  const from = app;
  api.log(
    `update: ${req.location} ${from.manifest.dockerImage ?? "?"} (${from.manifest.version ?? "?"}) → ${req.image} ` +
      `(${version}); Cloudron takes a backup first`,
  );
  const backupId = await update(api, from, manifest, "update");
  api.log(`update: done${backupId ? `; pre-update backup ${backupId}` : "; no pre-update backup was listed"}`);
  if (backupId) await keepRollbackPoint(api, from, backupId, version, "update");

  if (req.autoRollback && from.manifest.dockerImage && from.manifest.dockerImage !== req.image) {
    await gateOrRollBack(ctx, req, { from, manifest, backupId });
  }
  // An update leaves the notes as they were: the app read before it holds them.
  await recordRelease(api, from, req, backupId);
  return {
    action: adopting ? "adopted" : "updated",
    appId: app.id,
    previousImage: from.manifest.dockerImage ?? "",
    backupId,
    ...base,
  };
}

/**
 * Writes this stack's ownership tags to the app when it does not carry exactly them (a tags call:
 * no task, no restart). An app taken over from another stack (communityrule:takeOverFrom) gets
 * our tags in place of that stack's.
 */
async function markOwnership(api: CloudronApi, app: App, req: DeployRequest, step: string): Promise<void> {
  const tags = tagsToWrite(app.tags, req.stack, req.owner);
  if (!tags) return;
  const before = readOwnership(app);
  const from = before.stack && before.stack !== req.stack ? ` (was stack ${before.stack})` : "";
  api.log(`${step}: marking ${app.fqdn} as deployed by stack ${req.stack}${from} with Cloudron tags (no restart)`);
  await api.setTags(app.id, tags, step);
}

/**
 * The location is free: refuse to install a second copy when the app this stack deployed now
 * serves another location (moved by hand in the dashboard).
 */
async function refuseIfMoved(api: CloudronApi, req: DeployRequest): Promise<void> {
  const apps = await api.listApps("deploy");
  const ours = ownerTag(req.owner);
  const moved = apps.find((a) => {
    const marks = readEntryMarks(a.raw);
    return marks.manifestId === req.manifest.id && marks.ownership.ownerTag === ours;
  });
  if (!moved) return;
  throw new OperationError(
    `deploy: the app this stack deployed (app ${moved.id}) now serves ${moved.fqdn}, not ${req.location}; ` +
      `refusing to install a second copy. Move it back in the dashboard (the app → Location), ` +
      `or set communityrule:location to ${moved.fqdn}, then run up again; if you changed communityrule:location ` +
      `on purpose, move the app there in the dashboard (it keeps its data). Nothing was changed.`,
  );
}

/**
 * What a deploy means against one view of the app: whose app it is, the release order, the
 * manifest to send and whether the app already runs it. Throws (nothing changed) for someone
 * else's app or a downgrade.
 */
function planDeploy(req: DeployRequest, app: App | undefined, previous: Partial<DeployResult>) {
  if (app && app.manifest.id !== req.manifest.id) {
    throw new OperationError(
      `deploy: ${req.location} is occupied by another app (manifest id ${app.manifest.id ?? "unknown"}, not ` +
        `${req.manifest.id}). ` +
        `This program never updates someone else's app: pick another communityrule:location, or remove that app ` +
        `deliberately in the dashboard.`,
    );
  }
  const foreign = app && foreignOwnerProblem(app, req.stack, req.takeOverFrom);
  if (foreign) throw new OperationError(`deploy: ${foreign}`);
  const manifestVersion = req.manifest.version;
  let release;
  try {
    release = decideRelease({
      environment: req.environment,
      build: req.build,
      // A promotion or rollback by digest has no tag: the version it ships travels in the request,
      // and the code version the app runs is in its release record.
      tag: req.release?.version ?? tagOfImage(req.image) ?? manifestVersion,
      manifestVersion,
      deployedVersion: app?.manifest.version,
      deployedTag:
        readReleaseRecord(app?.notes)?.version ??
        (app?.manifest.dockerImage ? tagOfImage(app.manifest.dockerImage) : undefined),
    });
  } catch (err) {
    throw new OperationError(`update: ${(err as Error).message}. Nothing was changed.`);
  }
  const version = manifestVersionToSend({ build: req.build, manifestVersion, deployedVersion: app?.manifest.version });
  const manifest = { ...req.manifest, version, dockerImage: req.image };
  const sha = manifestSha(manifest);
  const manifestEdited = !!previous.manifestSha && previous.manifestSha !== sha;
  const sameCode =
    !!app && app.manifest.dockerImage === req.image && app.manifest.version === version && !manifestEdited;
  return { release, version, manifest, sha, sameCode };
}

/** POST update (never skipBackup), wait, read back image and version; returns the pre-update backup's id. */
async function update(
  api: CloudronApi,
  app: App,
  manifest: DeployRequest["manifest"] & { dockerImage: string },
  step: string,
): Promise<string> {
  const before = new Set((await api.listBackups(app.id, step)).map((b) => b.id));
  const body = updateRequestSchema.parse({ manifest }, ONE_SHOT_PARSE);
  const started = await api.post(`/apps/${encodeURIComponent(app.id)}/update`, body, taskInfoSchema, {
    step,
    appId: app.id,
    recover: taskChangedSince(
      api,
      app.id,
      app,
      step,
      (a) => a.manifest.dockerImage === manifest.dockerImage && a.manifest.version === manifest.version,
    ),
  });
  const task = started.taskId === "" ? undefined : await api.waitForTask(started.taskId, step);
  await readBack(api, app.id, step, { image: manifest.dockerImage, version: manifest.version });
  const after = await api.listBackups(app.id, step);
  const since = task?.creationTime ?? undefined;
  return pickPreUpdateBackup(after, { version: app.manifest.version, since, before })?.id ?? "";
}

/**
 * The backup the update took of the old version: among backups of `version` (the version that
 * ran before) created at or after the update task (server time, `since`), the earliest; without a
 * task time, among those not listed before the update. A scheduled backup of the whole server that
 * finishes meanwhile started earlier, so it is not taken for it.
 */
export function pickPreUpdateBackup(
  backups: readonly Backup[],
  o: { version: string | undefined; since?: string; before: ReadonlySet<string> },
): Backup | undefined {
  const sinceMs = o.since ? Date.parse(o.since) : NaN;
  const timeOf = (b: Backup) => (b.creationTime ? Date.parse(b.creationTime) : NaN);
  const candidates = backups.filter((b) => {
    if (o.version !== undefined && b.packageVersion && b.packageVersion !== o.version) return false;
    if (Number.isFinite(sinceMs)) return Number.isFinite(timeOf(b)) && timeOf(b) >= sinceMs;
    return !o.before.has(b.id);
  });
  return [...candidates].sort((a, b) => (timeOf(a) || 0) - (timeOf(b) || 0))[0];
}

/** How long a rollback point is kept at least: the production minimum's default. */
export const ROLLBACK_POINT_MIN_DAYS = CONFIG_DEFAULTS.minBackupRetentionDays;

/**
 * Labels the pre-update backup and keeps it at least as long as the retention (and at least
 * {@link ROLLBACK_POINT_MIN_DAYS}), so the server's cleanup does not remove the one backup a failed
 * release is restored from. A failure here is reported, not fatal: the update already happened.
 */
async function keepRollbackPoint(
  api: CloudronApi,
  from: App,
  backupId: string,
  toVersion: string,
  step: string,
): Promise<void> {
  try {
    const retention = retentionSeconds(readBackupPolicy(await api.getBackupPolicy(step)));
    const preserveSecs = Math.max(retention ?? 0, ROLLBACK_POINT_MIN_DAYS * 86_400);
    const label = `rollback point: ${from.manifest.version ?? "?"} before ${toVersion}`;
    await api.preserveBackup(from.id, backupId, label, preserveSecs, step);
    const days = Math.round(preserveSecs / 86_400);
    api.log(`${step}: rollback point ${backupId} labelled "${label}" and kept ${days} days`);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    api.log(
      `${step}: WARNING: could not protect rollback point ${backupId} (${why}); it stays under the normal retention`,
    );
  }
}

/**
 * The manifest a rollback sends: the one the app ran before the update (GET /apps/:id returns it
 * whole, and it was read before the update), so a release that changed the port, health path,
 * memory or addons does not leave the old code under the new manifest. Its version is the one the
 * update installed: Cloudron refuses a lower version without `force` (the stand-in plays that
 * refusal), and an equal one is accepted.
 */
export function rollbackManifest(
  before: App["manifest"],
  installedVersion: string,
  fallbackId: string,
): DeployRequest["manifest"] & { dockerImage: string } {
  return {
    ...before,
    id: before.id ?? fallbackId,
    version: installedVersion,
    dockerImage: before.dockerImage as string,
  };
}

/**
 * Production auto-rollback: after an update, wait for health (steps/health/poll.ts); if it fails, put the
 * previous manifest and image back ({@link rollbackManifest}), gate again, and fail the step either
 * way so Pulumi keeps the old state and the next `up` retries the release.
 */
async function gateOrRollBack(
  ctx: OperationContext,
  req: DeployRequest,
  r: { from: App; manifest: DeployRequest["manifest"] & { dockerImage: string }; backupId: string },
): Promise<void> {
  const { api } = ctx;
  const previousImage = r.from.manifest.dockerImage as string;
  const gate = () =>
    waitForHealthy({
      url: req.health.baseUrl,
      timeoutMs: req.health.timeoutSeconds * 1000,
      app: req.location,
      onProgress: (p) => api.log(formatProgress(p)),
      ...(ctx.healthPollMs ? { initialDelayMs: ctx.healthPollMs, maxDelayMs: ctx.healthPollMs } : {}),
    });
  // What the app's log says next to the gate's last answer (cloudron/failureReport.ts).
  const explain = async (err: unknown, step: string) => {
    const evidence = await gatherEvidence(api, { step, appId: r.from.id });
    const health = err instanceof HealthGateError ? { status: err.lastStatus, body: err.lastBody } : undefined;
    const message = err instanceof Error ? err.message : String(err);
    const report = formatFailureReport({ step, app: req.location, message, health }, evidence, (t) =>
      api.mask.apply(t),
    );
    return `${message}\n${report}`;
  };
  let failure: string;
  try {
    await gate();
    api.log(`health: ${req.image} is healthy; no rollback needed`);
    return;
  } catch (err) {
    failure = await explain(err, "health");
  }
  api.log(`health: ${req.image} failed the gate; rolling back to ${previousImage}`);
  try {
    await update(api, r.from, rollbackManifest(r.from.manifest, r.manifest.version, req.manifest.id), "rollback");
    await gate();
  } catch (err) {
    const now =
      (await api.getApp(r.from.id, "rollback").catch(() => undefined))?.manifest.dockerImage ?? "an unknown image";
    throw new OperationError(
      `ROLLBACK FAILED: the app is on ${now} and unhealthy; act now: ` +
        `restore ${r.backupId ? `the pre-update backup ${r.backupId}` : "the last good backup"} (dashboard → the ` +
        `app → Backups → Restore) ` +
        `and read the app's logs (dashboard → the app → Logs). ` +
        `Rollback error: ${await explain(err, "rollback")}\nHealth failure was: ${failure}`,
    );
  }
  throw new OperationError(
    `release rolled back: ${req.image} → ${previousImage}; migrations applied by the new image are not undone; ` +
      `health failure was: ${failure}`,
  );
}

/**
 * Uninstall on delete, only of the app id this resource recorded, only while the app still names
 * this resource as its owner. A renamed resource that adopted the app moved the marker, so the old
 * resource's delete leaves the app alone.
 */
export async function uninstall(
  req: UninstallRequest,
  ctx: OperationContext,
  previous: Partial<DeployResult>,
): Promise<{ action: string; appId: string; location: string }> {
  const { api } = ctx;
  const appId = previous.appId ?? "";
  if (!appId) {
    throw new OperationError(
      `uninstall: this resource recorded no app id, so it cannot tell which app is its own; nothing was uninstalled. ` +
        `Remove ${req.location} in the dashboard if that is what you want, then drop the resource with \`pulumi ` +
        `state delete\`.`,
    );
  }
  await api.checkAccess("uninstall");
  let app: App;
  try {
    app = await api.getApp(appId, "uninstall");
  } catch (err) {
    if (err instanceof CloudronApiError && err.kind === "not_found") {
      api.log(`uninstall: app ${appId} is already gone; nothing to do`);
      return { action: "absent", appId, location: req.location };
    }
    throw err;
  }
  if (app.fqdn.toLowerCase() !== req.location.toLowerCase() || app.manifest.id !== req.manifest.id) {
    throw new OperationError(
      `uninstall: app ${appId} now serves ${app.fqdn} (manifest ${app.manifest.id ?? "unknown"}), not ` +
        `${req.location} (${req.manifest.id}); ` +
        `refusing to uninstall it. Nothing was changed.`,
    );
  }
  const mark = readOwnership(app);
  if (mark.ownerTag !== undefined && mark.ownerTag !== ownerTag(req.owner)) {
    api.log(
      `uninstall: ${req.location} (app ${appId}) is now owned by ${mark.stack ? `stack ${mark.stack}, ` : ""}` +
        `${mark.ownerTag}, not by this resource (${ownerTag(req.owner)}): a renamed or re-parented resource, ` +
        `or another stack, adopted it. Leaving the app installed.`,
    );
    return { action: "kept", appId, location: req.location };
  }
  await api.waitUntilIdle(appId, "uninstall");
  api.log(`uninstall: removing ${req.location} (app ${appId})`);
  const started = await api.post(`/apps/${encodeURIComponent(appId)}/uninstall`, {}, taskInfoSchema, {
    step: "uninstall",
    appId,
    recover: async () => {
      try {
        const now = await api.getApp(appId, "uninstall");
        return now.taskId && now.taskId !== app.taskId ? { taskId: now.taskId } : undefined;
      } catch (err) {
        return err instanceof CloudronApiError && err.kind === "not_found" ? { taskId: "" } : undefined;
      }
    },
  });
  await follow(api, started.taskId, "uninstall");
  return { action: "uninstalled", appId, location: req.location };
}

/** The tool's `deploy`: the request from stdin, the previous result from PULUMI_COMMAND_STDOUT. */
export const runDeploy: ToolOperation = async (io, mask) => {
  const req = parseRequest(deployRequestSchema, io.stdin, "deploy");
  const ctx = contextFor(req.connection, io, mask, Object.keys(req.env.secret));
  const previous = parseResultLine(deployResultSchema.partial(), ctx.previousStdout) ?? {};
  return withFailureLogs(ctx.api, { step: "deploy", location: req.location }, () => deploy(req, ctx, previous));
};

/**
 * The tool's `uninstall` (the deploy command's delete): Pulumi runs it with the stdin stored at the
 * last create/update, so it reads the deploy request and keeps what uninstall needs.
 */
export const runUninstall: ToolOperation = async (io, mask) => {
  const req = parseRequest(uninstallRequestSchema, io.stdin, "uninstall");
  const ctx = contextFor(req.connection, io, mask);
  return uninstall(req, ctx, parseResultLine(deployResultSchema.partial(), ctx.previousStdout) ?? {});
};
