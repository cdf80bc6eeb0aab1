/**
 * When the app does not come up, through the real program on the stand-in: a failed health gate
 * shows the app's last log lines (masked) and the troubleshooting row they point to, and the
 * production auto-rollback puts back the manifest the app ran before the release, not only its image.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lifecycle, type ApiCall } from "../engine/runner";

const MIGRATION = "20260520120000_add_magic_link_draft_payload";
const DB_PASSWORD = "pg-pass-7f3c9d2e1b";

/** What a start stopped by a failed migration prints (Prisma P3009, prisma-engines apply_migrations.rs). */
function failedMigrationLog(sessionSecret: string): string[] {
  const at = (s: number) => `2026-05-21T15:00:${String(s).padStart(2, "0")}.000Z`;
  return [
    `${at(1)} Prisma schema loaded from prisma/schema.prisma`,
    `${at(1)} Datasource "db": PostgreSQL database "db", schema "public"` +
      ` at "postgresql://communityrule:${DB_PASSWORD}@postgresql:5432"`,
    `${at(2)} Error: P3009`,
    `${at(2)} migrate found failed migrations in the target database, new migrations will not be applied. Read` +
      ` more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve`,
    `${at(2)} The \`${MIGRATION}\` migration started at 2026-05-21 14:59:58.000 UTC failed`,
    `${at(3)} debug: SESSION_SECRET=${sessionSecret}`,
  ];
}

describe("a failed health gate shows the app's log and what it points to", () => {
  let lc: Lifecycle;
  beforeAll(async () => {
    lc = await Lifecycle.create({
      stack: "staging",
      manifestVersion: "0.1.9",
      config: { smoke: false, healthTimeoutSeconds: 1 },
    });
    expect((await lc.up()).errors).toEqual([]);
  });
  afterAll(async () => lc?.close());

  it(
    "a failed migration in the app log: the error names the migration" +
      " and the prisma migrate resolve path, with the excerpt, no secret",
    async () => {
      lc.setManifestVersion("0.1.10");
      const digest10 = await lc.digestOfBuild("0.1.10");
      const secret = lc.app()!.env.SESSION_SECRET;
      lc.mutateStandin((s) => (s.unhealthyImages = [digest10]));
      lc.mutateApp((app) => app.logLines.push(...failedMigrationLog(secret)));
      const r = await lc.up();
      expect(r.ok).toBe(false);
      const errors = r.errors.join("\n");
      expect(errors).toContain("not healthy after");
      expect(errors).toContain(
        `likely cause, from the step and the logs: \`prisma migrate deploy\` stops at migration ${MIGRATION} (P3009)`,
      );
      expect(errors).toContain(`\`npx prisma migrate resolve --rolled-back ${MIGRATION}\``);
      expect(errors).toContain("Never `prisma migrate reset`");
      expect(errors).toContain(
        "app log (last lines, masked; all of it: `cloudron logs --app staging.communityrule.info`):",
      );
      expect(errors).toContain(`  | The \`${MIGRATION}\` migration started at 2026-05-21 14:59:58.000 UTC failed`);
      expect(errors).toContain('at "postgresql://communityrule:[masked]@postgresql:5432"');
      expect(errors).toContain("  | debug: SESSION_SECRET=[masked]");
      expect(errors).not.toContain(DB_PASSWORD);
      expect(errors).not.toContain(secret);
      // Read with the spec's query, on the app the gate was about.
      const logCall = lc.calls().find((c) => c.operation === "downloadAppLogs")!;
      expect(logCall.path).toBe(`/api/v1/apps/${lc.app()!.id}/logs`);
      expect(logCall.query).toEqual({ lines: "60", format: "json" });
    },
  );
});

describe("production auto-rollback sends the manifest the app ran before the release", () => {
  let lc: Lifecycle;
  beforeAll(async () => {
    lc = await Lifecycle.create({
      stack: "production",
      manifestVersion: "0.1.9",
      config: { healthTimeoutSeconds: 1, smoke: false },
    });
  });
  afterAll(async () => lc?.close());

  it(
    "a release that changes httpPort and memoryLimit fails its gate; the rollback" +
      " puts back the previous manifest at the installed version and is healthy",
    async () => {
      await lc.releaseOnStaging();
      expect((await lc.up()).errors).toEqual([]);
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
      const from = lc.calls().length;
      const r = await lc.up();
      expect(r.ok).toBe(false);
      expect(r.errors.join("\n")).toContain(
        `release rolled back: ${lc.registryHost}/communityrule/community-rule@${digest10} → ${image9}`,
      );
      const updates = lc.callsSince(from).filter((c: ApiCall) => c.operation === "updateApp");
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
