/** `npm run plan` and `plan --against`: the release's migrations, classified, since the previous release. */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildPlan, diffPlans, formatPlan } from "../commands/plan/plan";
import { previousRelease } from "../release/releaseHistory";
import { gitIn, releaseCheckout } from "./releaseCheckout";

const projectDir = path.resolve(__dirname, "..");
const DROP = "20250521150000_drop_user_legacy_id";
const SLUG = "20250520110000_add_rule_slug";

let tmp: string;
let appDir: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cr-plan-migrations-"));
  appDir = path.join(tmp, "community-rule");
  releaseCheckout(appDir, ["0.1.9", "0.1.10"], {
    tag: ["0.1.9"],
    extraFiles: { Dockerfile: "FROM node:20-bookworm-slim\n" },
  });
  // A tag that is not a release of this app (its manifest says otherwise) is never taken for one.
  gitIn(appDir, "tag", "v0.1.8", "HEAD");
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const stackText = (extra = "") =>
  `config:\n  communityrule:location: communityrule.info\n  communityrule:cloudronServer:` +
  ` my.medlab.host\n  communityrule:env:\n    SMTP_FROM: hello@communityrule.info\n${extra}`;

describe("plan: migrations", () => {
  it(
    "compares with the newest older release: a tag whose" + " manifest is that release, before the manifest's history",
    () => {
      expect(previousRelease(appDir, "0.1.10")).toMatchObject({ version: "0.1.9", source: "tag", ref: "v0.1.9" });
      expect(previousRelease(appDir, "0.1.9")).toBeUndefined();
    },
  );

  it("lists what the release applies, with classes, and what up would refuse on production", () => {
    const p = buildPlan("production", stackText(), { projectDir, appDir });
    expect(p.migrations).toEqual({
      since: `release 0.1.9 (tag v0.1.9, the newest older release in ${appDir})`,
      kind: "release",
      changes: [`${SLUG} [additive]: adds column Rule.slug`, `${DROP} [destructive]: drops column User.legacyId`],
      warnings: [],
      refusals: ["production: 1 new migration is risky or destructive and not acknowledged:"],
    });
    const text = formatPlan(p);
    expect(text).toContain(
      [
        `  migrations (applied; since release 0.1.9 (tag v0.1.9, the newest older release in ${appDir})):`,
        `    ${SLUG} [additive]: adds column Rule.slug`,
        `    ${DROP} [destructive]: drops column User.legacyId`,
        "    up would refuse: production: 1 new migration is risky or destructive and not acknowledged:",
      ].join("\n"),
    );
  });

  it("plan --against shows the acknowledgement and that up would no longer refuse", () => {
    const before = buildPlan("production", stackText(), { projectDir, appDir });
    const after = buildPlan("production", stackText(`  communityrule:acknowledgeMigrations:\n    - ${DROP}\n`), {
      projectDir,
      appDir,
    });
    expect(diffPlans(before, after)).toEqual([
      `acknowledgeMigrations: "(none)" → "${DROP}"`,
      "migration check: up would not refuse",
    ]);
  });

  it("a rollback plan lists what the database keeps ahead of the older release", () => {
    const p = buildPlan("staging", stackText("  communityrule:build: false\n  communityrule:imageTag: 0.1.9\n"), {
      projectDir,
      appDir,
    });
    expect(p.migrations.kind).toBe("rollback");
    expect(p.migrations.changes.map((c) => c.split(" ")[0])).toEqual([SLUG, DROP]);
    expect(formatPlan(p)).toContain("  migrations (left ahead by this rollback; ");
  });
});
