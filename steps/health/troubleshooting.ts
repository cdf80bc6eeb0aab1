/**
 * The runbook's troubleshooting table (§8), as data, and the only copy of it: each row names a
 * symptom and the action an operator takes. A row is chosen from the failing step plus what was
 * seen: the app's and the task's log lines ({@link readAppLog}), the health answer, the seed's
 * output ({@link diagnoseFailure}). Tools that only have a failure message match it
 * ({@link likelyCause}).
 *
 * What the logs are read for, and where each pattern comes from:
 * - Prisma's migrate errors (prisma/prisma-engines, schema-engine/core/src/commands/apply_migrations.rs
 *   and user-facing-errors): P3009 "migrate found failed migrations in the target database … The
 *   `<name>` migration started at <time> failed"; P3018 "A migration failed to apply … Migration
 *   name: <name>"; any other `Error: P3xxx`; P1001 "Can't reach database server".
 * - The app's start (fixture scripts/start.sh): `prisma migrate deploy && exec node server.js`, so
 *   every start prints Prisma's "Prisma schema loaded from …" first; several of them in a short
 *   window is a container starting again and again.
 * - Health bodies (fixture app/api/health/route.ts): 200 `{"ok":true,"database":"not_configured"}`
 *   without a database URL; 503 `{"ok":false,"database":"error"}` when the URL is set and the query
 *   fails; a body that is not the app's JSON came from Cloudron's proxy.
 * - The seed (fixture prisma/seed.ts and seed/seedDataPaths.ts): Prisma P2021/P2022 or PostgreSQL
 *   `relation "…" does not exist` when the schema is missing; ENOENT on the seed data or bundle in
 *   images that do not ship them (seed data from 0.1.8, the bundle from 0.1.3).
 */

/** The rows of the table. */
export type TroubleKind =
  | "image-pull"
  | "migration-failed"
  | "migration-error"
  | "crash-loop"
  | "proxy-page"
  | "database"
  | "database-down"
  | "not-configured"
  | "crash"
  | "dns"
  | "location-in-use"
  | "auth"
  | "seed"
  | "seed-schema"
  | "seed-data"
  | "seed-cli-auth"
  | "wrong-app"
  | "unexpected";

/** Facts a row's action is written with. */
interface RowFacts {
  app: string;
  migration?: string;
  code?: string;
  starts?: number;
  status?: number;
}

interface Row {
  kind: TroubleKind;
  /** Failure messages that point at this row; rows without one are only picked by kind. */
  pattern?: RegExp;
  /** The likely cause and the operator's action. */
  action: (f: RowFacts) => string;
}

