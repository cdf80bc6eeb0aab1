/**
 * The first production install: the apex cutover from the legacy app, as code. The app's
 * first-install guide (CommunityRule docs/guides/ops-backend-deploy.md §5 "Cutover plan", §6.1,
 * §10; summarized in ../shared/reference/community-rule-app.md) does it by hand at a low-traffic
 * window: final manual backup of the legacy app kept ≥ 90 days → export of the legacy rules /
 * version_history tables (by hand, outside this tool) → uninstall the legacy app → install
 * CommunityRule at the apex → env, migrations, seed, smoke.
 *
 * Here: a read-only plan first; then the final backup, waited for and preserved (refusing to go on
 * without it); the operator's acknowledgement naming the legacy app's id and confirming the export;
 * the uninstall; then the production stack's own `pulumi up` (install with the whole env, health
 * gate, seed once, smoke), so production ends as a normal stack whose next `up` changes nothing.
 * Any failure after the uninstall stops the run, names the step, and prints the recovery
 * ({@link restoreLegacy}: the legacy app back from its preserved backup).
 *
 * Fresh install only: moving staging's validated install to the apex would make production adopt
 * staging's app, which the ownership rules allow only through their explicit takeover key.
 */
import { CloudronApi } from "../../cloudron/client";
import { splitLocation } from "../../cloudron/operationSupport";
import {
  backupStartedSchema,
  newAppTaskSchema,
  noContentSchema,
  restoreRequestSchema,
  storeInstallRequestSchema,
  taskInfoSchema,
  updateBackupRequestSchema,
  type App,
  type Backup,
} from "../../cloudron/wire";
import { formatSmokeReport, runSmokeChecks } from "../../steps/smoke/checks";
import { verifiedImageFor } from "../../steps/image/promotion";

/** CommunityRule's manifest id (its CloudronManifest.json): an apex app with it is already ours. */
export const COMMUNITYRULE_MANIFEST_ID = "com.medlab.communityrule";
/** The guide's retention for the legacy app's final backup. */
export const MIN_PRESERVE_DAYS = 90;
const DAY_SECS = 24 * 3600;

/** What the cutover needs from the stack and the command line. */
export interface CutoverSettings {
  stack: string;
  /** communityrule:location: the apex the legacy app holds. */
  location: string;
  /** communityrule:cloudronServer. */
  server: string;
  imageRepository: string;
  imageTag: string;
  /** communityrule:build: the cutover promotes what staging verified, so it must be false. */
  build: boolean;
  /** Where health and smoke checks go (communityrule:baseUrl). */
  baseUrl: string;
  /** How long the final backup is kept past the retention policy (≥ {@link MIN_PRESERVE_DAYS}). */
  preserveDays: number;
  /** `--uninstall-legacy-app <id>`: must name the app the apex runs. */
  acknowledgedAppId?: string;
  /** `--legacy-export-done`: the operator exported the legacy rules / version_history tables. */
  exportDone: boolean;
  /** `--digest sha256:…`: the digest staging verified; must equal what the registry answers for the tag. */
  digest?: string;
}

/** The app the apex runs, as the plan and the record show it (no env: it may hold secrets). */
export interface LegacyApp {
  id: string;
  fqdn: string;
  /** The app store id (`lamp.cloudronapp.php74`), or "" for a custom image. */
  appStoreId: string;
  manifestId: string;
  version: string;
  /** The image a custom app runs (store apps: the store's image). */
  dockerImage: string;
  installationState: string;
}

/** A backup as listed (the manifest kept so the legacy app can be reinstalled from it). */
export interface BackupInfo {
  id: string;
  creationTime?: string;
  packageVersion?: string;
  preserveSecs?: number;
  manifest?: Record<string, unknown>;
}

/** The image to install: production's promotion of the tag staging verified, by digest. */
export interface VerifiedImage {
  tag: string;
  digest: string;
  /** `repository@digest`: what Cloudron runs. */
  reference: string;
  /** Where the digest came from, said in the plan. */
  source: string;
}

/** The read-only plan: what is at the apex, what will happen, and why it would not go on. */
export interface CutoverPlan {
  stack: string;
  location: string;
  legacy?: LegacyApp;
  newestBackups: BackupInfo[];
  image?: VerifiedImage;
  steps: string[];
  irreversible: string[];
  /** Reasons nothing may be changed (empty: the cutover may run once acknowledged). */
  refusals: string[];
}

