/**
 * Health gate CLI, run by a Pulumi command resource after `cloudron update`:
 *
 *   node -r ts-node/register/transpile-only tools/healthGate.ts <baseUrl> --timeout-seconds N \
 *     [--app <location>]
 *
 * Progress goes to stderr line by line (so it streams in `pulumi up`); success prints ONE JSON
 * line to stdout: `{"healthy":true,"url":"<baseUrl>/api/health","attempts":…,"elapsedMs":…}`.
 * Exit codes: 0 healthy, 1 not healthy in time (message on stderr) or cancelled, 2 usage.
 */
import { defineCli, runAsMain, UsageError } from "../lib/cli/args";
import { formatProgress, HealthGateError, healthUrl, waitForHealthy } from "../lib/health/healthGate";
import { normalizeTarget } from "../lib/health/smoke";
import { asUsage } from "./smoke";

const USAGE =
  "usage: node -r ts-node/register/transpile-only tools/healthGate.ts <baseUrl> " +
  "--timeout-seconds N [--app <location>]";

/** The gate CLI: returns its exit code; the context's signal cancels it (SIGINT/SIGTERM when run directly). */
export const main = defineCli({
  name: "healthGate",
  usage: USAGE,
  spec: { positional: ["baseUrl"], values: ["timeout-seconds", "app"] },
  parse: (args) => {
    const timeout = args.values["timeout-seconds"];
    if (timeout === undefined) throw new UsageError("--timeout-seconds is required");
    const seconds = Number(timeout);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--timeout-seconds must be a positive number, got ${timeout}`);
    return { baseUrl: asUsage(() => normalizeTarget(args.positional.baseUrl!)), timeoutMs: Math.round(seconds * 1000), app: args.values.app };
  },
  run: async (args, { io, signal }) => {
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
        return 1;
      }
      throw e;
    }
  },
});

if (require.main === module) runAsMain(main, { cancellable: true });
