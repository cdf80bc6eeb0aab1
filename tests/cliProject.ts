/**
 * Test helper: a throw-away copy of this project (node_modules linked, not copied) in which a test
 * can edit a stack file and run the operator commands as a user would, in a real child process
 * with its own TMPDIR so leftovers can be counted: through npm (`npm run <script>`), or the
 * package.json script line itself (runScript).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";

export const PROJECT = path.resolve(__dirname, "..");
const SKIP = new Set(["node_modules", ".git", ".artifacts"]);

export interface ProjectCopy {
  dir: string;
  /** Private TMPDIR handed to every command run here: it must be empty after each command. */
  tmp: string;
  /** Replace or append lines in Pulumi.<stack>.yaml (text edits, as an operator would). */
  writeStack(stack: string, text: string): void;
  stackText(stack: string): string;
  remove(): void;
}

export function copyProject(): ProjectCopy {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cr-cli-"));
  const dir = path.join(root, "deploy");
  const tmp = path.join(root, "tmp");
  fs.mkdirSync(tmp);
  fs.cpSync(PROJECT, dir, {
    recursive: true,
    filter: (src) => !SKIP.has(path.basename(src)) || path.dirname(src) !== PROJECT,
  });
  fs.symlinkSync(path.join(PROJECT, "node_modules"), path.join(dir, "node_modules"));
  return {
    dir,
    tmp,
    writeStack: (stack, text) => fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), text),
    stackText: (stack) => fs.readFileSync(path.join(dir, `Pulumi.${stack}.yaml`), "utf8"),
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command line (argv, no shell) in `cwd`; resolves when every writer of its output is done. */
export function runCommand(
  cwd: string,
  argv: string[],
  opts: {
    env?: Record<string, string>;
    onStdout?: (soFar: string, child: import("node:child_process").ChildProcess) => void;
    detached?: boolean;
  } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: opts.detached,
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, child);
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * What `npm run -s <script> -- <args>` runs, without npm in between: the package.json script line,
 * which is always `node bin/launch.cjs <command>` (checked here), with the args appended, in the
 * project `p` (a copy, with its private TMPDIR, or launch.test.ts's small project). npm itself costs
 * about 0.15 s of CPU per run on the 2-core machine and adds nothing to what these tests check; the
 * tests that are about npm's part (its banner on stdout, exit codes and Ctrl-C passed through it,
 * `npm run` as the README spells it) use npmRun.
 */
export function runScript(
  p: { dir: string; tmp?: string },
  script: string,
  args: string[],
  opts: { env?: Record<string, string> } = {},
): Promise<CliResult> {
  const line = (
    JSON.parse(fs.readFileSync(path.join(p.dir, "package.json"), "utf8")) as { scripts: Record<string, string> }
  ).scripts[script];
  const launched = /^node bin\/launch\.cjs ([\w/-]+)$/.exec(line ?? "");
  if (!launched)
    throw new Error(`package.json script ${script} is ${JSON.stringify(line)}, not \`node bin/launch.cjs <command>\``);
  return runCommand(p.dir, [process.execPath, "bin/launch.cjs", launched[1], ...args], {
    env: { ...(p.tmp === undefined ? {} : { TMPDIR: p.tmp }), ...opts.env },
  });
}

/** `npm run <script> -- <args>` in a project copy, with the copy's private TMPDIR. */
export function npmRun(
  p: ProjectCopy,
  script: string,
  args: string[],
  opts: { silent?: boolean; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return runCommand(p.dir, ["npm", "run", ...(opts.silent ? ["-s"] : []), script, "--", ...args], {
    env: { TMPDIR: p.tmp, ...opts.env },
  });
}

/** Entries left in a directory (a command's private TMPDIR must be empty afterwards). */
export function leftovers(dir: string): string[] {
  // v8-compile-cache (loaded by some dependencies) keeps a shared cache there on purpose: not a leftover.
  return fs.readdirSync(dir).filter((f) => !f.startsWith("v8-compile-cache"));
}
