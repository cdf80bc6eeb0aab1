/**
 * Lifecycle host: one `pulumi up`, `preview` or `destroy`, played offline in its own process.
 *
 * The real program (package.json `main`, the compiled build/index.js) is `require`d the way Pulumi's
 * Node.js language host loads it. Resource registrations go to a mock monitor that behaves like
 * the engine: it diffs each resource against the state kept from the previous run and then
 * *executes* the step: command resources run their create/update/delete scripts with their
 * environment, stdin and working directory; dynamic providers are deserialized from `__provider`
 * and their diff/create/update/delete are called; random passwords are generated; docker images are
 * "built" by pushing real OCI content for the requested platform to a real registry.
 *
 * Simplifications (documented in engine/README.md): steps run in registration order (the
 * SDK already waits for each resource's inputs and dependsOn); after the first failed step no new
 * step starts; replaced resources are deleted at the end; providers' `check` is not called; refresh
 * and import are not modelled.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as crypto from "node:crypto";
import { spawn } from "node:child_process";
import { hostIsSettled, runEndLine, RUN_END_MARKER, type HostRunRequest } from "./hostProtocol";
import { readProjectYaml, runConfigStep, type ConfigValue } from "./configStep";
import { emulatedBuildSeed, hashContext } from "./dockerContext";
import { keepCompiledModules } from "./compiledModules";

/** The run in progress (one at a time per process; see the end of this file for how runs arrive). */
let job: Job;

export interface Job {
  projectDir: string;
  project: string;
  stack: string;
  mode: "up" | "preview" | "destroy";
  /**
   * The stack's config as its stack file holds it (full key → value), before the CLI's config step
   * (configStep.ts) applies Pulumi.yaml's defaults and checks it.
   */
  stackConfig: Array<[string, ConfigValue]>;
  /** `pulumi up --skip-preview`: the update pass without the preview pass before it. */
  skipPreview?: boolean;
  /** `pulumi destroy --exclude-protected`: leave protected resources and what they depend on. */
  excludeProtected?: boolean;
  /** Tests of the engine itself: run this JavaScript program instead of package.json `main`. */
  programEntry?: string;
  stateFile: string;
  resultFile: string;
  /** Key that encrypts secrets in the state file (Pulumi's passphrase stands in this place). */
  stateKey: string;
  /** Bound on one command's run; a hung command fails its step. */
  commandTimeoutMs: number;
  /** Registry that `docker.Image` builds push to (host:port of the real test registry). */
  buildLog: string;
  /** Overrides for the docker build emulation: platform forced (to test wrong-arch pushes). */
  forceBuildPlatform?: string;
  /** Make docker builds fail (fault injection for the push step). */
  failBuild?: string;
}

export interface StateResource {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  id: string;
  parent: string;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  protect: boolean;
  deleteBeforeReplace: boolean;
  retainOnDelete: boolean;
  deletedWith: string;
  dependencies: string[];
}

export interface StepRecord {
  urn: string;
  type: string;
  name: string;
  op: "create" | "update" | "replace" | "same" | "delete" | "read";
  detail?: string[];
  /** The old URN this resource was found under through one of its aliases. */
  alias?: string;
  error?: string;
  command?: string;
  stdout?: string;
  stderr?: string;
  durationMs?: number;
}

/** What one pass of the program (preview or update) did. */
export interface PassResult {
  ok: boolean;
  steps: StepRecord[];
  errors: string[];
}

export interface RunResult {
  ok: boolean;
  mode: Job["mode"];
  /** The update pass's steps (of `up`), or the preview's (of `preview`, or of an `up` whose preview failed). */
  steps: StepRecord[];
  errors: string[];
  /** `up`: the preview pass that ran first (absent with `skipPreview`, or when the config step failed). */
  preview?: PassResult;
  outputs: Record<string, unknown>;
  /** Custom (provider-managed) resources the program registered; components are not counted. */
  registered: number;
  /** The file the program was loaded from, and whether a TypeScript loader was present (it must not be). */
  loadedEntry?: string;
  typescriptHook?: boolean;
  /** The host process that ran it, and whether the program was already in its module cache (never should be). */
  hostPid?: number;
  programWasCached?: boolean;
  /** `up`: the program's modules (under build/) still loaded when the update pass began: zod's bundle only. */
  keptForUpdate?: string[];
  /** CPU time (user + system) the host process spent on this run, its config step and passes. */
  hostCpuMs?: number;
}

// ---- secrets in state: encrypted like Pulumi does with a passphrase ----------------------------
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

function isSecretWrapper(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}
function unwrap(v: unknown): unknown {
  if (isSecretWrapper(v)) return unwrap(v.value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
}
/** Secret values shown as `pulumi up` shows them: "[secret]". */
function maskSecrets(v: unknown): unknown {
  if (isSecretWrapper(v)) return "[secret]";
  if (Array.isArray(v)) return v.map(maskSecrets);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskSecrets(x)]));
  return v;
}
function secretWrap(value: unknown): unknown {
  return { [SIG_KEY]: SECRET_SIG, value };
}
function encrypt(value: unknown): { ciphertext: string } {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv("aes-256-gcm", crypto.createHash("sha256").update(job.stateKey).digest(), iv);
  const data = Buffer.concat([c.update(JSON.stringify(value), "utf8"), c.final()]);
  return { ciphertext: Buffer.concat([iv, c.getAuthTag(), data]).toString("base64") };
}
function decrypt(box: { ciphertext: string }): unknown {
  const raw = Buffer.from(box.ciphertext, "base64");
  const d = crypto.createDecipheriv(
    "aes-256-gcm",
    crypto.createHash("sha256").update(job.stateKey).digest(),
    raw.subarray(0, 12),
  );
  d.setAuthTag(raw.subarray(12, 28));
  return JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8"));
}
/** SDK value → state value: secret wrappers become ciphertext boxes. */
function toState(v: unknown): unknown {
  if (isSecretWrapper(v)) return { __secret: encrypt(unwrap(v.value)) };
  if (Array.isArray(v)) return v.map(toState);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toState(x)]));
  return v;
}
/** State value → SDK value (secret wrappers restored). */
function fromState(v: unknown): unknown {
  if (v && typeof v === "object" && "__secret" in (v as object))
    return secretWrap(decrypt((v as { __secret: { ciphertext: string } }).__secret));
  if (Array.isArray(v)) return v.map(fromState);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromState(x)]));
  return v;
}
function hasSecret(v: unknown): boolean {
  if (isSecretWrapper(v)) return true;
  if (Array.isArray(v)) return v.some(hasSecret);
  if (v && typeof v === "object") return Object.values(v).some(hasSecret);
  return false;
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}
function changedKeys(olds: Record<string, unknown>, news: Record<string, unknown>, ignore: string[] = []): string[] {
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
  return [...keys]
    .filter((k) => !ignore.includes(k) && stableJson(unwrap(olds[k])) !== stableJson(unwrap(news[k])))
    .sort();
}

