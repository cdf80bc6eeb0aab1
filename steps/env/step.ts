/**
 * The app's env: the stack's plain and secret env plus a generated SESSION_SECRET, compared with the
 * app's live env and applied in one configure/env call when anything differs.
 */
import type { ResourceStep } from "../../steps";
import { earlier } from "../earlier";

export const envStep: ResourceStep = {
  id: "env",
  describe: () => [
    "apply env: compare with the app's LIVE env; anything added, changed or removed → " +
      "one POST /apps/:id/configure/env with the complete map (one restart), then read back; nothing → no call",
  ],
  async check(cfg) {
    // Env the app reads differently than the config suggests: said in preview and up, nothing stops.
    const { configAppEnvWarnings } = await import("../../config/appEnvRules");
    const warnings = configAppEnvWarnings(cfg);
    if (warnings.length > 0) {
      const pulumi = await import("@pulumi/pulumi");
      for (const w of warnings) pulumi.log.warn(w);
    }
  },
  async register(ctx) {
    const pulumi = await import("@pulumi/pulumi");
    const { AppEnv } = await import("./appEnv");
    const app = earlier(ctx.app, "env", "deploy");
    const installEnv = earlier(ctx.installEnv, "env", "deploy");
    ctx.env = new AppEnv("app-env", {
      config: ctx.cfg,
      connection: ctx.connection,
      token: ctx.token,
      deployment: app.deployment,
      appId: app.appId,
    });
    installEnv.resolveDesired(ctx.env.desired);
    installEnv.resolveSecrets(ctx.env.secretValues);
    Object.assign(ctx.outputs, {
      /** Names (never values) of the env vars this stack manages. */
      envNames: ctx.env.names,
      /** Every managed env value as applied (secret): what `npm run drift` compares the live app with. */
      managedEnv: ctx.env.managedEnv,
      /** Which managed names are secret (drift shows those as changed/unchanged only). */
      secretEnvNames: pulumi.unsecret(ctx.env.secretValues.apply((v) => Object.keys(v).sort())),
    });
  },
};
