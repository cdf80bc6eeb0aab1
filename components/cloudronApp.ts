import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { deployCommand, uninstallCommand } from "../lib/cli/commandLines";
import type { RecordedMigration } from "../lib/release/migrations";

/** Arguments of {@link CloudronApp}. */
export interface CloudronAppArgs {
  /** Cloudron dashboard host, e.g. `my.medlab.host`. */
  server: string;
  /** The app's hostname on Cloudron, e.g. `staging.communityrule.info`. */
  location: string;
  /** App checkout holding CloudronManifest.json, relative to the project directory. */
  appDir: string;
  /** Image Cloudron runs (`repo@sha256:…` or `repo:tag`). */
  image: pulumi.Input<string>;
  /** `id` and `version` from CloudronManifest.json; an app with another id is never touched. */
  manifestId: string;
  manifestVersion: string;
  /** sha256 of the manifest: an edited manifest (same version) still triggers an update. */
  manifestSha256: string;
  /** API token (secret). Absent: the operator's own `cloudron login` is used. */
  token?: pulumi.Input<string>;
  /** Bound on each CLI call, in seconds. Defaults to 1800. */
  timeoutSeconds?: number;
  /** How long to wait for an app busy with another task, in seconds. Defaults to 600. */
  busyWaitSeconds?: number;
  /** `staging` / `production`, named in release and rollback messages. */
  environment?: string;
  /** False when an existing tag is deployed (rollback, promotion): the version check allows going back. */
  build?: boolean;
  /** After an update, wait for health and roll back to the previous image if it fails. */
  autoRollback?: boolean;
  /** Base URL for the auto-rollback health gate. */
  baseUrl?: string;
  healthTimeoutSeconds?: number;
  /** Production: the install is protected, so neither destroy nor a replacement can uninstall it. */
  protect: boolean;
  /**
   * The migration review of this deploy (lib/release/deployMigrations.ts): `changes` are the
   * migrations it applies (or, for a rollback, leaves ahead), one line each with their class, so a
   * preview shows them; `record` is the list the schema will have, echoed into the result and so into state.
   */
  releaseMigrations?: { kind: string; changes: string[]; record: RecordedMigration[] };
}

/** The parsed result line of the deploy tool. */
export interface DeployOutcome {
  action: "installed" | "adopted" | "updated" | "unchanged";
  appId: string;
  image: string;
  version: string;
  previousImage: string;
  backupId: string;
  /** Migrations the deployed image carries (names, sha256, class), when the request carried them. */
  migrations?: RecordedMigration[];
}

/**
 * The CommunityRule app on Cloudron. One command resource whose create and update run the deploy
 * tool: it looks at the app's observed state and installs (location free), adopts (our manifest id
 * already there, e.g. staging installed by hand) or updates (image or manifest changed), then reads
 * the app back. Its delete uninstalls, which production's `protect` prevents.
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
  /** Id of the pre-update backup Cloudron took (empty when none was taken or listed). */
  public readonly backupId: pulumi.Output<string>;
  /** Image the app ran before the last update (empty after an install). */
  public readonly previousImage: pulumi.Output<string>;
  /** Migrations the database has been taken through, as recorded by the last deploy (empty before any record). */
  public readonly migrations: pulumi.Output<RecordedMigration[]>;

  constructor(name: string, args: CloudronAppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("communityrule:cloudron:App", name, {}, opts);
    const timeoutSeconds = args.timeoutSeconds ?? 1800;
    const busyWaitSeconds = args.busyWaitSeconds ?? 600;

    const run = pulumi.output(args.image).apply((image) =>
      deployCommand({
        server: args.server,
        location: args.location,
        appDir: args.appDir,
        image,
        manifestId: args.manifestId,
        manifestVersion: args.manifestVersion,
        manifestSha256: args.manifestSha256,
        timeoutSeconds,
        busyWaitSeconds,
        environment: args.environment,
        build: args.build,
        autoRollback: args.autoRollback,
        baseUrl: args.baseUrl,
        healthTimeoutSeconds: args.healthTimeoutSeconds,
      }),
    );

    this.deployment = new command.local.Command(
      `${name}-deploy`,
      {
        create: run,
        update: run,
        delete: uninstallCommand({ server: args.server, location: args.location, manifestId: args.manifestId, timeoutSeconds }),
        // Only the token travels here, so marking this map secret hides nothing else from a preview.
        environment: args.token ? { CLOUDRON_TOKEN: pulumi.secret(args.token) } : undefined,
        // Plain, so the preview diff shows which migrations this deploy applies.
        stdin: args.releaseMigrations ? JSON.stringify({ releaseMigrations: args.releaseMigrations }, null, 1) : undefined,
      },
      { parent: this, protect: args.protect },
    );

    const outcome = this.deployment.stdout.apply((out) => parseOutcome(out));
    this.action = outcome.apply((o) => o.action);
    this.appId = outcome.apply((o) => o.appId);
    this.image = outcome.apply((o) => o.image);
    this.backupId = outcome.apply((o) => o.backupId);
    this.previousImage = outcome.apply((o) => o.previousImage);
    this.migrations = outcome.apply((o) => o.migrations ?? []);

    this.registerOutputs({
      action: this.action,
      appId: this.appId,
      image: this.image,
      backupId: this.backupId,
      previousImage: this.previousImage,
      migrations: this.migrations,
    });
  }
}

/** Reads the deploy tool's last stdout line; tolerant of empty output in previews. */
export function parseOutcome(stdout: string | undefined): DeployOutcome {
  const empty: DeployOutcome = { action: "unchanged", appId: "", image: "", version: "", previousImage: "", backupId: "" };
  const line = (stdout ?? "").trim().split("\n").pop() ?? "";
  if (!line.startsWith("{")) return empty;
  return { ...empty, ...(JSON.parse(line) as Partial<DeployOutcome>) };
}