/** The operator's mistake or a safety stop before anything was changed. */
export class CutoverRefused extends Error {}

/** A failure after the legacy app was removed: names the step and carries the recovery. */
export class CutoverStopped extends Error {
  constructor(
    readonly step: string,
    readonly cause: string,
    readonly recovery: string,
  ) {
    super(`CUTOVER STOPPED at "${step}", after the legacy app was uninstalled: ${cause}\n${recovery}`);
  }
}

/** One step of a run, as the record keeps it. */
export interface StepRecord {
  name: string;
  startedAt: string;
  finishedAt?: string;
  ok?: boolean;
  detail?: string;
}

/** The dated record written into the repository (like the restore drill's). No secret is in it. */
export interface CutoverRecord {
  kind: "cutover";
  stack: string;
  location: string;
  server: string;
  startedAt: string;
  finishedAt?: string;
  legacy?: LegacyApp;
  finalBackup?: BackupInfo;
  preserveDays: number;
  image?: VerifiedImage;
  /** The app CommunityRule runs at the apex afterwards. */
  installedAppId?: string;
  steps: StepRecord[];
  smoke?: string;
  result: "done" | "refused" | "stopped";
  stoppedAt?: string;
  error?: string;
  recovery?: RecoveryRecord;
}

/** What {@link restoreLegacy} did. */
export interface RecoveryRecord {
  startedAt: string;
  finishedAt?: string;
  removedAppId?: string;
  restoredAppId?: string;
  backupId: string;
  ok: boolean;
  error?: string;
}

/** The outside world a run needs; the CLI gives real ones, the rehearsal and tests the stand-ins. */
export interface CutoverDeps {
  api: CloudronApi;
  /** The stack's own `pulumi up` (install, env, health gate, seed once, smoke). */
  up(): Promise<{ ok: boolean; detail: string }>;
  /** The stack's `pulumi preview`: must change nothing after the up. */
  previewChangesNothing(): Promise<{ ok: boolean; detail: string }>;
  /**
   * The URN of the stack's app step (`app-deploy`) if its state already holds one from an earlier
   * up. An unchanged step is not run again, so the install after the uninstall would not happen.
   */
  recordedAppStep?(): Promise<string | undefined>;
  /** Saves the record (after every step, so a killed run still leaves the backup id behind). */
  writeRecord(record: CutoverRecord): void;
  log(line: string): void;
  now?(): Date;
}

// ---- pure parts ---------------------------------------------------------------------------------

/** The apex app as the plan shows it. */
export function describeLegacy(app: App): LegacyApp {
  const loose = app as App & { appStoreId?: unknown };
  return {
    id: app.id,
    fqdn: app.fqdn,
    appStoreId: typeof loose.appStoreId === "string" ? loose.appStoreId : "",
    manifestId: app.manifest.id ?? "",
    version: app.manifest.version ?? "",
    dockerImage: app.manifest.dockerImage ?? "",
    installationState: app.installationState,
  };
}

/** A listed backup, newest first by creation time. */
export function backupInfo(b: Backup): BackupInfo {
  const loose = b as Backup & { preserveSecs?: unknown; manifest?: unknown };
  return {
    id: b.id,
    ...(b.creationTime ? { creationTime: b.creationTime } : {}),
    ...(b.packageVersion ? { packageVersion: b.packageVersion } : {}),
    ...(typeof loose.preserveSecs === "number" ? { preserveSecs: loose.preserveSecs } : {}),
    ...(loose.manifest && typeof loose.manifest === "object"
      ? { manifest: loose.manifest as Record<string, unknown> }
      : {}),
  };
}

/** Newest first (Cloudron lists newest first; creation time decides when every entry has one). */
export function newestFirst(backups: readonly BackupInfo[]): BackupInfo[] {
  if (!backups.every((b) => b.creationTime)) return [...backups];
  return [...backups].sort((a, b) => Date.parse(b.creationTime as string) - Date.parse(a.creationTime as string));
}

/** The backup in `after` that `before` did not list: the one the final backup task made. */
export function newBackup(before: readonly BackupInfo[], after: readonly BackupInfo[]): BackupInfo | undefined {
  const known = new Set(before.map((b) => b.id));
  return newestFirst(after.filter((b) => !known.has(b.id)))[0];
}

