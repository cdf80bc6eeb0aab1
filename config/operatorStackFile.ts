/**
 * How the operator commands (plan, preflight, rehearse, restore-drill) open `Pulumi.<stack>.yaml`:
 * a missing file names the stacks that do exist, a YAML mistake names the file and line (the
 * config loader's {@link ConfigFileError}). The commands print its message as one line, never a
 * stack trace.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigFileError, stackFileEntries, stackFilePath } from "./stackFile";

export { ConfigFileError };

/** Stack names with a `Pulumi.<stack>.yaml` in `projectDir`, sorted. */
export function stacksIn(projectDir: string): string[] {
  return fs
    .readdirSync(projectDir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s)
    .sort();
}

/** Reads and syntax-checks a stack file; throws {@link ConfigFileError} saying what to do. */
export function readStackFile(projectDir: string, stack: string): { file: string; text: string } {
  const file = stackFilePath(projectDir, stack);
  const name = path.basename(file);
  if (!fs.existsSync(file)) {
    const stacks = stacksIn(projectDir);
    throw new ConfigFileError(
      name,
      `no stack file ${name} in ${projectDir}; stacks here: ${stacks.length ? stacks.join(", ") : "none"}`,
    );
  }
  const text = fs.readFileSync(file, "utf8");
  stackFileEntries(text, name);
  return { file, text };
}
