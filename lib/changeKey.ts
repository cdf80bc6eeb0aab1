import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";

/**
 * A short hash of values whose change should re-run a check. Kept as a plain command input so the
 * check re-runs exactly when one of them changes (and a no-op `up` stays a no-op).
 */
export function changeKey(parts: pulumi.Input<string>[]): pulumi.Output<string> {
  return pulumi.all(parts).apply((p) => createHash("sha256").update(p.join("\n")).digest("hex").slice(0, 16));
}
