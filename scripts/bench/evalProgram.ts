/**
 * One timed program evaluation under plain Pulumi mocks (no command runs): prints the milliseconds
 * from `require` of the program to the last resource registration. Used by scripts/bench.ts to
 * compare the deploy program with a one-resource program, each in a fresh process.
 * Usage: evalProgram.ts <deploy|one-resource>
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

const which = process.argv[2];
const root = path.resolve(__dirname, "..", "..");

async function main() {
  let registered = 0;
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered++;
        const state: Record<string, unknown> = { ...args.inputs, stdout: "", stderr: "", result: "x".repeat(48), repoDigest: "r@sha256:0" };
        return { id: `${args.name}-id`, state };
      },
      call: () => ({}),
    },
    "communityrule",
    "staging",
    false,
  );
  pulumi.runtime.setAllConfig(
    {
      "communityrule:location": "staging.communityrule.info",
      "communityrule:cloudronServer": "my.medlab.host",
      // build: true keeps the evaluation offline (build: false asks the registry about the tag).
      "communityrule:build": "true",
      "communityrule:registryUsername": "bench",
      "communityrule:registryPassword": "bench-password-not-real",
      "communityrule:appDir": path.join(root, "lifecycle", "fixtures", "community-rule"),
      "communityrule:env": JSON.stringify({ SMTP_FROM: "Community Rule <hello@communityrule.info>", UPLOAD_ROOT: "/app/data/uploads" }),
    },
    ["communityrule:registryPassword"],
  );
  const started = process.hrtime.bigint();
  await pulumi.runtime.runInPulumiStack(async () => {
    if (which === "deploy") {
      const program = require(path.join(root, "index.ts")) as () => Promise<Record<string, unknown>>;
      return program();
    }
    const command = require("@pulumi/command") as typeof import("@pulumi/command");
    const one = new command.local.Command("one", { create: "true" });
    return { stdout: one.stdout };
  });
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  await settings.waitForRPCs();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(JSON.stringify({ which, ms, registered }) + "\n");
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(String(e?.stack ?? e) + "\n");
  process.exit(1);
});