// ---- state --------------------------------------------------------------------------------------
interface StateFile {
  resources: StateResource[];
  outputs: Record<string, unknown>;
}
// Per run: reset by beginJob.
let oldState: StateFile = { resources: [], outputs: {} };
let oldByUrn = new Map<string, StateResource>();
let newResources = new Map<string, StateResource>();
let steps: StepRecord[] = [];
let errors: string[] = [];
let pendingDeletes: StateResource[] = [];
let failed = false;
let stackOutputs: Record<string, unknown> = {};
let programError: unknown;
let loadedEntry: string | undefined;
let programWasCached: boolean | undefined;
let keptForUpdate: string[] | undefined;
/** process.cpuUsage() when the run began. */
let cpuAtStart: NodeJS.CpuUsage | undefined;
/** The pass now running: true for a preview (the program's `isDryRun()`), false for the update. */
let dryRun = false;
/** An `up`'s preview pass, once it has run. */
let previewPass: PassResult | undefined;
/** This pass's resources found under an alias: new URN → old URN (the engine's `sg.aliases`). */
let aliasOf = new Map<string, string>();

function beginJob(next: Job) {
  cpuAtStart = process.cpuUsage();
  job = next;
  // Test hook (tests/lifecycle.loader.test.ts): leave a wait running past the run's end, as a
  // program that failed mid-wait would, to show the runner replaces a host that is not settled.
  const straggler = Number(process.env.LIFECYCLE_HOST_TEST_STRAGGLER_MS ?? 0);
  if (straggler > 0) setTimeout(() => undefined, straggler);
  oldState = fs.existsSync(job.stateFile)
    ? (JSON.parse(fs.readFileSync(job.stateFile, "utf8")) as StateFile)
    : { resources: [], outputs: {} };
  oldByUrn = new Map(oldState.resources.map((r) => [r.urn, r]));
  previewPass = undefined;
  keptForUpdate = undefined;
  beginPass(job.mode === "preview");
}

/** Resets what one pass of the program records; the state read at the start of the run stays. */
function beginPass(preview: boolean) {
  dryRun = preview;
  aliasOf = new Map();
  newResources = new Map();
  steps = [];
  errors = [];
  pendingDeletes = [];
  failed = false;
  stackOutputs = {};
  programError = undefined;
  loadedEntry = undefined;
  programWasCached = undefined;
}

function say(line: string) {
  process.stderr.write(line + "\n");
}

// ---- executing resources -----------------------------------------------------------------------
interface Exec {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runShell(
  name: string,
  cmd: string,
  inputs: Record<string, unknown>,
  extraEnv: Record<string, string>,
): Promise<Exec> {
  const environment = (inputs.environment ?? {}) as Record<string, string>;
  const dir = typeof inputs.dir === "string" ? path.resolve(job.projectDir, inputs.dir) : job.projectDir;
  const interpreter = (inputs.interpreter as string[] | undefined) ?? ["/bin/sh", "-c"];
  return new Promise((resolve) => {
    const child = spawn(interpreter[0], [...interpreter.slice(1), cmd], {
      cwd: dir,
      env: { ...process.env, ...environment, ...extraEnv },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      for (const line of d.toString().split("\n").filter(Boolean)) say(`    ${name} | ${line}`);
    });
    // A command that exits without reading its stdin is no failure (Go's os/exec drops that EPIPE).
    child.stdin.on("error", () => undefined);
    child.stdin.end(typeof inputs.stdin === "string" ? inputs.stdin : "");
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid ?? 0), "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, job.commandTimeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, ""), timedOut });
    });
  });
}

/** Runs a command resource's create/update/delete the way pulumi-command does. */
async function runCommand(
  name: string,
  which: "create" | "update" | "delete",
  inputs: Record<string, unknown>,
  prevOutputs?: Record<string, unknown>,
) {
  const cmd = (which === "update" ? (inputs.update ?? inputs.create) : inputs[which]) as string | undefined;
  if (!cmd)
    return { stdout: (prevOutputs?.stdout as string) ?? "", stderr: (prevOutputs?.stderr as string) ?? "", cmd: "" };
  const extraEnv: Record<string, string> = {};
  // pulumi-command passes the previous outputs to update (and delete) when addPreviousOutputInEnv
  // (default true), each only when not empty (pulumi/pulumi-command v1.2.1
  // provider/pkg/provider/local/commandOutputs.go).
  if (prevOutputs && inputs.addPreviousOutputInEnv !== false) {
    if (prevOutputs.stdout) extraEnv.PULUMI_COMMAND_STDOUT = String(prevOutputs.stdout);
    if (prevOutputs.stderr) extraEnv.PULUMI_COMMAND_STDERR = String(prevOutputs.stderr);
  }
  const r = await runShell(name, cmd, inputs, extraEnv);
  if (r.timedOut)
    throw new StepError(`command did not finish within ${job.commandTimeoutMs} ms: running "${cmd}"`, cmd, r);
  if (r.code !== 0) throw new StepError(`exit status ${r.code}: running "${cmd}":\n${r.stdout}\n${r.stderr}`, cmd, r);
  return { stdout: r.stdout, stderr: r.stderr, cmd };
}

