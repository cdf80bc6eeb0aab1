/** CI workflow files: parse them and check they run only on pull requests, call real scripts and never deploy. */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";

const root = path.resolve(__dirname, "..");
const scripts = Object.keys((JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts);

interface Step {
  run?: string;
  uses?: string;
  name?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, { steps: Step[] }>;
}

describe.each([".github/workflows/preview.yml", ".gitea/workflows/preview.yml"])("%s", (file) => {
  const text = fs.readFileSync(path.join(root, file), "utf8");
  const wf = YAML.parse(text) as Workflow;
  const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
  const runs = steps.map((s) => s.run ?? "").join("\n");

  it("triggers on pull requests only: nothing runs (or deploys) on a push to main", () => {
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    expect(text).not.toMatch(/pulumi\s+up\b/);
    expect(text).not.toMatch(/pulumi\s+destroy\b/);
    expect(runs).not.toMatch(/cloudron\s+(install|update|uninstall|env|exec|clone)\b/);
  });

  it("every npm script it runs exists in package.json", () => {
    const used = [...runs.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
    expect(used).toEqual(expect.arrayContaining(["typecheck", "lint", "plan"]));
    for (const name of used) expect(scripts, `npm run ${name}`).toContain(name);
    expect(runs).toContain("npm ci");
    expect(runs).toContain("npm test");
  });

  it("checks out full history, uses Node 22, installs the test registry", () => {
    const checkout = steps.find((s) => s.uses?.startsWith("actions/checkout"));
    expect(checkout?.with?.["fetch-depth"]).toBe(0);
    expect(steps.find((s) => s.uses?.startsWith("actions/setup-node"))?.with?.["node-version"]).toBe(22);
    expect(runs).toMatch(/apt-get update && \S*\s*apt-get install -y .*docker-registry apache2-utils/);
  });

  it("runs type-check, lint and tests before the plan diff against the base branch", () => {
    const order = ["npm ci", "npm run typecheck", "npm run lint", "npm test", 'npm run plan -- staging --against "origin/${{ github.base_ref }}"'];
    const at = order.map((cmd) => steps.findIndex((s) => (s.run ?? "").includes(cmd)));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  it("previews staging only when a backend is configured, and says so when skipping", () => {
    const preview = steps.find((s) => (s.run ?? "").includes("pulumi preview"));
    expect(preview?.run).toContain("pulumi preview -s staging --diff");
    expect(preview?.env?.PULUMI_CONFIG_PASSPHRASE).toBe("${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
    expect(preview?.env?.PULUMI_BACKEND_URL).toBe("${{ secrets.PULUMI_BACKEND_URL }}");
    const skip = preview?.run?.indexOf("Skipping pulumi preview: no Pulumi backend configured") ?? -1;
    expect(skip).toBeGreaterThan(0);
    expect(skip).toBeLessThan(preview?.run?.indexOf("pulumi preview -s") ?? -1);
    expect(preview?.run).toMatch(/exit 0/);
  });
});

describe("the two workflows", () => {
  it("run the same steps (Gitea and GitHub stay in step)", () => {
    const load = (f: string) => YAML.parse(fs.readFileSync(path.join(root, f), "utf8")) as Workflow;
    const a = load(".github/workflows/preview.yml");
    const b = load(".gitea/workflows/preview.yml");
    expect(b.on).toEqual(a.on);
    expect(b.jobs).toEqual(a.jobs);
  });
});
