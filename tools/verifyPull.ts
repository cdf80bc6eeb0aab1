/**
 * Runbook step "verify anonymous pull" (simulates Cloudron pulling the image):
 *
 *   node -r ts-node/register/transpile-only tools/verifyPull.ts <imageRef>
 *
 * Prints `PASS anonymous pull of <ref>: linux/amd64 manifest <digest>` and exits 0, or prints
 * `FAIL <kind>: <message>` to stderr and exits 1. Usage errors exit 2.
 */
import { ImageRefError, PullCheckError, verifyAnonymousPull } from "../lib/registry/ociRegistry";

/** Where the CLI writes; injectable so tests can run {@link main} in-process. */
export interface CliOutput {
  stdout(line: string): void;
  stderr(line: string): void;
}

const USAGE = "usage: verifyPull.ts <host[:port]/repository:tag | host/repository@sha256:…>";
const PLATFORM = "linux/amd64";

/** Runs the check for `args` (process.argv minus node and script) and returns the exit code. */
export async function main(args: string[], out: CliOutput = consoleOutput()): Promise<number> {
  if (args.length !== 1 || args[0].startsWith("-")) {
    out.stderr(USAGE);
    return 2;
  }
  const ref = args[0];
  try {
    const result = await verifyAnonymousPull(ref, { platform: PLATFORM });
    out.stdout(`PASS anonymous pull of ${ref}: ${PLATFORM} manifest ${result.platformDigest}`);
    return 0;
  } catch (err) {
    out.stderr(`FAIL ${failureKind(err)}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

/** A bad reference is not a registry outcome, so it gets its own label; anything else is a bug. */
function failureKind(err: unknown): string {
  if (err instanceof PullCheckError) return err.kind;
  return err instanceof ImageRefError ? "invalid-ref" : "internal";
}

function consoleOutput(): CliOutput {
  return { stdout: (line) => console.log(line), stderr: (line) => console.error(line) };
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
