/**
 * The tools the command resources start are built as one bundle each (lib/build/bundleTools.ts), run
 * by build/tools/<name>.js (lib/build/toolEntry.ts) with V8's code cache. What runs is what the
 * command lines name; it loads no other file of ours or of node_modules; the cache is written once,
 * survives a corrupt file, and holds no run-time value. These bundles and the program's zod
 * (build/lib/zod.js) hold zod's English messages only, which are the ones zod itself gives.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { asciiOnly, toolSources, ZOD_BUILD } from "../lib/build/bundleTools";
import { PROJECT } from "./cliProject";
import { startCloudronApi, type CloudronApi } from "../engine/standin/cloudronApi";

const TOOLS = path.join(PROJECT, "build", "tools");

/** Loads a built tool as `node build/tools/<name>.js --help` does and lists every module it loaded. */
function modulesLoadedBy(tool: string): { status: number | null; stdout: string; modules: string[]; stderr: string } {
  const entry = path.join(TOOLS, tool);
  const probe = [
    `process.argv = [process.argv[0], ${JSON.stringify(entry)}, "--help"];`,
    `process.on("exit", () => process.stderr.write("LOADED " + JSON.stringify(Object.keys(require.cache)) + "\\n"));`,
    `require("node:module").runMain();`,
  ].join("\n");
  const r = spawnSync(process.execPath, ["-e", probe], { cwd: PROJECT, encoding: "utf8" });
  const line = r.stderr.split("\n").find((l) => l.startsWith("LOADED ")) ?? "LOADED []";
  return {
    status: r.status,
    stdout: r.stdout,
    modules: JSON.parse(line.slice("LOADED ".length)) as string[],
    stderr: r.stderr,
  };
}

/** Every bundle under build/tools: one per tool, and the parts a tool loads only on some paths. */
function bundleFiles(): string[] {
  return fs
    .readdirSync(TOOLS)
    .filter((f) => f.endsWith(".bundle.js"))
    .sort();
}

describe("bundled tools", () => {
  it("finds the four tools the command resources and operators run", () => {
    expect(toolSources(PROJECT)).toEqual(["cloudronApp.ts", "healthGate.ts", "smoke.ts", "verifyPull.ts"]);
  });

  it.each(["cloudronApp", "healthGate", "smoke", "verifyPull"])(
    "build/tools/%s.js answers --help from its bundle, loading no other module",
    (tool) => {
      const r = modulesLoadedBy(`${tool}.js`);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^usage: /);
      // The bundle is compiled through V8 (vm.Script), not require: only the entry is a module.
      expect(r.modules).toEqual([path.join(TOOLS, `${tool}.js`)]);
      expect(fs.existsSync(path.join(TOOLS, `${tool}.bundle.js`))).toBe(true);
    },
  );
});

describe("the bundles' text", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  // One non-ASCII character makes V8 hold a whole source as two-byte text (lib/build/bundleTools.ts, asciiOnly).
  it.each([...bundleFiles().map((f) => `build/tools/${f}`), ZOD_BUILD])("%s is ASCII only", (file) => {
    const text = fs.readFileSync(path.join(PROJECT, file), "utf8");
    expect(text.match(/[\u0080-\uffff]/g) ?? []).toEqual([]);
  });

  it("a character outside ASCII is written as its escape, which means the same to JavaScript", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ascii-only-"));
    const file = path.join(dir, "m.js");
    fs.writeFileSync(file, 'module.exports = "a\u2014b \u{1F600}"; // c \u2192 d\n');
    asciiOnly(file);
    const text = fs.readFileSync(file, "utf8");
    expect(text).toBe('module.exports = "a\\u2014b \\ud83d\\ude00"; // c \\u2192 d\n');
    expect(require(file)).toBe("a\u2014b \u{1F600}");
  });
});

