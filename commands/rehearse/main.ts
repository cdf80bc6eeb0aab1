/**
 * Offline rehearsal of `pulumi up -s <stack>`:
 *   npm run rehearse -- <stack> [--release <version>] [--rollback]
 *
 * 1. validates Pulumi.<stack>.yaml as written: first the Pulumi CLI's own config step against
 *    Pulumi.yaml (required keys, types, encrypted secrets; engine/configStep.ts), then the
 *    program's own rules (a config `up` would refuse fails here, before anything starts);
 * 2. checks that cloudronServer resolves (a real `up` would stop on a name that does not);
 * 3. states every setting it replaces with a local stand-in, and why;
 * 4. plays a first `up`, a second `up` that must do nothing, and optionally a release and a
 *    rollback, against a Cloudron stand-in, a throw-away registry and a local server playing the app;
 * 5. ends with one line: REHEARSAL PASS or REHEARSAL FAIL.
 *
 * Everything it creates lives under one temporary directory, removed on every exit (Ctrl-C too).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Lifecycle } from "../../engine/runner";
import { buildPlan } from "../plan/plan";
import { ConfigError } from "../../config/loader";
import { readProjectYaml, runConfigStep, stackConfigFromText } from "../../engine/configStep";
import {
  describeCall,
  describeReplacements,
  nearMissServer,
  nextPatch,
  rehearseArgsFrom,
  REHEARSE_SPEC,
  REHEARSE_USAGE,
  type RehearseArgs,
} from "./rehearsal";
import { ConfigFileError, readStackText, stackFileEntries, stackFileName, stacksIn } from "../../config/stackFile";
import { prNumberOfStack } from "../review-app/names";
import { findProjectDir } from "../../lib/projectDir";
import { defineCli, runAsMain } from "../../lib/cli";

const PROJECT_DIR = findProjectDir(__dirname);
const out = (line = "") => process.stdout.write(line + "\n");
const indent = (text: string, by = "  ") =>
  text
    .split("\n")
    .map((l) => by + l)
    .join("\n");

type UpResult = Awaited<ReturnType<Lifecycle["up"]>> & { log?: string };

// What a rehearsal needs once the stack file has passed (the engine, the DNS check, the cutover and
// review-app flows) loads when it gets there: a usage mistake or a stack file that fails validation
// is answered without loading them. Kept once loaded, so a failure can be told by its class.
let runner: typeof import("../../engine/runner") | undefined;
let cutover: typeof import("./cutover") | undefined;
const loadRunner = async () => (runner ??= await import("../../engine/runner"));
// The cutover flow runs its ups through the runner: loaded with it, so its hosts' deaths are told too.
const loadCutover = async () => {
  await loadRunner();
  return (cutover ??= await import("./cutover"));
};

/** Thrown to end the rehearsal with a FAIL line (already explained above it). */
class RehearsalFailed extends Error {}

