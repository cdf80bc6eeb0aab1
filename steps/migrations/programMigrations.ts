/**
 * The migration review as the program runs it: before any resource registers, during preview
 * too (like the existing-tag check), so a refused release or rollback fails before anything
 * happens. Logs what the deploy applies; throws RunError (no stack trace) on a refusal.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { DeployConfig } from "../../config/loader";
import { reviewDeployMigrations, type DeployMigrationsReview, type RunningRelease } from "./deployMigrations";
import { runningFromApp } from "../../release/releaseRecord";
import type { LiveCheck } from "../live-check/liveCheck";

/**
 * What runs at the location, as the live check found it: `unknown` when it did not check (a
 * preview without a token), `absent` when nothing is installed, else the release the app's
 * record names or, without a record, the version it runs.
 */
export function runningFromLiveCheck(live: LiveCheck | undefined): RunningRelease | "absent" | "unknown" {
  if (!live?.checked) return "unknown";
  return runningFromApp(live.app) ?? "absent";
}

/**
 * Reviews this deploy's migrations. `running` is what the location runs now
 * ({@link runningFromLiveCheck}); "unknown" counts every migration of the image as new (see
 * reviewDeployMigrations).
 */
export function checkReleaseMigrations(
  cfg: DeployConfig,
  projectDir: string,
  running: RunningRelease | "absent" | "unknown" = "unknown",
): DeployMigrationsReview {
  const review = reviewForDeploy(cfg, projectDir, running);
  for (const line of review.lines) pulumi.log.info(`migrations: ${line}`);
  for (const warning of review.warnings) pulumi.log.warn(`migrations: ${warning}`);
  if (review.errors.length > 0) {
    throw new pulumi.RunError(
      `migration check refused this deploy of ${cfg.stack}; nothing was changed:\n\n${review.errors.join("\n\n")}`,
    );
  }
  return review;
}

/** The same review without logging or refusing: what the deploy step hands on. */
export function reviewForDeploy(
  cfg: DeployConfig,
  projectDir: string,
  running: RunningRelease | "absent" | "unknown" = "unknown",
): DeployMigrationsReview {
  return reviewDeployMigrations({
    environment: cfg.environment,
    stack: cfg.stack,
    location: cfg.location,
    build: cfg.build,
    imageTag: cfg.imageTag,
    manifestVersion: cfg.manifest.version,
    appDir: path.resolve(projectDir, cfg.appDir),
    appDirLabel: cfg.appDir,
    acknowledged: cfg.acknowledgeMigrations,
    env: cfg.env,
    running,
  });
}
