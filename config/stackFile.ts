/**
 * Reads `Pulumi.<stack>.yaml` into the same {@link RawConfig} the Pulumi runtime hands the program,
 * so plan, preflight, rehearsal and drill check a stack file with exactly the program's rules.
 * Encrypted (`secure:`) values cannot be read here: a placeholder stands in for them, and they are
 * marked secret; plain values of secret keys are therefore caught by the same plain-text rule.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { checkConfig, type CheckOptions, type ConfigCheck } from "./loader";
import { CONFIG_NAMESPACE } from "./schema";
import type { RawConfig } from "./rules";

/** Stands in for an encrypted value the offline tools cannot (and need not) decrypt. */
export const SECRET_PLACEHOLDER = "[secret]";

/** A stack file that is missing or not YAML: names the file (and line), never a stack trace. */
export class ConfigFileError extends Error {
  constructor(
    public readonly file: string,
    detail: string,
    public readonly line?: number,
  ) {
    super(line !== undefined ? `${file}:${line}: ${detail}` : detail);
    this.name = "ConfigFileError";
    this.stack = `${this.name}: ${this.message}`;
  }
}

const isSecure = (v: unknown): v is { secure: string } =>
  !!v && typeof v === "object" && !Array.isArray(v) && "secure" in v;

/**
 * The `communityrule:*` entries of a stack file's text as written (short key → YAML value,
 * `secure:` objects included). `file` names the file in errors: a YAML mistake gives its line.
 */
export function stackFileEntries(text: string, file: string): Record<string, unknown> {
  const YAML = require("yaml") as typeof import("yaml");
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    const e = err as { linePos?: Array<{ line: number; col: number }>; message: string };
    // The yaml package appends " at line N, column M:" and a code excerpt; the position is given apart.
    const reason = e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    const at = e.linePos?.[0];
    throw new ConfigFileError(
      file,
      `not valid YAML${at ? ` (line ${at.line}, column ${at.col})` : ""}: ${reason}`,
      at?.line,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new ConfigFileError(file, `${file} must be a YAML map with a config: section`);
  const config = (doc as { config?: unknown }).config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config))
    throw new ConfigFileError(file, `${file}: config: must be a map of key: value`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    if (key.startsWith(`${CONFIG_NAMESPACE}:`)) out[key.slice(CONFIG_NAMESPACE.length + 1)] = value;
  }
  return out;
}

/**
 * A stack file's text as raw config, the shape the Pulumi runtime hands the program. Nested
 * `secure:` entries (`secretEnv.NAME` set with `--path`) are marked secret one by one.
 */
export function rawConfigFromStackText(text: string, file: string): RawConfig {
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [short, value] of Object.entries(stackFileEntries(text, file))) {
    const key = `${CONFIG_NAMESPACE}:${short}`;
    if (isSecure(value)) {
      secretKeys.add(key);
      // A whole map stored as one secret: its names are not readable here.
      values[key] = short === "secretEnv" ? "{}" : SECRET_PLACEHOLDER;
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
      const masked: Record<string, unknown> = {};
      for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
        if (isSecure(entry)) {
          secretKeys.add(`${key}.${name}`);
          masked[name] = SECRET_PLACEHOLDER;
        } else masked[name] = entry;
      }
      values[key] = JSON.stringify(masked);
    } else values[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { values, secretKeys, entrySecretsKnown: true };
}

/** Path of a stack's file in a project directory. */
export function stackFilePath(projectDir: string, stack: string): string {
  return path.join(projectDir, `Pulumi.${stack}.yaml`);
}

/** Reads a stack file as raw config; a missing file names the stacks that exist. */
export function readStackFile(projectDir: string, stack: string): RawConfig {
  const file = stackFilePath(projectDir, stack);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    const stacks = fs.existsSync(projectDir)
      ? fs
          .readdirSync(projectDir)
          .flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? [])
          .sort()
      : [];
    throw new ConfigFileError(
      path.basename(file),
      `no stack file ${path.basename(file)} in ${projectDir}; stacks here: ${stacks.length ? stacks.join(", ") : "none"}`,
    );
  }
  return rawConfigFromStackText(text, path.basename(file));
}

/** Reads and checks a stack file in one call: the loader for every offline tool. */
export function loadStackFile(
  projectDir: string,
  stack: string,
  opts: Omit<CheckOptions, "stack" | "projectDir"> = {},
): ConfigCheck & { raw: RawConfig } {
  const raw = readStackFile(projectDir, stack);
  return { ...checkConfig(raw, { stack, projectDir, ...opts }), raw };
}
