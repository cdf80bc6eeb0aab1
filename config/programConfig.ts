/**
 * Reads this stack's config from the Pulumi runtime and validates it, before any resource exists.
 * The only place the program touches Pulumi's config API.
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, CONFIG_NAMESPACE, parseDeployConfig, type DeployConfig, type RawConfig } from "./loader";

/**
 * `isConfigSecret` exists in the SDK's runtime/config module (it reads PULUMI_CONFIG_SECRET_KEYS,
 * which the CLI sets) but is missing from its type declarations.
 */
const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

/** Raw `communityrule:*` values and which of them Pulumi holds as secrets. */
export function readRawConfig(): RawConfig {
  const all = pulumi.runtime.allConfig();
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [key, value] of Object.entries(all)) {
    if (!key.startsWith(`${CONFIG_NAMESPACE}:`)) continue;
    values[key] = value;
    if (runtimeConfig.isConfigSecret(key)) secretKeys.add(key);
  }
  return { values, secretKeys };
}

/**
 * Validated config for the current stack. A bad config stops the program with one message that
 * lists every problem; `RunError` makes Pulumi print it without a stack trace.
 */
export function loadDeployConfig(projectDir: string): DeployConfig {
  try {
    return parseDeployConfig(readRawConfig(), { stack: pulumi.getStack(), projectDir });
  } catch (err) {
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}
