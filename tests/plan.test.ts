/** The offline plan: what each stack wants, secrets masked, and the diff across two commits. */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { buildPlan, diffPlans, formatPlan, readStackFileText } from "../lib/plan";
import { main } from "../scripts/plan";

const projectDir = path.resolve(__dirname, "..");
const appDir = path.join(projectDir, "tests", "fixtures", "community-rule");

describe("buildPlan", () => {
  it("staging: location, build from the checkout, steps in order, no protection", () => {
    const p = buildPlan("staging", readStackFileText(projectDir, "staging"), { projectDir, appDir });
    expect(p.location).toBe("staging.communityrule.info");
    expect(p.image.reference).toBe("git.medlab.host/communityrule/community-rule:0.1.9");
    expect(p.image.obtainedBy).toContain("linux/amd64");
    expect(p.operations.map((o) => o.split(" ")[0])).toEqual(["cloudron", "install", "apply", "health", "seed", "smoke"]);
    expect(p.protections).toEqual(["autoRollback false"]);
    expect(p.env.UPLOAD_ROOT).toBe("/app/data/uploads");
  });
  it("production: protected app and seed, auto-rollback on", () => {
    const p = buildPlan("production", readStackFileText(projectDir, "production"), { projectDir, appDir });
    expect(p.location).toBe("communityrule.info");
    expect(p.protections).toEqual(["app (uninstall) protected", "seed protected", "autoRollback true"]);
    expect(p.operations.at(-1)).toContain("roll back to the previous image");
  });
  it("never shows a secure value, only the key", () => {
    const text = `config:\n  communityrule:location: staging.communityrule.info\n  communityrule:cloudronServer: my.medlab.host\n  communityrule:build: false\n  communityrule:imageTag: 0.1.9\n  communityrule:secretEnv:\n    API_KEY:\n      secure: v1:c2VjcmV0LWNpcGhlcnRleHQ=\n`;
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
    const v1 = readStackFileText(projectDir, "production");
    fs.writeFileSync(path.join(repo, "Pulumi.production.yaml"), v1);
    git("add", ".");
    git("commit", "-qm", "v1");
    const v2 = v1.replace("SMTP_FROM: Community Rule <hello@communityrule.info>", "SMTP_FROM: CommunityRule <team@communityrule.info>").replace("    WEB_VITALS_STORAGE: external\n", "");
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
    const base = readStackFileText(projectDir, "staging");
    const a = buildPlan("staging", base + "  communityrule:imageTag: 0.1.9\n", { projectDir, appDir });
    const b = buildPlan("staging", base + "  communityrule:imageTag: 0.1.10\n", { projectDir, appDir });
    expect(diffPlans(a, b)).toEqual(['image: "0.1.9" → "0.1.10"']);
  });
});

describe("npm run plan (script)", () => {
  it("prints the plan, says it is not a live diff, and --against HEAD finds no changes", () => {
    const lines: string[] = [];
    expect(main(["staging", "--app-dir", appDir], (s) => lines.push(s))).toBe(0);
    expect(lines.join("\n")).toContain("desired state from config, not a live diff");
    const diff: string[] = [];
    expect(main(["staging", "--against", "HEAD", "--app-dir", appDir], (s) => diff.push(s))).toBe(0);
    expect(diff.join("\n")).toContain("staging: no changes");
    const bad: string[] = [];
    expect(main([], (s) => bad.push(s))).toBe(2);
  });
});
