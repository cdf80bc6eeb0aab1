import * as pulumi from "@pulumi/pulumi";
import { seedProvider, type SeedOutputs } from "./seedProvider";

/** Arguments of {@link SeedOnce}. */
export interface SeedOnceArgs {
  server: string;
  location: string;
  /** Opaque value (communityrule:seedRun); a new value runs the seed again. */
  seedRun: string;
  /** Image the app runs; recorded with the seed. */
  image: pulumi.Input<string>;
  /** The health gate's result: the seed waits for the gate to pass for the current image. */
  gate: pulumi.Input<string>;
  /** API token (secret); absent: the operator's own `cloudron login`. */
  token?: pulumi.Input<string>;
  timeoutSeconds?: number;
}

/**
 * Runs `node prisma/seed.bundle.cjs` in the app once per environment, after the health gate
 * passed. Later `up`s do nothing unless `seedRun` changes; a failed seed is not recorded, so the
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
    const outputs: Record<keyof Omit<SeedOutputs, "location" | "seedRun">, undefined> = {
      seededAt: undefined,
      seededImage: undefined,
      seedOutput: undefined,
    };
    super(
      seedProvider,
      name,
      {
        server: args.server,
        location: args.location,
        seedRun: args.seedRun,
        image: args.image,
        gate: args.gate,
        timeoutSeconds: args.timeoutSeconds ?? 1800,
        cloudronToken: args.token ? pulumi.secret(args.token) : undefined,
        ...outputs,
      },
      opts,
      "communityrule",
      "SeedOnce",
    );
  }
}
