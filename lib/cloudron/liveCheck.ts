/**
 * What the program checks against the live server before any resource is registered (preview and
 * up alike), read-only: the token and role, the server's version against the manifest's
 * `minBoxVersion`, whose app holds the location, the release order
 * against the version that really runs (so a downgrade is refused before the image is built and
 * pushed), and on a production `up` the backup policy. No Pulumi imports: index.ts turns a
 * problem into a RunError, and tests call this directly.
 */
import { CloudronApi, CloudronApiError, resolveToken } from "./api";
import { assessBackups } from "./backupPolicy";
import { decideRelease, tagOfImage, type ReleaseDecision } from "../release/versionRules";
import type { DeployConfig } from "../config/stackConfig";
import type { App } from "./schemas";
import { readReleaseRecord } from "../release/releaseRecord";

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
  /** The app at the location as read (its notes carry the release record); undefined when none is installed. */
  app?: App;
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
  "cloudronServer" | "cloudronToken" | "location" | "environment" | "build" | "imageTag" | "manifest" | "minBackupRetentionDays" | "cloudronTimeoutSeconds" | "busyWaitSeconds"
>;

/**
 * Runs the read-only live checks. `dryRun` (preview) tolerates a missing token with a note; an up
 * does not. Backups are judged on a production up only (preview shows what up will refuse).
 */
export async function checkLiveApp(cfg: CheckConfig, o: { dryRun: boolean; envToken?: string; homeDir?: string }): Promise<LiveCheck> {
  let token: string;
  try {
    token = resolveToken({ server: cfg.cloudronServer, configToken: cfg.cloudronToken, envToken: o.envToken, homeDir: o.homeDir }).token;
  } catch (err) {
    if (o.dryRun) return { checked: false, notes: [`live check skipped: ${(err as Error).message}`] };
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
    const app = await api.findApp(cfg.location, "live check");
    if (app && app.manifest.id !== cfg.manifest.id) {
      throw new LiveCheckError(
        `${cfg.location} is occupied by another app (manifest id ${app.manifest.id ?? "unknown"}, not ${cfg.manifest.id}); ` +
          `pick another communityrule:location, or remove that app deliberately in the dashboard. Nothing was built or deployed.`,
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
        deployedTag: readReleaseRecord(app?.notes)?.version ?? (app?.manifest.dockerImage ? tagOfImage(app.manifest.dockerImage) : undefined),
      });
    } catch (err) {
      throw new LiveCheckError(`${cfg.location}: ${(err as Error).message}. Refused before building anything.`);
    }
    if (cfg.environment === "production" && !o.dryRun) {
      // Not installed yet: Cloudron turns automatic backups on at install; only the retention is judged.
      const verdict = await assessBackups(api, app, cfg.minBackupRetentionDays, cfg.location, "live check");
      if (verdict.problems.length > 0) {
        throw new LiveCheckError(`production backups are not safe enough; nothing was built or deployed:\n  - ${verdict.problems.join("\n  - ")}`);
      }
      notes.push(`backups: ${verdict.summary}`);
    }
    return { checked: true, notes, release, deployedVersion: app?.manifest.version, app };
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
