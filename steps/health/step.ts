/** The health gate: the app answers healthy with its database connected after every restart. */
import type { ResourceStep } from "../../steps";
import { earlier } from "../earlier";

export const healthStep: ResourceStep = {
  id: "health",
  describe: (cfg) => [
    `health gate: ${cfg.baseUrl}/api/health until ok + database connected (≤ ${cfg.healthTimeoutSeconds} s)`,
  ],
  async register(ctx) {
    const { HealthGate } = await import("./healthGate");
    const { cfg } = ctx;
    const app = earlier(ctx.app, "health", "deploy");
    const env = earlier(ctx.env, "health", "env");
    ctx.health = new HealthGate("health", {
      baseUrl: cfg.baseUrl,
      location: cfg.location,
      timeoutSeconds: cfg.healthTimeoutSeconds,
      restartedBy: [app.image, env.apply.stdout],
      after: [app.deployment, env.apply],
      cloudronServer: cfg.cloudronServer,
      token: ctx.token,
    });
    ctx.outputs.healthCheck = ctx.health.result;
  },
};
