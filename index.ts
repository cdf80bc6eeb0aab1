/**
 * CommunityRule on MEDLab's Cloudron: one stack per environment (staging, production).
 * Reads and validates the stack config, then composes the steps of the runbook:
 * image → Cloudron app (install / adopt / update) → env → health gate → seed once → smoke.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadDeployConfig } from "./lib/programConfig";
import { RegistryImage } from "./components/registryImage";
import { CloudronApp } from "./components/cloudronApp";
import { AppEnv } from "./components/appEnv";
import { HealthGate } from "./components/healthGate";
import { SeedOnce } from "./components/seedOnce";
import { SmokeCheck } from "./components/smokeCheck";

const cfg = loadDeployConfig(__dirname);
const isProduction = cfg.environment === "production";
if (!cfg.build && cfg.imageTag !== cfg.manifest.version) {
  pulumi.log.warn(
    `deploying existing tag ${cfg.imageTag} without a build: rollback or promotion ` +
      `(CloudronManifest.json says ${cfg.manifest.version}; the deploy step checks the order against what ${cfg.location} runs)`,
  );
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

/** Where the app answers. */
export const url = cfg.baseUrl;
export const location = cfg.location;
export const environment = cfg.environment;
/** The image Cloudron runs, and its tag. */
export const imageRef = app.image;
export const imageTag = cfg.imageTag;
export const manifestVersion = cfg.manifest.version;
export const appId = app.appId;
/** What the last deploy did (installed, adopted, updated, unchanged). */
export const deployAction = app.action;
/** Cloudron's pre-update backup of the last update, if one was listed. */
export const preUpdateBackupId = app.backupId;
export const previousImage = app.previousImage;
/** Names (never values) of the env vars this stack manages. */
export const envNames = env.names;
export const seededAt = seed.seededAt;
export const seededImage = seed.seededImage;
export const healthCheck = health.result;
export const smokeReport = smoke ? smoke.report : "smoke checks disabled (communityrule:smoke = false)";
