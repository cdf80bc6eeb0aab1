/**
 * The one reader of `Pulumi.<stack>.yaml`: every operator command, the offline engine and the tests
 * open stack files here, then check them with the config loader (config/loader.ts), so a stack file
 * is judged by exactly the program's rules. It yields the same {@link RawConfig} the Pulumi runtime
 * hands the program. Encrypted (`secure:`) values cannot be read here: a placeholder stands in for
 * them, and they are marked secret; plain values of secret keys are therefore caught by the same
 * plain-text rule. A missing file names the stacks that exist; a YAML mistake names the file and
 * line ({@link ConfigFileError}), never a stack trace.
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

/** A stack file's top level: `config:` and the secrets provider's lines (`encryptionsalt`, …). */
export interface StackDocument {
  config: Record<string, unknown>;
  [key: string]: unknown;
}

/** True for a `secure:` entry (an encrypted value as Pulumi writes it). */
export const isSecure = (v: unknown): v is { secure: string } =>
  !!v && typeof v === "object" && !Array.isArray(v) && "secure" in v;

/** Parses a stack file's text; `file` names the file in errors, a YAML mistake gives its line. */
export function parseStackDocument(text: string, file: string): StackDocument {
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
  if (doc === null || doc === undefined) return { config: {} };
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new ConfigFileError(file, `${file} must be a YAML map with a config: section`);
  const config = (doc as { config?: unknown }).config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config))
    throw new ConfigFileError(file, `${file}: config: must be a map of key: value`);
  return { ...(doc as Record<string, unknown>), config: config as Record<string, unknown> };
}

/**
 * The `communityrule:*` entries of a stack file's text as written (short key → YAML value,
 * `secure:` objects included).
 */
export function stackFileEntries(text: string, file: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parseStackDocument(text, file).config)) {
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

/** File name of a stack's file. */
export function stackFileName(stack: string): string {
  return `Pulumi.${stack}.yaml`;
}

/** Path of a stack's file in a project directory. */
export function stackFilePath(projectDir: string, stack: string): string {
  return path.join(projectDir, stackFileName(stack));
}

/** Stack names with a `Pulumi.<stack>.yaml` in `projectDir`, sorted; none when the directory is missing. */
export function stacksIn(projectDir: string): string[] {
  if (!fs.existsSync(projectDir)) return [];
  return fs
    .readdirSync(projectDir)
    .flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? [])
    .sort();
}

/**
 * A stack file's text, syntax-checked. Throws {@link ConfigFileError}: a missing file names the
 * stacks that exist, a YAML mistake its line.
 */
export function readStackText(projectDir: string, stack: string): { file: string; text: string } {
  const file = stackFilePath(projectDir, stack);
  const name = stackFileName(stack);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    const stacks = stacksIn(projectDir);
    throw new ConfigFileError(
      name,
      `no stack file ${name} in ${projectDir}; stacks here: ${stacks.length ? stacks.join(", ") : "none"}`,
    );
  }
  parseStackDocument(text, name);
  return { file, text };
}

/** Reads a stack file as raw config (see {@link readStackText} for its errors). */
export function readStackFile(projectDir: string, stack: string): RawConfig {
  return rawConfigFromStackText(readStackText(projectDir, stack).text, stackFileName(stack));
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
