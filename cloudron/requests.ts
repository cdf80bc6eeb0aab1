/**
 * The contract between the Pulumi program and the Cloudron tool: one request schema per operation
 * (deploy and uninstall of steps/app, env apply of steps/env, seed of steps/seed) and the results
 * the tool prints. The component that builds a request and the step operation that runs it import
 * the same schema: the component's `stdin` is `JSON.stringify(request)`, the operation parses stdin
 * with it. No flag plumbing, no second declaration, no defaults here (every default is applied once,
 * in config/loader.ts).
 *
 * One file rather than one per step, because these shapes are what Pulumi state stores (each
 * command's stdin and stdout): a change here re-runs commands on existing stacks, so it is reviewed
 * in one place; the steps share parts of it (the install sends the env step's env); and the
 * components import it without loading the Cloudron client or the operations (zod only).
 *
 * Requests are visible inputs (a `pulumi preview` diff shows them), so they hold no secret:
 * secret env values travel in the command's `environment` as CR_SECRET_<NAME> and the token as
 * CLOUDRON_TOKEN; the request carries each secret's keyed fingerprint, so a preview names the
 * secret that changes without showing it.
 */
import { lastJsonLine } from "../lib/jsonLine";
import { createHmac } from "node:crypto";
import * as z from "../lib/zod";
import { ONE_SHOT_PARSE } from "../lib/zod";

/**
 * The Cloudron server and how long to wait on it; every Cloudron step gets all of it. Requests carry
 * it as their `connection` field: the name stored in state, so it stays.
 */
export const serverAndTimeoutsSchema = z.strictObject({
  /** communityrule:cloudronServer (a host name, or a loopback URL for a stand-in). */
  server: z.string().min(1),
  /** communityrule:cloudronTimeoutSeconds: bound on each Cloudron task. */
  taskTimeoutSeconds: z.number().int().positive(),
  /** communityrule:busyWaitSeconds: how long to wait for an app busy with another task. */
  busyWaitSeconds: z.number().int().nonnegative(),
});
export type ServerAndTimeouts = z.infer<typeof serverAndTimeoutsSchema>;

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/);

/** The env this stack manages as a request shows it: plain values in clear, secrets as fingerprints only. */
export const fingerprintedEnvSchema = z.strictObject({
  plain: z.record(envName, z.string()),
  /** Secret name → `hmac:<hex>`; the value itself arrives as CR_SECRET_<NAME>. */
  secret: z.record(envName, z.string().regex(/^hmac:[0-9a-f]+$/)),
});
export type FingerprintedEnv = z.infer<typeof fingerprintedEnvSchema>;

/** One migration as the deploy records it (steps/migrations/checkoutMigrations.ts RecordedMigration). */
export const recordedMigrationSchema = z.strictObject({
  name: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  risk: z.enum(["additive", "risky", "destructive"]).optional(),
  summary: z.string().optional(),
});

/**
 * The migration review of this deploy (steps/migrations/deployMigrations.ts): `record` is the list the
 * schema will have, checked against the last recorded list before any change and recorded in the
 * result (a preview's stdin diff shows the names a release adds). `kind` and `changes` (what it
 * applies, one line each with its class) are optional: the program does not send them, because
 * they describe one run and would change the request on the next `up` with nothing to do.
 */
export const releaseMigrationsSchema = z.strictObject({
  kind: z.string().optional(),
  changes: z.array(z.string()).optional(),
  record: z.array(recordedMigrationSchema),
});
export type ReleaseMigrations = z.infer<typeof releaseMigrationsSchema>;

/** Install, adopt or update the app (the deploy command's create/update). */
export const deployRequestSchema = z.strictObject({
  connection: serverAndTimeoutsSchema,
  /** The app's fqdn, e.g. staging.communityrule.info. */
  location: z.string().min(1),
  environment: z.enum(["staging", "production"]),
  /** Which deploy resource owns the app (its URN); written to the app as an owner tag (steps/app/ownership.ts). */
  owner: z.string().min(1),
  /** The Pulumi stack; written to the app as `communityrule-stack:<stack>`. */
  stack: z.string().min(1),
  /** communityrule:takeOverFrom: the one other stack whose app this deploy may adopt. */
  takeOverFrom: z.string().min(1).optional(),
  /**
   * What the live check recorded about the app (steps/app/appPresence.ts): it changes only when the
   * app deployed by this stack went missing, moved or runs another image, so that re-runs the deploy.
   */
  live: z
    .strictObject({
      generation: z.number().int().nonnegative(),
      state: z.string(),
      appId: z.string().optional(),
      location: z.string().optional(),
      image: z.string().optional(),
    })
    .optional(),
  /** The image to run (`repo@sha256:…` after a build, `repo:tag` for an existing tag). */
  image: z.string().min(1),
  /** False when an existing tag is deployed (rollback, promotion). */
  build: z.boolean(),
  /** CloudronManifest.json as read; the tool sets `version` and `dockerImage`. */
  manifest: z.looseObject({ id: z.string().min(1), version: z.string().min(1) }),
  /** The whole desired env, sent with an install so the first boot already has it. */
  env: fingerprintedEnvSchema,
  /** After an update, gate on health and put the previous image back if it fails. */
  autoRollback: z.boolean(),
  health: z.strictObject({
    baseUrl: z.string().min(1),
    /** communityrule:healthTimeoutSeconds */
    timeoutSeconds: z.number().int().positive(),
  }),
  /** Absent: no migration review (the deploy records no list). */
  releaseMigrations: releaseMigrationsSchema.optional(),
  /**
   * What this deploy ships, for the release record the deploy writes on the app (its notes,
   * release/releaseRecord.ts) so the next preview knows what runs. Absent: no record is written.
   */
  release: z
    .strictObject({
      /** Code version: the manifest version of a build, the tag of a rollback or promotion. */
      version: z.string().min(1),
      /** App commit the image comes from, when known. */
      commit: z.string().optional(),
      /** Fingerprint of the seed's sources in that commit. */
      seed: z.string().optional(),
    })
    .optional(),
});
export type DeployRequest = z.infer<typeof deployRequestSchema>;
/** The app's presence as the deploy request carries it (steps/app/appPresence.ts). */
export type LiveRecord = NonNullable<DeployRequest["live"]>;

