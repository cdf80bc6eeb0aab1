/**
 * Anonymous pull verification over the OCI distribution API.
 *
 * Cloudron pulls the app image without registry credentials, so a release is only deployable when
 * the exact tag can be pulled anonymously and resolves to a linux/amd64 image. This module checks
 * that the same way a docker client does (manifest, config blob, layer presence), without
 * downloading layers and without ever sending credentials: the only Authorization header it can
 * send is an anonymous bearer token that the registry's own token service handed out.
 *
 * No Pulumi imports: the deploy program, the CLI (tools/verifyPull.ts) and tests all use it.
 */
import { createHash } from "node:crypto";
import { HttpRequestError, requestBytes, type HttpResponse } from "../lib/http";

/** A parsed image reference. `registry` is always explicit (host or host:port). */
export interface ImageRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** What an anonymous pull of a reference resolved to. */
export interface PullCheckResult {
  /** The reference as given. */
  ref: string;
  /** Digest of what the tag (or digest) points at: a manifest or an index. */
  digest: string;
  /** Digest of the manifest for the requested platform (linux/amd64 by default). */
  platformDigest: string;
  /** Media type of what the tag points at. */
  mediaType: string;
  kind: "manifest" | "index";
}

/** Options for {@link verifyAnonymousPull}. */
export interface VerifyPullOptions {
  /** `os/architecture[/variant]`; default `linux/amd64` (the Cloudron host is x86_64). */
  platform?: string;
  /** Budget for the whole check, all requests included; default 15000. */
  timeoutMs?: number;
}

/** Why an anonymous pull would fail. */
export type PullCheckErrorKind = "tag-missing" | "not-public" | "no-amd64" | "unreachable" | "registry-error";

/** A pull that Cloudron could not perform; `message` says what the operator should do. */
export class PullCheckError extends Error {
  readonly kind: PullCheckErrorKind;
  readonly ref: string;

  constructor(kind: PullCheckErrorKind, ref: string, message: string) {
    super(message);
    this.name = "PullCheckError";
    this.kind = kind;
    this.ref = ref;
  }
}

/** The reference itself is unusable (syntax, no registry host, no tag); nothing was requested. */
export class ImageRefError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageRefError";
  }
}

/** OCI image index. */
export const MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/** OCI image manifest. */
export const MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** Docker manifest list (schema 2), the pre-OCI multi-platform form. */
export const MEDIA_TYPE_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Docker image manifest (schema 2). */
export const MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

const INDEX_TYPES = [MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_LIST];
const MANIFEST_TYPES = [MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST];
const DEFAULT_PLATFORM = "linux/amd64";
const DEFAULT_TIMEOUT_MS = 15_000;
/** Manifests, configs and error bodies are small; refuse to buffer anything bigger. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
/** Redirects a GET follows (the fetch standard's limit): blobs may live elsewhere, behind a redirect or two. */
const MAX_REDIRECTS = 20;

// Grammar from the distribution reference spec, restricted to what a pull needs.
const DOMAIN_LABEL = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
const HOST_RE = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/**
 * Parses `host[:port]/path[:tag]`, `host[:port]/path@sha256:…` or `host/path:tag@sha256:…`.
 *
 * The registry host must be explicit: docker's implicit `docker.io/library/` would silently check
 * the wrong registry. Throws an {@link ImageRefError} naming the problem for anything else.
 */
