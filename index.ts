/**
 * CommunityRule on MEDLab's Cloudron: one stack per environment (staging, production).
 * Reads and validates the stack config, then composes the steps of the runbook:
 * image → Cloudron app (install / adopt / update) → env → health gate → seed once → smoke.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadDeployConfig } from "./lib/config/programConfig";
import { findProjectDir, staleBuildProblem } from "./lib/build/sourceStamp";
import { verifyAnonymousPull, PullCheckError } from "./lib/registry/ociRegistry";
import { RegistryImage } from "./components/registryImage";
import { CloudronApp } from "./components/cloudronApp";
import { AppEnv } from "./components/appEnv";
import { HealthGate } from "./components/healthGate";
import { SeedOnce } from "./components/seedOnce";
import { SmokeCheck } from "./components/smokeCheck";
import type { DeployRequest, DesiredEnv } from "./lib/cloudron/contract";
import { checkLiveApp, LiveCheckError } from "./lib/cloudron/liveCheck";

/**
 * The program. Pulumi's language host calls the exported function and awaits it; the returned
 * object is the stack's outputs. Async so the existing-tag check can run before any resource.
 */
async function deploy() {
  const projectDir = findProjectDir(__dirname);
  // Compiled (how `pulumi up` runs it): refuse to deploy code older than its TypeScript sources.
  const staleBuild = __filename.endsWith(".js") ? staleBuildProblem(projectDir) : undefined;
  if (staleBuild) throw new pulumi.RunError(staleBuild);
  const cfg = loadDeployConfig(projectDir);
  const isProduction = cfg.environment === "production";
  // Read-only look at the live app, before anything is built: an unreachable server, a bad token,
  // someone else's app at the location, a downgrade or (production up) weak backups stop here.
  await checkLive(cfg);
  if (!cfg.build && cfg.imageTag !== cfg.manifest.version) {
    pulumi.log.warn(
      `deploying existing tag ${cfg.imageTag} without a build: rollback or promotion ` +
        `(CloudronManifest.json says ${cfg.manifest.version}; the deploy step checks the order against what ${cfg.location} runs)`,
    );
  }
  if (!cfg.build) {
    // Rollback / promotion: the tag must already exist, be public and have linux/amd64. Checked
    // here, during preview too, so a rollback to a missing tag fails before anything happens.
    await checkExistingTag(`${cfg.imageRepository}:${cfg.imageTag}`);
  }
  const token = cfg.cloudronToken ? pulumi.secret(cfg.cloudronToken) : undefined;

  const image = new RegistryImage("image", {
    repository: cfg.imageRepository,
    tag: cfg.imageTag,
    build: cfg.build,
    appDir: cfg.appDir,
    registryUsername: cfg.registryUsername,
    registryPassword: cfg.registryPassword ? pulumi.secret(cfg.registryPassword) : undefined,
  });

  // Every Cloudron step gets the same connection: server, task timeout, busy wait.
  const connection = {
    server: cfg.cloudronServer,
    taskTimeoutSeconds: cfg.cloudronTimeoutSeconds,
    busyWaitSeconds: cfg.busyWaitSeconds,
  };
  // The install sends the whole env (so the first boot has SESSION_SECRET), but the env's values
  // are generated inside AppEnv, which comes after the deploy step: hand them over deferred.
  const [desiredEnv, setDesiredEnv] = pulumi.deferredOutput<DesiredEnv>();
  const [secretEnvValues, setSecretEnvValues] = pulumi.deferredOutput<Record<string, string>>();

  const app = new CloudronApp(
    "app",
    {
      connection,
      location: cfg.location,
      environment: cfg.environment,
      image: image.imageRef,
      build: cfg.build,
      manifest: cfg.manifest.content as DeployRequest["manifest"],
      env: desiredEnv,
      secretEnv: secretEnvValues,
      token,
      autoRollback: cfg.autoRollback,
      health: { baseUrl: cfg.baseUrl, timeoutSeconds: cfg.healthTimeoutSeconds },
      protect: isProduction,
    },
    { dependsOn: [image] },
  );

  const env = new AppEnv("app-env", {
    connection,
    location: cfg.location,
    env: cfg.env,
    secretEnv: pulumi.secret(cfg.secretEnv),
    sessionSecretRotation: cfg.sessionSecretRotation,
    token,
    deployment: app.deployment,
    appId: app.appId,
    owner: app.owner,
  });
  setDesiredEnv(env.desired);
  setSecretEnvValues(env.secretValues);

  const health = new HealthGate("health", {
    baseUrl: cfg.baseUrl,
    location: cfg.location,
    timeoutSeconds: cfg.healthTimeoutSeconds,
    restartedBy: [app.image, env.apply.stdout],
    after: [app.deployment, env.apply],
  });

  const seed = new SeedOnce(
    "seed",
    {
      connection,
      location: cfg.location,
      seedRun: cfg.seedRun,
      image: app.image,
      gate: health.result,
      token,
    },
    { dependsOn: [health.check], protect: isProduction },
  );

  const smoke = cfg.smoke
    ? new SmokeCheck("smoke", {
        baseUrl: cfg.baseUrl,
        email: cfg.smokeEmail,
        after: [health.result, seed.seededAt],
        dependsOn: [seed],
      })
    : undefined;

  return {
    /** Where the app answers. */
    url: cfg.baseUrl,
    location: cfg.location,
    cloudronServer: cfg.cloudronServer,
    environment: cfg.environment,
    /** The image Cloudron runs, and its tag. */
    imageRef: app.image,
    imageTag: cfg.imageTag,
    /** Manifest version the app runs, as read back (a rollback keeps the higher deployed one). */
    manifestVersion: app.version,
    appId: app.appId,
    /** What the last deploy did (installed, adopted, updated, unchanged). */
    deployAction: app.action,
    /** Cloudron's pre-update backup of the last update, if one was listed. */
    preUpdateBackupId: app.backupId,
    previousImage: app.previousImage,
    /** Names (never values) of the env vars this stack manages. */
    envNames: env.names,
    /** Every managed env value as applied (secret): what `npm run drift` compares the live app with. */
    managedEnv: env.managedEnv,
    /** Which managed names are secret (drift shows those as changed/unchanged only). */
    secretEnvNames: pulumi.unsecret(env.secretValues.apply((v) => Object.keys(v).sort())),
    seededAt: seed.seededAt,
    seededImage: seed.seededImage,
    healthCheck: health.result,
    smokeReport: smoke ? smoke.report : "smoke checks disabled (communityrule:smoke = false)",
  };
}

/** The live check (lib/cloudron/liveCheck.ts) with its notes in the Pulumi log. */
async function checkLive(cfg: Parameters<typeof checkLiveApp>[0]): Promise<void> {
  const dryRun = pulumi.runtime.isDryRun();
  try {
    const live = await checkLiveApp(cfg, { dryRun, envToken: process.env.CLOUDRON_TOKEN || undefined });
    for (const note of live.notes) (live.checked ? pulumi.log.info : pulumi.log.warn)(note);
    if (live.release?.kind === "rollback") pulumi.log.warn(live.release.message);
    else if (live.release) pulumi.log.info(live.release.message);
  } catch (err) {
    if (err instanceof LiveCheckError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

/** Anonymous pull check of an existing tag; a failure stops the program with the checker's advice. */
async function checkExistingTag(ref: string): Promise<void> {
  try {
    await verifyAnonymousPull(ref);
  } catch (err) {
    if (err instanceof PullCheckError) {
      throw new pulumi.RunError(`communityrule:imageTag: build is false, so ${ref} must already be pullable: ${err.message}`);
    }
    throw err;
  }
}

export = deploy;
