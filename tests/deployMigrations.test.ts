import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { reviewDeployMigrations, type DeployMigrationsInput } from "../steps/migrations/deployMigrations";
import { classifyMigrations, listCheckoutMigrations, recordMigrations } from "../steps/migrations/checkoutMigrations";
import { ConfigError, parseDeployConfig } from "../config/loader";
import { RELEASES, releaseCheckout } from "./releaseCheckout";

const DROP = "20250521150000_drop_user_legacy_id";
const SLUG = "20250520110000_add_rule_slug";

let tmp: string;
let appDir: string;

/** An app checkout at 0.1.10 with release tags v0.1.9 and v0.1.10, as an operator's clone. */
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cr-deploy-migrations-"));
  appDir = path.join(tmp, "community-rule");
  releaseCheckout(appDir, ["0.1.9", "0.1.10"], { tag: ["0.1.9", "0.1.10"] });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const input = (over: Partial<DeployMigrationsInput>): DeployMigrationsInput => ({
  environment: "production",
  stack: "production",
  location: "communityrule.info",
  build: true,
  imageTag: "0.1.10",
  manifestVersion: "0.1.10",
  appDir,
  appDirLabel: "../community-rule",
  acknowledged: [],
  running: { version: "0.1.9" },
  ...over,
});

