/** The docs name only commands and config keys that exist. */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { CONFIG_KEYS } from "../lib/stackConfig";

const root = path.resolve(__dirname, "..");
const scripts = Object.keys((JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts);
const docs = ["README.md", ...fs.readdirSync(path.join(root, "docs")).map((f) => path.join("docs", f))];

describe.each(docs)("%s", (file) => {
  const text = fs.readFileSync(path.join(root, file), "utf8");
  it("every `npm run <script>` exists in package.json", () => {
    const used = [...text.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
    for (const name of used) expect(scripts, `${file}: npm run ${name}`).toContain(name);
  });
  it("every config key it sets or names is a key of the stack-config contract", () => {
    const keys = [
      ...[...text.matchAll(/pulumi config (?:set|rm)(?: --secret)?(?: --path)? '?([A-Za-z]+)/g)].map((m) => m[1]),
      ...[...text.matchAll(/communityrule:([A-Za-z]+)/g)].map((m) => m[1]),
    ];
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(Object.keys(CONFIG_KEYS), `${file}: ${key}`).toContain(key);
  });
});
