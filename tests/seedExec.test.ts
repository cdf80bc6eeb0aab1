/**
 * The seed's exec plumbing: throw-away HOMEs under one directory, stale ones removed, marker parsing;
 * and secret fingerprints.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  buildCredentialsFile,
  cloudronHomesDir,
  makeThrowawayHome,
  readSeedOutput,
  removeStaleHomes,
} from "../steps/seed/seedExec";
import { fingerprint } from "../cloudron/requests";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function scratch(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "homes-test-"));
  dirs.push(d);
  return path.join(d, "communityrule-cloudron-homes");
}

describe("throw-away HOMEs", () => {
  it("all live under one known directory in the temp dir", () => {
    expect(cloudronHomesDir("/tmp")).toBe("/tmp/communityrule-cloudron-homes");
  });

  it("hold a private .cloudron.json for the server, removed by cleanup", () => {
    const dir = scratch();
    const { home, cleanup } = makeThrowawayHome("http://127.0.0.1:9", "tok-123", dir);
    expect(path.dirname(home)).toBe(dir);
    expect(path.basename(home)).toMatch(new RegExp(`^home-${process.pid}-`));
    const file = path.join(home, ".cloudron.json");
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual({
      cloudrons: {
        default: "http://127.0.0.1:9",
        "http://127.0.0.1:9": { apiEndpoint: "http://127.0.0.1:9", token: "tok-123" },
      },
    });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(home).mode & 0o777).toBe(0o700);
    cleanup();
    expect(fs.existsSync(home)).toBe(false);
  });

  it("left by a killed run are removed at the next start; a live run's home stays", () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, "home-999999-abc"), { recursive: true });
    fs.writeFileSync(path.join(dir, "home-999999-abc", ".cloudron.json"), buildCredentialsFile("s", "leaked-token"));
    fs.mkdirSync(path.join(dir, "home-4242-def"));
    fs.mkdirSync(path.join(dir, "stray"));
    const removed = removeStaleHomes(dir, (pid) => pid === 4242);
    expect(removed.sort()).toEqual(["home-999999-abc", "stray"]);
    expect(fs.readdirSync(dir)).toEqual(["home-4242-def"]);
  });
});

describe("readSeedOutput", () => {
  it("reads the exit marker and strips it from the output", () => {
    expect(readSeedOutput("seeded 3 templates\n__SEED_EXIT__:0\n", "")).toEqual({
      ok: true,
      status: "0",
      output: "seeded 3 templates",
      stderr: "",
    });
    expect(readSeedOutput("boom\n__SEED_EXIT__:1\n", " err ")).toEqual({
      ok: false,
      status: "1",
      output: "boom",
      stderr: "err",
    });
    expect(readSeedOutput("cut off", "")).toMatchObject({ ok: false, status: undefined });
  });
});

describe("fingerprint", () => {
  it("is keyed and per name: same value, other key or name, other fingerprint", () => {
    const a = fingerprint("k1", "API_KEY", "v");
    expect(a).toMatch(/^hmac:[0-9a-f]{16}$/);
    expect(fingerprint("k1", "API_KEY", "v")).toBe(a);
    expect(fingerprint("k2", "API_KEY", "v")).not.toBe(a);
    expect(fingerprint("k1", "OTHER", "v")).not.toBe(a);
  });
});
