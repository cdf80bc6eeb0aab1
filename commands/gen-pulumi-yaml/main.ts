/**
 * `npm run gen:pulumi-yaml`: writes what is derived from the schema (config/schema.ts): Pulumi.yaml's
 * `config:` declarations (config/pulumiYaml.ts) and README's config table, between its
 * `<!-- config-table:start -->` / `<!-- config-table:end -->` lines (config/configTable.ts). Run it
 * after adding or changing a key; `--check` only says whether both are current (exit 1 when not).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { findProjectDir } from "../../lib/projectDir";
import { renderPulumiYaml } from "../../config/pulumiYaml";
import { withConfigTable } from "../../config/configTable";

const projectDir = findProjectDir(__dirname);
const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "");
const pulumiYaml = path.join(projectDir, "Pulumi.yaml");
const readme = path.join(projectDir, "README.md");
const targets = [
  { file: pulumiYaml, current: read(pulumiYaml), wanted: renderPulumiYaml() },
  { file: readme, current: read(readme), wanted: withConfigTable(read(readme)) },
];
const stale = targets.filter((t) => t.current !== t.wanted);
const names = stale.map((t) => path.basename(t.file)).join(" and ");
if (stale.length === 0) process.stdout.write("Pulumi.yaml and README's config table are current\n");
else if (process.argv.includes("--check")) {
  process.stderr.write(`gen:pulumi-yaml: ${names} differ from config/schema.ts; run npm run gen:pulumi-yaml\n`);
  process.exit(1);
} else {
  for (const t of stale) fs.writeFileSync(t.file, t.wanted);
  process.stdout.write(`${names} written from config/schema.ts\n`);
}
