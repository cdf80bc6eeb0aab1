/**
 * Shapes of the Cloudron REST API calls this project makes, written from Cloudron's OpenAPI
 * description (shared/reference/cloudron-openapi.json, January 2026). Loose where the spec is
 * loose (unknown fields pass through untouched), strict on every field this project reads.
 *
 * An answer that does not match is an {@link ApiShapeError} naming the endpoint and the field
 * path, never the value: app objects carry every app's env, i.e. other apps' secrets.
 */
import * as z from "../lib/zod";
import { ONE_SHOT_PARSE } from "../lib/zod";

/** Task and app ids: the spec types task ids as integers in answers and strings in the Task object. */
const idString = z.union([z.string().min(1), z.number().int().nonnegative()]).transform((v) => String(v));

/** `{ status, message }`, the body of every 4xx/5xx answer. */
export const errorBodySchema = z.looseObject({ status: z.string().optional(), message: z.string().optional() });

/** GET /profile */
export const profileSchema = z.looseObject({
  id: z.string().optional(),
  username: z.string().nullish(),
  role: z.string(),
});
export type Profile = z.infer<typeof profileSchema>;

/**
 * Env values are strings in the spec; numbers and booleans are stringified (a hand edit through
 * another client may store them), anything else is a shape error.
 */
const envMap = z.record(
  z.string(),
  z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v)),
);

/** The parts of an app's manifest this project reads; the rest passes through. */
export const appManifestSchema = z.looseObject({
  id: z.string().optional(),
  version: z.string().optional(),
  dockerImage: z.string().optional(),
});

/** One app (GET /apps/:id, and each entry of GET /apps). */
export const appSchema = z.looseObject({
  id: z.string().min(1),
  installationState: z.string(),
  runState: z.string().nullish(),
  health: z.string().nullish(),
  // The spec says string|null; an object is tolerated and reduced to its message.
  error: z
    .union([z.string(), z.null(), z.looseObject({ message: z.string().optional() })])
    .optional()
    .transform((e) =>
      e === undefined || e === null ? null : typeof e === "string" ? e : (e.message ?? "unknown error"),
    ),
  taskId: z
    .union([idString, z.null()])
    .optional()
    .transform((v) => v ?? null),
  subdomain: z.string().nullish(),
  domain: z.string().nullish(),
  fqdn: z.string(),
  manifest: appManifestSchema,
  env: envMap.optional().transform((e) => e ?? {}),
  enableBackup: z.boolean().optional(),
  // Spec: schemas/tags, an array of strings; the ownership marks live here (steps/app/ownership.ts).
  tags: z
    .array(z.string())
    .nullish()
    .transform((t) => t ?? []),
  /** Free text (spec: string or null); holds the deploy's release record (release/releaseRecord.ts). */
  notes: z.string().nullish(),
});
export type App = z.infer<typeof appSchema>;

/**
 * GET /apps, read loosely: each entry is only an object here. One app with an odd field (someone
 * else's, installed by hand or by another client) must not stop a deploy, so only the entry at our
 * location (or id) is parsed with {@link appSchema}; the others are looked at for `id` and `fqdn`.
 */
export const appListSchema = z.looseObject({ apps: z.array(z.unknown()) });

/** What a list entry is looked up by; fields of another type than string count as absent. */
export interface AppListEntry {
  id?: string;
  fqdn?: string;
  raw: unknown;
}

/** `id` and `fqdn` of one GET /apps entry, without judging the rest of it. */
export function appListEntry(raw: unknown): AppListEntry {
  const o = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  return {
    id: typeof o.id === "string" ? o.id : undefined,
    fqdn: typeof o.fqdn === "string" ? o.fqdn : undefined,
    raw,
  };
}

/** GET /domains */
export const domainListSchema = z.looseObject({ domains: z.array(z.looseObject({ domain: z.string().min(1) })) });

/** GET /tasks/:id */
export const taskSchema = z.looseObject({
  id: idString,
  percent: z.number().nullish(),
  message: z.string().nullish(),
  active: z.boolean(),
  pending: z.boolean().nullish(),
  creationTime: z.string().nullish(),
  success: z.boolean().nullish(),
  error: z
    .union([z.string(), z.null(), z.looseObject({ message: z.string().optional(), code: z.unknown().optional() })])
    .optional()
    .transform((e) =>
      e === undefined || e === null ? null : typeof e === "string" ? e : (e.message ?? "unknown error"),
    ),
});
export type Task = z.infer<typeof taskSchema>;

/** Body of POST /apps/:id/configure/tags (spec: setAppTags, `{ tags: string[] }`). */
export const tagsRequestSchema = z.strictObject({ tags: z.array(z.string().min(1).max(127)).max(64) });

/** 202 answers of update, configure/env and uninstall (`task_info`). */
export const taskInfoSchema = z.looseObject({ taskId: idString });

/** 202 of POST /apps and 201 of POST /apps/:id/clone: the new app's id and its task. */
export const newAppTaskSchema = z.looseObject({ id: z.string().min(1), taskId: idString });

/** GET /apps/:id/backups (one page; newest first per the 2019 server's backupdb.getByAppIdPaged). */
export const backupListSchema = z.looseObject({
  backups: z.array(
    z.looseObject({
      id: z.string().min(1),
      creationTime: z.string().nullish(),
      packageVersion: z.string().nullish(),
      state: z.string().nullish(),
      label: z.string().nullish(),
      preserveSecs: z.number().nullish(),
    }),
  ),
});
export type Backup = z.infer<typeof backupListSchema>["backups"][number];

