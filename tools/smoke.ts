/**
 * Standalone post-deploy smoke (runbook §3.5), the same checks `pulumi up` runs at the end:
 *
 *   node -r ts-node/register/transpile-only tools/smoke.ts <host or URL> [--email you@example.com]
 *
 * `EMAIL=you@example.com` in the environment works like `--email` (as with the runbook's
 * `scripts/staging-smoke.sh`). Exit codes: 0 all checks passed, 1 any check failed, 2 usage.
 */
import { formatSmokeReport, normalizeTarget, runSmokeChecks } from "../lib/health/smoke";

/** Where the CLI writes; injectable so tests can call {@link main} in-process. */
export interface CliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

const USAGE =
  "usage: node -r ts-node/register/transpile-only tools/smoke.ts <host or URL> " +
  "[--email you@example.com]\n" +
  "  EMAIL=… in the environment is the same as --email (sends a real magic-link mail).";

class UsageError extends Error {}

interface SmokeArgs {
  target: string;
  email?: string;
  help: boolean;
}

/** Parses argv (without node and script); throws {@link UsageError} on bad usage. */
function parseArgs(argv: string[], env: NodeJS.ProcessEnv): SmokeArgs {
  const positional: string[] = [];
  let email: string | undefined = env.EMAIL || undefined;
  let help = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") help = true;
    else if (arg === "--email") {
      email = argv[i + 1];
      i += 1;
      if (email === undefined || email.startsWith("-")) {
        throw new UsageError("--email needs a value");
      }
    } else if (arg.startsWith("--email=")) email = arg.slice("--email=".length);
    else if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (help) return { target: "", help };
  if (positional.length !== 1) {
    throw new UsageError(positional.length === 0 ? "missing <host or URL>"
      : `expected one target, got ${positional.length}: ${positional.join(" ")}`);
  }
  // Only a sanity check: the app does the real validation, this catches typos like a bare name.
  if (email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(email)) {
    throw new UsageError(`not an email address: ${JSON.stringify(email)}`);
  }
  return { target: positional[0], email, help };
}

/**
 * Runs the smoke CLI and returns its exit code (0 pass, 1 fail, 2 usage). Never calls
 * `process.exit`, so output is flushed and the function is testable in-process.
 */
export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = { stdout: (l) => console.log(l), stderr: (l) => console.error(l) },
): Promise<number> {
  let args: SmokeArgs;
  let baseUrl: string;
  try {
    args = parseArgs(argv, env);
    if (args.help) {
      io.stdout(USAGE);
      return 0;
    }
    baseUrl = normalizeTarget(args.target);
  } catch (e) {
    io.stderr(`smoke: ${e instanceof Error ? e.message : String(e)}`);
    io.stderr(USAGE);
    return 2;
  }
  if (!args.email) {
    io.stderr("smoke: magic-link check skipped (pass --email or EMAIL=… to run it)");
  }
  const result = await runSmokeChecks({ baseUrl, email: args.email });
  io.stdout(formatSmokeReport(result, baseUrl));
  return result.ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(`smoke: internal error: ${e instanceof Error ? e.stack : String(e)}`);
      process.exitCode = 1;
    },
  );
}
