/**
 * Release, rollback and refusal scenarios through the offline lifecycle runner: version ordering
 * (release/versionRules.ts) as the deploy tool applies it against what the stand-in app runs, and the
 * automatic rollback after a failed health gate on production, which puts back the manifest the app
 * ran before the release (image, port, memory), not only its image; and production's protection
 * when its stack is destroyed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle, type ApiCall, type LifecycleSnapshot } from "../engine/runner";
import type { RunResult } from "../engine/host";

const ops = (calls: ApiCall[]) => calls.map((c) => c.operation);
const sentManifest = (c: ApiCall) => (c.requestBody as { manifest: { version: string; dockerImage: string } }).manifest;

/**
 * The digest a build of `version` will get: the runner's build emulation pushes reproducible content
 * seeded by the build context's digest and the tag, so pushing the same content first tells us the digest (and so
 * the image ref the app will run) before the `up`; that is how one version is made unhealthy. It is
 * pushed under a probe tag: the release tag itself must not exist before the build pushes it.
 */
describe("staging: downgrade refused, release, rollback with build: false", () => {
  let lc: Lifecycle;
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9" });
  });
  afterAll(async () => lc?.close());

  it("installs 0.1.9", async () => {
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(lc.app()!.manifest.version).toBe("0.1.9");
  });

  it("a lower manifest version with build: true is refused before the image is built or pushed", async () => {
    lc.setManifestVersion("0.1.8");
    const before = lc.calls().length;
    const buildsBefore = lc.builds().length;
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(r.errors.join("\n")).toContain(
      "downgrade without rollback intent: deployed 0.1.9, manifest" +
        " 0.1.8; to roll back set build: false and imageTag: 0.1.8",
    );
    expect(lc.mutatingCallsSince(before)).toEqual([]);
    expect(lc.builds()).toHaveLength(buildsBefore);
    expect(lc.app()!.manifest.version).toBe("0.1.9");
  });

  let digest10 = "";
  it("release 0.1.9 → 0.1.10: one build each, one update with the new digest", async () => {
    lc.setManifestVersion("0.1.10");
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    const mutating = lc.mutatingCallsSince(before);
    expect(ops(mutating)).toEqual(["updateApp", "updateAppBackup"]);
    // The rollback point: the backup of 0.1.9 the update took, labelled, kept 30 days, reported.
    const point = lc.app()!.backups.find((b) => b.label !== "")!;
    expect(point).toMatchObject({
      packageVersion: "0.1.9",
      label: "rollback point: 0.1.9 before 0.1.10",
      preserveSecs: 30 * 86400,
    });
    expect(r.outputs.preUpdateBackupId).toBe(point.id);
    const builds = lc.builds().map((b) => b.imageName);
    expect(builds.filter((b) => b.endsWith(":0.1.9"))).toHaveLength(1);
    expect(builds.filter((b) => b.endsWith(":0.1.10"))).toHaveLength(1);
    digest10 = lc.builds().find((b) => b.imageName.endsWith(":0.1.10"))!.digest;
    expect(sentManifest(mutating[0])).toMatchObject({
      version: "0.1.10",
      dockerImage: expect.stringContaining(`@${digest10}`),
    });
    expect(lc.app()!.manifest.version).toBe("0.1.10");
    expect(r.outputs.deployAction).toBe("updated");
  });

  it("rollback to 0.1.9 with build: false: no build, update to repo:0.1.9, ROLLBACK in the log", async () => {
    lc.config.build = false;
    lc.config.imageTag = "0.1.9";
    const buildsBefore = lc.builds().length;
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(lc.builds()).toHaveLength(buildsBefore);
    const mutating = lc.mutatingCallsSince(before);
    expect(ops(mutating)).toEqual(["updateApp", "updateAppBackup"]);
    const tagged = `${lc.registryHost}/communityrule/community-rule:0.1.9`;
    expect(sentManifest(mutating[0]).dockerImage).toBe(tagged);
    const log = (r as unknown as { log: string }).log;
    expect(log).toContain(
      "ROLLBACK: staging goes from 0.1.10 back to 0.1.9; database migrations applied by 0.1.10 are NOT undone",
    );
    expect(lc.app()!.manifest.dockerImage).toBe(tagged);
    expect(lc.seedRuns()).toBe(1);
  });

  it("the next up with the same rollback config changes nothing", async () => {
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(lc.mutatingCallsSince(before)).toEqual([]);
    expect((r as unknown as { log: string }).log).not.toContain("ROLLBACK:");
  });
});