class StepError extends Error {
  constructor(
    message: string,
    readonly command?: string,
    readonly exec?: Exec,
  ) {
    super(message);
  }
}

function loadDynamicProvider(serialized: string) {
  const requireFromString = require("require-from-string") as (code: string) => { handler(): DynamicProvider };
  return requireFromString(serialized).handler();
}
interface DynamicProvider {
  diff?(
    id: string,
    olds: unknown,
    news: unknown,
  ): Promise<{ changes?: boolean; replaces?: string[]; deleteBeforeReplace?: boolean }>;
  create(inputs: unknown): Promise<{ id: string; outs?: Record<string, unknown> }>;
  update?(id: string, olds: unknown, news: unknown): Promise<{ outs?: Record<string, unknown> }>;
  delete?(id: string, props: unknown): Promise<void>;
}

const DOCKER_IMAGE = "docker:index/image:Image";

/**
 * pulumi/pulumi-docker provider/provider.go at 237b7899, `Check`: `buildOnPreview` defaults to
 * false, and the build context's digest (dockerContext.ts) joins the inputs as
 * `build.contextDigest`, so an edited checkout is a change even under the same tag. The provider
 * resolves paths from its working directory, the project directory.
 */
function checkDockerImage(inputs: Record<string, unknown>): Record<string, unknown> {
  const build = (inputs.build ?? {}) as Record<string, unknown>;
  const context = typeof build.context === "string" ? build.context : ".";
  const dockerfile = typeof build.dockerfile === "string" ? build.dockerfile : path.join(context, "Dockerfile");
  const abs = (p: string) => path.resolve(job.projectDir, p);
  return {
    ...inputs,
    buildOnPreview: inputs.buildOnPreview ?? false,
    build: { ...build, context, dockerfile, contextDigest: hashContext(abs(context), abs(dockerfile)) },
  };
}

/**
 * provider.go `Diff` / `diffUpdates`: every changed input is an update (never a replace), except
 * `registry`, where only `server` counts: a new user name or password does not rebuild.
 */
function dockerImageDiff(olds: Record<string, unknown>, news: Record<string, unknown>): string[] {
  return changedKeys(olds, news).filter((key) => {
    if (key !== "registry" || !olds.registry || !news.registry) return true;
    const server = (v: unknown) => (unwrap(v) as { server?: unknown }).server;
    return server(olds.registry) !== server(news.registry);
  });
}

async function emulateDockerBuild(inputs: Record<string, unknown>): Promise<Record<string, unknown>> {
  const build = (inputs.build ?? {}) as { platform?: string; context?: string };
  const imageName = String(inputs.imageName);
  if (job.failBuild) throw new StepError(`docker build/push of ${imageName} failed: ${job.failBuild}`);
  const platform = job.forceBuildPlatform ?? build.platform ?? "linux/arm64"; // unset = host arch on an arm64 laptop
  const ref = imageName.lastIndexOf(":");
  const repoFull = imageName.slice(0, ref);
  const tag = imageName.slice(ref + 1);
  const host = repoFull.split("/")[0];
  const repository = repoFull.split("/").slice(1).join("/");
  const registry = (inputs.registry ?? {}) as { username?: string; password?: string };
  const { pushImage } = require("./registry") as typeof import("./registry");
  const pushed = await pushImage(host, repository, tag, {
    platforms: [platform],
    auth:
      registry.username && registry.password ? { username: registry.username, password: registry.password } : undefined,
    // Another context digest is another image, as a real build of changed files would be.
    seed: emulatedBuildSeed(String((build as { contextDigest?: string }).contextDigest), tag),
  });
  fs.appendFileSync(
    job.buildLog,
    JSON.stringify({ imageName, platform, digest: pushed.digest, time: Date.now() }) + "\n",
  );
  return { ...inputs, repoDigest: `${repoFull}@${pushed.digest}`, baseImageName: imageName, platform };
}