/**
 * Uninstall (the deploy command's delete). Pulumi runs the delete with the stdin stored at the
 * last create/update, so this reads the deploy request and keeps what uninstall needs.
 */
export const uninstallRequestSchema = z.object({
  connection: serverAndTimeoutsSchema,
  location: z.string().min(1),
  owner: z.string().min(1),
  manifest: z.looseObject({ id: z.string().min(1) }),
});
export type UninstallRequest = z.infer<typeof uninstallRequestSchema>;

/** Apply the managed env: one configure/env call with the complete map, or none. */
export const envApplyRequestSchema = z.strictObject({
  connection: serverAndTimeoutsSchema,
  location: z.string().min(1),
  /** The app the deploy step installed or adopted. */
  appId: z.string().min(1),
  env: fingerprintedEnvSchema,
  /** Shown next to its warning so a preview that changes it says what that means. */
  rotation: z.strictObject({ sessionSecret: z.string(), warning: z.string() }),
});
export type EnvApplyRequest = z.infer<typeof envApplyRequestSchema>;

/** Run the seed once (the seed provider's create/update). */
export const seedRequestSchema = z.strictObject({
  connection: serverAndTimeoutsSchema,
  location: z.string().min(1),
  /** communityrule:seedFloor: a failed seed on an app below it is explained as that. */
  seedFloor: z.string().optional(),
});
export type SeedRequest = z.infer<typeof seedRequestSchema>;

/** The deploy tool's result line (stdout), recorded by Pulumi. Never holds a secret. */
export const deployResultSchema = z.object({
  action: z.enum(["installed", "adopted", "updated", "unchanged"]),
  appId: z.string(),
  location: z.string(),
  image: z.string(),
  version: z.string(),
  previousImage: z.string(),
  backupId: z.string(),
  /** First 16 hex of the sent manifest's sha256: an edited manifest under the same version updates. */
  manifestSha: z.string(),
  owner: z.string().optional(),
  /** Migrations the database has been taken through (name, sha256, class), when the request carried them. */
  migrations: z.array(recordedMigrationSchema).optional(),
});
export type DeployResult = z.infer<typeof deployResultSchema>;

/** The env tool's result line. Names only. */
export const envApplyResultSchema = z.object({
  appId: z.string(),
  /** Every name this stack manages now (so a later apply knows what it may remove). */
  managed: z.array(z.string()),
  added: z.array(z.string()),
  changed: z.array(z.string()),
  removed: z.array(z.string()),
  applied: z.boolean(),
});
export type EnvApplyResult = z.infer<typeof envApplyResultSchema>;

/** Keyed fingerprint of a secret value (`hmac:<16 hex>`): shows that a secret changed, not what it is. */
export function fingerprint(key: string, name: string, value: string): string {
  return "hmac:" + createHmac("sha256", key).update(`${name}\0${value}`).digest("hex").slice(0, 16);
}

/** A request that does not match its contract (a bug in the builder, or a hand-edited state). */
export class ContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContractError";
  }
}

/** Parses a request or result; the error names the operation and fields, never values. */
export function parseRequest<S extends z.ZodType>(schema: S, text: string, operation: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ContractError(`${operation}: the request on stdin is not JSON (the command resource should send it)`);
  }
  const result = schema.safeParse(json, ONE_SHOT_PARSE);
  if (!result.success) {
    const where = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.map(String).join(".") || "(request)"} (${i.code})`);
    throw new ContractError(`${operation}: the request on stdin does not match the contract: ${where.join("; ")}`);
  }
  return result.data;
}

/** The last JSON line a tool printed (its result), or undefined. */
export function parseResultLine<S extends z.ZodType>(schema: S, stdout: string | undefined): z.output<S> | undefined {
  const json = lastJsonLine(stdout);
  if (json === undefined) return undefined;
  const r = schema.safeParse(json, ONE_SHOT_PARSE);
  return r.success ? r.data : undefined;
}
