/** The runbook's troubleshooting table as data: a failure message → the likely cause. */
import { describe, expect, it } from "vitest";
import { diagnoseFailure, likelyCause } from "../steps/health/troubleshooting";

describe("likelyCause (runbook troubleshooting table)", () => {
  it.each([
    ["update: Cloudron task 7 failed: image pull failed: manifest unknown", /public|tag|amd64/],
    ["health: 503 database error", /postgresql addon/],
    ["container exited unexpectedly during prisma migrate deploy", /migration/],
    ["Domain 'x' is in use (409)", /location is already used/],
    ["Not logged in", /cloudronToken/],
  ])("%s", (message, cause) => {
    expect(likelyCause(message)).toMatch(cause);
  });
  it("says nothing rather than guessing", () => {
    expect(likelyCause("something unusual")).toBeUndefined();
  });
});

describe("diagnoseFailure: the row from the failing step plus what the logs and answers say", () => {
  // Prisma's P3009 as `prisma migrate deploy` prints it at every start (prisma-engines apply_migrations.rs).
  const P3009 = [
    "Prisma schema loaded from prisma/schema.prisma",
    "Error: P3009",
    "migrate found failed migrations in the target database, new migrations will not be applied. Read more" +
      " about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve",
    "The `20260520120000_add_magic_link_draft_payload` migration started at 2026-05-21 15:00:00.000 UTC failed",
    "Prisma schema loaded from prisma/schema.prisma",
    "Error: P3009",
  ];

  it("a failed migration in the app log names it and the prisma migrate resolve path, never reset as advice", () => {
    const d = diagnoseFailure({
      step: "health",
      app: "staging.communityrule.info",
      appLog: P3009,
      health: { status: 503, body: "<html>503</html>" },
    })!;
    expect(d.kind).toBe("migration-failed");
    expect(d.action).toContain("stops at migration 20260520120000_add_magic_link_draft_payload (P3009)");
    expect(d.action).toContain("npx prisma migrate resolve --rolled-back 20260520120000_add_magic_link_draft_payload");
    expect(d.action).toContain("cloudron debug --app staging.communityrule.info");
    expect(d.action).toContain("Never `prisma migrate reset`");
    expect(d.findings!.evidence).toEqual([1, 3, 5]);
  });

  it("P3018 names the migration from its 'Migration name:' line", () => {
    const log = [
      "Error: P3018",
      "A migration failed to apply. New migrations cannot be applied before the error is recovered from.",
      "Migration name: 20260509035322_add_rule_stakeholder",
      "Database error code: 42P07",
    ];
    expect(diagnoseFailure({ step: "update", appLog: log })!.action).toContain(
      "stops at migration 20260509035322_add_rule_stakeholder (P3018)",
    );
  });

  it("tells the proxy's page from the app's own JSON, and the real health bodies apart", () => {
    expect(
      diagnoseFailure({ step: "health", health: { status: 503, body: '{"ok":false,"database":"error"}' } })!.kind,
    ).toBe("database");
    expect(
      diagnoseFailure({ step: "health", health: { status: 200, body: '{"ok":true,"database":"not_configured"}' } })!
        .kind,
    ).toBe("not-configured");
    expect(
      diagnoseFailure({ step: "health", health: { status: 503, body: "<html>Service Unavailable</html>" } })!.kind,
    ).toBe("proxy-page");
    const start = ["Prisma schema loaded from prisma/schema.prisma", "TypeError: boom"];
    const twice = [...start, ...start];
    expect(
      diagnoseFailure({ step: "health", appLog: twice, health: { status: 502, body: "<html>Bad Gateway</html>" } })!
        .kind,
    ).toBe("proxy-page");
    const d = diagnoseFailure({
      step: "health",
      appLog: [...twice, ...start],
      health: { status: 502, body: "<html>Bad Gateway</html>" },
    })!;
    expect(d.kind).toBe("crash-loop");
    expect(d.action).toContain("3 starts in the last log lines");
  });

  it("an unreachable database in the log wins over the health body", () => {
    const log = ["Error: P1001: Can't reach database server at `postgresql:5432`"];
    expect(
      diagnoseFailure({
        step: "health",
        appLog: log,
        health: { status: 503, body: '{"ok":false,"database":"error"}' },
      })!.kind,
    ).toBe("database-down");
  });

  it(
    "the seed's rows: schema missing (a tokenHash column is" +
      " not a token problem), seed data missing, the CLI refused",
    () => {
      const column =
        "PrismaClientKnownRequestError: The column `MagicLinkToken.tokenHash`" +
        " does not exist in the current database. (P2022)";
      expect(diagnoseFailure({ step: "seed", message: column })!.kind).toBe("seed-schema");
      expect(diagnoseFailure({ step: "seed", message: 'relation "MethodFacet" does not exist' })!.kind).toBe(
        "seed-schema",
      );
      expect(
        diagnoseFailure({
          step: "seed",
          message: "Error: ENOENT: no such file or directory, open '/app/seed-data/templates.json'",
        })!.kind,
      ).toBe("seed-data");
      expect(diagnoseFailure({ step: "seed", message: "cloudron exec: Not logged in (401)" })!.kind).toBe(
        "seed-cli-auth",
      );
      expect(diagnoseFailure({ step: "seed", message: "exited 1" })!.kind).toBe("seed");
      expect(likelyCause("seed: … tokenHash …")).not.toMatch(/cloudronToken/);
    },
  );

  it("says nothing when nothing points anywhere", () => {
    expect(diagnoseFailure({ step: "env", message: "something unusual" })).toBeUndefined();
  });
});
