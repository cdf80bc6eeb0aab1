/**
 * The app's env as CommunityRule itself reads it: which values break the app, which do nothing,
 * and which leave a feature broken. Each finding names the config key, what the app does with it
 * and the fix. Refusals stop `up`, plan, preflight and rehearsal like any config problem; warnings
 * are printed by plan, preflight and `up`/`preview` and change nothing.
 *
 * Read in the app (CommunityRule/community-rule, mirrored as adilallo/community-rule on GitHub;
 * summarized in ../shared/reference/community-rule-app.md):
 * - `lib/create/backendSyncEnabled.ts` (client code) reads NEXT_PUBLIC_ENABLE_BACKEND_SYNC; Next.js
 *   inlines every NEXT_PUBLIC_* into the client bundle at `next build`, and the Dockerfile passes no
 *   build arg for it, so a run-time value changes nothing.
 * - `app/api/organizer-inquiry/route.ts` (commit 625a8c3): `ORGANIZER_INQUIRY_TO` trimmed; empty →
 *   500 `server_misconfigured`; the From is `process.env.SMTP_FROM ?? "noreply@localhost"`, which the
 *   SES relay behind Cloudron's mail addon rejects (`lib/server/mail.ts` uses the same default).
 * - `lib/server/uploads/uploadRoot.ts` (commit 26bcd61): `path.resolve(UPLOAD_ROOT.trim())`; unset →
 *   upload routes answer 500 `server_misconfigured`. On Cloudron only /app/data (localstorage), /tmp
 *   and /run are writable, and only /app/data survives a restart or an update.
 * - `lib/server/webVitals/mode.ts` (commit 7dd2562): WEB_VITALS_STORAGE trimmed and lower-cased;
 *   `local` writes under /app/.next/web-vitals, read-only in a Cloudron container.
 */
import * as path from "node:path";
import { fullKey } from "./schema";

export type AppEnvSeverity = "refuse" | "warn";

/** One finding about one env name. */
export interface AppEnvFinding {
  severity: AppEnvSeverity;
  /** Full config key, e.g. `communityrule:env.SMTP_FROM`. */
  key: string;
  message: string;
}

/** What the rules read: the two env maps (secret values may be placeholders, so only names count). */
export interface AppEnvInput {
  /** Plain env as configured. */
  env: Record<string, string>;
  /** Secret env names; values are never read (plan and preflight see only placeholders). */
  secretEnvNames: readonly string[];
  /** Stack name for the fix commands (`-s <stack>`). */
  stack: string;
}

/** The only directory of a Cloudron app that is writable and kept across restarts and updates. */
export const PERSISTENT_DATA_DIR = "/app/data";

const refuse = (key: string, message: string): AppEnvFinding => ({ severity: "refuse", key, message });
const warn = (key: string, message: string): AppEnvFinding => ({ severity: "warn", key, message });

/** Whether a name is configured at all (plain or secret). */
function has(input: AppEnvInput, name: string): boolean {
  return name in input.env || input.secretEnvNames.includes(name);
}

/** Rule: NEXT_PUBLIC_* is decided when the image is built; at run time it is a restart that changes nothing. */
export function buildTimeEnvRule(input: AppEnvInput): AppEnvFinding[] {
  const names = [
    ...Object.keys(input.env).map((n) => ({ n, map: "env" })),
    ...input.secretEnvNames.map((n) => ({ n, map: "secretEnv" })),
  ].filter(({ n }) => n.startsWith("NEXT_PUBLIC_"));
  return names.map(({ n, map }) =>
    warn(
      fullKey(`${map}.${n}`),
      `${n} has no effect at run time: Next.js inlines NEXT_PUBLIC_* into the client bundle at ` +
        `\`next build\`, so the image decides it and setting it on Cloudron only restarts the app. ` +
        `Remove it (pulumi config rm --path '${map}.${n}' -s ${input.stack}); the next env apply removes it ` +
        `from the app once. To change it, build the image with it set.`,
    ),
  );
}

/** Rule: without SMTP_FROM sign-in mail goes out as noreply@localhost, which the mail relay rejects. */
export function smtpFromRule(input: AppEnvInput): AppEnvFinding[] {
  const key = fullKey("env.SMTP_FROM");
  const fix = `pulumi config set --path 'env.SMTP_FROM' 'Community Rule <hello@communityrule.info>' -s ${input.stack}`;
  if (!has(input, "SMTP_FROM")) {
    return [
      refuse(
        key,
        `is not set: the app then sends sign-in (magic link) mail from noreply@localhost, which the ` +
          `SES relay behind Cloudron's mail addon rejects, so nobody can sign in. Set it: ${fix}`,
      ),
    ];
  }
  if ("SMTP_FROM" in input.env && input.env.SMTP_FROM.trim() === "") {
    return [refuse(key, `is empty: sign-in mail would have no sender and be rejected. Set it: ${fix}`)];
  }
  return [];
}

