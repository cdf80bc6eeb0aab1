/** The docs name only commands and config keys that exist, and the runbook covers every old step. */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { CONFIG_KEYS } from "../lib/config/stackConfig";

const root = path.resolve(__dirname, "..");
const scripts = Object.keys((JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts);
const docs = ["README.md", ...fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => path.join("docs", f))];
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
  if (rest.length > 0) return (head === "env" || head === "secretEnv") && /^[A-Za-z_][A-Za-z0-9_]*$/.test(rest.join("."));
  return keys.includes(head);
}

describe("configCommandKeys / isContractKey", () => {
  it("skip flags in any order and accept env/secretEnv paths only", () => {
    expect(configCommandKeys("`pulumi config set --path --secret 'secretEnv.API_KEY' x -s staging`")).toEqual(["secretEnv.API_KEY"]);
    expect(configCommandKeys("`pulumi config set -s production communityrule:imageTag 0.1.9`")).toEqual(["communityrule:imageTag"]);
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
    const ours = text.split("\n").filter((line) => !/cloudron exec\b.*--\s+npm run/.test(line)).join("\n");
    const used = [...ours.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(scripts, `${file}: npm run ${name}`).toContain(name);
  });
  it("every config key it sets or names is a key of the stack-config contract", () => {
    const named = [...configCommandKeys(text), ...[...text.matchAll(/communityrule:([A-Za-z][\w.]*)/g)].map((m) => m[1].replace(/\.$/, ""))];
    expect(named.length).toBeGreaterThan(0);
    for (const key of named) expect(isContractKey(key), `${file}: ${key}`).toBe(true);
  });
});

describe("docs/operator-runbook.md", () => {
  const text = fs.readFileSync(path.join(root, "docs", "operator-runbook.md"), "utf8");
  const headings = [...text.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1].toLowerCase());

  it("has a section for every step of the old runbook, plus setup and removing production", () => {
    for (const topic of ["first-time setup", "deploy", "migrations", "seed", "smoke", "roll back", "restore drill", "env var", "secret rotation", "troubleshooting", "single-instance", "removing production"]) {
      expect(headings.some((h) => h.includes(topic)), `no section about "${topic}"`).toBe(true);
    }
  });

  it("covers every troubleshooting symptom of the old runbook", () => {
    const table = text.slice(text.toLowerCase().indexOf("## troubleshooting")).toLowerCase();
    for (const symptom of ["image pull", "health 503", "crash on start", "magic link", "server_misconfigured", "recommended", "rate limit"]) {
      expect(table, symptom).toContain(symptom);
    }
  });

  it("names the backends, the logins and the deliberate production removal", () => {
    for (const s of ["pulumi login file://", "PULUMI_CONFIG_PASSPHRASE", "pulumi login s3://", "cloudron login my.medlab.host", "cloudronToken", "registryPassword", "pulumi state unprotect", "pulumi destroy -s production"]) {
      expect(text, s).toContain(s);
    }
    expect(text).toMatch(/app-deploy/);
    expect(text).toMatch(/\bseed\b.*URN|URN.*\bseed\b/);
  });
});