/**
 * The image to install: production's promotion rule ({@link verifiedImageFor}, the same one
 * `pulumi up -s production` applies), so the plan names the digest the up will install. `--digest`
 * pins what the operator saw staging verify: a tag that moved since is refused before any change.
 */
export async function cutoverImage(
  repository: string,
  tag: string,
  explicitDigest: string | undefined,
): Promise<VerifiedImage> {
  if (explicitDigest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(explicitDigest)) {
    throw new CutoverRefused(
      `--digest ${explicitDigest}: expected sha256:<64 hex digits>, the digest staging verified`,
    );
  }
  const promoted = await verifiedImageFor(repository, tag);
  if (explicitDigest !== undefined && explicitDigest !== promoted.digest) {
    throw new CutoverRefused(
      `${repository}:${tag} now points at ${promoted.digest}, not at ${explicitDigest} (--digest, what staging verified): ` +
        `the tag was pushed again since. Nothing was changed; find out what was pushed before going on.`,
    );
  }
  return {
    tag,
    digest: promoted.digest,
    reference: promoted.ref,
    source: explicitDigest ? `--digest, equal to ${promoted.describe}` : promoted.describe,
  };
}

/** The steps in order, as the plan states them and the run takes them. */
export function cutoverSteps(
  s: CutoverSettings,
  legacy: LegacyApp | undefined,
  image: VerifiedImage | undefined,
): { steps: string[]; irreversible: string[] } {
  const app = legacy ? `${legacy.id} (${legacy.appStoreId || legacy.manifestId}@${legacy.version})` : "<the apex app>";
  const steps = [
    `final backup of ${app}: POST /apps/${legacy?.id ?? ":id"}/backup, wait for its task, find the new backup`,
    `preserve it ${s.preserveDays} days past the retention policy: POST /apps/${legacy?.id ?? ":id"}/backups/<backup id> { preserveSecs: ${s.preserveDays * DAY_SECS} }; its id goes into the record`,
    `check the acknowledgement names ${legacy?.id ?? "the apex app's id"} and that the legacy rules / version_history export is done`,
    `uninstall ${app}: POST /apps/${legacy?.id ?? ":id"}/uninstall, wait until ${s.location} is free`,
    `install CommunityRule at ${s.location}: pulumi up -s ${s.stack} (image ${image?.reference ?? `${s.imageRepository}:${s.imageTag} by digest`}, the whole env, health gate, seed once, smoke)`,
    `verify: ${s.location} runs ${image?.digest ?? "staging's digest"}; the smoke checks pass again`,
    `normal stack: pulumi preview -s ${s.stack} changes nothing`,
    `write the dated record (backup id, legacy app id, times, results) under docs/cutover/`,
  ];
  const irreversible = [
    `the uninstall removes ${app} and its data from the server; only the preserved final backup can bring it back (npm run cutover -- ${s.stack} --restore-legacy)`,
    `the legacy rules / version_history tables are not moved: production starts on an empty database (the export is the archive)`,
  ];
  return { steps, irreversible };
}

/** Why the cutover may not start (empty: it may, once acknowledged). */
export function planRefusals(s: CutoverSettings, legacy: LegacyApp | undefined): string[] {
  const out: string[] = [];
  if (s.build) {
    out.push(
      `communityrule:build is true: production must promote the image staging verified, not build its own. ` +
        `Set pulumi config set communityrule:build false -s ${s.stack} and pulumi config set communityrule:imageTag <the version staging runs> -s ${s.stack}`,
    );
  }
  if (!Number.isInteger(s.preserveDays) || s.preserveDays < MIN_PRESERVE_DAYS) {
    out.push(
      `--preserve-days ${s.preserveDays}: the final backup must be kept at least ${MIN_PRESERVE_DAYS} days (the app's first-install guide)`,
    );
  }
  if (!legacy) {
    out.push(
      `nothing holds ${s.location}: there is nothing to cut over; a first install there is a plain pulumi up -s ${s.stack}`,
    );
  } else if (legacy.manifestId === COMMUNITYRULE_MANIFEST_ID) {
    out.push(
      `${s.location} already runs CommunityRule (app ${legacy.id}): the cutover is done. pulumi up -s ${s.stack} deploys to it; ` +
        `an install moved there from staging is adopted only through the ownership rules' explicit takeover key`,
    );
  } else if (legacy.installationState !== "installed") {
    out.push(
      `${s.location} (app ${legacy.id}) is ${legacy.installationState}: wait for its task or repair it in the dashboard first`,
    );
  }
  return out;
}

