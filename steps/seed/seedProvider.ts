import * as pulumi from "@pulumi/pulumi";
import type { SeedRequest } from "../../cloudron/requests";

/** Plain inputs the seed provider receives (after Pulumi resolved every Output). */
export interface SeedInputs {
  /** The seed request (cloudron/requests.ts), built by {@link buildSeedRequest}; sent to the tool on stdin. */
  request: SeedRequest;
  /** The app's location (also in the request); a new location re-creates the seed. */
  location: string;
  /** Opaque; a new value re-runs the seed (communityrule:seedRun). */
  seedRun: string;
  /**
   * Fingerprint of the seed's sources in what is deployed (steps/seed/seedContent.ts); a new one
   * re-runs the seed once; "" unknown.
   */
  seedContent: string;
  /** Image the app runs now; recorded with the seed, never a reason to re-run it. */
  image: string;
  /**
   * The Cloudron app id: a different app (reinstalled after it went missing) has a new, empty
   * database, so the seed runs again. Absent in seeds recorded before it was an input.
   */
  appId?: string;
  /** The health gate's result: the seed only runs once the gate passed for this image. */
  gate: string;
  /** API token (secret input; stays out of outputs). */
  cloudronToken?: string;
  /** How to start the seed tool (lib/commandLines.ts builds it; the provider holds no copy). */
  toolArgv: string[];
}

/** What a completed seed records. */
export interface SeedOutputs {
  location: string;
  appId?: string;
  seedRun: string;
  /** The seed sources' fingerprint the last successful seed ran with ("" before this was recorded). */
  seedContent?: string;
  seededAt: string;
  seededImage: string;
  seedOutput: string;
}

/** The seed request: where, and how patiently (the same connection every Cloudron step gets). */
export function buildSeedRequest(
  connection: SeedRequest["connection"],
  location: string,
  seedFloor?: string,
): SeedRequest {
  return { connection, location, ...(seedFloor ? { seedFloor } : {}) };
}

/**
 * Seed-once provider. Self-contained: Pulumi serializes this object into state and runs it in
 * another process, so every method imports what it needs and uses only its inputs.
 *
 * - create runs the seed (after the health gate, which the inputs make it wait for);
 * - diff re-runs it when `seedRun`, the seed's sources (`seedContent`) or the location change,
 *   never for a new image alone;
 * - update runs it again (that is what a new `seedRun` asks for);
 * - delete does nothing: destroying the stack does not un-seed a database.
 */
export const seedProvider: pulumi.dynamic.ResourceProvider<SeedInputs, SeedOutputs> = {
  async diff(_id: string, olds: SeedOutputs, news: SeedInputs) {
    const changed: string[] = [];
    if (olds.seedRun !== news.seedRun) changed.push("seedRun");
    // A state from before the fingerprint was recorded has none, and "" means the checkout could not
    // tell (a rollback to a release outside its history): neither alone is a reason to re-seed.
    if (olds.seedContent !== undefined && news.seedContent !== "" && olds.seedContent !== news.seedContent)
      changed.push("seedContent");
    if (olds.location !== news.location) changed.push("location");
    // Only against a recorded id: a seed recorded before the id was kept is not re-run for it.
    if (olds.appId && news.appId && olds.appId !== news.appId) changed.push("appId");
    return {
      changes: changed.length > 0,
      replaces: changed.includes("location") ? ["location"] : [],
      deleteBeforeReplace: false,
    };
  },

  async create(inputs: SeedInputs) {
    const { execFile } = require("node:child_process") as typeof import("node:child_process");
    const run = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const env: NodeJS.ProcessEnv = { ...process.env };
        delete env.CLOUDRON_TOKEN;
        if (inputs.cloudronToken) env.CLOUDRON_TOKEN = inputs.cloudronToken;
        const [cmd, ...args] = inputs.toolArgv;
        const child = execFile(cmd, args, { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
          if (err) reject(new Error(stderr.trim() || err.message));
          else resolve(stdout);
        });
        // The request holds no secret (the token is in the environment).
        child.stdin?.end(JSON.stringify(inputs.request));
      });
    const stdout = await run();
    const result = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as { output?: string };
    const outs: SeedOutputs = {
      location: inputs.location,
      ...(inputs.appId ? { appId: inputs.appId } : {}),
      seedRun: inputs.seedRun,
      seedContent: inputs.seedContent,
      seededAt: new Date().toISOString(),
      seededImage: inputs.image,
      seedOutput: result.output ?? "",
    };
    return { id: `seed-${inputs.location}`, outs };
  },

  async update(id: string, olds: SeedOutputs, news: SeedInputs) {
    // A new seedRun or new seed sources: run it again. The dynamic-provider host calls methods on
    // the provider object, so `this` is the (deserialized) provider.
    const created = (await this.create!(news)) as { outs: SeedOutputs };
    if (news.seedContent === "") created.outs.seedContent = olds.seedContent;
    const why =
      olds.seedContent !== undefined && news.seedContent !== "" && olds.seedContent !== news.seedContent
        ? `the seed's sources changed (${olds.seedContent || "none"} → ${news.seedContent}): re-seeded once`
        : `seedRun changed: re-seeded`;
    return { outs: { ...created.outs, seedOutput: `${why}\n${created.outs.seedOutput}` } };
  },

  async delete() {
    // Seed data lives in the app's database; uninstalling the app removes it, nothing to undo.
  },
};