function generatePassword(inputs: Record<string, unknown>): string {
  const length = Number(inputs.length ?? 16);
  const alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" +
    (inputs.special === false ? "" : "!#$%&*()-_=+[]{}<>:?");
  const bytes = crypto.randomBytes(length);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

type Op = StepRecord["op"];

interface Planned {
  op: Op;
  detail: string[];
  deleteBeforeReplace: boolean;
}

async function plan(
  type: string,
  old: StateResource | undefined,
  inputs: Record<string, unknown>,
  replaceOnChanges: string[],
): Promise<Planned> {
  if (!old) return { op: "create", detail: Object.keys(inputs).sort(), deleteBeforeReplace: false };
  const oldInputs = fromState(old.inputs) as Record<string, unknown>;
  if (type.startsWith("pulumi-nodejs:dynamic")) {
    const provider = loadDynamicProvider(String(inputs.__provider));
    const olds = unwrap(fromState(old.outputs)) as Record<string, unknown>;
    if (!provider.diff) {
      const detail = changedKeys(oldInputs, inputs);
      return { op: detail.length ? "update" : "same", detail, deleteBeforeReplace: false };
    }
    const d = await provider.diff(old.id, olds, unwrap(inputs));
    if (d.replaces && d.replaces.length > 0)
      return { op: "replace", detail: d.replaces, deleteBeforeReplace: !!d.deleteBeforeReplace };
    return {
      op: d.changes ? "update" : "same",
      detail: d.changes ? changedKeys(oldInputs, inputs, ["__provider"]) : [],
      deleteBeforeReplace: false,
    };
  }
  if (type === DOCKER_IMAGE) {
    const detail = dockerImageDiff(oldInputs, inputs);
    return { op: detail.length ? "update" : "same", detail, deleteBeforeReplace: false };
  }
  const detail = changedKeys(oldInputs, inputs);
  if (detail.length === 0) return { op: "same", detail, deleteBeforeReplace: false };
  const replaceKeys =
    type === "random:index/randomPassword:RandomPassword"
      ? detail
      : detail.filter((k) => k === "triggers" || replaceOnChanges.includes(k));
  return { op: replaceKeys.length ? "replace" : "update", detail, deleteBeforeReplace: false };
}

/** Computed outputs a preview cannot know. */
function previewOutputs(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  if (type === "command:local:Command") return { ...inputs, stdout: UNKNOWN, stderr: UNKNOWN };
  if (type === "random:index/randomPassword:RandomPassword") return { ...inputs, result: UNKNOWN };
  if (type === "docker:index/image:Image") return { ...inputs, repoDigest: UNKNOWN };
  return { ...inputs };
}

async function execute(
  type: string,
  name: string,
  op: "create" | "update",
  inputs: Record<string, unknown>,
  old?: StateResource,
): Promise<{ id: string; outputs: Record<string, unknown>; step: Partial<StepRecord> }> {
  const plainInputs = unwrap(inputs) as Record<string, unknown>;
  const oldOutputs = old ? (unwrap(fromState(old.outputs)) as Record<string, unknown>) : undefined;
  switch (type) {
    case "command:local:Command": {
      const r = await runCommand(name, op, plainInputs, op === "update" ? oldOutputs : undefined);
      return {
        id: old?.id ?? `${name}-${crypto.randomBytes(4).toString("hex")}`,
        outputs: { ...inputs, stdout: r.stdout, stderr: r.stderr },
        step: { command: r.cmd, stdout: r.stdout, stderr: r.stderr },
      };
    }
    case "random:index/randomPassword:RandomPassword":
      return { id: `${name}-id`, outputs: { ...inputs, result: secretWrap(generatePassword(plainInputs)) }, step: {} };
    case "docker:index/image:Image": {
      const out = await emulateDockerBuild(plainInputs);
      return {
        id: String(out.repoDigest),
        outputs: { ...inputs, repoDigest: out.repoDigest, platform: out.platform },
        step: { detail: [`built and pushed ${out.baseImageName} for ${out.platform}`] },
      };
    }
    default:
      if (type.startsWith("pulumi-nodejs:dynamic")) {
        const provider = loadDynamicProvider(String(plainInputs.__provider));
        if (op === "create") {
          const r = await provider.create(plainInputs);
          return { id: r.id, outputs: { __provider: inputs.__provider, ...(r.outs ?? {}) }, step: {} };
        }
        const r = provider.update ? await provider.update(old!.id, oldOutputs, plainInputs) : { outs: plainInputs };
        return { id: old!.id, outputs: { __provider: inputs.__provider, ...(r.outs ?? {}) }, step: {} };
      }
      return { id: `${name}-id`, outputs: { ...inputs }, step: {} };
  }
}

/** Outputs with the same name as a secret input stay secret, like the engine does. */
function resecret(
  inputs: Record<string, unknown>,
  outputs: Record<string, unknown>,
  additional: string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(outputs)) {
    const shouldBeSecret = (hasSecret(inputs[k]) || additional.includes(k)) && !isSecretWrapper(v);
    out[k] = shouldBeSecret ? secretWrap(unwrap(v)) : v;
  }
  return out;
}

/**
 * The engine's refusal to delete a protected resource (pulumi/pulumi pkg/resource/deploy/step.go
 * at 1b5949891b, `deleteProtectedError`).
 */
export function deleteProtectedMessage(urn: string): string {
  return (
    `resource "${urn}" cannot be deleted\nbecause it is protected. To unprotect the resource, either remove the ` +
    `\`protect\` flag from the resource in your Pulumi program and run \`pulumi up\`, or use the command:\n` +
    `\`pulumi state unprotect '${urn}'\``
  );
}

class DeleteProtectedError extends StepError {}

/**
 * One delete step. Protect is checked here, per step, unless the delete is the old half of a
 * replacement (step.go `DeleteStep.Apply`: `!s.replacing && s.old.Protect`).
 */
async function deleteResource(r: StateResource, reason: string, replacing = false): Promise<void> {
  if (r.protect && !replacing) throw new DeleteProtectedError(deleteProtectedMessage(r.urn));
  const step: StepRecord = { urn: r.urn, type: r.type, name: r.name, op: "delete", detail: [reason] };
  steps.push(step);
  if (!r.custom || r.retainOnDelete) return;
  say(`  - ${r.name} (${r.type}) deleting`);
  const inputs = unwrap(fromState(r.inputs)) as Record<string, unknown>;
  const outputs = unwrap(fromState(r.outputs)) as Record<string, unknown>;
  const started = Date.now();
  try {
    if (r.type === "command:local:Command") {
      const res = await runCommand(r.name, "delete", inputs, outputs);
      Object.assign(step, { command: res.cmd, stdout: res.stdout, stderr: res.stderr });
    } else if (r.type.startsWith("pulumi-nodejs:dynamic")) {
      const provider = loadDynamicProvider(String(outputs.__provider ?? inputs.__provider));
      if (provider.delete) await provider.delete(r.id, outputs);
    }
  } catch (err) {
    step.error = (err as Error).message;
    throw err;
  } finally {
    step.durationMs = Date.now() - started;
  }
}

// ---- URNs and aliases (pulumi/pulumi at 1b5949891b) ---------------------------------------------

const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

/** The qualified type of a URN: everything between the project and the name. */
function qualifiedType(urn: string): string {
  return urn.split("::")[2] ?? "";
}

/**
 * sdk/go/common/resource/urn/urn.go `New`: the parent's qualified type, `$`, the type; a child of
 * the root stack has no prefix.
 */
export function newUrn(stack: string, project: string, parent: string, type: string, name: string): string {
  const parentType = parent ? qualifiedType(parent) : "";
  const typ = parentType && parentType !== ROOT_STACK_TYPE ? `${parentType}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${typ}::${name}`;
}