/** Why the acknowledged run may not go on: the acknowledgement must name the very app, and the export be confirmed. */
export function acknowledgementProblems(s: CutoverSettings, legacy: LegacyApp): string[] {
  const out: string[] = [];
  if (s.acknowledgedAppId === undefined) {
    out.push(
      `no acknowledgement: pass --uninstall-legacy-app ${legacy.id} (the id of the app at ${s.location}) to let the cutover uninstall it`,
    );
  } else if (s.acknowledgedAppId !== legacy.id) {
    out.push(
      `--uninstall-legacy-app ${s.acknowledgedAppId} does not name the app at ${s.location}, which is ${legacy.id} ` +
        `(${legacy.appStoreId || legacy.manifestId}@${legacy.version}): read the plan again`,
    );
  }
  if (!s.exportDone) {
    out.push(
      `the legacy rules / version_history export is not confirmed: export them to the archive repository by hand ` +
        `(runbook "First production install"), then pass --legacy-export-done`,
    );
  }
  return out;
}

/** Why a stack whose state already holds the app step cannot install after the uninstall, and the fix. */
export function recordedAppRefusal(stack: string, urn: string): string {
  return (
    `the ${stack} stack's state already holds its app step from an earlier up (${urn}); after the uninstall ` +
    `pulumi up would see it unchanged and install nothing. Drop it from the state only (the app on Cloudron is not touched): ` +
    `pulumi state unprotect -s ${stack} '${urn}' && pulumi state delete -s ${stack} '${urn}'`
  );
}

/** The plan as the operator reads it. */
export function formatCutoverPlan(p: CutoverPlan): string {
  const lines = [`cutover plan for ${p.stack}: ${p.location} (read-only; nothing has been changed)`];
  if (p.legacy) {
    const l = p.legacy;
    lines.push(
      `  at the apex:  app ${l.id}: ${l.appStoreId ? `app store ${l.appStoreId}` : `image ${l.dockerImage}`}, ` +
        `manifest ${l.manifestId}@${l.version}, ${l.installationState}`,
    );
  } else lines.push(`  at the apex:  nothing`);
  lines.push(`  its newest backups:${p.newestBackups.length ? "" : " none"}`);
  for (const b of p.newestBackups) {
    lines.push(
      `    ${b.id} (${b.creationTime ?? "time unknown"}, version ${b.packageVersion ?? "?"}${b.preserveSecs ? `, preserved ${Math.round(b.preserveSecs / DAY_SECS)} days` : ""})`,
    );
  }
  if (p.image) lines.push(`  image:        ${p.image.reference} (${p.image.source})`);
  lines.push(`  what happens, in order:`, ...p.steps.map((st, i) => `    ${i + 1}. ${st}`));
  lines.push(`  irreversible:`, ...p.irreversible.map((i) => `    - ${i}`));
  lines.push(
    `  not supported: moving staging's install to the apex (production would adopt staging's app; only the ownership rules' takeover key may do that)`,
  );
  for (const r of p.refusals) lines.push(`  REFUSED: ${r}`);
  return lines.join("\n");
}

/** The recovery text printed with every failure after the uninstall. */
export function recoveryText(stack: string, location: string, legacy: LegacyApp, backupId: string): string {
  return [
    `RECOVERY (the legacy site back from its preserved final backup ${backupId}):`,
    `  npm run cutover -- ${stack} --restore-legacy`,
    `  It removes a CommunityRule app this cutover left at ${location} (never another app), installs ${legacy.appStoreId || legacy.manifestId}@${legacy.version} ` +
      `there again and restores backup ${backupId} into it (POST /apps, POST /apps/:id/restore). By hand: dashboard → App Store → ` +
      `${legacy.appStoreId || legacy.manifestId} at ${location}, then its Backups → restore ${backupId}.`,
    `  Or fix the cause and run the install again: pulumi up -s ${stack}.`,
  ].join("\n");
}

// ---- the run ------------------------------------------------------------------------------------

