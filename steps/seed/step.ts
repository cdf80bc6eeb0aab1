/** The seed: `node prisma/seed.bundle.cjs` in the app, once, and again only when asked or its sources change. */
import type { ResourceStep } from "../../steps";
import { earlier } from "../earlier";

export const seedStep: ResourceStep = {
  id: "seed",
  describe: (cfg) => [
    `seed once: cloudron exec … node prisma/seed.bundle.cjs ` +
      `(seedRun ${cfg.seedRun}; the one step that uses the CLI); ` +
      `again once when the seed's sources (prisma/seed.ts, prisma/seed/**, data/**) change; ` +
      `refused below the seed floor ${cfg.seedFloor}`,
  ],
  async register(ctx) {
    const { SeedOnce } = await import("./seedOnce");
    const { cfg } = ctx;
    const app = earlier(ctx.app, "seed", "deploy");
    const health = earlier(ctx.health, "seed", "health");
    ctx.seed = new SeedOnce(
      "seed",
      {
        connection: ctx.connection,
        location: cfg.location,
        seedRun: cfg.seedRun,
        seedContent: ctx.shipped?.seed ?? "",
        seedFloor: cfg.seedFloor,
        image: app.image,
        appId: app.appId,
        gate: health.result,
        token: ctx.token,
      },
      { dependsOn: [health.check], protect: cfg.environment === "production" },
    );
    Object.assign(ctx.outputs, { seededAt: ctx.seed.seededAt, seededImage: ctx.seed.seededImage });
  },
};
