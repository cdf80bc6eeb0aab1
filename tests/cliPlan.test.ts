/**
 * `npm run plan` as reviewers and CI run it: real child processes in a copy of the project that is
 * its own git repository, so `--against` compares real commits. Exit codes and output are checked.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import YAML from "yaml";
import { copyProject, npmRun, runCommand, runScript, type ProjectCopy } from "./cliProject";

// Generated per run: a token-shaped literal in the repository would look like a leaked secret.
const PLAIN_TOKEN = `plain-token-${randomBytes(12).toString("hex")}`;
const PLAIN_SECRET_ENV = "plain-inquiry-address@example.org";

let p: ProjectCopy;
let staging: string;
const git = (...args: string[]) =>
  execFileSync("git", ["-c", "user.email=t@example.org", "-c", "user.name=t", ...args], {
    cwd: p.dir,
    encoding: "utf8",
  });

beforeAll(() => {
  p = copyProject();
  staging = p.stackText("staging");
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("commit", "-qm", "base");
});
afterAll(() => p?.remove());

describe("npm run plan: files and stacks", () => {
  it("an unknown stack names the stack file and the stacks that exist (no raw ENOENT)", async () => {
    const r = await runScript(p, "plan", ["prod"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`no stack file Pulumi.prod.yaml in ${p.dir}; stacks here: production, staging`);
    expect(r.stdout + r.stderr).not.toContain("ENOENT");
  });

  it("a YAML mistake names the file and the line, with no stack trace", async () => {
    p.writeStack("staging", staging + "  communityrule:env: [unclosed\n");
    try {
      const r = await runScript(p, "plan", ["staging"]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^Pulumi\.staging\.yaml:\d+: not valid YAML/);
      expect(r.stdout + r.stderr).not.toMatch(/^\s+at /m);
    } finally {
      p.writeStack("staging", staging);
    }
  });
});

describe("operator commands: the common CLI conventions", () => {
  // plan through npm itself (its exit code and streams passed on); the others as their script line.
  const silentNpm = (q: ProjectCopy, script: string, args: string[]) => npmRun(q, script, args, { silent: true });
  it.each([
    ["plan", silentNpm],
    ["preflight", runScript],
    ["rehearse", runScript],
    ["restore-drill", runScript],
  ] as const)(
    "npm run %s: a usage mistake goes to stderr with the usage, exit 2; --help to stdout, exit 0",
    async (script, run) => {
      const bad = await run(p, script, ["staging", "--bogus"]);
      expect(bad.code).toBe(2);
      expect(bad.stdout).toBe("");
      expect(bad.stderr).toContain(`${script === "restore-drill" ? "restore-drill" : script}: unknown option --bogus`);
      expect(bad.stderr).toContain(`usage: npm run ${script} -- <stack>`);
      const help = await run(p, script, ["--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`usage: npm run ${script} -- <stack>`);
    },
  );
});

describe("npm run plan: every problem in one pass", () => {
  it(
    "four mistakes in the production stack file: all four reported" +
      " at once, each with a fix (imageTag: latest included)",
    async () => {
      const production = p.stackText("production");
      p.writeStack(
        "production",
        production +
          "  communityrule:imageTag: latest\n  communityrule:healthTimeoutSeconds: abc\n " +
          " communityrule:locaton: communityrule.info\n  communityrule:baseUrl: communityrule.info\n",
      );
      try {
        const r = await runScript(p, "plan", ["production"]);
        expect(r.code).toBe(1);
        const lines = r.stdout.trimEnd().split("\n");
        expect(lines[0]).toBe('stack "production" has 4 configuration problems; nothing was deployed:');
        expect(
          lines
            .slice(1)
            .map((l) => l.split(":").slice(0, 2).join(":"))
            .sort(),
        ).toEqual([
          "  - communityrule:baseUrl",
          "  - communityrule:healthTimeoutSeconds",
          "  - communityrule:imageTag",
          "  - communityrule:locaton",
        ]);
        expect(r.stdout).toMatch(/communityrule:imageTag: "latest" .*pulumi config (set|rm) communityrule:imageTag/);
        expect(r.stdout).toContain("did you mean communityrule:location?");
      } finally {
        p.writeStack("production", production);
      }
    },
  );
});

describe("npm run plan --json: stdout is JSON however it is started", () => {
  it("npm run -s and bin/plan print only JSON; plain npm run says on stderr why its stdout is not", async () => {
    const silent = await npmRun(p, "plan", ["staging", "--json"], { silent: true });
    expect(silent.code).toBe(0);
    expect((JSON.parse(silent.stdout) as { stack: string }).stack).toBe("staging");
    const bin = await runCommand(path.dirname(p.dir), [path.join(p.dir, "bin", "plan"), "staging", "--json"]);
    expect(bin.code).toBe(0);
    expect((JSON.parse(bin.stdout) as { stack: string }).stack).toBe("staging");
    const plain = await npmRun(p, "plan", ["staging", "--json"]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toContain("use `npm run -s plan -- … --json` or `bin/plan … --json`");
  });
});

describe("npm run plan --against: plain-text secrets fail the review", () => {
  it(
    "a commit that adds a plain-text cloudronToken or secretEnv" +
      " value exits 1 naming each key and the fix, never the value",
    async () => {
      p.writeStack(
        "staging",
        staging +
          `  communityrule:cloudronToken: ${PLAIN_TOKEN}\n ` +
          ` communityrule:secretEnv:\n    ORGANIZER_INQUIRY_TO: ${PLAIN_SECRET_ENV}\n`,
      );
      try {
        const r = await runScript(p, "plan", ["staging", "--against", "HEAD"]);
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(/communityrule:cloudronToken: .*pulumi config set --secret/);
        expect(r.stdout).toMatch(
          new RegExp(
            /communityrule:secretEnv\.ORGANIZER_INQUIRY_TO: is stored in plain text;/.source +
              / .*pulumi config set --secret --path 'secretEnv\.ORGANIZER_INQUIRY_TO' <value>/.source,
          ),
        );
        expect(r.stdout + r.stderr).not.toContain(PLAIN_TOKEN);
        expect(r.stdout + r.stderr).not.toContain(PLAIN_SECRET_ENV);
        expect(r.stdout).not.toContain("added (value not shown)");
      } finally {
        p.writeStack("staging", staging);
      }
    },
  );

  it("a commit that repairs a broken stack file still gets a plan", async () => {
    p.writeStack("staging", staging + "  communityrule:healthTimeoutSeconds: abc\n");
    git("commit", "-qam", "broken");
    try {
      p.writeStack("staging", staging);
      const r = await runScript(p, "plan", ["staging", "--against", "HEAD"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(
        "  staging: Pulumi.staging.yaml at HEAD was not a valid config: the whole plan above is new",
      );
    } finally {
      git("reset", "-q", "--hard", "HEAD~1");
    }
  });

  it.each([".github/workflows/preview.yml", ".gitea/workflows/preview.yml"])(
    "%s: the plan step, run as written on a PR adding a plain-text secret, fails the job",
    async (file) => {
      const wf = YAML.parse(fs.readFileSync(path.join(p.dir, file), "utf8")) as {
        jobs: Record<string, { steps: Array<{ run?: string }> }>;
      };
      const step = Object.values(wf.jobs)
        .flatMap((j) => j.steps)
        .find((s) => (s.run ?? "").includes("npm run plan"));
      const script = step!.run!.replaceAll("${{ github.base_ref }}", "main");
      git("update-ref", "refs/remotes/origin/main", "HEAD");
      git("checkout", "-qb", "pr");
      p.writeStack("staging", staging + `  communityrule:cloudronToken: ${PLAIN_TOKEN}\n`);
      git("commit", "-qam", "add a token the wrong way");
      try {
        // GitHub and Gitea run `run:` blocks with `bash -e`: the first failing command fails the step.
        const r = await runCommand(p.dir, ["bash", "-e", "-c", script], { env: { TMPDIR: p.tmp } });
        expect(r.code).not.toBe(0);
        expect(r.stdout).toContain("communityrule:cloudronToken");
        expect(r.stdout + r.stderr).not.toContain(PLAIN_TOKEN);
      } finally {
        git("checkout", "-q", "main");
        git("branch", "-qD", "pr");
        p.writeStack("staging", staging);
      }
    },
  );
});