/** Reads the apex, its backups and the image; changes nothing. */
export async function planCutover(
  s: CutoverSettings,
  deps: Pick<CutoverDeps, "api" | "recordedAppStep">,
): Promise<CutoverPlan> {
  const { api } = deps;
  await api.checkAccess("cutover: plan");
  const found = await api.findApp(s.location, "cutover: plan");
  const legacy = found ? describeLegacy(found) : undefined;
  const newestBackups = legacy
    ? newestFirst((await api.listBackups(legacy.id, "cutover: plan")).map(backupInfo)).slice(0, 3)
    : [];
  const refusals = planRefusals(s, legacy);
  const recorded = legacy && refusals.length === 0 && deps.recordedAppStep ? await deps.recordedAppStep() : undefined;
  if (recorded) refusals.push(recordedAppRefusal(s.stack, recorded));
  let image: VerifiedImage | undefined;
  if (!s.build) {
    try {
      image = await cutoverImage(s.imageRepository, s.imageTag, s.digest);
    } catch (err) {
      refusals.push(`image: ${(err as Error).message}`);
    }
  }
  return {
    stack: s.stack,
    location: s.location,
    legacy,
    newestBackups,
    image,
    ...cutoverSteps(s, legacy, image),
    refusals,
  };
}

/**
 * The cutover. Refuses (nothing changed) on any plan refusal, a missing or wrong acknowledgement,
 * or a final backup that did not come out or could not be preserved. After the uninstall, any
 * failure throws {@link CutoverStopped} with the recovery; the record says where it stopped.
 */
export async function runCutover(s: CutoverSettings, deps: CutoverDeps): Promise<CutoverRecord> {
  const { api, log } = deps;
  const now = () => (deps.now ? deps.now() : new Date());
  const plan = await planCutover(s, deps);
  log(formatCutoverPlan(plan));
  const record: CutoverRecord = {
    kind: "cutover",
    stack: s.stack,
    location: s.location,
    server: s.server,
    startedAt: now().toISOString(),
    legacy: plan.legacy,
    preserveDays: s.preserveDays,
    image: plan.image,
    steps: [],
    result: "refused",
  };
  const refuse = (why: string[]): never => {
    record.error = why.join("; ");
    record.finishedAt = now().toISOString();
    // A refusal before the first step leaves nothing to record; after it, a backup may exist.
    if (record.steps.length > 0) deps.writeRecord(record);
    throw new CutoverRefused(`cutover refused, nothing was changed:\n${why.map((w) => `  - ${w}`).join("\n")}`);
  };
  if (plan.refusals.length > 0 || !plan.legacy || !plan.image) refuse(plan.refusals);
  const legacy = plan.legacy as LegacyApp;
  const image = plan.image as VerifiedImage;
  const ack = acknowledgementProblems(s, legacy);
  if (ack.length > 0) refuse(ack);

  const step = async <T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> => {
    const entry: StepRecord = { name, startedAt: now().toISOString() };
    record.steps.push(entry);
    log(`cutover: ${name}`);
    try {
      const value = await fn();
      Object.assign(entry, { ok: true, finishedAt: now().toISOString(), ...(detail ? { detail: detail(value) } : {}) });
      return value;
    } catch (err) {
      Object.assign(entry, { ok: false, finishedAt: now().toISOString(), detail: (err as Error).message });
      throw err;
    } finally {
      deps.writeRecord(record);
    }
  };

  // Reversible: nothing is removed until the final backup exists and is preserved.
  let backup: BackupInfo;
  try {
    backup = await step(
      "final backup",
      () => takeFinalBackup(api, legacy),
      (b) => `backup ${b.id}`,
    );
    record.finalBackup = backup;
    backup = await step(
      "preserve the final backup",
      () => preserveBackup(api, legacy, backup, s.preserveDays),
      (b) => `kept ${Math.round((b.preserveSecs ?? 0) / DAY_SECS)} days past retention`,
    );
    record.finalBackup = backup;
  } catch (err) {
    return refuse([`${(err as Error).message} (the legacy app was NOT removed)`]);
  }

  // Irreversible from here: a failure stops with the way back.
  const recovery = recoveryText(s.stack, s.location, legacy, backup.id);
  const stopped = (name: string, err: unknown): never => {
    const cause = (err as Error).message;
    record.result = "stopped";
    record.stoppedAt = name;
    record.error = cause;
    record.finishedAt = now().toISOString();
    deps.writeRecord(record);
    throw new CutoverStopped(name, cause, recovery);
  };
  const irreversible = async <T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> => {
    try {
      return await step(name, fn, detail);
    } catch (err) {
      return stopped(name, err);
    }
  };
  await irreversible(
    "uninstall the legacy app",
    () => uninstallApp(api, legacy.id, s.location, "cutover: uninstall"),
    () => `${legacy.id} removed`,
  );
  await irreversible(
    `install CommunityRule: pulumi up -s ${s.stack}`,
    async () => {
      const r = await deps.up();
      if (!r.ok) throw new Error(r.detail);
      return r.detail;
    },
    (d) => d,
  );
  const installed = await irreversible(
    "verify the image",
    () => verifyInstalledImage(api, s, image),
    (a) => `${a.id} runs ${image.digest}`,
  );
  record.installedAppId = installed.id;
  await irreversible(
    "smoke checks",
    async () => {
      const result = await runSmokeChecks({ baseUrl: s.baseUrl });
      record.smoke = formatSmokeReport(result, s.baseUrl);
      if (!result.ok) throw new Error(`smoke checks failed:\n${record.smoke}`);
      return result;
    },
    (r) => `${r.checks.length} passed`,
  );
  await irreversible(
    `normal stack: pulumi preview -s ${s.stack} changes nothing`,
    async () => {
      const r = await deps.previewChangesNothing();
      if (!r.ok) throw new Error(r.detail);
      return r.detail;
    },
    (d) => d,
  );
  record.result = "done";
  record.finishedAt = now().toISOString();
  deps.writeRecord(record);
  return record;
}

