/**
 * Secret scan for lifecycle scenarios: gathers every string the lifecycle runner recorded and looks
 * for every secret value the environment holds. A deploy may hand a secret to Cloudron in exactly
 * one place, the argv of `cloudron env set` (the CLI accepts app env values only there); anywhere
 * else (another call's argv, step output, errors, outputs, state, logs) is a leak.
 */
import * as fs from "node:fs";
import type { RunResult } from "./host";
import type { CloudronCall, Lifecycle } from "./runner";

/** One recorded string and where it came from (`run[2].steps[3].stdout`, `calls[5].argv[4]`, …). */
export interface ScanRecord {
  where: string;
  text: string;
}

/** A secret value found in a record. */
export interface SecretHit {
  where: string;
  secretName: string;
}

/** Result of a scan: how many strings were looked at, and every place a secret showed up. */
export interface ScanReport {
  scannedStrings: number;
  hits: SecretHit[];
}

/** The cloudron subcommand whose argv may carry app env values, secrets included. */
export const SECRET_ARGV_ALLOWED_SUB = "env set";

/** Pushes every string inside `value` (objects and arrays walked), each labelled by its path. */
export function collectStrings(value: unknown, where: string, out: ScanRecord[]): void {
  if (typeof value === "string") out.push({ where, text: value });
  else if (typeof value === "number" || typeof value === "boolean") out.push({ where, text: String(value) });
  else if (Array.isArray(value)) value.forEach((v, i) => collectStrings(v, `${where}[${i}]`, out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      // Keys are recorded too: a secret must not become a map key either.
      out.push({ where: `${where}{key}`, text: k });
      collectStrings(v, `${where}.${k}`, out);
    }
  }
}

/**
 * Records from the stand-in's call log. Argv of `cloudron env set` is left out on purpose: that is
 * the one sanctioned route for env values; its cwd and every other call's argv are kept.
 */
export function callRecords(calls: readonly CloudronCall[]): ScanRecord[] {
  const out: ScanRecord[] = [];
  calls.forEach((c, i) => {
    if (c.sub !== SECRET_ARGV_ALLOWED_SUB) collectStrings(c.argv, `calls[${i}](${c.sub}).argv`, out);
    collectStrings(c.cwd, `calls[${i}](${c.sub}).cwd`, out);
  });
  return out;
}

/** Records from runs: steps (command, stdout, stderr, error, detail), errors, outputs and host log. */
export function runRecords(results: readonly RunResult[]): ScanRecord[] {
  const out: ScanRecord[] = [];
  results.forEach((r, i) => {
    const run = `runs[${i}](${r.mode})`;
    r.steps.forEach((s, j) => {
      const step = `${run}.steps[${j}](${s.name})`;
      for (const field of ["command", "stdout", "stderr", "error"] as const) {
        if (s[field] !== undefined) collectStrings(s[field], `${step}.${field}`, out);
      }
      if (s.detail) collectStrings(s.detail, `${step}.detail`, out);
    });
    collectStrings(r.errors, `${run}.errors`, out);
    collectStrings(r.outputs, `${run}.outputs`, out);
    // The runner attaches the host process's whole stdout+stderr as `log`.
    const log = (r as RunResult & { log?: unknown }).log;
    if (typeof log === "string") out.push({ where: `${run}.log`, text: log });
  });
  return out;
}

/** Searches each record for each secret; a record holding two secrets yields two hits. */
export function scanRecords(records: readonly ScanRecord[], secrets: Readonly<Record<string, string>>): ScanReport {
  const hits: SecretHit[] = [];
  for (const record of records) {
    for (const [secretName, value] of Object.entries(secrets)) {
      if (value !== "" && record.text.includes(value)) hits.push({ where: record.where, secretName });
    }
  }
  return { scannedStrings: records.length, hits };
}

/**
 * Every secret of `lc`, by name: the cloudron token, the registry password, each `lc.secrets`
 * entry (maps as `key.NAME`), the stand-in app's current SESSION_SECRET, any other value
 * `lc.secretValues()` reports, and `extra` (e.g. SESSION_SECRETs seen before a rotation or destroy).
 */
export function namedSecrets(lc: Lifecycle, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const named: Record<string, string> = { cloudronToken: lc.token, registryPassword: lc.registryPassword };
  for (const [key, value] of Object.entries(lc.secrets)) {
    if (typeof value === "string") named[key] = value;
    else if (value && typeof value === "object") {
      for (const [name, v] of Object.entries(value as Record<string, unknown>)) named[`${key}.${name}`] = String(v);
    }
  }
  const session = lc.app()?.env.SESSION_SECRET;
  if (session) named.SESSION_SECRET = session;
  Object.assign(named, extra);
  const known = new Set(Object.values(named));
  lc.secretValues().forEach((v, i) => {
    if (!known.has(v)) named[`secretValues[${i}]`] = v;
  });
  return named;
}

/**
 * Scans everything `lc` recorded (call log, `results`, the runner's Pulumi state file as text)
 * for every secret of `lc` (see {@link namedSecrets}); only `cloudron env set` argv is exempt.
 */
export function scanForSecrets(lc: Lifecycle, results: readonly RunResult[], extraSecrets: Readonly<Record<string, string>> = {}): ScanReport {
  const records = [...callRecords(lc.calls()), ...runRecords(results)];
  if (fs.existsSync(lc.pulumiStatePath)) records.push({ where: "pulumi-state.json", text: fs.readFileSync(lc.pulumiStatePath, "utf8") });
  return scanRecords(records, namedSecrets(lc, extraSecrets));
}
