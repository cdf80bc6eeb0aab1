/**
 * The review-app and scheduled-checks workflows (GitHub and Gitea twins): parsed, and their job
 * conditions evaluated over the pull-request events they receive. Also: secrets only through step
 * env and never echoed, teardown on close, a plain skip message when credentials are missing, and
 * a failing scheduled check that names the runbook action.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";

const root = path.resolve(__dirname, "..");
const scripts = Object.keys(
  (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts,
);
const runbook = fs.readFileSync(path.join(root, "docs", "operator-runbook.md"), "utf8");

interface Step {
  run?: string;
  uses?: string;
  name?: string;
  id?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  if?: string;
  strategy?: { matrix?: Record<string, unknown> };
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}
const load = (f: string) => YAML.parse(fs.readFileSync(path.join(root, f), "utf8")) as Workflow;

/**
 * Evaluates a job's `if:` for one event. Only the forms these workflows use are translated
 * (action comparisons, label membership, && || ! and parentheses); anything else fails the test.
 */
function runsOn(condition: string, action: string, labels: string[]): boolean {
  const js = condition
    .replace(
      /contains\(github\.event\.pull_request\.labels\.\*\.name, '([\w-]+)'\)/g,
      (_, l: string) => `labels.includes(${JSON.stringify(l)})`,
    )
    .replace(/github\.event\.action/g, "action")
    .replace(/'([\w-]+)'/g, '"$1"');
  expect(js, `untranslated expression: ${condition}`).toMatch(
    /^(\s|labels\.includes\("[\w-]+"\)|action|"[\w-]+"|[!=]=|&&|\|\||!|\(|\))*$/,
  );
  return new Function("action", "labels", `return (${js});`)(action, labels) as boolean;
}

