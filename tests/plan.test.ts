/** The offline plan: what each stack wants, secrets masked, and the diff across two commits. */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { buildPlan, diffPlans, formatPlan } from "../commands/plan/plan";
import { readStackText } from "../config/stackFile";
import { main } from "../commands/plan/main";
import { FIXTURE_APP_DIR } from "../engine/fixtureManifest";

const projectDir = path.resolve(__dirname, "..");
const appDir = FIXTURE_APP_DIR;

describe("buildPlan", () => {
  it("staging: location, build from the checkout, steps in order, no protection", () => {
    const p = buildPlan("staging", readStackText(projectDir, "staging").text, { projectDir, appDir });
    expect(p.location).toBe("staging.communityrule.info");
    expect(p.image.reference).toBe("git.medlab.host/communityrule/community-rule:0.1.9");
    expect(p.image.obtainedBy).toContain("linux/amd64");
    expect(p.operations).toEqual([
      "live check (read-only, before anything is built): GET /profile," +
        " GET /cloudron/status and GET /apps on my.medlab.host: " +
        "token valid (owner/admin), Cloudron at least the manifest's minBoxVersion, " +
        "staging.communityrule.info free or ours (com.medlab.communityrule), release not below the version it runs",
      `image: build ${appDir} for linux/amd64 and push git.medlab.host/communityrule/community-rule:0.1.9 ` +
        "(a release tag X.Y.Z only if the registry does not have it yet: release tags never change)",
      "pull check: anonymous pull of the pushed digest for linux/amd64, as Cloudron pulls it",
      "migrations: list the image's Prisma migrations, compare them with the release record" +
        " on the app (what it runs), classify the new ones (additive / risky / destructive); " +
        "refuse edited history, migrate reset, and on production unacknowledged risky or destructive ones",
      "deploy on my.medlab.host (REST API): wait while" +
        " staging.communityrule.info is busy (≤ 600 s), stop if it is in error",
      "install staging.communityrule.info if free (POST /apps with the" +
        " whole env: one task), adopt it if it runs com.medlab.communityrule," +
        " update it if the image or manifest changed (POST /apps/:id/update;" +
        " Cloudron takes a backup first, its id is reported)",
      "each task bounded by 1800 s and read back (image, version, env)",
      "apply env: compare with the app's LIVE env; anything added, changed or removed → one POST" +
        " /apps/:id/configure/env with the complete map (one restart), then read back; nothing → no call",
      "health gate: https://staging.communityrule.info/api/health until ok + database connected (≤ 300 s)",
      "seed once: cloudron exec … node prisma/seed.bundle.cjs (seedRun 1; the one step that uses the CLI); " +
        "again once when the seed's sources (prisma/seed.ts, prisma/seed/**," +
        " data/**) change; refused below the seed floor 0.1.8",
      "smoke checks against https://staging.communityrule.info",
    ]);
    expect(p.protections).toEqual(["autoRollback false"]);
    expect(p.env.UPLOAD_ROOT).toBe("/app/data/uploads");
  });
  it("production: protected app and seed, auto-rollback on", () => {
    const p = buildPlan("production", readStackText(projectDir, "production").text, { projectDir, appDir });
    expect(p.location).toBe("communityrule.info");
    expect(p.protections).toEqual(["app (uninstall) protected", "seed protected", "autoRollback true"]);
    // Production's live check also judges the backup policy.
    expect(p.operations[1]).toBe(
      "backups: communityrule.info automatic backups on, GET" +
        " /backups/policy (else the app's backups) keeps ≥ 30 days (up only)",
    );
    // Auto-rollback belongs to the deploy step, so it is described right after it.
    expect(p.operations.slice(5, 9)).toEqual([
      "deploy on my.medlab.host (REST API): wait while communityrule.info is busy (≤ 600 s), stop if it is in error",
      "install communityrule.info if free (POST /apps with the whole" +
        " env: one task), adopt it if it runs com.medlab.communityrule," +
        " update it if the image or manifest changed (POST /apps/:id/update;" +
        " Cloudron takes a backup first, its id is reported)",
      "each task bounded by 1800 s and read back (image, version, env)",
      "on a failed health gate after an update: roll back to the previous image and fail",
    ]);
  });
  it("never shows a secure value, only the key", () => {
    const text =
      `config:\n  communityrule:location: staging.communityrule.info\n  communityrule:cloudronServer:` +
      ` my.medlab.host\n  communityrule:build: false\n  communityrule:imageTag:` +
      ` 0.1.9\n  communityrule:env:\n    SMTP_FROM: hello@communityrule.info\n ` +
      ` communityrule:secretEnv:\n    API_KEY:\n      secure: v1:c2VjcmV0LWNpcGhlcnRleHQ=\n`;
    const p = buildPlan("staging", text, { projectDir, appDir });
    expect(p.secretEnvKeys).toEqual(["API_KEY"]);
    const shown = formatPlan(p) + JSON.stringify(p);
    expect(shown).toContain("API_KEY=[secret]");
    expect(shown).not.toContain("c2VjcmV0");
    expect(p.image.obtainedBy).toContain("no build");
  });
});

