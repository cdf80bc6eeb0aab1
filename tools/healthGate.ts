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
import { formatProgress, HealthGateError, healthUrl, waitForHealthy } from "../lib/health/healthGate";
import { normalizeTarget } from "../lib/health/smoke";
import type { CliIo } from "./smoke";

const USAGE =
  "usage: node -r ts-node/register/transpile-only tools/healthGate.ts <baseUrl> " +
  "--timeout-seconds N [--app <location>]";

class UsageError extends Error {}

interface GateArgs {
  baseUrl: string;
  timeoutMs: number;
  app?: string;
}

/** Reads the value after a flag, or the `--flag=value` form. */
function flagValue(argv: string[], i: number, flag: string): { value: string; next: number } {
  const arg = argv[i];
  if (arg.startsWith(`${flag}=`)) return { value: arg.slice(flag.length + 1), next: i };
  const value = argv[i + 1];
  if (value === undefined || value.startsWith("--")) throw new UsageError(`${flag} needs a value`);
  return { value, next: i + 1 };
}

/** Parses argv (without node and script); throws {@link UsageError} on bad usage. */
function parseArgs(argv: string[]): GateArgs {
  const positional: string[] = [];
  let timeout: string | undefined;
  let app: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--timeout-seconds" || arg.startsWith("--timeout-seconds=")) {
      ({ value: timeout, next: i } = flagValue(argv, i, "--timeout-seconds"));
    } else if (arg === "--app" || arg.startsWith("--app=")) {
      ({ value: app, next: i } = flagValue(argv, i, "--app"));
    } else if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (positional.length !== 1) throw new UsageError("expected exactly one <baseUrl>");
  if (timeout === undefined) throw new UsageError("--timeout-seconds is required");
  const seconds = Number(timeout);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(`--timeout-seconds must be a positive number, got ${timeout}`);
  }
  return { baseUrl: normalizeTarget(positional[0]), timeoutMs: Math.round(seconds * 1000), app };
}

/**
 * Runs the gate and returns the exit code. `signal` lets the caller cancel (the direct-run
 * wrapper wires it to SIGINT/SIGTERM, which is how Pulumi cancels a command).
 */
export async function main(
  argv: string[],
  io: CliIo = { stdout: (l) => console.log(l), stderr: (l) => console.error(l) },
  signal?: AbortSignal,
): Promise<number> {
  let args: GateArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    io.stderr(`healthGate: ${e instanceof Error ? e.message : String(e)}`);
    io.stderr(USAGE);
    return 2;
  }
  try {
    const result = await waitForHealthy({
      url: args.baseUrl,
      timeoutMs: args.timeoutMs,
      app: args.app,
      signal,
      onProgress: (p) => io.stderr(formatProgress(p)),
    });
    const { attempts, elapsedMs } = result;
    io.stdout(JSON.stringify({ healthy: true, url: healthUrl(args.baseUrl), attempts, elapsedMs }));
    return 0;
  } catch (e) {
    if (e instanceof HealthGateError) io.stderr(e.message);
    else io.stderr(`healthGate: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (require.main === module) {
  const controller = new AbortController();
  const cancel = (sig: string) => (): void => controller.abort(new Error(`cancelled by ${sig}`));
  process.once("SIGINT", cancel("SIGINT"));
  process.once("SIGTERM", cancel("SIGTERM"));
  main(process.argv.slice(2), undefined, controller.signal).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(`healthGate: internal error: ${e instanceof Error ? e.stack : String(e)}`);
      process.exitCode = 1;
    },
  );
}
