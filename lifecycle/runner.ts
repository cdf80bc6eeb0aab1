/**
 * Offline lifecycle runner (test tooling, not product). A {@link Lifecycle} is one environment:
 * a stack config, an app checkout, a `cloudron` stand-in with its server state, a real OCI registry
 * on loopback and a loopback HTTP server playing the app. `up()`, `preview()` and `destroy()` each
 * run the real program in a fresh child process (lifecycle/host.ts) and keep Pulumi-like
 * state between runs, so scenarios can play several successive `up`s.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as crypto from "node:crypto";
import { spawn } from "node:child_process";
import type { RunResult, Job } from "./host";
import { startRegistry } from "./registry";
import { startFakeApp, type FakeResponse } from "./fakeApp";
import { callRecords, namedSecrets, runRecords, scanRecords } from "./secretScan";

export const PROJECT_DIR = path.resolve(__dirname, "..");
const STANDIN_DIR = path.join(PROJECT_DIR, "lifecycle", "standin");
// A copy of ../shared/fixtures/community-rule/CloudronManifest.json (the app's real manifest), so CI needs no shared/.
const FIXTURE_MANIFEST = path.join(PROJECT_DIR, "lifecycle", "fixtures", "community-rule", "CloudronManifest.json");

export interface StandinApp {
  id: string;
  fqdn: string;
  manifest: { id: string; version: string; dockerImage: string; [k: string]: unknown };
  installationState: string;
  runState: string;
  health: string;
  taskId?: string | null;
  error?: string | null;
  env: Record<string, string>;
  backups: Array<{ id: string; dockerImage: string; version: string }>;
  restarts: number;
}

export interface StandinState {
  server: string;
  tokens: string[];
  apps: StandinApp[];
  faults: Array<{ match: string; exit?: number; stderr?: string; times?: number; hangSeconds?: number }>;
  restartLog?: Array<{ app: string; reason: string; image: string }>;
  /** Test knob for the fake app: images (substring match) that answer health with 503. */
  unhealthyImages?: string[];
  ignoreUpdates?: boolean;
}

export interface CloudronCall {
  argv: string[];
  cwd: string;
  sub: string;
  server?: string;
  authenticated: boolean;
  exit: number;
  fault?: number | string;
}

