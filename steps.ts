/**
 * THE step list: what `pulumi up` does, in order, as data. The program (index.ts) registers these
 * steps and the offline plan (lib/plan.ts) describes them, both from this one list, so the plan can
 * never tell a reviewer about a step the program does not take (or miss one it does).
 *
 * Each step has three parts:
 * - `describe(cfg)`: the plan's lines for it under this config (empty: the step does nothing);
 * - `check(cfg)`: an optional check run for every step before any resource registers (preview too);
 * - `register(ctx)`: declares its resources, reading earlier steps' resources from `ctx`.
 * Components and the Pulumi SDK are imported inside `check`/`register` (hence async), so the plan
 * reads this list without loading Pulumi.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { DeployConfig } from "./lib/config/stackConfig";
import type { RegistryImage } from "./components/registryImage";
import type { CloudronApp } from "./components/cloudronApp";
import type { AppEnv } from "./components/appEnv";
import type { HealthGate } from "./components/healthGate";
import type { SeedOnce } from "./components/seedOnce";
import type { SmokeCheck } from "./components/smokeCheck";

/** What the steps registered so far; each step adds its resource and its stack outputs. */
export interface StepContext {
  cfg: DeployConfig;
  /** The Cloudron token as a Pulumi secret; absent: the operator's own `cloudron login`. */
  token?: pulumi.Output<string>;
  image?: RegistryImage;
  app?: CloudronApp;
  env?: AppEnv;
  health?: HealthGate;
  seed?: SeedOnce;
  smoke?: SmokeCheck;
  /** Stack outputs the steps contribute (merged after the config's own outputs). */
  outputs: Record<string, unknown>;
}

/** One step of the deploy. */
export interface Step {
  /** Short stable name (`image`, `deploy`, …). */
  id: string;
  /** The plan's lines for this step under `cfg`; empty when the step does nothing. */
  describe(cfg: DeployConfig): string[];
  /** Runs before any resource of any step is registered, during preview too. */
  check?(cfg: DeployConfig): Promise<void>;
  /** Declares the step's resources. */
  register(ctx: StepContext): Promise<void>;
}

/** The resource a step needs from an earlier one; a clear error if the list is out of order. */
function earlier<T>(value: T | undefined, step: string, needs: string): T {
  if (value === undefined) throw new Error(`step "${step}" needs step "${needs}" to come before it in steps.ts`);
  return value;
}

const pulumiSdk = () => import("@pulumi/pulumi");

export const imageStep: Step = {
  id: "image",
  describe: (cfg) => [
    cfg.build
      ? `image: build ${cfg.appDir} for linux/amd64 and push ${cfg.imageRepository}:${cfg.imageTag || "<manifest version>"}`
      : `image: existing tag ${cfg.imageRepository}:${cfg.imageTag}, no build (rollback or promotion)`,
  ],
  async register(ctx) {
    const { RegistryImage } = await import("./components/registryImage");
    const { cfg } = ctx;
    ctx.image = new RegistryImage("image", {
      repository: cfg.imageRepository,
      tag: cfg.imageTag,
      build: cfg.build,
      appDir: cfg.appDir,
      registryUsername: cfg.registryUsername,
      registryPassword: cfg.registryPassword ? (await pulumiSdk()).secret(cfg.registryPassword) : undefined,
    });
  },
};