/** Rule: the "Ask an organizer" form needs an inbox. */
export function organizerInquiryRule(input: AppEnvInput): AppEnvFinding[] {
  if (has(input, "ORGANIZER_INQUIRY_TO") && input.env.ORGANIZER_INQUIRY_TO?.trim() !== "") return [];
  return [
    warn(
      fullKey("secretEnv.ORGANIZER_INQUIRY_TO"),
      `is not set: POST /api/organizer-inquiry answers 500 server_misconfigured, so the "Ask an ` +
        `organizer" form is broken. Set the inbox: pulumi config set --secret --path ` +
        `'secretEnv.ORGANIZER_INQUIRY_TO' <address> -s ${input.stack}`,
    ),
  ];
}

/** Rule: uploads must land on the persistent, writable mount. */
export function uploadRootRule(input: AppEnvInput): AppEnvFinding[] {
  const key = fullKey("env.UPLOAD_ROOT");
  const fix = `pulumi config set --path 'env.UPLOAD_ROOT' ${PERSISTENT_DATA_DIR}/uploads -s ${input.stack}`;
  if (!has(input, "UPLOAD_ROOT")) {
    return [
      warn(
        key,
        `is not set: every upload route (and the smoke probe GET /api/uploads/smoke-check) answers 500 ` +
          `server_misconfigured. Set it: ${fix}`,
      ),
    ];
  }
  if (!("UPLOAD_ROOT" in input.env)) return []; // a secret value is not read here
  const raw = input.env.UPLOAD_ROOT.trim();
  // The app resolves it against its working directory, as path.resolve does inside the container.
  const resolved = raw === "" ? "" : path.posix.resolve("/app/code", raw);
  if (resolved === PERSISTENT_DATA_DIR || resolved.startsWith(`${PERSISTENT_DATA_DIR}/`)) return [];
  return [
    refuse(
      key,
      raw === ""
        ? `is empty: the app treats it as unset and every upload answers 500 server_misconfigured. Set it: ${fix}`
        : `is "${input.env.UPLOAD_ROOT}", outside ${PERSISTENT_DATA_DIR}: in a Cloudron container only ` +
            `${PERSISTENT_DATA_DIR} is writable and kept across restarts and updates, so uploads would fail or ` +
            `vanish. Set it under ${PERSISTENT_DATA_DIR}: ${fix}`,
    ),
  ];
}

/** Rule: web vitals cannot be stored locally in a read-only image. */
export function webVitalsRule(input: AppEnvInput): AppEnvFinding[] {
  const value = input.env.WEB_VITALS_STORAGE;
  if (value === undefined || value.trim().toLowerCase() !== "local") return [];
  return [
    refuse(
      fullKey("env.WEB_VITALS_STORAGE"),
      `is "${value}": the app then writes web vitals under /app/.next/web-vitals, which is read-only in a ` +
        `Cloudron container, so every report fails. Use external (structured logs): pulumi config set --path ` +
        `'env.WEB_VITALS_STORAGE' external -s ${input.stack}, or remove it (external is the app's default in ` +
        `production)`,
    ),
  ];
}

/** Every finding, in a stable order: refusals first, then warnings. */
export function appEnvFindings(input: AppEnvInput): AppEnvFinding[] {
  const findings = [
    ...smtpFromRule(input),
    ...uploadRootRule(input),
    ...webVitalsRule(input),
    ...buildTimeEnvRule(input),
    ...organizerInquiryRule(input),
  ];
  return [...findings.filter((f) => f.severity === "refuse"), ...findings.filter((f) => f.severity === "warn")];
}

/** The warnings as `key: message` lines, for plan, preflight and the program's log. */
export function appEnvWarnings(input: AppEnvInput): string[] {
  return appEnvFindings(input)
    .filter((f) => f.severity === "warn")
    .map((f) => `${f.key}: ${f.message}`);
}

/** The warnings for a validated config (its secret values are never read, only their names). */
export function configAppEnvWarnings(cfg: {
  stack: string;
  env: Record<string, string>;
  secretEnv: Record<string, string>;
}): string[] {
  return appEnvWarnings({ env: cfg.env, secretEnvNames: Object.keys(cfg.secretEnv), stack: cfg.stack });
}
