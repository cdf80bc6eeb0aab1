/**
 * What the program checks against the live server before any resource is registered (preview and
 * up alike), read-only: the token and role, the server's version against the manifest's
 * `minBoxVersion`, whose app holds the location, the release order
 * against the version that really runs (so a downgrade is refused before the image is built and
 * pushed), and on a production `up` the backup policy. No Pulumi imports: index.ts turns a
 * problem into a RunError, and tests call this directly.
 */
import { CloudronApi, CloudronApiError, resolveToken } from "../../cloudron/client";
import { assessBackups } from "../../cloudron/backupPolicy";
import { foreignOwnerProblem, readEntryMarks, readOwnership } from "../app/ownership";
import type { App, AppListEntry } from "../../cloudron/wire";
import { decideRelease, tagOfImage, type ReleaseDecision } from "../../release/versionRules";
import type { DeployConfig } from "../../config/loader";
import { readReleaseRecord } from "../../release/releaseRecord";

/** What the live check saw of this stack's app before anything ran (steps/live-check/liveCheck.ts). */
export interface LiveObservation {
  /**
   * - `present`: an app at the location marked as this stack's;
   * - `unmarked`: an app of ours (manifest id) at the location without any ownership mark;
   * - `foreign`: marked by the stack named in communityrule:takeOverFrom (a takeover);
   * - `moved`: nothing at the location, but the app marked as this stack's serves another one;
   * - `absent`: nothing at the location, no app of this stack anywhere;
   * - `unknown`: not checked (a preview without a token).
   */
  state: "present" | "unmarked" | "foreign" | "moved" | "absent" | "unknown";
  appId?: string;
  location?: string;
  image?: string;
}

/** What the live check found. */
export interface LiveCheck {
  /** False when no token could be found during a preview: nothing was checked. */
  checked: boolean;
  /** Notes for the operator (warnings in a preview, info in an up). */
  notes: string[];
  /** The release decision against the live app (undefined when not checked). */
  release?: ReleaseDecision;
  /** Manifest version the app runs now, if installed. */
  deployedVersion?: string;
  /** What the check saw of this stack's app (the deploy re-runs when it went missing or moved). */
  observed: LiveObservation;
  /** The app at the location as read (its notes carry the release record); undefined when none is installed. */
  app?: App;
}

/**
 * Where this stack's app is, from one listing of the server's apps: at the location and marked by
 * this stack (or unmarked, or marked by the stack it takes over from), elsewhere under this stack's
 * mark (moved by hand), or nowhere.
 */
export function observePresence(
  here: App | undefined,
  entries: readonly AppListEntry[],
  o: { stack: string; manifestId: string; takeOverFrom?: string },
): LiveObservation {
  if (here) {
    const seen = (state: LiveObservation["state"]): LiveObservation => ({
      state,
      appId: here.id,
      location: here.fqdn,
      ...(here.manifest.dockerImage ? { image: here.manifest.dockerImage } : {}),
    });
    const mark = readOwnership(here);
    if (mark.stack === o.stack) return seen("present");
    return seen(mark.stack === undefined ? "unmarked" : "foreign");
  }
  // Other apps are read loosely (one odd app must not stop a deploy): id, fqdn, manifest id, marks.
  const moved = entries.find((e) => {
    const marks = readEntryMarks(e.raw);
    return marks.manifestId === o.manifestId && marks.ownership.stack === o.stack;
  });
  return moved
    ? { state: "moved", ...(moved.id ? { appId: moved.id } : {}), ...(moved.fqdn ? { location: moved.fqdn } : {}) }
    : { state: "absent" };
}

/** Thrown with an operator-facing message when the live check refuses to go on. */
export class LiveCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LiveCheckError";
  }
}

type CheckConfig = Pick<
  DeployConfig,
  | "cloudronServer"
  | "cloudronToken"
  | "location"
  | "environment"
  | "build"
  | "imageTag"
  | "manifest"
  | "minBackupRetentionDays"
  | "cloudronTimeoutSeconds"
  | "busyWaitSeconds"
  | "stack"
  | "takeOverFrom"
>;

/**
 * Runs the read-only live checks. `dryRun` (preview) tolerates a missing token with a note; an up
 * does not. Backups are judged on a production up only (preview shows what up will refuse).
 */
