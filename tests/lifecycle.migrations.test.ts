/**
 * Migration-aware releases end to end through the offline lifecycle runner: the app
 * checkout carries the release states of engine/fixtures/releases; the program reviews them
 * before any resource registers (preview and up), the deploy request carries the classified list,
 * and the deploy result records it in state.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle, PROJECT_DIR } from "../engine/runner";

const RELEASES = path.join(PROJECT_DIR, "engine", "fixtures", "releases");
const DROP = "20250521150000_drop_user_legacy_id";
const SLUG = "20250520110000_add_rule_slug";
const INIT_SQL = "prisma/migrations/20250301120000_init/migration.sql";

/**
 * Puts release `version` in the checkout (its prisma/migrations and manifest version) and tags
 * it `v<version>`, as an operator's clone of the app has its release tags: that is where a
 * rollback reads what an older release carries.
 */
function checkOut(lc: Lifecycle, version: string) {
  fs.rmSync(path.join(lc.appDir, "prisma"), { recursive: true, force: true });
  fs.cpSync(path.join(RELEASES, version, "prisma"), path.join(lc.appDir, "prisma"), { recursive: true });
  lc.setManifestVersion(version);
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@example.org",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@example.org",
  };
  const git = (...args: string[]) => execFileSync("git", ["-C", lc.appDir, ...args], { stdio: "pipe", env });
  if (!fs.existsSync(path.join(lc.appDir, ".git"))) git("init", "-q");
  git("add", "-A");
  git("commit", "-q", "-m", version);
  git("tag", `v${version}`);
}

const logOf = (r: unknown) => (r as { log: string }).log;
const recordedNames = (r: { outputs: Record<string, unknown> }) =>
  (r.outputs.migrations as Array<{ name: string }>).map((m) => m.name);

