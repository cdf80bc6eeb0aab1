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
import type { CloudronApi } from "../../cloudron/client";

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
          io.stderr(await appLogReport(e, { app: args.app, server: args.server, envToken: env.CLOUDRON_TOKEN }));
        }
        return 1;
      }
      throw e;
    }
  },
});

/** The app's last log lines and the row they point to, read from Cloudron; a note when they cannot be read. */
async function appLogReport(
  e: HealthGateError,
  o: { app: string; server: string; envToken?: string },
): Promise<string> {
  // Loaded here, not at the top: only a failed gate reads Cloudron, and the client (zod, semver) is
  // most of what the gate's process would otherwise load and run at every start.
  const { CloudronApi, resolveToken } = await import("../../cloudron/client");
  const { formatFailureReport, gatherEvidence } = await import("../../cloudron/failureReport");
  let api: CloudronApi;
  try {
    const { token } = resolveToken({ server: o.server, envToken: o.envToken || undefined });
    api = new CloudronApi({
      server: o.server,
      token,
      taskTimeoutSeconds: 30,
      busyWaitSeconds: 0,
      readRetries: 1,
      log: () => {},
    });
  } catch (err) {
    return `app log not fetched: ${(err as Error).message}`;
  }
  const evidence = await gatherEvidence(api, { step: "health", location: o.app });
  const health = { status: e.lastStatus, body: e.lastBody };
  return formatFailureReport({ step: "health", app: o.app, message: e.message, health }, evidence, (t) =>
    api.mask.apply(t),
  );
}
