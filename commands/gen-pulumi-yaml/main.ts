/**
 * `npm run gen:pulumi-yaml`: writes Pulumi.yaml's `config:` declarations from the schema
 * (config/pulumiYaml.ts). Run it after adding or changing a key in
 * config/schema.ts; `--check` only says whether the file is current (exit 1 when not).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { findProjectDir } from "../../lib/projectDir";
import { renderPulumiYaml } from "../../config/pulumiYaml";

const projectDir = findProjectDir(__dirname);
const file = path.join(projectDir, "Pulumi.yaml");
const wanted = renderPulumiYaml(fs.readFileSync(path.join(projectDir, "README.md"), "utf8"));
const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
if (process.argv.includes("--check")) {
  if (current !== wanted) {
    process.stderr.write("gen:pulumi-yaml: Pulumi.yaml differs from config/schema.ts; run npm run gen:pulumi-yaml\n");
    process.exit(1);
  }
  process.stdout.write("Pulumi.yaml is current\n");
} else if (current === wanted) {
  process.stdout.write("Pulumi.yaml is current\n");
} else {
  fs.writeFileSync(file, wanted);
  process.stdout.write("Pulumi.yaml written from config/schema.ts\n");
}