/** Takes a backup of the app now and returns the one it made; refuses when none came out. */
export async function takeFinalBackup(api: CloudronApi, legacy: LegacyApp): Promise<BackupInfo> {
  const step = "cutover: final backup";
  await api.waitUntilIdle(legacy.id, step);
  const before = (await api.listBackups(legacy.id, step)).map(backupInfo);
  const started = await api.post(`/apps/${encodeURIComponent(legacy.id)}/backup`, {}, backupStartedSchema, {
    step,
    appId: legacy.id,
    recover: async () => {
      const app = await api.getApp(legacy.id, step).catch(() => undefined);
      return app?.taskId ? { taskId: app.taskId } : undefined;
    },
  });
  if (started.taskId !== undefined) await api.waitForTask(started.taskId, step);
  else await api.waitUntilIdle(legacy.id, step, undefined, true);
  const made = newBackup(before, (await api.listBackups(legacy.id, step)).map(backupInfo));
  if (!made)
    throw new Error(
      `${step}: the backup task ended but no new backup of ${legacy.id} is listed (GET /apps/${legacy.id}/backups)`,
    );
  return made;
}

/** Keeps the backup `days` past the retention policy, and reads it back to be sure. */
export async function preserveBackup(
  api: CloudronApi,
  legacy: LegacyApp,
  backup: BackupInfo,
  days: number,
): Promise<BackupInfo> {
  const step = "cutover: preserve backup";
  const preserveSecs = days * DAY_SECS;
  const body = updateBackupRequestSchema.parse({
    preserveSecs,
    label: `final backup before the CommunityRule cutover`,
  });
  await api.post(
    `/apps/${encodeURIComponent(legacy.id)}/backups/${encodeURIComponent(backup.id)}`,
    body,
    noContentSchema,
    { step, appId: legacy.id },
  );
  const listed = (await api.listBackups(legacy.id, step)).map(backupInfo).find((b) => b.id === backup.id);
  if (!listed) throw new Error(`${step}: backup ${backup.id} is no longer listed`);
  if ((listed.preserveSecs ?? 0) < preserveSecs) {
    throw new Error(
      `${step}: backup ${backup.id} is kept ${listed.preserveSecs ?? 0} s past retention, not the ${preserveSecs} s asked (dashboard → the app → Backups)`,
    );
  }
  return { ...backup, ...listed };
}