const RESOLVE = (f: RowFacts) =>
  `open a shell that does not run the start script (\`cloudron debug --app ${f.app}\`, ` +
  `then \`cloudron exec --app ${f.app}\`), see what the migration left (\`npx prisma migrate status\`), ` +
  `undo or finish its partial changes, then mark it with ` +
  `\`npx prisma migrate resolve --rolled-back ${f.migration ?? "<migration>"}\` (to apply a fixed migration next) or ` +
  `\`npx prisma migrate resolve --applied ${f.migration ?? "<migration>"}\` (if you completed it by hand); ` +
  `\`cloudron debug --app ${f.app} --disable\`, then run up again. ` +
  `Never \`prisma migrate reset\`: it drops every table`;

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
    kind: "migration-failed",
    action: (f) =>
      `\`prisma migrate deploy\` stops at migration ${f.migration} (${f.code}): Prisma recorded it as failed, ` +
      `so every start of every image (the previous one too) stops there until it is resolved; ` +
      `a fix-forward release cannot start either. ` +
      `To resolve: ${RESOLVE(f)}`,
  },
  {
    kind: "migration-error",
    action: (f) =>
      `\`prisma migrate deploy\` failed at start (${f.code}); the app never gets to serve. ` +
      `Read the error in the log lines below ` +
      `(\`cloudron logs --app ${f.app}\`); for a failed migration: ${RESOLVE(f)}`,
  },
  {
    kind: "crash-loop",
    action: (f) =>
      `the container keeps restarting (${f.starts} starts in the last log lines): ` +
      `the error before the last start, in the lines ` +
      `below, is why (\`cloudron logs --app ${f.app}\`)`,
  },
  {
    kind: "proxy-page",
    action: (f) =>
      `the answer${f.status ? ` (HTTP ${f.status})` : ""} came from Cloudron's proxy, not from the app: ` +
      `the container is not ` +
      `serving (still starting, stopped or crashing); its log is below (\`cloudron logs --app ${f.app}\`)`,
  },
  {
    kind: "database",
    pattern: /database|503|postgres/i,
    action: (f) =>
      'the app has a database URL but its query failed (503 {"ok":false,"database":"error"}): ' +
      "the postgresql addon is down " +
      `or unreachable: dashboard → Services → postgresql, and \`cloudron logs --app ${f.app}\``,
  },
  {
    kind: "database-down",
    action: (f) =>
      `the app cannot reach its database server (Prisma P1001): dashboard → Services → postgresql (restart it), ` +
      `then \`cloudron restart --app ${f.app}\``,
  },
  {
    kind: "crash",
    pattern: /crash|exited unexpectedly|migrat|not running|ECONNREFUSED|502|504/i,
    action: (f) =>
      "container not running: crash on start is usually a failed migration, see " +
      `\`cloudron logs --app ${f.app}\` around \`prisma migrate deploy\`; ` +
      `resolve a failed migration with \`prisma migrate resolve\` (never reset)`,
  },
  {
    kind: "location-in-use",
    pattern: /is in use|409|conflict/i,
    action: () =>
      "the location is already used by another app: this program adopts only its own app (same manifest id).",
  },
  {
    kind: "auth",
    pattern: /not logged in|401|403|authenticat/i,
    action: () =>
      "authentication: set communityrule:cloudronToken (dashboard → Profile → API Tokens, Read and Write) or run " +
      "`cloudron login <server>`.",
  },
  {
    kind: "seed",
    pattern: /seed/i,
    action: () =>
      "seed failed: recommendations stay empty until it succeeds; it is retried on the next up (runbook §3.4).",
  },
  {
    kind: "seed-schema",
    action: (f) =>
      "the seed found tables or columns missing: the migrations have not run on this database. Check the app's start " +
      `(\`prisma migrate deploy\` in \`cloudron logs --app ${f.app}\`) and that the health gate passed; ` +
      `the seed is retried on the next up`,
  },
  {
    kind: "seed-data",
    action: () =>
      "the image does not ship what the seed needs (ENOENT): /app/seed-data exists from 0.1.8 on, " +
      "prisma/seed.bundle.cjs from 0.1.3 on; " +
      "deploy a newer release, then run up again (the seed is retried)",
  },
  {
    kind: "seed-cli-auth",
    action: () =>
      "the `cloudron` CLI was refused before the seed ran (not logged in / 401): " +
      "check communityrule:cloudronToken or `cloudron login <server>`",
  },
  {
    kind: "not-configured",
    action: () =>
      "postgresql addon missing (the app has no database URL): " + "Cloudron app → addons, then restart the app",
  },
  { kind: "dns", action: () => "the location does not resolve: check the URL and the app's Cloudron location/DNS" },
  { kind: "wrong-app", action: () => "wrong app answering at that URL, or proxy error page" },
  { kind: "unexpected", action: (f) => `unexpected answer: check the URL and \`cloudron logs --app ${f.app}\`` },
];

/** The action for a row of the table, with the app's location (and the row's facts) filled in. */
export function troubleshoot(kind: TroubleKind, app?: string, facts: Omit<RowFacts, "app"> = {}): string {
  return TABLE.find((r) => r.kind === kind)!.action({ app: app ?? "<app>", ...facts });
}

/** Likely cause and action for a failure message, or undefined when no row matches. */
export function likelyCause(message: string, app?: string): string | undefined {
  return TABLE.find((r) => r.pattern?.test(message))?.action({ app: app ?? "<app>" });
}

// ---- reading logs -------------------------------------------------------------------------------

/** What an app's (or a task's) log lines say. */
export interface LogFindings {
  /** A migration Prisma names as failed (P3009, P3018) and the code. */
  failedMigration?: { name: string; code: string };
  /** A Prisma migrate error code (P3xxx) when no migration is named. */
  migrateError?: string;
  /** Prisma P1001: the database server is unreachable. */
  databaseUnreachable: boolean;
  /** Starts of the app within the lines (Prisma prints its schema line at each start). */
  starts: number;
  /** Indexes of the lines that carry the finding, for the excerpt. */
  evidence: number[];
}

