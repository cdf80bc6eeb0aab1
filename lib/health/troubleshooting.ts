/**
 * The runbook's troubleshooting table (§8), as data, and the only copy of it: each row names a
 * symptom and the action an operator takes. The health gate picks a row by what it observed
 * ({@link troubleshoot}); tools that only have a failure message match it ({@link likelyCause}).
 */

/** The rows of the table. */
export type TroubleKind =
  | "image-pull"
  | "database"
  | "not-configured"
  | "crash"
  | "dns"
  | "location-in-use"
  | "auth"
  | "seed"
  | "wrong-app"
  | "unexpected";

interface Row {
  kind: TroubleKind;
  /** Failure messages that point at this row; rows without one are only picked by kind. */
  pattern?: RegExp;
  /** The likely cause and the operator's action; `app` is the Cloudron location when known. */
  action: (app: string) => string;
}

/** In matching order: the first row whose pattern matches a message wins. */
const TABLE: readonly Row[] = [
  {
    kind: "image-pull",
    pattern: /pull|manifest unknown|not found: manifest|image.*(not found|denied)|unauthorized|no matching manifest/i,
    action: () =>
      "image pull error: the registry package is private, the tag is wrong, or there is no linux/amd64 manifest. " +
      "Make the package public in Gitea and check the tag with `npm run verify-pull -- <image>`.",
  },
  {
    kind: "database",
    pattern: /database|503|postgres/i,
    action: () => "postgresql addon or CLOUDRON_POSTGRESQL_URL missing: Cloudron app → Environment / addons",
  },
  {
    kind: "crash",
    pattern: /crash|exited unexpectedly|migrat|not running|ECONNREFUSED|502|504/i,
    action: (app) =>
      "container not running: crash on start is usually a failed migration, see " +
      `\`cloudron logs --app ${app}\` around \`prisma migrate deploy\`; fix forward with a new migration`,
  },
  {
    kind: "location-in-use",
    pattern: /is in use|409|conflict/i,
    action: () => "the location is already used by another app: this program adopts only its own app (same manifest id).",
  },
  {
    kind: "auth",
    pattern: /not logged in|401|403|token|authenticat/i,
    action: () =>
      "authentication: set communityrule:cloudronToken (dashboard → Profile → API Tokens, Read and Write) or run `cloudron login <server>`.",
  },
  {
    kind: "seed",
    pattern: /seed/i,
    action: () => "seed failed: recommendations stay empty until it succeeds; it is retried on the next up (runbook §3.4).",
  },
  {
    kind: "not-configured",
    action: () => "postgresql addon missing (the app has no database URL): Cloudron app → addons, then restart the app",
  },
  { kind: "dns", action: () => "the location does not resolve: check the URL and the app's Cloudron location/DNS" },
  { kind: "wrong-app", action: () => "wrong app answering at that URL, or proxy error page" },
  { kind: "unexpected", action: (app) => `unexpected answer: check the URL and \`cloudron logs --app ${app}\`` },
];

/** The action for a row of the table, with the app's location filled in when known. */
export function troubleshoot(kind: TroubleKind, app?: string): string {
  return TABLE.find((r) => r.kind === kind)!.action(app ?? "<app>");
}

/** Likely cause and action for a failure message, or undefined when no row matches. */
export function likelyCause(message: string, app?: string): string | undefined {
  return TABLE.find((r) => r.pattern?.test(message))?.action(app ?? "<app>");
}

/**
 * What to check when no HTTP answer came back at all, by the connection error's code, or
 * undefined for codes without specific advice. `url` is what was asked.
 */
export function connectionHint(code: string | undefined, url: string, timeoutMs: number): string | undefined {
  const host = (() => {
    try {
      return new URL(url).hostname;
    } catch {
      return url;
    }
  })();
  switch (code) {
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `${host} does not resolve (${code}): check the host name (e.g. staging.communityrule.info)`;
    case "ECONNREFUSED":
      return `nothing listens at ${url} (ECONNREFUSED): is the app running (Cloudron dashboard), is the port right?`;
    case "ETIMEDOUT":
      return `no answer from ${url} within ${timeoutMs / 1000} s (ETIMEDOUT): network, firewall or a stopped app`;
    default:
      return undefined;
  }
}
