/**
 * Test tooling: a real Debian `docker-registry` (distribution v2.8) on loopback, and a pusher that
 * uploads real OCI content (layer tar.gz, config, manifests, index) over the distribution API.
 *
 * Shared by several test files; keep the exported API stable.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { stringify } from "yaml";

const REGISTRY_BIN = "/usr/bin/docker-registry";
const HTPASSWD_BIN = "htpasswd";
const STARTUP_TIMEOUT_MS = 20_000;

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";

/** Basic-auth credentials for an htpasswd-protected registry. */
export interface RegistryAuth {
  username: string;
  password: string;
}

/** A running registry; `host` is `127.0.0.1:PORT`, `url` is `http://127.0.0.1:PORT`. */
export interface RunningRegistry {
  host: string;
  url: string;
  stop(): Promise<void>;
  /** Every tag and what it points at now, for {@link RunningRegistry.restoreTags}. */
  tags(): RegistryTags;
  /** Puts the tags back as `tags` recorded them: tags pushed since are gone, moved ones point back. */
  restoreTags(tags: RegistryTags): void;
}

/** `repository:tag` → the tag's link file (the digest it points at), as docker-registry stores it. */
export type RegistryTags = Record<string, string>;

/** True when the docker-registry binary is installed (apt-get install docker-registry). */
export function isRegistryAvailable(): boolean {
  try {
    accessSync(REGISTRY_BIN, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts docker-registry on a free loopback port with storage in a fresh temp dir; with `auth`,
 * htpasswd (bcrypt) auth is on and anonymous requests get a 401 Basic challenge. Resolves once
 * `GET /v2/` answers. `stop()` kills the process and deletes the temp dir.
 */
export async function startRegistry(opts: { auth?: RegistryAuth } = {}): Promise<RunningRegistry> {
  if (!isRegistryAvailable()) {
    throw new Error(`${REGISTRY_BIN} not found: install docker-registry: apt-get install docker-registry`);
  }
  const dir = mkdtempSync(join(tmpdir(), "oci-registry-"));
  try {
    const port = await freePort();
    const configPath = writeConfig(dir, port, opts.auth);
    const child = spawnRegistry(configPath);
    const host = `127.0.0.1:${port}`;
    const url = `http://${host}`;
    await waitUntilServing(child, url);
    const repositories = join(dir, "data", "docker", "registry", "v2", "repositories");
    return {
      host,
      url,
      stop: () => stopRegistry(child, dir),
      tags: () => readTags(repositories),
      restoreTags: (t) => writeTags(repositories, t),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Tags as distribution's filesystem driver keeps them: `<repo>/_manifests/tags/<tag>/current/link`
 * holds the digest (distribution registry/storage/paths.go, v2.8). A tag is read from there on every
 * request, so rewriting the files is how a test puts the registry back to an earlier point.
 */
function readTags(repositories: string): RegistryTags {
  const out: RegistryTags = {};
  const walk = (rel: string) => {
    const abs = join(repositories, rel);
    if (!existsSync(abs)) return;
    const tagsDir = join(abs, "_manifests", "tags");
    if (existsSync(tagsDir)) {
      for (const tag of readdirSync(tagsDir)) {
        const link = join(tagsDir, tag, "current", "link");
        if (existsSync(link)) out[`${rel}:${tag}`] = readFileSync(link, "utf8");
      }
    }
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      if (entry.isDirectory() && !entry.name.startsWith("_")) walk(rel ? `${rel}/${entry.name}` : entry.name);
    }
  };
  walk("");
  return out;
}

function writeTags(repositories: string, tags: RegistryTags): void {
  for (const [ref, link] of Object.entries(readTags(repositories))) {
    const colon = ref.lastIndexOf(":");
    const tagDir = join(repositories, ref.slice(0, colon), "_manifests", "tags", ref.slice(colon + 1));
    if (!(ref in tags)) rmSync(tagDir, { recursive: true, force: true });
    else if (tags[ref] !== link) writeFileSync(join(tagDir, "current", "link"), tags[ref]);
  }
}

/** Asks the kernel for a free port. Racy in theory; fine on a loopback test box. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}

/** Same layout as the package's /etc/docker/registry/config.yml, minus the debug/health extras. */
function writeConfig(dir: string, port: number, auth?: RegistryAuth): string {
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: "warn", accesslog: { disabled: true }, fields: { service: "registry" } },
    storage: {
      filesystem: { rootdirectory: join(dir, "data") },
      delete: { enabled: true },
      // The purger walks storage on start and on a timer; nothing to purge in a test registry.
      maintenance: { uploadpurging: { enabled: false } },
    },
    // No `debug` key: v2.8 only starts its debug server when one is configured.
    http: { addr: `127.0.0.1:${port}`, headers: { "X-Content-Type-Options": ["nosniff"] } },
  };
  if (auth) {
    const htpasswdPath = join(dir, "htpasswd");
    writeFileSync(htpasswdPath, bcryptEntry(auth), { mode: 0o600 });
    config.auth = { htpasswd: { realm: "test-registry", path: htpasswdPath } };
  }
  const configPath = join(dir, "config.yml");
  writeFileSync(configPath, stringify(config));
  return configPath;
}

function bcryptEntry(auth: RegistryAuth): string {
  // distribution's htpasswd backend only accepts bcrypt entries, hence -B.
  const res = spawnSync(HTPASSWD_BIN, ["-Bbn", auth.username, auth.password], { encoding: "utf8" });
  if (res.error || res.status !== 0) {
    const why = res.error ? res.error.message : res.stderr.trim();
    throw new Error(`htpasswd failed (${why}): install it with apt-get install apache2-utils`);
  }
  return res.stdout.trim() + "\n";
}

function spawnRegistry(configPath: string): ChildProcess {
  // REGISTRY_* variables override the config file; keep the test registry hermetic.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("REGISTRY_")));
  return spawn(REGISTRY_BIN, ["serve", configPath], { env, stdio: ["ignore", "ignore", "pipe"] });
}

async function waitUntilServing(child: ChildProcess, url: string): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `exited with ${code ?? signal}`));
  child.once("error", (err) => (exited = `failed to start: ${err.message}`));

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`docker-registry ${exited}: ${stderr.trim()}`);
    if (await answersV2(url)) return;
    await sleep(100);
  }
  child.kill("SIGKILL");
  const within = `within ${STARTUP_TIMEOUT_MS} ms`;
  throw new Error(`docker-registry did not answer ${url}/v2/ ${within}: ${stderr.trim()}`);
}