/** Uninstalls one app by id and waits until its location is free. */
async function uninstallApp(api: CloudronApi, appId: string, location: string, step: string): Promise<void> {
  const started = await api.post(`/apps/${encodeURIComponent(appId)}/uninstall`, {}, taskInfoSchema, { step, appId });
  await api.waitForTask(started.taskId, step);
  const still = await api.findApp(location, step);
  if (still?.id === appId)
    throw new Error(`${step}: the uninstall task of ${appId} finished, but ${location} still lists it`);
}

/**
 * The app at the apex is CommunityRule and runs exactly the verified digest, by digest: production
 * installs `repo@sha256:…`, so a tag pushed later cannot change what it runs.
 */
async function verifyInstalledImage(api: CloudronApi, s: CutoverSettings, image: VerifiedImage): Promise<App> {
  const step = "cutover: verify image";
  const app = await api.findApp(s.location, step);
  if (!app || app.manifest.id !== COMMUNITYRULE_MANIFEST_ID) {
    throw new Error(`${step}: ${s.location} does not run CommunityRule after the up`);
  }
  const running = app.manifest.dockerImage ?? "";
  if (running !== image.reference)
    throw new Error(`${step}: ${s.location} runs ${running}, not the verified ${image.reference}`);
  return app;
}

/**
 * The recovery: the legacy app back at the apex from the preserved final backup of `record`.
 * Removes only a CommunityRule app at the apex (the cutover's own, failed or not); any other app
 * there is refused. Then installs the legacy app's store id with the backup's manifest and restores
 * the backup into it (spec: installApp, restoreFromBackup).
 */
export async function restoreLegacy(
  record: CutoverRecord,
  deps: Pick<CutoverDeps, "api" | "log" | "now">,
): Promise<RecoveryRecord> {
  const { api, log } = deps;
  const now = () => (deps.now ? deps.now() : new Date());
  const step = "cutover: restore legacy";
  const legacy = record.legacy;
  const backup = record.finalBackup;
  if (!legacy || !backup)
    throw new CutoverRefused(`the record has no legacy app or final backup: nothing to restore from`);
  const out: RecoveryRecord = { startedAt: now().toISOString(), backupId: backup.id, ok: false };
  try {
    const manifest = backup.manifest ?? { id: legacy.manifestId, version: legacy.version };
    const atApex = await api.findApp(record.location, step);
    if (atApex && atApex.manifest.id !== COMMUNITYRULE_MANIFEST_ID) {
      if (atApex.manifest.id === legacy.manifestId)
        throw new CutoverRefused(
          `${record.location} already runs ${legacy.manifestId} (app ${atApex.id}): nothing to restore`,
        );
      throw new CutoverRefused(
        `${record.location} is held by app ${atApex.id} (${atApex.manifest.id ?? "?"}), neither CommunityRule nor the legacy app: remove it deliberately first`,
      );
    }
    if (atApex) {
      log(`${step}: removing CommunityRule app ${atApex.id} at ${record.location} (the failed install)`);
      await uninstallApp(api, atApex.id, record.location, step);
      out.removedAppId = atApex.id;
    }
    const { subdomain, domain } = splitLocation(record.location, await api.listDomains(step));
    log(`${step}: installing ${legacy.appStoreId || legacy.manifestId}@${legacy.version} at ${record.location}`);
    const install = storeInstallRequestSchema.parse({
      appStoreId: legacy.appStoreId || legacy.manifestId,
      manifest,
      subdomain,
      domain,
      accessRestriction: null,
    });
    const installed = await api.post("/apps", install, newAppTaskSchema, { step });
    await api.waitForTask(installed.taskId, step);
    log(`${step}: restoring backup ${backup.id} into app ${installed.id}`);
    const restore = await api.post(
      `/apps/${encodeURIComponent(installed.id)}/restore`,
      restoreRequestSchema.parse({ backupId: backup.id }),
      taskInfoSchema,
      { step, appId: installed.id },
    );
    await api.waitForTask(restore.taskId, step);
    const back = await api.getApp(installed.id, step);
    if (back.manifest.version !== legacy.version)
      throw new Error(
        `${step}: app ${installed.id} runs ${back.manifest.version ?? "?"} after the restore, not ${legacy.version}`,
      );
    out.restoredAppId = installed.id;
    out.ok = true;
  } catch (err) {
    out.error = (err as Error).message;
    if (err instanceof CutoverRefused) throw err;
  } finally {
    out.finishedAt = now().toISOString();
  }
  return out;
}