/** An alias as the SDK sends it (aliases.proto): a URN, or a spec the engine completes. */
interface AliasMessage {
  getUrn(): string;
  hasSpec(): boolean;
  getSpec(): AliasSpecMessage | undefined;
}
interface AliasSpecMessage {
  getName(): string;
  getType(): string;
  getStack(): string;
  getProject(): string;
  getParenturn(): string;
  getNoparent(): boolean;
}

/** step_generator.go `collapseAliasToUrn` and sdk/go/common/resource/alias.go `CreateURN`. */
function collapseAlias(name: string, type: string, parent: string, alias: AliasMessage): string {
  if (!alias.hasSpec()) return alias.getUrn();
  const spec = alias.getSpec()!;
  let aliasParent = spec.getParenturn() || parent;
  if (spec.getParenturn()) aliasParent = aliasOf.get(aliasParent) ?? aliasParent;
  if (spec.getNoparent() || (aliasParent && qualifiedType(aliasParent) === ROOT_STACK_TYPE)) aliasParent = "";
  const n = spec.getName() || name;
  const t = spec.getType() || type;
  const project = spec.getProject() || job.project;
  const stack = spec.getStack() || job.stack;
  if (!aliasParent) return `urn:pulumi:${stack}::${project}::${t}::${n}`;
  return `${aliasParent.slice(0, aliasParent.lastIndexOf("::"))}$${t}::${n}`;
}

/** step_generator.go `inheritedChildAlias`: a child of an aliased parent, under the parent's old URN. */
function inheritedChildAlias(childType: string, childName: string, parentName: string, parentAlias: string): string {
  const aliasName = childName.startsWith(parentName)
    ? parentAlias.split("::").pop()! + childName.slice(parentName.length)
    : childName;
  return newUrn(job.stack, job.project, parentAlias, childType, aliasName);
}

/**
 * step_generator.go `generateAliases` + `getOldResource`: the old resource under the URN first,
 * then under each alias (the resource's own, then those its parent's alias implies).
 */
function findOld(
  urn: string,
  name: string,
  type: string,
  parent: string,
  aliases: AliasMessage[],
): StateResource | undefined {
  const candidates: string[] = aliases.map((a) => collapseAlias(name, type, parent, a));
  const parentAlias = parent ? aliasOf.get(parent) : undefined;
  if (parent && parentAlias) {
    const parentName = parent.split("::").pop()!;
    candidates.push(inheritedChildAlias(type, name, parentName, parentAlias));
    for (const c of [...candidates]) {
      const [childType, childName] = [qualifiedType(c).split("$").pop()!, c.split("::").pop()!];
      candidates.push(inheritedChildAlias(childType, childName, parentName, parentAlias));
    }
  }
  for (const candidate of [urn, ...new Set(candidates)]) {
    const old = oldByUrn.get(candidate);
    if (!old) continue;
    if (candidate !== urn) aliasOf.set(urn, candidate);
    return old;
  }
  return undefined;
}

// ---- the monitor --------------------------------------------------------------------------------
const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks") as { MockMonitor: new (mocks: unknown) => any };
const settings = require("@pulumi/pulumi/runtime/settings") as {
  setMockOptions(monitor: unknown, project: string, stack: string, preview: boolean, org?: string): void;
};

class EngineMonitor extends MockMonitor {
  private current: any;
  constructor() {
    super({
      newResource: (args: { type: string; name: string; inputs: Record<string, unknown>; custom?: boolean }) =>
        this.step(args),
      call: () => {
        throw new Error("no provider functions are used by this program");
      },
    });
  }
  /** URNs as the engine makes them (the mock's own keep only the parent's last type segment). */
  newUrn(parent: string, type: string, name: string): string {
    return newUrn(job.stack, job.project, parent, type, name);
  }
  registerResource(req: any, callback: any) {
    // MockMonitor calls mocks.newResource synchronously from here, so `current` is this request.
    this.current = req;
    return super.registerResource(req, callback);
  }
  registerResourceOutputs(req: any, callback: any) {
    if (req.getUrn().includes("::pulumi:pulumi:Stack::")) {
      const rpc = require("@pulumi/pulumi/runtime/rpc") as {
        deserializeProperties(s: unknown, keepUnknowns?: boolean): Record<string, unknown>;
      };
      stackOutputs = rpc.deserializeProperties(req.getOutputs(), true);
    }
    return super.registerResourceOutputs(req, callback);
  }

