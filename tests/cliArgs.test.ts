/** The one argument parser and main wrapper: exact usage messages, exit codes, clean stdout. */
import { describe, expect, it } from "vitest";
import { defineCli, parseArgs, UsageError, type CliIo } from "../lib/cli";

const spec = { positional: ["stack"], optionalPositional: ["extra"], values: ["app-dir"], flags: ["json"] } as const;

const usageMessage = (argv: string[]) => {
  try {
    parseArgs(argv, spec);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  return "no error";
};

describe("parseArgs", () => {
  it("reads positionals, --name value, --name=value and flags in any order", () => {
    expect(parseArgs(["--json", "staging", "--app-dir=../x", "more"], spec)).toEqual({
      positional: { stack: "staging", extra: "more" },
      values: { "app-dir": "../x" },
      flags: { json: true },
      help: false,
    });
    expect(parseArgs(["--app-dir", "../x", "production"], spec)).toMatchObject({
      positional: { stack: "production", extra: undefined },
      flags: { json: false },
    });
    expect(parseArgs(["--", "--odd-stack-name"], spec).positional.stack).toBe("--odd-stack-name");
    expect(parseArgs(["-h"], spec).help).toBe(true);
  });

  it.each([
    [[], "missing <stack>"],
    [["a", "b", "c"], "unexpected argument: c"],
    [["a", "--bogus"], "unknown option --bogus"],
    [["a", "--bogus=1"], "unknown option --bogus"],
    [["a", "-x"], "unknown option -x"],
    [["a", "--app-dir"], "--app-dir needs a value"],
    [["a", "--app-dir", "--json"], "--app-dir needs a value"],
    [["a", "--app-dir="], "--app-dir needs a value"],
    [["a", "--json=yes"], "--json takes no value"],
    [["a", "--app-dir", "x", "--app-dir", "y"], "--app-dir given twice"],
  ])("%j → %s", (argv, message) => {
    expect(usageMessage(argv)).toBe(message);
  });
});

describe("parseArgs: ifMissing", () => {
  const withHint = { positional: ["stack", "pr"], ifMissing: { stack: "which stack? name it" } } as const;
  it("says the command's own words for a missing positional it names, the default for others", () => {
    expect(() => parseArgs([], withHint)).toThrow(new UsageError("which stack? name it"));
    expect(() => parseArgs(["staging"], withHint)).toThrow(new UsageError("missing <pr>"));
    expect(parseArgs(["staging", "7"], withHint).positional).toEqual({ stack: "staging", pr: "7" });
  });
});

describe("defineCli", () => {
  const record = () => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
    return { out, err, io };
  };
  const cli = defineCli({
    name: "demo",
    usage: "usage: demo <stack> [--json]",
    spec: { positional: ["stack"], flags: ["json"] },
    parse: (a) => {
      if (a.positional.stack === "prod") throw new UsageError('no stack "prod" (did you mean production?)');
      return { stack: a.positional.stack!, json: a.flags.json };
    },
    run: ({ stack, json }, { io }) => {
      if (stack === "boom") throw new Error("the registry answered 500");
      io.stdout(json ? JSON.stringify({ stack }) : `stack ${stack}`);
      return 0;
    },
  });

  it("runs the body; stdout carries only its output", async () => {
    const r = record();
    expect(await cli(["staging", "--json"], r.io)).toBe(0);
    expect(r.out).toEqual(['{"stack":"staging"}']);
    expect(r.err).toEqual([]);
  });

  it("usage mistakes (parser's or the command's own) exit 2 with the usage on stderr", async () => {
    for (const [argv, message] of [
      [[], "demo: missing <stack>"],
      [["prod"], 'demo: no stack "prod" (did you mean production?)'],
    ] as const) {
      const r = record();
      expect(await cli(argv, r.io)).toBe(2);
      expect(r.err).toEqual([message, "usage: demo <stack> [--json]"]);
      expect(r.out).toEqual([]);
    }
  });

  it("--help prints the usage to stdout and exits 0", async () => {
    const r = record();
    expect(await cli(["--help"], r.io)).toBe(0);
    expect(r.out).toEqual(["usage: demo <stack> [--json]"]);
  });

  it("an error exits 1 with one line naming the command, never a stack trace", async () => {
    const r = record();
    expect(await cli(["boom"], r.io)).toBe(1);
    expect(r.err).toEqual(["demo: the registry answered 500"]);
  });
});
