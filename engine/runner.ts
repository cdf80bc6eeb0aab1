/**
 * Offline lifecycle runner (test tooling, not product). A {@link Lifecycle} is one environment:
 * a stack config, an app checkout, a Cloudron API stand-in (an HTTP server in this process, see
 * standin/cloudronApi.ts) with a `cloudron exec` stand-in on PATH for the seed, a real OCI registry
 * on loopback and a loopback HTTP server playing the app from the stand-in's app state. `up()`,
 * `preview()` and `destroy()` each run the real program, loaded afresh, in a host process
 * (engine/host.ts, run compiled from build/; kept between runs, see engine/README.md)
 * and keep Pulumi-like state between runs, so scenarios can play several successive `up`s.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as crypto from "node:crypto";
import { spawn } from "node:child_process";
import type { RunResult, Job } from "./host";
import { runEndLine, RUN_END_MARKER, type HostRunRequest } from "./hostProtocol";
import { startRegistry, type RegistryTags, type RunningRegistry } from "./registry";
import { configValueFromYaml, type ConfigValue } from "./configStep";
import { emulatedBuildSeed, hashContext } from "./dockerContext";
import { readFixtureManifest } from "./fixtureManifest";
import { readStackText, stackFileEntries, stackFileName, stacksIn } from "../config/stackFile";
import { findProjectDir } from "../lib/projectDir";
import { playCommunityRule, startFakeApp, type FakeRequest, type FakeResponse } from "./fakeApp";
import { apiCallRecords, execCallRecords, namedSecrets, runRecords, scanRecords } from "./secretScan";
import {
  MUTATING_OPERATIONS,
  startCloudronApi,
  type ApiCall,
  type CloudronApi,
  type CloudronApiSnapshot,
  type CloudronApiState,
  type StandinApp,
} from "./standin/cloudronApi";

export type { ApiCall, StandinApp } from "./standin/cloudronApi";

/** A saved point of one environment; see {@link Lifecycle.save}. */
export interface LifecycleSnapshot {
  server: CloudronApiSnapshot;
  pulumiState: string | undefined;
  manifest: string;
  config: Record<string, unknown>;
  secrets: Record<string, unknown>;
  extraEnv: Record<string, string>;
  forceBuildPlatform?: string;
  failBuild?: string;
  /** The registry's tags: a release tag pushed after the snapshot must not exist after a restore. */
  registryTags: RegistryTags;
}
/** The API stand-in's whole state (apps, tasks, faults, calls, violations), live. */
export type StandinState = CloudronApiState;

// findProjectDir, not `__dirname/..`: this file also runs compiled from build/engine/ (npm run rehearse, bench).
export const PROJECT_DIR = findProjectDir(__dirname);
const STANDIN_DIR = path.join(PROJECT_DIR, "engine", "standin");

/** One run of the `cloudron exec` stand-in, from its argv log. */
export interface ExecCall {
  argv: string[];
  cwd: string;
  exit: number;
  remoteExit?: number;
}

/** API operations that change something on the server (the seed exec included). */
export const MUTATING: ReadonlySet<string> = MUTATING_OPERATIONS;

/** Whether the app's image listens on the port its manifest names (stand-in knob imageHttpPorts). */
function listensOnManifestPort(state: StandinState, app: StandinApp): boolean {
  const entry = Object.entries(state.imageHttpPorts ?? {}).find(([image]) => app.manifest.dockerImage.includes(image));
  return !entry || entry[1] === (app.manifest.httpPort ?? 3000);
}

