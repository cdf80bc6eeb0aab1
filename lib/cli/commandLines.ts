/**
 * Builders for the command strings the Pulumi command resources run. Pure: plain values in, one
 * string out, each value quoted by {@link shellQuote}. Secrets never pass through here; they reach
 * the tools through the resource's `environment` (CLOUDRON_TOKEN, CR_SECRET_<NAME>).
 *
 * Paths are relative to the Pulumi project directory (where `pulumi up` runs the commands), so the
 * strings stored in state are the same on every machine and do not re-run commands by themselves.
 */
import { shellJoin } from "./shell";

/** How every tool is started: Node with ts-node in transpile-only mode, CommonJS, like the program. */
export const NODE_TOOL_PREFIX = ["node", "--require", "ts-node/register/transpile-only"] as const;

/** `node … tools/<tool>.ts <args…>` with every argument quoted. */
export function toolCommand(tool: string, args: readonly string[]): string {
  return shellJoin([...NODE_TOOL_PREFIX, `tools/${tool}.ts`, ...args]);
}

/** Flattens `{ key: value }` into `--key value` pairs, skipping undefined and false. */
export function flags(values: Record<string, string | number | boolean | undefined>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || v === false) continue;
    out.push(`--${k}`);
    if (v !== true) out.push(String(v));
  }
  return out;
}

export interface DeployCommandArgs {
  server: string;
  location: string;
  appDir: string;
  image: string;
  manifestId: string;
  manifestVersion: string;
  /** Part of the command text so that an edited manifest (same version) re-runs the deploy. */
  manifestSha256: string;
  timeoutSeconds: number;
  busyWaitSeconds: number;
  /** `staging` / `production`: named in release and rollback messages. */
  environment?: string;
  /** Whether the image was built from the checkout (`false`: an existing tag, rollback or promotion). */
  build?: boolean;
  /** After an update, gate on health and roll back to the previous image when it fails. */
  autoRollback?: boolean;
  /** Where the auto-rollback health gate looks (`<baseUrl>/api/health`). */
  baseUrl?: string;
  healthTimeoutSeconds?: number;
}

/** Install-or-adopt-or-update, decided by the tool from the app's observed state. */
export function deployCommand(a: DeployCommandArgs): string {
  return toolCommand("cloudronApp", [
    "deploy",
    ...flags({
      server: a.server,
      location: a.location,
      "app-dir": a.appDir,
      image: a.image,
      "manifest-id": a.manifestId,
      "manifest-version": a.manifestVersion,
      "manifest-sha256": a.manifestSha256.slice(0, 16),
      "timeout-seconds": a.timeoutSeconds,
      "busy-wait-seconds": a.busyWaitSeconds,
      environment: a.environment,
      build: a.build === undefined ? undefined : String(a.build),
      "auto-rollback": a.autoRollback === true,
      "base-url": a.autoRollback ? a.baseUrl : undefined,
      "health-timeout-seconds": a.autoRollback ? a.healthTimeoutSeconds : undefined,
    }),
  ]);
}

/** Uninstall on destroy; refuses to touch a location that now holds another app. */
export function uninstallCommand(a: { server: string; location: string; manifestId: string; timeoutSeconds: number }): string {
  return toolCommand("cloudronApp", [
    "uninstall",
    ...flags({ server: a.server, location: a.location, "manifest-id": a.manifestId, "timeout-seconds": a.timeoutSeconds }),
  ]);
}

/** Env apply: the desired env arrives on stdin, secret values through the environment. */
export function envApplyCommand(a: { timeoutSeconds: number }): string {
  return toolCommand("cloudronApp", ["env-apply", ...flags({ "timeout-seconds": a.timeoutSeconds })]);
}

/** The health gate: polls <baseUrl>/api/health until healthy or the timeout. */
export function healthGateCommand(a: { baseUrl: string; timeoutSeconds: number; location: string }): string {
  return toolCommand("healthGate", [a.baseUrl, ...flags({ "timeout-seconds": a.timeoutSeconds, app: a.location })]);
}

/** The smoke checks against a base URL. */
export function smokeCommand(a: { baseUrl: string; email?: string }): string {
  return toolCommand("smoke", [a.baseUrl, ...flags({ email: a.email })]);
}

/** Anonymous pull check of an image reference (what Cloudron does when it pulls). */
export function verifyPullCommand(a: { image: string }): string {
  return toolCommand("verifyPull", [a.image]);
}

/** Name of the environment variable that carries a secret app env value to the env tool. */
export function secretEnvVarName(name: string): string {
  return `CR_SECRET_${name}`;
}