describe("plan diff", () => {
  it("lists exactly what changed between two commits of a stack file", () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), "plan-git-"));
    const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, encoding: "utf8" });
    git("init", "-q");
    git("config", "user.email", "t@example.org");
    git("config", "user.name", "t");
    const v1 = readStackText(projectDir, "production").text;
    fs.writeFileSync(path.join(repo, "Pulumi.production.yaml"), v1);
    git("add", ".");
    git("commit", "-qm", "v1");
    const v2 = v1
      .replace(
        "SMTP_FROM: Community Rule <hello@communityrule.info>",
        "SMTP_FROM: CommunityRule <team@communityrule.info>",
      )
      .replace("    WEB_VITALS_STORAGE: external\n", "");
    fs.writeFileSync(path.join(repo, "Pulumi.production.yaml"), v2);
    git("commit", "-qam", "v2");
    const before = buildPlan("production", git("show", "HEAD~1:Pulumi.production.yaml"), { projectDir, appDir });
    const after = buildPlan("production", git("show", "HEAD:Pulumi.production.yaml"), { projectDir, appDir });
    expect(diffPlans(before, after)).toEqual([
      'SMTP_FROM changes from "Community Rule <hello@communityrule.info>" to "CommunityRule <team@communityrule.info>"',
      "WEB_VITALS_STORAGE removed (will be unset)",
    ]);
    expect(diffPlans(after, after)).toEqual([]);
    fs.rmSync(repo, { recursive: true, force: true });
  });
  it("reports an image change as old → new", () => {
    const base = readStackText(projectDir, "staging").text;
    const a = buildPlan("staging", base + "  communityrule:imageTag: 0.1.9\n", { projectDir, appDir });
    const b = buildPlan("staging", base + "  communityrule:imageTag: 0.1.10\n", { projectDir, appDir });
    expect(diffPlans(a, b)).toEqual(['image: "0.1.9" → "0.1.10"']);
  });
});

describe("npm run plan (script)", () => {
  it("prints the plan, says it is not a live diff, and --against HEAD finds no changes", async () => {
    const lines: string[] = [];
    expect(await main(["staging", "--app-dir", appDir], (s) => lines.push(s))).toBe(0);
    expect(lines.join("\n")).toContain("desired state from config, not a live diff");
    const diff: string[] = [];
    expect(await main(["staging", "--against", "HEAD", "--app-dir", appDir], (s) => diff.push(s))).toBe(0);
    expect(diff.join("\n")).toContain("staging: no changes");
    const bad: string[] = [];
    expect(await main([], (s) => bad.push(s))).toBe(2);
  });
});

describe("npm run plan -- <stack> --against <ref> (temp git repository)", () => {
  const makeRepo = () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), "plan-against-"));
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.email=t@example.org", "-c", "user.name=t", ...args], {
        cwd: repo,
        encoding: "utf8",
      });
    git("init", "-q");
    return { repo, git };
  };

  it("prints the header and the SMTP_FROM change, and nothing else", async () => {
    const { repo, git } = makeRepo();
    try {
      const v1 = readStackText(projectDir, "production").text;
      fs.writeFileSync(path.join(repo, "Pulumi.production.yaml"), v1);
      git("add", ".");
      git("commit", "-qm", "v1");
      fs.writeFileSync(
        path.join(repo, "Pulumi.production.yaml"),
        v1.replace(
          "SMTP_FROM: Community Rule <hello@communityrule.info>",
          "SMTP_FROM: CommunityRule <team@communityrule.info>",
        ),
      );
      git("commit", "-qam", "v2");
      for (const ref of ["HEAD~1", git("rev-parse", "HEAD~1").trim()]) {
        const lines: string[] = [];
        expect(
          await main(["production", "--against", ref, "--app-dir", appDir], (s) => lines.push(...s.split("\n")), repo),
        ).toBe(0);
        expect(lines).toEqual([
          `production: desired-state comparison of config against ${ref} (not a live diff of the server)`,
          '  production: SMTP_FROM changes from "Community Rule' +
            ' <hello@communityrule.info>" to "CommunityRule <team@communityrule.info>"',
        ]);
      }
      const json: string[] = [];
      expect(
        await main(["production", "--json", "--against", "HEAD~1", "--app-dir", appDir], (s) => json.push(s), repo),
      ).toBe(0);
      expect((JSON.parse(json.join("\n")) as { changes: string[] }).changes).toHaveLength(1);
    } finally {
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });

  it("says a stack file new in this change is new, and fails clearly on an unknown ref", async () => {
    const { repo, git } = makeRepo();
    try {
      fs.writeFileSync(path.join(repo, "README"), "x");
      git("add", ".");
      git("commit", "-qm", "base");
      fs.writeFileSync(path.join(repo, "Pulumi.staging.yaml"), readStackText(projectDir, "staging").text);
      const lines: string[] = [];
      expect(await main(["staging", "--against", "HEAD", "--app-dir", appDir], (s) => lines.push(s), repo)).toBe(0);
      expect(lines.join("\n")).toContain("Pulumi.staging.yaml is new (not in HEAD)");
      const bad: string[] = [];
      expect(await main(["staging", "--against", "no-such-ref", "--app-dir", appDir], (s) => bad.push(s), repo)).toBe(
        1,
      );
      expect(bad.join("\n")).toMatch(/plan failed: git show no-such-ref/);
    } finally {
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });
});