// One production environment for the rollback, protection and refusal rows (the refusal last: a
// failed run costs the next run a new host process). It is installed once, healthy on 0.1.9; the
// rollback and protection rows start from that saved install, the refusal from the empty point before it.
// The health gate's bound is not what these rows check (lifecycle.timeouts.test.ts does): the
// smallest one, so the failing gate fails in a second.
let prod: Lifecycle;
let prodEmpty: LifecycleSnapshot;
let prodInstalled: LifecycleSnapshot;
let prodInstall: RunResult;
beforeAll(async () => {
  prod = await Lifecycle.create({ stack: "production", manifestVersion: "0.1.9", config: { healthTimeoutSeconds: 1 } });
  prodEmpty = prod.save();
  // Production never builds: staging released 0.1.9 to the registry first.
  await prod.releaseOnStaging();
  prodInstall = await prod.up();
  prodInstalled = prod.save();
});
afterAll(async () => prod?.close());

describe("production: automatic rollback after a failed health gate", () => {
  let lc: Lifecycle;
  beforeAll(() => {
    lc = prod;
    lc.restore(prodInstalled);
  });

  let image9 = "";
  it("installs 0.1.9 (healthy)", () => {
    expect(prodInstall.errors).toEqual([]);
    image9 = lc.app()!.manifest.dockerImage;
    expect(image9).toContain("@sha256:");
  });

  it("0.1.10 fails the gate: the up fails, the app is back on the 0.1.9 image", async () => {
    lc.setManifestVersion("0.1.10");
    const digest10 = await lc.releaseOnStaging("0.1.10");
    lc.mutateStandin((s) => {
      s.unhealthyImages = [digest10];
    });
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.ok).toBe(false);
    const errors = r.errors.join("\n");
    expect(errors).toContain(
      `release rolled back: ${lc.registryHost}/communityrule/community-rule@${digest10} → ${image9}`,
    );
    expect(errors).toContain("migrations applied by the new image are not undone; health failure was:");
    const updates = lc.mutatingCallsSince(before).filter((c) => c.operation === "updateApp");
    expect(updates.map((c) => sentManifest(c).dockerImage)).toEqual([expect.stringContaining(digest10), image9]);
    // Production updates keep Cloudron's pre-update backup.
    expect(updates.every((c) => (c.requestBody as { skipBackup?: boolean }).skipBackup !== true)).toBe(true);
    expect(lc.app()!.manifest.dockerImage).toBe(image9);
    expect(lc.builds()).toEqual([]);
  });

  it("after the fix, the next up retries the release and converges to 0.1.10", async () => {
    lc.mutateStandin((s) => {
      s.unhealthyImages = [];
    });
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    const updates = lc.mutatingCallsSince(before).filter((c) => c.operation === "updateApp");
    expect(updates).toHaveLength(1);
    expect((updates[0].requestBody as { skipBackup?: boolean }).skipBackup).not.toBe(true);
    expect(lc.app()!.manifest.version).toBe("0.1.10");
    expect(lc.app()!.manifest.dockerImage).toContain("@sha256:");
    expect(lc.app()!.manifest.dockerImage).not.toBe(image9);
    expect(r.outputs.deployAction).toBe("updated");
    expect(r.outputs.preUpdateBackupId).toBe(lc.app()!.backups[0].id);
    expect(r.outputs.previousImage).toBe(image9);
    expect(lc.seedRuns()).toBe(1);
  });
});

describe("production auto-rollback sends the manifest the app ran before the release", () => {
  it(
    "a release that changes httpPort and memoryLimit fails its gate; the rollback" +
      " puts back the previous manifest at the installed version and is healthy",
    async () => {
      const lc = prod;
      lc.restore(prodInstalled);
      const before = lc.app()!.manifest;
      expect(before.httpPort).toBe(3000);
      const image9 = before.dockerImage;
      // 0.1.10 listens on 3001 and says so in its manifest; it fails its gate.
      lc.setManifestVersion("0.1.10", { httpPort: 3001, memoryLimit: 1073741824 });
      // Production never builds: it promotes what staging released.
      const digest10 = await lc.releaseOnStaging("0.1.10");
      lc.mutateStandin((s) => {
        s.imageHttpPorts = { [image9]: 3000, [digest10]: 3001 };
        s.unhealthyImages = [digest10];
      });
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.errors.join("\n")).toContain(
        `release rolled back: ${lc.registryHost}/communityrule/community-rule@${digest10} → ${image9}`,
      );
      const updates = lc.calls().filter((c: ApiCall) => c.operation === "updateApp");
      expect(updates).toHaveLength(2);
      const sent = (c: ApiCall) => (c.requestBody as { manifest: Record<string, unknown> }).manifest;
      expect(sent(updates[0])).toMatchObject({
        version: "0.1.10",
        httpPort: 3001,
        memoryLimit: 1073741824,
        dockerImage: expect.stringContaining(digest10),
      });
      // The previous manifest whole (port, memory, everything), at the version the update installed.
      expect(sent(updates[1])).toEqual({ ...before, version: "0.1.10" });
      const now = lc.app()!;
      expect(now.manifest.dockerImage).toBe(image9);
      expect(now.manifest.httpPort).toBe(3000);
      expect(lc.standin().violations).toEqual([]);
    },
  );
});

