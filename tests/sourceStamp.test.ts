import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listProgramSources, staleBuildProblem, writeSourceStamp } from "../lib/build/sourceStamp";

let dir: string;
const write = (rel: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), text);
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stamp-"));
  write("index.ts", "export = 1;\n");
  write("lib/config/a.ts", "export const a = 1;\n");
  write("tools/t.ts", "export {};\n");
  write("tests/x.test.ts", "// not a program source\n");
  write("lib/types.d.ts", "// declarations are not compiled output\n");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("build source stamp", () => {
  it("lists the program's sources only, sorted", () => {
    expect(listProgramSources(dir)).toEqual(["index.ts", "lib/config/a.ts", "tools/t.ts"]);
  });

  it("passes right after a build", () => {
    writeSourceStamp(dir);
    expect(staleBuildProblem(dir)).toBeUndefined();
  });

  it("ignores edits outside the program's sources", () => {
    writeSourceStamp(dir);
    write("tests/x.test.ts", "// edited\n");
    expect(staleBuildProblem(dir)).toBeUndefined();
  });

  it.each([
    ["an edited source", () => write("lib/config/a.ts", "export const a = 2;\n")],
    ["an added source", () => write("components/new.ts", "export {};\n")],
    ["a removed source", () => fs.rmSync(path.join(dir, "tools/t.ts"))],
  ])("refuses to run after %s, saying how to fix it", (_what, change) => {
    writeSourceStamp(dir);
    change();
    expect(staleBuildProblem(dir)).toBe(
      "the compiled program in build/ is older than the TypeScript sources (a .ts file changed since the last build): " +
        "run `npm run build` (it compiles the TypeScript into build/), then run the command again",
    );
  });

  it("refuses a build/ without a stamp", () => {
    expect(staleBuildProblem(dir)).toMatch(/^build\/ has no source stamp/);
  });

  it("passes when only build/ was shipped (no sources to compare)", () => {
    for (const p of ["index.ts", "lib", "tools"]) fs.rmSync(path.join(dir, p), { recursive: true });
    expect(staleBuildProblem(dir)).toBeUndefined();
  });
});
