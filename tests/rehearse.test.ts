/**
 * `npm run rehearse` as an operator runs it: a real child process in a copy of the project whose
 * stack file the test edits (the package.json script line; Ctrl-C goes through npm itself, as it does
 * at a terminal). Checks exit codes, what it prints, and that it leaves no temporary
 * directory behind on any way out (validation failure, success, Ctrl-C).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyProject, leftovers, runCommand, runScript, type ProjectCopy } from "./cliProject";

let p: ProjectCopy;
let staging: string;
beforeAll(() => {
  p = copyProject();
  staging = p.stackText("staging");
});
afterAll(() => p?.remove());

const lastLine = (s: string) => s.trimEnd().split("\n").at(-1);

describe("npm run rehearse: arguments", () => {
  it("without a stack prints the usage and exits 2 (no silent staging default)", async () => {
    const r = await runScript(p, "rehearse", []);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("which stack? name it (no stack is assumed)");
    expect(r.stderr).toContain("usage: npm run rehearse -- <stack> [--release <version>] [--rollback]");
    expect(r.stdout).not.toContain("REHEARSAL of");
  });

  it("an unknown option, a second stack or a bad --release version is a usage error", async () => {
    for (const [args, message] of [
      [["staging", "--bogus"], "unknown option --bogus"],
      [["staging", "production"], "unexpected argument: production"],
      [["staging", "--release", "v0.2"], "--release v0.2: the version must be plain semver X.Y.Z"],
    ] as const) {
      const r = await runScript(p, "rehearse", [...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stdout).not.toContain("REHEARSAL of");
    }
  });
});

describe("npm run rehearse: the stack file as written is validated first", () => {
  const cases: Array<{ name: string; edit: (t: string) => string; key: string; fix: RegExp }> = [
    // Refused by the Pulumi CLI's config step (Pulumi.yaml's declarations), in its words.
    {
      name: 'healthTimeoutSeconds: "abc"',
      edit: (t) => `${t}  communityrule:healthTimeoutSeconds: "abc"\n`,
      key: "'healthTimeoutSeconds'",
      fix: new RegExp(
        /^error: validating stack config: Stack 'staging' with configuration/.source +
          / key 'healthTimeoutSeconds' must be of type 'integer'$/.source,
        "m",
      ),
    },
    {
      name: "cloudronTimeoutSeconds: 1.5",
      edit: (t) => `${t}  communityrule:cloudronTimeoutSeconds: 1.5\n`,
      key: "'cloudronTimeoutSeconds'",
      fix: /must be of type 'integer'/,
    },
    {
      name: "no location",
      edit: (t) => t.replace(/^ {2}communityrule:location: .*\n/m, ""),
      key: "'location'",
      fix: /^error: validating stack config: Stack 'staging' is missing configuration value 'location'$/m,
    },
    // Refused by the program's own rules (config/).
    {
      name: "healthTimeoutSeconds: 0",
      edit: (t) => `${t}  communityrule:healthTimeoutSeconds: 0\n`,
      key: "communityrule:healthTimeoutSeconds",
      fix: /between 1 and 3600 seconds/,
    },
    {
      name: "imageRepository with https://",
      edit: (t) => `${t}  communityrule:imageRepository: https://git.medlab.host/communityrule/community-rule\n`,
      key: "communityrule:imageRepository",
      fix: /no scheme/,
    },
    {
      name: "baseUrl without a scheme",
      edit: (t) => `${t}  communityrule:baseUrl: staging.communityrule.info\n`,
      key: "communityrule:baseUrl",
      fix: /http\(s\) URL/,
    },
    {
      name: "a typo'd key",
      edit: (t) => `${t}  communityrule:healthTimeoutSecond: 300\n`,
      key: "communityrule:healthTimeoutSecond",
      fix: /did you mean communityrule:healthTimeoutSeconds/,
    },
    {
      name: "a plain-text cloudronToken",
      edit: (t) => `${t}  communityrule:cloudronToken: plain-token-value-1234\n`,
      key: "communityrule:cloudronToken",
      fix: /pulumi config set --secret/,
    },
  ];
  it.each(cases)(
    "$name: REHEARSAL FAIL naming the key and the fix, before anything starts",
    async ({ edit, key, fix }) => {
      p.writeStack("staging", edit(staging));
      try {
        const r = await runScript(p, "rehearse", ["staging"]);
        expect(r.code).toBe(1);
        expect(r.stdout).toContain(key);
        expect(r.stdout).toMatch(fix);
        expect(r.stdout).not.toContain("== up #1");
        expect(r.stdout).not.toContain("plain-token-value-1234");
        expect(lastLine(r.stdout)).toBe(
          "REHEARSAL FAIL: Pulumi.staging.yaml is not valid: `pulumi up -s staging` would refuse it the same way",
        );
        expect(leftovers(p.tmp)).toEqual([]);
      } finally {
        p.writeStack("staging", staging);
      }
    },
  );

  it("a YAML syntax error names the file and line, with no stack trace and no temporary directory left", async () => {
    p.writeStack(
      "staging",
      staging.replace(
        "  communityrule:cloudronServer: my.medlab.host\n",
        "  communityrule:cloudronServer: my.medlab.host\n   oops: [\n",
      ),
    );
    try {
      const r = await runScript(p, "rehearse", ["staging"]);
      expect(r.code).toBe(1);
      const all = r.stdout + r.stderr;
      expect(lastLine(r.stdout)).toMatch(
        /^REHEARSAL FAIL: Pulumi\.staging\.yaml:\d+: not valid YAML \(line \d+, column \d+\): /,
      );
      expect(all).not.toContain("node_modules");
      expect(all).not.toMatch(/^\s+at /m);
      expect(leftovers(p.tmp)).toEqual([]);
    } finally {
      p.writeStack("staging", staging);
    }
  });

  it(
    "a cloudronServer that does not resolve is reported before" +
      " anything starts (a near miss of the other stack's server fails)",
    async () => {
      p.writeStack(
        "staging",
        staging.replace("communityrule:cloudronServer: my.medlab.host", "communityrule:cloudronServer: my.medlab.hots"),
      );
      try {
        const r = await runScript(p, "rehearse", ["staging"]);
        expect(r.code).toBe(1);
        expect(r.stdout).toContain("cloudronServer: my.medlab.hots does not resolve (no such host)");
        expect(lastLine(r.stdout)).toBe(
          "REHEARSAL FAIL: cloudronServer my.medlab.hots does not resolve, and Pulumi.production.yaml" +
            " names my.medlab.host: a typo? A real `up` would stop before any change",
        );
        expect(r.stdout).not.toContain("== up #1");
        expect(leftovers(p.tmp)).toEqual([]);
      } finally {
        p.writeStack("staging", staging);
      }
    },
  );
});

describe("npm run rehearse -- staging --release 0.1.10 --rollback", () => {
  it(
    "states what it replaces, deploys, finds nothing to do," +
      " releases (backup + health gate), rolls back, and says PASS",
    async () => {
      const r = await runScript(p, "rehearse", ["staging", "--release", "0.1.10", "--rollback"]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const out = r.stdout;
      const order = [
        "== Pulumi.staging.yaml as written ==",
        "valid: the same checks `pulumi up` runs before registering anything passed.",
        "== replaced for the rehearsal (everything else is used as written) ==",
        "== up #1: first deploy of 0.1.9 to a fresh staging ==",
        "== up #2: nothing changed ==",
        "nothing to do: 0 resources changed, 0 Cloudron calls that change something",
        "== up #3: release 0.1.9 → 0.1.10 (the app checkout's manifest bumped, build: true) ==",
        "backup before the update: ",
        "== preview of the rollback: what `pulumi preview` shows a reviewer ==",
        "ROLLBACK: staging goes from 0.1.10 back to 0.1.9; database migrations applied by 0.1.10 are NOT undone",
        "deploying existing tag 0.1.9 without a build: rollback or promotion",
        "== up #4: rollback 0.1.10 → 0.1.9 (build: false, imageTag: 0.1.9) ==",
        "The next up then BUILDS whatever",
      ];
      // The up says it again (in its own log).
      expect(out.lastIndexOf("ROLLBACK: staging goes from 0.1.10 back to 0.1.9")).toBeGreaterThan(
        out.indexOf("== up #4"),
      );
      const at = order.map((s) => out.indexOf(s));
      expect(
        at.every((i) => i >= 0),
        order.filter((_, i) => at[i] < 0).join(" | "),
      ).toBe(true);
      expect([...at].sort((a, b) => a - b)).toEqual(at);
      for (const key of [
        "imageRepository",
        "appDir",
        "baseUrl",
        "registryUsername",
        "registryPassword",
        "cloudronToken",
        "healthTimeoutSeconds",
        "cloudronTimeoutSeconds",
        "busyWaitSeconds",
      ]) {
        expect(out).toMatch(new RegExp(`^  ${key}: .* → .*\\n      why: `, "m"));
      }
      expect(out).toContain("  baseUrl: (default https://staging.communityrule.info) → http://127.0.0.1:");
      expect(out).toMatch(/health gate: \{"healthy":true/);
      // The preview already says ROLLBACK with both versions: the program's live check reads what runs.
      const preview = out.slice(out.indexOf("== preview of the rollback"), out.indexOf("== up #4"));
      expect(preview).toContain(
        "ROLLBACK: staging goes from 0.1.10 back to 0.1.9; database migrations applied by 0.1.10 are NOT undone",
      );
      // Calls are shown as a shell needs them typed (the seed's sh -c script quoted).
      for (const line of out.split("\n").filter((l) => l.includes(" sh -c ")))
        expect(line).toContain(`sh -c 'node prisma/seed.bundle.cjs; echo "__SEED_EXIT__:$?"'`);
      expect(lastLine(out)).toMatch(
        new RegExp(
          /^REHEARSAL PASS: staging: deployed 0\.1\.9, a no-op up/.source +
            / changed nothing, released 0\.1\.10, rolled back to 0\.1\.9/.source,
        ),
      );
      expect(leftovers(p.tmp)).toEqual([]);
    },
  );
});

describe("npm run rehearse: Ctrl-C", () => {
  it(
    "SIGINT to the process group (what Ctrl-C does) mid-deploy" + " removes every temporary directory and says FAIL",
    async () => {
      let sent = false;
      const r = await runCommand(p.dir, ["npm", "run", "rehearse", "--", "staging"], {
        env: { TMPDIR: p.tmp },
        detached: true,
        onStdout: (soFar, child) => {
          if (!sent && soFar.includes("== up #1")) {
            sent = true;
            // Mid-deploy: the registry, the app server and the program's processes are all running.
            expect(leftovers(p.tmp).length).toBeGreaterThan(0);
            process.kill(-child.pid!, "SIGINT");
          }
        },
      });
      expect(sent).toBe(true);
      expect(r.stdout).toContain("REHEARSAL FAIL: interrupted (SIGINT); temporary files removed");
      expect(r.stdout).not.toContain("REHEARSAL PASS");
      expect(leftovers(p.tmp)).toEqual([]);
    },
  );
});
