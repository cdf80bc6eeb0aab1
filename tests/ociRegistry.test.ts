/**
 * Anonymous pull verification against a REAL docker-registry (distribution v2.8): one open
 * registry and one htpasswd registry, content pushed as real OCI blobs/manifests/indexes.
 *
 * Two things docker-registry cannot play are small loopback fakes, each said so where defined:
 * a Gitea-style bearer-token front (token realm + proxy to the real open registry) and servers
 * that answer 500 / never answer.
 */
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ImageRefError,
  MEDIA_TYPE_DOCKER_LIST,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  PullCheckError,
  parseBearerChallenge,
  parseImageRef,
  registryScheme,
  verifyAnonymousPull,
  type PullCheckErrorKind,
} from "../registry/ociRegistry";
import { main } from "../steps/pull-check/verifyPull";
import {
  basicAuthorization,
  freePort,
  isRegistryAvailable,
  pushImage,
  startRegistry,
  type RunningRegistry,
} from "../engine/registry";

const REPO = "communityrule/community-rule";
const AUTH = { username: "releaser", password: "s3cret-push-only" };
const ROOT = resolve(__dirname, "..");
const PUSH_ADVICE = "push it first (build: true) or pick a tag that exists";

let open: RunningRegistry;
let locked: RunningRegistry;

beforeAll(async () => {
  if (!isRegistryAvailable()) {
    throw new Error("docker-registry is missing: install docker-registry: apt-get install docker-registry");
  }
  [open, locked] = await Promise.all([startRegistry(), startRegistry({ auth: AUTH })]);
});

afterAll(async () => {
  await Promise.all([open?.stop(), locked?.stop()]);
});

/** Runs the check and returns the PullCheckError it must throw. */
async function expectPullError(
  ref: string,
  kind: PullCheckErrorKind,
  opts?: { timeoutMs?: number },
): Promise<PullCheckError> {
  const err: unknown = await verifyAnonymousPull(ref, opts).then(
    (result) => new Error(`expected ${kind}, but the pull passed: ${JSON.stringify(result)}`),
    (thrown: unknown) => thrown,
  );
  if (!(err instanceof PullCheckError)) throw err;
  expect(err.kind).toBe(kind);
  expect(err.ref).toBe(ref);
  return err;
}