export async function checkLiveApp(
  cfg: CheckConfig,
  o: { dryRun: boolean; envToken?: string; homeDir?: string },
): Promise<LiveCheck> {
  let token: string;
  try {
    token = resolveToken({
      server: cfg.cloudronServer,
      configToken: cfg.cloudronToken,
      envToken: o.envToken,
      homeDir: o.homeDir,
    }).token;
  } catch (err) {
    if (o.dryRun) {
      return {
        checked: false,
        notes: [`live check skipped: ${(err as Error).message}`],
        observed: { state: "unknown" },
      };
    }
    throw new LiveCheckError((err as Error).message);
  }
  const notes: string[] = [];
  const api = new CloudronApi({
    server: cfg.cloudronServer,
    token,
    taskTimeoutSeconds: cfg.cloudronTimeoutSeconds,
    busyWaitSeconds: cfg.busyWaitSeconds,
    readRetries: 2,
    log: (line) => notes.push(line),
  });
  try {
    await api.checkAccess("live check");
    const serverVersion = await api.checkServerVersion(minBoxVersionOf(cfg.manifest.content), "live check");
    notes.push(`live check: ${cfg.cloudronServer} runs Cloudron ${serverVersion}`);
    const apps = await api.listApps("live check");
    const app = api.appAt(apps, cfg.location, "live check");
    if (app && app.manifest.id !== cfg.manifest.id) {
      throw new LiveCheckError(
        `${cfg.location} is occupied by another app (manifest id ${app.manifest.id ?? "unknown"}, not ` +
          `${cfg.manifest.id}); ` +
          `pick another communityrule:location, or remove that app deliberately in the dashboard. Nothing was built ` +
          `or deployed.`,
      );
    }
    const foreign = app && foreignOwnerProblem(app, cfg.stack, cfg.takeOverFrom);
    if (foreign) throw new LiveCheckError(`${foreign} Nothing was built or deployed.`);
    const observed = observePresence(app, apps, {
      stack: cfg.stack,
      manifestId: cfg.manifest.id,
      takeOverFrom: cfg.takeOverFrom,
    });
    if (observed.state === "moved") {
      notes.push(
        `${cfg.location} is free, but the app this stack deployed now serves ${observed.location}: ` +
          `the deploy step will refuse to install a second copy`,
      );
    }
    if (observed.state === "foreign") {
      notes.push(
        `${cfg.location} (app ${observed.appId}) is taken over from stack ${cfg.takeOverFrom} ` +
          `(communityrule:takeOverFrom)`,
      );
    }
    let release: ReleaseDecision;
    try {
      release = decideRelease({
        environment: cfg.environment,
        build: cfg.build,
        tag: cfg.imageTag,
        manifestVersion: cfg.manifest.version,
        deployedVersion: app?.manifest.version,
        // The code version that runs: its release record, else the tag of its image.
        deployedTag:
          readReleaseRecord(app?.notes)?.version ??
          (app?.manifest.dockerImage ? tagOfImage(app.manifest.dockerImage) : undefined),
      });
    } catch (err) {
      throw new LiveCheckError(`${cfg.location}: ${(err as Error).message}. Refused before building anything.`);
    }
    if (cfg.environment === "production" && !o.dryRun) {
      // Not installed yet: Cloudron turns automatic backups on at install; only the retention is judged.
      const verdict = await assessBackups(api, app, cfg.minBackupRetentionDays, cfg.location, "live check");
      if (verdict.problems.length > 0) {
        throw new LiveCheckError(
          `production backups are not safe enough; nothing was built or deployed:\n  - ` +
            `${verdict.problems.join("\n  - ")}`,
        );
      }
      notes.push(`backups: ${verdict.summary}`);
    }
    return { checked: true, notes, release, deployedVersion: app?.manifest.version, observed, app };
  } catch (err) {
    if (err instanceof CloudronApiError) throw new LiveCheckError(err.message);
    throw err;
  }
}

/** The manifest's `minBoxVersion` (the lowest Cloudron version it runs on), if it names one. */
export function minBoxVersionOf(manifest: Record<string, unknown> | undefined): string | undefined {
  const v = manifest?.minBoxVersion;
  return typeof v === "string" && v !== "" ? v : undefined;
}
