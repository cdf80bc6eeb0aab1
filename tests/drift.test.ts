/** `npm run drift`: the comparison on its own, and the script against a loopback server with an outputs file. */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { computeDrift, type DriftOutputs } from "../commands/drift/drift";
import { main } from "../commands/drift/main";

const SECRET = `secret-${Math.random().toString(36).slice(2)}`;
const EDITED = `edited-${Math.random().toString(36).slice(2)}`;
const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;

const applied = (server: string): DriftOutputs => ({
  cloudronServer: server,
  location: "staging.communityrule.info",
  appId: "a1",
  imageRef: "r@sha256:1",
  manifestVersion: "0.1.10",
  managedEnv: { SMTP_FROM: "a@b.c", API_KEY: SECRET, SESSION_SECRET: "s".repeat(48) },
  secretEnvNames: ["API_KEY", "SESSION_SECRET"],
});
const liveApp = (env: Record<string, string>, over: Record<string, unknown> = {}) => ({
  id: "a1",
  installationState: "installed",
  fqdn: "staging.communityrule.info",
  manifest: { id: "m", version: "0.1.10", dockerImage: "r@sha256:1" },
  env,
  tags: [],
  error: null,
  taskId: null,
  ...over,
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe("computeDrift", () => {
  it("names a location change (the app moved by hand)", () => {
    const r = computeDrift(
      applied("x"),
      liveApp(
        { SMTP_FROM: "a@b.c", API_KEY: SECRET, SESSION_SECRET: "s".repeat(48) },
        { fqdn: "moved.communityrule.info" },
      ),
    );
    expect(r.differences).toEqual([
      "location: app a1 now serves moved.communityrule.info, applied staging.communityrule.info (moved by hand?)",
    ]);
  });

  it("names image, version and env differences; secrets only as changed; hand-set keys as information", () => {
    const out = applied("x");
    const r = computeDrift(
      out,
      liveApp(
        { SMTP_FROM: "x@y.z", API_KEY: EDITED, HAND: "1" },
        { manifest: { version: "0.1.9", dockerImage: "r@sha256:0" } },
      ),
    );
    expect(r.differences).toEqual([
      "image: live r@sha256:0, applied r@sha256:1",
      "version: live 0.1.9, applied 0.1.10",
      "env API_KEY: changed (secret; value not shown)",
      "env SESSION_SECRET: missing on the app (secret)",
      'env SMTP_FROM: live "x@y.z", applied "a@b.c"',
    ]);
    expect(r.unmanaged).toEqual(["HAND"]);
    expect(JSON.stringify(r)).not.toContain(EDITED);
    expect(JSON.stringify(r)).not.toContain(SECRET);
  });
});

describe("npm run drift", () => {
  async function serve(app: unknown): Promise<string> {
    const server = http.createServer((req, res) => {
      res.writeHead(
        req.headers.authorization === `Bearer ${TOKEN}` ? (req.url === "/api/v1/apps/a1" ? 200 : 404) : 401,
        { "content-type": "application/json" },
      );
      res.end(JSON.stringify(req.url === "/api/v1/apps/a1" ? app : { status: "Not Found", message: "x" }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  function outputsFile(o: DriftOutputs): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drift-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "outputs.json");
    fs.writeFileSync(file, JSON.stringify(o));
    return file;
  }
  const withToken = async <T>(fn: () => Promise<T>): Promise<T> => {
    const saved = process.env.CLOUDRON_TOKEN;
    process.env.CLOUDRON_TOKEN = TOKEN;
    try {
      return await fn();
    } finally {
      if (saved === undefined) delete process.env.CLOUDRON_TOKEN;
      else process.env.CLOUDRON_TOKEN = saved;
    }
  };

  it("exits 0 when the app matches, listing hand-set keys as information", async () => {
    const url = await serve(liveApp({ ...applied("x").managedEnv, HAND: "1" }));
    const lines: string[] = [];
    expect(
      await withToken(() => main(["staging", "--outputs-file", outputsFile(applied(url))], (s) => lines.push(s))),
    ).toBe(0);
    expect(lines.join("\n")).toBe(
      "OK staging: staging.communityrule.info runs r@sha256:1" +
        " (version 0.1.10) with every managed env key as applied\n" +
        "info: keys set on the app that this stack does not manage (left alone): HAND",
    );
  });

  it("exits 1 on a dashboard edit of a secret, naming the key and never the value", async () => {
    const url = await serve(liveApp({ ...applied("x").managedEnv, API_KEY: EDITED }));
    const lines: string[] = [];
    expect(
      await withToken(() => main(["staging", "--outputs-file", outputsFile(applied(url))], (s) => lines.push(s))),
    ).toBe(1);
    const text = lines.join("\n");
    expect(text).toContain("  - env API_KEY: changed (secret; value not shown)");
    for (const s of [EDITED, SECRET, TOKEN]) expect(text).not.toContain(s);
  });

  it("without --outputs-file it asks the pulumi CLI for the stack's outputs (exit 2 when that fails)", async () => {
    const lines: string[] = [];
    const savedPath = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      expect(await main(["staging"], (s) => lines.push(s))).toBe(2);
    } finally {
      process.env.PATH = savedPath;
    }
    expect(lines).toEqual([
      "drift: cannot read the outputs of stack staging: the pulumi CLI is not on PATH (or pass --outputs-file)",
    ]);
  });

  it("usage and unusable outputs exit 2", async () => {
    const lines: string[] = [];
    const errors: string[] = [];
    expect(
      await main(
        [],
        (s) => lines.push(s),
        (s) => errors.push(s),
      ),
    ).toBe(2);
    // The stack name alone is a complete command line (it once was dropped as an option's value).
    expect(
      await main(
        ["staging", "--outputs-file"],
        (s) => lines.push(s),
        (s) => errors.push(s),
      ),
    ).toBe(2);
    const file = outputsFile({ ...applied("x"), appId: "" } as DriftOutputs);
    expect(
      await main(
        ["staging", "--outputs-file", file],
        (s) => lines.push(s),
        (s) => errors.push(s),
      ),
    ).toBe(2);
    expect(errors).toEqual([
      "drift: missing <stack>",
      "usage: npm run drift -- <stack> [--outputs-file <file.json>]",
      "drift: --outputs-file needs a value",
      "usage: npm run drift -- <stack> [--outputs-file <file.json>]",
    ]);
    expect(lines).toEqual([
      "drift: stack staging has no usable outputs (appId); run `pulumi up -s staging` once with this version first",
    ]);
  });
});
