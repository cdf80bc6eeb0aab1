/**
 * Suite-level report of the secret scan that every lifecycle scenario runs on close
 * (engine/runner.ts): how many scenarios and strings were scanned, and the hits (zero is
 * the pass condition; a hit already failed its scenario).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { staleBuildReason } from "../lib/build/sourceStamp";

const dir = path.resolve(__dirname, "..", ".artifacts", "scans");

export function setup() {
  fs.rmSync(dir, { recursive: true, force: true });
  // The lifecycle host, the program and the tools run compiled (as under `pulumi up`): build them
  // from the sources under test first, unless build/ already matches them (the same stamp check the
  // program and bin/launch.cjs make; a no-op tsc would still cost seconds).
  const projectDir = path.resolve(__dirname, "..");
  if (staleBuildReason(projectDir) !== undefined)
    execFileSync("npm", ["run", "-s", "build"], { cwd: projectDir, stdio: "inherit" });
}

export function teardown() {
  if (!fs.existsSync(dir)) return;
  const reports = fs.readdirSync(dir).map(
    (f) =>
      JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as {
        runs: number;
        scannedStrings: number;
        hits: unknown[];
      },
  );
  const strings = reports.reduce((n, r) => n + r.scannedStrings, 0);
  const runs = reports.reduce((n, r) => n + r.runs, 0);
  const hits = reports.reduce((n, r) => n + r.hits.length, 0);
  process.stdout.write(
    `\nsecret scan: ${reports.length} lifecycle scenarios,` +
      ` ${runs} runs, ${strings} recorded strings scanned, ${hits} hits\n`,
  );
}