describe("verifyAnonymousPull against docker-registry", () => {
  it("passes a single linux/amd64 manifest and reports the pushed digest", async () => {
    const pushed = await pushImage(open.host, REPO, "0.1.9", { seed: "single" });
    const ref = `${open.host}/${REPO}:0.1.9`;

    const result = await verifyAnonymousPull(ref);

    expect(result).toEqual({
      ref,
      digest: pushed.digest,
      platformDigest: pushed.digest,
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      kind: "manifest",
    });
  });

  it("passes a digest reference (host/repo@sha256:…)", async () => {
    const pushed = await pushImage(open.host, REPO, "by-digest", { seed: "digest-ref" });

    const result = await verifyAnonymousPull(pushed.ref);

    expect(result.digest).toBe(pushed.digest);
    expect(result.kind).toBe("manifest");
  });

  it("passes a multi-platform index and reports the amd64 manifest digest", async () => {
    const seed = "multi";
    const pushed = await pushImage(open.host, REPO, "0.2.0", {
      platforms: ["linux/arm64", "linux/amd64"],
      seed,
    });
    // Same seed and platform give byte-identical manifests: this is the amd64 entry's digest.
    const amd64Alone = await pushImage(open.host, REPO, "0.2.0-amd64", { seed });

    const result = await verifyAnonymousPull(`${open.host}/${REPO}:0.2.0`);

    expect(result.kind).toBe("index");
    expect(result.mediaType).toBe(MEDIA_TYPE_OCI_INDEX);
    expect(result.digest).toBe(pushed.digest);
    expect(result.platformDigest).toBe(amd64Alone.digest);
    expect(result.platformDigest).not.toBe(result.digest);
  });

  it("passes a one-platform amd64 index (index: true)", async () => {
    const pushed = await pushImage(open.host, REPO, "0.2.1", { index: true, seed: "one-index" });

    const result = await verifyAnonymousPull(`${open.host}/${REPO}:0.2.1`);

    expect(result.kind).toBe("index");
    expect(result.digest).toBe(pushed.digest);
  });

  it("fails no-amd64 for an index without linux/amd64 and lists what it found", async () => {
    await pushImage(open.host, REPO, "arm-index", { platforms: ["linux/arm64"], index: true });
    await pushImage(open.host, REPO, "arm-multi", { platforms: ["linux/arm64", "linux/arm/v7"] });

    const one = await expectPullError(`${open.host}/${REPO}:arm-index`, "no-amd64");
    const two = await expectPullError(`${open.host}/${REPO}:arm-multi`, "no-amd64");

    expect(one.message).toContain("no linux/amd64 image under tag arm-index");
    expect(one.message).toContain("(found: linux/arm64)");
    expect(one.message).toContain("rebuild with platform linux/amd64");
    expect(two.message).toContain("(found: linux/arm64, linux/arm/v7)");
  });

  it("fails no-amd64 for a single arm64 manifest (read from its config blob)", async () => {
    await pushImage(open.host, REPO, "arm-single", { platforms: ["linux/arm64"] });

    const err = await expectPullError(`${open.host}/${REPO}:arm-single`, "no-amd64");

    expect(err.message).toContain("(found: linux/arm64)");
    expect(err.message).toContain("built on the wrong platform");
  });

  it("honours opts.platform (the arm64 image passes when arm64 is asked for)", async () => {
    await pushImage(open.host, REPO, "arm-only", { platforms: ["linux/arm64"], seed: "p" });

    const result = await verifyAnonymousPull(`${open.host}/${REPO}:arm-only`, {
      platform: "linux/arm64",
    });

    expect(result.kind).toBe("manifest");
  });

  it("fails tag-missing with an actionable message", async () => {
    const ref = `${open.host}/${REPO}:0.1.10`;

    const err = await expectPullError(ref, "tag-missing");

    expect(err.message).toBe(`tag 0.1.10 not found in ${open.host}/${REPO}: ${PUSH_ADVICE}`);
  });

  it("fails registry-error when a layer blob the manifest needs is gone", async () => {
    await pushImage(open.host, "broken/layers", "1", { seed: "to-break" });
    const manifest = (await (
      await fetch(`${open.url}/v2/broken/layers/manifests/1`, {
        headers: { accept: MEDIA_TYPE_OCI_MANIFEST },
      })
    ).json()) as { layers: { digest: string }[] };
    const layer = manifest.layers[0].digest;
    const blobUrl = `${open.url}/v2/broken/layers/blobs/${layer}`;
    const deleted = await fetch(blobUrl, { method: "DELETE" });
    expect(deleted.status).toBe(202);

    const err = await expectPullError(`${open.host}/broken/layers:1`, "registry-error");

    expect(err.message).toContain(`layer blob ${layer} is missing`);
  });

  it("fails not-public on an htpasswd registry even though the tag exists", async () => {
    await pushImage(locked.host, REPO, "0.1.9", { auth: AUTH, seed: "locked" });
    const withCredentials = await fetch(`${locked.url}/v2/${REPO}/manifests/0.1.9`, {
      headers: {
        accept: MEDIA_TYPE_OCI_MANIFEST,
        authorization: basicAuthorization(AUTH),
      },
    });
    expect(withCredentials.status).toBe(200); // so the failure below is about auth, not the tag

    const err = await expectPullError(`${locked.host}/${REPO}:0.1.9`, "not-public");

    expect(err.message).toBe(
      "registry answered 401 to an anonymous pull: the package is not public, so Cloudron cannot " +
        "pull it. Make the package public in Gitea (Package settings → visibility)",
    );
    expect(err.message).not.toContain(AUTH.password);
  });
});

