/**
 * The seed, the one thing still run through the `cloudron` CLI: the API description has no way to
 * run a command in the app and read its output and exit status (`POST /apps/:id/exec` only creates
 * an exec; the CLI attaches over a websocket). Runs
 *   cloudron exec --app <location> -- sh -c 'node prisma/seed.bundle.cjs; echo "__SEED_EXIT__:$?"'
 * without a shell on our side and without the token in argv: the token sits in a `.cloudron.json`
 * in a throw-away HOME under ONE known directory, removed afterwards; homes left by killed runs
 * are removed at the next start.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** Where every throw-away HOME lives: `<tmp>/communityrule-cloudron-homes/home-<pid>-<random>`. */
export function cloudronHomesDir(tmpDir: string = os.tmpdir()): string {
  return path.join(tmpDir, "communityrule-cloudron-homes");
}

/** The shell line run inside the app; the marker carries the exit status `cloudron exec` may drop. */
export const SEED_SHELL_LINE = 'node prisma/seed.bundle.cjs; echo "__SEED_EXIT__:$?"';

/** The `.cloudron.json` that `cloudron login` writes, for one server. */
export function buildCredentialsFile(server: string, token: string): string {
  return JSON.stringify({ cloudrons: { default: server, [server]: { apiEndpoint: server, token } } }, null, 2);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes homes whose creating process is gone (a killed run must not leave a token on disk).
 * Homes of live processes (a parallel `up` of another stack) are left alone. Returns what it removed.
 */
export function removeStaleHomes(
  dir: string = cloudronHomesDir(),
  alive: (pid: number) => boolean = isAlive,
): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of entries) {
    const pid = Number(/^home-(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Creates a private HOME holding the login for `server`; returns it and its cleanup. */
export function makeThrowawayHome(
  server: string,
  token: string,
  dir: string = cloudronHomesDir(),
): { home: string; cleanup: () => void } {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const home = fs.mkdtempSync(path.join(dir, `home-${process.pid}-`));
  fs.chmodSync(home, 0o700);
  fs.writeFileSync(path.join(home, ".cloudron.json"), buildCredentialsFile(server, token), { mode: 0o600 });
  return { home, cleanup: () => fs.rmSync(home, { recursive: true, force: true }) };
}

export interface SeedOutcome {
  ok: boolean;
  /** Exit status the marker carried, or undefined when there was no marker. */
  status?: string;
  output: string;
  stderr: string;
}

/** Reads the seed's output: the marker's status, and the output without the marker. */
export function readSeedOutput(stdout: string, stderr: string): SeedOutcome {
  const status = /__SEED_EXIT__:(\d+)/.exec(stdout)?.[1];
  const output = stdout.replace(/__SEED_EXIT__:\d+\s*/, "").trim();
  return { ok: status === "0", status, output, stderr: stderr.trim() };
}

/** Runs the seed in the app through `cloudron exec`, bounded by `timeoutMs`. */
export async function runSeedExec(o: {
  server: string;
  token: string;
  location: string;
  timeoutMs: number;
}): Promise<SeedOutcome> {
  removeStaleHomes();
  const { home, cleanup } = makeThrowawayHome(o.server, o.token);
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env.CLOUDRON_TOKEN;
    for (const k of Object.keys(env)) if (k.startsWith("CR_SECRET_")) delete env[k];
    const r = await spawnWithTimeout("cloudron", ["exec", "--app", o.location, "--", "sh", "-c", SEED_SHELL_LINE], {
      env,
      timeoutMs: o.timeoutMs,
    });
    if (r.timedOut) {
      return {
        ok: false,
        output: r.stdout.trim(),
        stderr: `cloudron exec did not finish within ${Math.round(o.timeoutMs / 1000)} s and was stopped`,
      };
    }
    return readSeedOutput(r.stdout, r.stderr);
  } finally {
    cleanup();
  }
}

/** Spawns without a shell; kills the process group on timeout so a hung CLI cannot hold `up`. */
export function spawnWithTimeout(
  cmd: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
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
      if (err.code === "ENOENT")
        reject(
          new Error(
            `the \`${cmd}\` CLI is not on PATH: install it with \`npm install -g cloudron\` (the seed runs through ` +
              `\`cloudron exec\`)`,
          ),
        );
      else reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr, timedOut });
    });
  });
}