  async step(args: {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    custom?: boolean;
  }): Promise<{ id?: string; state: Record<string, unknown> }> {
    const req = this.current;
    const urn: string = this.newUrn(req.getParent(), args.type, args.name);
    const entry: StateResource = {
      urn,
      type: args.type,
      name: args.name,
      custom: !!args.custom,
      id: "",
      parent: req.getParent(),
      inputs: {},
      outputs: {},
      protect: !!req.getProtect(),
      deleteBeforeReplace: !!req.getDeletebeforereplace(),
      retainOnDelete: !!req.getRetainondelete(),
      deletedWith: req.getDeletedwith() || "",
      dependencies: req.getDependenciesList(),
    };
    const additionalSecrets: string[] = req.getAdditionalsecretoutputsList();
    const old = findOld(urn, args.name, args.type, entry.parent, req.getAliasesList());
    if (!args.custom) {
      newResources.set(urn, entry);
      return { id: undefined, state: {} };
    }
    if (failed) {
      // The engine starts no new step after a failure.
      throw new Error(`${args.name}: not started because an earlier step failed`);
    }
    const started = Date.now();
    // The provider's Check: the inputs it returns are what is diffed, stored and built from.
    const inputs = args.type === DOCKER_IMAGE ? checkDockerImage(args.inputs) : args.inputs;
    const planned = await plan(args.type, old, inputs, req.getReplaceonchangesList());
    const record: StepRecord = { urn, type: args.type, name: args.name, op: planned.op, detail: planned.detail };
    if (aliasOf.has(urn)) record.alias = aliasOf.get(urn);
    steps.push(record);
    const oldProtect = old?.protect ?? false;
    // Refused only when old and new are both protected, so unprotect + replace works in one update
    // (pulumi/pulumi pkg/resource/deploy/step_generator.go at 1b5949891b, `new.Protect && old.Protect`).
    if (planned.op === "replace" && oldProtect && entry.protect) {
      failed = true;
      record.error =
        `unable to replace resource "${urn}"\nas it is currently marked for protection. To unprotect the resource, ` +
        "remove the `protect` flag from the resource in your Pulumi program and run `pulumi up`";
      errors.push(record.error);
      throw new Error(record.error);
    }

    if (dryRun) {
      if (planned.op === "same" && old) {
        return { id: old.id, state: fromState(old.outputs) as Record<string, unknown> };
      }
      return { id: old?.id ?? "", state: previewOutputs(args.type, inputs) };
    }

    if (planned.op !== "same") {
      const sign = planned.op === "create" ? "+" : planned.op === "update" ? "~" : "+-";
      const detail = planned.detail.length ? ` [${planned.detail.join(", ")}]` : "";
      say(`  ${sign} ${args.name} (${args.type}) ${planned.op}${detail}`);
    }
    try {
      let result: { id: string; outputs: Record<string, unknown>; step: Partial<StepRecord> };
      if (planned.op === "same" && old) {
        result = { id: old.id, outputs: fromState(old.outputs) as Record<string, unknown>, step: {} };
        // Inputs follow the program even when nothing changed (e.g. a provider diff that ignores a field).
      } else if (planned.op === "update") {
        result = await execute(args.type, args.name, "update", inputs, old);
      } else if (planned.op === "replace" && old) {
        const deleteFirst = planned.deleteBeforeReplace || entry.deleteBeforeReplace;
        if (deleteFirst) await deleteResource(old, "replaced (delete before replace)", true);
        else pendingDeletes.push(old);
        result = await execute(args.type, args.name, "create", inputs);
      } else {
        result = await execute(args.type, args.name, "create", inputs);
      }
      Object.assign(record, result.step, { durationMs: Date.now() - started });
      const outputs = resecret(inputs, result.outputs, additionalSecrets);
      entry.id = result.id;
      entry.inputs = toState(inputs) as Record<string, unknown>;
      entry.outputs = toState(outputs) as Record<string, unknown>;
      newResources.set(urn, entry);
      return { id: result.id, state: outputs };
    } catch (err) {
      failed = true;
      const e = err as StepError;
      record.error = e.message;
      record.durationMs = Date.now() - started;
      if (e.command) record.command = e.command;
      if (e.exec) Object.assign(record, { stdout: e.exec.stdout, stderr: e.exec.stderr });
      errors.push(`${args.name} (${args.type}) ${planned.op} failed: ${e.message}`);
      say(`  ! ${args.name} ${planned.op} failed`);
      // A failed update keeps the old state; a failed create records nothing.
      if (old && planned.op !== "replace") newResources.set(urn, old);
      if (old && planned.op === "replace") newResources.set(urn, old);
      throw err;
    }
  }
}

function cpuMsSince(start: NodeJS.CpuUsage | undefined): number | undefined {
  if (!start) return undefined;
  const used = process.cpuUsage(start);
  return Math.round((used.user + used.system) / 1000);
}

function writeResult(ok: boolean) {
  const result: RunResult = {
    ok,
    mode: job.mode,
    steps,
    errors,
    preview: previewPass,
    outputs: maskSecrets(stackOutputs) as Record<string, unknown>,
    registered: [...newResources.values()].filter((r) => r.custom).length,
    loadedEntry,
    typescriptHook: ".ts" in require.extensions,
    hostPid: process.pid,
    programWasCached,
    keptForUpdate,
    hostCpuMs: cpuMsSince(cpuAtStart),
  };
  fs.writeFileSync(job.resultFile, JSON.stringify(result, null, 2));
}

function saveState(resources: StateResource[]) {
  const state: StateFile = { resources, outputs: toState(stackOutputs) as Record<string, unknown> };
  fs.writeFileSync(job.stateFile, JSON.stringify(state, null, 2));
}

// ---- deletes: the engine's schedule (pulumi/pulumi at 1b5949891b) ---------------------------------

/** Every resource registered under `urn`, at any depth. */
function descendants(urn: string, all: readonly StateResource[]): Set<string> {
  const out = new Set<string>();
  for (let grew = true; grew;) {
    grew = false;
    for (const r of all) {
      if ((r.parent === urn || out.has(r.parent)) && !out.has(r.urn)) {
        out.add(r.urn);
        grew = true;
      }
    }
  }
  return out;
}

/**
 * pkg/resource/graph/dependency_graph.go `DependenciesOf`: the resource's parent, dependencies and
 * deletedWith target, and for a component it depends on, that component's children registered
 * before it.
 */
function dependenciesOf(r: StateResource, all: readonly StateResource[]): Set<string> {
  const index = all.indexOf(r);
  const direct = new Set([...r.dependencies, ...(r.deletedWith ? [r.deletedWith] : [])].filter(Boolean));
  const out = new Set<string>(r.parent ? [r.parent] : []);
  for (const candidate of all.slice(0, index)) {
    if (!direct.has(candidate.urn)) continue;
    out.add(candidate.urn);
    if (!candidate.custom) {
      for (const child of descendants(candidate.urn, all)) {
        if (all.findIndex((x) => x.urn === child) < index) out.add(child);
      }
    }
  }
  return out;
}

/** dependency_graph.go `TransitiveDependenciesOf`. */
function transitiveDependenciesOf(r: StateResource, all: readonly StateResource[]): Set<string> {
  const byUrn = new Map(all.map((x) => [x.urn, x]));
  const out = new Set<string>();
  const todo = [...dependenciesOf(r, all)];
  for (let urn = todo.pop(); urn !== undefined; urn = todo.pop()) {
    if (out.has(urn)) continue;
    out.add(urn);
    const dep = byUrn.get(urn);
    if (dep) todo.push(...dependenciesOf(dep, all));
  }
  return out;
}

