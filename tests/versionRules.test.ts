import { describe, expect, it } from "vitest";
import { decideRelease, manifestVersionToSend, tagOfImage } from "../release/versionRules";

const base = { environment: "production", build: true, tag: "0.1.10", manifestVersion: "0.1.10" };

describe("decideRelease", () => {
  it("nothing deployed: first deploy", () => {
    expect(decideRelease(base).kind).toBe("first-deploy");
    expect(decideRelease({ ...base, deployedVersion: "" }).kind).toBe("first-deploy");
  });

  it("a higher manifest version with build: release", () => {
    const d = decideRelease({ ...base, deployedVersion: "0.1.9" });
    expect(d).toEqual({ kind: "release", message: "production: release 0.1.9 → 0.1.10" });
  });

  it("compares numerically, not as text (0.1.10 > 0.1.9)", () => {
    expect(decideRelease({ ...base, deployedVersion: "0.1.9" }).kind).toBe("release");
    expect(() =>
      decideRelease({ ...base, tag: "0.1.9", manifestVersion: "0.1.9", deployedVersion: "0.1.10" }),
    ).toThrow();
  });

  it("the same version with build: same", () => {
    expect(decideRelease({ ...base, deployedVersion: "0.1.10" }).kind).toBe("same");
  });

  it("a lower manifest version with build: refused, with the way to roll back", () => {
    expect(() => decideRelease({ ...base, tag: "0.1.9", manifestVersion: "0.1.9", deployedVersion: "0.1.10" })).toThrow(
      "downgrade without rollback intent: deployed 0.1.10, manifest" +
        " 0.1.9; to roll back set build: false and imageTag: 0.1.9",
    );
  });

  it("build false with an older tag: rollback, with the migrations warning", () => {
    const d = decideRelease({ ...base, build: false, tag: "0.1.9", deployedVersion: "0.1.10" });
    expect(d.kind).toBe("rollback");
    expect(d.message).toBe(
      "ROLLBACK: production goes from 0.1.10 back to 0.1.9; database migrations applied by 0.1.10 are NOT undone",
    );
  });

  it("build false: the running image's tag wins over the (never decreasing) manifest version", () => {
    // After a rollback Cloudron still holds manifest 0.1.10 but runs repo:0.1.9.
    expect(
      decideRelease({ ...base, build: false, tag: "0.1.9", deployedVersion: "0.1.10", deployedTag: "0.1.9" }).kind,
    ).toBe("same");
    expect(
      decideRelease({ ...base, build: false, tag: "0.1.10", deployedVersion: "0.1.10", deployedTag: "0.1.9" }).kind,
    ).toBe("release");
  });

  it("build false with a newer or equal tag: promotion or same", () => {
    expect(decideRelease({ ...base, build: false, tag: "0.1.11", deployedVersion: "0.1.10" }).kind).toBe("release");
    expect(decideRelease({ ...base, build: false, tag: "0.1.10", deployedVersion: "0.1.10" }).kind).toBe("same");
  });

  it("build false with a SHA tag (staging): not ordered, never refused", () => {
    const d = decideRelease({
      ...base,
      environment: "staging",
      build: false,
      tag: "abc1234",
      deployedVersion: "0.1.10",
    });
    expect(d.kind).toBe("release");
    expect(d.message).toContain("no rollback check");
  });
});

describe("manifestVersionToSend", () => {
  it("a build sends the checkout's version", () => {
    expect(manifestVersionToSend({ build: true, manifestVersion: "0.1.10", deployedVersion: "0.1.9" })).toBe("0.1.10");
  });
  it("an existing tag keeps the deployed, higher manifest version (image-only change)", () => {
    expect(manifestVersionToSend({ build: false, manifestVersion: "0.1.9", deployedVersion: "0.1.10" })).toBe("0.1.10");
    expect(manifestVersionToSend({ build: false, manifestVersion: "0.1.10", deployedVersion: "0.1.9" })).toBe("0.1.10");
    expect(manifestVersionToSend({ build: false, manifestVersion: "0.1.9" })).toBe("0.1.9");
  });
});

describe("tagOfImage", () => {
  it("reads the tag, not a registry port, and nothing from a digest", () => {
    expect(tagOfImage("git.medlab.host/communityrule/community-rule:0.1.9")).toBe("0.1.9");
    expect(tagOfImage("127.0.0.1:5000/communityrule/community-rule:0.1.9")).toBe("0.1.9");
    expect(tagOfImage("127.0.0.1:5000/communityrule/community-rule")).toBeUndefined();
    expect(tagOfImage("127.0.0.1:5000/communityrule/community-rule@sha256:abcd")).toBeUndefined();
  });
});