export const pullCheckStep: Step = {
  id: "pull-check",
  describe: (cfg) => [
    cfg.build
      ? "pull check: anonymous pull of the pushed digest for linux/amd64, as Cloudron pulls it"
      : `pull check: ${cfg.imageRepository}:${cfg.imageTag} must already be pullable anonymously for linux/amd64 (checked before anything else)`,
  ],
  async check(cfg) {
    if (cfg.build) return;
    const pulumi = await pulumiSdk();
    if (cfg.imageTag !== cfg.manifest.version) {
      pulumi.log.warn(
        `deploying existing tag ${cfg.imageTag} without a build: rollback or promotion ` +
          `(CloudronManifest.json says ${cfg.manifest.version}; the deploy step checks the order against what ${cfg.location} runs)`,
      );
    }
    // Rollback / promotion: the tag must already exist, be public and have linux/amd64. Checked
    // before any resource, during preview too, so a rollback to a missing tag fails before anything happens.
    const { verifyAnonymousPull, PullCheckError } = await import("./lib/registry/ociRegistry");
    const ref = `${cfg.imageRepository}:${cfg.imageTag}`;
    try {
      await verifyAnonymousPull(ref);
    } catch (err) {
      if (err instanceof PullCheckError) {
        throw new pulumi.RunError(`communityrule:imageTag: build is false, so ${ref} must already be pullable: ${err.message}`);
      }
      throw err;
    }
  },
  // After a build the check needs the pushed digest, so RegistryImage runs it as its child.
  register: async () => undefined,
};

/**
 * The database migrations the image applies (issue 14): reviewed before any resource registers,
 * so a refused release or rollback fails in preview; the deploy step carries the result.
 */
export const migrationsStep: Step = {
  id: "migrations",
  describe: () => [
    "migrations: list the image's Prisma migrations, classify the new ones (additive / risky / destructive); refuse edited history, migrate reset, and on production unacknowledged risky or destructive ones",
  ],
  async check(cfg) {
    const { checkReleaseMigrations } = await import("./lib/release/programMigrations");
    const { findProjectDir } = await import("./lib/build/sourceStamp");
    checkReleaseMigrations(cfg, findProjectDir(__dirname));
  },
  // The deploy step passes the review on (its request shows it in previews, its result records it).
  register: async () => undefined,
};

