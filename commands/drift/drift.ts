/**
 * Drift: what the live app runs and holds, against what the stack applied at its last `up` (its
 * stack outputs). Read-only. Secret values are never printed, only "changed"; keys set by hand
 * that the stack does not manage are listed as information.
 */
import * as z from "../../lib/zod";
import type { App } from "../../cloudron/wire";

/** The stack outputs drift reads (`pulumi stack output --json --show-secrets`). */
export const driftOutputsSchema = z.looseObject({
  cloudronServer: z.string().min(1),
  location: z.string().min(1),
  appId: z.string().min(1),
  imageRef: z.string().min(1),
  manifestVersion: z.string().min(1),
  managedEnv: z.record(z.string(), z.string()),
  secretEnvNames: z.array(z.string()),
});
export type DriftOutputs = z.infer<typeof driftOutputsSchema>;

export interface DriftReport {
  /** One line per difference; empty when the app matches. */
  differences: string[];
  /** Keys on the app the stack does not manage (names only). */
  unmanaged: string[];
}

/** Compares the live app with the applied outputs. */
export function computeDrift(outputs: DriftOutputs, app: App): DriftReport {
  const differences: string[] = [];
  if (app.fqdn.toLowerCase() !== outputs.location.toLowerCase()) {
    differences.push(`location: app ${app.id} now serves ${app.fqdn}, applied ${outputs.location} (moved by hand?)`);
  }
  if (app.manifest.dockerImage !== outputs.imageRef)
    differences.push(`image: live ${app.manifest.dockerImage ?? "(none)"}, applied ${outputs.imageRef}`);
  if (app.manifest.version !== outputs.manifestVersion)
    differences.push(`version: live ${app.manifest.version ?? "(none)"}, applied ${outputs.manifestVersion}`);
  const secret = new Set(outputs.secretEnvNames);
  for (const name of Object.keys(outputs.managedEnv).sort()) {
    const applied = outputs.managedEnv[name];
    if (!(name in app.env)) differences.push(`env ${name}: missing on the app${secret.has(name) ? " (secret)" : ""}`);
    else if (app.env[name] !== applied) {
      differences.push(
        secret.has(name)
          ? `env ${name}: changed (secret; value not shown)`
          : `env ${name}: live ${JSON.stringify(app.env[name])}, applied ${JSON.stringify(applied)}`,
      );
    }
  }
  const unmanaged = Object.keys(app.env)
    .filter((k) => !(k in outputs.managedEnv))
    .sort();
  return { differences, unmanaged };
}

/** The report as printed by `npm run drift`. */
export function formatDrift(stack: string, outputs: DriftOutputs, report: DriftReport): string {
  const lines = report.differences.length
    ? [
        `DRIFT ${stack}: ${outputs.location} differs from what the last up applied:`,
        ...report.differences.map((d) => `  - ${d}`),
      ]
    : [
        `OK ${stack}: ${outputs.location} runs ${outputs.imageRef} (version ${outputs.manifestVersion}) with every ` +
          `managed env key as applied`,
      ];
  if (report.unmanaged.length)
    lines.push(
      `info: keys set on the app that this stack does not manage (left alone): ${report.unmanaged.join(", ")}`,
    );
  if (report.differences.length)
    lines.push(
      `fix: run \`pulumi up -s ${stack}\` to put the applied state back (env and image), or change the stack config ` +
        `to adopt the live value`,
    );
  return lines.join("\n");
}