async function answersV2(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  }
}

async function stopRegistry(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const killTimer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(killTimer);
  }
  rmSync(dir, { recursive: true, force: true });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Options for {@link pushImage}. */
export interface PushImageOptions {
  /** `os/arch[/variant]` per image; default `["linux/amd64"]`. */
  platforms?: string[];
  /** Push an OCI index even for a single platform. */
  index?: boolean;
  /** Basic-auth credentials for an htpasswd registry. */
  auth?: RegistryAuth;
  /** Varies the layer and config content so digests differ between pushes. */
  seed?: string;
}

interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

/**
 * Pushes a tiny real image to `host/repository:tag`: per platform a gzip'd tar layer, a config
 * blob with `architecture`/`os`, and an OCI manifest; for several platforms (or `index: true`)
 * an OCI index over them. Returns the digest the tag points at and `host/repository@digest`.
 */
export async function pushImage(
  host: string,
  repository: string,
  tag: string,
  opts: PushImageOptions = {},
): Promise<{ digest: string; ref: string }> {
  const client = new PushClient(`http://${host}`, repository, opts.auth);
  const platforms = opts.platforms ?? ["linux/amd64"];
  if (platforms.length === 0) throw new Error("pushImage needs at least one platform");
  const seed = opts.seed ?? "default";

  const useIndex = opts.index === true || platforms.length > 1;
  const manifests: { platform: string; manifest: Blob }[] = [];
  for (const platform of platforms) {
    const manifest = await pushPlatformImage(client, platform, seed);
    manifests.push({ platform, manifest });
  }
  const top = useIndex ? buildIndex(manifests) : manifests[0].manifest;
  if (useIndex) {
    for (const { manifest } of manifests) await client.putManifest(manifest.digest, manifest);
  }
  await client.putManifest(tag, top);
  return { digest: top.digest, ref: `${host}/${repository}@${top.digest}` };
}