export const deployStep: Step = {
  id: "deploy",
  describe: (cfg) => [
    `cloudron inspect on ${cfg.cloudronServer}: wait while ${cfg.location} is busy (≤ ${cfg.busyWaitSeconds} s), stop if it is in error`,
    `install ${cfg.location} if free, adopt it if it runs ${cfg.manifest.id}, update it if the image or manifest changed (Cloudron takes a backup first)`,
    ...(cfg.autoRollback ? ["on a failed health gate after an update: roll back to the previous image and fail"] : []),
  ],
  async register(ctx) {
    const { CloudronApp } = await import("./components/cloudronApp");
    const { reviewForDeploy } = await import("./lib/release/programMigrations");
    const { findProjectDir } = await import("./lib/build/sourceStamp");
    const { cfg } = ctx;
    const image = earlier(ctx.image, "deploy", "image");
    const migrations = reviewForDeploy(cfg, findProjectDir(__dirname));
    ctx.app = new CloudronApp(
      "app",
      {
        server: cfg.cloudronServer,
        location: cfg.location,
        appDir: cfg.appDir,
        image: image.imageRef,
        manifestId: cfg.manifest.id,
        manifestVersion: cfg.manifest.version,
        manifestSha256: cfg.manifest.sha256,
        token: ctx.token,
        timeoutSeconds: cfg.cloudronTimeoutSeconds,
        busyWaitSeconds: cfg.busyWaitSeconds,
        environment: cfg.environment,
        build: cfg.build,
        autoRollback: cfg.autoRollback,
        baseUrl: cfg.baseUrl,
        healthTimeoutSeconds: cfg.healthTimeoutSeconds,
        protect: cfg.environment === "production",
        releaseMigrations: { kind: migrations.kind, changes: migrations.changes, record: migrations.record },
      },
      { dependsOn: [image] },
    );
    Object.assign(ctx.outputs, {
      /** The image Cloudron runs. */
      imageRef: ctx.app.image,
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

export const envStep: Step = {
  id: "env",
  describe: () => ["apply env: one cloudron env set with changed keys, one env unset with removed keys"],
  async register(ctx) {
    const { AppEnv } = await import("./components/appEnv");
    const { cfg } = ctx;
    const app = earlier(ctx.app, "env", "deploy");
    ctx.env = new AppEnv("app-env", {
      server: cfg.cloudronServer,
      location: cfg.location,
      env: cfg.env,
      secretEnv: (await pulumiSdk()).secret(cfg.secretEnv),
      sessionSecretRotation: cfg.sessionSecretRotation,
      token: ctx.token,
      deployment: app.deployment,
      timeoutSeconds: cfg.cloudronTimeoutSeconds,
    });
    /** Names (never values) of the env vars this stack manages. */
    ctx.outputs.envNames = ctx.env.names;
  },
};

export const healthStep: Step = {
  id: "health",
  describe: (cfg) => [`health gate: ${cfg.baseUrl}/api/health until ok + database connected (≤ ${cfg.healthTimeoutSeconds} s)`],
  async register(ctx) {
    const { HealthGate } = await import("./components/healthGate");
    const { cfg } = ctx;
    const app = earlier(ctx.app, "health", "deploy");
    const env = earlier(ctx.env, "health", "env");
    ctx.health = new HealthGate("health", {
      baseUrl: cfg.baseUrl,
      location: cfg.location,
      timeoutSeconds: cfg.healthTimeoutSeconds,
      restartedBy: [app.image, env.apply.stdout],
      after: [app.deployment, env.apply],
    });
    ctx.outputs.healthCheck = ctx.health.result;
  },
};

export const seedStep: Step = {
  id: "seed",
  describe: (cfg) => [`seed once: node prisma/seed.bundle.cjs (seedRun ${cfg.seedRun})`],
  async register(ctx) {
    const { SeedOnce } = await import("./components/seedOnce");
    const { cfg } = ctx;
    const app = earlier(ctx.app, "seed", "deploy");
    const health = earlier(ctx.health, "seed", "health");
    ctx.seed = new SeedOnce(
      "seed",
      {
        server: cfg.cloudronServer,
        location: cfg.location,
        seedRun: cfg.seedRun,
        image: app.image,
        gate: health.result,
        token: ctx.token,
        timeoutSeconds: cfg.cloudronTimeoutSeconds,
      },
      { dependsOn: [health.check], protect: cfg.environment === "production" },
    );
    Object.assign(ctx.outputs, { seededAt: ctx.seed.seededAt, seededImage: ctx.seed.seededImage });
  },
};

export const smokeStep: Step = {
  id: "smoke",
  describe: (cfg) => (cfg.smoke ? [`smoke checks against ${cfg.baseUrl}`] : []),
  async register(ctx) {
    const { cfg } = ctx;
    if (!cfg.smoke) {
      ctx.outputs.smokeReport = "smoke checks disabled (communityrule:smoke = false)";
      return;
    }
    const { SmokeCheck } = await import("./components/smokeCheck");
    const health = earlier(ctx.health, "smoke", "health");
    const seed = earlier(ctx.seed, "smoke", "seed");
    ctx.smoke = new SmokeCheck("smoke", {
      baseUrl: cfg.baseUrl,
      email: cfg.smokeEmail,
      after: [health.result, seed.seededAt],
      dependsOn: [seed],
    });
    ctx.outputs.smokeReport = ctx.smoke.report;
  },
};

/** The deploy, in order: image → pull check → migration review → Cloudron app → env → health gate → seed once → smoke. */
export const STEPS: readonly Step[] = [imageStep, pullCheckStep, migrationsStep, deployStep, envStep, healthStep, seedStep, smokeStep];

/** Runs every step's check, then registers every step in order; returns the steps' outputs. */
export async function registerSteps(cfg: DeployConfig, steps: readonly Step[] = STEPS): Promise<Record<string, unknown>> {
  for (const step of steps) await step.check?.(cfg);
  const pulumi = await pulumiSdk();
  const ctx: StepContext = { cfg, token: cfg.cloudronToken ? pulumi.secret(cfg.cloudronToken) : undefined, outputs: {} };
  for (const step of steps) await step.register(ctx);
  return ctx.outputs;
}

/** The plan's numbered operations: every step's description, in order. */
export function describeSteps(cfg: DeployConfig, steps: readonly Step[] = STEPS): string[] {
  return steps.flatMap((step) => step.describe(cfg));
}
