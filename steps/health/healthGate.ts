import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { changeKey } from "../../lib/changeKey";
import { healthGateCommand } from "../../lib/commandLines";

/** Arguments of {@link HealthGate}. */
export interface HealthGateArgs {
  /** Where the app answers, e.g. `https://staging.communityrule.info`; the gate polls `/api/health`. */
  baseUrl: string;
  /** The app's Cloudron location, named in the hints of a failure. */
  location: string;
  /** How long to wait for a healthy answer, in seconds (communityrule:healthTimeoutSeconds). */
  timeoutSeconds: number;
  /**
   * Values whose change means the app restarted (image, applied env). The gate re-runs exactly
   * when one of them changes, and not on a no-op `up`.
   */
  restartedBy: pulumi.Input<string>[];
  /** Resources the gate waits for. */
  after: pulumi.Resource[];
  /** communityrule:cloudronServer: where a failed gate reads the app's last log lines. */
  cloudronServer?: string;
  /** API token (secret) for those reads; absent: the token `cloudron login` stored for the server. */
  token?: pulumi.Input<string>;
}

/**
 * Waits until `GET <baseUrl>/api/health` answers 200 with `"ok":true` and `"database":"connected"`,
 * printing progress as it polls, or fails the `up` with the last status, a body excerpt and the
 * runbook's likely cause.
 */
export class HealthGate extends pulumi.ComponentResource {
  /** The gate's result line (JSON: url, attempts, elapsed). */
  public readonly result: pulumi.Output<string>;
  /** The command resource, for ordering later steps after it. */
  public readonly check: command.local.Command;

  constructor(name: string, args: HealthGateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("communityrule:checks:HealthGate", name, {}, opts);
    const run = healthGateCommand({
      baseUrl: args.baseUrl,
      timeoutSeconds: args.timeoutSeconds,
      location: args.location,
      cloudronServer: args.cloudronServer,
    });
    const restartKey = changeKey(args.restartedBy);
    // The token travels in the environment, secret like the Cloudron steps'; without one the gate
    // reads ~/.cloudron.json, and without either it reports the failure without the app's log.
    const environment = args.token
      ? pulumi.secret(
          pulumi
            .all([restartKey, pulumi.output(args.token)])
            .apply(([key, token]) => ({ CR_RESTART_KEY: key, CLOUDRON_TOKEN: token })),
        )
      : { CR_RESTART_KEY: restartKey };
    this.check = new command.local.Command(
      name,
      { create: run, update: run, environment },
      { parent: this, dependsOn: args.after },
    );
    this.result = this.check.stdout;
    this.registerOutputs({ result: this.result });
  }
}
