#!/usr/bin/env node
/**
 * The one way in for operator commands (every package.json command script, bin/plan):
 *
 *   node bin/launch.cjs <command> [args…]      e.g.  node bin/launch.cjs commands/plan/main staging --json
 *
 * runs build/<command>.js, the compiled TypeScript (the way `pulumi up` runs the program). First it
 * checks build/ against the sources with the compiled stamp check (lib/build/sourceStamp.ts: one
 * copy of the hashing, a few milliseconds) and, only when build/ is missing or stale, runs
 * `npm run build`, saying so in one line on stderr. stdout stays the command's own, so
 * `npm run -s plan -- staging --json` prints only JSON.
 *
 * The command then runs in this same process as the main module (Node's Module.runMain, what
 * `node build/<command>.js` does): exit codes, signals (rehearse's Ctrl-C clean-up), stdin, stdout
 * and stderr are exactly those of the compiled script.
 *
 * Plain JavaScript on purpose: it must work before anything is compiled (a fresh clone before its
 * first build, a `git pull` that left build/ stale).
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const Module = require("node:module");
const { spawnSync } = require("node:child_process");

const projectDir = path.resolve(__dirname, "..");
const [command, ...args] = process.argv.slice(2);

if (!command || !/^(commands|tools)\/[A-Za-z0-9_/-]+$/.test(command)) {
  process.stderr.write("usage: node bin/launch.cjs <commands/name/main | tools/name> [args…]\n");
  process.exit(2);
}

const why = whyBuild();
if (why) {
  process.stderr.write(`${why}: building first (npm run build)\n`);
  // The build's own output (tsc errors go to stdout) goes to stderr: stdout belongs to the command.
  const build = spawnSync("npm", ["run", "-s", "build"], { cwd: projectDir, stdio: ["ignore", 2, 2] });
  if (build.status !== 0) {
    process.stderr.write(`npm run build failed (above), so ${command} did not run\n`);
    process.exit(build.status || 1);
  }
  // The check above loaded the old compiled sourceStamp.js; the command must get the new one.
  delete require.cache[stampCheckPath()];
}

const entry = path.join(projectDir, "build", `${command}.js`);
if (!fs.existsSync(entry)) {
  process.stderr.write(`no such command: ${command} (nothing compiled to build/${command}.js)\n`);
  process.exit(2);
}
// Stack traces name the .ts lines (build/ has source maps).
process.setSourceMapsEnabled(true);
process.argv = [process.argv[0], entry, ...args];
Module.runMain();

function stampCheckPath() {
  return path.join(projectDir, "build", "lib", "build", "sourceStamp.js");
}

/** Why build/ cannot be used as it is, or undefined when it matches the sources. */
function whyBuild() {
  if (!fs.existsSync(stampCheckPath())) return "build/ is missing";
  const { staleBuildReason } = require(stampCheckPath());
  // A compiled stamp check without staleBuildReason cannot vouch for build/: rebuild.
  if (typeof staleBuildReason !== "function") return "build/ is older than the TypeScript sources";
  return staleBuildReason(projectDir);
}
