/**
 * `npm run drift -- <stack> [--outputs-file <file.json>]`: read-only drift check. Compares the live
 * app (GET /apps/:id) with what the stack's last `up` applied, read from its outputs
 * (`pulumi stack output --json --show-secrets -s <stack>`, or a file holding that JSON). Exit 0: no
 * drift; 1: drift (each difference named; secret values never shown); 2: could not check.
 * Token: CLOUDRON_TOKEN, else the `cloudron login` for the server in ~/.cloudron.json.
 */
import * as fs from "node:fs";
import { execFileSync } from "node:child_process";
import { CloudronApi, CloudronApiError, resolveToken } from "../../cloudron/client";
import { computeDrift, driftOutputsSchema, formatDrift } from "./drift";
import { defineCli, runAsMain } from "../../lib/cli";

const USAGE = "usage: npm run drift -- <stack> [--outputs-file <file.json>]";

/** Stack outputs: from a file, or from the Pulumi CLI (secrets opened, since managedEnv is one). */
function readOutputs(stack: string, file: string | undefined): string {
  if (file) return fs.readFileSync(file, "utf8");
  return execFileSync("pulumi", ["stack", "output", "--json", "--show-secrets", "-s", stack], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** The drift command; its body prints the report (stdout) and returns 0 no drift, 1 drift, 2 could not check. */
export const driftCli = defineCli({
  name: "drift",
  usage: USAGE,
  spec: { positional: ["stack"], values: ["outputs-file"] },
  parse: (a) => ({ stack: a.positional.stack!, file: a.values["outputs-file"] }),
  run: ({ stack, file }, { io, env }) => checkDrift(stack, file, io.stdout, env),
});

/** In-process entry (tests): report lines to `out`, usage mistakes to `errOut`. */
export function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s + "\n"),
  errOut: (s: string) => void = (s) => process.stderr.write(s + "\n"),
): Promise<number> {
  return driftCli(argv, { stdout: out, stderr: errOut });
}

async function checkDrift(
  stack: string,
  file: string | undefined,
  out: (s: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  let text: string;
  try {
    text = readOutputs(stack, file);
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: string };
    const why =
      e.code === "ENOENT"
        ? file
          ? `no file ${file}`
          : "the pulumi CLI is not on PATH (or pass --outputs-file)"
        : (e.stderr || e.message).trim().split("\n").pop();
    out(`drift: cannot read the outputs of stack ${stack}: ${why}`);
    return 2;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    out(`drift: the outputs of stack ${stack} are not JSON`);
    return 2;
  }
  const parsed = driftOutputsSchema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? "(outputs)")))].join(", ");
    out(
      `drift: stack ${stack} has no usable outputs (${fields}); run \`pulumi up -s ${stack}\` once with this ` +
        `version first`,
    );
    return 2;
  }
  const outputs = parsed.data;
  try {
    const { token } = resolveToken({ server: outputs.cloudronServer, envToken: env.CLOUDRON_TOKEN || undefined });
    const api = new CloudronApi({
      server: outputs.cloudronServer,
      token,
      taskTimeoutSeconds: 60,
      busyWaitSeconds: 0,
      log: () => undefined,
    });
    for (const v of Object.values(outputs.managedEnv)) api.mask.addSecret(v);
    let app;
    try {
      app = await api.getApp(outputs.appId, "drift");
    } catch (err) {
      if (err instanceof CloudronApiError && err.kind === "not_found") {
        out(`DRIFT ${stack}: app ${outputs.appId} (${outputs.location}) is gone from ${outputs.cloudronServer}`);
        return 1;
      }
      throw err;
    }
    const report = computeDrift(outputs, app);
    // Plain values may be printed; secret ones never reach the text (computeDrift names them only).
    out(formatDrift(stack, outputs, report));
    return report.differences.length ? 1 : 0;
  } catch (err) {
    out(`drift: could not check: ${(err as Error).message}`);
    return 2;
  }
}

if (require.main === module) runAsMain(driftCli);
