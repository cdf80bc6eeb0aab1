/**
 * The runbook's troubleshooting table (§8), as data: a failure message is matched to the likely
 * cause and the action an operator takes. Used by every tool that reports a Cloudron failure.
 */

interface Rule {
  pattern: RegExp;
  cause: string;
}

const RULES: Rule[] = [
  {
    pattern: /pull|manifest unknown|not found: manifest|image.*(not found|denied)|unauthorized|no matching manifest/i,
    cause:
      "image pull error: the registry package is private, the tag is wrong, or there is no linux/amd64 manifest. " +
      "Make the package public in Gitea and check the tag with `npm run verify-pull -- <image>`.",
  },
  {
    pattern: /database|503|postgres/i,
    cause: "health 503 / database not connected: the postgresql addon or CLOUDRON_POSTGRESQL_URL is missing (Cloudron app → Environment).",
  },
  {
    pattern: /crash|exited unexpectedly|migrat|not running|ECONNREFUSED|502|504/i,
    cause: "container crash on start: usually a failed `prisma migrate deploy`. Read `cloudron logs --app <app>` around the migration; fix forward with a new migration.",
  },
  {
    pattern: /is in use|409|conflict/i,
    cause: "the location is already used by another app: this program adopts only its own app (same manifest id).",
  },
  {
    pattern: /not logged in|401|403|token|authenticat/i,
    cause: "authentication: set communityrule:cloudronToken (dashboard → Profile → API Tokens, Read and Write) or run `cloudron login <server>`.",
  },
  {
    pattern: /seed/i,
    cause: "seed failed: recommendations stay empty until it succeeds; it is retried on the next up (runbook §3.4).",
  },
];

/** Likely cause and action for a failure message, or undefined when no rule matches. */
export function likelyCause(message: string): string | undefined {
  return RULES.find((r) => r.pattern.test(message))?.cause;
}