describe("verifyAnonymousPull against failing endpoints", () => {
  it("fails unreachable when nothing listens on the port", async () => {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;

    const err = await expectPullError(`${host}/${REPO}:0.1.9`, "unreachable");

    expect(err.message).toContain(`cannot reach registry ${host} (ECONNREFUSED)`);
    expect(err.message).toContain("check the network");
  });

  it("fails unreachable when the registry never answers within timeoutMs", async () => {
    // Fake: accepts the connection and never responds, like a blackholed proxy.
    const silent = await serve(() => undefined);
    try {
      const started = Date.now();
      const err = await expectPullError(`${silent.host}/${REPO}:0.1.9`, "unreachable", {
        timeoutMs: 300,
      });
      expect(err.message).toContain(`registry ${silent.host} did not answer within 300 ms`);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await silent.close();
    }
  });

  it("fails registry-error with the status when the registry answers 500", async () => {
    // Fake: docker-registry cannot be made to fail on demand.
    const broken = await serve((_req, res) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "UNKNOWN", message: "storage backend down" }] }));
    });
    try {
      const err = await expectPullError(`${broken.host}/${REPO}:0.1.9`, "registry-error");
      expect(err.message).toContain("answered 500 Internal Server Error");
      expect(err.message).toContain("storage backend down");
    } finally {
      await broken.close();
    }
  });

  it("fails unreachable, naming the loop, when the registry redirects a GET in a circle", async () => {
    // Fake: a misconfigured front whose every answer redirects to the same path.
    let requests = 0;
    const looping = await serve((req, res) => {
      requests += 1;
      res.writeHead(302, { location: req.url ?? "/" });
      res.end();
    });
    try {
      const err = await expectPullError(`${looping.host}/${REPO}:0.1.9`, "unreachable");
      expect(err.message).toBe(
        `cannot reach registry ${looping.host} (more than 20 redirects, the last to ` +
          `http://${looping.host}/v2/${REPO}/manifests/0.1.9): ` +
          "check the network (DNS, firewall, VPN) and that the registry is up",
      );
      expect(requests).toBe(21);
    } finally {
      await looping.close();
    }
  });

  it("fails registry-error when an answer is larger than 4 MiB", async () => {
    // Fake: a registry answering a manifest request with 5 MiB.
    const huge = await serve((_req, res) => {
      res.writeHead(200, { "content-type": MEDIA_TYPE_OCI_MANIFEST });
      res.end(Buffer.alloc(5 * 1024 * 1024, 0x20));
    });
    try {
      const err = await expectPullError(`${huge.host}/${REPO}:0.1.9`, "registry-error");
      expect(err.message).toBe(
        `registry ${huge.host}: answer to http://${huge.host}/v2/${REPO}/manifests/0.1.9 ` +
          "is larger than 4194304 bytes",
      );
    } finally {
      await huge.close();
    }
  });

  it("fails registry-error when the manifest bytes do not match the requested digest", async () => {
    const pushed = await pushImage(open.host, REPO, "tamper", { seed: "tamper" });
    // Fake: a registry that answers any manifest request with some other document.
    const liar = await serve((_req, res) => {
      res.writeHead(200, { "content-type": MEDIA_TYPE_OCI_MANIFEST });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST }));
    });
    try {
      const ref = `${liar.host}/${REPO}@${pushed.digest}`;
      const err = await expectPullError(ref, "registry-error");
      expect(err.message).toContain(`does not match ${pushed.digest}`);
    } finally {
      await liar.close();
    }
  });
});

