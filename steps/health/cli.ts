/**
 * The health gate as a command, run by the health step's command resource (steps/health/healthGate.ts)
 * after the app's deploy and env apply:
 *
 *   node build/tools/healthGate.js <baseUrl> --timeout-seconds N \
 *     [--app <location>] [--cloudron-server <host>]
 *
 * With --app and --cloudron-server, a failed gate also shows the app's last log lines (token from
 * CLOUDRON_TOKEN or `cloudron login`), masked, and the troubleshooting row they point to.
 *
 * Progress goes to stderr line by line (so it streams in `pulumi up`); success prints ONE JSON
 * line to stdout: `{"healthy":true,"url":"<baseUrl>/api/health","attempts":…,"elapsedMs":…}`.
 * Exit codes: 0 healthy, 1 not healthy in time (message on stderr) or cancelled, 2 usage.
 */
import { defineCli, UsageError } from "../../lib/cli";
import { formatProgress, HealthGateError, healthUrl, waitForHealthy } from "./poll";
import { normalizeTarget } from "../smoke/checks";
import { asUsage } from "../smoke/cli";

const USAGE =
  "usage: node build/tools/healthGate.js <baseUrl> " +
  "--timeout-seconds N [--app <location>] [--cloudron-server <host>]";

/** The gate CLI: returns its exit code; the context's signal cancels it (SIGINT/SIGTERM when run directly). */
export const main = defineCli({
  name: "healthGate",
  usage: USAGE,
  spec: { positional: ["baseUrl"], values: ["timeout-seconds", "app", "cloudron-server"] },
  parse: (args) => {
    const timeout = args.values["timeout-seconds"];
    if (timeout === undefined) throw new UsageError("--timeout-seconds is required");
    const seconds = Number(timeout);
    if (!Number.isFinite(seconds) || seconds <= 0)
      throw new UsageError(`--timeout-seconds must be a positive number, got ${timeout}`);
    return {
      baseUrl: asUsage(() => normalizeTarget(args.positional.baseUrl!)),
      timeoutMs: Math.round(seconds * 1000),
      app: args.values.app,
      server: args.values["cloudron-server"],
    };
  },
  run: async (args, { io, signal, env }) => {
    try {
      const { attempts, elapsedMs } = await waitForHealthy({
        url: args.baseUrl,
        timeoutMs: args.timeoutMs,
        app: args.app,
        signal,
        onProgress: (p) => io.stderr(formatProgress(p)),
      });
      io.stdout(JSON.stringify({ healthy: true, url: healthUrl(args.baseUrl), attempts, elapsedMs }));
      return 0;
    } catch (e) {
      // The gate's own message already names the URL, the last answer and the likely cause.
      if (e instanceof HealthGateError) {
        io.stderr(e.message);
        if (args.app && args.server) {
          // Loaded only here: the Cloudron client (zod, semver) is most of the gate's code, and only a
          // failed gate reads Cloudron. The build makes it a bundle of its own (lib/build/bundleTools.ts).
          const { appLogReport } = await import("./appLogReport");
          io.stderr(await appLogReport(e, { app: args.app, server: args.server, envToken: env.CLOUDRON_TOKEN }));
        }
        return 1;
      }
      throw e;
    }
  },
});
