import * as pulumi from "@pulumi/pulumi";
import type { ServerAndTimeouts } from "../../cloudron/requests";
import { cloudronToolArgv } from "../../lib/commandLines";
import { buildSeedRequest, seedProvider, type SeedOutputs } from "./seedProvider";

/** Arguments of {@link SeedOnce}. */
export interface SeedOnceArgs {
  /** Server, task timeout (bounds the exec) and busy wait: the same connection every Cloudron step gets. */
  connection: ServerAndTimeouts;
  location: string;
  /** Opaque value (communityrule:seedRun); a new value runs the seed again. */
  seedRun: string;
  /** Fingerprint of the seed's sources in what is deployed; a new one runs the seed again, once. */
  seedContent: string;
  /** communityrule:seedFloor, so a failed seed on an older image is explained as that. */
  seedFloor?: string;
  /** Image the app runs; recorded with the seed. */
  image: pulumi.Input<string>;
  /** The Cloudron app id; a new app (a new database) is seeded again. */
  appId: pulumi.Input<string>;
  /** The health gate's result: the seed waits for the gate to pass for the current image. */
  gate: pulumi.Input<string>;
  /** API token (secret); absent: the token `cloudron login` stored for the server. */
  token?: pulumi.Input<string>;
}

/**
 * Runs `node prisma/seed.bundle.cjs` in the app once per environment, after the health gate
 * passed. Later `up`s do nothing unless `seedRun` or the seed's sources change; a failed seed is not recorded, so the
 * next `up` retries it. Never runs during preview (dynamic providers only act on `up`).
 */
export class SeedOnce extends pulumi.dynamic.Resource {
  /** When the seed last succeeded (ISO 8601). */
  declare public readonly seededAt: pulumi.Output<string>;
  /** Image the app ran when the seed succeeded. */
  declare public readonly seededImage: pulumi.Output<string>;
  /** Last lines the seed printed. */
  declare public readonly seedOutput: pulumi.Output<string>;

  constructor(name: string, args: SeedOnceArgs, opts?: pulumi.CustomResourceOptions) {
    const outputs: Record<keyof Omit<SeedOutputs, "location" | "seedRun" | "appId" | "seedContent">, undefined> = {
      seededAt: undefined,
      seededImage: undefined,
      seedOutput: undefined,
    };
    super(
      seedProvider,
      name,
      {
        request: buildSeedRequest(args.connection, args.location, args.seedFloor),
        location: args.location,
        seedRun: args.seedRun,
        seedContent: args.seedContent,
        image: args.image,
        appId: args.appId,
        gate: args.gate,
        cloudronToken: args.token ? pulumi.secret(args.token) : undefined,
        toolArgv: cloudronToolArgv("seed"),
        ...outputs,
      },
      opts,
      "communityrule",
      "SeedOnce",
    );
  }
}