describe("anonymous bearer-token flow (Gitea-style)", () => {
  it("gets an anonymous token without credentials and passes a public image", async () => {
    const pushed = await pushImage(open.host, REPO, "0.3.0", { seed: "bearer" });
    const front = await startTokenFront(open.url, "public");
    try {
      const result = await verifyAnonymousPull(`${front.host}/${REPO}:0.3.0`);

      expect(result.digest).toBe(pushed.digest);
      expect(front.tokenRequests).toHaveLength(1); // fetched once, reused for blobs
      const tokenRequest = front.tokenRequests[0];
      expect(tokenRequest.authorization).toBeUndefined();
      expect(tokenRequest.url.searchParams.get("service")).toBe("fake-gitea");
      expect(tokenRequest.url.searchParams.get("scope")).toBe(`repository:${REPO}:pull`);
      // Every registry request was either anonymous or carried exactly the anonymous token.
      expect(new Set(front.registryAuthorizations)).toEqual(new Set([undefined, `Bearer ${FAKE_TOKEN}`]));
      for (const type of [
        MEDIA_TYPE_OCI_INDEX,
        MEDIA_TYPE_OCI_MANIFEST,
        MEDIA_TYPE_DOCKER_LIST,
        MEDIA_TYPE_DOCKER_MANIFEST,
      ]) {
        expect(front.manifestAccepts[0]).toContain(type);
      }
    } finally {
      await front.close();
    }
  });

  it("follows GET redirects to blob storage without the token, and takes a HEAD's 307 as present", async () => {
    const pushed = await pushImage(open.host, REPO, "0.3.3", {
      platforms: ["linux/amd64", "linux/arm64"],
      seed: "redirected",
    });
    // Fake: object storage on another origin that records what reaches it, backed by the registry.
    const storageSeen: { method: string; path: string; authorization?: string }[] = [];
    const storage = await serve(async (req, res) => {
      const { method = "", url: path = "", headers } = req;
      storageSeen.push({ method, path, authorization: headers.authorization });
      await proxy(open.url, req, res);
    });
    const front = await startTokenFront(open.url, "public", `http://${storage.host}`);
    try {
      const result = await verifyAnonymousPull(`${front.host}/${REPO}:0.3.3`);

      expect(result.digest).toBe(pushed.digest);
      expect(result.kind).toBe("index");
      // index, amd64 manifest and config blob came from storage by GET, never with the token;
      // the layer HEAD's redirect was taken as "present" and not followed.
      expect(storageSeen.map((seen) => seen.method)).toEqual(["GET", "GET", "GET"]);
      expect(storageSeen.map((seen) => seen.path)).toEqual([
        `/v2/${REPO}/manifests/0.3.3`,
        `/v2/${REPO}/manifests/${result.platformDigest}`,
        expect.stringMatching(new RegExp(`^/v2/${REPO}/blobs/sha256:[a-f0-9]{64}$`)),
      ]);
      expect(storageSeen.map((seen) => seen.authorization)).toEqual([undefined, undefined, undefined]);
      expect(front.redirectedHeads).toBe(1);
    } finally {
      await Promise.all([front.close(), storage.close()]);
    }
  });

  it("fails not-public when the token realm refuses an anonymous token", async () => {
    await pushImage(open.host, REPO, "0.3.1", { seed: "bearer-refused" });
    const front = await startTokenFront(open.url, "realm-refuses");
    try {
      const err = await expectPullError(`${front.host}/${REPO}:0.3.1`, "not-public");

      expect(err.message).toContain(`token service http://${front.host}/token refused an anonymous token (401)`);
      expect(err.message).toContain("Make the package public in Gitea");
    } finally {
      await front.close();
    }
  });

  it("fails not-public when the registry still answers 401 to the anonymous token", async () => {
    await pushImage(open.host, REPO, "0.3.2", { seed: "bearer-private" });
    const front = await startTokenFront(open.url, "private");
    try {
      const err = await expectPullError(`${front.host}/${REPO}:0.3.2`, "not-public");

      expect(err.message).toContain("registry answered 401 to an anonymous pull (even with an anonymous token)");
      expect(err.message).not.toContain(FAKE_TOKEN);
      expect(front.tokenRequests).toHaveLength(1); // one token, one retry, no loop
    } finally {
      await front.close();
    }
  });
});

