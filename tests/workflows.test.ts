/** CI workflow files: parse them and check they run only on pull requests and call real scripts. */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";

const root = path.resolve(__dirname, "..");
const scripts = Object.keys((JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts);

interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, { steps: Array<{ run?: string; uses?: string; name?: string }> }>;
}

describe.each([".github/workflows/preview.yml", ".gitea/workflows/preview.yml"])("%s", (file) => {
  const text = fs.readFileSync(path.join(root, file), "utf8");
  const wf = YAML.parse(text) as Workflow;
  const runs = Object.values(wf.jobs).flatMap((j) => j.steps.map((s) => s.run ?? "")).join("\n");

  it("triggers on pull requests only: nothing runs (or deploys) on a push to main", () => {
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    expect(runs).not.toMatch(/pulumi\s+up/);
    expect(runs).not.toMatch(/pulumi\s+destroy/);
  });

  it("every npm script it runs exists in package.json", () => {
    const used = [...runs.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(2);
    for (const name of used) expect(scripts).toContain(name);
    expect(runs).toContain("npm ci");
    expect(runs).toContain("npm test");
  });

  it("previews staging only when a backend is configured, and says so when skipping", () => {
    expect(runs).toContain("pulumi preview -s staging --diff");
    expect(runs).toMatch(/Skipping pulumi preview: no Pulumi backend configured/);
  });
});
