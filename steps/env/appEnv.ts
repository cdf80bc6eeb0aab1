import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as random from "@pulumi/random";
import { cloudronCommand } from "../../lib/commandLines";
import type { DeployConfig } from "../../config/loader";
import {
  fingerprint,
  secretEnvVarName,
  type ServerAndTimeouts,
  type FingerprintedEnv,
  type EnvApplyRequest,
} from "../../cloudron/requests";

/** Arguments of {@link AppEnv}. */
export interface AppEnvArgs {
  /**
   * The stack's env settings as the config loader parsed them (declared once, in config/schema.ts):
   * `env` (plain, shown in previews), `secretEnv` (only names and keyed fingerprints are shown),
   * `sessionSecretRotation` (a new value generates a new SESSION_SECRET: every user is logged out).
   */
  config: Pick<DeployConfig, "location" | "env" | "secretEnv" | "sessionSecretRotation">;
  /** Server, task timeout and busy wait (communityrule:cloudronServer, cloudronTimeoutSeconds, busyWaitSeconds). */
  connection: ServerAndTimeouts;
  /** API token (secret); absent: the token `cloudron login` stored for the server. */
  token?: pulumi.Input<string>;
  /** The deploy step: env is applied after it, and goes away with it. */
  deployment: pulumi.Resource;
  /** The app id the deploy step installed or adopted. */
  appId: pulumi.Input<string>;
}

/**
 * The app's environment on Cloudron: the plain `env` map, the secret `secretEnv` map and a
 * generated SESSION_SECRET, applied by one command that compares them with the app's LIVE env and
 * sends one configure/env call with the complete map when anything differs (one task, one
 * restart), none otherwise. The request on stdin shows plain values and secret fingerprints, so a
 * preview names the secret keys that change without showing a value; secret values travel in the
 * command's (secret) environment.
 */
export class AppEnv extends pulumi.ComponentResource {
  /** The apply command; the health gate re-runs when its result changes. */
  public readonly apply: command.local.Command;
  /** Names of the variables this stack manages on the app. */
  public readonly names: pulumi.Output<string[]>;
  /** The generated session secret (secret). */
  public readonly sessionSecret: pulumi.Output<string>;
  /** The desired env as a request shows it: plain values, secret fingerprints (not secret). */
  public readonly desired: pulumi.Output<FingerprintedEnv>;
  /** Secret env values including SESSION_SECRET (secret). */
  public readonly secretValues: pulumi.Output<Record<string, string>>;
  /** Every managed value, plain and secret (secret): what `npm run drift` compares the live app with. */
  public readonly managedEnv: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: AppEnvArgs, opts?: pulumi.ComponentResourceOptions) {
    super("communityrule:cloudron:AppEnv", name, {}, opts);

    const { config } = args;
    const sessionSecret = new random.RandomPassword(
      `${name}-session-secret`,
      // Frozen arguments: any change here would replace the secret and log every user out.
      { length: 48, special: false, keepers: { rotation: config.sessionSecretRotation } },
      { parent: this },
    );
    // Keys the secret fingerprints, so a fingerprint in a preview or in state cannot be reversed.
    const fingerprintKey = new random.RandomPassword(
      `${name}-fingerprint-key`,
      { length: 32, special: false },
      { parent: this },
    );

    this.secretValues = pulumi.secret(
      pulumi
        .all([pulumi.secret(config.secretEnv), sessionSecret.result])
        .apply(([extra, session]): Record<string, string> => ({ ...extra, SESSION_SECRET: session })),
    );
    this.desired = pulumi.unsecret(
      pulumi
        .all([this.secretValues, fingerprintKey.result])
        .apply(([values, key]) => buildDesiredEnv(config.env, values, key)),
    );

    const stdin = pulumi
      .all([this.desired, pulumi.output(args.appId)])
      // Serialised once, here: the command's stdin is what Pulumi stores and compares.
      .apply(([env, appId]) => JSON.stringify(buildEnvApplyRequest(args, { env, appId }), null, 2) + "\n");

    const environment = pulumi.secret(
      pulumi.all([this.secretValues, pulumi.output(args.token)]).apply(([values, token]) => {
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(values)) env[secretEnvVarName(k)] = v;
        // Always set, empty when the stack has no token (the tool then uses `cloudron login`): the
        // command inherits the operator's shell and appends this after it (pulumi/pulumi-command
        // v1.2.1 provider/pkg/provider/local/commandOutputs.go; Go's os/exec keeps the last of a
        // duplicated key), so an exported CLOUDRON_TOKEN never reaches the tool.
        env.CLOUDRON_TOKEN = token ?? "";
        return env;
      }),
    );

    this.apply = new command.local.Command(
      `${name}-apply`,
      { create: cloudronCommand("env-apply"), update: cloudronCommand("env-apply"), stdin, environment },
      // deletedWith: uninstalling the app removes its env; no separate unset on destroy.
      { parent: this, dependsOn: [args.deployment], deletedWith: args.deployment },
    );

    this.names = this.secretValues.apply((values) => [...Object.keys(config.env), ...Object.keys(values)].sort());
    this.managedEnv = pulumi.secret(this.secretValues.apply((values) => ({ ...config.env, ...values })));
    this.sessionSecret = sessionSecret.result;
    this.registerOutputs({
      names: this.names,
      sessionSecret: this.sessionSecret,
      desired: this.desired,
      secretValues: this.secretValues,
      managedEnv: this.managedEnv,
    });
  }
}

/**
 * Plain values in clear, secrets as keyed fingerprints, each map sorted by name. The one sort on the
 * env's way: the request is serialised into the command's stdin, which Pulumi stores and compares,
 * so the same env must give the same text whatever order the stack file or the SESSION_SECRET merge
 * produced, or an `up` with nothing to do would re-run the env step.
 */
export function buildDesiredEnv(
  plain: Record<string, string>,
  secrets: Record<string, string>,
  fingerprintKey: string,
): FingerprintedEnv {
  const sortedPlain = Object.fromEntries(Object.entries(plain).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const secret = Object.fromEntries(
    Object.keys(secrets)
      .sort()
      .map((k) => [k, fingerprint(fingerprintKey, k, secrets[k])]),
  );
  return { plain: sortedPlain, secret };
}

/** The env-apply request (cloudron/requests.ts). */
export function buildEnvApplyRequest(
  args: { connection: ServerAndTimeouts; config: Pick<DeployConfig, "location" | "sessionSecretRotation"> },
  resolved: { env: FingerprintedEnv; appId: string },
): EnvApplyRequest {
  return {
    connection: args.connection,
    location: args.config.location,
    appId: resolved.appId,
    env: resolved.env,
    // The rotation value sits next to a fixed warning, so a preview that shows it changing also
    // shows what that means for users.
    rotation: {
      sessionSecret: args.config.sessionSecretRotation,
      warning: "changing sessionSecret rotates SESSION_SECRET and logs every user out",
    },
  };
}