describe("parseImageRef", () => {
  const digest = `sha256:${"a1".repeat(32)}`;

  it.each([
    [
      "git.medlab.host/communityrule/community-rule:0.1.9",
      { registry: "git.medlab.host", repository: "communityrule/community-rule", tag: "0.1.9" },
    ],
    [
      "git.medlab.host/communityrule/community-rule",
      { registry: "git.medlab.host", repository: "communityrule/community-rule" },
    ],
    ["127.0.0.1:5000/a/b:latest", { registry: "127.0.0.1:5000", repository: "a/b", tag: "latest" }],
    ["localhost:5000/app:abc1234", { registry: "localhost:5000", repository: "app", tag: "abc1234" }],
    ["localhost/app:1", { registry: "localhost", repository: "app", tag: "1" }],
    ["[::1]:5000/app:1", { registry: "[::1]:5000", repository: "app", tag: "1" }],
    [`git.medlab.host/c/r@${digest}`, { registry: "git.medlab.host", repository: "c/r", digest }],
    [`host.io/c/r:1.0@${digest}`, { registry: "host.io", repository: "c/r", tag: "1.0", digest }],
    ["r.io/a/b.c/d_e/f--g:v1_2.3-rc.1", { registry: "r.io", repository: "a/b.c/d_e/f--g", tag: "v1_2.3-rc.1" }],
  ])("parses %s", (ref, expected) => {
    expect(parseImageRef(ref)).toEqual(expected);
  });

  it.each([
    ["", /empty/],
    ["communityrule/community-rule:0.1.9", /not a registry host/],
    ["community-rule:0.1.9", /no registry host/],
    ["https://git.medlab.host/c/r:1", /drop the URL scheme/],
    ["git.medlab.host/CommunityRule/community-rule:1", /"CommunityRule" is invalid/],
    ["git.medlab.host/c/r:", /tag "" is invalid/],
    ["git.medlab.host/c/r:-bad", /tag "-bad" is invalid/],
    ["git.medlab.host/c/r@sha256:abc", /digest must be sha256/],
    [`git.medlab.host/c/r@${digest}@${digest}`, /more than one '@'/],
    ["git.medlab.host/", /repository path is empty/],
    ["git.medlab.host//r:1", /component "" is invalid/],
    ["host:99999/c/r:1", /not a registry host/],
    [" git.medlab.host/c/r:1", /whitespace/],
  ])("rejects %j", (ref, why) => {
    expect(() => parseImageRef(ref)).toThrow(ImageRefError);
    expect(() => parseImageRef(ref)).toThrow(why);
  });

  it("refuses to verify a reference without tag or digest (no silent :latest)", async () => {
    await expect(verifyAnonymousPull("git.medlab.host/c/r")).rejects.toThrow(/no tag or digest/);
  });
});

describe("registryScheme", () => {
  it.each([
    ["localhost", "http"],
    ["localhost:5000", "http"],
    ["127.0.0.1", "http"],
    ["127.0.0.1:5000", "http"],
    ["127.1.2.3:80", "http"],
    ["[::1]", "http"],
    ["[::1]:5000", "http"],
    ["::1", "http"],
    ["git.medlab.host", "https"],
    ["git.medlab.host:443", "https"],
    ["10.0.0.1:5000", "https"],
    ["127.0.0.1.example.com", "https"],
    ["localhost.example.com", "https"],
  ])("%s → %s", (host, scheme) => {
    expect(registryScheme(host)).toBe(scheme);
  });
});

describe("parseBearerChallenge", () => {
  it("reads realm and service from a Gitea-style challenge", () => {
    const header = 'Bearer realm="https://git.medlab.host/v2/token",service="container_registry",scope="*"';
    expect(parseBearerChallenge(header)).toEqual({
      realm: "https://git.medlab.host/v2/token",
      service: "container_registry",
    });
  });

  it("ignores Basic challenges and missing headers", () => {
    expect(parseBearerChallenge('Basic realm="test-registry"')).toBeUndefined();
    expect(parseBearerChallenge(null)).toBeUndefined();
  });
});

describe("tools/verifyPull.ts", () => {
  it("prints PASS with the amd64 manifest digest and exits 0 (real child process)", async () => {
    const pushed = await pushImage(open.host, REPO, "0.4.0", {
      platforms: ["linux/amd64", "linux/arm64"],
      seed: "cli",
    });
    const amd64 = await pushImage(open.host, REPO, "0.4.0-amd64", { seed: "cli" });
    const ref = `${open.host}/${REPO}:0.4.0`;

    const run = await runCli([ref]);

    expect(run).toEqual({
      code: 0,
      stdout: `PASS anonymous pull of ${ref}: linux/amd64 manifest ${amd64.digest}\n`,
      stderr: "",
    });
    expect(amd64.digest).not.toBe(pushed.digest);
  });

  it("prints FAIL <kind> to stderr and exits 1 (real child process)", async () => {
    const ref = `${open.host}/${REPO}:9.9.9`;

    const run = await runCli([ref]);

    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(`FAIL tag-missing: tag 9.9.9 not found in ${open.host}/${REPO}: ${PUSH_ADVICE}\n`);
  });

  it("labels an unusable reference invalid-ref and a missing argument usage (exit 2)", async () => {
    const lines: string[] = [];
    const out = {
      stdout: (line: string) => lines.push(`out ${line}`),
      stderr: (line: string) => lines.push(`err ${line}`),
    };

    expect(await main(["not-a-ref"], out)).toBe(1);
    expect(await main([], out)).toBe(2);

    expect(lines[0]).toMatch(/^err FAIL invalid-ref: invalid image reference "not-a-ref"/);
    expect(lines.slice(1)).toEqual(["err verifyPull: missing <imageRef>", expect.stringMatching(/^err usage: /)]);
  });
});

