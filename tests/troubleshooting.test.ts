/** The runbook's troubleshooting table as data: a failure message → the likely cause. */
import { describe, expect, it } from "vitest";
import { likelyCause } from "../lib/health/troubleshooting";

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
