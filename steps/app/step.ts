/**
 * The app on Cloudron (step id `deploy`): install, adopt or update it through the REST API, read it
 * back, and record what runs (image, release, migrations) for the next preview.
 */
import type { ResourceStep } from "../../steps";
import type { FingerprintedEnv } from "../../cloudron/requests";
import { earlier } from "../earlier";

export const deployStep: ResourceStep = {
  id: "deploy",
  describe: (cfg) => [
    `deploy on ${cfg.cloudronServer} (REST API): wait while ${cfg.location} is busy ` +
      `(≤ ${cfg.busyWaitSeconds} s), stop if it is in error`,
    `install ${cfg.location} if free (POST /apps with the whole env: one task), adopt it if it runs ` +
      `${cfg.manifest.id}, ` +
      `update it if the image or manifest changed (POST /apps/:id/update; Cloudron takes a backup first, its id is ` +
      `reported)`,
    `each task bounded by ${cfg.cloudronTimeoutSeconds} s and read back (image, version, env)`,
    ...(cfg.autoRollback ? ["on a failed health gate after an update: roll back to the previous image and fail"] : []),
  ],
  async register(ctx) {
    const pulumi = await import("@pulumi/pulumi");
    const { CloudronApp } = await import("./cloudronApp");
    const { AppPresence } = await import("./appPresence");
    const { reviewForDeploy, runningFromLiveCheck } = await import("../migrations/programMigrations");
    const { shippedRelease } = await import("../../release/releaseHistory");
    const { findProjectDir } = await import("../../lib/projectDir");
    const path = await import("node:path");
    const { cfg } = ctx;
    const image = earlier(ctx.image, "deploy", "image");
    const [desired, resolveDesired] = pulumi.deferredOutput<FingerprintedEnv>();
    const [secrets, resolveSecrets] = pulumi.deferredOutput<Record<string, string>>();
    ctx.installEnv = { resolveDesired, resolveSecrets };
    const projectDir = findProjectDir(__dirname);
    const migrations = reviewForDeploy(cfg, projectDir, runningFromLiveCheck(ctx.found.live));
    const shipped = shippedRelease(
      path.resolve(projectDir, cfg.appDir),
      cfg.build,
      cfg.build ? cfg.manifest.version : cfg.imageTag,
    );
    ctx.shipped = shipped;
    const observed = ctx.found.live?.observed ?? { state: "unknown" as const };
    const presence = new AppPresence("app-presence", { location: cfg.location, observed });
    const live = pulumi
      .all([presence.generation, presence.observed])
      .apply(([generation, observed]) => ({ generation, ...observed }));
    ctx.app = new CloudronApp(
      "app",
      {
        connection: ctx.connection,
        location: cfg.location,
        environment: cfg.environment,
        stack: cfg.stack,
        ...(cfg.takeOverFrom ? { takeOverFrom: cfg.takeOverFrom } : {}),
        live,
        image: image.imageRef,
        // A promoted image is an existing one: the deploy applies the existing-tag rules to it.
        build: cfg.build && !ctx.found.promotion,
        manifest: cfg.manifest.content as { id: string; version: string },
        env: desired,
        secretEnv: secrets,
        token: ctx.token,
        autoRollback: cfg.autoRollback,
        health: { baseUrl: cfg.baseUrl, timeoutSeconds: cfg.healthTimeoutSeconds },
        protect: cfg.environment === "production",
        // Only the list the schema will have: it is desired state, so an up after a release sends the
        // same request (what a release applies changes from one run to the next; the check logs it).
        releaseMigrations: { record: migrations.record },
        release: shipped,
      },
      { dependsOn: [image] },
    );
    Object.assign(ctx.outputs, {
      /** Where drift and the tools look. */
      cloudronServer: cfg.cloudronServer,
      /** The image Cloudron runs. */
      imageRef: ctx.app.image,
      /** Manifest version the app runs, as read back (a rollback keeps the higher deployed one). */
      manifestVersion: ctx.app.version,
      appId: ctx.app.appId,
      /** What the last deploy did (installed, adopted, updated, unchanged). */
      deployAction: ctx.app.action,
      /** Cloudron's pre-update backup of the last update, if one was listed. */
      preUpdateBackupId: ctx.app.backupId,
      previousImage: ctx.app.previousImage,
      /** Migrations the database has been taken through (name, sha256, class), recorded by the deploy. */
      migrations: ctx.app.migrations,
    });
  },
};
