/**
 * Runbook step "verify anonymous pull" (simulates Cloudron pulling the image):
 *
 *   node -r ts-node/register/transpile-only tools/verifyPull.ts <imageRef>
 *
 * Prints `PASS anonymous pull of <ref>: linux/amd64 manifest <digest>` and exits 0, or prints
 * `FAIL <kind>: <message>` to stderr and exits 1. Usage errors exit 2.
 */
import { defineCli, runAsMain } from "../lib/cli/args";
import { ImageRefError, PullCheckError, verifyAnonymousPull } from "../lib/registry/ociRegistry";

const USAGE = "usage: verifyPull.ts <host[:port]/repository:tag | host/repository@sha256:…>";
const PLATFORM = "linux/amd64";

/** The pull check CLI: returns its exit code. */
export const main = defineCli({
  name: "verifyPull",
  usage: USAGE,
  spec: { positional: ["imageRef"] },
  parse: (args) => args.positional.imageRef!,
  run: async (ref, { io }) => {
    try {
      const result = await verifyAnonymousPull(ref, { platform: PLATFORM });
      io.stdout(`PASS anonymous pull of ${ref}: ${PLATFORM} manifest ${result.platformDigest}`);
      return 0;
    } catch (err) {
      io.stderr(`FAIL ${failureKind(err)}: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
  },
});

/** A bad reference is not a registry outcome, so it gets its own label; anything else is a bug. */
function failureKind(err: unknown): string {
  if (err instanceof PullCheckError) return err.kind;
  return err instanceof ImageRefError ? "invalid-ref" : "internal";
}

if (require.main === module) runAsMain(main);