export interface LifecycleOptions {
  stack?: string;
  /** Manifest version of the app checkout. Defaults to the fixture's. */
  manifestVersion?: string;
  /** Extra or overriding plain config (short keys; objects become JSON). */
  config?: Record<string, unknown>;
  /** Extra secret config (short keys). */
  secrets?: Record<string, unknown>;
  /** Give the stack a cloudronToken (default true); false uses the "operator login" in HOME. */
  useToken?: boolean;
  commandTimeoutMs?: number;
  /** How long each stand-in task runs before it may finish (ms, default 150). */
  taskMs?: number;
  /**
   * Share another environment's Cloudron API stand-in (same server state, call log and token), e.g.
   * staging and review apps on one server. This environment keeps its own stack, Pulumi state,
   * registry and app server, and does not stop the shared stand-in on close.
   */
  shareCloudronWith?: Lifecycle;
  /** Print the host's progress lines to this process's stderr as they happen. */
  echo?: boolean;
  /**
   * Run every `up`/`preview`/`destroy` in a new host process (as `pulumi` does), instead of a kept
   * host that reloads the program for each run (the default: it saves the SDK's load time per run).
   * Also forced for every environment by LIFECYCLE_FRESH_HOST=1.
   */
  freshHostPerRun?: boolean;
}

/** The compiled lifecycle host (build/, `npm run build`), like the program and tools it plays. */
const HOST_ENTRY = path.join(PROJECT_DIR, "build", "engine", "host.js");

/**
 * V8 flags of the host process (the engine's own, never the program's or the tools': they are argv
 * of the host only, not NODE_OPTIONS, so the commands it runs do not inherit them). A host evaluates
 * each pass's program once: TurboFan's optimised code rarely pays for its compile there, and its
 * compile threads' memory is page faults, which cost some 20 us each on the test machines; parallel
 * GC threads only add CPU on a machine whose cores are all busy. Both cut the host's CPU per `up` by
 * about a fifth (`npm run bench`, "engine host CPU per up"). Neither changes what the program or the
 * engine does, only how fast V8 runs it.
 */
const HOST_ARGV = ["--no-opt", "--single-threaded-gc", HOST_ENTRY];

interface KeptHost {
  child: import("node:child_process").ChildProcess;
  onData?: (d: Buffer, stream: "stdout" | "stderr") => void;
  onExit?: (signal: NodeJS.Signals | null) => void;
}

/** What a host process printed for one run, and the signal that killed it, if one did. */
interface HostOutput {
  output: string;
  signal: NodeJS.Signals | null;
}

/** The host died from a signal before writing its result (e.g. Ctrl-C reached the whole process group). */
export class HostKilledError extends Error {
  constructor(
    readonly signal: NodeJS.Signals,
    output: string,
  ) {
    super(`lifecycle host was killed by ${signal} before it wrote a result; its output:\n${output}`);
  }
}

export class Lifecycle {
  readonly dir: string;
  readonly appDir: string;
  readonly stack: string;
  readonly token: string;
  readonly registryPassword: string;
  readonly config: Record<string, unknown> = {};
  readonly secrets: Record<string, unknown> = {};
  readonly runs: RunResult[] = [];
  private stateKey = crypto.randomBytes(16).toString("hex");
  private stops: Array<() => Promise<void>> = [];
  registryHost = "";
  private registry?: RunningRegistry;
  appUrl = "";
  /** The stack's app location (from its stack file). */
  location = "";
  private cloudronApi?: CloudronApi;
  /** Where this environment's own views (calls, exec calls, builds) start: 0, or the last restore. */
  private since = { calls: 0, execs: 0, builds: 0 };
  extraEnv: Record<string, string> = {};
  forceBuildPlatform?: string;
  failBuild?: string;

