/**
 * Where the Pulumi project lives. Every entry (the program, the tools, the operator commands, the
 * build steps) asks from its own file, compiled or not, and gets the same directory.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The Pulumi project directory (the one holding Pulumi.yaml), found upwards from `from`: the same
 * answer for `index.ts` run by ts-node and for `build/index.js` run compiled.
 */
export function findProjectDir(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no Pulumi.yaml above ${from}: run from the deploy project`);
  }
}