describe("production protection", () => {
  it("destroy checks protect per step, dependents first: smoke goes, the seed fails, what it needs stays", async () => {
    const lc = prod;
    lc.restore(prodInstalled);
    expect(prodInstall.errors).toEqual([]);
    const state = () => lc.pulumiState().resources;
    expect(
      state()
        .filter((x) => x.protect)
        .map((x) => x.name)
        .sort(),
    ).toEqual(["app-deploy", "seed"]);
    const before = lc.calls().length;
    const seedUrn = state().find((x) => x.name === "seed")!.urn;
    const seedRefused =
      `resource "${seedUrn}" cannot be deleted\nbecause it is` +
      ` protected. To unprotect the resource, either remove the ` +
      "`protect` flag from the resource in your Pulumi program and run `pulumi up`, or use the command:\n" +
      `\`pulumi state unprotect '${seedUrn}'\``;

    const d = await lc.destroy();
    expect(d.ok).toBe(false);
    expect(d.errors).toEqual([seedRefused]);
    // app-deploy, which the seed depends on, is never tried; the smoke component is no dependency of the seed.
    expect(d.steps.map((s) => [`${s.name} ${s.type}`, s.error === undefined])).toEqual([
      ["smoke command:local:Command", true],
      ["seed pulumi-nodejs:dynamic/communityrule:SeedOnce", false],
      ["smoke communityrule:checks:SmokeCheck", true],
      // Production promotes: its image component holds no resource, so nothing keeps it.
      ["image communityrule:image:RegistryImage", true],
    ]);
    expect(state().map((x) => x.name)).not.toContain("smoke");
    expect(state().map((x) => x.name)).toEqual(
      expect.arrayContaining(["app-deploy", "seed", "health", "app-env-apply"]),
    );
    expect(lc.mutatingCallsSince(before)).toEqual([]);
    expect(lc.app()).toBeDefined();

    // The next up runs the smoke checks again.
    const again = await lc.up();
    expect(again.errors).toEqual([]);
    expect(again.steps.filter((s) => s.op !== "same").map((s) => `${s.name} ${s.op}`)).toContain("smoke create");

    // --exclude-protected leaves the protected resources and everything they need
    // (destroy.go getProtectedExcludes).
    const excluding = await lc.destroy({ excludeProtected: true });
    expect(excluding.errors).toEqual([]);
    const excluded = excluding.steps.map((s) => `${s.name} ${s.type}`);
    expect(excluded).toContain("smoke command:local:Command");
    // Nothing protected, and nothing a protected resource needs, is touched.
    for (const kept of ["app-deploy", "seed", "health", "app-env-apply"]) {
      expect(excluding.steps.map((s) => s.name)).not.toContain(kept);
    }
    const nothingLeft = await lc.destroy({ excludeProtected: true });
    expect(nothingLeft.errors).toEqual([]);
    expect(nothingLeft.steps).toEqual([]);
    expect((nothingLeft as { log?: string }).log).toContain("There were no unprotected resources to destroy.");
    expect(lc.mutatingCallsSince(before)).toEqual([]);

    // A replacement of a resource protected before and after is refused
    // (step_generator.go: new.Protect && old.Protect).
    lc.config.location = "www.communityrule.info";
    const moved = await lc.preview();
    expect(moved.ok).toBe(false);
    expect(moved.errors.join("\n")).toContain(
      `unable to replace resource "${seedUrn}"\nas it is currently marked for protection.`,
    );
  });
});

describe("production refusals", () => {
  it("imageTag abc1234 (a git SHA) is refused before any resource registers", async () => {
    const lc = prod;
    lc.restore(prodEmpty);
    lc.config.imageTag = "abc1234";
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(r.registered).toBe(0);
    expect(r.errors.join("\n")).toContain("communityrule:imageTag");
    expect(lc.calls()).toEqual([]);
    expect(lc.builds()).toEqual([]);
  });
});