export function parseImageRef(ref: string): ImageRef {
  const fail = (why: string): never => {
    throw new ImageRefError(`invalid image reference ${JSON.stringify(ref)}: ${why}`);
  };
  if (ref.trim() === "") fail("it is empty");
  if (ref !== ref.trim() || /\s/.test(ref)) fail("it contains whitespace");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) fail("drop the URL scheme (use host/path:tag)");

  const [name, digest, ...extra] = ref.split("@");
  if (extra.length > 0) fail("more than one '@'");
  if (digest !== undefined && !DIGEST_RE.test(digest)) {
    fail("the digest must be sha256:<64 hex> or sha512:<128 hex>");
  }

  const slash = name.indexOf("/");
  if (slash < 0) fail("it has no registry host (expected host[:port]/path[:tag])");
  const registry = name.slice(0, slash);
  if (!looksLikeHost(registry)) {
    fail(`"${registry}" is not a registry host; name the registry explicitly (host[:port]/path)`);
  }
  const { repository, tag } = splitTag(name.slice(slash + 1), fail);
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** Docker's rule: the first component is a host if it has a dot or port, or is localhost. */
function looksLikeHost(candidate: string): boolean {
  const hostish = candidate.includes(".") || candidate.includes(":") || candidate === "localhost";
  return hostish && HOST_RE.test(candidate) && portInRange(candidate);
}

function portInRange(host: string): boolean {
  const port = /:([0-9]+)$/.exec(host.replace(/^\[[^\]]*\]/, ""));
  return !port || (Number(port[1]) > 0 && Number(port[1]) <= 65535);
}

function splitTag(rest: string, fail: (why: string) => never): { repository: string; tag?: string } {
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.indexOf(":", lastSlash + 1);
  const repository = colon < 0 ? rest : rest.slice(0, colon);
  const tag = colon < 0 ? undefined : rest.slice(colon + 1);
  if (repository === "") fail("the repository path is empty");
  for (const component of repository.split("/")) {
    if (!PATH_COMPONENT_RE.test(component)) {
      fail(`repository path component "${component}" is invalid (lowercase a-z, 0-9, . _ - only)`);
    }
  }
  if (tag !== undefined && !TAG_RE.test(tag)) {
    fail(`tag "${tag}" is invalid (letters, digits, _ . -; at most 128; not starting with . or -)`);
  }
  return tag === undefined ? { repository } : { repository, tag };
}

/**
 * The scheme docker uses for a registry host: plain http for loopback (docker treats
 * 127.0.0.0/8 and ::1 as insecure registries by default), https for everything else.
 */
export function registryScheme(host: string): "http" | "https" {
  const bare = stripPort(host).toLowerCase();
  if (bare === "localhost" || bare === "::1" || bare === "[::1]") return "http";
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) ? "http" : "https";
}

function stripPort(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  // A bare IPv6 address has several colons and no port.
  return host.split(":").length === 2 ? host.slice(0, host.indexOf(":")) : host;
}

interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

