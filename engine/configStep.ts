/**
 * The Pulumi CLI's config step, played offline: what `pulumi preview`, `up` and `destroy` do with
 * `Pulumi.yaml` and `Pulumi.<stack>.yaml` before the program runs. Every rule here follows
 * pulumi/pulumi at commit 1b5949891b (v3.259.0+14, August 2026):
 *
 * - pkg/workspace/config.go `mergeConfig`: a key declared in the project namespace with neither
 *   `default` nor `value` and absent from the stack is missing ("Stack 'S' is missing
 *   configuration value 'k'", all missing keys in one message, sorted, `'a', 'b' and 'c'`);
 *   otherwise an absent key takes the declaration's `default` (or `value`); then
 *   `validateStackConfigValues` checks every declared key that has a `type`, in sorted key order,
 *   and stops at the first failure: `secret: true` needs a secure stack value ("must be encrypted
 *   as it's secret"; a default is never secure), then the value must be of the type
 *   ("must be of type 'integer'").
 * - sdk/go/common/workspace/project.go `ValidateConfigValue` (the types), `RewriteShorthandConfigValues`
 *   (a bare value in Pulumi.yaml is a default) and `Project.Validate` (a default must be of its type;
 *   `default` and `value` exclude each other; an array names its `items`).
 * - sdk/go/common/resource/config/object.go `MarshalString`: how a stack file's YAML value becomes a
 *   config value (numbers and booleans as their JSON text, maps and lists as JSON objects, secure
 *   when any entry is).
 * - pkg/cmd/pulumi/operations/{preview,up,destroy}.go: preview and up validate
 *   (`ValidateStackConfigAndApplyProjectConfig`) and wrap the error as "validating stack config: …";
 *   destroy, which does not run the program by default (`--run-program` off), only applies defaults
 *   (`ApplyProjectConfig`, no validation).
 *
 * Pure: the caller reads the files.
 */
import { parseStackDocument } from "../config/stackFile";

/** A stack config value as the CLI holds it (sdk/go/common/resource/config/value.go). */
export interface ConfigValue {
  /** The value's text; JSON text when `object`. Secure values are held here already decrypted. */
  value: string;
  /** Stored as `secure:` ciphertext (for an object: any entry is). */
  secure: boolean;
  /** A map or list, carried as JSON text. */
  object: boolean;
}

/** One `config:` declaration of Pulumi.yaml (project.go `ProjectConfigType`). */
export interface ProjectConfigType {
  type?: string;
  items?: ProjectConfigItemsType;
  description?: string;
  default?: unknown;
  value?: unknown;
  secret?: boolean;
}
export interface ProjectConfigItemsType {
  type: string;
  items?: ProjectConfigItemsType;
}

/** The parts of a Pulumi.yaml the config step reads. */
export interface ProjectConfig {
  name: string;
  config: Record<string, ProjectConfigType>;
}

/** A Pulumi.yaml the CLI itself refuses to load. */
export class ProjectFileError extends Error {
  override name = "ProjectFileError";
}

/** project.json `simpleConfigType`. */
const SIMPLE_TYPES = new Set(["string", "integer", "boolean", "array", "object"]);

const isPrimitive = (v: unknown) =>
  typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isInteger(v));
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** project.go `configKeyIsNamespacedByProject`. */
function namespacedByProject(project: string, key: string): boolean {
  return !key.includes(":") || key.startsWith(`${project}:`);
}

/** config.go `parseConfigKey`: a bare key belongs to the project. */
export function fullConfigKey(project: string, key: string): string {
  return key.includes(":") ? key : `${project}:${key}`;
}

/**
 * A parsed Pulumi.yaml's name and config declarations, checked as the CLI checks them on load
 * (project.go `RewriteShorthandConfigValues`, project.json, `Project.Validate`).
 */
