/**
 * Runs the `cloudron` CLI without a shell and without putting the API token in argv.
 *
 * With a token, each call gets a throw-away HOME holding a private `.cloudron.json` (the file
 * `cloudron login` writes), removed afterwards. Without one, the operator's own HOME (their
 * `cloudron login`) is used. Either way the caller checks, via {@link CloudronCli.inspect}, that the
 * CLI talks to the configured server: a wrong guess about where the CLI reads credentials shows
 * up as "not logged in" or as another server, never as a silent success.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface CloudronCliOptions {
  /** Dashboard host, e.g. my.medlab.host (no scheme). */
  server: string;
  /** API token; when absent the operator's own login is used. Never logged. */
  token?: string;
  /** Hard bound per call; the CLI has no timeout of its own. */
  timeoutMs: number;
  /** Receives progress lines meant for the operator (stderr of the tool). */
  log?: (line: string) => void;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A failed CLI call: names the step and carries the CLI's own words (secrets masked). */
export class CloudronCliError extends Error {
  constructor(
    message: string,
    public readonly result?: CliResult,
  ) {
    super(message);
    this.name = "CloudronCliError";
  }
}

/** Builds the `.cloudron.json` the CLI writes on `cloudron login` (shape from Cloudron's push action). */
export function buildCredentialsFile(server: string, token: string): string {
  return JSON.stringify({ cloudrons: { default: server, [server]: { apiEndpoint: server, token } } }, null, 2);
}

/** True when an executable named `cloudron` is on PATH. */
export function isCloudronOnPath(env: NodeJS.ProcessEnv = process.env): boolean {
  const found = spawnSync("sh", ["-c", "command -v cloudron"], { env, encoding: "utf8" });
  return found.status === 0 && found.stdout.trim() !== "";
}

export class CloudronCli {
  constructor(private readonly opts: CloudronCliOptions) {}

  /** Replaces every occurrence of the token (if any) so no output we relay can leak it. */
  mask(text: string): string {
    const t = this.opts.token;
    return t ? text.split(t).join("[secret]") : text;
  }

  /**
   * Runs `cloudron <args>`; `cwd` matters for install/update, which read CloudronManifest.json
   * from the current directory. stdin is closed so no prompt can wait for an answer.
   */
  async run(args: string[], opts: { cwd?: string; allowFailure?: boolean; step: string }): Promise<CliResult> {
    const home = this.opts.token ? this.makeHome() : undefined;
    try {
      const env = { ...process.env };
      if (home) env.HOME = home;
      const result = await spawnWithTimeout("cloudron", args, { cwd: opts.cwd, env, timeoutMs: this.opts.timeoutMs });
      const masked = { code: result.code, stdout: this.mask(result.stdout), stderr: this.mask(result.stderr) };
      if (result.timedOut) {
        throw new CloudronCliError(
          `${opts.step}: \`cloudron ${args[0]}\` did not finish within ${Math.round(this.opts.timeoutMs / 1000)} s ` +
            `and was stopped. Check the app's task in the Cloudron dashboard before retrying.`,
          masked,
        );
      }
      if (masked.code !== 0 && !opts.allowFailure) {
        throw new CloudronCliError(
          `${opts.step}: \`cloudron ${args.slice(0, 2).join(" ")}\` exited ${masked.code}: ${excerpt(masked.stderr || masked.stdout)}`,
          masked,
        );
      }
      return masked;
    } finally {
      if (home) fs.rmSync(home, { recursive: true, force: true });
    }
  }

  private makeHome(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudron-home-"));
    fs.chmodSync(dir, 0o700);
    fs.writeFileSync(path.join(dir, ".cloudron.json"), buildCredentialsFile(this.opts.server, this.opts.token ?? ""), {
      mode: 0o600,
    });
    return dir;
  }
}

/** Last meaningful lines of CLI output, single-spaced, bounded. */
export function excerpt(text: string, max = 400): string {
  const oneLine = text.trim().split("\n").slice(-6).join(" | ").replace(/\s+/g, " ");
  return oneLine.length > max ? oneLine.slice(0, max) + "…" : oneLine || "(no output)";
}

interface SpawnOutcome extends CliResult {
  timedOut: boolean;
}

/** Spawns without a shell; kills the process group on timeout so a hung CLI cannot hold `up`. */
export function spawnWithTimeout(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<SpawnOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid ?? 0), "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, opts.timeoutMs);
    child.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === "ENOENT") {
        reject(new CloudronCliError(`the \`${cmd}\` CLI is not on PATH: install it with \`npm install -g cloudron\``));
      } else reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr, timedOut });
    });
  });
}
