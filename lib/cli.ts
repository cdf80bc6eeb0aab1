/**
 * The one argument parser and main wrapper for every command-line entry point (tools/*.ts that
 * Pulumi command resources run, commands/<name>/main.ts that operators run). One behaviour everywhere:
 * - `--name value` and `--name=value`; boolean flags; `-h`/`--help` prints the usage to stdout, exit 0;
 * - a usage mistake prints `<name>: <what is wrong>` and the usage to stderr, exit 2;
 * - any other error prints `<name>: <message>` to stderr, never a stack trace, exit 1;
 * - stdout carries only the command's own output, so machine-readable output stays clean.
 */
import { parseArgs as tokenize } from "node:util";

/** A mistake in how the command was called: exit 2 with the usage. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What a command accepts. */
export interface ArgSpec {
  /** Names of the required positional arguments, in order (`["stack"]`). */
  positional?: readonly string[];
  /** Names of optional positional arguments after the required ones. */
  optionalPositional?: readonly string[];
  /** Options that take a value (`--app-dir <dir>`), without the dashes. */
  values?: readonly string[];
  /** Options that take no value (`--json`), without the dashes. */
  flags?: readonly string[];
  /** What to say when the first missing required positional is this one, instead of `missing <name>`. */
  ifMissing?: Readonly<Record<string, string>>;
}

/** Parsed arguments: positionals by name, option values by name, flags as booleans. */
export interface ParsedArgs {
  positional: Record<string, string | undefined>;
  values: Record<string, string | undefined>;
  flags: Record<string, boolean>;
  help: boolean;
}

/**
 * Parses argv (without node and script) against `spec`; throws {@link UsageError}. `node:util`'s
 * parser splits the arguments into tokens (it runs non-strict so that every mistake reaches the
 * checks below, which word it the same way for every command).
 */
export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const required = spec.positional ?? [];
  const optional = spec.optionalPositional ?? [];
  const valueNames = new Set(spec.values ?? []);
  const flagNames = new Set(spec.flags ?? []);
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const name of valueNames) options[name] = { type: "string" };
  for (const name of flagNames) options[name] = { type: "boolean" };
  const { tokens } = tokenize({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const rest: string[] = [];
  const values: Record<string, string | undefined> = {};
  const flags: Record<string, boolean> = Object.fromEntries([...flagNames].map((f) => [f, false]));
  let help = false;
  for (const token of tokens) {
    if (token.kind === "positional") rest.push(token.value);
    if (token.kind !== "option") continue;
    const { name, rawName, value } = token;
    if (name === "help" && (rawName === "-h" || rawName === "--help")) {
      help = true;
    } else if (!rawName.startsWith("--") || (!valueNames.has(name) && !flagNames.has(name))) {
      throw new UsageError(`unknown option ${rawName}`);
    } else if (flagNames.has(name)) {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
    } else {
      if (value === undefined || value === "" || value.startsWith("--"))
        throw new UsageError(`--${name} needs a value`);
      if (values[name] !== undefined) throw new UsageError(`--${name} given twice`);
      values[name] = value;
    }
  }
  const positional: Record<string, string | undefined> = {};
  if (!help) {
    if (rest.length < required.length) {
      const said = spec.ifMissing?.[required[rest.length]];
      if (said !== undefined) throw new UsageError(said);
      throw new UsageError(
        `missing ${required
          .slice(rest.length)
          .map((n) => `<${n}>`)
          .join(" ")}`,
      );
    }
    if (rest.length > required.length + optional.length) {
      const extra = rest.slice(required.length + optional.length);
      throw new UsageError(`unexpected argument${extra.length > 1 ? "s" : ""}: ${extra.join(" ")}`);
    }
    [...required, ...optional].forEach((n, i) => (positional[n] = rest[i]));
  }
  return { positional, values, flags, help };
}

/** Where a command writes; injectable so tests run {@link Cli} functions in-process. */
export interface CliIo {
  stdout(line: string): void;
  stderr(line: string): void;
}

/** The process's own streams. */
export const processIo: CliIo = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
};

/** What a command body gets besides its arguments. */
export interface CliContext {
  io: CliIo;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM (how Pulumi cancels a command) when run as a script. */
  signal?: AbortSignal;
}

/** A command: argv in, exit code out; never throws and never calls `process.exit`. */
export type Cli = (argv: readonly string[], io?: CliIo, ctx?: Partial<Omit<CliContext, "io">>) => Promise<number>;

/** Defines a command from its name, usage text, argument spec and body. */
export function defineCli<A>(o: {
  /** Prefix of every error line (`smoke`, `healthGate`). */
  name: string;
  /** One or more lines starting with `usage:`. */
  usage: string;
  spec: ArgSpec;
  /** Turns the parsed arguments into the body's input; throw {@link UsageError} for bad values. */
  parse: (args: ParsedArgs, env: NodeJS.ProcessEnv) => A;
  /** The command itself: returns its exit code; any error it throws becomes `<name>: <message>`, exit 1. */
  run: (args: A, ctx: CliContext) => Promise<number> | number;
}): Cli {
  return async (argv, io = processIo, ctx = {}) => {
    const context: CliContext = { io, env: ctx.env ?? process.env, signal: ctx.signal };
    let args: A;
    try {
      const parsed = parseArgs(argv, o.spec);
      if (parsed.help) {
        io.stdout(o.usage);
        return 0;
      }
      args = o.parse(parsed, context.env);
    } catch (err) {
      if (!(err instanceof UsageError)) return fail(o.name, err, io);
      io.stderr(`${o.name}: ${err.message}`);
      io.stderr(o.usage);
      return 2;
    }
    try {
      return await o.run(args, context);
    } catch (err) {
      return fail(o.name, err, io);
    }
  };
}

function fail(name: string, err: unknown, io: CliIo): number {
  io.stderr(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
}

/**
 * Runs a command as the process's main and sets the exit code once it returns (so buffered output
 * is flushed first). `cancellable`: SIGINT/SIGTERM abort the command's signal instead of killing
 * the process, for commands that clean up or report when cancelled.
 */
export function runAsMain(cli: Cli, opts: { cancellable?: boolean } = {}): void {
  let signal: AbortSignal | undefined;
  if (opts.cancellable) {
    const controller = new AbortController();
    const cancel = (sig: string) => (): void => controller.abort(new Error(`cancelled by ${sig}`));
    process.once("SIGINT", cancel("SIGINT"));
    process.once("SIGTERM", cancel("SIGTERM"));
    signal = controller.signal;
  }
  void cli(process.argv.slice(2), processIo, { signal }).then((code) => {
    process.exitCode = code;
  });
}