/**
 * pkg/resource/deploy/step_generator.go `ScheduleDeletes`: layers of resources whose condemned
 * dependencies are all in earlier layers, reversed, so dependents go first. The engine runs a layer
 * in parallel; here its members run one after another in reverse registration order.
 */
function scheduleDeletes(condemned: readonly StateResource[], all: readonly StateResource[]): StateResource[][] {
  const left = new Set(condemned.map((r) => r.urn));
  const layers: StateResource[][] = [];
  while (left.size > 0) {
    const layer = condemned.filter((r) => left.has(r.urn) && ![...dependenciesOf(r, all)].some((d) => left.has(d)));
    if (layer.length === 0) throw new Error("lifecycle host: a dependency cycle among the resources to delete");
    for (const r of layer) left.delete(r.urn);
    layers.push(layer.reverse());
  }
  return layers.reverse();
}

/**
 * Runs delete steps as the engine's deployment executor does (pkg/resource/deploy/
 * deployment_executor.go, step_executor.go `cancelDueToError`): layer by layer; a protected resource
 * fails its own step and the run goes on (its dependencies are then skipped, since it still needs
 * them); any other failure stops further steps. `deletedWithGoing` says when a resource's
 * deletedWith target goes too (its provider delete is skipped). Returns what is left undeleted.
 */
async function runDeletes(
  condemned: readonly StateResource[],
  all: readonly StateResource[],
  reason: string,
  deletedWithGoing: (r: StateResource) => boolean,
): Promise<StateResource[]> {
  const left = new Set(condemned.map((r) => r.urn));
  const blocked = new Set<string>();
  for (const layer of scheduleDeletes(condemned, all)) {
    for (const r of layer) {
      if (blocked.has(r.urn)) continue;
      if (deletedWithGoing(r)) {
        steps.push({ urn: r.urn, type: r.type, name: r.name, op: "delete", detail: [`deleted with ${r.deletedWith}`] });
        left.delete(r.urn);
        continue;
      }
      try {
        await deleteResource(r, reason);
        left.delete(r.urn);
      } catch (err) {
        if (!(err instanceof DeleteProtectedError)) {
          errors.push(`${r.name} delete failed: ${(err as Error).message}`);
          return condemned.filter((x) => left.has(x.urn));
        }
        steps.push({ urn: r.urn, type: r.type, name: r.name, op: "delete", detail: [reason], error: err.message });
        errors.push(err.message);
        for (const d of transitiveDependenciesOf(r, all)) blocked.add(d);
      }
    }
  }
  return condemned.filter((x) => left.has(x.urn));
}

/**
 * `pulumi destroy`: every resource deleted in the engine's order, protect checked per step. With
 * `excludeProtected`, protected resources and everything they depend on are left out first
 * (pkg/cmd/pulumi/operations/destroy.go `getProtectedExcludes`).
 */
async function destroy() {
  const all = oldState.resources;
  const excluded = new Set<string>();
  if (job.excludeProtected) {
    for (const r of all.filter((x) => x.protect)) {
      for (const u of [r.urn, ...transitiveDependenciesOf(r, all)]) excluded.add(u);
    }
    if (excluded.size > 0 && excluded.size === all.length) {
      say(
        `There were no unprotected resources to destroy. There are still ${excluded.size} protected resources ` +
          "associated with this stack.",
      );
      writeResult(true);
      return;
    }
  }
  const condemned = all.filter((r) => !excluded.has(r.urn));
  const going = new Set(condemned.map((r) => r.urn));
  const left = await runDeletes(condemned, all, "destroy", (r) => !!r.deletedWith && going.has(r.deletedWith));
  const kept = new Set([...left.map((r) => r.urn), ...excluded]);
  const remaining = all.filter((r) => kept.has(r.urn));
  // Outputs stay while anything is left (the stack resource is a parent of everything).
  const state: StateFile = { resources: remaining, outputs: remaining.length ? oldState.outputs : {} };
  fs.writeFileSync(job.stateFile, JSON.stringify(state, null, 2));
  writeResult(errors.length === 0);
}

/** The entry the language host runs: package.json `main`, resolved from the project directory. */
function programEntry(projectDir: string): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(projectDir, "package.json"), "utf8")) as { main?: string };
  return path.join(projectDir, pkg.main ?? "index.js");
}

/** What the program is handed after the config step: PULUMI_CONFIG's values and its secret keys. */
interface ProgramConfig {
  config: Record<string, string>;
  secretKeys: string[];
}

/**
 * `preview` is one pass with `isDryRun()` true. `up` is a preview pass and then, if it succeeded,
 * an update pass that loads the program again (pulumi/pulumi pkg/backend/apply.go at 1b5949891b,
 * `PreviewThenPromptThenExecute`: `PreviewThenPrompt` with DryRun, then apply with DryRun false;
 * `--skip-preview` leaves out the first).
 */
async function up(config: ProgramConfig) {
  if (job.mode === "up" && !job.skipPreview) {
    beginPass(true);
    const ok = await programPass(config);
    previewPass = { ok, steps, errors };
    if (!ok) {
      writeResult(false);
      return;
    }
    forgetProgramModules();
    beginPass(false);
    keptForUpdate = Object.keys(require.cache)
      .filter(isProgramModule)
      .map((f) => path.relative(job.projectDir, f))
      .sort();
  }
  writeResult(await programPass(config));
}

