/**
 * The program behind the Cloudron command resources and the seed provider:
 *   node build/tools/cloudronApp.js <deploy|uninstall|env-apply|seed>
 * A thin entry: it reads the request (JSON on stdin) and hands it to the step's operation, which
 * parses it with its contract (cloudron/requests.ts). Secrets arrive only through the environment
 * (CLOUDRON_TOKEN, CR_SECRET_<NAME>). Progress goes to stderr, so it streams during `pulumi up`; the
 * one JSON line on stdout is the result Pulumi records (names and ids, never a value).
 */
import { runToolOperation, type ToolIo, type ToolOperation } from "../cloudron/operationSupport";
import { runDeploy, runUninstall } from "../steps/app/operations";
import { runEnvApply } from "../steps/env/operation";
import { runSeed } from "../steps/seed/operation";
import { defineCli, UsageError, type Cli } from "../lib/cli";

/** Each operation's code is in its step's folder. */
const OPERATIONS: Record<string, ToolOperation> = {
  deploy: runDeploy,
  uninstall: runUninstall,
  "env-apply": runEnvApply,
  seed: runSeed,
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
    run: (operation, { io, env }) => runToolOperation(operation, { stdin, env, out: io.stdout, err: io.stderr }),
  });
}

/** In-process entry (tests); returns the exit code. */
export function main(argv: string[], io: ToolIo): Promise<number> {
  return cloudronAppCli(io.stdin)(argv, { stdout: io.out, stderr: io.err }, { env: io.env });
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
  // process.exit: a Pulumi command resource waits for this process, so nothing may keep it open.
  readStdin()
    .then((stdin) => cloudronAppCli(stdin)(process.argv.slice(2)))
    .then((code) => process.exit(code));
}
