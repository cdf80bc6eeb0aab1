import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { cloudronCommand } from "../../lib/commandLines";
import {
  deployResultSchema,
  parseResultLine,
  secretEnvVarName,
  type ServerAndTimeouts,
  type DeployRequest,
  type DeployResult,
  type FingerprintedEnv,
  type LiveRecord,
  type ReleaseMigrations,
} from "../../cloudron/requests";
import type { RecordedMigration } from "../migrations/checkoutMigrations";

/** Arguments of {@link CloudronApp}. */
export interface CloudronAppArgs {
  /** Server, task timeout and busy wait (communityrule:cloudronServer, cloudronTimeoutSeconds, busyWaitSeconds). */
  connection: ServerAndTimeouts;
  /** The app's hostname on Cloudron, e.g. `staging.communityrule.info`. */
  location: string;
  environment: "staging" | "production";
  /** The Pulumi stack, written to the app as its `communityrule-stack:<stack>` tag. */
  stack: string;
  /** communityrule:takeOverFrom: the one other stack whose app this deploy may adopt. */
  takeOverFrom?: string;
  /**
   * The app's presence as recorded by steps/app/appPresence.ts: it changes only when the app went
   * missing, moved or is taken over, and then the deploy runs again.
   */
  live?: pulumi.Input<LiveRecord>;
  /** Image Cloudron runs (`repo@sha256:…` or `repo:tag`). */
  image: pulumi.Input<string>;
  /** False when an existing tag is deployed (rollback, promotion): the version check allows going back. */
  build: boolean;
  /** CloudronManifest.json as parsed (id and version at least); an app with another id is never touched. */
  manifest: Record<string, unknown> & { id: string; version: string };
  /** The desired env (plain values, secret fingerprints): an install sends it whole, so the first boot has it. */
  env: pulumi.Input<FingerprintedEnv>;
  /** Secret env values (secret), for the install; they travel as CR_SECRET_<NAME> in the environment. */
  secretEnv: pulumi.Input<Record<string, string>>;
  /** API token (secret). Absent: the token `cloudron login` stored for the server in ~/.cloudron.json. */
  token?: pulumi.Input<string>;
  /** After an update, wait for health and put the previous image back if it fails. */
  autoRollback: boolean;
  /** Where the auto-rollback gate looks, and for how long (communityrule:healthTimeoutSeconds). */
  health: { baseUrl: string; timeoutSeconds: number };
  /** Production: the install is protected, so neither destroy nor a replacement can uninstall it. */
  protect: boolean;
  /**
   * The migration review of this deploy (steps/migrations/deployMigrations.ts), carried in the request
   * so a preview shows the migrations it applies; the tool checks `record` against the list it
   * recorded last time before any change, and records it in its result.
   */
  releaseMigrations?: ReleaseMigrations;
  /**
   * What this deploy ships (version, app commit, seed fingerprint): the deploy records it on the app
   * for the next preview.
   */
  release?: DeployRequest["release"];
}

/**
 * The CommunityRule app on Cloudron. One command resource whose create and update run the deploy
 * tool with a typed request on stdin: it reads the live app and installs (location free, whole env
 * included), adopts (our manifest id already there) or updates (image or manifest changed), then
 * reads the app back. Its delete uninstalls, only the app id it recorded and only while the app
 * still names this resource as its owner; production's `protect` prevents it altogether.
 */
export class CloudronApp extends pulumi.ComponentResource {
  /** The deploy command resource; later steps depend on it. */
  public readonly deployment: command.local.Command;
  /** What the last deploy did: installed, adopted, updated or unchanged. */
  public readonly action: pulumi.Output<string>;
  /** Cloudron's app id. */
  public readonly appId: pulumi.Output<string>;
  /** Image the app was left running. */
  public readonly image: pulumi.Output<string>;
  /** Manifest version the app was left with (read back). */
  public readonly version: pulumi.Output<string>;
  /** Id of the pre-update backup Cloudron took (empty when none was taken or listed). */
  public readonly backupId: pulumi.Output<string>;
  /** Image the app ran before the last update (empty after an install). */
  public readonly previousImage: pulumi.Output<string>;
  /** Migrations the database has been taken through, as recorded by the last deploy (empty before any record). */
  public readonly migrations: pulumi.Output<RecordedMigration[]>;
  /** This resource's owner string (its URN); the app carries its hash as the `communityrule-owner:` tag. */
  public readonly owner: pulumi.Output<string>;