/** One evaluation of the program under the mock engine; an update pass also deletes and saves state. */
async function programPass(config: ProgramConfig): Promise<boolean> {
  const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
  const monitor = new EngineMonitor();
  settings.setMockOptions(monitor, job.project, job.stack, dryRun);
  pulumi.runtime.setAllConfig(config.config, config.secretKeys);
  process.chdir(job.projectDir);
  try {
    await pulumi.runtime.runInPulumiStack(async () => {
      // Loaded like the language host does with Pulumi.yaml's `typescript: false`: a plain require
      // of package.json `main` (the compiled build/index.js), no TypeScript hook. The language host
      // calls an exported function and awaits it (its result: the stack outputs).
      loadedEntry = job.programEntry ?? programEntry(job.projectDir);
      programWasCached = loadedEntry in require.cache;
      const program = require(loadedEntry) as Record<string, unknown> | (() => Promise<Record<string, unknown>>);
      return typeof program === "function" ? await program() : program;
    });
  } catch (err) {
    programError = programError ?? err;
  }
  const settingsRuntime = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  await settingsRuntime.waitForRPCs().catch(() => undefined);
  if (programError && !failed) {
    const e = programError as Error;
    errors.push(e.message ?? String(e));
    failed = true;
  }
  if (dryRun) return !failed;
  // Resources not registered this time are deleted, but only when the program completed.
  let ok = !failed;
  // A resource found under an alias is the same resource: its old URN is not deleted.
  const registered = new Set([...newResources.keys(), ...aliasOf.values()]);
  for (const r of pendingDeletes) {
    try {
      await deleteResource(r, "replaced", true);
    } catch (err) {
      errors.push(`${r.name} delete failed: ${(err as Error).message}`);
      ok = false;
      newResources.set(r.urn, r);
    }
  }
  if (ok) {
    const orphans = oldState.resources.filter((r) => !registered.has(r.urn));
    const withTarget = (r: StateResource) => !!r.deletedWith && !registered.has(r.deletedWith);
    const left = await runDeletes(orphans, oldState.resources, "no longer in the program", withTarget);
    for (const r of left) newResources.set(r.urn, r);
    if (left.length > 0 && errors.length > 0) ok = false;
  }
  // On failure, untouched old resources stay in state exactly as they were.
  const finalResources = [...newResources.values()];
  if (!ok)
    for (const r of oldState.resources)
      if (!newResources.has(r.urn) && !pendingDeletes.includes(r)) finalResources.push(r);
  saveState(finalResources);
  return ok;
}

/**
 * The CLI's config step (configStep.ts) on this run's stack config and the project's Pulumi.yaml:
 * the program's config, or undefined with the CLI's error recorded (nothing else runs then).
 */
function configStep(): ProgramConfig | undefined {
  let result: ReturnType<typeof runConfigStep>;
  try {
    result = runConfigStep(job.mode, job.stack, readProjectYaml(job.projectDir), new Map(job.stackConfig));
  } catch (err) {
    result = { ok: false, error: `Pulumi.yaml: ${(err as Error).message}` };
  }
  if (result.ok) return result;
  errors.push(result.error);
  failed = true;
  return undefined;
}

/** One run, start to result file; never throws (a crash is recorded as the run's error). */
async function runJob(next: Job): Promise<boolean> {
  beginJob(next);
  const run = async () => {
    const config = configStep();
    if (!config) return writeResult(false);
    return job.mode === "destroy" ? destroy() : up(config);
  };
  await run().catch((err) => {
    errors.push(`lifecycle host crashed: ${(err as Error).stack ?? err}`);
    writeResult(false);
  });
  return !failed && errors.length === 0;
}

process.on("unhandledRejection", (e) => {
  programError = programError ?? e;
});

/**
 * The program's own modules (everything compiled under build/ but this host), dropped from the
 * module cache so the next run loads the program afresh, as a new `pulumi up` would (their compiled
 * code is kept: compiledModules.ts says why that is still a fresh evaluation). The SDK stays
 * loaded: it is built to run several programs in one process (the Automation API's inline programs),
 * and setMockOptions/setAllConfig reset its state for each run.
 *
 * zod (build/lib/zod.js, the build's bundle of the library, none of the program's code) stays loaded
 * too: loading it again gives nothing a new process would, because zod keeps its one piece of
 * mutable state, its config and registry, on `globalThis` (`__zod_globalConfig`,
 * `__zod_globalRegistry`), which a new load finds and reuses anyway; the rest of the bundle is
 * classes and functions. The program's schemas are still made afresh by its own modules. The
 * program never writes that state (tests/imports.test.ts holds it), and the result's
 * `keptForUpdate` shows that nothing else stays loaded into the update pass.
 */
function forgetProgramModules() {
  for (const key of Object.keys(require.cache))
    if (isProgramModule(key) && key !== zodBundle()) delete require.cache[key];
}

function zodBundle(): string {
  return path.join(job.projectDir, "build", "lib", "zod.js");
}

function isProgramModule(filename: string): boolean {
  return (
    job !== undefined && filename.startsWith(path.join(job.projectDir, "build") + path.sep) && filename !== __filename
  );
}

// Each load of a program module is evaluated afresh; only its compiled code is kept (compiledModules.ts).
keepCompiledModules(isProgramModule);

const singleJob = process.env.LIFECYCLE_JOB;
if (singleJob) {
  // One run in a fresh process, then exit: exactly a language host's life.
  void runJob(JSON.parse(fs.readFileSync(singleJob, "utf8")) as Job).finally(() => process.exit(0));
} else if (process.send) {
  // A kept host: load the SDK now (while the test prepares), then take runs from the runner one at
  // a time. The runner retires the process after a failed run that left something in flight, so no
  // straggler of a failed program can reach a later run.
  require("@pulumi/pulumi");
  const originalEnv = { ...process.env };
  process.on("message", (msg: HostRunRequest) => {
    for (const k of Object.keys(process.env)) if (!(k in originalEnv)) delete process.env[k];
    Object.assign(process.env, originalEnv, msg.env);
    const next = JSON.parse(fs.readFileSync(msg.jobFile, "utf8")) as Job;
    void runJob(next).finally(() => {
      forgetProgramModules();
      process.stdout.write(runEndLine(hostIsSettled(process.getActiveResourcesInfo())));
      process.stderr.write(`${RUN_END_MARKER}\n`);
    });
  });
  process.on("disconnect", () => process.exit(0));
}
