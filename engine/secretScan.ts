/**
 * Secret scan for lifecycle scenarios: gathers every string the lifecycle runner recorded and looks
 * for every secret value the environment holds. A deploy may hand a secret to Cloudron in exactly
 * two places, the `env` of the install and configure/env request bodies (the REST API takes app env
 * values only there); anywhere else (another request's path, query or body, any process's argv,
 * step output, errors, outputs, state, logs) is a leak. Answers of the API are not scanned: they are
 * the server's own data (GET /apps carries every app's env); what matters is that the client never
 * repeats them, which the run records show.
 */
import * as fs from "node:fs";
import type { RunResult } from "./host";
import type { ApiCall, ExecCall, Lifecycle } from "./runner";

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

/** The API operations whose request body may carry app env values, secrets included (in `env` only). */
export const SECRET_BODY_OPERATIONS: ReadonlySet<string> = new Set(["installApp", "setAppEnv"]);

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
 * Records from the API stand-in's call log: path, query and request body of every call. The `env`
 * of an install or configure/env body is left out on purpose (the sanctioned route); the rest of
 * those bodies (manifest, location) is kept.
 */
export function apiCallRecords(calls: readonly ApiCall[]): ScanRecord[] {
  const out: ScanRecord[] = [];
  calls.forEach((c, i) => {
    const where = `calls[${i}](${c.operation})`;
    collectStrings(c.path, `${where}.path`, out);
    collectStrings(c.query, `${where}.query`, out);
    if (c.requestBody === undefined) return;
    if (SECRET_BODY_OPERATIONS.has(c.operation) && c.requestBody && typeof c.requestBody === "object") {
      const { env: _sanctioned, ...rest } = c.requestBody as Record<string, unknown>;
      collectStrings(rest, `${where}.body`, out);
    } else {
      collectStrings(c.requestBody, `${where}.body`, out);
    }
  });
  return out;
}

/** Records from the `cloudron exec` stand-in's log: argv and cwd of every invocation. */
export function execCallRecords(calls: readonly ExecCall[]): ScanRecord[] {
  const out: ScanRecord[] = [];
  calls.forEach((c, i) => {
    collectStrings(c.argv, `exec[${i}].argv`, out);
    collectStrings(c.cwd, `exec[${i}].cwd`, out);
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
  const session = lc.standin().apps.length > 0 ? lc.app()?.env.SESSION_SECRET : undefined;
  if (session) named.SESSION_SECRET = session;
  Object.assign(named, extra);
  const known = new Set(Object.values(named));
  lc.secretValues().forEach((v, i) => {
    if (!known.has(v)) named[`secretValues[${i}]`] = v;
  });
  return named;
}

/**
 * Scans everything `lc` recorded (API call log, exec argv log, `results`, the runner's Pulumi state
 * file as text) for every secret of `lc` (see {@link namedSecrets}); only the env of install and
 * configure/env bodies is exempt.
 */
export function scanForSecrets(
  lc: Lifecycle,
  results: readonly RunResult[],
  extraSecrets: Readonly<Record<string, string>> = {},
): ScanReport {
  const records = [...apiCallRecords(lc.calls()), ...execCallRecords(lc.execCalls()), ...runRecords(results)];
  if (fs.existsSync(lc.pulumiStatePath))
    records.push({ where: "pulumi-state.json", text: fs.readFileSync(lc.pulumiStatePath, "utf8") });
  return scanRecords(records, namedSecrets(lc, extraSecrets));
}

/** What a {@link ProcSampler} saw: how often it looked, and every distinct command line. */
export interface ProcSample {
  samples: number;
  /** Distinct command lines (argv joined by spaces), each with the first pid seen running it. */
  cmdlines: Map<string, number>;
}

/** A running sampler of the process table; `stop()` returns what it saw. */
export interface ProcSampler {
  stop(): ProcSample;
}

/**
 * Samples `/proc/<pid>/cmdline` of every process on the machine every `intervalMs` (what any local
 * user can read with `ps`), keeping each distinct command line. Secrets generated during a run
 * (SESSION_SECRET) are only known afterwards, so the lines are kept and scanned at the end with
 * {@link scanCmdlines}. Linux only.
 */
export function startProcSampler(intervalMs = 10): ProcSampler {
  const seen = new Map<string, number>();
  let samples = 0;
  const sample = () => {
    samples += 1;
    let pids: string[];
    try {
      pids = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p));
    } catch {
      return;
    }
    for (const pid of pids) {
      let raw: Buffer;
      try {
        raw = fs.readFileSync(`/proc/${pid}/cmdline`);
      } catch {
        continue; // gone between listing and reading
      }
      if (raw.length === 0) continue;
      const line = raw.toString("utf8").replace(/\0+$/, "").split("\0").join(" ");
      if (!seen.has(line)) seen.set(line, Number(pid));
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { samples, cmdlines: seen };
    },
  };
}

/** Every command line in `sample` that holds one of `secrets`, as hits naming the pid. */
export function scanCmdlines(sample: ProcSample, secrets: Readonly<Record<string, string>>): SecretHit[] {
  const records: ScanRecord[] = [...sample.cmdlines].map(([line, pid]) => ({
    where: `/proc/${pid}/cmdline`,
    text: line,
  }));
  return scanRecords(records, secrets).hits;
}
