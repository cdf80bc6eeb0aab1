/**
 * The program behind the Cloudron command resources and the seed provider:
 *   node build/tools/cloudronApp.js <deploy|uninstall|env-apply|seed>
 * The request arrives as JSON on stdin and is parsed with its contract (cloudron/requests.ts);
 * secrets arrive only through the environment (CLOUDRON_TOKEN, CR_SECRET_<NAME>). Progress goes to
 * stderr, so it streams during `pulumi up`; the one JSON line on stdout is the result Pulumi
 * records (names and ids, never a value). Every message is masked: the token, our secrets, and
 * every env value of every app an answer carried.
 */
import { lastJsonLine } from "../lib/jsonLine";
import { secretsFromEnv } from "../lib/secretEnv";
import { CloudronApi, CloudronApiError, resolveToken, SecretMask } from "../cloudron/client";
import {
  ContractError,
  deployRequestSchema,
  deployResultSchema,
  envApplyRequestSchema,
  parseRequest,
  parseResultLine,
  seedRequestSchema,
  uninstallRequestSchema,
  type Connection,
} from "../cloudron/requests";
import { applyEnv, deploy, OperationError, uninstall, type OperationContext } from "../cloudron/operations";
import { runSeedExec } from "../steps/seed/seedExec";
import { formatFailureReport, gatherEvidence } from "../cloudron/failureReport";
import { likelyCause } from "../steps/health/troubleshooting";
import { defineCli, UsageError, type Cli } from "../lib/cli";
import { runningFromApp } from "../release/releaseRecord";
import { seedFailureBelowFloor } from "../steps/seed/seedContent";

/** What a run of the tool gets from its process; injectable for tests. */
export interface ToolIo {
  stdin: string;
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  err: (line: string) => void;
}

function contextFor(connection: Connection, io: ToolIo, mask: SecretMask): OperationContext & { token: string } {
  const { token } = resolveToken({ server: connection.server, envToken: io.env.CLOUDRON_TOKEN || undefined });
  const api = new CloudronApi({
    server: connection.server,
    token,
    taskTimeoutSeconds: connection.taskTimeoutSeconds,
    busyWaitSeconds: connection.busyWaitSeconds,
    log: io.err,
    mask,
  });
  return { api, token, secrets: secretsFromEnv(io.env), previousStdout: io.env.PULUMI_COMMAND_STDOUT };
}

/** Errors after which the app's and the task's logs say more than the error does. */
const LOGGED_FAILURES = new Set(["task_failed", "task_timeout", "app_error"]);

/**
 * Runs an operation; when a Cloudron task fails or times out, or the app is in an error state, the
 * error gets the app's and the task's last log lines and the troubleshooting row they point to.
 */
async function withFailureLogs<T>(
  api: CloudronApi,
  o: { step: string; location: string; appId?: string },
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof CloudronApiError) || !LOGGED_FAILURES.has(err.kind)) throw err;
    const evidence = await gatherEvidence(api, { ...o, taskId: err.taskId });
    const mask = (t: string) => api.mask.apply(t);
    const report = formatFailureReport({ step: o.step, app: o.location, message: err.message }, evidence, mask);
    throw new OperationError(`${err.message}\n${report}`);
  }
}

