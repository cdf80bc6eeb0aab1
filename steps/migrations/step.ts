/**
 * The migration review: the database migrations the image applies, reviewed before any resource
 * registers, so a refused release or rollback fails in preview. A check-only step: the deploy step
 * carries the result (its request shows it in previews, its result records it).
 */
import type { CheckStep } from "../../steps";

export const migrationsStep: CheckStep = {
  id: "migrations",
  describe: () => [
    "migrations: list the image's Prisma migrations, compare them with the release record on the app " +
      "(what it runs), classify the new ones (additive / risky / destructive); " +
      "refuse edited history, migrate reset, and on production unacknowledged risky or destructive ones",
  ],
  async check(cfg, found) {
    const { checkReleaseMigrations, runningFromLiveCheck } = await import("./programMigrations");
    const { findProjectDir } = await import("../../lib/projectDir");
    checkReleaseMigrations(cfg, findProjectDir(__dirname), runningFromLiveCheck(found.live));
  },
};