/** Uploads the layer and config for one platform and returns its (not yet pushed) manifest. */
async function pushPlatformImage(client: PushClient, platform: string, seed: string): Promise<Blob> {
  const [os, architecture, variant] = platform.split("/");
  if (!os || !architecture) throw new Error(`invalid platform "${platform}"`);
  const tar = tarWithOneFile("hello.txt", `hello from ${platform}, seed ${seed}\n`);
  const layer = toBlob(OCI_LAYER_GZIP, gzipSync(tar));
  const imageConfig = {
    architecture,
    os,
    ...(variant ? { variant } : {}),
    config: { Cmd: ["/hello"], Labels: { "test.seed": seed } },
    rootfs: { type: "layers", diff_ids: [sha256(tar)] },
  };
  const config = toBlob(OCI_CONFIG, Buffer.from(JSON.stringify(imageConfig)));
  await client.pushBlob(layer);
  await client.pushBlob(config);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(config),
    layers: [descriptor(layer)],
  };
  return toBlob(OCI_MANIFEST, Buffer.from(JSON.stringify(manifest)));
}

function buildIndex(manifests: { platform: string; manifest: Blob }[]): Blob {
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: manifests.map(({ platform, manifest }) => {
      const [os, architecture, variant] = platform.split("/");
      return {
        ...descriptor(manifest),
        platform: { architecture, os, ...(variant ? { variant } : {}) },
      };
    }),
  };
  return toBlob(OCI_INDEX, Buffer.from(JSON.stringify(index)));
}

function descriptor(blob: Blob): { mediaType: string; digest: string; size: number } {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size };
}

function toBlob(mediaType: string, bytes: Buffer): Blob {
  return { mediaType, digest: sha256(bytes), size: bytes.length, bytes };
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A ustar archive holding one regular file: header, data padded to 512, two zero blocks. */
function tarWithOneFile(name: string, content: string): Buffer {
  const data = Buffer.from(content, "utf8");
  const header = Buffer.alloc(512);
  const put = (text: string, offset: number): void => void header.write(text, offset, "ascii");
  put(name, 0);
  put("0000644\0", 100); // mode
  put("0000000\0", 108); // uid
  put("0000000\0", 116); // gid
  put(data.length.toString(8).padStart(11, "0") + "\0", 124);
  put("00000000000\0", 136); // mtime 0 keeps digests reproducible
  put("        ", 148); // checksum field counts as spaces while summing
  put("0", 156); // regular file
  put("ustar\0", 257);
  put("00", 263);
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  put(checksum.toString(8).padStart(6, "0") + "\0 ", 148);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding, Buffer.alloc(1024)]);
}

/** `Authorization: Basic …` value for htpasswd registries. */
export function basicAuthorization(auth: RegistryAuth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
}

/** The few distribution API calls a push needs, with optional basic auth. */
class PushClient {
  private readonly headers: Record<string, string>;

  constructor(
    private readonly base: string,
    private readonly repository: string,
    auth?: RegistryAuth,
  ) {
    this.headers = auth ? { authorization: basicAuthorization(auth) } : {};
  }

  /** Monolithic upload: POST to open an upload session, then PUT the bytes with ?digest=. */
  async pushBlob(blob: Blob): Promise<void> {
    const uploads = `/v2/${this.repository}/blobs/uploads/`;
    const start = await this.call("POST", uploads, {}, undefined, 202);
    const location = start.headers.get("location");
    if (!location) throw new Error("registry opened an upload without a Location header");
    const upload = new URL(location, this.base);
    upload.searchParams.set("digest", blob.digest);
    await this.call(
      "PUT",
      upload.pathname + upload.search,
      { "content-type": "application/octet-stream" },
      blob.bytes,
      201,
    );
  }

  async putManifest(reference: string, manifest: Blob): Promise<void> {
    const res = await this.call(
      "PUT",
      `/v2/${this.repository}/manifests/${reference}`,
      { "content-type": manifest.mediaType },
      manifest.bytes,
      201,
    );
    const stored = res.headers.get("docker-content-digest");
    if (stored && stored !== manifest.digest) {
      throw new Error(`registry stored ${reference} as ${stored}, expected ${manifest.digest}`);
    }
  }

  private async call(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    expected: number,
  ): Promise<Response> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { ...this.headers, ...headers },
      body,
    });
    const text = await res.text();
    if (res.status !== expected) {
      throw new Error(`${method} ${path} answered ${res.status} (expected ${expected}): ${text}`);
    }
    return res;
  }
}
