/**
 * Pure parts of the offline rehearsal (commands/rehearse/main.ts): its arguments, the list of settings
 * it replaces (and why), the near-miss check on the Cloudron server name, and how a recorded
 * Cloudron call is shown. No I/O here.
 */
import { isPlainSemver } from "../../config/loader";
import { shellQuote } from "../../lib/shell";
import { UsageError, type ArgSpec, type ParsedArgs } from "../../lib/cli";

export const REHEARSE_USAGE = [
  "usage: npm run rehearse -- <stack> [--release <version>] [--rollback]",
  "       npm run rehearse -- production --cutover",
  "  <stack>              staging or production (the stack file Pulumi.<stack>.yaml is validated as written)",
  "  --release <version>  after the first deploy, rehearse a release: bump the manifest to <version> and up again",
  "  --rollback           then roll back to the first version with build: false (implies a release to the next patch)",
  "  --cutover            production only: the first install at the apex from a legacy LAMP app (npm run cutover), a " +
    "failure after the uninstall included",
].join("\n");

export interface RehearseArgs {
  stack: string;
  release?: string;
  rollback: boolean;
  cutover: boolean;
}

/** The rehearsal's command line, for the one argument parser (lib/cli.ts). */
export const REHEARSE_SPEC: ArgSpec = {
  positional: ["stack"],
  values: ["release"],
  flags: ["rollback", "cutover"],
  ifMissing: { stack: "which stack? name it (no stack is assumed)" },
};

/**
 * The rehearsal's arguments from the parsed command line; throws {@link UsageError} for a version
 * that is not plain semver.
 */
export function rehearseArgsFrom(parsed: ParsedArgs): RehearseArgs {
  const release = parsed.values.release;
  if (release !== undefined && !isPlainSemver(release))
    throw new UsageError(
      `--release ${release}: the version must be plain semver X.Y.Z (Cloudron's manifest rule), e.g. 0.1.10`,
    );
  const cutover = parsed.flags.cutover;
  if (cutover && parsed.positional.stack !== "production")
    throw new UsageError(`--cutover rehearses production's first install at the apex; name the stack production`);
  if (cutover && (release !== undefined || parsed.flags.rollback))
    throw new UsageError("--cutover is rehearsed on its own, without --release or --rollback");
  return { stack: parsed.positional.stack!, release, rollback: parsed.flags.rollback, cutover };
}

/** The version after `version` (next patch): the release a bare --rollback rehearses first. */
export function nextPatch(version: string): string {
  const [major, minor, patch] = version.split(".").map(Number);
  return `${major}.${minor}.${patch + 1}`;
}

/** Why the rehearsal replaces a setting; keys not listed get a generic reason. */
const REASONS: Record<string, string> = {
  cloudronServer: "the Cloudron stand-in on this machine plays the server",
  cloudronToken: "a test token the Cloudron stand-in accepts (your real one stays encrypted)",
  imageRepository: "a throw-away registry on loopback stands in for the real registry",
  appDir: "a throw-away app checkout (the app's real CloudronManifest.json and a stub Dockerfile)",
  baseUrl: "a local server plays the app, so the health gate and smoke checks go there",
  registryUsername: "test credentials for the throw-away registry",
  registryPassword: "test credentials for the throw-away registry",
  healthTimeoutSeconds: "shortened so a failing step fails in seconds, not minutes",
  cloudronTimeoutSeconds: "shortened so a failing step fails in seconds, not minutes",
  busyWaitSeconds: "shortened so a failing step fails in seconds, not minutes",
  secretEnv: "test values (the real ones stay encrypted)",
};

export interface Replacement {
  key: string;
  asWritten: string;
  rehearsed: string;
  why: string;
}

const SECRET_KEYS = new Set(["cloudronToken", "registryPassword", "secretEnv"]);

function show(v: unknown): string {
  if (v === undefined) return "(not set)";
  if (v && typeof v === "object" && "secure" in (v as object)) return "(encrypted)";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * Every setting whose rehearsed value differs from the stack file as written. Secret values are
 * never shown: the file's as "(encrypted)", the rehearsal's as "(test value)".
 */
export function describeReplacements(
  asWritten: Record<string, unknown>,
  /** What each setting comes to when the file leaves it out (the plan's settings). */
  defaults: Record<string, unknown>,
  rehearsedConfig: Record<string, unknown>,
  rehearsedSecrets: Record<string, unknown>,
): Replacement[] {
  const out: Replacement[] = [];
  const keys = [...new Set([...Object.keys(rehearsedConfig), ...Object.keys(rehearsedSecrets)])];
  for (const key of keys) {
    const secret = key in rehearsedSecrets || SECRET_KEYS.has(key);
    const value = key in rehearsedSecrets ? rehearsedSecrets[key] : rehearsedConfig[key];
    if (!secret && JSON.stringify(value) === JSON.stringify(asWritten[key])) continue;
    out.push({
      key,
      asWritten:
        secret && asWritten[key] !== undefined
          ? "(encrypted)"
          : asWritten[key] === undefined && defaults[key] !== undefined
            ? `(default ${show(defaults[key])})`
            : show(asWritten[key]),
      rehearsed: secret ? "(test value)" : show(value),
      why: REASONS[key] ?? "set by the rehearsal's runner",
    });
  }
  return out;
}

/** Edit distance (insertions, deletions, substitutions) between two short strings. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/**
 * A server name that differs by one or two letters from the one another stack file names is
 * almost surely a typo (`my.medlab.hots` next to `my.medlab.host`): the sibling stack, or undefined.
 */
export function nearMissServer(
  server: string,
  others: Array<{ stack: string; server: string }>,
): { stack: string; server: string } | undefined {
  return others.find((o) => o.server !== server && editDistance(o.server.toLowerCase(), server.toLowerCase()) <= 2);
}

/**
 * One recorded Cloudron call as a line, whichever stand-in recorded it: CLI argv as a shell would
 * need it typed (quoted; values after `=` hidden, they may be env values) or an API call (method,
 * path, status).
 */
export function describeCall(call: object): string {
  const c = call as { argv?: unknown; method?: unknown; path?: unknown; status?: unknown; operation?: unknown };
  if (Array.isArray(c.argv)) {
    const shown = c.argv.map((a) => {
      const text = String(a);
      return /^[A-Za-z_][A-Za-z0-9_]*=/.test(text) ? `${text.split("=")[0]}=…` : shellQuote(text);
    });
    return `cloudron ${shown.join(" ")}`;
  }
  if (typeof c.method === "string" && typeof c.path === "string") {
    const status = c.status !== undefined ? ` → ${String(c.status)}` : "";
    const operation = typeof c.operation === "string" ? ` (${c.operation})` : "";
    return `${c.method} ${c.path.split("?")[0]}${status}${operation}`;
  }
  return JSON.stringify(call);
}
