/**
 * Builders for the command strings the Pulumi command resources run. Pure: plain values in, one
 * string out, each value quoted by {@link shellQuote}. Secrets never pass through here; they reach
 * the tools through the resource's `environment` (CLOUDRON_TOKEN, CR_SECRET_<NAME>).
 *
 * Paths are relative to the Pulumi project directory (where `pulumi up` runs the commands), so the
 * strings stored in state are the same on every machine and do not re-run commands by themselves.
 */
import { shellJoin } from "./shell";

/**
 * How every tool is started: plain Node on its compiled form in build/ (`npm run build`, which
 * `npm ci` runs), like the program itself; no TypeScript compiler is loaded per step.
 */
export function toolArgv(tool: string, args: readonly string[] = []): string[] {
  return ["node", `build/tools/${tool}.js`, ...args];
}

/** `node build/tools/<tool>.js <args…>` with every argument quoted. */
export function toolCommand(tool: string, args: readonly string[]): string {
  return shellJoin(toolArgv(tool, args));
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

/**
 * A Cloudron operation: `node build/tools/cloudronApp.js <operation>`. The request travels on stdin
 * (cloudron/requests.ts), secrets in the environment, so the command text never changes with
 * a value and carries no flag that could drift from the contract.
 */
export function cloudronCommand(operation: "deploy" | "uninstall" | "env-apply" | "seed"): string {
  return shellJoin(cloudronToolArgv(operation));
}

/** The same command as an argv (for the seed provider, which starts the tool without a shell). */
export function cloudronToolArgv(operation: "deploy" | "uninstall" | "env-apply" | "seed"): string[] {
  return toolArgv("cloudronApp", [operation]);
}

/**
 * The health gate: polls <baseUrl>/api/health until healthy or the timeout; on a failure it reads
 * the app's log from the Cloudron server (token in the environment, never here).
 */
export function healthGateCommand(a: {
  baseUrl: string;
  timeoutSeconds: number;
  location: string;
  cloudronServer?: string;
}): string {
  const options = flags({ "timeout-seconds": a.timeoutSeconds, app: a.location, "cloudron-server": a.cloudronServer });
  return toolCommand("healthGate", [a.baseUrl, ...options]);
}

/** The smoke checks against a base URL. */
export function smokeCommand(a: { baseUrl: string; email?: string }): string {
  return toolCommand("smoke", [a.baseUrl, ...flags({ email: a.email })]);
}

/** Anonymous pull check of an image reference (what Cloudron does when it pulls). */
export function verifyPullCommand(a: { image: string }): string {
  return toolCommand("verifyPull", [a.image]);
}

/** The release-tag guard: fails when `repo:tag` already exists (release tags never change). */
export function releaseTagGuardCommand(a: { image: string }): string {
  return toolCommand("verifyPull", [a.image, "--must-be-new"]);
}
