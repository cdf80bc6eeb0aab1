/**
 * The build-context digest docker.Image adds to its inputs (engine/dockerContext.ts, after
 * pulumi/pulumi-docker provider/provider.go `hashContext`).
 */
import { afterEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { goFileModeString, hashContext, isIgnored, readIgnorePatterns } from "../engine/dockerContext";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function context(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cr-docker-context-"));
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}
const digest = (dir: string) => hashContext(dir, path.join(dir, "Dockerfile"));

describe("the build-context digest", () => {
  it("changes with a file's content, name or mode, not with an ignored file", () => {
    const dir = context({
      Dockerfile: "FROM node\n",
      "server.js": "v1",
      ".dockerignore": "notes/\n*.log\n!keep.log\n",
    });
    const first = digest(dir);
    fs.writeFileSync(path.join(dir, "debug.log"), "noise");
    fs.mkdirSync(path.join(dir, "notes"));
    fs.writeFileSync(path.join(dir, "notes", "a.md"), "x");
    expect(digest(dir)).toBe(first);
    fs.writeFileSync(path.join(dir, "keep.log"), "kept");
    const withKept = digest(dir);
    expect(withKept).not.toBe(first);
    fs.chmodSync(path.join(dir, "server.js"), 0o755);
    expect(digest(dir)).not.toBe(withKept);
    fs.chmodSync(path.join(dir, "server.js"), 0o644);
    expect(digest(dir)).toBe(withKept);
    fs.renameSync(path.join(dir, "server.js"), path.join(dir, "main.js"));
    expect(digest(dir)).not.toBe(withKept);
  });

  it("prefers <Dockerfile>.dockerignore over the context's .dockerignore", () => {
    const dir = context({ Dockerfile: "FROM node\n", "Dockerfile.dockerignore": "secret.txt\n", ".dockerignore": "" });
    const first = digest(dir);
    fs.writeFileSync(path.join(dir, "secret.txt"), "x");
    expect(digest(dir)).toBe(first);
  });

  it("reads patterns and modes as Go and the ignore file write them", () => {
    expect(readIgnorePatterns("# comment\n\n/build/\n!build/keep\n")).toEqual(["build", "!build/keep"]);
    expect(isIgnored("build/x/y.js", ["build"])).toBe(true);
    expect(isIgnored("src/a.log", ["**/*.log"])).toBe(true);
    expect(isIgnored("a.log", ["*.log", "!a.log"])).toBe(false);
    expect(goFileModeString(0o644, "file")).toBe("-rw-r--r--");
    expect(goFileModeString(0o777, "symlink")).toBe("Lrwxrwxrwx");
    expect(goFileModeString(0, "none")).toBe("----------");
  });
});
