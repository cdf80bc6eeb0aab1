/**
 * Runbook step "verify anonymous pull" (simulates Cloudron pulling the image):
 *
 *   node build/tools/verifyPull.js <imageRef>
 *
 * Prints `PASS anonymous pull of <ref>: linux/amd64 manifest <digest>` and exits 0, or prints
 * `FAIL <kind>: <message>` to stderr and exits 1. Usage errors exit 2.
 *
 *   node build/tools/verifyPull.js <repo:tag> --must-be-new
 *
 * The release-tag guard a build runs before it pushes: exits 0 when the tag does not exist yet,
 * 1 (`FAIL tag-exists`) when it does, since release tags never change (steps/image/promotion.ts).
 */
import { defineCli } from "../../lib/cli";
import { ImageRefError, PullCheckError, parseImageRef, verifyAnonymousPull } from "../../registry/ociRegistry";
import { judgeReleaseTagPush, releaseTagState } from "../image/promotion";

const USAGE = "usage: verifyPull.ts <host[:port]/repository:tag | host/repository@sha256:…> [--must-be-new]";
const PLATFORM = "linux/amd64";

/** The pull check CLI: returns its exit code. */
export const main = defineCli({
  name: "verifyPull",
  usage: USAGE,
  spec: { positional: ["imageRef"], flags: ["must-be-new"] },
  parse: (args) => ({ ref: args.positional.imageRef!, mustBeNew: args.flags["must-be-new"] }),
  run: async ({ ref, mustBeNew }, { io }) => {
    if (mustBeNew) return guardReleaseTag(ref, io);
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

/** The release-tag guard: the tag must not exist yet (a build is about to push it). */
async function guardReleaseTag(ref: string, io: { stdout(l: string): void; stderr(l: string): void }): Promise<number> {
  try {
    const image = parseImageRef(ref);
    const repository = `${image.registry}/${image.repository}`;
    const tag = image.tag ?? "";
    const verdict = judgeReleaseTagPush({ repository, tag, registry: await releaseTagState(repository, tag) });
    if (verdict.ok) {
      io.stdout(`PASS ${verdict.note}`);
      return 0;
    }
    io.stderr(`FAIL tag-exists: ${verdict.message}`);
    return 1;
  } catch (err) {
    io.stderr(`FAIL ${failureKind(err)}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

/** A bad reference is not a registry outcome, so it gets its own label; anything else is a bug. */
function failureKind(err: unknown): string {
  if (err instanceof PullCheckError) return err.kind;
  return err instanceof ImageRefError ? "invalid-ref" : "internal";
}
