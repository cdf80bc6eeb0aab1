/**
 * What Pulumi.yaml declares under `config:`, derived key by key from the schema (schema.ts), so the
 * Pulumi CLI enforces exactly what the schema says and nothing more. `npm run gen:pulumi-yaml`
 * writes it; tests/configStep.test.ts fails when Pulumi.yaml drifts from it.
 *
 * What a declaration makes the CLI do (pulumi/pulumi pkg/workspace/config.go `mergeConfig`, commit
 * 1b5949891b, v3.259.0+14), which decides what may be declared:
 * - declared without `default` → required on every stack ("missing configuration value");
 * - declared with `default` → every stack that leaves the key out gets the default;
 * - `type` → the stack's value must be of it; `type` + `secret: true` → the stack's value must be
 *   encrypted, and a default (never encrypted) fails that check whenever the stack leaves the key out.
 * So: required keys are declared without a default; keys with a constant default are declared with
 * it; an optional secret, a key whose default is computed (from the stack name, the manifest, …)
 * and a staging-only key (a default would put it on production, whose rules refuse it) are left to
 * the program's own checks (config/), which run before any resource is registered.
 */
import { CONFIG_DEFAULTS, CONFIG_SCHEMA, type ConfigKey } from "./schema";
import { keyDescription } from "./configTable";

/** One key's declaration as Pulumi.yaml writes it. */
export interface KeyDeclaration {
  type: "string" | "integer" | "boolean" | "array" | "object";
  items?: { type: "string" };
  description?: string;
  default?: unknown;
  secret?: true;
}

/** Why a key is not declared in Pulumi.yaml. */
export type NotDeclaredReason = "optional secret" | "computed or no default" | "staging only";

export type KeyDecision =
  { declared: true; declaration: KeyDeclaration } | { declared: false; reason: NotDeclaredReason };

/** The Pulumi type of a constant default. */
function typeOfDefault(value: unknown): KeyDeclaration["type"] {
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "string";
  if (Array.isArray(value)) return "array";
  if (value !== null && typeof value === "object") return "object";
  return "string";
}

/** Whether and how one schema key is declared in Pulumi.yaml. */
export function declarationFor(key: ConfigKey, description?: string): KeyDecision {
  const entry: { secret: boolean; required?: true } = CONFIG_SCHEMA[key];
  const described = description ? { description } : {};
  if (entry.required) {
    // Required keys hold text (host names); the schema checks the rest.
    return { declared: true, declaration: { type: "string", ...described, ...(entry.secret ? { secret: true } : {}) } };
  }
  if (entry.secret) return { declared: false, reason: "optional secret" };
  if ("stagingOnly" in CONFIG_SCHEMA[key]) return { declared: false, reason: "staging only" };
  if (!(key in CONFIG_DEFAULTS)) return { declared: false, reason: "computed or no default" };
  const value = CONFIG_DEFAULTS[key as keyof typeof CONFIG_DEFAULTS];
  const type = typeOfDefault(value);
  return {
    declared: true,
    declaration: {
      type,
      ...(type === "array" ? { items: { type: "string" as const } } : {}),
      ...described,
      default: value,
    },
  };
}

/** Every key's plain-text description (config/configTable.ts). */
function keyDescriptions(): Record<string, string> {
  return Object.fromEntries((Object.keys(CONFIG_SCHEMA) as ConfigKey[]).map((k) => [k, keyDescription(k)]));
}

/** The `config:` section of Pulumi.yaml, in schema order. */
export function projectConfigSection(
  descriptions: Readonly<Record<string, string>> = {},
): Record<string, KeyDeclaration> {
  const out: Record<string, KeyDeclaration> = {};
  for (const key of Object.keys(CONFIG_SCHEMA) as ConfigKey[]) {
    const decision = declarationFor(key, descriptions[key]);
    if (decision.declared) out[key] = decision.declaration;
  }
  return out;
}

/** The keys left out of Pulumi.yaml, each with why (for the file's own comment). */
export function undeclaredKeys(): Array<{ key: ConfigKey; reason: NotDeclaredReason }> {
  return (Object.keys(CONFIG_SCHEMA) as ConfigKey[]).flatMap((key) => {
    const d = declarationFor(key);
    return d.declared ? [] : [{ key, reason: d.reason }];
  });
}

const REASON_TEXT: Record<NotDeclaredReason, string> = {
  "optional secret": "optional secrets (declared, each would be required: a default is never encrypted)",
  "computed or no default": "keys whose default is computed or absent",
  "staging only": "staging-only keys (a default would put them on production, which refuses them)",
};

/** The whole Pulumi.yaml: the project, its runtime, and the generated `config:` section. */
export function renderPulumiYaml(): string {
  const YAML = require("yaml") as typeof import("yaml");
  const left = undeclaredKeys();
  const byReason = (Object.keys(REASON_TEXT) as NotDeclaredReason[])
    .map((reason) => ({ reason, keys: left.filter((k) => k.reason === reason).map((k) => k.key) }))
    .filter((g) => g.keys.length > 0);
  // Long descriptions fold onto a second line (plain YAML, read back as one string); the library
  // counts the width after the indent, so 110 keeps every line of the file within 120.
  const section = YAML.stringify({ config: projectConfigSection(keyDescriptions()) }, { lineWidth: 110 });
  return [
    "# Generated by `npm run gen:pulumi-yaml` from config/schema.ts (config/pulumiYaml.ts);",
    "# edit those, not this file. tests/configStep.test.ts fails when the two differ.",
    "name: communityrule",
    "runtime:",
    "  name: nodejs",
    "  options:",
    "    # The program is compiled ahead (`npm run build`, also run by `npm ci`): the language host",
    "    # runs package.json `main` (build/index.js) without loading TypeScript, and that program",
    "    # refuses to run when build/ is older than the .ts sources.",
    "    typescript: false",
    "description: Deploys CommunityRule (Next.js + Prisma + Postgres) to MEDLab's Cloudron. One stack per environment.",
    "# The Pulumi CLI enforces these before the program runs: a key without default is required, a",
    "# default fills a key the stack leaves out, a value must be of its type. Keys are declared without",
    "# the project prefix (Pulumi adds `communityrule:`). Not declared, and checked by the program",
    "# (config/, before any resource is registered) like every key:",
    ...byReason.flatMap((g) => [`# - ${REASON_TEXT[g.reason]}:`, `#   ${g.keys.join(", ")}`]),
    section.trimEnd(),
    "",
  ].join("\n");
}