async function rehearse(args: RehearseArgs, track: (lc: Lifecycle) => void): Promise<string> {
  const { stack } = args;
  const fileName = stackFileName(stack);
  out(
    `REHEARSAL of \`pulumi up -s ${stack}\`: offline. No Cloudron, no Pulumi backend and no real registry are touched.`,
  );

  // 1. The stack file as written, with the program's rules.
  out(`\n== ${fileName} as written ==`);
  let text: string;
  try {
    text = readStackText(PROJECT_DIR, stack).text;
  } catch (err) {
    if (err instanceof ConfigFileError) throw new RehearsalFailed(err.message);
    throw err;
  }
  // The CLI checks the file against Pulumi.yaml before the program runs, with its own words.
  const cli = runConfigStep("up", stack, readProjectYaml(PROJECT_DIR), stackConfigFromText("communityrule", text));
  if (!cli.ok) {
    out(`error: ${cli.error}`);
    throw new RehearsalFailed(`${fileName} is not valid: \`pulumi up -s ${stack}\` would refuse it the same way`);
  }
  out(`the Pulumi CLI's config step passed (Pulumi.yaml: required keys, defaults, types).`);
  let plan: ReturnType<typeof buildPlan>;
  try {
    plan = buildPlan(stack, text, { projectDir: PROJECT_DIR });
  } catch (err) {
    if (err instanceof ConfigError) {
      out(err.message);
      throw new RehearsalFailed(`${fileName} is not valid: \`pulumi up -s ${stack}\` would refuse it the same way`);
    }
    throw err;
  }
  out(`valid: the same checks \`pulumi up\` runs before registering anything passed.`);
  // Plan's advice "(pass --app-dir)" does not apply: the rehearsal brings its own checkout.
  for (const n of plan.notes) out(`  note: ${n.replace(/ \(pass --app-dir\)$/, "")}`);
  const asWritten = stackFileEntries(text, fileName);

  // 2. The server name: the rehearsal never calls it, but a real `up` would stop right here.
  const server = String(asWritten.cloudronServer);
  const { resolveServer } = await import("../preflight/preflight");
  const dnsResult = await resolveServer(server);
  const warnings: string[] = [];
  if (dnsResult.ok) out(`cloudronServer ${dnsResult.detail}`);
  else {
    const others = stacksIn(PROJECT_DIR)
      .filter((s) => s !== stack)
      .flatMap((s) => {
        try {
          const v = stackFileEntries(readStackText(PROJECT_DIR, s).text, stackFileName(s)).cloudronServer;
          return typeof v === "string" ? [{ stack: s, server: v }] : [];
        } catch {
          return [];
        }
      });
    const near = nearMissServer(server, others);
    if (near) {
      out(`cloudronServer: ${dnsResult.detail}`);
      throw new RehearsalFailed(
        `cloudronServer ${server} does not resolve, and ${stackFileName(near.stack)} names ${near.server}: a typo? ` +
          "A real `up` would stop before any change",
      );
    }
    const warning =
      `cloudronServer: ${dnsResult.detail}. A real \`up\` (and \`npm run preflight -- ${stack}\`) ` +
      `would stop here. The rehearsal goes on against its stand-in.`;
    warnings.push(`cloudronServer ${server} did not resolve from this machine`);
    out(`WARNING ${warning}`);
  }

  // 3. The stand-ins, and every setting they replace.
  const secretEnvNames = Object.keys((asWritten.secretEnv as Record<string, unknown> | undefined) ?? {});
  const testSecretEnv = Object.fromEntries(
    secretEnvNames.map((n) => [n, `rehearsal-${n.toLowerCase()}-${Math.random().toString(36).slice(2, 12)}`]),
  );
  const { Lifecycle } = await loadRunner();
  const lc = await Lifecycle.create({
    stack,
    echo: true,
    ...(secretEnvNames.length ? { secrets: { secretEnv: testSecretEnv } } : {}),
  });
  track(lc);
  out(`\n== replaced for the rehearsal (everything else is used as written) ==`);
  for (const r of describeReplacements(asWritten, plan.settings, lc.config, lc.secrets))
    out(`  ${r.key}: ${r.asWritten} → ${r.rehearsed}\n      why: ${r.why}`);

  // 4. The runs.
  const firstVersion = readManifestVersion(lc);
  const show = (r: UpResult, since: number) => {
    const calls = lc.calls().slice(since);
    out(`  Cloudron calls (${calls.length}, ${lc.mutatingCallsSince(since).length} changing something):`);
    for (const c of calls) out(`    ${describeCall(c)}`);
    const o = r.outputs;
    out(
      `  deploy: ${String(o.deployAction ?? "?")}; running ${String(o.imageTag ?? "?")} (manifest ` +
        `${String(o.manifestVersion ?? "?")})`,
    );
    if (o.preUpdateBackupId) out(`  backup before the update: ${String(o.preUpdateBackupId)}`);
    if (o.healthCheck) out(`  health gate: ${String(o.healthCheck)}`);
    if (o.smokeReport) out(`  smoke checks:\n${indent(String(o.smokeReport), "    ")}`);
    for (const line of (r.log ?? "").split("\n"))
      if (/ROLLBACK|rolled back|downgrade/.test(line)) out(`  log: ${line.trim()}`);
  };
  const up = async (title: string): Promise<UpResult> => {
    out(`\n== ${title} ==`);
    const since = lc.calls().length;
    const r = (await lc.up()) as UpResult;
    if (!r.ok) {
      out(`  FAILED:\n${indent(r.errors.join("\n"), "    ")}`);
      throw new RehearsalFailed(`${title} failed`);
    }
    show(r, since);
    return r;
  };

  // Production never builds: it promotes the release staging pushed, so staging's push is played first.
  const stagingRelease = async (version: string) => {
    if (stack !== "production") return;
    const digest = await lc.releaseOnStaging(version);
    out(`\n(staging released ${version} to the registry, ${digest}: production promotes it by digest)`);
  };
  await stagingRelease(firstVersion);
  await up(`up #1: first deploy of ${firstVersion} to a fresh ${stack}`);
  const before = lc.calls().length;
  out(`\n== up #2: nothing changed ==`);
  const second = (await lc.up()) as UpResult;
  const changed = second.steps.filter((s) => s.op !== "same");
  const mutating = lc.mutatingCallsSince(before);
  if (!second.ok || changed.length > 0 || mutating.length > 0) {
    out(
      `  UNEXPECTED: ${second.errors.join("; ")} ${changed.map((s) => `${s.name} ${s.op}`).join(", ")}; ` +
        `${mutating.length} changing calls`,
    );
    throw new RehearsalFailed("a second up with nothing changed was not a no-op");
  }
  out("  nothing to do: 0 resources changed, 0 Cloudron calls that change something");
  const done = [`deployed ${firstVersion}`, "a no-op up changed nothing"];

  const release = args.release ?? (args.rollback ? nextPatch(firstVersion) : undefined);
  if (release) {
    lc.setManifestVersion(release);
    await stagingRelease(release);
    const how = stack === "production" ? "promoted by digest" : "build: true";
    await up(`up #3: release ${firstVersion} → ${release} (the app checkout's manifest bumped, ${how})`);
    done.push(`released ${release}`);
  }
  if (args.rollback) {
    lc.config.build = false;
    lc.config.imageTag = firstVersion;
    out(
      `\n(rollback as the runbook says: pulumi config set build false; pulumi config set imageTag ${firstVersion}; ` +
        `the checkout still holds ${release})`,
    );
    out(`\n== preview of the rollback: what \`pulumi preview\` shows a reviewer ==`);
    const preview = (await lc.preview()) as UpResult;
    if (!preview.ok) {
      out(`  FAILED:\n${indent(preview.errors.join("\n"), "    ")}`);
      throw new RehearsalFailed("the preview of the rollback failed");
    }
    for (const st of preview.steps.filter((x) => x.op !== "same")) out(`  ${st.op} ${st.name}`);
    // The program's live check reads what the app runs, so the preview already names both versions.
    for (const line of (preview.log ?? "").split("\n"))
      if (/warning:.*(rollback|ROLLBACK)/.test(line)) out(`  ${line.trim()}`);
    await up(`up #4: rollback ${release} → ${firstVersion} (build: false, imageTag: ${firstVersion})`);
    done.push(`rolled back to ${firstVersion}`);
    out(
      `\nAfterwards (runbook): pulumi config rm imageTag; pulumi config set build true. The next up then ` +
        `BUILDS whatever`,
    );
    out(
      `version the app checkout holds (here ${release}, the release just rolled back): move the checkout first if ` +
        `that is not meant.`,
    );
  }
  const warned = warnings.length ? ` (with ${warnings.length} warning: ${warnings.join("; ")})` : "";
  return `${stack}: ${done.join(", ")}${warned}`;
}

