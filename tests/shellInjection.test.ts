/**
 * Shell injection: hostile values must pass through a real shell byte for byte and never execute.
 * (a) `shellQuote` against a real `/bin/sh -c 'printf %s <quoted>'`; (b) env and secretEnv values
 * through a whole lifecycle `up` into the stand-in's app env. A marker file proves nothing ran.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as crypto from "node:crypto";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shellQuote } from "../lib/shell";
import { Lifecycle } from "../engine/runner";

/** A marker path unique to this run; the payloads below try to create it. */
const MARKER = path.join(os.tmpdir(), `pwned-${crypto.randomBytes(6).toString("hex")}`);

const HOSTILE: Record<string, string> = {
  spaces: "  two  spaces and a tab\there ",
  singleQuotes: "it's 'quoted' ''",
  doubleQuotes: 'say "hi" ""',
  commandSubstitution: `$(touch ${MARKER})`,
  backticks: `\`touch ${MARKER}\``,
  semicolon: `x; touch ${MARKER}`,
  andAnd: `x && touch ${MARKER}`,
  pipe: `x | touch ${MARKER}`,
  newlines: `line1\ntouch ${MARKER}\nline3\n`,
  homeVar: "$HOME ${HOME} $0 $$",
  glob: "* ? [a-z] ~",
  emoji: "🚀 rule ✅",
  rtl: "\u202Eשלום عربى",
  leadingDash: "-rf --help",
  backslashes: "a\\b\\\\c\\'",
  breakOut: `'; touch ${MARKER}; echo '`,
  empty: "",
};

beforeAll(() => fs.rmSync(MARKER, { force: true }));
afterAll(() => fs.rmSync(MARKER, { force: true }));

describe("shellQuote through a real /bin/sh", () => {
  it.each(Object.entries(HOSTILE))("%s round-trips byte for byte and runs nothing", (_name, value) => {
    const r = spawnSync("/bin/sh", ["-c", `printf %s ${shellQuote(value)}`]);
    expect(r.status).toBe(0);
    expect(r.stderr.toString()).toBe("");
    expect(Buffer.compare(r.stdout, Buffer.from(value, "utf8"))).toBe(0);
    expect(fs.existsSync(MARKER)).toBe(false);
  });

  it("all hostile values together as separate arguments stay separate", () => {
    const values = Object.values(HOSTILE);
    const r = spawnSync("/bin/sh", ["-c", `printf '%s\\0' ${values.map(shellQuote).join(" ")}`]);
    expect(r.status).toBe(0);
    expect(r.stdout.toString("utf8").split("\0").slice(0, -1)).toEqual(values);
    expect(fs.existsSync(MARKER)).toBe(false);
  });

  it("refuses a NUL byte (no shell argument can hold one)", () => {
    expect(() => shellQuote("a\0b")).toThrow(/NUL/);
  });
});

describe("hostile env values through a lifecycle up", () => {
  let lc: Lifecycle;
  // Env names are upper case: the validator only accepts env-name syntax.
  const env: Record<string, string> = Object.fromEntries(
    Object.entries(HOSTILE).map(([k, v]) => [`HOSTILE_${k.toUpperCase()}`, v]),
  );
  const secretValue = `sk-${crypto.randomBytes(8).toString("hex")}'"$(touch ${MARKER})\`id\`; rm -rf ~ && echo $HOME`;

  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging" });
    lc.config.env = { ...(lc.config.env as Record<string, string>), ...env };
    lc.secrets.secretEnv = { HOSTILE_SECRET: secretValue };
  });
  afterAll(async () => lc?.close());

  it("every value arrives verbatim in the app's env, and the marker file is never created", async () => {
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    const appEnv = lc.app()!.env;
    for (const [name, value] of Object.entries(env)) expect(appEnv[name], name).toBe(value);
    expect(appEnv.HOSTILE_SECRET).toBe(secretValue);
    expect(fs.existsSync(MARKER)).toBe(false);
  });

  it("a second up sees nothing changed (the values compare equal after the round trip)", async () => {
    const before = lc.calls().length;
    const r = await lc.up();
    expect(r.errors).toEqual([]);
    expect(lc.mutatingCallsSince(before)).toEqual([]);
    expect(fs.existsSync(MARKER)).toBe(false);
  });
});