const START_LINE = /Prisma schema loaded from/;
/** Starts within the fetched lines that make a crash loop (an install and a restart are two). */
const CRASH_LOOP_STARTS = 3;
const P3009_NAME = /The `([^`]+)` migration started at .* failed/;
const P3018_NAME = /Migration name: (\S+)/;
const PRISMA_CODE = /\b(P3\d{3})\b/;

/** Reads log lines (oldest first) for the causes the table knows. */
export function readAppLog(lines: readonly string[]): LogFindings {
  const found: LogFindings = { databaseUnreachable: false, starts: 0, evidence: [] };
  let code: string | undefined;
  lines.forEach((line, i) => {
    if (START_LINE.test(line)) found.starts += 1;
    const c = PRISMA_CODE.exec(line)?.[1];
    if (c) {
      code = c;
      found.evidence.push(i);
    }
    const name = P3009_NAME.exec(line)?.[1] ?? (code === "P3018" ? P3018_NAME.exec(line)?.[1] : undefined);
    if (name) {
      found.failedMigration = { name, code: code ?? (P3009_NAME.test(line) ? "P3009" : "P3018") };
      found.evidence.push(i);
    }
    if (/\bP1001\b|Can't reach database server/.test(line)) {
      found.databaseUnreachable = true;
      found.evidence.push(i);
    }
  });
  if (!found.failedMigration && code) found.migrateError = code;
  found.evidence = [...new Set(found.evidence)].sort((a, b) => a - b);
  return found;
}

// ---- choosing a row -------------------------------------------------------------------------------

/** What is known about a failure when a row is chosen. */
export interface FailureContext {
  /** The failing step: health, install, update, env, rollback, seed, uninstall, … */
  step: string;
  /** The app's location, for the commands in the action. */
  app?: string;
  /** The step's own error text. */
  message?: string;
  /** The app's last log lines, oldest first (already masked). */
  appLog?: readonly string[];
  /** The failed task's log lines (already masked). */
  taskLog?: readonly string[];
  /** The health gate's last answer: status (undefined when none came) and body. */
  health?: { status?: number; body?: string };
}

/** The chosen row and its action. */
export interface Diagnosis {
  kind: TroubleKind;
  action: string;
  /** Log findings the choice rests on (for the excerpt). */
  findings?: LogFindings;
}

function appJson(body: string | undefined): Record<string, unknown> | undefined {
  if (!body) return undefined;
  try {
    const v = JSON.parse(body) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The seed's row: schema missing, seed data missing, the CLI refused, else the generic one. */
function seedKind(text: string): TroubleKind {
  const schemaMissing = /\bP202[12]\b|relation "[^"]+" does not exist|(table|column) `?[^`\s]+`? does not exist/i;
  if (schemaMissing.test(text)) return "seed-schema";
  if (/ENOENT|seed-data|Cannot find module .*seed\.bundle/i.test(text)) return "seed-data";
  if (/not logged in|\b401\b|Unauthorized/i.test(text) && !/__SEED_EXIT__|Seeded/.test(text)) return "seed-cli-auth";
  return "seed";
}

/**
 * Chooses the row for a failure from the step and what was seen, most specific first: a failed
 * migration in the app's log (it explains a crash loop, a proxy page and a failed rollback alike),
 * the seed's own output, an unreachable database, the health answer (the app's JSON or the proxy's
 * page), a crash loop, then the failure message. Undefined when nothing points anywhere.
 */
export function diagnoseFailure(ctx: FailureContext): Diagnosis | undefined {
  const app = ctx.app ?? "<app>";
  const lines = [...(ctx.taskLog ?? []), ...(ctx.appLog ?? [])];
  const findings = readAppLog(ctx.appLog ?? []);
  const pick = (kind: TroubleKind, facts: Omit<RowFacts, "app"> = {}): Diagnosis => ({
    kind,
    action: troubleshoot(kind, app, facts),
    findings,
  });
  const failed = findings.failedMigration;
  if (failed) return pick("migration-failed", { migration: failed.name, code: failed.code });
  if (findings.migrateError) return pick("migration-error", { code: findings.migrateError });
  if (ctx.step === "seed") return pick(seedKind(ctx.message ?? ""));
  if (findings.databaseUnreachable) return pick("database-down");
  if (ctx.health) {
    const { status, body } = ctx.health;
    const json = appJson(body);
    if (json && json.database === "not_configured") return pick("not-configured");
    if (json && (json.database === "error" || json.ok === false)) return pick("database");
    if (status !== undefined && status >= 500 && !json) {
      const kind = findings.starts >= CRASH_LOOP_STARTS ? "crash-loop" : "proxy-page";
      return pick(kind, { starts: findings.starts, status });
    }
  }
  if (findings.starts >= CRASH_LOOP_STARTS) return pick("crash-loop", { starts: findings.starts });
  if (/pull|manifest unknown|no matching manifest/i.test(lines.join("\n"))) return pick("image-pull");
  const fromMessage = TABLE.find((r) => r.pattern?.test(ctx.message ?? ""));
  return fromMessage ? pick(fromMessage.kind) : undefined;
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
