/**
 * The pull check: Cloudron pulls the image anonymously for linux/amd64, so the deploy checks that it
 * can. A check-only step: an existing tag (rollback) is checked here, before any resource; after a
 * build the check needs the pushed digest, so the image step's RegistryImage runs it as its child
 * (tools/verifyPull.ts, steps/pull-check/verifyPull.ts).
 */
import type { CheckStep } from "../../steps";

export const pullCheckStep: CheckStep = {
  id: "pull-check",
  describe: (cfg) => [
    cfg.build
      ? "pull check: anonymous pull of the pushed digest for linux/amd64, as Cloudron pulls it"
      : `pull check: ${cfg.imageRepository}:${cfg.imageTag} must already be pullable anonymously ` +
        `for linux/amd64 (checked before anything else)`,
  ],
  async check(cfg, found) {
    // Production's promotion already ran the same anonymous pull check on the tag.
    if (cfg.build || found.promotion) return;
    const pulumi = await import("@pulumi/pulumi");
    // Config alone decides this note, so it is said once: in the preview pass that starts every
    // `up` (pulumi/pulumi pkg/backend/apply.go) and every `pulumi preview`, not again in the update.
    if (cfg.imageTag !== cfg.manifest.version && pulumi.runtime.isDryRun()) {
      pulumi.log.warn(
        `deploying existing tag ${cfg.imageTag} without a build: rollback or promotion ` +
          `(CloudronManifest.json says ${cfg.manifest.version}; ` +
          `the deploy step checks the order against what ${cfg.location} runs)`,
      );
    }
    // Rollback / promotion: the tag must already exist, be public and have linux/amd64. Checked
    // before any resource, during preview too, so a rollback to a missing tag fails before anything happens.
    const { verifyAnonymousPull, PullCheckError } = await import("../../registry/ociRegistry");
    const ref = `${cfg.imageRepository}:${cfg.imageTag}`;
    try {
      await verifyAnonymousPull(ref);
    } catch (err) {
      if (err instanceof PullCheckError) {
        throw new pulumi.RunError(
          `communityrule:imageTag: build is false, so ${ref} must already be pullable: ${err.message}`,
        );
      }
      throw err;
    }
  },
};
