/** Pure parts of the rehearsal: arguments, the replaced-settings list, the server near miss, call lines. */
import { describe, expect, it } from "vitest";
import {
  describeCall,
  describeReplacements,
  nearMissServer,
  nextPatch,
  rehearseArgsFrom,
  REHEARSE_SPEC,
} from "../commands/rehearse/rehearsal";
import { parseArgs, UsageError } from "../lib/cli";

/** The rehearsal's arguments as commands/rehearse/main.ts reads them, or the usage message. */
function parseRehearseArgs(argv: string[]): ReturnType<typeof rehearseArgsFrom> | string {
  try {
    return rehearseArgsFrom(parseArgs(argv, REHEARSE_SPEC));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return err.message;
  }
}

describe("parseRehearseArgs", () => {
  it("takes one stack and the three options, and names what is wrong otherwise", () => {
    expect(parseRehearseArgs(["staging"])).toEqual({
      stack: "staging",
      release: undefined,
      rollback: false,
      cutover: false,
    });
    expect(parseRehearseArgs(["--rollback", "production", "--release", "0.2.0"])).toEqual({
      stack: "production",
      release: "0.2.0",
      rollback: true,
      cutover: false,
    });
    expect(parseRehearseArgs(["production", "--cutover"])).toEqual({
      stack: "production",
      release: undefined,
      rollback: false,
      cutover: true,
    });
    expect(parseRehearseArgs(["staging", "--cutover"])).toBe(
      "--cutover rehearses production's first install at the apex; name the stack production",
    );
    expect(parseRehearseArgs(["production", "--cutover", "--rollback"])).toBe(
      "--cutover is rehearsed on its own, without --release or --rollback",
    );
    expect(parseRehearseArgs([])).toBe("which stack? name it (no stack is assumed)");
    expect(parseRehearseArgs(["staging", "--release"])).toBe("--release needs a value");
    expect(parseRehearseArgs(["staging", "production"])).toBe("unexpected argument: production");
    expect(parseRehearseArgs(["staging", "-x"])).toBe("unknown option -x");
    expect(parseRehearseArgs(["staging", "--release", "v0.2"])).toBe(
      "--release v0.2: the version must be plain semver X.Y.Z (Cloudron's manifest rule), e.g. 0.1.10",
    );
    expect(nextPatch("0.1.9")).toBe("0.1.10");
  });
});

describe("describeReplacements", () => {
  it("lists only what differs from the file, shows defaults as such, and never a secret value", () => {
    const list = describeReplacements(
      { location: "staging.communityrule.info", cloudronToken: { secure: "v1:abc" } },
      { baseUrl: "https://staging.communityrule.info" },
      { location: "staging.communityrule.info", baseUrl: "http://127.0.0.1:5000", healthTimeoutSeconds: 10 },
      { cloudronToken: "crtok-secret-value", registryPassword: "regpw-secret-value" },
    );
    expect(list.map((r) => `${r.key}: ${r.asWritten} → ${r.rehearsed}`)).toEqual([
      "baseUrl: (default https://staging.communityrule.info) → http://127.0.0.1:5000",
      "healthTimeoutSeconds: (not set) → 10",
      "cloudronToken: (encrypted) → (test value)",
      "registryPassword: (not set) → (test value)",
    ]);
    expect(JSON.stringify(list)).not.toMatch(/secret-value|v1:abc/);
  });
});

describe("nearMissServer", () => {
  it("finds the other stack's server one or two letters away, nothing for equal or distant names", () => {
    const others = [{ stack: "production", server: "my.medlab.host" }];
    expect(nearMissServer("my.medlab.hots", others)).toEqual(others[0]);
    expect(nearMissServer("my.medlab.host", others)).toBeUndefined();
    expect(nearMissServer("cloudron.example.org", others)).toBeUndefined();
  });
});

describe("describeCall", () => {
  it("prints the seed command with the quoting a shell needs, and hides env values", () => {
    expect(
      describeCall({
        argv: [
          "exec",
          "--app",
          "staging.communityrule.info",
          "--",
          "sh",
          "-c",
          'node prisma/seed.bundle.cjs; echo "__SEED_EXIT__:$?"',
        ],
      }),
    ).toBe(
      `cloudron exec --app staging.communityrule.info -- sh -c 'node prisma/seed.bundle.cjs; echo "__SEED_EXIT__:$?"'`,
    );
    expect(describeCall({ argv: ["env", "set", "--app", "a.example.org", "SMTP_FROM=Community Rule <x@y>"] })).toBe(
      "cloudron env set --app a.example.org SMTP_FROM=…",
    );
    expect(describeCall({ method: "POST", path: "/api/v1/apps/abc/update", status: 202, operation: "updateApp" })).toBe(
      "POST /api/v1/apps/abc/update → 202 (updateApp)",
    );
  });
});