/** Runs the CLI exactly as the runbook does, from the project root. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, ["build/tools/verifyPull.js", ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => done({ code, stdout, stderr }));
  });
}

interface FakeServer {
  host: string;
  close(): Promise<void>;
}

/** A throwaway loopback HTTP server for the fakes below. */
async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<FakeServer> {
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("fake server has no address");
  return {
    host: `127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((closed) => {
        server.closeAllConnections();
        server.close(() => closed());
      }),
  };
}

const FAKE_TOKEN = "anon-token-6f1c";

interface TokenFront extends FakeServer {
  tokenRequests: { url: URL; authorization?: string }[];
  registryAuthorizations: (string | undefined)[];
  manifestAccepts: string[];
  /** HEAD requests answered with a redirect to `storage`. */
  redirectedHeads: number;
}

/**
 * Fake for the one path docker-registry v2.8 cannot serve without a separate token server: the
 * Gitea-style bearer flow. `/token` is the realm; `/v2/…` demands `Bearer FAKE_TOKEN` and then
 * proxies to the real open registry. Modes: "public" (anonymous token works), "realm-refuses"
 * (the realm answers 401 to an anonymous token request), "private" (a token is issued but the
 * registry still answers 401, as Gitea does for a private package). With `storage`, authorized
 * manifest and blob requests are redirected there (GET 302, HEAD 307) instead of proxied, as a
 * registry serving from object storage does.
 */
async function startTokenFront(
  upstream: string,
  mode: "public" | "realm-refuses" | "private",
  storage?: string,
): Promise<TokenFront> {
  const tokenRequests: TokenFront["tokenRequests"] = [];
  const registryAuthorizations: (string | undefined)[] = [];
  const manifestAccepts: string[] = [];
  let self = "";

  const fake = await serve(async (req, res) => {
    const url = new URL(req.url ?? "/", `http://${self}`);
    if (url.pathname === "/token") {
      tokenRequests.push({ url, authorization: req.headers.authorization });
      if (mode === "realm-refuses") {
        res.writeHead(401, { "content-type": "application/json" });
        res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ token: FAKE_TOKEN }));
      }
      return;
    }
    registryAuthorizations.push(req.headers.authorization);
    if (url.pathname.includes("/manifests/")) manifestAccepts.push(req.headers.accept ?? "");
    if (mode === "private" || req.headers.authorization !== `Bearer ${FAKE_TOKEN}`) {
      res.writeHead(401, {
        "www-authenticate": `Bearer realm="http://${self}/token",service="fake-gitea",scope="*"`,
        "content-type": "application/json",
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (storage && /\/(manifests|blobs)\//.test(url.pathname)) {
      if (req.method === "HEAD") front.redirectedHeads += 1;
      res.writeHead(req.method === "HEAD" ? 307 : 302, { location: `${storage}${req.url ?? "/"}` });
      res.end();
      return;
    }
    await proxy(upstream, req, res);
  });
  self = fake.host;
  const front: TokenFront = {
    ...fake,
    tokenRequests,
    registryAuthorizations,
    manifestAccepts,
    redirectedHeads: 0,
  };
  return front;
}

async function proxy(upstream: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const answer = await fetch(`${upstream}${req.url ?? "/"}`, {
    method: req.method,
    headers: req.headers.accept ? { accept: req.headers.accept } : {},
    redirect: "manual",
  });
  const body = Buffer.from(await answer.arrayBuffer());
  const headers: Record<string, string> = {};
  for (const name of ["content-type", "docker-content-digest", "content-length", "location"]) {
    const value = answer.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  res.writeHead(answer.status, headers);
  res.end(req.method === "HEAD" ? undefined : body);
}