/** Env names a step fills from repository secrets. */
const secretEnvNames = (s: Step) =>
  Object.entries(s.env ?? {})
    .filter(([, v]) => /\$\{\{\s*secrets\./.test(v))
    .map(([k]) => k);

function checkSecretHygiene(wf: Workflow) {
  for (const job of Object.values(wf.jobs)) {
    for (const step of job.steps) {
      const run = step.run ?? "";
      expect(run, "secrets reach scripts only through env").not.toMatch(/secrets\./);
      expect(run).not.toMatch(/set -[a-z]*x|bash -x|set -o xtrace/);
      for (const name of secretEnvNames(step)) {
        for (const line of run.split("\n").filter((l) => /\b(echo|printf)\b/.test(l))) {
          expect(line, `${name} echoed`).not.toMatch(new RegExp(`\\$\\{?${name}\\b`));
        }
      }
    }
  }
}

/** The "Skipping …" message, then exit 0, comes before the first command that needs credentials. */
function checkSkipsWithoutCredentials(step: Step, needs: RegExp) {
  const run = step.run ?? "";
  const backendSkip = run.indexOf("no Pulumi backend configured for this repository");
  const cloudronSkip = run.indexOf("no Cloudron credentials configured for this repository");
  const firstUse = run.search(needs);
  expect(backendSkip).toBeGreaterThan(0);
  expect(cloudronSkip).toBeGreaterThan(backendSkip);
  expect(firstUse).toBeGreaterThan(cloudronSkip);
  expect(run.slice(0, firstUse).match(/exit 0/g)?.length).toBe(2);
  expect(run).toMatch(/echo "Skipping [^"]*: no Pulumi backend configured/);
}

describe.each([".github/workflows/review-app.yml", ".gitea/workflows/review-app.yml"])("%s", (file) => {
  const wf = load(file);
  const deploy = wf.jobs.deploy;
  const teardown = wf.jobs.teardown;

  it("listens to the pull-request events of a label-driven review app", () => {
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    expect((wf.on.pull_request as { types: string[] }).types).toEqual([
      "opened",
      "synchronize",
      "reopened",
      "labeled",
      "unlabeled",
      "closed",
    ]);
    expect(wf.permissions).toEqual({ contents: "read", "pull-requests": "write" });
  });

  it.each([
    ["opened", ["review-app"], "deploy"],
    ["opened", [], "nothing"],
    ["synchronize", ["review-app", "docs"], "deploy"],
    ["synchronize", ["docs"], "nothing"],
    ["reopened", ["review-app"], "deploy"],
    ["labeled", ["review-app"], "deploy"],
    ["labeled", ["docs"], "nothing"],
    ["unlabeled", [], "teardown"],
    ["unlabeled", ["review-app"], "nothing"],
    ["closed", ["review-app"], "teardown"],
    ["closed", [], "teardown"],
  ] as const)("%s with labels %j → %s", (action, labels, expected) => {
    const d = runsOn(deploy.if!, action, [...labels]);
    const t = runsOn(teardown.if!, action, [...labels]);
    expect(d && t).toBe(false);
    expect(d ? "deploy" : t ? "teardown" : "nothing").toBe(expected);
  });

  it("deploys through npm run review-app with the PR's head commit and posts the one comment", () => {
    const step = deploy.steps.find((s) => s.id === "deploy")!;
    expect(step.run).toContain(
      'npm run review-app -- up "$PR_NUMBER" --sha "$PR_HEAD_SHA" --summary review-app-comment.md',
    );
    expect(step.env?.PR_HEAD_SHA).toBe("${{ github.event.pull_request.head.sha }}");
    expect(step.env?.REVIEW_APP_REGISTRY_PASSWORD).toBe("${{ secrets.REGISTRY_PASSWORD }}");
    expect(step.env?.REVIEW_APP_REGISTRY_USERNAME).toBe("${{ secrets.REGISTRY_USERNAME }}");
    checkSkipsWithoutCredentials(step, /pulumi login|npm run review-app/);
    const comment = deploy.steps[deploy.steps.indexOf(step) + 1];
    expect(comment.if).toBe("always() && steps.deploy.outputs.deployed == 'true'");
    expect(comment.run).toContain("npm run pr-comment -- review-app-comment.md");
    expect(comment.env?.GITHUB_TOKEN).toBe("${{ secrets.GITHUB_TOKEN }}");
  });

  it("tears the review app down on close or label removal", () => {
    const step = teardown.steps.find((s) => (s.run ?? "").includes("npm run review-app -- down"))!;
    expect(step.run).toContain('npm run review-app -- down "$PR_NUMBER"');
    expect(step.run).not.toMatch(/review-app -- up/);
    checkSkipsWithoutCredentials(step, /pulumi login|npm run review-app/);
  });

  it("never echoes a secret: they reach scripts only as env, never with set -x", () => {
    checkSecretHygiene(wf);
    const text = fs.readFileSync(path.join(root, file), "utf8");
    expect(text).not.toMatch(/echo[^\n]*\$\{\{\s*secrets\./);
  });
});

describe.each([".github/workflows/scheduled-checks.yml", ".gitea/workflows/scheduled-checks.yml"])("%s", (file) => {
  const wf = load(file);

  it("runs hourly (and by hand), never on pushes or pull requests", () => {
    expect(Object.keys(wf.on)).toEqual(["schedule", "workflow_dispatch"]);
    const [entry] = wf.on.schedule as Array<{ cron: string }>;
    expect(entry.cron).toMatch(/^[0-5]?\d \* \* \* \*$/);
    // Commands only: the alert text may tell the operator to run pulumi up, the job never does.
    const commands = Object.values(wf.jobs)
      .flatMap((j) => j.steps.flatMap((s) => (s.run ?? "").split("\n")))
      .filter((l) => !/^\s*echo /.test(l));
    expect(commands.join("\n")).not.toMatch(/pulumi\s+(up|destroy|refresh|config set)\b/);
  });

  it("smokes staging and production, failing the job with the runbook action", () => {
    const job = wf.jobs.smoke;
    expect(job.strategy?.matrix?.stack).toEqual(["staging", "production"]);
    const step = job.steps.find((s) => (s.run ?? "").includes("npm run smoke"))!;
    expect(step.run).toContain('if ! npm run smoke -- "$HOST"; then');
    expect(step.run).toMatch(
      /::error::SMOKE FAILED on \$STACK \(\$HOST\)\. Runbook action: docs\/operator-runbook\.md, Scheduled checks/,
    );
    expect(step.run).toMatch(/Runbook action[^\n]*\n\s*exit 1/);
    expect(secretEnvNames(step)).toEqual([]);
  });

  it("checks drift read-only on both stacks when credentials exist, else says it skipped", () => {
    const job = wf.jobs.drift;
    expect(job.strategy?.matrix?.stack).toEqual(["staging", "production"]);
    const step = job.steps.find((s) => (s.run ?? "").includes("npm run drift"))!;
    expect(step.run).toContain('if ! npm run drift -- "$STACK"; then');
    // A drift found (or a check that could not run) fails the job: the error line, then exit 1.
    expect(step.run).toMatch(
      /::error::DRIFT on \$STACK[^\n]*Runbook action: docs\/operator-runbook\.md, Scheduled checks[^\n]*\n\s*exit 1\n/,
    );
    const commands = step
      .run!.split("\n")
      .filter((l) => !/^\s*echo /.test(l))
      .join("\n");
    expect(commands).not.toMatch(/npm install -g cloudron|review-app|pulumi (up|refresh|destroy|config set)/);
    checkSkipsWithoutCredentials(step, /pulumi login|npm run drift/);
  });

  it("removes review apps past their TTL", () => {
    const step = wf.jobs["review-app-ttl"].steps.find((s) => (s.run ?? "").includes("npm run review-app -- prune"))!;
    expect(step.run).toMatch(
      /::error::REVIEW-APP EXPIRY FAILED[^\n]*Runbook action: docs\/operator-runbook\.md, Review apps/,
    );
    checkSkipsWithoutCredentials(step, /pulumi login|npm run review-app/);
  });

  it("never echoes a secret", () => checkSecretHygiene(wf));
});

describe("review-app and scheduled-checks workflows together", () => {
  it("the Gitea twins run the same jobs on the same events", () => {
    for (const name of ["review-app.yml", "scheduled-checks.yml"]) {
      const a = load(`.github/workflows/${name}`);
      const b = load(`.gitea/workflows/${name}`);
      expect(b.on).toEqual(a.on);
      expect(b.jobs).toEqual(a.jobs);
    }
  });

  it("every npm script they run exists", () => {
    const runs = [".github/workflows/review-app.yml", ".github/workflows/scheduled-checks.yml"]
      .flatMap((f) => Object.values(load(f).jobs).flatMap((j) => j.steps.map((s) => s.run ?? "")))
      .join("\n");
    const used = [...new Set([...runs.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]))];
    expect(used.sort()).toEqual(["drift", "pr-comment", "review-app", "smoke"]);
    for (const name of used) expect(scripts, `npm run ${name}`).toContain(name);
  });

  it("the runbook sections the alerts point to exist", () => {
    expect(runbook).toMatch(/^## Scheduled checks/m);
    expect(runbook).toMatch(/^## Review apps/m);
    for (const s of ['"smoke failed"', '"drift"', '"removing a review app by hand"']) expect(runbook).toContain(s);
  });
});
