/** The docs name only commands and config keys that exist, and the runbook covers every old step. */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { CONFIG_DEFAULTS, CONFIG_KEYS, DERIVED_DEFAULTS } from "../config/loader";

const root = path.resolve(__dirname, "..");
const scripts = Object.keys(
  (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts,
);
const docs = [
  "README.md",
  ...fs
    .readdirSync(path.join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => path.join("docs", f)),
];
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

describe.each(docs)("%s", (file) => {
  const text = fs.readFileSync(path.join(root, file), "utf8");
  it("every `npm run <script>` exists in package.json", () => {
    // `cloudron exec --app <app> -- npm run …` runs the app's own script inside the app: not ours.
    const ours = text
      .split("\n")
      .filter((line) => !/cloudron exec\b.*--\s+npm run/.test(line))
      .join("\n");
    const used = [...ours.matchAll(/npm run (?:-s |--silent )?([\w:-]+)/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(scripts, `${file}: npm run ${name}`).toContain(name);
  });
  it("every `pulumi config set` of a secret key uses --secret (a copied command never stores a secret in plain text)", () => {
    for (const m of text.matchAll(/pulumi config set\b([^`\n]*)/g)) {
      const [key] = configCommandKeys(m[0]);
      if (!key) continue;
      const bare = key.replace(/^communityrule:/, "").split(".")[0];
      const secret = CONFIG_KEYS[bare as keyof typeof CONFIG_KEYS]?.secret ?? false;
      if (secret) expect(m[1], `${file}: ${m[0]}`).toMatch(/(^|\s)--secret(\s|$)/);
    }
  });
  it("every config key it sets or names is a key of the stack-config contract", () => {
    const named = [
      ...configCommandKeys(text),
      ...[...text.matchAll(/communityrule:([A-Za-z][\w.]*)/g)].map((m) => m[1].replace(/\.$/, "")),
    ];
    expect(named.length).toBeGreaterThan(0);
    for (const key of named) expect(isContractKey(key), `${file}: ${key}`).toBe(true);
  });
});

/** README's config table: short key → default cell, one row may name several keys. */
export function configTable(readme: string): Map<string, string> {
  const start = readme.indexOf("| key | meaning | default |");
  const rows = readme.slice(start).split("\n").slice(2);
  const out = new Map<string, string>();
  for (const row of rows) {
    if (!row.startsWith("|")) break;
    const cells = row.split(" | ").map((c) => c.replace(/^\|\s*|\s*\|$/g, "").trim());
    for (const m of cells[0].matchAll(/`([A-Za-z]+)`/g)) out.set(m[1], cells[cells.length - 1]);
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

  it("Pulumi.yaml declares only schema keys, with secret: true only on secret ones (key by key: configStep.test.ts)", () => {
    const project = YAML.parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as {
      config: Record<string, { secret?: boolean }>;
    };
    for (const key of Object.keys(project.config)) {
      expect(keys, key).toContain(key);
      expect(project.config[key].secret === true, key).toBe(CONFIG_KEYS[key as keyof typeof CONFIG_KEYS].secret);
    }
  });
});

describe("docs/operator-runbook.md", () => {
  const text = fs.readFileSync(path.join(root, "docs", "operator-runbook.md"), "utf8");
  const headings = [...text.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1].toLowerCase());

  it("has a section for every step of the old runbook, plus setup and removing production", () => {
    for (const topic of [
      "first-time setup",
      "deploy",
      "migrations",
      "seed",
      "smoke",
      "roll back",
      "restore drill",
      "env var",
      "secret rotation",
      "troubleshooting",
      "single-instance",
      "removing production",
    ]) {
      expect(
        headings.some((h) => h.includes(topic)),
        `no section about "${topic}"`,
      ).toBe(true);
    }
  });

  it("covers every troubleshooting symptom of the old runbook", () => {
    const table = text.slice(text.toLowerCase().indexOf("## troubleshooting")).toLowerCase();
    for (const symptom of [
      "image pull",
      "health 503",
      "crash on start",
      "magic link",
      "server_misconfigured",
      "recommended",
      "rate limit",
    ]) {
      expect(table, symptom).toContain(symptom);
    }
  });
});
