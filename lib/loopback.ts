/**
 * The loopback rule: which hosts are this machine. Plain http is allowed only to them (local
 * stand-ins of Cloudron and the registry), since nothing secret crosses a network there.
 */

/** `localhost`, `::1` (bracketed or not) and 127.0.0.0/8, in any letter case. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || h === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The hosts {@link isLoopbackHost} accepts, as messages name them. */
export const LOOPBACK_HOSTS_TEXT = "127.0.0.1, localhost, [::1]";

/** True for `http://<loopback host>[:port][/]`: a local stand-in's base URL (no path, query or user). */
export function isLoopbackHttpUrl(value: string): boolean {
  if (!/^http:\/\/[^/?#@]+\/?$/i.test(value)) return false;
  try {
    return isLoopbackHost(new URL(value).hostname);
  } catch {
    return false;
  }
}
