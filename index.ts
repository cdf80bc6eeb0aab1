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
import { checkReleaseMigrations } from "./lib/release/programMigrations";

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
  // Which migrations this deploy applies or leaves behind; refuses before any resource (issue 14).
  const migrations = checkReleaseMigrations(cfg, projectDir);
  const token = cfg.cloudronToken ? pulumi.secret(cfg.cloudronToken) : undefined;

  const image = new RegistryImage("image", {
    repository: cfg.imageRepository,
    tag: cfg.imageTag,
    build: cfg.build,
    appDir: cfg.appDir,
    registryUsername: cfg.registryUsername,
    registryPassword: cfg.registryPassword ? pulumi.secret(cfg.registryPassword) : undefined,
  });

  const app = new CloudronApp(
    "app",
    {
      server: cfg.cloudronServer,
      location: cfg.location,
      appDir: cfg.appDir,
      image: image.imageRef,
      manifestId: cfg.manifest.id,
      manifestVersion: cfg.manifest.version,
      manifestSha256: cfg.manifest.sha256,
      token,
      timeoutSeconds: cfg.cloudronTimeoutSeconds,
      busyWaitSeconds: cfg.busyWaitSeconds,
      environment: cfg.environment,
      build: cfg.build,
      autoRollback: cfg.autoRollback,
      baseUrl: cfg.baseUrl,
      healthTimeoutSeconds: cfg.healthTimeoutSeconds,
      protect: isProduction,
      releaseMigrations: { kind: migrations.kind, changes: migrations.changes, record: migrations.record },
    },
    { dependsOn: [image] },
  );

  const env = new AppEnv("app-env", {
    server: cfg.cloudronServer,
    location: cfg.location,
    env: cfg.env,
    secretEnv: pulumi.secret(cfg.secretEnv),
    sessionSecretRotation: cfg.sessionSecretRotation,
    token,
    deployment: app.deployment,
    timeoutSeconds: cfg.cloudronTimeoutSeconds,
  });

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
      server: cfg.cloudronServer,
      location: cfg.location,
      seedRun: cfg.seedRun,
      image: app.image,
      gate: health.result,
      token,
      timeoutSeconds: cfg.cloudronTimeoutSeconds,
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
    environment: cfg.environment,
    /** The image Cloudron runs, and its tag. */
    imageRef: app.image,
    imageTag: cfg.imageTag,
    manifestVersion: cfg.manifest.version,
    appId: app.appId,
    /** What the last deploy did (installed, adopted, updated, unchanged). */
    deployAction: app.action,
    /** Cloudron's pre-update backup of the last update, if one was listed. */
    preUpdateBackupId: app.backupId,
    previousImage: app.previousImage,
    /** Migrations the database has been taken through (name, sha256, class), recorded by the deploy. */
    migrations: app.migrations,
    /** Names (never values) of the env vars this stack manages. */
    envNames: env.names,
    seededAt: seed.seededAt,
    seededImage: seed.seededImage,
    healthCheck: health.result,
    smokeReport: smoke ? smoke.report : "smoke checks disabled (communityrule:smoke = false)",
  };
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
