/**
 * Facts the docs state, checked against the code: every command they tell someone to run exists,
 * every config key they name is one, secrets are set with --secret, README's config table matches
 * the schema, and every link between them leads somewhere. Wording and headings are the writers'.
 */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { CONFIG_DEFAULTS, CONFIG_KEYS, DERIVED_DEFAULTS } from "../config/loader";

const root = path.resolve(__dirname, "..");
const scripts = Object.keys(
  (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts,
);
const markdownIn = (dir: string) =>
  fs
    .readdirSync(path.join(root, dir))
    .filter((f) => f.endsWith(".md"))
    .map((f) => path.join(dir, f));
const docs = ["README.md", ...markdownIn("docs"), ...markdownIn("engine")];
const keys = Object.keys(CONFIG_KEYS);

/** Config keys a `pulumi config set|rm|get …` command line names (flags and their values skipped). */
export function configCommandKeys(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/pulumi config (?:set|rm|get)\b([^`\n]*)/g)) {
    const tokens = m[1].trim().split(/\s+/);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t === "-s" || t === "--stack" || t === "--config-file") i++;
      else if (t.startsWith("-")) continue;
      else {
        out.push(t.replace(/^['"]|['"]$/g, ""));
        break;
      }
    }
  }
  return out;
}

/** Is `name` (optionally `communityrule:`-prefixed, optionally a `--path` into env/secretEnv) a contract key? */
export function isContractKey(name: string): boolean {
  const bare = name.startsWith("communityrule:") ? name.slice("communityrule:".length) : name;
  const [head, ...rest] = bare.split(".");
  // A list key set by index: --path 'acknowledgeMigrations[0]' (the docs may write [N]).
  const list = /^(acknowledgeMigrations)\[(\d+|N)\]$/.exec(head);
  if (list) return rest.length === 0 && keys.includes(list[1]);
  if (rest.length > 0)
    return (head === "env" || head === "secretEnv") && /^[A-Za-z_][A-Za-z0-9_]*$/.test(rest.join("."));
  return keys.includes(head);
}

describe("configCommandKeys / isContractKey", () => {
  it("skip flags in any order and accept env/secretEnv paths only", () => {
    expect(configCommandKeys("`pulumi config set --path --secret 'secretEnv.API_KEY' x -s staging`")).toEqual([
      "secretEnv.API_KEY",
    ]);
    expect(configCommandKeys("`pulumi config set -s production communityrule:imageTag 0.1.9`")).toEqual([
      "communityrule:imageTag",
    ]);
    expect(isContractKey("secretEnv.API_KEY")).toBe(true);
    expect(isContractKey("communityrule:imageTag")).toBe(true);
    expect(isContractKey("imageTagg")).toBe(false);
    expect(isContractKey("location.x")).toBe(false);
    expect(isContractKey("acknowledgeMigrations[0]")).toBe(true);
    expect(isContractKey("location[0]")).toBe(false);
  });
});

/** `npm run <script>` lines of ours (not `cloudron exec --app <app> -- npm run …`, the app's own). */
function npmScripts(text: string): string[] {
  const ours = text
    .split("\n")
    .filter((line) => !/cloudron exec\b.*--\s+npm run/.test(line))
    .join("\n");
  return [...ours.matchAll(/npm run (?:-s |--silent )?([\w:-]+)/g)].map((m) => m[1]);
}

/** Config keys a doc sets (`pulumi config set …`) or names (`communityrule:<key>`). */
function namedKeys(text: string): string[] {
  return [
    ...configCommandKeys(text),
    ...[...text.matchAll(/communityrule:([A-Za-z][\w.]*)/g)].map((m) => m[1].replace(/\.$/, "")),
  ];
}

/** Relative link targets (`[text](target)`), without their `#anchor`. */
function relativeLinks(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1])
    .filter((target) => !/^[a-z]+:/i.test(target) && !target.startsWith("#"))
    .map((target) => target.split("#")[0]);
}

describe("the matchers", () => {
  it("find scripts, keys and links where the docs write them", () => {
    expect(npmScripts("run `npm run -s plan -- staging`,\nthen `cloudron exec --app x -- npm run seed`")).toEqual([
      "plan",
    ]);
    expect(namedKeys("`pulumi config set --secret cloudronToken` and communityrule:imageTag.")).toEqual([
      "cloudronToken",
      "imageTag",
    ]);
    expect(relativeLinks("[a](docs/x.md#y) [b](https://e.org) [c](#here) [d](../README.md)")).toEqual([
      "docs/x.md",
      "../README.md",
    ]);
  });
});

describe.each(docs)("%s", (file) => {
  const text = fs.readFileSync(path.join(root, file), "utf8");
  it("every `npm run <script>` exists in package.json", () => {
    for (const name of npmScripts(text)) expect(scripts, `${file}: npm run ${name}`).toContain(name);
  });
  // A copied command must never store a secret in plain text.
  it("every `pulumi config set` of a secret key uses --secret", () => {
    for (const m of text.matchAll(/pulumi config set\b([^`\n]*)/g)) {
      const [key] = configCommandKeys(m[0]);
      if (!key) continue;
      const bare = key.replace(/^communityrule:/, "").split(".")[0];
      const secret = CONFIG_KEYS[bare as keyof typeof CONFIG_KEYS]?.secret ?? false;
      if (secret) expect(m[1], `${file}: ${m[0]}`).toMatch(/(^|\s)--secret(\s|$)/);
    }
  });
  it("every config key it sets or names is a key of the stack-config contract", () => {
    for (const key of namedKeys(text)) expect(isContractKey(key), `${file}: ${key}`).toBe(true);
  });
  it("every relative link leads to a file or folder of the repository", () => {
    for (const target of relativeLinks(text)) {
      const resolved = path.resolve(root, path.dirname(file), target);
      expect(fs.existsSync(resolved), `${file}: link to ${target}`).toBe(true);
    }
  });
});

describe("the docs together", () => {
  // So that a matcher that stopped matching shows here, rather than every check above passing on nothing.
  it("tell someone to run scripts and name config keys", () => {
    const all = docs.map((f) => fs.readFileSync(path.join(root, f), "utf8")).join("\n");
    expect(npmScripts(all).length).toBeGreaterThan(0);
    expect(namedKeys(all).length).toBeGreaterThan(0);
  });
});

/**
 * README's config table (the one whose header has a `key` and a `default` column): short key →
 * default cell; one row may name several keys.
 */
export function configTable(readme: string): Map<string, string> {
  const lines = readme.split("\n");
  const cellsOf = (row: string) => row.replace(/^\|\s*|\s*\|\s*$/g, "").split(/\s+\|\s+/);
  const header = lines.findIndex((l) => {
    const cells = l.startsWith("|") ? cellsOf(l).map((c) => c.toLowerCase()) : [];
    return cells[0] === "key" && cells.includes("default");
  });
  const out = new Map<string, string>();
  if (header === -1) return out;
  const defaultAt = cellsOf(lines[header])
    .map((c) => c.toLowerCase())
    .indexOf("default");
  for (const row of lines.slice(header + 2)) {
    if (!row.startsWith("|")) break;
    const cells = cellsOf(row);
    for (const m of cells[0].matchAll(/`([A-Za-z]+)`/g)) out.set(m[1], cells[defaultAt] ?? "");
  }
  return out;
}

describe("README config table against the schema", () => {
  const table = configTable(fs.readFileSync(path.join(root, "README.md"), "utf8"));
  const bare = (cell: string) => cell.replace(/[`"]/g, "");

  it("documents every schema key and no other", () => {
    expect([...table.keys()].sort()).toEqual([...keys].sort());
  });

  it("states each default exactly as the schema applies it", () => {
    for (const key of keys) {
      const cell = table.get(key);
      if (key in CONFIG_DEFAULTS) {
        const value = CONFIG_DEFAULTS[key as keyof typeof CONFIG_DEFAULTS];
        expect(bare(cell ?? ""), key).toBe(typeof value === "object" ? JSON.stringify(value) : String(value));
      } else if (key in DERIVED_DEFAULTS)
        expect(cell, key).toBe(DERIVED_DEFAULTS[key as keyof typeof DERIVED_DEFAULTS]);
      else expect(cell, `${key} has no default`).toBe("—");
    }
  });

  // Key by key: configStep.test.ts.
  it("Pulumi.yaml declares only schema keys, with secret: true only on secret ones", () => {
    const project = YAML.parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as {
      config: Record<string, { secret?: boolean }>;
    };
    for (const key of Object.keys(project.config)) {
      expect(keys, key).toContain(key);
      expect(project.config[key].secret === true, key).toBe(CONFIG_KEYS[key as keyof typeof CONFIG_KEYS].secret);
    }
  });
});