function parsePlatform(platform: string): Platform {
  const [os, architecture, variant, ...extra] = platform.split("/");
  if (!os || !architecture || extra.length > 0 || variant === "") {
    throw new Error(`invalid platform "${platform}": expected os/architecture[/variant]`);
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** Everything one verification run shares: where, what, the deadline and the anonymous token. */
interface Session {
  ref: string;
  image: ImageRef;
  origin: string;
  platform: Platform;
  platformName: string;
  signal: AbortSignal;
  timeoutMs: number;
  /** Anonymous bearer token from the registry's token service, once one was needed. */
  token?: string;
}

/**
 * Checks that `ref` can be pulled anonymously and resolves to a linux/amd64 image (or
 * `opts.platform`): fetches the manifest or index, the platform manifest, its config blob, and
 * confirms every layer blob exists. Sends no credentials. Throws {@link PullCheckError} on any
 * failure Cloudron would also hit, {@link ImageRefError} for an unusable reference, and a plain
 * Error for an invalid `opts.platform`.
 */
export async function verifyAnonymousPull(ref: string, opts: VerifyPullOptions = {}): Promise<PullCheckResult> {
  const image = parseImageRef(ref);
  if (!image.tag && !image.digest) {
    // docker would quietly use :latest; a deploy check must name the tag it ships.
    throw new ImageRefError(`image reference "${ref}" has no tag or digest: name the exact tag to deploy`);
  }
  const platformName = opts.platform ?? DEFAULT_PLATFORM;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const session: Session = {
    ref,
    image,
    origin: `${registryScheme(image.registry)}://${image.registry}`,
    platform: parsePlatform(platformName),
    platformName,
    signal: AbortSignal.timeout(timeoutMs),
    timeoutMs,
  };
  return checkReference(session);
}

async function checkReference(session: Session): Promise<PullCheckResult> {
  const reference = session.image.digest ?? session.image.tag ?? "";
  const top = await fetchManifest(session, reference, [...INDEX_TYPES, ...MANIFEST_TYPES], (code) =>
    tagMissing(session, code),
  );
  if (top.kind === "index") {
    const platformDigest = await checkIndex(session, top.document);
    const { digest, mediaType } = top;
    return { ref: session.ref, digest, platformDigest, mediaType, kind: "index" };
  }
  await checkImageManifest(session, top.document);
  return {
    ref: session.ref,
    digest: top.digest,
    platformDigest: top.digest,
    mediaType: top.mediaType,
    kind: "manifest",
  };
}

function tagMissing(session: Session, registryCode?: string): PullCheckError {
  const { image } = session;
  const where = `${image.registry}/${image.repository}`;
  const what = image.digest ? `manifest ${image.digest}` : `tag ${image.tag}`;
  const pick = image.digest ? "a digest" : "a tag";
  const repoUnknown = registryCode === "NAME_UNKNOWN" ? " (the registry does not know that repository at all)" : "";
  return new PullCheckError(
    "tag-missing",
    session.ref,
    `${what} not found in ${where}${repoUnknown}: ` + `push it first (build: true) or pick ${pick} that exists`,
  );
}

interface FetchedManifest {
  digest: string;
  mediaType: string;
  kind: "manifest" | "index";
  document: Record<string, unknown>;
}

/** GETs a manifest by tag or digest and checks that its bytes match the digest it claims. */
async function fetchManifest(
  session: Session,
  reference: string,
  accept: string[],
  onNotFound: (registryCode?: string) => PullCheckError,
): Promise<FetchedManifest> {
  const path = `/v2/${session.image.repository}/manifests/${reference}`;
  const res = expectOk(session, await authorizedRequest(session, "GET", path, accept), onNotFound);
  const digest = verifiedDigest(session, res, reference.includes(":") ? reference : undefined);
  const document = parseJsonObject(session, res.body, `manifest ${reference}`);
  const mediaType = manifestMediaType(res.headers, document);
  const kind = classify(session, mediaType, document);
  return { digest, mediaType, kind, document };
}

/** Digest of the bytes received; a mismatch with what the registry or caller claims is fatal. */
function verifiedDigest(session: Session, res: HttpResponse, expected?: string): string {
  const claimed = res.headers["docker-content-digest"];
  const claimedAlgorithm = (expected ?? claimed ?? "").split(":")[0];
  // Only algorithms the reference grammar allows; anything exotic is checked as sha256.
  const algorithm = claimedAlgorithm === "sha512" ? "sha512" : "sha256";
  const actual = `${algorithm}:${createHash(algorithm).update(res.body).digest("hex")}`;
  for (const other of [expected, claimed]) {
    if (other && other.startsWith(`${algorithm}:`) && other !== actual) {
      throw registryError(session, `content digest ${actual} does not match ${other}`);
    }
  }
  return actual;
}

function manifestMediaType(headers: Record<string, string>, document: Record<string, unknown>): string {
  const header = (headers["content-type"] ?? "").split(";")[0].trim();
  if ([...INDEX_TYPES, ...MANIFEST_TYPES].includes(header)) return header;
  // Some registries answer application/json; the document's own mediaType then decides.
  if (typeof document.mediaType === "string") return document.mediaType;
  return Array.isArray(document.manifests) ? MEDIA_TYPE_OCI_INDEX : MEDIA_TYPE_OCI_MANIFEST;
}

function classify(session: Session, mediaType: string, document: Record<string, unknown>): "manifest" | "index" {
  if (INDEX_TYPES.includes(mediaType) && Array.isArray(document.manifests)) return "index";
  if (MANIFEST_TYPES.includes(mediaType) && isDescriptor(document.config)) return "manifest";
  throw registryError(
    session,
    `unsupported manifest type ${mediaType || "(none)"}: ` + "Cloudron needs an OCI or Docker schema 2 image",
  );
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: Partial<Platform>;
  annotations?: Record<string, unknown>;
}

function isDescriptor(value: unknown): value is Descriptor {
  return isObject(value) && typeof value.digest === "string" && DIGEST_RE.test(value.digest);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Picks the platform's manifest from an index and checks it like a single manifest. */
async function checkIndex(session: Session, index: Record<string, unknown>): Promise<string> {
  const entries = (index.manifests as unknown[]).filter(isDescriptor);
  const match = entries.find((entry) => platformMatches(entry.platform, session.platform));
  if (!match) throw wrongPlatform(session, foundPlatforms(entries));

  const child = await fetchManifest(session, match.digest, MANIFEST_TYPES, () =>
    registryError(
      session,
      `the index lists ${session.platformName} manifest ${match.digest} but the registry has ` +
        "no such manifest: the push was incomplete; push the image again",
    ),
  );
  if (child.kind !== "manifest") {
    const what = `${session.platformName} entry ${match.digest}`;
    throw registryError(session, `${what} is not an image manifest`);
  }
  await checkImageManifest(session, child.document);
  return match.digest;
}

function platformMatches(candidate: Partial<Platform> | undefined, wanted: Platform): boolean {
  if (!isObject(candidate)) return false;
  const sameBase = candidate.os === wanted.os && candidate.architecture === wanted.architecture;
  return sameBase && (wanted.variant === undefined || candidate.variant === wanted.variant);
}

/** Platforms an index offers, without buildx attestation entries (they are not images). */
function foundPlatforms(entries: Descriptor[]): string[] {
  const names = entries
    .filter((entry) => entry.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest")
    .map((entry) => platformName(entry.platform));
  return [...new Set(names)];
}

function platformName(platform: Partial<Platform> | undefined): string {
  if (!isObject(platform) || !platform.os || !platform.architecture) return "unspecified";
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}

function wrongPlatform(session: Session, found: string[]): PullCheckError {
  const { image, platformName: wanted } = session;
  const under = image.digest ? image.digest : `tag ${image.tag}`;
  return new PullCheckError(
    "no-amd64",
    session.ref,
    `no ${wanted} image under ${under} of ${image.registry}/${image.repository} ` +
      `(found: ${found.length > 0 ? found.join(", ") : "none"}): ` +
      "it was built on the wrong platform; " +
      `rebuild with platform ${wanted}`,
  );
}

/** Reads the config blob for os/architecture and confirms each layer blob exists. */
async function checkImageManifest(session: Session, manifest: Record<string, unknown>): Promise<void> {
  const config = manifest.config as Descriptor;
  const blob = await fetchBlob(session, config.digest, "config");
  const imageConfig = parseJsonObject(session, blob, `config blob ${config.digest}`);
  const actual: Partial<Platform> = {
    os: stringOrUndefined(imageConfig.os),
    architecture: stringOrUndefined(imageConfig.architecture),
    variant: stringOrUndefined(imageConfig.variant),
  };
  if (!platformMatches(actual, session.platform)) {
    throw wrongPlatform(session, [platformName(actual)]);
  }
  const layers = Array.isArray(manifest.layers) ? manifest.layers.filter(isDescriptor) : [];
  for (const layer of layers) await checkLayerExists(session, layer.digest);
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

async function fetchBlob(session: Session, digest: string, what: string): Promise<Buffer> {
  const path = `/v2/${session.image.repository}/blobs/${digest}`;
  const res = expectOk(session, await authorizedRequest(session, "GET", path, []), () =>
    missingBlob(session, what, digest),
  );
  verifiedDigest(session, res, digest);
  return res.body;
}

/** HEAD, not GET: a pull needs the layer to exist, the check does not need its bytes. */
async function checkLayerExists(session: Session, digest: string): Promise<void> {
  const path = `/v2/${session.image.repository}/blobs/${digest}`;
  const res = await authorizedRequest(session, "HEAD", path, []);
  // A redirect means the registry serves the blob from elsewhere (object storage): it exists.
  if (res.status >= 300 && res.status < 400) return;
  expectOk(session, res, () => missingBlob(session, "layer", digest));
}

function missingBlob(session: Session, what: string, digest: string): PullCheckError {
  return registryError(
    session,
    `${what} blob ${digest} is missing from ${session.image.repository}: ` +
      "the push was incomplete; push the image again",
  );
}

function parseJsonObject(session: Session, body: Buffer, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw registryError(session, `${what} is not valid JSON`);
  }
  if (!isObject(parsed)) throw registryError(session, `${what} is not a JSON object`);
  return parsed;
}

function registryError(session: Session, detail: string): PullCheckError {
  const message = `registry ${session.image.registry}: ${detail}`;
  return new PullCheckError("registry-error", session.ref, message);
}

/** Maps a non-2xx answer (auth already handled) to the error a pull would hit. */
function expectOk(
  session: Session,
  res: HttpResponse,
  onNotFound: (registryCode?: string) => PullCheckError,
): HttpResponse {
  if (res.status >= 200 && res.status < 300) return res;
  const registryCode = firstRegistryError(res.body);
  if (res.status === 404) throw onNotFound(registryCode?.code);
  const detail = registryCode ? `: ${registryCode.code} ${registryCode.message}`.trimEnd() : "";
  const advice =
    res.status >= 500
      ? "retry later or check the registry's health and logs"
      : "check the image reference and the registry";
  throw registryError(session, `answered ${res.status} ${res.statusText}${detail}; ${advice}`);
}

/** The distribution API's error envelope: `{"errors":[{"code","message"}]}`. */
function firstRegistryError(body: Buffer): { code: string; message: string } | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    const first = isObject(parsed) && Array.isArray(parsed.errors) ? parsed.errors[0] : undefined;
    if (isObject(first) && typeof first.code === "string") {
      return { code: first.code, message: typeof first.message === "string" ? first.message : "" };
    }
  } catch {
    // Not the envelope (an HTML error page, say): the status alone has to do.
  }
  return undefined;
}

/**
 * One registry request with docker's anonymous auth behaviour: on a Bearer challenge, fetch an
 * anonymous token from the realm (no credentials) and retry once. Any 401/403 that survives that
 * means the image is not public.
 */
async function authorizedRequest(
  session: Session,
  method: "GET" | "HEAD",
  path: string,
  accept: string[],
): Promise<HttpResponse> {
  let res = await registryRequest(session, method, path, accept);
  if (res.status === 401 && !session.token) {
    const challenge = parseBearerChallenge(res.headers["www-authenticate"]);
    if (challenge) {
      session.token = await fetchAnonymousToken(session, challenge);
      res = await registryRequest(session, method, path, accept);
    }
  }
  if (res.status === 401 || res.status === 403) {
    const withToken = session.token ? " (even with an anonymous token)" : "";
    throw notPublic(session, `registry answered ${res.status} to an anonymous pull${withToken}`);
  }
  return res;
}

function notPublic(session: Session, what: string): PullCheckError {
  return new PullCheckError(
    "not-public",
    session.ref,
    `${what}: the package is not public, so Cloudron cannot pull it. ` +
      "Make the package public in Gitea (Package settings → visibility)",
  );
}

async function registryRequest(
  session: Session,
  method: "GET" | "HEAD",
  path: string,
  accept: string[],
): Promise<HttpResponse> {
  const headers: Record<string, string> = {};
  if (accept.length > 0) headers.accept = accept.join(", ");
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  const url = `${session.origin}${path}`;
  return send(session, session.image.registry, url, method, headers);
}

/**
 * One request within the session's deadline, with the body bounded. A GET follows redirects (a
 * registry may serve blobs from object storage); a HEAD reports them as they are. Network
 * failures and the deadline become "unreachable".
 */
async function send(
  session: Session,
  host: string,
  url: string,
  method: "GET" | "HEAD",
  headers: Record<string, string>,
): Promise<HttpResponse> {
  try {
    return await requestBytes({
      url,
      method,
      headers,
      maxRedirects: method === "GET" ? MAX_REDIRECTS : 0,
      maxBodyBytes: MAX_DOCUMENT_BYTES,
      // The session's signal carries the deadline for all requests together; this per-request
      // cap starts later with the same length, so it never fires first.
      timeoutMs: session.timeoutMs,
      signal: session.signal,
    });
  } catch (err) {
    if (err instanceof HttpRequestError && err.code === "E2BIG") {
      const what = `answer to ${err.url ?? url}`;
      throw registryError(session, `${what} is larger than ${MAX_DOCUMENT_BYTES} bytes`);
    }
    throw unreachable(session, host, err);
  }
}

function unreachable(session: Session, host: string, err: unknown): PullCheckError {
  const what = session.signal.aborted
    ? `registry ${host} did not answer within ${session.timeoutMs} ms`
    : `cannot reach registry ${host} (${networkCause(err)})`;
  const advice = "check the network (DNS, firewall, VPN) and that the registry is up";
  return new PullCheckError("unreachable", session.ref, `${what}: ${advice}`);
}

/** The system code (ECONNREFUSED, ENOTFOUND…); the client's own redirect failures say more. */
function networkCause(err: unknown): string {
  if (!(err instanceof HttpRequestError)) return err instanceof Error ? err.message : String(err);
  const redirectFailure = err.code === "ETOOMANYREDIRECTS" || err.code === "EREDIRECT";
  return redirectFailure ? err.message : err.code;
}

interface BearerChallenge {
  realm: string;
  service?: string;
}

/** Parses `Bearer realm="…",service="…",scope="…"`; undefined for Basic or anything else. */
export function parseBearerChallenge(header: string | null | undefined): BearerChallenge | undefined {
  const match = header ? /(?:^|,\s*)Bearer\s+(.*)$/i.exec(header) : null;
  if (!match) return undefined;
  const params: Record<string, string> = {};
  const pairs = match[1].matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g);
  for (const [, key, quoted, bare] of pairs) {
    params[key.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, "$1") : bare;
  }
  if (!params.realm) return undefined;
  const { realm, service } = params;
  return service ? { realm, service } : { realm };
}

/**
 * The anonymous half of the docker token flow: GET the realm with service and a pull scope for
 * this repository, without credentials. A refusal means anonymous pulls are not allowed.
 */
async function fetchAnonymousToken(session: Session, challenge: BearerChallenge): Promise<string> {
  const realm = safeRealmUrl(session, challenge.realm);
  if (challenge.service) realm.searchParams.set("service", challenge.service);
  // docker asks for the repository pull scope itself rather than echoing the challenge's scope.
  realm.searchParams.set("scope", `repository:${session.image.repository}:pull`);
  const shown = `${realm.origin}${realm.pathname}`;
  const res = await send(session, realm.host, realm.toString(), "GET", {
    accept: "application/json",
  });
  if (res.status === 401 || res.status === 403) {
    throw notPublic(session, `token service ${shown} refused an anonymous token (${res.status})`);
  }
  if (res.status < 200 || res.status >= 300) {
    throw registryError(session, `token service ${shown} answered ${res.status} ${res.statusText}`);
  }
  const document = parseJsonObject(session, res.body, `token service answer from ${shown}`);
  const token = document.token ?? document.access_token;
  if (typeof token !== "string" || token === "") {
    throw registryError(session, `token service ${shown} answered without a token`);
  }
  return token;
}

function safeRealmUrl(session: Session, realm: string): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw registryError(session, "its bearer challenge has an invalid realm URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw registryError(session, `its bearer challenge realm uses ${url.protocol}, not http(s)`);
  }
  // Never echo (or send) userinfo someone put into a realm URL.
  url.username = "";
  url.password = "";
  return url;
}