function readManifestVersion(lc: Lifecycle): string {
  return (JSON.parse(fs.readFileSync(path.join(lc.appDir, "CloudronManifest.json"), "utf8")) as { version: string })
    .version;
}

/** The signals that interrupt a rehearsal, and the exit code for each (128 + the signal's number). */
const INTERRUPT_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Runs the rehearsal with every temporary file under one directory of its own (TMPDIR is pointed
 * there, so the runner, the registry and the program's child processes all write inside it), and
 * removes it on every way out: success, failure, exception, Ctrl-C (SIGINT) and SIGTERM.
 */
async function runRehearsal(args: RehearseArgs): Promise<number> {
  const reviewPr = !args.release && !args.rollback ? prNumberOfStack(args.stack) : undefined;
  // `pr-<n>`: a review app's whole life next to staging (its own flow, commands/rehearse/reviewApp.ts).
  if (reviewPr !== undefined) process.exit(await (await import("./reviewApp")).rehearseReviewApp(reviewPr, out));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "cr-rehearsal-"));
  process.env.TMPDIR = scratch;
  let lc: Lifecycle | undefined;
  let finished = false;
  let interrupted = false;
  const removeScratch = () => fs.rmSync(scratch, { recursive: true, force: true });
  process.on("exit", removeScratch);
  const finish = async (verdict: string, code: number) => {
    if (finished) return;
    finished = true;
    try {
      await lc?.close();
    } catch (err) {
      if (code === 0) {
        verdict = `REHEARSAL FAIL: ${(err as Error).message}`;
        code = 1;
      }
    }
    removeScratch();
    out(`\n${verdict}`);
    process.exit(code);
  };
  // Every way out goes through finish, which exits the process itself (the stand-ins' handles
  // would otherwise keep it alive): the exit code never comes back through this function.
  const exitedInFinish = new Promise<number>(() => undefined);
  const interrupt = (signal: keyof typeof INTERRUPT_EXIT_CODES) => {
    interrupted = true;
    void finish(`REHEARSAL FAIL: interrupted (${signal}); temporary files removed`, INTERRUPT_EXIT_CODES[signal]);
  };
  for (const signal of Object.keys(INTERRUPT_EXIT_CODES) as Array<keyof typeof INTERRUPT_EXIT_CODES>)
    process.on(signal, () => interrupt(signal));
  try {
    const summary = args.cutover
      ? await (await loadCutover()).rehearseCutover(out, (l) => (lc = l))
      : await rehearse(args, (l) => (lc = l));
    await finish(`REHEARSAL PASS: ${summary}`, 0);
  } catch (err) {
    // After Ctrl-C the runs fail because their processes died too: the signal handler reports. The
    // host may be seen dead before this process's own handler has run: same verdict.
    if (interrupted) return exitedInFinish;
    // Only a loaded runner can have started a host, and only a loaded cutover flow can fail as one.
    if (runner && err instanceof runner.HostKilledError && err.signal in INTERRUPT_EXIT_CODES) {
      interrupt(err.signal as keyof typeof INTERRUPT_EXIT_CODES);
      return exitedInFinish;
    }
    const known =
      err instanceof RehearsalFailed || (cutover !== undefined && err instanceof cutover.CutoverRehearsalFailed);
    await finish(`REHEARSAL FAIL: ${known ? err.message : `${(err as Error).message}`}`, 1);
  }
  return exitedInFinish;
}

/**
 * Not cancellable through runAsMain: the rehearsal owns SIGINT/SIGTERM (it tears its stand-ins
 * down, removes its temporary directory and exits 130/143 itself).
 */
runAsMain(
  defineCli({
    name: "rehearse",
    usage: REHEARSE_USAGE,
    spec: REHEARSE_SPEC,
    parse: rehearseArgsFrom,
    run: (args) => runRehearsal(args),
  }),
);