const OPERATIONS: Record<string, (io: ToolIo, mask: SecretMask) => Promise<unknown>> = {
  async deploy(io, mask) {
    const req = parseRequest(deployRequestSchema, io.stdin, "deploy");
    const ctx = contextFor(req.connection, io, mask);
    const previous = parseResultLine(deployResultSchema.partial(), ctx.previousStdout) ?? {};
    return withFailureLogs(ctx.api, { step: "deploy", location: req.location }, () => deploy(req, ctx, previous));
  },
  async uninstall(io, mask) {
    const req = parseRequest(uninstallRequestSchema, io.stdin, "uninstall");
    const ctx = contextFor(req.connection, io, mask);
    return uninstall(req, ctx, parseResultLine(deployResultSchema.partial(), ctx.previousStdout) ?? {});
  },
  async "env-apply"(io, mask) {
    const req = parseRequest(envApplyRequestSchema, io.stdin, "env");
    const ctx = contextFor(req.connection, io, mask);
    const previous = lastJsonLine(ctx.previousStdout);
    return withFailureLogs(ctx.api, { step: "env", location: req.location, appId: req.appId }, () =>
      applyEnv(req, ctx, previous),
    );
  },
  async seed(io, mask) {
    const req = parseRequest(seedRequestSchema, io.stdin, "seed");
    const ctx = contextFor(req.connection, io, mask);
    await ctx.api.checkAccess("seed");
    const app = await ctx.api.findApp(req.location, "seed");
    if (!app) throw new OperationError(`seed: ${req.location} is not installed; the deploy step must run first.`);
    await ctx.api.waitUntilIdle(app.id, "seed");
    ctx.api.log(`seed: running node prisma/seed.bundle.cjs in ${req.location} (cloudron exec)`);
    const r = await runSeedExec({
      server: req.connection.server,
      token: ctx.token,
      location: req.location,
      timeoutMs: req.connection.taskTimeoutSeconds * 1000,
    });
    if (!r.ok) {
      const output = `${r.output.split("\n").slice(-15).join("\n")}\n${r.stderr}`;
      // The code version that runs: its release record, else its image tag, else its manifest version.
      const belowFloor = req.seedFloor ? seedFailureBelowFloor(runningFromApp(app)?.version, req.seedFloor) : undefined;
      const evidence = await gatherEvidence(ctx.api, { step: "seed", appId: app.id });
      const mask = (t: string) => ctx.api.mask.apply(t);
      const report = formatFailureReport({ step: "seed", app: req.location, message: output }, evidence, mask);
      throw new OperationError(
        `seed: node prisma/seed.bundle.cjs ${r.status === undefined ? "gave no exit marker (exec was cut off?)" : `exited ${r.status}`}; ` +
          (belowFloor ? `${belowFloor}. ` : "") +
          `the seed is not recorded and runs again on the next up. Seed output:\n${output}\n${report}`,
      );
    }
    return { ok: true, output: r.output.split("\n").slice(-5).join("\n") };
  },
};

const USAGE = `usage: cloudronApp.ts <${Object.keys(OPERATIONS).join("|")}>  (the request is read from stdin as JSON)`;

/** The tool for one request (stdin is read before the command runs): prints the result as JSON. */
export function cloudronAppCli(stdin: string): Cli {
  return defineCli({
    name: "cloudronApp",
    usage: USAGE,
    spec: { positional: ["operation"] },
    parse: (a) => {
      const operation = a.positional.operation!;
      if (!Object.prototype.hasOwnProperty.call(OPERATIONS, operation))
        throw new UsageError(`unknown operation ${operation}`);
      return OPERATIONS[operation];
    },
    run: (operation, { io, env }) => perform(operation, { stdin, env, out: io.stdout, err: io.stderr }),
  });
}

/** In-process entry (tests); returns the exit code. */
export function main(argv: string[], io: ToolIo): Promise<number> {
  return cloudronAppCli(io.stdin)(argv, { stdout: io.out, stderr: io.err }, { env: io.env });
}

async function perform(run: (io: ToolIo, mask: SecretMask) => Promise<unknown>, io: ToolIo): Promise<number> {
  const mask = new SecretMask();
  mask.addSecret(io.env.CLOUDRON_TOKEN);
  for (const v of Object.values(secretsFromEnv(io.env))) mask.addSecret(v);
  const masked = (line: string) => mask.apply(line);
  const safeIo: ToolIo = { ...io, out: (l) => io.out(masked(l)), err: (l) => io.err(masked(l)) };
  try {
    const result = await run(safeIo, mask);
    safeIo.out(JSON.stringify(result));
    return 0;
  } catch (err) {
    const known = err instanceof CloudronApiError || err instanceof OperationError || err instanceof ContractError;
    const message = masked(err instanceof Error ? (known ? err.message : `${err.name}: ${err.message}`) : String(err));
    // API errors already carry their runbook action; a failed task or operation gets the
    // troubleshooting table's likely cause (image pull, migration crash, database).
    // A report with logs already names its likely cause.
    const apiOwnAction = err instanceof CloudronApiError && err.kind !== "task_failed";
    const cause = apiOwnAction || message.includes("likely cause") ? undefined : likelyCause(message);
    safeIo.err(`error: ${message}${cause ? `\nlikely cause: ${cause}` : ""}`);
    return 1;
  }
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (c: string) => (data += c));
    process.stdin.on("end", () => resolve(data));
    process.stdin.on("error", reject);
  });
}

if (require.main === module) {
  // process.exit, as before: a Pulumi command resource waits for this process, so nothing may keep it open.
  readStdin()
    .then((stdin) => cloudronAppCli(stdin)(process.argv.slice(2)))
    .then((code) => process.exit(code));
}
