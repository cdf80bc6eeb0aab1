/**
 * The image: built and pushed (staging), or an existing release tag deployed by digest (production's
 * promotion, rollbacks). Its checks refuse, before anything changes, an image below the seed floor
 * and a promotion the registry cannot serve.
 */
import type { ResourceStep } from "../../steps";

export const imageStep: ResourceStep = {
  id: "image",
  describe: (cfg) => [
    cfg.build
      ? `image: build ${cfg.appDir} for linux/amd64 and push ` +
        `${cfg.imageRepository}:${cfg.imageTag || "<manifest version>"} ` +
        `(a release tag X.Y.Z only if the registry does not have it yet: release tags never change)`
      : `image: existing tag ${cfg.imageRepository}:${cfg.imageTag}, no build (rollback or promotion)`,
  ],
  async check(cfg, found) {
    const pulumi = await import("@pulumi/pulumi");
    // The seed step's rule, checked first of all image checks: an image below the seed floor
    // cannot run the seed (no seed data in it), so it is refused before anything changes.
    const { seedFloorProblem } = await import("../seed/seedContent");
    const isRollback = !cfg.build && cfg.imageTag !== cfg.manifest.version;
    const problem = seedFloorProblem(
      cfg.build ? cfg.manifest.version : cfg.imageTag,
      cfg.seedFloor,
      isRollback ? "rollback" : "release",
    );
    if (problem) throw new pulumi.RunError(problem);
    if (cfg.environment !== "production") return;
    // Production promotes: the release tag staging pushed (release tags never change) is deployed
    // by digest, with no build and no push; so are rollbacks. The config rules refuse build: true.
    const { PromotionError, verifiedImageFor } = await import("./promotion");
    const version = cfg.imageTag;
    try {
      found.promotion = await verifiedImageFor(cfg.imageRepository, version);
      pulumi.log.info(`image: production deploys ${found.promotion.describe}; no build, no push`);
    } catch (err) {
      if (err instanceof PromotionError) throw new pulumi.RunError(`communityrule:imageTag: ${err.message}`);
      const { PullCheckError } = await import("../../registry/ociRegistry");
      if (err instanceof PullCheckError)
        throw new pulumi.RunError(
          `communityrule:imageRepository: cannot ask the registry about ${version}: ${err.message}`,
        );
      throw err;
    }
  },
  async register(ctx) {
    const pulumi = await import("@pulumi/pulumi");
    const { RegistryImage } = await import("./registryImage");
    const { sourceFingerprint } = await import("../../release/releaseHistory");
    const { findProjectDir } = await import("../../lib/projectDir");
    const path = await import("node:path");
    const { cfg } = ctx;
    const promotion = ctx.found.promotion;
    ctx.image = new RegistryImage("image", {
      repository: cfg.imageRepository,
      tag: cfg.imageTag,
      build: cfg.build && !promotion,
      verifiedImage: promotion?.ref,
      appDir: cfg.appDir,
      registryUsername: cfg.registryUsername,
      registryPassword: cfg.registryPassword ? pulumi.secret(cfg.registryPassword) : undefined,
      sourceFingerprint: cfg.build ? sourceFingerprint(path.resolve(findProjectDir(__dirname), cfg.appDir)) : undefined,
    });
  },
};