  constructor(name: string, args: CloudronAppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("communityrule:cloudron:App", name, {}, opts);

    // The owner is this component's URN plus the child's name: a rename or re-parent changes it,
    // which is how the old resource's delete knows the app is no longer its own.
    this.owner = pulumi.interpolate`${this.urn}/${name}-deploy`;
    const stdin = pulumi
      .all([pulumi.output(args.image), pulumi.unsecret(pulumi.output(args.env)), this.owner, pulumi.output(args.live)])
      .apply(
        ([image, env, owner, live]) =>
          JSON.stringify(buildDeployRequest(args, { image, env, owner, live }), null, 2) + "\n",
      );

    const environment = pulumi.secret(
      pulumi.all([pulumi.output(args.secretEnv), pulumi.output(args.token)]).apply(([secrets, token]) => {
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(secrets)) env[secretEnvVarName(k)] = v;
        // Always set, empty when the stack has no token (the tool then uses `cloudron login`): the
        // command inherits the operator's shell and appends this after it (pulumi/pulumi-command
        // v1.2.1 provider/pkg/provider/local/commandOutputs.go; Go's os/exec keeps the last of a
        // duplicated key), so an exported CLOUDRON_TOKEN never reaches the tool.
        env.CLOUDRON_TOKEN = token ?? "";
        return env;
      }),
    );

    this.deployment = new command.local.Command(
      `${name}-deploy`,
      {
        create: cloudronCommand("deploy"),
        update: cloudronCommand("deploy"),
        delete: cloudronCommand("uninstall"),
        stdin,
        environment,
      },
      { parent: this, protect: args.protect },
    );

    const outcome = this.deployment.stdout.apply((out) => parseOutcome(out));
    this.action = outcome.apply((o) => o.action);
    this.appId = outcome.apply((o) => o.appId);
    this.image = outcome.apply((o) => o.image);
    this.version = outcome.apply((o) => o.version);
    this.backupId = outcome.apply((o) => o.backupId);
    this.previousImage = outcome.apply((o) => o.previousImage);
    this.migrations = outcome.apply((o) => o.migrations ?? []);

    this.registerOutputs({
      action: this.action,
      appId: this.appId,
      image: this.image,
      version: this.version,
      backupId: this.backupId,
      previousImage: this.previousImage,
      migrations: this.migrations,
      owner: this.owner,
    });
  }
}

/** The deploy request (cloudron/requests.ts) from the component's arguments and resolved values. */
export function buildDeployRequest(
  args: Pick<
    CloudronAppArgs,
    | "connection"
    | "location"
    | "environment"
    | "stack"
    | "takeOverFrom"
    | "build"
    | "manifest"
    | "autoRollback"
    | "health"
    | "releaseMigrations"
    | "release"
  >,
  resolved: { image: string; env: FingerprintedEnv; owner: string; live?: LiveRecord },
): DeployRequest {
  return {
    connection: args.connection,
    location: args.location,
    environment: args.environment,
    owner: resolved.owner,
    stack: args.stack,
    ...(args.takeOverFrom ? { takeOverFrom: args.takeOverFrom } : {}),
    ...(resolved.live ? { live: resolved.live } : {}),
    image: resolved.image,
    build: args.build,
    manifest: args.manifest,
    env: resolved.env,
    autoRollback: args.autoRollback,
    health: args.health,
    ...(args.releaseMigrations ? { releaseMigrations: args.releaseMigrations } : {}),
    ...(args.release ? { release: args.release } : {}),
  };
}

/** Reads the deploy tool's result line; empty fields in previews (no result yet). */
export function parseOutcome(stdout: string | undefined): DeployResult {
  const empty: DeployResult = {
    action: "unchanged",
    appId: "",
    location: "",
    image: "",
    version: "",
    previousImage: "",
    backupId: "",
    manifestSha: "",
  };
  return { ...empty, ...(parseResultLine(deployResultSchema, stdout) ?? {}) };
}
