/**
 * The seed step's operation (`node build/tools/cloudronApp.js seed`, started by the seed provider):
 * waits for the app to be idle, runs `node prisma/seed.bundle.cjs` in it (steps/seed/seedExec.ts),
 * and on a failure explains it with the seed floor, the app's log and the seed's last lines.
 */
import { parseRequest, seedRequestSchema } from "../../cloudron/requests";
import { contextFor, OperationError, type ToolOperation } from "../../cloudron/operationSupport";
import { formatFailureReport, gatherEvidence } from "../../cloudron/failureReport";
import { runningFromApp } from "../../release/releaseRecord";
import { runSeedExec } from "./seedExec";
import { seedFailureBelowFloor } from "./seedContent";

/** The tool's `seed`: returns `{ ok, output }` (the seed's last lines) or throws with the evidence. */
export const runSeed: ToolOperation = async (io, mask) => {
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
    const masked = (t: string) => ctx.api.mask.apply(t);
    const report = formatFailureReport({ step: "seed", app: req.location, message: output }, evidence, masked);
    const exit = r.status === undefined ? "gave no exit marker (exec was cut off?)" : `exited ${r.status}`;
    throw new OperationError(
      `seed: node prisma/seed.bundle.cjs ${exit}; ` +
        (belowFloor ? `${belowFloor}. ` : "") +
        `the seed is not recorded and runs again on the next up. Seed output:\n${output}\n${report}`,
    );
  }
  return { ok: true, output: r.output.split("\n").slice(-5).join("\n") };
};
