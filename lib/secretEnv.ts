/**
 * How secret env values reach a tool: never in argv or the request on stdin, but in the command's
 * environment, one variable per name (`CR_SECRET_<NAME>`), which Pulumi keeps secret.
 */

const PREFIX = "CR_SECRET_";

/** The variable that carries secret env value `name` to a tool. */
export function secretEnvVarName(name: string): string {
  return `${PREFIX}${name}`;
}

/** Secret env values by name → the variables that carry them. */
export function secretEnvVars(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [secretEnvVarName(name), value]));
}

/** True for a variable that carries a secret env value. */
export function isSecretEnvVar(variable: string): boolean {
  return variable.startsWith(PREFIX);
}

/** Secret env values by name, read back from a tool's environment. */
export function secretsFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (isSecretEnvVar(k) && v !== undefined) out[k.slice(PREFIX.length)] = v;
  return out;
}
