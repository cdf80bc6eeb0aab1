/**
 * Release ordering rules: is this deploy a first deploy, a release, a no-op, or a rollback, and is
 * it allowed at all? Pure functions (semver only), used by the deploy tool once it has seen the
 * version the app actually runs (`cloudron inspect`), and unit-tested in tests/versionRules.test.ts.
 *
 * Two versions describe a running app:
 * - `deployedVersion`: the `version` of the manifest Cloudron holds. Cloudron refuses to go below
 *   it, so it never decreases, not even on a rollback (see {@link manifestVersionToSend}).
 * - `deployedTag`: the tag of the image it runs, when the image is `repo:X.Y.Z` (a deploy with
 *   `build: false`); after a build the image is `repo@sha256:…` and carries no tag.
 * The code actually running is the tag when there is one, else the manifest version.
 */
import * as semver from "../lib/semver";

export interface ReleaseInput {
  /** Stack environment (named in messages). */
  environment: string;
  /** True: build and push from the checkout (a release of the manifest version). */
  build: boolean;
  /** The image tag to deploy (config imageTag, defaulting to the manifest version). */
  tag: string;
  /** `version` of the checkout's CloudronManifest.json. */
  manifestVersion: string;
  /** Manifest version Cloudron holds for the app; undefined when nothing is installed. */
  deployedVersion?: string;
  /** Tag of the image the app runs, when it runs a tagged (not digest) image. */
  deployedTag?: string;
}

export type ReleaseKind = "first-deploy" | "release" | "same" | "rollback";

export interface ReleaseDecision {
  kind: ReleaseKind;
  message: string;
}

/**
 * The one "plain semver" check: X.Y.Z with no prerelease, build metadata or `v` prefix. Release
 * tags and Cloudron manifest versions must be plain; config, plan and deploy tool all ask here.
 */
export function isPlainSemver(v: string): boolean {
  return /^\d+\.\d+\.\d+$/.test(v) && semver.valid(v) === v;
}

/** Plain X.Y.Z (what release tags and manifest versions are); anything else is not ordered. */
function plain(v: string | undefined): string | undefined {
  return v !== undefined && isPlainSemver(v) ? v : undefined;
}

/** The tag of an image reference `repo:tag` (a registry port is not a tag); undefined for digests. */
export function tagOfImage(image: string): string | undefined {
  if (!image || image.includes("@")) return undefined;
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  return colon > slash ? image.slice(colon + 1) : undefined;
}

/**
 * Decides what a deploy is, relative to what runs now. Throws (operator-facing message) when a
 * build would go below the deployed version: that is a downgrade nobody asked for, and Cloudron
 * would refuse it anyway after the image had already been pushed.
 */
export function decideRelease(input: ReleaseInput): ReleaseDecision {
  const { environment, build, tag, manifestVersion } = input;
  const deployedVersion = plain(input.deployedVersion);
  if (input.deployedVersion === undefined || input.deployedVersion === "") {
    return { kind: "first-deploy", message: `first deploy of ${build ? manifestVersion : tag} to ${environment}` };
  }

  if (build) {
    const want = plain(manifestVersion);
    if (!want || !deployedVersion) {
      return {
        kind: "release",
        message: `${environment}: building ${manifestVersion} over ${input.deployedVersion} (versions not comparable)`,
      };
    }
    if (semver.lt(want, deployedVersion)) {
      throw new Error(
        `downgrade without rollback intent: deployed ${deployedVersion}, manifest ${want}; ` +
          `to roll back set build: false and imageTag: ${want}`,
      );
    }
    if (semver.eq(want, deployedVersion)) {
      return { kind: "same", message: `${environment}: building ${want} again (same version as deployed)` };
    }
    return { kind: "release", message: `${environment}: release ${deployedVersion} → ${want}` };
  }

  // build: false deploys an existing tag. The code running now is its tag if it has one.
  const running = plain(input.deployedTag) ?? deployedVersion;
  const want = plain(tag);
  if (!want || !running) {
    return {
      kind: "release",
      message:
        `${environment}: deploying existing tag ${tag} over ${input.deployedTag || input.deployedVersion} ` +
        "(not ordered versions; no rollback check)",
    };
  }
  if (semver.lt(want, running)) {
    return {
      kind: "rollback",
      message:
        `ROLLBACK: ${environment} goes from ${running} back to ${want}; ` +
        `database migrations applied by ${running} are NOT undone`,
    };
  }
  if (semver.eq(want, running))
    return { kind: "same", message: `${environment}: ${want} is already the deployed version` };
  return { kind: "release", message: `${environment}: promoting existing tag ${want} over ${running}` };
}

/**
 * The manifest version to hand Cloudron with `cloudron update`. Cloudron refuses a manifest
 * version lower than the one it holds ("Downgrades are not permitted"), so a deploy of an existing
 * tag (rollback, or the automatic rollback to the previous image) keeps the deployed, higher
 * manifest version and changes only the image. A build always sends the checkout's version
 * ({@link decideRelease} has already refused a lower one).
 */
export function manifestVersionToSend(a: {
  build: boolean;
  manifestVersion: string;
  deployedVersion?: string;
}): string {
  const deployed = plain(a.deployedVersion);
  const mine = plain(a.manifestVersion);
  if (a.build || !deployed || !mine) return a.manifestVersion;
  return semver.lt(mine, deployed) ? deployed : mine;
}
