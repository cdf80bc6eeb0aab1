/**
 * The pull-request workflows, as behaviour: they run only on pull requests and never deploy, run
 * what the README says CI runs, call only scripts that exist, use a Node the project supports, and
 * give the plan diff the history it needs.
 */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import * as semver from "semver";

const root = path.resolve(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
  engines: { node: string };
};
const scripts = Object.keys(pkg.scripts);
/** The command the README says CI runs: its quick-start line marked "CI runs exactly this". */
const readmeTestCommand = (() => {
  const line = fs
    .readFileSync(path.join(root, "README.md"), "utf8")
    .split("\n")
    .find((l) => /CI runs exactly this/.test(l));
  return line?.split("#")[0].trim();
})();

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
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(scripts, `npm run ${name}`).toContain(name);
  });

  it("runs the README's test command, after a clean install and before the plan diff", () => {
    expect(readmeTestCommand, 'README quick start: the test line marked "CI runs exactly this"').toMatch(/^npm /);
    const at = (cmd: string) =>
      steps.findIndex((s) => (s.run ?? "").split("\n").some((l) => l.trim() === cmd || l.trim().startsWith(`${cmd} `)));
    const install = at("npm ci");
    const test = at(readmeTestCommand!);
    const plan = at("npm run plan");
    expect(install).toBeGreaterThanOrEqual(0);
    expect(test).toBeGreaterThan(install);
    expect(plan).toBeGreaterThan(test);
    for (const check of ["npm run typecheck", "npm run lint"]) {
      expect(at(check), check).toBeGreaterThan(install);
      expect(at(check), check).toBeLessThan(plan);
    }
  });

  it("uses a Node version the project's engines field accepts", () => {
    const version = steps.find((s) => s.uses?.startsWith("actions/setup-node"))?.with?.["node-version"];
    expect(
      semver.satisfies(semver.coerce(String(version))!, pkg.engines.node),
      `node ${version} vs engines ${pkg.engines.node}`,
    ).toBe(true);
  });

  it("gives the plan diff the base branch's history, and installs the registry the tests start", () => {
    if (/npm run plan -- \S+ --against/.test(runs)) {
      const checkout = steps.find((s) => s.uses?.startsWith("actions/checkout"));
      expect(checkout?.with?.["fetch-depth"]).toBe(0);
    }
    // engine/registry.ts runs Debian's docker-registry binary, and htpasswd for the auth cases.
    expect(runs).toMatch(/apt-get install -y .*docker-registry apache2-utils/);
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
