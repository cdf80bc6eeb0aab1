/**
 * The one hostname pattern: a bare DNS name such as `staging.communityrule.info` (no scheme, path,
 * port, user info or trailing dot). Config, scripts and tools all check host names with it.
 */

const HOSTNAME_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A bare DNS hostname, lower case, with at least two labels (config keys name real hosts); with
 * `singleLabel`, `localhost`-style names pass too (an operator's smoke target).
 */
export function isHostname(value: string, opts: { singleLabel?: boolean } = {}): boolean {
  if (value.length > 253) return false;
  const labels = value.split(".");
  return labels.length >= (opts.singleLabel ? 1 : 2) && labels.every((l) => HOSTNAME_LABEL.test(l));
}

/** Explains why a string is not a bare hostname, naming the part to drop. */
export function describeHostnameProblem(value: string): string {
  if (value.trim() === "") return "must not be empty";
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value))
    return `drop the scheme: use "${value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").split("/")[0]}"`;
  if (value.includes("/")) return `a hostname has no path: use "${value.split("/")[0]}"`;
  if (value.includes(":")) return "a hostname has no port";
  if (/[A-Z]/.test(value)) return `use lower case: "${value.toLowerCase()}"`;
  if (value !== value.trim() || /\s/.test(value)) return "must not contain spaces";
  if (!value.includes(".")) return "must be a fully qualified name such as staging.communityrule.info";
  return "is not a valid DNS hostname (letters, digits, '-' and '.' only)";
}