describe("diffPlans (pure): exactly the changed keys", () => {
  const base = readStackText(projectDir, "staging").text;
  const plan = (extra: string) => buildPlan("staging", base + extra, { projectDir, appDir });

  it("names each changed setting once, and a repository change with the full reference", () => {
    const a = plan("");
    const b = plan(
      "  communityrule:healthTimeoutSeconds: 600\n  communityrule:busyWaitSeconds:" +
        " 30\n  communityrule:imageRepository: git.example.org/other/app\n",
    );
    expect(diffPlans(a, b)).toEqual([
      'image: "git.medlab.host/communityrule/community-rule:0.1.9" → "git.example.org/other/app:0.1.9"',
      "healthTimeoutSeconds: 300 → 600",
      "busyWaitSeconds: 600 → 30",
    ]);
  });

  it("a re-set secret shows as re-set, never with its value or ciphertext", () => {
    const a = plan("  communityrule:secretEnv:\n    API_KEY:\n      secure: v1:AAAAciphertext-one\n");
    const b = plan(
      "  communityrule:secretEnv:\n    API_KEY:\n      secure:" +
        " v1:BBBBciphertext-two\n    NEW_KEY:\n      secure: v1:CCCCciphertext\n",
    );
    const changes = diffPlans(a, b);
    expect(changes).toEqual([
      "secret NEW_KEY added (value not shown)",
      "secret API_KEY re-set (ciphertext changed; value not shown)",
    ]);
    expect(JSON.stringify([a, b, changes])).not.toMatch(/AAAA|BBBB|CCCC/);
  });

  it("rotation and re-seed are called out with what they do", () => {
    expect(
      diffPlans(plan(""), plan('  communityrule:sessionSecretRotation: "2"\n  communityrule:seedRun: "2"\n')),
    ).toEqual([
      'sessionSecretRotation (rotates SESSION_SECRET: logs every user out): "0" → "2"',
      'seedRun (runs the seed again): "1" → "2"',
    ]);
  });
});

describe("plan arguments (the one parser, lib/cli.ts)", () => {
  it("accepts options in any order and rejects stray or incomplete ones with the usage, exit 2", async () => {
    const lines: string[] = [];
    expect(await main(["--json", "production", "--against", "HEAD", "--app-dir", appDir], (s) => lines.push(s))).toBe(
      0,
    );
    expect((JSON.parse(lines.join("\n")) as { stack: string; against: string }).against).toBe("HEAD");
    for (const [argv, message] of [
      [["staging", "--against"], "plan: --against needs a value"],
      [["staging", "--bogus"], "plan: unknown option --bogus"],
      [["staging", "production"], "plan: unexpected argument: production"],
    ] as const) {
      const out: string[] = [];
      const err: string[] = [];
      expect(
        await main(
          [...argv],
          (s) => out.push(s),
          projectDir,
          (s) => err.push(s),
        ),
      ).toBe(2);
      expect(err).toEqual([message, "usage: npm run plan -- <stack> [--json] [--against <git-ref>] [--app-dir <dir>]"]);
      expect(out).toEqual([]);
    }
  });
});

describe("plan without credentials or the app checkout", () => {
  it("works from the committed stack files alone and says what up will still need", async () => {
    for (const stack of ["staging", "production"]) {
      const lines: string[] = [];
      expect(await main([stack], (s) => lines.push(s))).toBe(0);
      const text = lines.join("\n");
      expect(text).toContain("manifest:  unknown (appDir not found");
      // Only staging builds (and pushes); production promotes, so it needs no push credentials.
      if (stack === "staging") expect(text).toContain("registryPassword is not set (required for up");
      else expect(text).not.toContain("registryPassword is not set");
      expect(text).toContain("SESSION_SECRET=[generated secret");
    }
  });
});
