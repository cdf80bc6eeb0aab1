import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as command from "@pulumi/command";
import { releaseTagGuardCommand, verifyPullCommand } from "../../lib/commandLines";

/** Arguments of {@link RegistryImage}. */
export interface RegistryImageArgs {
  /** Repository without tag, e.g. `git.medlab.host/communityrule/community-rule`. */
  repository: string;
  /** Tag to build and push (or to deploy as is when `build` is false), e.g. `0.1.10`. */
  tag: string;
  /** Build and push from `appDir` when true; deploy the existing tag when false (rollback, promotion). */
  build: boolean;
  /** App checkout used as the build context (holds the Dockerfile), relative to the project. */
  appDir: string;
  /** Push credentials; required when `build` is true. The password is a secret. */
  registryUsername?: pulumi.Input<string>;
  registryPassword?: pulumi.Input<string>;
  /**
   * Fingerprint of the build's sources (release/releaseHistory.ts sourceFingerprint). For a
   * release tag (plain X.Y.Z) the build first runs a guard that refuses to push over an existing
   * tag; the guard runs again whenever this changes, i.e. whenever the build could push other content.
   */
  sourceFingerprint?: string;
  /**
   * With `build` false: the image to run by digest (`repo@sha256:…`, production's promotion) instead of
   * `repo:tag`.
   */
  verifiedImage?: string;
}

/**
 * The container image Cloudron runs: built for linux/amd64 (the Cloudron host is x86_64, whatever
 * the laptop is) and pushed to the registry, then checked with an anonymous pull, which is how
 * Cloudron itself fetches it. With `build: false` nothing is built or pushed.
 */
export class RegistryImage extends pulumi.ComponentResource {
  /** What Cloudron is told to run: `repo@sha256:…` after a build, `repo:tag` otherwise. */
  public readonly imageRef: pulumi.Output<string>;
  /** `repo:tag`, the human-readable name of the same image. */
  public readonly taggedName: pulumi.Output<string>;
  /** Digest of the pushed image; empty when nothing was built. */
  public readonly repoDigest: pulumi.Output<string>;
  /** The anonymous pull check's report line (after a build); empty otherwise. */
  public readonly pullCheck: pulumi.Output<string>;

  constructor(name: string, args: RegistryImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("communityrule:image:RegistryImage", name, {}, opts);
    const taggedName = `${args.repository}:${args.tag}`;
    this.taggedName = pulumi.output(taggedName);

    if (args.build) {
      if (!args.registryUsername || !args.registryPassword) {
        throw new pulumi.ResourceError("RegistryImage: build needs registryUsername and registryPassword", this);
      }
      // Release tags never change: before a build that may push X.Y.Z, the registry is asked
      // whether X.Y.Z exists. The guard re-runs only when the sources or the tag change; when
      // neither does, docker.Image does not push either. Other tags (pr-<n>-<sha>) may move.
      const guard = /^\d+\.\d+\.\d+$/.test(args.tag)
        ? new command.local.Command(
            `${name}-tag-guard`,
            {
              create: releaseTagGuardCommand({ image: taggedName }),
              environment: { CR_BUILD_SOURCES: args.sourceFingerprint ?? "" },
            },
            { parent: this },
          )
        : undefined;
      const image = new docker.Image(
        name,
        {
          imageName: taggedName,
          build: {
            context: args.appDir,
            dockerfile: `${args.appDir}/Dockerfile`,
            // Without this an arm64 laptop pushes an image the x86_64 Cloudron host cannot run.
            platform: "linux/amd64",
          },
          registry: {
            server: args.repository.split("/")[0],
            username: args.registryUsername,
            password: args.registryPassword,
          },
        },
        { parent: this, dependsOn: guard ? [guard] : [] },
      );
      this.repoDigest = image.repoDigest;
      // Cloudron runs the digest, so a re-pushed tag can never change what is deployed unseen.
      this.imageRef = image.repoDigest;
      const check = new command.local.Command(
        `${name}-pull-check`,
        { create: image.repoDigest.apply((ref) => verifyPullCommand({ image: ref })) },
        { parent: this, dependsOn: [image] },
      );
      this.pullCheck = check.stdout;
    } else {
      this.repoDigest = pulumi.output(
        args.verifiedImage ? args.verifiedImage.slice(args.verifiedImage.lastIndexOf("@") + 1) : "",
      );
      this.imageRef = pulumi.output(args.verifiedImage ?? taggedName);
      this.pullCheck = pulumi.output("");
    }

    this.registerOutputs({
      imageRef: this.imageRef,
      taggedName: this.taggedName,
      repoDigest: this.repoDigest,
      pullCheck: this.pullCheck,
    });
  }
}