/**
 * GET /backups/policy, taken loosely: the spec gives `{ policy: { schedule, retention } }` with
 * `retention.keepWWithinSecs`, Cloudron's docs `keepWithinSecs`, and servers with several backup
 * sites state retention per site. cloudron/backupPolicy.ts decides what the body means.
 */
export const backupPolicySchema = z.looseObject({});

/** GET /cloudron/status (no auth; spec: `{ version: "7.6.0" }`). */
export const serverStatusSchema = z.looseObject({ version: z.string().min(1) });

/**
 * GET /tokens (spec: Token objects; `scope` maps routes to `r` or `rw`, e.g. `{"*": "rw"}`).
 * Whether the list carries `accessToken` is not stated; without it, our token is not identifiable.
 */
export const tokenListSchema = z.looseObject({
  tokens: z.array(
    z.looseObject({
      id: z.string().optional(),
      name: z.string().nullish(),
      accessToken: z.string().optional(),
      scope: z.record(z.string(), z.string()).nullish(),
    }),
  ),
});

/** POST /apps/:id/backups/:backupId (spec: updateAppBackup): label and keep-time of one backup. */
export const backupUpdateRequestSchema = z.strictObject({
  label: z.string().min(1),
  preserveSecs: z.number().int().positive(),
});

/** Request bodies. Strict: a typo'd field is a bug here, not something to send. */
export const installRequestSchema = z.strictObject({
  // Empty for a custom (non-store) app; required by the spec.
  appStoreId: z.literal(""),
  manifest: z.looseObject({ id: z.string().min(1), version: z.string().min(1), dockerImage: z.string().min(1) }),
  subdomain: z.string(),
  domain: z.string().min(1),
  // null = no access restriction; the spec requires the key.
  accessRestriction: z.null(),
  env: z.record(z.string(), z.string()),
  // Production says so rather than relying on the server's default for automatic backups.
  enableBackup: z.literal(true).optional(),
});
export type InstallRequest = z.infer<typeof installRequestSchema>;

export const updateRequestSchema = z.strictObject({
  manifest: z.looseObject({ id: z.string().min(1), version: z.string().min(1), dockerImage: z.string().min(1) }),
  // Cloudron's pre-update backup is what a failed release is restored from: never skipped.
  skipBackup: z.literal(false).optional(),
});
export type UpdateRequest = z.infer<typeof updateRequestSchema>;

export const envRequestSchema = z.strictObject({ env: z.record(z.string(), z.string()) });
export type EnvRequest = z.infer<typeof envRequestSchema>;

export const cloneRequestSchema = z.strictObject({
  backupId: z.string().min(1),
  subdomain: z.string(),
  domain: z.string().min(1),
});
export type CloneRequest = z.infer<typeof cloneRequestSchema>;

/** An answer (or a request we were about to send) that does not have the shape the spec gives. */
export class ApiShapeError extends Error {
  constructor(
    readonly endpoint: string,
    readonly fields: string[],
  ) {
    super(`Cloudron's answer to ${endpoint} does not have the documented shape: ${fields.join("; ")}`);
    this.name = "ApiShapeError";
  }
}

/**
 * One line per problem: the field path and what was expected. Built from the issue's code and
 * expectation, never from zod's message for codes that may quote the received value.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.slice(0, 5).map((issue) => {
    const where = issue.path.length ? issue.path.map(String).join(".") : "(the whole body)";
    switch (issue.code) {
      case "invalid_type":
        return `${where}: expected ${issue.expected}`;
      case "invalid_union":
        return `${where}: not any of the accepted types`;
      case "too_small":
        return `${where}: too short or too small`;
      case "unrecognized_keys":
        return `${where}: unexpected field(s) ${issue.keys.join(", ")}`;
      case "invalid_value":
        return `${where}: not one of the accepted values`;
      default:
        return `${where}: invalid (${issue.code})`;
    }
  });
}

/** Parses `data` with `schema`; a mismatch throws {@link ApiShapeError} naming `endpoint`. */
export function parseAnswer<S extends z.ZodType>(schema: S, data: unknown, endpoint: string): z.output<S> {
  const result = schema.safeParse(data, ONE_SHOT_PARSE);
  if (!result.success) throw new ApiShapeError(endpoint, describeIssues(result.error.issues));
  return result.data;
}

/**
 * POST /apps/:id/backup: not in the January 2026 description. The 2019 server answers 202 `{}`
 * (pogipop/cloudron @9833ad5, src/routes/apps.js backupApp); a 2026 client reads `{ taskId }`
 * (cloudron-cli.md §8). Both are accepted; without a task id the app is watched until idle.
 */
export const backupStartedSchema = z.looseObject({ taskId: idString.optional() });

/** POST /apps/:id/backups/:backupId (spec: updateAppBackup): keep a backup `preserveSecs` past retention. */
export const updateBackupRequestSchema = z.strictObject({
  preserveSecs: z.number().int().positive(),
  label: z.string().optional(),
});

/** POST /apps/:id/restore (spec: restoreFromBackup). */
export const restoreRequestSchema = z.strictObject({ backupId: z.string().min(1) });

/**
 * POST /apps for an app-store app (the legacy app's recovery): the store id, and the manifest the
 * backup recorded (the spec lists manifest as required next to "one of manifest or appStoreId").
 */
export const storeInstallRequestSchema = z.strictObject({
  appStoreId: z.string().min(1),
  manifest: z.looseObject({ id: z.string().min(1), version: z.string().min(1) }),
  subdomain: z.string(),
  domain: z.string().min(1),
  accessRestriction: z.null(),
});

/** The 200 answers with no content this project reads nothing from. */
export const noContentSchema = z.unknown();
