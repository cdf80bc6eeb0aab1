import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as random from "@pulumi/random";
import { envApplyCommand, secretEnvVarName } from "../lib/cli/commandLines";
import { fingerprint } from "../lib/cloudron/envDiff";

/** Arguments of {@link AppEnv}. */
export interface AppEnvArgs {
  server: string;
  location: string;
  /** Plain env vars (SMTP_FROM, UPLOAD_ROOT, …). Shown in previews. */
  env: Record<string, string>;
  /** Secret env vars; only their names and keyed fingerprints are ever shown. */
  secretEnv: pulumi.Input<Record<string, string>>;
  /** Opaque value; changing it generates a new SESSION_SECRET (every user is logged out). */
  sessionSecretRotation: string;
  /** API token (secret); absent: the operator's own `cloudron login`. */
  token?: pulumi.Input<string>;
  /** The deploy step: env is applied after it, and goes away with it. */
  deployment: pulumi.Resource;
  timeoutSeconds?: number;
}

/**
 * The app's environment on Cloudron: the plain `env` map, the secret `secretEnv` map and a
 * generated SESSION_SECRET, applied by one command that sets what changed and unsets what was
 * removed (one `cloudron env set`, one restart). Plain values travel on stdin, where a preview
 * shows them; secrets travel in the command's (secret) environment, and stdin carries only their
 * fingerprints, so a preview names the secret keys that change without showing a value.
 */
export class AppEnv extends pulumi.ComponentResource {
  /** The apply command; the health gate re-runs when its result changes. */
  public readonly apply: command.local.Command;
  /** Names of the variables this stack manages on the app. */
  public readonly names: pulumi.Output<string[]>;
  /** The generated session secret (secret). */
  public readonly sessionSecret: pulumi.Output<string>;

  constructor(name: string, args: AppEnvArgs, opts?: pulumi.ComponentResourceOptions) {
    super("communityrule:cloudron:AppEnv", name, {}, opts);

    const sessionSecret = new random.RandomPassword(
      `${name}-session-secret`,
      // Frozen arguments: any change here would replace the secret and log every user out.
      { length: 48, special: false, keepers: { rotation: args.sessionSecretRotation } },
      { parent: this },
    );
    // Keys the secret fingerprints, so a fingerprint in a preview or in state cannot be reversed.
    const fingerprintKey = new random.RandomPassword(`${name}-fingerprint-key`, { length: 32, special: false }, { parent: this });

    const secrets = pulumi
      .all([pulumi.output(args.secretEnv), sessionSecret.result])
      .apply(([extra, session]) => ({ ...extra, SESSION_SECRET: session }));

    const stdin = pulumi.unsecret(
      pulumi.all([secrets, fingerprintKey.result]).apply(([values, key]) =>
        buildEnvSpec(args.server, args.location, args.env, values, key, args.sessionSecretRotation),
      ),
    );

    const environment = pulumi.secret(
      pulumi.all([secrets, pulumi.output(args.token)]).apply(([values, token]) => {
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(values)) env[secretEnvVarName(k)] = v;
        if (token) env.CLOUDRON_TOKEN = token;
        return env;
      }),
    );

    const run = envApplyCommand({ timeoutSeconds: args.timeoutSeconds ?? 1800 });
    this.apply = new command.local.Command(
      `${name}-apply`,
      { create: run, update: run, stdin, environment },
      // deletedWith: uninstalling the app removes its env; no separate unset on destroy.
      { parent: this, dependsOn: [args.deployment], deletedWith: args.deployment },
    );

    this.names = secrets.apply((values) => [...Object.keys(args.env), ...Object.keys(values)].sort());
    this.sessionSecret = sessionSecret.result;
    this.registerOutputs({ names: this.names, sessionSecret: this.sessionSecret });
  }
}

/**
 * The stdin document of the env apply: plain values in clear, secrets as keyed fingerprints.
 * One key per line and sorted, so a preview diff reads as "this key changed".
 */
export function buildEnvSpec(
  server: string,
  location: string,
  plain: Record<string, string>,
  secrets: Record<string, string>,
  fingerprintKey: string,
  sessionSecretRotation: string,
): string {
  const sortedPlain = Object.fromEntries(Object.entries(plain).sort(([a], [b]) => a.localeCompare(b)));
  const secret = Object.fromEntries(
    Object.keys(secrets)
      .sort()
      .map((k) => [k, fingerprint(fingerprintKey, k, secrets[k])]),
  );
  // The rotation value sits next to a fixed warning, so a preview that shows it changing also
  // shows what that means for users.
  const rotation = { sessionSecret: sessionSecretRotation, warning: "changing sessionSecret rotates SESSION_SECRET and logs every user out" };
  return JSON.stringify({ server, location, plain: sortedPlain, secret, rotation }, null, 2) + "\n";
}