describe("production: a destructive migration needs an acknowledgement; rolling back past it needs another", () => {
  let lc: Lifecycle;
  let image09 = "";
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "production", manifestVersion: "0.1.9" });
    checkOut(lc, "0.1.9");
  });
  afterAll(async () => lc?.close());

  it("installs 0.1.9 and records its two migrations in state", async () => {
    // Production never builds: staging released 0.1.9 to the registry first.
    await lc.releaseOnStaging("0.1.9");
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(recordedNames(r)).toEqual(["20250301120000_init", "20250415093000_add_rule_templates"]);
    image09 = lc.app()!.manifest.dockerImage;
    const first = (r.outputs.migrations as Array<{ sha256: string; risk: string }>)[0];
    expect(first.sha256).toBe(
      require("node:crypto")
        .createHash("sha256")
        .update(fs.readFileSync(path.join(RELEASES, "0.1.9", INIT_SQL)))
        .digest("hex"),
    );
    expect(first.risk).toBe("additive");
  });

  it(
    "0.1.10 fails at preview, and in up before any build or" +
      " update, naming the destructive migration and the command",
    async () => {
      checkOut(lc, "0.1.10");
      await lc.releaseOnStaging("0.1.10");
      const buildsBefore = lc.builds().length;
      const callsBefore = lc.calls().length;
      for (const r of [await lc.preview(), await lc.up()]) {
        expect(r.ok).toBe(false);
        expect(r.registered).toBe(0);
        const text = r.errors.join("\n");
        expect(text).toContain(`  - ${DROP} [destructive] (prisma/migrations/${DROP}/migration.sql)`);
        expect(text).toContain(
          "      line 8 [destructive]: drops column User.legacyId (the column and its data are deleted)",
        );
        expect(text).toContain(`  pulumi config set --path 'acknowledgeMigrations[0]' ${DROP} -s production`);
        expect(text).toContain("The way back is the pre-update backup Cloudron takes before the update");
        expect(text).not.toContain(SLUG);
      }
      expect(lc.builds()).toHaveLength(buildsBefore);
      expect(lc.mutatingCallsSince(callsBefore)).toEqual([]);
    },
  );

  it(
    "once acknowledged, the preview shows both migrations with" +
      " their class in the deploy request, and up records four",
    async () => {
      lc.config.acknowledgeMigrations = [DROP];
      const preview = await lc.preview();
      expect(preview.errors).toEqual([]);
      const deployStep = preview.steps.find((s) => s.name === "app-deploy");
      expect(deployStep?.op).toBe("update");
      expect(deployStep?.detail).toContain("stdin");
      expect(logOf(preview)).toContain(`${SLUG} [additive]: adds column Rule.slug`);
      expect(logOf(preview)).toContain(`${DROP} [destructive]: drops column User.legacyId`);

      const r = await lc.up();
      expect(r.errors).toEqual([]);
      expect(lc.app()!.manifest.version).toBe("0.1.10");
      expect(recordedNames(r)).toEqual(["20250301120000_init", "20250415093000_add_rule_templates", SLUG, DROP]);
      const request = JSON.parse(
        String(lc.pulumiState().resources.find((x) => x.name === "app-deploy")!.inputs.stdin),
      ) as {
        releaseMigrations: { record: Array<{ name: string; risk: string }> };
      };
      expect(request.releaseMigrations.record.find((m) => m.name === DROP)?.risk).toBe("destructive");
    },
  );

  it(
    "a rollback to 0.1.9 is refused on production with the" + " restore path, until rollback:<name> is acknowledged",
    async () => {
      lc.config.build = false;
      lc.config.imageTag = "0.1.9";
      const callsBefore = lc.calls().length;
      const refused = await lc.preview();
      expect(refused.ok).toBe(false);
      const text = refused.errors.join("\n");
      expect(text).toContain(
        "production rollback from 0.1.10 to 0.1.9 refused: the database" +
          " keeps 1 risky or destructive migration that 0.1.9 does not know",
      );
      expect(text).toContain("Fix forward (usually best)");
      expect(text).toContain("npm run restore-drill -- production");
      expect(text).toContain("communityrule.info → Backups → restore it");
      expect(text).toContain(`pulumi config set --path 'acknowledgeMigrations[1]' rollback:${DROP} -s production`);
      expect(lc.mutatingCallsSince(callsBefore)).toEqual([]);

      lc.config.acknowledgeMigrations = [DROP, `rollback:${DROP}`];
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      expect(logOf(r)).toContain(`rollback to 0.1.9 past ${DROP} [destructive]: acknowledged`);
      // Production rolls back by digest: the one 0.1.9 was deployed with (its tag never changed).
      expect(lc.app()!.manifest.dockerImage).toBe(image09);
      expect(image09).toMatch(/@sha256:[0-9a-f]{64}$/);
      // The record stays the schema's: the rolled-back database still has the 0.1.10 migrations.
      expect(recordedNames(r)).toEqual(["20250301120000_init", "20250415093000_add_rule_templates", SLUG, DROP]);
    },
  );
});

describe("staging: warnings instead of refusals, and edited history refused", () => {
  let lc: Lifecycle;
  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9" });
    checkOut(lc, "0.1.9");
  });
  afterAll(async () => lc?.close());

  it("releases 0.1.9 then 0.1.10 with a warning about the destructive migration", async () => {
    expect((await lc.up()).errors).toEqual([]);
    checkOut(lc, "0.1.10");
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(logOf(r)).toContain(
      `staging: migration ${DROP} is destructive (drops column User.legacyId);` +
        ` production will refuse it until acknowledgeMigrations names it`,
    );
    expect(lc.app()!.manifest.version).toBe("0.1.10");
  });

  it("an edited applied migration makes the next release fail, naming the file, before any update", async () => {
    fs.appendFileSync(path.join(lc.appDir, INIT_SQL), '\nALTER TABLE "User" ADD COLUMN "nickname" TEXT;\n');
    lc.setManifestVersion("0.1.11");
    const callsBefore = lc.calls().length;
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(r.errors.join("\n")).toContain(
      `migration 20250301120000_init was edited after it was deployed: ${INIT_SQL} has sha256 `,
    );
    expect(r.errors.join("\n")).toContain("Never edit an applied migration");
    expect(lc.mutatingCallsSince(callsBefore)).toEqual([]);
    expect(lc.app()!.manifest.version).toBe("0.1.10");
  });
});
