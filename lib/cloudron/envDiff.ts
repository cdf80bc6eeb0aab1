/**
 * Env-var diffing for the one `cloudron env set` / `env unset` pair an `up` may run. Values are
 * compared through "records": plain values as themselves, secret values as keyed fingerprints, so
 * what is stored between runs never holds a secret.
 */
import { createHmac } from "node:crypto";

/** What was (or should be) applied: name → plain value, or `hmac:<hex>` for a secret. */
export type EnvRecord = Record<string, string>;

export interface EnvPlan {
  /** Names to set, sorted; one `env set` call carries all of them. */
  set: string[];
  /** Names to remove, sorted; one `env unset` call carries all of them. */
  unset: string[];
}

/** Fingerprint of a secret value: HMAC keyed by a generated key, so it cannot be brute-forced. */
export function fingerprint(key: string, name: string, value: string): string {
  return "hmac:" + createHmac("sha256", key).update(`${name}\0${value}`).digest("hex").slice(0, 16);
}

/**
 * Plans the smallest change from `previous` (what the last successful apply recorded; empty on
 * first apply or adoption) to `desired`. Unchanged names are not touched. Only names this program
 * applied before can be unset: variables someone set by hand stay.
 */
export function planEnvChanges(previous: EnvRecord, desired: EnvRecord): EnvPlan {
  const set = Object.keys(desired).filter((k) => previous[k] !== desired[k]);
  const unset = Object.keys(previous).filter((k) => !(k in desired));
  return { set: set.sort(), unset: unset.sort() };
}

/** True when nothing needs to happen. */
export function isEmptyPlan(plan: EnvPlan): boolean {
  return plan.set.length === 0 && plan.unset.length === 0;
}