/** Subcommands that change something on the server. */
export const MUTATING = new Set(["install", "update", "uninstall", "env set", "env unset", "exec", "backup create", "clone", "restore"]);

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
  /** Load the program with ts-node's type-check on (as `pulumi up` does by default). */
  typecheck?: boolean;
  commandTimeoutMs?: number;
  /** Print the host's progress lines to this process's stderr as they happen. */
  echo?: boolean;
  /**
   * Deploy to the Cloudron stand-in of another environment (same server state, call log and
   * token), as staging and review apps share one Cloudron. This environment keeps its own stack,
   * state, registry and loopback app; closing it leaves the other's server running.
   */
  shareCloudronWith?: Lifecycle;
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
  /** Directory of the Cloudron stand-in's server state (another environment's when shared). */
  private readonly serverDir: string;
  private stops: Array<() => Promise<void>> = [];
  registryHost = "";
  appUrl = "";
  extraEnv: Record<string, string> = {};
  forceBuildPlatform?: string;
  failBuild?: string;

  private constructor(private readonly opts: LifecycleOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "cr-lifecycle-"));
    this.appDir = path.join(this.dir, "community-rule");
    this.stack = opts.stack ?? "staging";
    this.serverDir = opts.shareCloudronWith?.serverDir ?? this.dir;
    this.token = opts.shareCloudronWith?.token ?? `crtok-${crypto.randomBytes(18).toString("hex")}`;
    this.registryPassword = `regpw-${crypto.randomBytes(18).toString("hex")}`;
  }

  static async create(opts: LifecycleOptions = {}): Promise<Lifecycle> {
    const lc = new Lifecycle(opts);
    await lc.init();
    return lc;
  }

  private async init() {
    fs.mkdirSync(this.appDir, { recursive: true });
    fs.writeFileSync(path.join(this.appDir, "Dockerfile"), "FROM node:20-bookworm-slim\nCMD [\"node\", \"server.js\"]\n");
    this.setManifestVersion(this.opts.manifestVersion ?? readFixture().version);
    const home = path.join(this.dir, "operator-home");
    fs.mkdirSync(home);
    this.extraEnv = {
      PATH: `${STANDIN_DIR}:${process.env.PATH}`,
      HOME: home,
      CLOUDRON_STANDIN_STATE: this.statePath,
      CLOUDRON_STANDIN_LOG: this.callLogPath,
    };
    const stackFile = path.join(PROJECT_DIR, `Pulumi.${this.stack}.yaml`);
    const fromStackFile = fs.existsSync(stackFile) ? readStackFile(stackFile) : {};
    const location = String(this.opts.config?.location ?? fromStackFile.location ?? `${this.stack}.communityrule.info`);
    if (!this.opts.shareCloudronWith) this.writeStandin({ server: "my.medlab.host", tokens: [this.token], apps: [], faults: [] });

    const registry = await startRegistry();
    this.stops.push(() => registry.stop());
    this.registryHost = registry.host;
    const app = await startFakeApp((req) => this.playApp(location, req.path));
    this.stops.push(() => app.stop());
    this.appUrl = app.url;

    Object.assign(this.config, fromStackFile, {
      imageRepository: `${registry.host}/communityrule/community-rule`,
      appDir: this.appDir,
      baseUrl: app.url,
      registryUsername: "deployer",
      healthTimeoutSeconds: 10,
      cloudronTimeoutSeconds: 60,
      busyWaitSeconds: 5,
      // A shared Cloudron is the other environment's server, whatever this stack's file says.
      ...(this.opts.shareCloudronWith ? { cloudronServer: this.opts.shareCloudronWith.config.cloudronServer } : {}),
      ...(this.opts.config ?? {}),
    });
    Object.assign(this.secrets, { registryPassword: this.registryPassword, ...(this.opts.secrets ?? {}) });
    if (this.opts.useToken !== false) this.secrets.cloudronToken = this.token;
  }

  get statePath() {
    return path.join(this.serverDir, "cloudron-server.json");
  }
  get callLogPath() {
    return path.join(this.serverDir, "cloudron-calls.jsonl");
  }
  get pulumiStatePath() {
    return path.join(this.dir, "pulumi-state.json");
  }
  get buildLogPath() {
    return path.join(this.dir, "builds.jsonl");
  }

  setManifestVersion(version: string, patch: Record<string, unknown> = {}) {
    const manifest = { ...readFixture(), version, ...patch };
    fs.writeFileSync(path.join(this.appDir, "CloudronManifest.json"), JSON.stringify(manifest, null, 2));
  }

  /** The loopback app: answers from the stand-in's view of the app at `location`. */
  private playApp(location: string, urlPath: string): FakeResponse {
    const state = this.standin();
    const app = state.apps.find((a) => a.fqdn === location);
    if (!app || app.runState !== "running") return { status: 502, body: "<html>502 Bad Gateway</html>" };
    const unhealthy = (state.unhealthyImages ?? []).some((s) => app.manifest.dockerImage.includes(s));
    if (urlPath === "/api/health") {
      return unhealthy
        ? { status: 503, body: JSON.stringify({ ok: false, database: "error" }) }
        : { status: 200, body: JSON.stringify({ ok: true, database: "connected" }) };
    }
    const seeded = fs.existsSync(path.join(this.serverDir, "containers", app.id, "seeded.json"));
    if (urlPath === "/api/templates") {
      return { status: 200, body: JSON.stringify({ templates: seeded ? [{ slug: "consensus" }, { slug: "do-ocracy" }] : [] }) };
    }
    if (urlPath === "/api/rules") return { status: 200, body: JSON.stringify({ rules: [] }) };
    return { status: 404, body: "not found" };
  }

  // ---- the stand-in's server -----------------------------------------------------------------
  standin(): StandinState {
    return JSON.parse(fs.readFileSync(this.statePath, "utf8")) as StandinState;
  }
  writeStandin(state: StandinState) {
    fs.writeFileSync(this.statePath, JSON.stringify(state, null, 2));
  }
  mutateStandin(fn: (s: StandinState) => void) {
    const s = this.standin();
    fn(s);
    this.writeStandin(s);
  }
  calls(): CloudronCall[] {
    if (!fs.existsSync(this.callLogPath)) return [];
    return fs
      .readFileSync(this.callLogPath, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as CloudronCall);
  }
  /** Calls recorded from index `from` on (take `calls().length` before a run). */
  callsSince(from: number): CloudronCall[] {
    return this.calls().slice(from);
  }
  mutatingCallsSince(from: number): CloudronCall[] {
    return this.callsSince(from).filter((c) => MUTATING.has(c.sub));
  }
  app(): StandinApp | undefined {
    const location = String(this.config.location);
    return this.standin().apps.find((a) => a.fqdn === location);
  }
  builds(): Array<{ imageName: string; platform: string; digest: string }> {
    if (!fs.existsSync(this.buildLogPath)) return [];
    return fs
      .readFileSync(this.buildLogPath, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  }
  seedRuns(): number {
    const app = this.app();
    if (!app) return 0;
    const f = path.join(this.serverDir, "containers", app.id, "seeded.json");
    return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")) as { runs: number }).runs : 0;
  }
  /** Pulumi-like state the runner keeps between runs (secrets as ciphertext). */
  pulumiState(): { resources: Array<{ urn: string; type: string; name: string; inputs: Record<string, unknown>; outputs: Record<string, unknown>; protect: boolean }>; outputs: Record<string, unknown> } {
    return JSON.parse(fs.readFileSync(this.pulumiStatePath, "utf8"));
  }

  // ---- running the program ---------------------------------------------------------------------
  up() {
    return this.run("up");
  }
  preview() {
    return this.run("preview");
  }
  destroy() {
    return this.run("destroy");
  }

  private rawConfig(): { config: Record<string, string>; secretKeys: string[] } {
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    const put = (k: string, v: unknown, secret: boolean) => {
      if (v === undefined) return;
      const key = `communityrule:${k}`;
      config[key] = typeof v === "string" ? v : JSON.stringify(v);
      if (secret) secretKeys.push(key);
    };
    for (const [k, v] of Object.entries(this.config)) put(k, v, false);
    for (const [k, v] of Object.entries(this.secrets)) put(k, v, true);
    return { config, secretKeys };
  }

  async run(mode: Job["mode"]): Promise<RunResult> {
    const { config, secretKeys } = this.rawConfig();
    const resultFile = path.join(this.dir, `result-${this.runs.length}.json`);
    const job: Job = {
      projectDir: PROJECT_DIR,
      project: "communityrule",
      stack: this.stack,
      mode,
      config,
      secretKeys,
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
    const register = this.opts.typecheck ? "ts-node/register" : "ts-node/register/transpile-only";
    const output = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ["--require", register, path.join(__dirname, "host.ts")], {
        cwd: PROJECT_DIR,
        env: { ...process.env, ...this.extraEnv, LIFECYCLE_JOB: jobFile, TS_NODE_PROJECT: path.join(PROJECT_DIR, "tsconfig.json") },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      const onData = (d: Buffer) => {
        out += d.toString();
        if (this.opts.echo) process.stderr.write(d);
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("close", () => resolve(out));
    });
    if (!fs.existsSync(resultFile)) throw new Error(`lifecycle host wrote no result; its output:\n${output}`);
    const result = JSON.parse(fs.readFileSync(resultFile, "utf8")) as RunResult & { log: string };
    result.log = output;
    this.runs.push(result);
    return result;
  }

  /**
   * Secret scan of everything this environment recorded (every scenario gets one, through close):
   * call log, run results and logs, the state file. Only the argv of `cloudron env set` may hold
   * app env values. Writes a summary for the suite-level report (tests/globalSetup.ts).
   */
  scanSecrets(): { scannedStrings: number; hits: Array<{ where: string; secretName: string }> } {
    const secrets = Object.fromEntries(Object.entries(namedSecrets(this)).filter(([, v]) => v.length >= 8));
    const records = [...callRecords(this.calls()), ...runRecords(this.runs)];
    for (const r of this.runs) records.push({ where: "host log", text: (r as RunResult & { log?: string }).log ?? "" });
    if (fs.existsSync(this.pulumiStatePath)) records.push({ where: "pulumi-state.json", text: fs.readFileSync(this.pulumiStatePath, "utf8") });
    const report = scanRecords(records, secrets);
    const dir = path.join(PROJECT_DIR, ".artifacts", "scans");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${path.basename(this.dir)}.json`), JSON.stringify({ runs: this.runs.length, scannedStrings: report.scannedStrings, secrets: Object.keys(secrets).length, hits: report.hits }));
    return report;
  }

  async close() {
    const report = this.runs.length > 0 ? this.scanSecrets() : { hits: [] };
    for (const stop of this.stops.reverse()) await stop().catch(() => undefined);
    if (report.hits.length > 0) {
      throw new Error(`secret scan: ${report.hits.length} secret value(s) found: ${report.hits.map((h) => `${h.secretName} in ${h.where}`).join("; ")}`);
    }
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
    return [...new Set(values.filter((v) => v.length >= 8))];
  }
}

function readFixture(): { version: string; id: string } & Record<string, unknown> {
  return JSON.parse(fs.readFileSync(FIXTURE_MANIFEST, "utf8"));
}

/** Reads `communityrule:*` keys of a Pulumi.<stack>.yaml (short keys), with the yaml package. */
export function readStackFile(file: string): Record<string, unknown> {
  const YAML = require("yaml") as typeof import("yaml");
  const doc = YAML.parse(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc.config ?? {})) {
    if (k.startsWith("communityrule:")) out[k.slice("communityrule:".length)] = v;
  }
  return out;
}
