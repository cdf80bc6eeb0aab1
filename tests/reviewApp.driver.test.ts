/**
 * `npm run review-app` against a `pulumi` stand-in on PATH (tests/fixtures/pulumi-standin): the
 * exact command sequence, the generated stack file, the salt recovered on a fresh checkout, the
 * limit, teardown and prune. The stand-in plays the CLI's bookkeeping only; a real backend and
 * the real CLI are not involved (see README, "Review apps": verified offline vs on a backend).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as crypto from "node:crypto";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { main, spawnPulumi, SUMMARY_MARKER } from "../commands/review-app/main";
import { PROJECT_DIR } from "../engine/runner";

const STANDIN_BIN = path.join(__dirname, "fixtures", "pulumi-standin");
const SHA1 = "3f2a9c41d0e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9";
const SHA2 = "b0b1b2b3b4b5b6b7b8b9c0c1c2c3c4c5c6c7c8c9";
const PASSPHRASE = `pp-${crypto.randomBytes(12).toString("hex")}`;

let project: string;
let backend: string;
let lines: string[];
const saved = {
  PATH: process.env.PATH,
  PULUMI_STANDIN_DIR: process.env.PULUMI_STANDIN_DIR,
  PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE,
};

function calls(): string[][] {
  const f = path.join(backend, "calls.jsonl");
  return fs.existsSync(f)
    ? fs
        .readFileSync(f, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { argv: string[] }).argv)
    : [];
}
const joined = (from = 0) =>
  calls()
    .slice(from)
    .map((a) => a.join(" "));
async function run(...argv: string[]): Promise<number> {
  lines = [];
  return main(argv, {
    projectDir: project,
    run: spawnPulumi(project),
    out: (l) => lines.push(l),
    headCommit: () => SHA1,
  });
}
function backendState(): { stacks: Record<string, { lastUpdate?: string; resources: number }> } {
  return JSON.parse(fs.readFileSync(path.join(backend, "backend.json"), "utf8"));
}

beforeAll(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), "cr-review-project-"));
  backend = fs.mkdtempSync(path.join(os.tmpdir(), "cr-review-backend-"));
  // The committed staging file as an operator's looks once the push token is set.
  fs.writeFileSync(
    path.join(project, "Pulumi.staging.yaml"),
    fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.staging.yaml"), "utf8") +
      "  communityrule:registryUsername: deployer\n " +
      " communityrule:registryPassword:\n    secure: v1:stagingCiphertext\n",
  );
  process.env.PATH = `${STANDIN_BIN}:${process.env.PATH}`;
  process.env.PULUMI_STANDIN_DIR = backend;
  process.env.PULUMI_CONFIG_PASSPHRASE = PASSPHRASE;
});
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  fs.rmSync(project, { recursive: true, force: true });
  fs.rmSync(backend, { recursive: true, force: true });
});
beforeEach(() => {
  delete process.env.PULUMI_STANDIN_FAIL_UP;
});

describe("npm run review-app (driver) against a pulumi stand-in", () => {
  it("up on a fresh backend: init, stack file, copy the listed secret, up, outputs; prints the URL", async () => {
    const summary = path.join(project, "summary-42.md");
    expect(await run("up", "42", "--sha", SHA1, "--summary", summary)).toBe(0);
    expect(joined()).toEqual([
      "stack ls --json",
      "stack init pr-42",
      "config cp communityrule:registryPassword -s staging -d pr-42",
      "up -s pr-42 --yes --diff",
      "stack output --json -s pr-42",
    ]);
    expect(lines.at(-1)).toBe("review app pr-42 is up: https://pr-42.communityrule.info");
    const file = fs.readFileSync(path.join(project, "Pulumi.pr-42.yaml"), "utf8");
    // The salt `stack init` wrote for pr-42 (never staging's) survives the rewrite of the file.
    const salt = (backendState().stacks["pr-42"] as unknown as { salt: string }).salt;
    expect(file).toContain(`encryptionsalt: ${salt}\n`);
    expect(file).toContain("communityrule:location: pr-42.communityrule.info");
    expect(file).toContain("communityrule:imageTag: pr-42-3f2a9c4");
    expect(file).not.toContain("stagingCiphertext");
    const comment = fs.readFileSync(summary, "utf8");
    expect(comment.split("\n")[0]).toBe(SUMMARY_MARKER);
    expect(comment).toContain("### Review app for #42: deployed");
    expect(comment).toContain("- URL: https://pr-42.communityrule.info");
    expect(comment).toContain("smoke: 3 passed, 0 failed");
    expect(comment).toContain("plan for stack pr-42 (staging)");
    // The plan reads the file after the copy: the push token is there (as ciphertext), not missing.
    expect(comment).not.toContain("registryPassword is not set");
    expect(fs.readFileSync(path.join(project, "Pulumi.pr-42.yaml"), "utf8")).toMatch(
      /communityrule:registryPassword:\n {4}secure: v1:standin-/,
    );
  });

  it(
    "second push from a fresh checkout (no Pulumi.pr-42.yaml):" + " salt recovered from the state, no init, new tag",
    async () => {
      fs.rmSync(path.join(project, "Pulumi.pr-42.yaml"));
      const from = calls().length;
      expect(await run("up", "42", "--sha", SHA2)).toBe(0);
      expect(joined(from)).toEqual([
        "stack ls --json",
        "stack export -s pr-42",
        "config cp communityrule:registryPassword -s staging -d pr-42",
        "up -s pr-42 --yes --diff",
        "stack output --json -s pr-42",
      ]);
      expect(fs.readFileSync(path.join(project, "Pulumi.pr-42.yaml"), "utf8")).toContain(
        "communityrule:imageTag: pr-42-b0b1b2b",
      );
    },
  );

  it("a fourth review app past maxReviewApps (3) is refused, naming the oldest; nothing is created", async () => {
    expect(await run("up", "43", "--sha", SHA1)).toBe(0);
    expect(await run("up", "44", "--sha", SHA1)).toBe(0);
    const from = calls().length;
    expect(await run("up", "45", "--sha", SHA1)).toBe(1);
    expect(joined(from)).toEqual(["stack ls --json"]);
    expect(lines.at(-1)).toMatch(
      new RegExp(
        /^refusing to create review app pr-45: 3 review apps exist and maxReviewApps is 3\. The/.source +
          / oldest is pr-42 \(last deployed 0 days ago\); remove it with npm run review-app -- down 42/.source,
      ),
    );
    expect(fs.existsSync(path.join(project, "Pulumi.pr-45.yaml"))).toBe(false);
  });

  it("list shows each review app with its URL and age", async () => {
    expect(await run("list")).toBe(0);
    expect(lines.at(-1)).toMatch(
      new RegExp(
        /^review apps: 3 of at most 3; removed after 7 days without a deploy\n {2}pr-42/.source +
          / {6}https:\/\/pr-42\.communityrule\.info {2}last deployed .* UTC \(0 d ago\)\n {2}pr-43 /.source,
      ),
    );
  });

  it("down destroys and removes the stack and its file; a second down has nothing to do", async () => {
    const from = calls().length;
    expect(await run("down", "43")).toBe(0);
    expect(joined(from)).toEqual(["stack ls --json", "destroy -s pr-43 --yes", "stack rm pr-43 --yes"]);
    expect(Object.keys(backendState().stacks).sort()).toEqual(["pr-42", "pr-44"]);
    expect(fs.existsSync(path.join(project, "Pulumi.pr-43.yaml"))).toBe(false);
    expect(await run("down", "43")).toBe(0);
    expect(lines.at(-1)).toBe("review app pr-43 does not exist: nothing to remove");
  });

  it("a failed up exits 1, keeps the stack and writes a FAILED comment", async () => {
    process.env.PULUMI_STANDIN_FAIL_UP = "1";
    const summary = path.join(project, "summary-44.md");
    expect(await run("up", "44", "--sha", SHA2, "--summary", summary)).toBe(1);
    expect(lines.at(-1)).toBe(
      "review app pr-44 FAILED to deploy (pulumi up exit 255); the" +
        " stack stays for the next push or npm run review-app -- down 44",
    );
    expect(fs.readFileSync(summary, "utf8")).toContain("### Review app for #44: deploy FAILED");
  });

  it("prune removes the review apps past reviewAppTtlDays and keeps the others", async () => {
    const state = backendState();
    state.stacks["pr-42"].lastUpdate = new Date(Date.now() - 8 * 24 * 3600 * 1000).toISOString();
    fs.writeFileSync(path.join(backend, "backend.json"), JSON.stringify(state));
    fs.rmSync(path.join(project, "Pulumi.pr-42.yaml")); // the scheduled job runs on a fresh checkout
    expect(await run("prune")).toBe(0);
    expect(lines[0]).toBe("$ pulumi stack ls --json");
    expect(lines).toContain("pr-42: last deployed 8 days ago (reviewAppTtlDays is 7): removing");
    expect(Object.keys(backendState().stacks)).toEqual(["pr-44"]);
  });

  it("push credentials from CI secrets: the password goes to pulumi on stdin, the user into the file", async () => {
    const password = `regpw-${crypto.randomBytes(12).toString("hex")}`;
    const from = calls().length;
    lines = [];
    const code = await main(["up", "46", "--sha", SHA1], {
      projectDir: project,
      run: spawnPulumi(project),
      out: (l) => lines.push(l),
      env: { REVIEW_APP_REGISTRY_USERNAME: "ci-pusher", REVIEW_APP_REGISTRY_PASSWORD: password },
    });
    expect(code).toBe(0);
    expect(joined(from)).toEqual([
      "stack ls --json",
      "stack init pr-46",
      "config set --secret communityrule:registryPassword -s pr-46",
      "up -s pr-46 --yes --diff",
      "stack output --json -s pr-46",
    ]);
    const stdin = fs
      .readFileSync(path.join(backend, "stdin.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { bytes: number });
    expect(stdin.at(-1)!.bytes).toBe(password.length);
    expect(fs.readFileSync(path.join(project, "Pulumi.pr-46.yaml"), "utf8")).toContain(
      "communityrule:registryUsername: ci-pusher",
    );
    for (const text of [
      fs.readFileSync(path.join(backend, "calls.jsonl"), "utf8"),
      lines.join("\n"),
      fs.readFileSync(path.join(project, "Pulumi.pr-46.yaml"), "utf8"),
    ]) {
      expect(text).not.toContain(password);
    }
    expect(lines).toContain(
      "$ pulumi config set --secret communityrule:registryPassword -s pr-46 < (value from the environment)",
    );
  });

  it("never puts the passphrase on a command line, and every call had it in the environment", () => {
    const all = fs.readFileSync(path.join(backend, "calls.jsonl"), "utf8");
    expect(all).not.toContain(PASSPHRASE);
    expect(
      all
        .split("\n")
        .filter(Boolean)
        .every((l) => (JSON.parse(l) as { passphraseSet: boolean }).passphraseSet),
    ).toBe(true);
  });

  it("usage errors exit 2 with the usage; the npm script entry point runs", async () => {
    expect(await run("up", "#7")).toBe(2);
    expect(lines.join("\n")).toContain('expected a pull-request number such as 42, got "#7"');
    const r = spawnSync(
      process.execPath,
      [path.join(PROJECT_DIR, "bin", "launch.cjs"), "commands/review-app/main", "bogus"],
      {
        cwd: PROJECT_DIR,
        encoding: "utf8",
      },
    );
    expect(r.status).toBe(2);
    expect(r.stdout).toContain("usage: npm run review-app -- up <pr-number> [--sha <commit>] [--summary <file.md>]");
  });
});
