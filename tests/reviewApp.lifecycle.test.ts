/**
 * Review apps through the offline lifecycle runner: staging and two review apps on ONE Cloudron
 * stand-in, each deployed by the real program from config derived from Pulumi.staging.yaml.
 * Written against the public Lifecycle API only (create/up/destroy/config/app/seedRuns/standin/
 * builds/close + shareCloudronWith), so it holds whichever Cloudron stand-in the runner drives.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle } from "../engine/runner";
import { ReviewAppFleet } from "../commands/rehearse/reviewApp";

const SHA_1 = "aaaaaaa1111111111111111111111111111111aa";
const SHA_2 = "bbbbbbb2222222222222222222222222222222bb";
const SHA_1_NEXT = "ccccccc3333333333333333333333333333333cc";

describe("two review apps next to staging on one Cloudron", () => {
  let fleet: ReviewAppFleet;
  beforeAll(async () => {
    fleet = await ReviewAppFleet.create();
  }, 120_000);
  afterAll(async () => fleet?.close());

  let stagingBefore = "";

  it("two review apps: separate apps, locations, session secrets and seeds; smoke passes", async () => {
    stagingBefore = JSON.stringify(fleet.staging.app());
    const one = await fleet.up(1, SHA_1);
    const two = await fleet.up(2, SHA_2);
    expect(one.errors).toEqual([]);
    expect(two.errors).toEqual([]);
    const a1 = fleet.apps.get(1)!.lc.app()!;
    const a2 = fleet.apps.get(2)!.lc.app()!;
    const staging = fleet.staging.app()!;
    expect([staging.fqdn, a1.fqdn, a2.fqdn]).toEqual([
      "staging.communityrule.info",
      "pr-1.communityrule.info",
      "pr-2.communityrule.info",
    ]);
    expect(new Set([staging.id, a1.id, a2.id]).size).toBe(3);
    const secrets = [staging.env.SESSION_SECRET, a1.env.SESSION_SECRET, a2.env.SESSION_SECRET];
    for (const s of secrets) expect(s).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(new Set(secrets).size).toBe(3);
    // Separate seeds: each app's own database was seeded once, by its own stack.
    expect([fleet.staging.seedRuns(), fleet.apps.get(1)!.lc.seedRuns(), fleet.apps.get(2)!.lc.seedRuns()]).toEqual([
      1, 1, 1,
    ]);
    expect(
      fleet.apps
        .get(1)!
        .lc.builds()
        .map((b) => b.imageName.split(":").pop()),
    ).toEqual(["pr-1-aaaaaaa"]);
    expect(
      fleet.apps
        .get(2)!
        .lc.builds()
        .map((b) => b.imageName.split(":").pop()),
    ).toEqual(["pr-2-bbbbbbb"]);
    expect(String(one.outputs.smokeReport)).toContain(" 0 failed");
    expect(one.outputs.environment).toBe("staging");
    expect(a1.env.SMTP_FROM).toBe(staging.env.SMTP_FROM); // staging's plain env came along
    expect(JSON.stringify(fleet.staging.app())).toBe(stagingBefore);
  });

  it("a second push updates that review app only: new image, same secret, no second seed", async () => {
    const before1 = fleet.apps.get(1)!.lc.app()!;
    const before2 = JSON.stringify(fleet.apps.get(2)!.lc.app());
    const r = await fleet.up(1, SHA_1_NEXT);
    expect(r.errors).toEqual([]);
    const after1 = fleet.apps.get(1)!.lc.app()!;
    expect(after1.id).toBe(before1.id);
    expect(after1.manifest.dockerImage).not.toBe(before1.manifest.dockerImage);
    expect(after1.env.SESSION_SECRET).toBe(before1.env.SESSION_SECRET);
    expect(fleet.apps.get(1)!.lc.seedRuns()).toBe(1);
    expect(JSON.stringify(fleet.apps.get(2)!.lc.app())).toBe(before2);
    expect(JSON.stringify(fleet.staging.app())).toBe(stagingBefore);
  });

  it(
    "a fourth review app past maxReviewApps (3) is refused," + " naming the oldest, before anything is created",
    async () => {
      expect((await fleet.up(3, SHA_2)).errors).toEqual([]);
      const appsBefore = fleet.staging.standin().apps.length;
      await expect(fleet.up(4, SHA_2)).rejects.toThrow(
        new RegExp(
          /^refusing to create review app pr-4: 3 review apps exist and maxReviewApps is 3\. The/.source +
            / oldest is pr-2 \(last deployed 0 days ago\); remove it with npm run review-app -- down 2/.source,
        ),
      );
      expect(fleet.apps.has(4)).toBe(false);
      expect(fleet.staging.standin().apps.length).toBe(appsBefore);
    },
  );

  it("destroying one review app uninstalls it and leaves the other review apps and staging untouched", async () => {
    const others = JSON.stringify([fleet.apps.get(1)!.lc.app(), fleet.apps.get(3)!.lc.app()]);
    const r = await fleet.down(2);
    expect(r.errors).toEqual([]);
    const fqdns = fleet.staging
      .standin()
      .apps.map((a) => a.fqdn)
      .sort();
    expect(fqdns).toEqual(["pr-1.communityrule.info", "pr-3.communityrule.info", "staging.communityrule.info"]);
    expect(JSON.stringify([fleet.apps.get(1)!.lc.app(), fleet.apps.get(3)!.lc.app()])).toBe(others);
    expect(JSON.stringify(fleet.staging.app())).toBe(stagingBefore);
    expect(fleet.staging.seedRuns()).toBe(1);
  });

  it("destroying the rest leaves only staging: no review app left on the Cloudron", async () => {
    expect((await fleet.down(1)).errors).toEqual([]);
    expect((await fleet.down(3)).errors).toEqual([]);
    expect(fleet.staging.standin().apps.map((a) => a.fqdn)).toEqual(["staging.communityrule.info"]);
    expect(JSON.stringify(fleet.staging.app())).toBe(stagingBefore);
  });
});

describe("the pr-<n>-<sha> tag shape outside review-app stacks", () => {
  it.each(["staging", "production"])("is refused on %s before anything is registered or called", async (stack) => {
    const lc = await Lifecycle.create({ stack, config: { imageTag: "pr-42-3f2a9c4", build: false } });
    try {
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.errors.join("\n")).toContain(
        `communityrule:imageTag: "pr-42-3f2a9c4" is a review-app tag (pr-<n>-<sha>); it deploys` +
          ` only to the review-app stack pr-42 (npm run review-app -- up 42), never to ${stack}.`,
      );
      expect(lc.calls()).toEqual([]);
      expect(lc.app()).toBeUndefined();
    } finally {
      await lc.close();
    }
  });
});
