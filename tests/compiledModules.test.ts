/**
 * The lifecycle host's kept compiled code (engine/compiledModules.ts): a module loaded again is not
 * compiled again, and is still evaluated afresh, with Node's own `require`, `module` and `exports`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { keepCompiledModules } from "../engine/compiledModules";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "compiled-modules-"));
const kept = keepCompiledModules((f) => f.startsWith(dir + path.sep));
afterAll(() => {
  kept.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function forget() {
  for (const key of Object.keys(require.cache)) if (key.startsWith(dir + path.sep)) delete require.cache[key];
}

describe("kept compiled code of program modules", () => {
  it("a module loaded again runs its kept code afresh: new module state, new exports, Node's require", () => {
    const counter = path.join(dir, "counter.js");
    fs.writeFileSync(path.join(dir, "helper.js"), "exports.made = {};\n");
    fs.writeFileSync(
      counter,
      [
        "let count = 0;",
        "const helper = require('./helper');",
        "module.exports = {",
        "  bump: () => ++count,",
        "  helper,",
        "  thisIsExports: this === exports,",
        "  file: __filename,",
        "  dir: __dirname,",
        "  resolves: require.resolve('./helper'),",
        "  cache: require.cache === module.constructor._cache,",
        "  loaded: module.loaded,",
        "};",
        "",
      ].join("\n"),
    );
    const first = require(counter);
    expect(first.bump()).toBe(1);
    expect(first.bump()).toBe(2);
    expect(first).toMatchObject({
      thisIsExports: true,
      file: counter,
      dir,
      resolves: path.join(dir, "helper.js"),
      cache: true,
      loaded: false,
    });
    const before = { ...kept.counts };
    forget();
    const second = require(counter);
    // Fresh evaluation: its own count and its own copy of what it requires.
    expect(second).not.toBe(first);
    expect(second.bump()).toBe(1);
    expect(second.helper).not.toBe(first.helper);
    expect(second.helper.made).not.toBe(first.helper.made);
    expect(kept.counts).toEqual({ compiled: before.compiled, reused: before.reused + 2 });
    expect(require.cache[counter]?.exports).toBe(second);
  });

  it("an edited file is compiled again; an error names the file and line", () => {
    const edited = path.join(dir, "edited.js");
    fs.writeFileSync(edited, "exports.value = 1;\n");
    expect(require(edited).value).toBe(1);
    forget();
    fs.writeFileSync(edited, "exports.value = 2;\n");
    const compiled = kept.counts.compiled;
    expect(require(edited).value).toBe(2);
    expect(kept.counts.compiled).toBe(compiled + 1);

    const failing = path.join(dir, "failing.js");
    fs.writeFileSync(failing, "\n\nthrow new Error('at load');\n");
    let stack = "";
    try {
      require(failing);
    } catch (err) {
      stack = (err as Error).stack ?? "";
    }
    expect(stack).toContain(`${failing}:3`);
  });
});