describe("reviewDeployMigrations", () => {
  it(
    "release 0.1.9 → 0.1.10 on production: the running list comes" +
      " from the v0.1.9 tag; the destructive migration is refused",
    () => {
      const r = reviewDeployMigrations(input({}));
      expect(r.kind).toBe("release");
      expect(r.changes).toEqual([
        `${SLUG} [additive]: adds column Rule.slug`,
        `${DROP} [destructive]: drops column User.legacyId`,
      ]);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toContain(`  pulumi config set --path 'acknowledgeMigrations[0]' ${DROP} -s production`);
      expect(r.record.map((m) => m.name)).toHaveLength(4);
    },
  );

  it("goes on once acknowledged, and on staging with a warning", () => {
    expect(reviewDeployMigrations(input({ acknowledged: [DROP] })).errors).toEqual([]);
    const staging = reviewDeployMigrations(input({ environment: "staging", stack: "staging" }));
    expect(staging.errors).toEqual([]);
    expect(staging.warnings).toHaveLength(1);
  });

  it("prefers the list recorded at the running release's deploy over its git tag", () => {
    const recorded = recordMigrations(classifyMigrations(listCheckoutMigrations(path.join(RELEASES, "0.1.10")))).filter(
      (m) => m.name !== DROP,
    );
    const r = reviewDeployMigrations(input({ running: { version: "0.1.9", migrations: recorded } }));
    expect(r.changes).toEqual([`${DROP} [destructive]: drops column User.legacyId`]);
  });

  it("a first deploy applies everything to an empty database, without a gate", () => {
    const r = reviewDeployMigrations(input({ running: "absent" }));
    expect(r).toMatchObject({
      kind: "first-deploy",
      errors: [],
      lines: [
        "first deploy of 0.1.10 onto an empty database: prisma migrate deploy creates the schema from 4 migrations; " +
          "no row exists yet for any of them to lose, so none needs an acknowledgement",
      ],
    });
  });

  it("on production, an unreadable running release counts every migration as new", () => {
    const r = reviewDeployMigrations(input({ running: "unknown" }));
    expect(r.warnings[0]).toBe(
      "what communityrule.info runs carries is unknown (no release record, no tag or" +
        " manifest bump of that version): every migration of 0.1.10 is treated as new",
    );
    expect(r.changes).toHaveLength(4);
    expect(r.errors).toHaveLength(1);
  });

  it(
    "when what runs was not read, a tag older than the checkout" +
      " is reviewed as a rollback from the checkout's version",
    () => {
      const r = reviewDeployMigrations(input({ build: false, imageTag: "0.1.9", running: "unknown" }));
      expect(r.kind).toBe("rollback");
      expect(r.lines[0]).toBe(
        "what communityrule.info runs was not read: assuming 0.1.10, the version of ../community-rule",
      );
      expect(r.errors[0]).toMatch(/^production rollback from 0\.1\.10 to 0\.1\.9 refused/);
    },
  );

  it("on staging, an unread running release still warns about every dangerous migration", () => {
    const r = reviewDeployMigrations(input({ environment: "staging", stack: "staging", running: "unknown" }));
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([
      "what communityrule.info runs carries is unknown (no release record, no tag or" +
        " manifest bump of that version): every migration of 0.1.10 is treated as new",
      `staging: migration ${DROP} is destructive (drops column User.legacyId);` +
        ` production will refuse it until acknowledgeMigrations names it`,
    ]);
  });

  it("rollback 0.1.10 → 0.1.9 with build: false is refused on production with the backup id", () => {
    const r = reviewDeployMigrations(
      input({
        build: false,
        imageTag: "0.1.9",
        running: { version: "0.1.10", tag: "0.1.10", preUpdateBackupId: "bk-0110" },
      }),
    );
    expect(r.kind).toBe("rollback");
    expect(r.changes).toEqual([
      `${SLUG} [additive]: adds column Rule.slug`,
      `${DROP} [destructive]: drops column User.legacyId`,
    ]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toContain("Cloudron took backup bk-0110 before 0.1.10 was deployed");
    // What gets recorded is what the database keeps, so rolling forward again applies nothing new.
    expect(r.record.map((m) => m.name)).toEqual([
      "20250301120000_init",
      "20250415093000_add_rule_templates",
      SLUG,
      DROP,
    ]);
    expect(
      reviewDeployMigrations(
        input({
          build: false,
          imageTag: "0.1.9",
          environment: "staging",
          stack: "staging",
          running: { version: "0.1.10", tag: "0.1.10" },
        }),
      ).errors,
    ).toEqual([]);
  });

  it("refuses an edited applied migration on staging too, naming the file", () => {
    const dir = path.join(tmp, "edited");
    fs.cpSync(appDir, dir, { recursive: true });
    fs.appendFileSync(path.join(dir, "prisma/migrations/20250301120000_init/migration.sql"), "-- reformatted\n");
    const r = reviewDeployMigrations(input({ appDir: dir, environment: "staging", stack: "staging" }));
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(
      new RegExp(
        /^migration 20250301120000_init was edited after it was deployed:/.source +
          / prisma\/migrations\/20250301120000_init\/migration.sql has sha256 /.source,
      ),
    );
  });

  it("refuses migrate reset in what the image runs, and in config env values", () => {
    const dir = path.join(tmp, "reset");
    fs.cpSync(appDir, dir, { recursive: true });
    fs.mkdirSync(path.join(dir, "scripts"), { recursive: true });
    fs.writeFileSync(
      path.join(dir, "scripts/start.sh"),
      "#!/bin/sh\nnpx prisma migrate reset --force\nexec node server.js\n",
    );
    const r = reviewDeployMigrations(
      input({
        appDir: dir,
        environment: "staging",
        stack: "staging",
        running: "absent",
        env: { BOOT: "prisma migrate reset" },
      }),
    );
    expect(r.errors.map((e) => e.split(" runs ")[0])).toEqual(["scripts/start.sh", "communityrule:env.BOOT"]);
  });

  it("warns when the tag being deployed is neither tagged in git nor the checkout's version", () => {
    const r = reviewDeployMigrations(
      input({ build: false, imageTag: "0.1.8", running: { version: "0.1.10", tag: "0.1.10" } }),
    );
    expect(r.kind).toBe("unknown");
    expect(r.warnings).toEqual([
      "cannot tell which migrations 0.1.8 carries: ../community-rule" +
        " has no git tag v0.1.8 or 0.1.8, no commit in its history where " +
        "CloudronManifest.json took 0.1.8, and is at 0.1.10. Point appDir at" +
        " a clone of the app that holds 0.1.8 (git -C ../community-rule fetch)",
    ]);
  });
});

describe("communityrule:acknowledgeMigrations", () => {
  const raw = (ack?: string) => ({
    values: {
      "communityrule:location": "communityrule.info",
      "communityrule:cloudronServer": "my.medlab.host",
      "communityrule:appDir": appDir,
      "communityrule:build": "false",
      "communityrule:imageTag": "0.1.10",
      "communityrule:env": JSON.stringify({ SMTP_FROM: "hello@communityrule.info" }),
      ...(ack === undefined ? {} : { "communityrule:acknowledgeMigrations": ack }),
    },
    secretKeys: new Set<string>(),
  });
  const parse = (ack?: string) => parseDeployConfig(raw(ack), { stack: "production", projectDir: tmp });

  it("defaults to an empty list and reads the list Pulumi hands over as JSON", () => {
    expect(parse().acknowledgeMigrations).toEqual([]);
    expect(parse(JSON.stringify([DROP, `rollback:${DROP}`])).acknowledgeMigrations).toEqual([DROP, `rollback:${DROP}`]);
  });

  it.each([
    [JSON.stringify(["ok_name", 7]), "7 is not a migration name"],
    [JSON.stringify(["drop; rm -rf /"]), '"drop; rm -rf /" is not a migration name'],
    ["[not json", "must be a list of migration names"],
  ])("refuses %s, naming the key", (value, start) => {
    expect(() => parse(value)).toThrow(ConfigError);
    try {
      parse(value);
    } catch (err) {
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(1);
      expect(problems[0].key).toBe("communityrule:acknowledgeMigrations");
      expect(problems[0].message.startsWith(start)).toBe(true);
    }
  });
});
