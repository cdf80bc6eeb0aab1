/** README's config table and Pulumi.yaml's descriptions come from the schema and cannot drift from it. */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  keyDescription,
  keyMeaning,
  renderConfigTable,
  TABLE_END,
  TABLE_START,
  withConfigTable,
} from "../config/configTable";
import { CONFIG_SCHEMA, type ConfigKey } from "../config/schema";
import { valueRule } from "../config/rules";

const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
const keys = Object.keys(CONFIG_SCHEMA) as ConfigKey[];

describe("README's config table", () => {
  it("is what npm run gen:pulumi-yaml writes between its markers (run it after changing the schema)", () => {
    const block = readme.slice(readme.indexOf(TABLE_START) + TABLE_START.length, readme.indexOf(TABLE_END));
    expect(block.trim()).toBe(renderConfigTable());
  });

  it("a hand edit inside the block is overwritten; a README without the markers is refused", () => {
    const edited = readme.replace("| `busyWaitSeconds` |", "| `busyWaitSecs` |");
    expect(edited).not.toBe(readme);
    expect(withConfigTable(edited)).toBe(readme);
    expect(() => withConfigTable(readme.replace(TABLE_START, ""))).toThrow(/no <!-- config-table:start -->/);
  });

  it("has one row per schema key, secret keys marked", () => {
    const rows = renderConfigTable().split("\n").slice(2);
    expect(rows.map((r) => /^\| `(\w+)` \|/.exec(r)?.[1])).toEqual(keys);
    for (const key of keys) expect(keyMeaning(key).includes("(**secret**)") || !CONFIG_SCHEMA[key].secret).toBe(true);
  });

  it("states each integer key's range as the schema's check enforces it, here and in Pulumi.yaml", () => {
    const ranged = keys.filter((k) => "range" in CONFIG_SCHEMA[k]);
    expect(ranged).toContain("busyWaitSeconds");
    for (const key of ranged) {
      const { min, max } = (CONFIG_SCHEMA[key] as { range: { min: number; max: number } }).range;
      expect(keyMeaning(key), key).toContain(`${min}–${max}`);
      expect(keyDescription(key), key).toContain(`${min}–${max}`);
      expect(valueRule(key, String(min)).problems, key).toEqual([]);
      expect(valueRule(key, String(max)).problems, key).toEqual([]);
      expect(valueRule(key, String(min - 1)).problems, key).not.toEqual([]);
      expect(valueRule(key, String(max + 1)).problems, key).not.toEqual([]);
    }
  });
});
