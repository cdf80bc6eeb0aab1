import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { changeKey } from "../../lib/changeKey";
import { smokeCommand } from "../../lib/commandLines";

/** Arguments of {@link SmokeCheck}. */
export interface SmokeCheckArgs {
  /** Base URL of the app, e.g. `https://staging.communityrule.info`. */
  baseUrl: string;
  /** When set, the magic-link request is exercised too (sends a real mail). */
  email?: string;
  /** Values whose change means there is something new to check (gate result, seed). */
  after: pulumi.Input<string>[];
  dependsOn: pulumi.Resource[];
}

/**
 * The runbook's automated smoke checks (health, templates seeded, rules), run at the end of `up`
 * by the same tool operators run by hand (`npm run smoke -- <host>`).
 */
export class SmokeCheck extends pulumi.ComponentResource {
  /** The smoke report as printed (PASS/FAIL per check). */
  public readonly report: pulumi.Output<string>;

  constructor(name: string, args: SmokeCheckArgs, opts?: pulumi.ComponentResourceOptions) {
    super("communityrule:checks:SmokeCheck", name, {}, opts);
    const run = smokeCommand({ baseUrl: args.baseUrl, email: args.email });
    const afterKey = changeKey(args.after);
    const smoke = new command.local.Command(
      name,
      { create: run, update: run, environment: { CR_AFTER_KEY: afterKey } },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.report = smoke.stdout;
    this.registerOutputs({ report: this.report });
  }
}