export function readProjectConfig(project: unknown): ProjectConfig {
  if (!isPlainObject(project) || typeof project.name !== "string" || project.name === "") {
    throw new ProjectFileError("project is missing a non-empty string 'name' attribute");
  }
  const name = project.name;
  const raw = project.config ?? {};
  if (!isPlainObject(raw)) throw new ProjectFileError("Pulumi.yaml config: must be a map of key declarations");
  const config: Record<string, ProjectConfigType> = {};
  for (const [key, declared] of Object.entries(raw)) {
    // A bare value (or list) is shorthand: a default in the project namespace, a value elsewhere.
    const shorthand = isPrimitive(declared) || Array.isArray(declared);
    if (!shorthand && !isPlainObject(declared))
      throw new ProjectFileError(`config.${key}: must be a value or a declaration`);
    const decl: ProjectConfigType = shorthand
      ? namespacedByProject(name, key)
        ? { default: declared }
        : { value: declared }
      : (declared as ProjectConfigType);
    if (decl.type !== undefined && !SIMPLE_TYPES.has(decl.type)) {
      throw new ProjectFileError(
        `config.${key}.type: value must be one of "string", "integer", "boolean", "array", "object"`,
      );
    }
    if (decl.default !== undefined && decl.value !== undefined) {
      throw new ProjectFileError(`project config '${key}' cannot have both a 'default' and 'value' attribute`);
    }
    if (namespacedByProject(name, key)) {
      if (decl.type === "array" && decl.items === undefined) {
        throw new ProjectFileError(
          `The configuration key '${key}' declares an array but does not specify the underlying type ` +
            "via the 'items' attribute",
        );
      }
      if (
        decl.type !== undefined &&
        decl.default !== undefined &&
        !validateConfigValue(decl.type, decl.items, decl.default)
      ) {
        throw new ProjectFileError(
          `The default value specified for configuration key '${key}' is not of the expected type ` +
            `'${fullTypeName(decl.type, decl.items)}'`,
        );
      }
    } else if (decl.type !== undefined) {
      throw new ProjectFileError(
        `Configuration key '${key}' is not namespaced by the project and should not define a type`,
      );
    }
    config[key] = decl;
  }
  return { name, config };
}

/** project.go `InferFullTypeName`. */
function fullTypeName(type: string, items?: ProjectConfigItemsType): string {
  return items ? `array<${fullTypeName(items.type, items.items)}>` : type;
}

/** Go's strconv.Atoi on a 64-bit platform: optional sign, decimal digits, within int64. */
function atoiAccepts(text: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(text)) return false;
  const n = BigInt(text);
  return n >= -(2n ** 63n) && n <= 2n ** 63n - 1n;
}

/** project.go `ValidateConfigValue`: whether `value` (a string, or parsed JSON of an object value) is of the type. */
export function validateConfigValue(type: string, items: ProjectConfigItemsType | undefined, value: unknown): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "integer":
      // YAML numbers arrive as floats: a whole one passes; so does text strconv.Atoi accepts.
      if (typeof value === "number") return Number.isInteger(value);
      return typeof value === "string" && atoiAccepts(value);
    case "boolean":
      return value === "true" || value === "false" || typeof value === "boolean";
    case "object":
      return isPlainObject(value);
    default:
      if (!Array.isArray(value) || !items) return false;
      return value.every((item) => validateConfigValue(items.type, items.items, item));
  }
}

const isSecureEntry = (v: unknown): v is { secure: unknown } =>
  isPlainObject(v) && Object.keys(v).length === 1 && "secure" in v;

/**
 * A stack file's YAML value as a config value (object.go `MarshalString`): numbers and booleans as
 * their JSON text, a `secure:` entry as a secure string, maps and lists as JSON objects (secure when
 * any entry is). `decrypt` turns a `secure:` entry into its text (offline: a placeholder).
 */
export function configValueFromYaml(v: unknown, decrypt: (entry: { secure: unknown }) => string): ConfigValue {
  if (isSecureEntry(v)) return { value: decrypt(v), secure: true, object: false };
  if (typeof v === "string") return { value: v, secure: false, object: false };
  if (typeof v === "number" || typeof v === "boolean")
    return { value: JSON.stringify(v), secure: false, object: false };
  let secure = false;
  const plain = (x: unknown): unknown => {
    if (isSecureEntry(x)) {
      secure = true;
      return decrypt(x);
    }
    if (Array.isArray(x)) return x.map(plain);
    if (isPlainObject(x)) return Object.fromEntries(Object.entries(x).map(([k, e]) => [k, plain(e)]));
    return x;
  };
  return { value: JSON.stringify(plain(v ?? null)), secure, object: true };
}

/** config.go `createConfigValue`: a declaration's default as a (never secure) config value. */
function defaultValue(v: unknown): ConfigValue {
  if (isPrimitive(v)) return { value: String(v), secure: false, object: false };
  return { value: JSON.stringify(v), secure: false, object: true };
}

/** config.go `formatMissingKeys`. */
function formatMissingKeys(keys: string[]): string {
  if (keys.length === 1) return `'${keys[0]}'`;
  const sorted = [...keys].sort();
  return sorted
    .map((k, i) => (i === sorted.length - 1 ? `and '${k}'` : i === sorted.length - 2 ? `'${k}' ` : `'${k}', `))
    .join("");
}

/** Go's sort.Strings: byte order. */
const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The outcome of {@link mergeConfig}: the config the program gets, or the CLI's error. */
export type ConfigStepResult = { ok: true; config: Map<string, ConfigValue> } | { ok: false; error: string };

/**
 * config.go `mergeConfig` (no ESC environment here): defaults applied to a copy of the stack's
 * config; with `validate`, missing keys, then secrets and types of every typed declaration.
 * The error is the CLI's own text, without the command's "validating stack config: " prefix.
 */