  private constructor(private readonly opts: LifecycleOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "cr-lifecycle-"));
    this.appDir = path.join(this.dir, "community-rule");
    this.stack = opts.stack ?? "staging";
    this.token = opts.shareCloudronWith?.token ?? `crtok-${crypto.randomBytes(18).toString("hex")}`;
    this.registryPassword = `regpw-${crypto.randomBytes(18).toString("hex")}`;
  }

  static async create(opts: LifecycleOptions = {}): Promise<Lifecycle> {
    const lc = new Lifecycle(opts);
    await lc.init();
    return lc;
  }

  /** The Cloudron API stand-in (in this process). */
  get api(): CloudronApi {
    if (!this.cloudronApi) throw new Error("lifecycle: the API stand-in is not started");
    return this.cloudronApi;
  }

  private async init() {
    fs.mkdirSync(this.appDir, { recursive: true });
    fs.writeFileSync(path.join(this.appDir, "Dockerfile"), 'FROM node:20-bookworm-slim\nCMD ["node", "server.js"]\n');
    this.setManifestVersion(this.opts.manifestVersion ?? readFixtureManifest().version);
    const home = path.join(this.dir, "operator-home");
    fs.mkdirSync(home);
    const fromStackFile = stacksIn(PROJECT_DIR).includes(this.stack)
      ? stackFileEntries(readStackText(PROJECT_DIR, this.stack).text, stackFileName(this.stack))
      : {};
    this.location = String(this.opts.config?.location ?? fromStackFile.location ?? `${this.stack}.communityrule.info`);

    if (this.opts.shareCloudronWith) {
      this.cloudronApi = this.opts.shareCloudronWith.api;
    } else {
      this.cloudronApi = await startCloudronApi({
        tokens: [{ token: this.token, role: "owner" }],
        taskMs: this.opts.taskMs ?? 150,
      });
      this.stops.push(() => this.api.stop());
    }
    this.extraEnv = {
      PATH: `${STANDIN_DIR}:${process.env.PATH}`,
      HOME: home,
      CLOUDRON_STANDIN_LOG: this.execLogPath,
      // For the `pulumi` stand-in (stack output): where the state is and the key that opens its secrets.
      LIFECYCLE_PULUMI_STATE: this.pulumiStatePath,
      LIFECYCLE_PULUMI_STATE_KEY: this.stateKey,
      LIFECYCLE_PULUMI_STACK: this.stack,
    };
    if (this.opts.useToken === false) {
      // What `cloudron login <server>` leaves behind, for the operator-login path.
      const server = this.api.url;
      fs.writeFileSync(
        path.join(home, ".cloudron.json"),
        JSON.stringify({ cloudrons: { default: server, [server]: { apiEndpoint: server, token: this.token } } }),
        { mode: 0o600 },
      );
    }

    const registry = await startRegistry();
    this.registry = registry;
    this.stops.push(() => registry.stop());
    this.registryHost = registry.host;
    const app = await startFakeApp((req) => this.playApp(this.location, req));
    this.stops.push(() => app.stop());
    this.appUrl = app.url;

    Object.assign(this.config, fromStackFile, {
      cloudronServer: this.api.url,
      imageRepository: `${registry.host}/communityrule/community-rule`,
      appDir: this.appDir,
      baseUrl: app.url,
      registryUsername: "deployer",
      // Time is an input: the stand-in's tasks take ~150 ms and the loopback app answers at once, so
      // short bounds keep failures fast.
      healthTimeoutSeconds: 3,
      cloudronTimeoutSeconds: 20,
      busyWaitSeconds: 5,
      ...(this.opts.config ?? {}),
    });
    Object.assign(this.secrets, { registryPassword: this.registryPassword, ...(this.opts.secrets ?? {}) });
    if (this.opts.useToken !== false) this.secrets.cloudronToken = this.token;
  }

  /** Log of the `cloudron exec` stand-in's invocations (argv, cwd, exit). */
  get execLogPath() {
    return path.join(this.dir, "cloudron-exec.jsonl");
  }
  get pulumiStatePath() {
    return path.join(this.dir, "pulumi-state.json");
  }
  get buildLogPath() {
    return path.join(this.dir, "builds.jsonl");
  }

  setManifestVersion(version: string, patch: Record<string, unknown> = {}) {
    const manifest = { ...readFixtureManifest(), version, ...patch };
    fs.writeFileSync(path.join(this.appDir, "CloudronManifest.json"), JSON.stringify(manifest, null, 2));
  }

  /**
   * What staging's `up` pushes for a release: `imageRepository:<version>` for linux/amd64, with the
   * bytes this environment's build would make of it (same seed as the host's build), so production,
   * which never builds, has the release to promote. Returns the digest.
   */
  async releaseOnStaging(version?: string): Promise<string> {
    const { pushImage } = await import("./registry");
    const tag =
      version ??
      (JSON.parse(fs.readFileSync(path.join(this.appDir, "CloudronManifest.json"), "utf8")) as { version: string })
        .version;
    const repository = String(this.config.imageRepository ?? "")
      .split("/")
      .slice(1)
      .join("/");
    const pushed = await pushImage(this.registryHost, repository, tag, {
      platforms: ["linux/amd64"],
      seed: this.buildSeed(tag),
    });
    return pushed.digest;
  }

  /**
   * The digest this environment's build of `version` will get, known before the `up` (how a test makes
   * one version unhealthy): the same content pushed under a probe tag, since the release tag itself
   * must not exist before the build pushes it.
   */
  async digestOfBuild(version: string): Promise<string> {
    const { pushImage } = await import("./registry");
    const repository = String(this.config.imageRepository ?? "")
      .split("/")
      .slice(1)
      .join("/");
    const pushed = await pushImage(this.registryHost, repository, `probe-${version}`, {
      platforms: ["linux/amd64"],
      seed: this.buildSeed(version),
    });
    return pushed.digest;
  }

  /** What the host's docker.Image emulation seeds a build of `tag` with (engine/dockerContext.ts). */
  private buildSeed(tag: string): string {
    return emulatedBuildSeed(hashContext(this.appDir, path.join(this.appDir, "Dockerfile")), tag);
  }

  /** The loopback app: answers from the stand-in's view of the app at `location` (fakeApp.ts). */
  private playApp(location: string, req: FakeRequest): FakeResponse {
    const state = this.api.state;
    const app = state.apps.find((a) => a.fqdn === location);
    // An image that listens on another port than its manifest names is reached only by the proxy's 502.
    if (app && !listensOnManifestPort(state, app)) return { status: 502, body: "<html>502 Bad Gateway</html>" };
    return playCommunityRule(app, state.unhealthyImages, req);
  }

  // ---- the stand-in's server -----------------------------------------------------------------
  /**
   * A snapshot of the stand-in's state (apps, tasks, faults, calls, violations): later changes on the
   * server do not show in it, and changing it changes nothing. Use {@link mutateStandin} or
   * {@link mutateApp} to change the server, or `api` for the live object.
   */
  standin(): StandinState {
    return JSON.parse(JSON.stringify(this.api.state)) as StandinState;
  }
  /** Changes the stand-in's live state (what a dashboard user or the server itself would change). */
  mutateStandin(fn: (s: StandinState) => void) {
    fn(this.api.state);
  }
  /** Changes the live app at this stack's location (e.g. a dashboard edit of its env). */
  mutateApp(fn: (app: StandinApp) => void) {
    const app = this.api.app(String(this.config.location ?? this.location));
    if (!app) throw new Error(`lifecycle: no app at ${String(this.config.location ?? this.location)} to change`);
    fn(app);
  }
  /**
   * Every API call the stand-in received since creation or the last {@link restore}, in order
   * (method, path, operation, status, fault, body).
   */
  calls(): ApiCall[] {
    return this.api.calls().slice(this.since.calls);
  }
  /** Calls recorded from index `from` on (take `calls().length` before a run). */
  callsSince(from: number): ApiCall[] {
    return this.calls().slice(from);
  }
  /** Mutating API calls from index `from` on (install, update, configure/env, uninstall, clone, exec, …). */
  mutatingCallsSince(from: number): ApiCall[] {
    return this.callsSince(from).filter((c) => MUTATING.has(c.operation));
  }
  /** Invocations of the `cloudron exec` stand-in (since creation or the last {@link restore}). */
  execCalls(): ExecCall[] {
    return this.allExecCalls().slice(this.since.execs);
  }
  private allExecCalls(): ExecCall[] {
    if (!fs.existsSync(this.execLogPath)) return [];
    return fs
      .readFileSync(this.execLogPath, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ExecCall);
  }
  /** A snapshot of the app at this stack's location on the stand-in (see {@link standin}). */
  app(): StandinApp | undefined {
    const app = this.api.app(String(this.config.location ?? this.location));
    return app && (JSON.parse(JSON.stringify(app)) as StandinApp);
  }
  /** Container starts of all apps so far (install, update, env change, restart, clone). */
  restarts(): number {
    return this.api.state.restartLog.length;
  }
  /** Images "built" and pushed (since creation or the last {@link restore}). */
  builds(): Array<{ imageName: string; platform: string; digest: string }> {
    return this.allBuilds().slice(this.since.builds);
  }
  private allBuilds(): Array<{ imageName: string; platform: string; digest: string }> {
    if (!fs.existsSync(this.buildLogPath)) return [];
    return fs
      .readFileSync(this.buildLogPath, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { imageName: string; platform: string; digest: string });
  }

  // ---- coming back to a saved point ------------------------------------------------------------
  /**
   * This environment as it is now (Pulumi state, the server, the app checkout's manifest, stack
   * config, fault knobs), for {@link restore}. Take it between runs. Lets a file of scenarios that
   * all start from "installed" pay for the install once; the registry and the host are shared.
   */
  save(): LifecycleSnapshot {
    return {
      server: this.api.snapshot(),
      pulumiState: fs.existsSync(this.pulumiStatePath) ? fs.readFileSync(this.pulumiStatePath, "utf8") : undefined,
      manifest: fs.readFileSync(path.join(this.appDir, "CloudronManifest.json"), "utf8"),
      config: structuredClone(this.config),
      secrets: structuredClone(this.secrets),
      extraEnv: { ...this.extraEnv },
      forceBuildPlatform: this.forceBuildPlatform,
      failBuild: this.failBuild,
      registryTags: this.registry?.tags() ?? {},
    };
  }

  /**
   * Back to `snapshot`: as if this environment had just been brought there. `calls()`,
   * `execCalls()` and `builds()` start afresh from here; the secret scan at close still covers
   * everything recorded before too. Tags pushed since are removed from the registry (their blobs
   * stay), so a release tag pushed by a later scenario does not exist for the next one.
   */
  restore(snapshot: LifecycleSnapshot) {
    this.api.restore(snapshot.server);
    if (snapshot.pulumiState === undefined) fs.rmSync(this.pulumiStatePath, { force: true });
    else fs.writeFileSync(this.pulumiStatePath, snapshot.pulumiState);
    fs.writeFileSync(path.join(this.appDir, "CloudronManifest.json"), snapshot.manifest);
    for (const [target, from] of [
      [this.config, snapshot.config],
      [this.secrets, snapshot.secrets],
    ] as const) {
      for (const k of Object.keys(target)) delete target[k];
      Object.assign(target, structuredClone(from));
    }
    this.extraEnv = { ...snapshot.extraEnv };
    this.forceBuildPlatform = snapshot.forceBuildPlatform;
    this.failBuild = snapshot.failBuild;
    this.registry?.restoreTags(snapshot.registryTags);
    this.since = { calls: this.api.calls().length, execs: this.allExecCalls().length, builds: this.allBuilds().length };
  }
  /**
   * Resolves once no task runs on the stand-in (e.g. a busy spell a test started has run out), so a
   * test can go on from an idle server without sleeping a guessed time. Rejects after `timeoutMs`.
   */
  async waitUntilNoTask(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.api.state.tasks.filter((t) => t.active);
      if (running.length === 0) return;
      if (Date.now() >= deadline)
        throw new Error(
          `lifecycle: task(s) ${running.map((t) => t.id).join(", ")} still running after ${timeoutMs} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  seedRuns(): number {
    return this.api.app(String(this.config.location ?? this.location))?.seedRuns ?? 0;
  }
  /** Pulumi-like state the runner keeps between runs (secrets as ciphertext). */
  pulumiState(): {
    resources: Array<{
      urn: string;
      type: string;
      name: string;
      inputs: Record<string, unknown>;
      outputs: Record<string, unknown>;
      protect: boolean;
    }>;
    outputs: Record<string, unknown>;
  } {
    return JSON.parse(fs.readFileSync(this.pulumiStatePath, "utf8"));
  }

  // ---- running the program ---------------------------------------------------------------------
  up() {
    return this.run("up");
  }
  preview() {
    return this.run("preview");
  }
  /** `pulumi destroy`; `excludeProtected`: `--exclude-protected`. */
  destroy(opts: { excludeProtected?: boolean } = {}) {
    return this.run("destroy", opts);
  }

  /**
   * The stack's config as a stack file would hold it (full key → config value): plain settings as
   * written, secrets as `secure:` values. The host plays the
   * CLI's config step on it (configStep.ts) before the program sees anything.
   */
  private stackConfig(): Array<[string, ConfigValue]> {
    const out: Array<[string, ConfigValue]> = [];
    const opened = (entry: { secure: unknown }) => String(entry.secure);
    for (const [k, v] of Object.entries(this.config)) {
      if (v !== undefined) out.push([`communityrule:${k}`, configValueFromYaml(v, opened)]);
    }
    // A secret map is set whole (`pulumi config set --secret k '<json>'`): one secure text.
    for (const [k, v] of Object.entries(this.secrets)) {
      if (v !== undefined)
        out.push([
          `communityrule:${k}`,
          configValueFromYaml({ secure: typeof v === "string" ? v : JSON.stringify(v) }, opened),
        ]);
    }
    return out;
  }

  async run(
    mode: Job["mode"],
    opts: Pick<Job, "excludeProtected" | "skipPreview" | "programEntry"> = {},
  ): Promise<RunResult> {
    const resultFile = path.join(this.dir, `result-${this.runs.length}.json`);
    const job: Job = {
      projectDir: PROJECT_DIR,
      project: "communityrule",
      stack: this.stack,
      mode,
      stackConfig: this.stackConfig(),
      ...opts,
      stateFile: this.pulumiStatePath,
      resultFile,
      stateKey: this.stateKey,
      commandTimeoutMs: this.opts.commandTimeoutMs ?? 60_000,
      buildLog: this.buildLogPath,
      forceBuildPlatform: this.forceBuildPlatform,
      failBuild: this.failBuild,
    };
    const jobFile = path.join(this.dir, `job-${this.runs.length}.json`);
    fs.writeFileSync(jobFile, JSON.stringify(job));
    const fresh = this.opts.freshHostPerRun || !!process.env.LIFECYCLE_FRESH_HOST;
    const { output, signal } = fresh ? await this.runInFreshHost(jobFile) : await this.runInKeptHost(jobFile);
    if (!fs.existsSync(resultFile)) {
      if (signal) throw new HostKilledError(signal, output);
      throw new Error(`lifecycle host wrote no result; its output:\n${output}`);
    }
    const result = JSON.parse(fs.readFileSync(resultFile, "utf8")) as RunResult & { log: string };
    result.log = output;
    this.runs.push(result);
    return result;
  }

  /** One run in a process of its own (LIFECYCLE_JOB), exactly a language host's life. */
  private runInFreshHost(jobFile: string): Promise<HostOutput> {
    return new Promise<HostOutput>((resolve) => {
      const child = spawn(process.execPath, HOST_ARGV, {
        cwd: PROJECT_DIR,
        env: { ...process.env, ...this.extraEnv, LIFECYCLE_JOB: jobFile },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      const onData = (d: Buffer) => {
        out += d.toString();
        if (this.opts.echo) process.stderr.write(d);
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("error", () => undefined); // a failed spawn also closes; its output says why
      child.on("close", (_code, signal) => resolve({ output: out, signal }));
    });
  }

  /**
   * One run in a kept host (an idle one of this process, or a new one): the job goes over IPC with
   * this environment's variables; the run's output is everything the host writes until its end
   * marker has arrived on both streams. Then the host goes back to the idle ones if it said it was
   * settled; otherwise (a failed program may leave work in flight) it is stopped.
   */
  private runInKeptHost(jobFile: string): Promise<HostOutput> {
    const host = takeIdleHost() ?? spawnHost();
    return new Promise<HostOutput>((resolve) => {
      let out = "";
      // Output is taken line by line per stream, so the end marker is always seen whole.
      const partial = { stdout: "", stderr: "" };
      const ended = { stdout: false, stderr: false };
      const take = (line: string) => {
        out += line;
        if (this.opts.echo) process.stderr.write(line);
      };
      /** The host's word that nothing of the run is still in flight (hostProtocol.ts). */
      let settled: boolean | undefined;
      const finish = (signal: NodeJS.Signals | null) => {
        host.onData = undefined;
        host.onExit = undefined;
        for (const rest of Object.values(partial)) if (rest) take(rest);
        if (signal === null && settled === true) parkIdleHost(host);
        else if (isAlive(host)) host.child.kill("SIGKILL");
        resolve({ output: out, signal });
      };
      host.onData = (d, stream) => {
        const lines = (partial[stream] + d.toString()).split(/(?<=\n)/);
        partial[stream] = lines.at(-1)!.endsWith("\n") ? "" : lines.pop()!;
        for (const line of lines) {
          if (line.startsWith(RUN_END_MARKER)) {
            ended[stream] = true;
            if (stream === "stdout") settled = line === runEndLine(true);
          } else take(line);
        }
        if (ended.stdout && ended.stderr) finish(null);
      };
      host.onExit = (signal) => finish(signal);
      const request: HostRunRequest = { jobFile, env: this.extraEnv };
      // A host that died meanwhile cannot take it; its exit event (still to come) ends this run.
      host.child.send(request, () => undefined);
    });
  }

  /**
   * Secret scan of everything this environment recorded (every scenario gets one, through close):
   * the API call log (paths, queries and bodies, except the env of install and configure/env, the
   * one sanctioned route), the exec stand-in's argv log, run results and logs, the state file.
   * Writes a summary for the suite-level report (tests/globalSetup.ts).
   */
  scanSecrets(): { scannedStrings: number; hits: Array<{ where: string; secretName: string }> } {
    const secrets = Object.fromEntries(Object.entries(namedSecrets(this)).filter(([, v]) => v.length >= 8));
    const records = [
      ...apiCallRecords(this.api.calls()),
      ...execCallRecords(this.allExecCalls()),
      ...runRecords(this.runs),
    ];
    if (fs.existsSync(this.pulumiStatePath))
      records.push({ where: "pulumi-state.json", text: fs.readFileSync(this.pulumiStatePath, "utf8") });
    const report = scanRecords(records, secrets);
    const dir = path.join(PROJECT_DIR, ".artifacts", "scans");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, `${path.basename(this.dir)}.json`),
      JSON.stringify({
        runs: this.runs.length,
        scannedStrings: report.scannedStrings,
        secrets: Object.keys(secrets).length,
        hits: report.hits,
      }),
    );
    return report;
  }

  /**
   * Stops everything, then fails if the secret scan found anything or the API stand-in recorded a
   * violation (access_token in a query, skipBackup: true, a body off the spec's shape). A test that
   * provokes a violation on purpose clears `standin().violations` after asserting it.
   */
  async close() {
    const report = this.runs.length > 0 ? this.scanSecrets() : { hits: [] };
    const violations = this.cloudronApi ? [...this.api.state.violations] : [];
    for (const stop of this.stops.reverse()) await stop().catch(() => undefined);
    if (report.hits.length > 0) {
      const where = report.hits.map((h) => `${h.secretName} in ${h.where}`).join("; ");
      throw new Error(`secret scan: ${report.hits.length} secret value(s) found: ${where}`);
    }
    if (violations.length > 0)
      throw new Error(`Cloudron API stand-in recorded ${violations.length} violation(s):\n${violations.join("\n")}`);
    if (!process.env.KEEP_LIFECYCLE_DIRS) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Every secret value this environment holds: what the secret scan looks for. */
  secretValues(): string[] {
    const values = [this.token, this.registryPassword];
    for (const v of Object.values(this.secrets)) {
      if (typeof v === "string") values.push(v);
      else if (v && typeof v === "object") values.push(...Object.values(v as Record<string, string>).map(String));
    }
    const app = this.app();
    if (app?.env.SESSION_SECRET) values.push(app.env.SESSION_SECRET);
    // Every SESSION_SECRET ever sent (a rotated-away one must not leak either).
    for (const c of this.cloudronApi ? this.api.calls() : []) {
      const env = (c.requestBody as { env?: Record<string, unknown> } | undefined)?.env;
      if ((c.operation === "installApp" || c.operation === "setAppEnv") && typeof env?.SESSION_SECRET === "string")
        values.push(env.SESSION_SECRET);
    }
    return [...new Set(values.filter((v) => v.length >= 8))];
  }
}

/**
 * Kept hosts between runs, settled at the end of their last run: the next run in this process, of
 * whichever environment, takes one instead of starting a process and loading the SDK again (the
 * last one parked first, so an environment's runs keep their host while nothing else runs). A host
 * serves environments one after another exactly as it serves one environment's runs: each run
 * brings its own job, environment variables and state file, and loads the program afresh. Runs at
 * the same time (environments side by side) take a host each.
 */
const idleHosts: KeptHost[] = [];
const MAX_IDLE_HOSTS = 2;

function spawnHost(): KeptHost {
  const child = spawn(process.execPath, HOST_ARGV, {
    cwd: PROJECT_DIR,
    env: { ...process.env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const host: KeptHost = { child, onData: undefined };
  child.stdout!.on("data", (d: Buffer) => host.onData?.(d, "stdout"));
  child.stderr!.on("data", (d: Buffer) => host.onData?.(d, "stderr"));
  child.on("error", () => undefined); // also reported as exit (or a failed send, handled there)
  child.on("exit", (_code, signal) => host.onExit?.(signal));
  return host;
}

function isAlive(host: KeptHost): boolean {
  return host.child.exitCode === null && host.child.signalCode === null && !host.child.killed;
}

/** An idle host does not keep this process alive; it exits by itself when this process does (IPC closes). */
function setHeld(host: KeptHost, held: boolean) {
  const handles = [host.child, host.child.stdout, host.child.stderr, host.child.channel] as Array<
    { ref(): void; unref(): void } | null | undefined
  >;
  for (const h of handles) {
    if (held) h?.ref();
    else h?.unref();
  }
}

function parkIdleHost(host: KeptHost) {
  host.onData = undefined;
  host.onExit = undefined;
  if (!isAlive(host) || idleHosts.length >= MAX_IDLE_HOSTS) {
    if (isAlive(host)) host.child.kill("SIGKILL");
    return;
  }
  setHeld(host, false);
  idleHosts.push(host);
}

function takeIdleHost(): KeptHost | undefined {
  for (let host = idleHosts.pop(); host; host = idleHosts.pop()) {
    if (!isAlive(host)) continue;
    setHeld(host, true);
    return host;
  }
  return undefined;
}
