/** The smoke checks at the end of `up`: the same checks operators run by hand (`npm run smoke`). */
import type { ResourceStep } from "../../steps";
import { earlier } from "../earlier";

export const smokeStep: ResourceStep = {
  id: "smoke",
  describe: (cfg) => (cfg.smoke ? [`smoke checks against ${cfg.baseUrl}`] : []),
  async register(ctx) {
    const { cfg } = ctx;
    if (!cfg.smoke) {
      ctx.outputs.smokeReport = "smoke checks disabled (communityrule:smoke = false)";
      return;
    }
    const { SmokeCheck } = await import("./smokeCheck");
    const health = earlier(ctx.health, "smoke", "health");
    const seed = earlier(ctx.seed, "smoke", "seed");
    ctx.smoke = new SmokeCheck("smoke", {
      baseUrl: cfg.baseUrl,
      email: cfg.smokeEmail,
      after: [health.result, seed.seededAt],
      dependsOn: [seed],
    });
    ctx.outputs.smokeReport = ctx.smoke.report;
  },
};