describe("zod in the bundles", () => {
  /** The translation files esbuild joined into a bundle (it names each joined file in a comment), not their index. */
  function translationsIn(file: string): string[] {
    const named = fs.readFileSync(file, "utf8").match(/^\/\/ \S*zod\/v4\/locales\/[^/\s]+\.js$/gm) ?? [];
    return [...new Set(named.map((line) => path.basename(line)))].filter((f) => f !== "index.js").sort();
  }

  it.each(["build/tools/cloudronApp.bundle.js", "build/tools/healthGate.appLogReport.bundle.js", ZOD_BUILD])(
    "%s holds English only",
    (file) => {
      expect(translationsIn(path.join(PROJECT, file))).toEqual(["en.js"]);
    },
  );

  it("a tool's bundle holds only the parts of zod its schemas use (product code imports zod as a namespace)", () => {
    const zodModules = (file: string) =>
      new Set(
        (fs.readFileSync(path.join(PROJECT, file), "utf8").match(/^\/\/ \S*zod\/v4\/\S+\.js$/gm) ?? []).map((line) =>
          line.replace(/^.*zod\/v4\//, ""),
        ),
      );
    // Modules no schema of ours needs: JSON Schema import, coercion, ISO formats, the compiler.
    const unused = ["classic/from-json-schema.js", "classic/coerce.js", "classic/iso.js", "core/compile.js"];
    const whole = zodModules(ZOD_BUILD);
    expect(unused.filter((m) => whole.has(m))).toEqual(unused);
    for (const file of ["build/tools/cloudronApp.bundle.js", "build/tools/healthGate.appLogReport.bundle.js"]) {
      const held = zodModules(file);
      expect(held.has("classic/schemas.js")).toBe(true);
      expect(unused.filter((m) => held.has(m))).toEqual([]);
    }
  });

  it("the health gate's own bundle holds no zod: only its failure report, a bundle of its own, reads Cloudron", () => {
    const text = fs.readFileSync(path.join(TOOLS, "healthGate.bundle.js"), "utf8");
    expect(text.match(/^\/\/ \S*node_modules\/zod\/.*$/gm) ?? []).toEqual([]);
    expect(text).toContain('require("./healthGate.appLogReport.bundle.js")');
    expect(bundleFiles()).toContain("healthGate.appLogReport.bundle.js");
  });

  it("the program's zod answers with zod's own messages, and has the English translation it configures", () => {
    const bundled = (require(path.join(PROJECT, ZOD_BUILD)) as { z: typeof z }).z;
    expect(Object.keys(bundled.locales)).toEqual(["en"]);
    expect(Object.keys(bundled.core.locales)).toEqual(["en"]);
    const input = { name: "x", port: 1.5, kind: "q", url: "nope", tags: [1], extra: true };
    const messages = (zod: typeof z) =>
      zod
        .object({
          name: zod.string().min(3),
          port: zod.number().int(),
          kind: zod.enum(["web", "worker"]),
          url: zod.string().url(),
          tags: zod.array(zod.string()).max(0),
        })
        .strict()
        .safeParse(input)
        .error?.issues.map((i) => i.message);
    expect(messages(bundled)).toEqual(messages(z));
    expect(messages(bundled)).toHaveLength(6);
  });
});

describe("the code cache", () => {
  let dir: string | undefined;
  let api: CloudronApi | undefined;
  afterEach(async () => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
    await api?.stop();
    api = undefined;
  });
  /** The deploy tool's entry and bundle in a directory of their own, so the caches there are this test's. */
  function copyOfDeployTool(): {
    run(
      args: string[],
      stdin: string,
      env?: Record<string, string>,
    ): Promise<{ status: number | null; stdout: string; stderr: string }>;
    cacheFile(operation?: string): string;
    caches(): string[];
  } {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tool-cache-"));
    for (const f of ["cloudronApp.js", "cloudronApp.bundle.js"])
      fs.copyFileSync(path.join(TOOLS, f), path.join(dir, f));
    const at = dir;
    const cacheDir = path.join(at, ".code-cache");
    return {
      // Not spawnSync: the Cloudron stand-in answering the tool runs in this process.
      run: (args, stdin, env = {}) =>
        new Promise((resolve) => {
          const child = spawn(process.execPath, [path.join(at, "cloudronApp.js"), ...args], {
            env: { ...process.env, ...env },
          });
          let stdout = "";
          let stderr = "";
          child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
          child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
          child.on("close", (status) => resolve({ status, stdout, stderr }));
          child.stdin.end(stdin);
        }),
      cacheFile: (operation) =>
        path.join(cacheDir, `cloudronApp${operation ? `-${operation}` : ""}-${process.version}-${process.arch}.bin`),
      caches: () => (fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).sort() : []),
    };
  }

  it("is written by an operation's first run that succeeded, used as it is by the next, holding no value", async () => {
    const tool = copyOfDeployTool();
    const planted = `planted-secret-${Date.now().toString(36)}`;
    // A request the contract refuses: the run parses its input, fails with its own message, exits 1.
    const refused = await tool.run(["env-apply"], JSON.stringify({ connection: { server: planted }, note: planted }), {
      CLOUDRON_TOKEN: planted,
    });
    expect(refused.status, refused.stderr).toBe(1);
    expect(tool.caches()).toEqual([]);

    api = await startCloudronApi({ tokens: [{ token: planted, role: "owner" }], taskMs: 50 });
    const location = "staging.communityrule.info";
    const app = api.addApp({
      fqdn: location,
      manifest: { id: "info.communityrule.app", version: "0.1.9", dockerImage: "registry.example/cr:0.1.9" },
    });
    const request = (value: string) =>
      JSON.stringify({
        connection: { server: api!.url, taskTimeoutSeconds: 30, busyWaitSeconds: 5 },
        location,
        appId: app.id,
        env: { plain: { PLANTED: value }, secret: {} },
        rotation: { sessionSecret: "0", warning: "" },
      });
    const first = await tool.run(["env-apply"], request(planted), { CLOUDRON_TOKEN: planted });
    expect(first.status, first.stderr).toBe(0);
    expect(api.app(app.id)?.env.PLANTED).toBe(planted);
    expect(tool.caches()).toEqual([path.basename(tool.cacheFile("env-apply"))]);
    const written = fs.readFileSync(tool.cacheFile("env-apply"));
    expect(written.includes(Buffer.from(planted))).toBe(false);

    const mtime = fs.statSync(tool.cacheFile("env-apply")).mtimeMs;
    const second = await tool.run(["env-apply"], request(`${planted}-2`), { CLOUDRON_TOKEN: planted });
    expect(second.status, second.stderr).toBe(0);
    expect(fs.statSync(tool.cacheFile("env-apply")).mtimeMs).toBe(mtime);

    // Another operation (here the usage) compiles other functions: a cache of its own.
    expect((await tool.run(["--help"], "")).status).toBe(0);
    expect(tool.caches()).toEqual([tool.cacheFile(), tool.cacheFile("env-apply")].map((f) => path.basename(f)).sort());
  });

  it("a corrupt cache file is refused by V8 and replaced; the tool still runs", async () => {
    const tool = copyOfDeployTool();
    const clean = await tool.run(["--help"], "");
    expect(clean.status).toBe(0);
    expect(clean.stdout).toContain("usage: cloudronApp");
    fs.writeFileSync(tool.cacheFile(), Buffer.alloc(4096, 7));
    const again = await tool.run(["--help"], "");
    expect(again).toEqual(clean);
    expect(fs.readFileSync(tool.cacheFile()).equals(Buffer.alloc(4096, 7))).toBe(false);
  });
});