export function mergeConfig(
  stack: string,
  project: ProjectConfig,
  stackConfig: ReadonlyMap<string, ConfigValue>,
  validate: boolean,
): ConfigStepResult {
  const merged = new Map(stackConfig);
  const keys = Object.keys(project.config).sort(byteOrder);
  const missing: string[] = [];
  for (const key of keys) {
    const decl = project.config[key];
    const full = fullConfigKey(project.name, key);
    const found = merged.has(full);
    const hasDefault = decl.default !== undefined && decl.default !== null;
    const hasValue = decl.value !== undefined && decl.value !== null;
    if (!found && !hasValue && !hasDefault && full.startsWith(`${project.name}:`)) {
      missing.push(key);
      continue;
    }
    // mergeConfig sets the value first and the default over it, so a default wins (Validate refuses both).
    if (!found) merged.set(full, defaultValue(hasDefault ? decl.default : decl.value));
  }
  if (!validate) return { ok: true, config: merged };
  if (missing.length > 0) {
    return {
      ok: false,
      error:
        `Stack '${stack}' is missing configuration ${missing.length > 1 ? "values" : "value"} ` +
        formatMissingKeys(missing),
    };
  }
  for (const key of keys) {
    const decl = project.config[key];
    if (decl.type === undefined) continue;
    const stackValue = merged.get(fullConfigKey(project.name, key));
    if (!stackValue) continue;
    if (decl.secret && !stackValue.secure) {
      return { ok: false, error: `Stack '${stack}' with configuration key '${key}' must be encrypted as it's secret` };
    }
    let content: unknown = stackValue.value;
    if (stackValue.object) {
      try {
        content = JSON.parse(stackValue.value);
      } catch (err) {
        return { ok: false, error: (err as Error).message };
      }
    }
    if (!validateConfigValue(decl.type, decl.items, content)) {
      return {
        ok: false,
        error:
          `Stack '${stack}' with configuration key '${key}' must be of type ` +
          `'${fullTypeName(decl.type, decl.items)}'`,
      };
    }
  }
  return { ok: true, config: merged };
}

/** What the program is handed (PULUMI_CONFIG and its secret keys): every value as text. */
export function programConfig(config: ReadonlyMap<string, ConfigValue>): {
  config: Record<string, string>;
  secretKeys: string[];
} {
  const out: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, v] of [...config].sort(([a], [b]) => byteOrder(a, b))) {
    out[key] = v.value;
    if (v.secure) secretKeys.push(key);
  }
  return { config: out, secretKeys };
}

/** Which operation runs the step: preview and up validate; destroy (program not run) only applies defaults. */
export type ConfigStepMode = "preview" | "up" | "destroy";

/**
 * The whole config step of one CLI command: `Pulumi.yaml` (parsed) and the stack's config values,
 * to the program's config or the command's error as the CLI prints it.
 */
export function runConfigStep(
  mode: ConfigStepMode,
  stack: string,
  projectYaml: unknown,
  stackConfig: ReadonlyMap<string, ConfigValue>,
): { ok: true; config: Record<string, string>; secretKeys: string[] } | { ok: false; error: string } {
  const project = readProjectConfig(projectYaml);
  const validate = mode !== "destroy";
  const result = mergeConfig(stack, project, stackConfig, validate);
  if (!result.ok) return { ok: false, error: `validating stack config: ${result.error}` };
  return { ok: true, ...programConfig(result.config) };
}

/** A stack file's `config:` section (parsed YAML) as config values, keyed by full key. */
export function stackConfigFromYaml(
  project: string,
  section: Record<string, unknown>,
  decrypt: (entry: { secure: unknown }) => string,
): Map<string, ConfigValue> {
  return new Map(Object.entries(section).map(([k, v]) => [fullConfigKey(project, k), configValueFromYaml(v, decrypt)]));
}

/** Stands in for a `secure:` value's plaintext when the ciphertext cannot be opened offline. */
export const CIPHERTEXT_PLACEHOLDER = "[secret]";

/** A stack file's text as config values (YAML parsed as the CLI's loader does; secure values unopened). */
export function stackConfigFromText(project: string, text: string): Map<string, ConfigValue> {
  const { config } = parseStackDocument(text, "stack file");
  return stackConfigFromYaml(project, config, () => CIPHERTEXT_PLACEHOLDER);
}

/** `Pulumi.yaml` of a project directory, parsed. */
export function readProjectYaml(projectDir: string): unknown {
  const fs = require("node:fs") as typeof import("node:fs");
  const path = require("node:path") as typeof import("node:path");
  const YAML = require("yaml") as typeof import("yaml");
  return YAML.parse(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8"));
}
