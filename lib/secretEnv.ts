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

/**
 * The secret env values a tool's request names, read back from its environment. Only those: the
 * command inherits the operator's shell, so a `CR_SECRET_*` exported there reaches the tool too,
 * and must be neither taken for one of ours nor masked in what the tool prints.
 */
export function secretsFromEnv(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = env[secretEnvVarName(name)];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
