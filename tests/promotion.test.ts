/**
 * Release tags never change and production promotes: against a REAL docker-registry (the same
 * binary the lifecycle tests push to), with real OCI content pushed under a release tag.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushImage, startRegistry, type RunningRegistry } from "../engine/registry";
import { judgeReleaseTagPush, PromotionError, releaseTagState, verifiedImageFor } from "../steps/image/promotion";

const REPO = "communityrule/community-rule";
let registry: RunningRegistry;
let pushed: string;

beforeAll(async () => {
  registry = await startRegistry();
  pushed = (await pushImage(registry.host, REPO, "0.1.9", { seed: "staging build" })).digest;
});
afterAll(async () => registry?.stop());

describe("verifiedImageFor: the digest production deploys for a version", () => {
  it("is the registry's answer for the immutable tag, by digest", async () => {
    const image = await verifiedImageFor(`${registry.host}/${REPO}`, "0.1.9");
    expect(image).toMatchObject({ ref: `${registry.host}/${REPO}@${pushed}`, digest: pushed, source: "registry" });
    expect(image.describe).toContain("the registry's answer for the immutable tag");
  });

  it("is staging's record when it names the version and agrees with the registry", async () => {
    const image = await verifiedImageFor(`${registry.host}/${REPO}`, "0.1.9", {
      staging: { version: "0.1.9", image: `${registry.host}/${REPO}@${pushed}` },
    });
    expect(image.source).toBe("staging-record");
    expect(image.digest).toBe(pushed);
  });

  it("refuses when staging's record and the tag disagree (the tag was changed by someone else)", async () => {
    const other = "sha256:" + "1".repeat(64);
    await expect(
      verifiedImageFor(`${registry.host}/${REPO}`, "0.1.9", {
        staging: { version: "0.1.9", image: `${registry.host}/${REPO}@${other}` },
      }),
    ).rejects.toThrow(/points at sha256:[0-9a-f]{64}, but staging verified sha256:1{64}/);
  });

  it("refuses a version staging never released, saying to release it on staging first", async () => {
    const err = await verifiedImageFor(`${registry.host}/${REPO}`, "0.1.42").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PromotionError);
    expect((err as Error).message).toMatch(
      /no verified image for 0\.1\.42: tag 0\.1\.42 not found.*pulumi up -s staging/,
    );
  });
});

describe("release tags never change", () => {
  it("a new tag may be pushed", async () => {
    const state = await releaseTagState(`${registry.host}/${REPO}`, "0.1.10");
    expect(state).toEqual({ exists: false });
    expect(judgeReleaseTagPush({ repository: REPO, tag: "0.1.10", registry: state })).toMatchObject({ ok: true });
  });

  it(
    "an existing tag is refused before the build unless it is" +
      " exactly what this stack shipped from this clean commit",
    async () => {
      const state = await releaseTagState(`${registry.host}/${REPO}`, "0.1.9");
      expect(state).toEqual({ exists: true, digest: pushed });
      const refused = judgeReleaseTagPush({
        repository: REPO,
        tag: "0.1.9",
        registry: state,
        checkout: { commit: "c1", dirty: false },
      });
      expect(refused).toMatchObject({ ok: false });
      expect(!refused.ok && refused.message).toMatch(
        /already exists \(sha256:[0-9a-f]+\) and release tags never change.*Bump version in CloudronManifest\.json/,
      );
      const shipped = { image: `${REPO}@${pushed}`, commit: "c1" };
      expect(
        judgeReleaseTagPush({
          repository: REPO,
          tag: "0.1.9",
          registry: state,
          shipped,
          checkout: { commit: "c1", dirty: false },
        }).ok,
      ).toBe(true);
      // Edited checkout or another commit at the same version: a rebuild would push other content.
      expect(
        judgeReleaseTagPush({
          repository: REPO,
          tag: "0.1.9",
          registry: state,
          shipped,
          checkout: { commit: "c1", dirty: true },
        }).ok,
      ).toBe(false);
      expect(
        judgeReleaseTagPush({
          repository: REPO,
          tag: "0.1.9",
          registry: state,
          shipped,
          checkout: { commit: "c2", dirty: false },
        }).ok,
      ).toBe(false);
    },
  );
});
