/**
 * What each key means, for people: README's config table and Pulumi.yaml's descriptions, both
 * rendered from the schema (config/schema.ts), so neither can disagree with what the program
 * checks. `npm run gen:pulumi-yaml` writes both; tests/configTable.test.ts fails when README's
 * block differs.
 */
import { CONFIG_DEFAULTS, CONFIG_SCHEMA, DERIVED_DEFAULTS, type ConfigKey } from "./schema";

/** README's generated block lies between these two lines. */
export const TABLE_START = "<!-- config-table:start -->";
export const TABLE_END = "<!-- config-table:end -->";

interface Described {
  doc: string;
  secret: boolean;
  required?: true;
  range?: { min: number; max: number };
}

/** One key's meaning in markdown: its doc, then (required), (**secret**) and its range. */
export function keyMeaning(key: ConfigKey): string {
  const spec: Described = CONFIG_SCHEMA[key];
  const marks = [spec.required ? "required" : "", spec.secret ? "**secret**" : ""].filter(Boolean);
  const range = spec.range ? `, ${spec.range.min}–${spec.range.max}` : "";
  return `${spec.doc}${marks.length ? ` (${marks.join(", ")})` : ""}${range}`;
}

/** One key's meaning as plain text, a sentence (Pulumi.yaml's `description`). */
export function keyDescription(key: ConfigKey): string {
  const text = keyMeaning(key).replace(/\*\*|`/g, "");
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/** A YAML string that reads as another type (`"0"`, `"true"`) is shown quoted, as it must be written. */
function defaultCell(key: ConfigKey): string {
  if (key in CONFIG_DEFAULTS) {
    const value: unknown = CONFIG_DEFAULTS[key as keyof typeof CONFIG_DEFAULTS];
    if (typeof value !== "string") return `\`${JSON.stringify(value)}\``;
    return /^(\d+|true|false|null)$/.test(value) ? `\`"${value}"\`` : `\`${value}\``;
  }
  if (key in DERIVED_DEFAULTS) return DERIVED_DEFAULTS[key as keyof typeof DERIVED_DEFAULTS];
  return "—";
}

/** The table, one row per key in schema order. */
export function renderConfigTable(): string {
  const rows = (Object.keys(CONFIG_SCHEMA) as ConfigKey[]).map(
    (key) => `| \`${key}\` | ${keyMeaning(key)} | ${defaultCell(key)} |`,
  );
  return ["| key | meaning | default |", "|---|---|---|", ...rows].join("\n");
}

/** README with its marked block replaced by the current table; throws when the markers are missing. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start)
    throw new Error(`README.md has no ${TABLE_START} … ${TABLE_END} block for the config table`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${renderConfigTable()}\n${readme.slice(end)}`;
}
