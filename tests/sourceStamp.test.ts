import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BUILD_SOURCES,
  listBuildSources,
  staleBuildProblem,
  staleBuildReason,
  writeSourceStamp,
} from "../lib/build/sourceStamp";
import { PROJECT } from "./cliProject";

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
  write("commands/s.ts", "export {};\n");
  write("engine/standin/api.ts", "export {};\n");
  write("tests/x.test.ts", "// not a program source\n");
  write("lib/types.d.ts", "// declarations are not compiled output\n");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("build source stamp", () => {
  it("lists what the build compiles (program, tools, scripts, lifecycle engine) and nothing else, sorted", () => {
    expect(listBuildSources(dir)).toEqual([
      "commands/s.ts",
      "engine/standin/api.ts",
      "index.ts",
      "lib/config/a.ts",
      "tools/t.ts",
    ]);
  });

  it("follows a symbolic link to a directory or a file, as tsc does", () => {
    write("elsewhere/linked.ts", "export {};\n");
    fs.symlinkSync(path.join(dir, "elsewhere"), path.join(dir, "steps"));
    fs.symlinkSync(path.join(dir, "elsewhere", "linked.ts"), path.join(dir, "lib", "alias.ts"));
    expect(listBuildSources(dir)).toEqual([
      "commands/s.ts",
      "engine/standin/api.ts",
      "index.ts",
      "lib/alias.ts",
      "lib/config/a.ts",
      "steps/linked.ts",
      "tools/t.ts",
    ]);
  });

  it("covers exactly what tsconfig.build.json compiles", () => {
    const include = (
      JSON.parse(fs.readFileSync(path.join(PROJECT, "tsconfig.build.json"), "utf8")) as { include: string[] }
    ).include;
    expect([...BUILD_SOURCES].sort()).toEqual(include.map((glob) => glob.replace(/\/\*\*\/\*\.ts$/, "")).sort());
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
    ["an added source", () => write("steps/new.ts", "export {};\n")],
    ["a removed source", () => fs.rmSync(path.join(dir, "tools/t.ts"))],
    ["an edited operator script", () => write("commands/s.ts", "export const s = 1;\n")],
    ["an edited lifecycle engine file", () => write("engine/standin/api.ts", "export const api = 1;\n")],
    ["an edited compiler setting", () => write("tsconfig.build.json", "{}\n")],
  ])("refuses to run after %s, saying how to fix it", (_what, change) => {
    write("tsconfig.build.json", '{ "include": ["index.ts"] }\n');
    writeSourceStamp(dir);
    change();
    expect(staleBuildReason(dir)).toBe("build/ is older than the TypeScript sources");
    expect(staleBuildProblem(dir)).toBe(
      "the compiled program in build/ is older than the TypeScript" +
        " sources (a .ts file or tsconfig changed since the last build): " +
        "run `npm run build` (it compiles the TypeScript into build/), then run the command again",
    );
  });

  it("refuses a build/ without a stamp", () => {
    expect(staleBuildReason(dir)).toBe("build/ has no source stamp");
    expect(staleBuildProblem(dir)).toMatch(/^build\/ has no source stamp/);
  });

  it("passes when only build/ was shipped (no sources to compare)", () => {
    for (const p of ["index.ts", "lib", "tools", "commands", "engine"])
      fs.rmSync(path.join(dir, p), { recursive: true });
    expect(staleBuildProblem(dir)).toBeUndefined();
  });
});
