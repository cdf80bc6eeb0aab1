/**
 * Release tags are immutable, and production runs what staging verified.
 *
 * The runbook (seeds/000 §3 "build once, update staging, then production with the same image")
 * builds one image per release; the app's Dockerfile runs `npm install`, so a second build of the
 * same commit gives another digest. Two rules follow:
 * - a push to `repo:<version>` that already exists with another digest is refused before the
 *   build ({@link judgeReleaseTagPush});
 * - production never builds: it deploys `repo@<digest>` where the digest is the registry's
 *   answer for the immutable tag, or the digest staging recorded for that version
 *   ({@link verifiedImageFor}).
 *
 * The registry is read with the anonymous pull check (registry/ociRegistry.ts), which is how
 * Cloudron itself fetches the image: the digest it returns is the digest of the manifest bytes
 * the registry served for the tag (OCI distribution spec, "Pulling manifests").
 */
import { PullCheckError, verifyAnonymousPull } from "../../registry/ociRegistry";

/** The image production deploys for a version, and where its digest came from. */
export interface VerifiedImage {
  /** `repo@sha256:…`: what Cloudron is told to run. */
  ref: string;
  digest: string;
  /** `registry`: the registry's answer for the immutable tag; `staging-record`: staging's release record. */
  source: "registry" | "staging-record";
  /** One line for the plan and the up log. */
  describe: string;
}

/** A digest staging recorded for a version (its release record on Cloudron). */
export interface StagingRecord {
  version: string;
  /** `repo@sha256:…` staging runs. */
  image: string;
}

/** Thrown with an operator-facing message when no verified image exists for the version. */
export class PromotionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PromotionError";
  }
}

/** The digest part of `repo@sha256:…`; undefined for a tag reference. */
export function digestOfImage(image: string): string | undefined {
  const at = image.lastIndexOf("@");
  return at >= 0 ? image.slice(at + 1) : undefined;
}

/**
 * The image production runs for `version`: staging's record when it names that version (no
 * network), else the registry's answer for the immutable tag `repository:version` (which is what
 * staging pushed, since a release tag cannot be re-pushed with other content). When both exist and
 * disagree, the tag was overwritten outside this program: refused.
 */
export async function verifiedImageFor(
  repository: string,
  version: string,
  opts: { staging?: StagingRecord; timeoutMs?: number } = {},
): Promise<VerifiedImage> {
  const tagRef = `${repository}:${version}`;
  let fromRegistry: string | undefined;
  try {
    fromRegistry = (await verifyAnonymousPull(tagRef, { timeoutMs: opts.timeoutMs })).digest;
  } catch (err) {
    if (!(err instanceof PullCheckError)) throw err;
    if (err.kind !== "tag-missing" || !opts.staging || opts.staging.version !== version) {
      throw new PromotionError(
        `no verified image for ${version}: ${err.message}. Production deploys only what staging built and verified: ` +
          `release ${version} on staging first (pulumi up -s staging), then run production again`,
      );
    }
  }
  const recorded = opts.staging && opts.staging.version === version ? digestOfImage(opts.staging.image) : undefined;
  if (recorded && fromRegistry && recorded !== fromRegistry) {
    throw new PromotionError(
      `${tagRef} points at ${fromRegistry}, but staging verified ${recorded} for ${version}: the release tag was ` +
        `changed outside ` +
        `this program. Find out who pushed it; deploy staging's digest explicitly or release a new version`,
    );
  }
  if (recorded) {
    return {
      ref: `${repository}@${recorded}`,
      digest: recorded,
      source: "staging-record",
      describe: `${version} by digest ${recorded} (staging's release record)`,
    };
  }
  const digest = fromRegistry as string;
  return {
    ref: `${repository}@${digest}`,
    digest,
    source: "registry",
    describe: `${version} by digest ${digest} (the registry's answer for the immutable tag ${tagRef})`,
  };
}

/** What the registry holds for a release tag before a push. */
export type TagState = { exists: false } | { exists: true; digest: string };

/** Asks the registry (anonymously, as Cloudron pulls) what `repository:tag` points at now. */
export async function releaseTagState(
  repository: string,
  tag: string,
  opts: { timeoutMs?: number } = {},
): Promise<TagState> {
  try {
    return {
      exists: true,
      digest: (await verifyAnonymousPull(`${repository}:${tag}`, { timeoutMs: opts.timeoutMs })).digest,
    };
  } catch (err) {
    if (err instanceof PullCheckError && err.kind === "tag-missing") return { exists: false };
    throw err;
  }
}

/**
 * Whether a build may push `repository:tag`. A tag that does not exist yet may be pushed. One
 * that exists may only be "pushed" again when nothing would change: the build is the one this
 * stack already shipped (its release record names that tag's digest and the checkout's commit,
 * clean). Anything else would overwrite a released tag, so a later rollback or promotion by tag
 * would pull other content than was verified.
 */
export function judgeReleaseTagPush(input: {
  repository: string;
  tag: string;
  registry: TagState;
  /** What this stack's app records it runs, when it records this tag's version. */
  shipped?: { image: string; commit?: string };
  /** The checkout's HEAD and whether it has uncommitted changes (undefined: not a git checkout). */
  checkout?: { commit: string; dirty: boolean };
}): { ok: true; note: string } | { ok: false; message: string } {
  const { repository, tag, registry } = input;
  if (!registry.exists)
    return { ok: true, note: `${repository}:${tag} is new: this build pushes it once; it never changes afterwards` };
  const shippedDigest = input.shipped ? digestOfImage(input.shipped.image) : undefined;
  const sameBuild =
    shippedDigest === registry.digest &&
    !!input.checkout &&
    !input.checkout.dirty &&
    !!input.shipped?.commit &&
    input.shipped.commit === input.checkout.commit;
  if (sameBuild)
    return { ok: true, note: `${repository}:${tag} is the image this stack shipped (${registry.digest}); no new push` };
  return {
    ok: false,
    message:
      `${repository}:${tag} already exists (${registry.digest}) and release tags never change: a new build of ` +
      `${tag} would push ` +
      `other content under it (the Dockerfile's npm install makes every build differ). Bump version in ` +
      `CloudronManifest.json ` +
      `for a new release, or deploy the existing tag without building: pulumi config set build false (production ` +
      `always does).`,
  };
}
