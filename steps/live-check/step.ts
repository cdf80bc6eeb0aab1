/**
 * The live check: reads the server before anything is built (token, Cloudron version, the location,
 * the release that runs). A check-only step: it declares no resource, and what it found feeds later
 * checks and the deploy.
 */
import type { CheckStep } from "../../steps";

export const liveCheckStep: CheckStep = {
  id: "live-check",
  describe: (cfg) => [
    `live check (read-only, before anything is built): GET /profile, GET /cloudron/status and GET /apps ` +
      `on ${cfg.cloudronServer}: token valid (owner/admin), Cloudron at least the manifest's minBoxVersion, ` +
      `${cfg.location} free or ours (${cfg.manifest.id}), release not below the version it runs`,
    ...(cfg.environment === "production"
      ? [
          `backups: ${cfg.location} automatic backups on, GET /backups/policy (else the app's backups) ` +
            `keeps ≥ ${cfg.minBackupRetentionDays} days (up only)`,
        ]
      : []),
  ],
  async check(cfg, found) {
    const pulumi = await import("@pulumi/pulumi");
    const { checkLiveApp, LiveCheckError } = await import("./liveCheck");
    try {
      // The stack's token or the operator's `cloudron login`, as the tools use; never a CLOUDRON_TOKEN
      // exported in the shell `pulumi` runs in.
      const live = await checkLiveApp(cfg, { dryRun: pulumi.runtime.isDryRun() });
      found.live = live;
      for (const note of live.notes) (live.checked ? pulumi.log.info : pulumi.log.warn)(note);
      if (live.release?.kind === "rollback") pulumi.log.warn(live.release.message);
      else if (live.release) pulumi.log.info(live.release.message);
    } catch (err) {
      if (err instanceof LiveCheckError) throw new pulumi.RunError(err.message);
      throw err;
    }
  },
};
