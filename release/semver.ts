/**
 * The few semver comparisons the release rules use, each required from its own file in the semver
 * package. `require("semver")` loads all 47 of its modules (about 11 ms on the 2-core machine), and
 * every deploy tool process and operator command pays that at start; these five load 8.
 */
import compareVersions from "semver/functions/compare";
import parseVersion from "semver/functions/valid";

export const valid = parseVersion;
export const lt = (a: string, b: string): boolean => compareVersions(a, b) < 0;
export const gt = (a: string, b: string): boolean => compareVersions(a, b) > 0;
export const eq = (a: string, b: string): boolean => compareVersions(a, b) === 0;
/** Newest first, for sort(). */
export const rcompare = (a: string, b: string): number => compareVersions(b, a);
