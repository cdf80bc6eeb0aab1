/**
 * One program evaluation under Pulumi's mocks, in its own process, so the caller can time the
 * whole process (module loading included) the way a `pulumi preview` pays for it. Usage:
 *   node build/commands/bench/evalProgram.js <deploy|same-sdks>
 * `deploy` loads the compiled deploy program (package.json `main`, what the language host runs);
 * `same-sdks` loads the same four SDKs and declares one resource of each. Stack config comes as
 * JSON in EVAL_CONFIG ({ values, secretKeys }), so the caller decides what the program sees.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { findProjectDir } from "../../lib/projectDir";

const which = process.argv[2];
const projectDir = findProjectDir(__dirname);

async function main(): Promise<number> {
  let registered = 0;
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered++;
        const state: Record<string, unknown> = {
          ...args.inputs,
          stdout: "",
          stderr: "",
          result: "x".repeat(48),
          repoDigest: "r@sha256:0",
        };
        return { id: `${args.name}-id`, state };
      },
      call: () => ({}),
    },
    "communityrule",
    "staging",
    true,
  );
  const config = JSON.parse(process.env.EVAL_CONFIG ?? '{"values":{},"secretKeys":[]}') as {
    values: Record<string, string>;
    secretKeys: string[];
  };
  pulumi.runtime.setAllConfig(config.values, config.secretKeys);
  await pulumi.runtime.runInPulumiStack(async () => {
    if (which === "deploy") {
      // The language host's entry is package.json `main`; EVAL_ENTRY=index.ts measures the TypeScript source instead.
      const entry = process.env.EVAL_ENTRY ?? (require(path.join(projectDir, "package.json")) as { main: string }).main;
      const program = require(path.join(projectDir, entry)) as () => Promise<Record<string, unknown>>;
      return program();
    }
    const docker = require("@pulumi/docker") as typeof import("@pulumi/docker");
    const command = require("@pulumi/command") as typeof import("@pulumi/command");
    const random = require("@pulumi/random") as typeof import("@pulumi/random");
    const password = new random.RandomPassword("password", { length: 16 });
    const run = new command.local.Command("command", { create: "true" });
    new docker.Image("image", {
      imageName: "registry.example/app:1",
      build: { context: ".", platform: "linux/amd64" },
      skipPush: true,
    });
    // A dynamic resource too: its provider is serialized at construction, as the seed's is.
    const provider: pulumi.dynamic.ResourceProvider = {
      async create() {
        return { id: "once", outs: {} };
      },
    };
    class Once extends pulumi.dynamic.Resource {}
    new Once(provider, "dynamic", {}, {});
    return { stdout: run.stdout, length: password.length };
  });
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  await settings.waitForRPCs();
  process.stdout.write(JSON.stringify({ which, registered }) + "\n");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(String((e as Error)?.stack ?? e) + "\n");
    process.exit(1);
  },
);
