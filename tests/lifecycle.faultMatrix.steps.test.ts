/**
 * Fault-injection matrix (see lifecycle.faultMatrix.test.ts), the steps after the install: the
 * seed, the health gate and the smoke checks fail on an installed app, each `up` fails naming its
 * step, and the next `up` converges; a failed health gate shows the app's last log lines (masked)
 * and the troubleshooting row they point to. One environment is installed once; every row starts
 * from that saved point.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Lifecycle, type ApiCall, type LifecycleSnapshot } from "../engine/runner";
import type { RunResult } from "../engine/host";

// `calls()` counts from the saved install; `seedRuns()` is the app's own counter, restored with the server.
let lc: Lifecycle;
let installed: LifecycleSnapshot;
beforeAll(async () => {
  // Smoke checks are off unless a row is about them: each one is a tool process, i.e. time.
  lc = await Lifecycle.create({ stack: "staging", manifestVersion: "0.1.9", config: { smoke: false } });
  expect((await lc.up()).errors).toEqual([]);
  expect(lc.seedRuns()).toBe(1);
  installed = lc.save();
});
afterAll(async () => lc?.close());

const sent = (calls: ApiCall[], operation: string) => calls.filter((c) => c.operation === operation);
const errorsOf = (r: RunResult) => r.errors.join("\n");

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

describe("fault matrix: seed, health, smoke", () => {
  beforeEach(() => lc.restore(installed));

  it("seed fails → its own output is shown, nothing recorded; next up seeds once", async () => {
    // A bad migration: the app's seed fails.
    lc.mutateApp((app) => (app.env.SEED_SHOULD_FAIL = "1"));
    lc.config.seedRun = "2";
    const failed = await lc.up();
    expect(failed.ok).toBe(false);
    const err = errorsOf(failed);
    expect(err).toContain("seed: node prisma/seed.bundle.cjs exited 1");
    expect(err).toContain('relation "MethodFacet" does not exist');
    expect(lc.seedRuns()).toBe(1);
    lc.mutateApp((app) => delete app.env.SEED_SHOULD_FAIL);
    const again = await lc.up();
    expect(again.errors).toEqual([]);
    expect(lc.seedRuns()).toBe(2);
    const fourth = await lc.up();
    expect(fourth.errors).toEqual([]);
    expect(lc.seedRuns()).toBe(2);
  });

  it(
    "health 503 after a staging release → up fails naming health" +
      " with the runbook cause; next up passes without a second update",
    async () => {
      // The gate's bound is not the point here (lifecycle.timeouts.test.ts checks it): the smallest one.
      lc.config.healthTimeoutSeconds = 1;
      lc.setManifestVersion("0.1.10");
      lc.mutateStandin((s) => (s.unhealthyImages = ["@sha256:"]));
      const r = await lc.up();
      expect(r.ok).toBe(false);
      const err = errorsOf(r);
      expect(err).toMatch(/health [\s\S]*failed/);
      expect(err).toMatch(/postgresql addon|CLOUDRON_POSTGRESQL_URL/);
      const updatesBefore = sent(lc.calls(), "updateApp").length;
      lc.mutateStandin((s) => (s.unhealthyImages = []));
      const again = await lc.up();
      expect(again.errors).toEqual([]);
      expect(sent(lc.calls(), "updateApp").length).toBe(updatesBefore);
      expect(lc.seedRuns()).toBe(1);
    },
  );

  it(
    "a failed migration in the app log: the error names the migration" +
      " and the prisma migrate resolve path, with the excerpt, no secret",
    async () => {
      // The gate's bound is not the point here (lifecycle.timeouts.test.ts checks it): the smallest one.
      lc.config.healthTimeoutSeconds = 1;
      lc.setManifestVersion("0.1.10");
      const digest10 = await lc.digestOfBuild("0.1.10");
      const secret = lc.app()!.env.SESSION_SECRET;
      lc.mutateStandin((s) => (s.unhealthyImages = [digest10]));
      lc.mutateApp((app) => app.logLines.push(...failedMigrationLog(secret)));
      const r = await lc.up();
      expect(r.ok).toBe(false);
      const errors = errorsOf(r);
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

  it("smoke fails (templates empty) → up fails naming smoke; the seed is not re-run by itself", async () => {
    // Someone wiped the data: templates come back empty.
    lc.mutateApp((app) => (app.seedRuns = 0));
    lc.config.smoke = true;
    const r = await lc.up();
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toMatch(/smoke [\s\S]*FAIL templates/);
    expect(errorsOf(r)).toContain("seed");
    // No seed exec since the install (calls() counts from the restored point), and the data stays wiped.
    expect(sent(lc.calls(), "standinExec")).toEqual([]);
    expect(lc.seedRuns()).toBe(0);
  });
});
