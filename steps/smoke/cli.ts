/**
 * Standalone post-deploy smoke (runbook §3.5), the same checks `pulumi up` runs at the end:
 *
 *   node build/tools/smoke.js <host or URL> [--email you@example.com]
 *
 * `EMAIL=you@example.com` in the environment works like `--email` (as with the runbook's
 * `scripts/staging-smoke.sh`). Exit codes: 0 all checks passed, 1 any check failed, 2 usage.
 */
import { defineCli, UsageError } from "../../lib/cli";
import { formatSmokeReport, manualAcceptanceSteps, normalizeTarget, runSmokeChecks } from "./checks";

const USAGE =
  "usage: node build/tools/smoke.js <host or URL> " +
  "[--email you@example.com]\n" +
  "  EMAIL=… in the environment is the same as --email (sends a real magic-link mail).";

/** The smoke CLI: returns its exit code (0 pass, 1 fail, 2 usage). */
export const main = defineCli({
  name: "smoke",
  usage: USAGE,
  spec: { positional: ["host or URL"], values: ["email"] },
  parse: (args, env) => {
    const email = args.values.email ?? (env.EMAIL || undefined);
    // Only a sanity check: the app does the real validation, this catches typos like a bare name.
    if (email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(email))
      throw new UsageError(`not an email address: ${JSON.stringify(email)}`);
    return { baseUrl: asUsage(() => normalizeTarget(args.positional["host or URL"]!)), email };
  },
  run: async ({ baseUrl, email }, { io }) => {
    if (!email) io.stderr("smoke: magic-link check skipped (pass --email or EMAIL=… to run it)");
    const result = await runSmokeChecks({ baseUrl, email });
    io.stdout(formatSmokeReport(result, baseUrl));
    // The automated checks cover what curl can; the app's acceptance list has steps only a person can
    // do, worth doing once the automated ones pass (as its scripts/staging-smoke.sh says).
    if (result.ok)
      io.stdout(
        [
          "manual acceptance (not automated; do these by hand):",
          ...manualAcceptanceSteps(baseUrl).map((m) => `  - ${m}`),
        ].join("\n"),
      );
    return result.ok ? 0 : 1;
  },
});

/** A target the operator typed wrong is a usage mistake (exit 2), not a failed check. */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}
