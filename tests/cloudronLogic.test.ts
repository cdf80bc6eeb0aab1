/** Pure logic behind the Cloudron steps: env diffs, reading `cloudron inspect`, deploy decisions. */
import { describe, expect, it } from "vitest";
import { fingerprint, isEmptyPlan, planEnvChanges } from "../lib/cloudron/envDiff";
import { appCondition, decideDeploy, findApp, parseInspect, sameServer, type ObservedApp } from "../lib/cloudron/cloudronApps";
import { likelyCause } from "../lib/health/troubleshooting";
import { buildCredentialsFile } from "../lib/cloudron/cloudronCli";

describe("planEnvChanges", () => {
  it("sets added and changed keys, unsets removed ones, leaves unchanged ones alone", () => {
    const plan = planEnvChanges({ A: "1", B: "2", C: "3" }, { A: "1", B: "20", D: "4" });
    expect(plan).toEqual({ set: ["B", "D"], unset: ["C"] });
  });
  it("on a first apply sets everything and unsets nothing (hand-set vars stay)", () => {
    expect(planEnvChanges({}, { B: "x", A: "y" })).toEqual({ set: ["A", "B"], unset: [] });
  });
  it("an identical desired state is an empty plan", () => {
    expect(isEmptyPlan(planEnvChanges({ A: "1" }, { A: "1" }))).toBe(true);
    expect(isEmptyPlan(planEnvChanges({ A: "1" }, { A: "2" }))).toBe(false);
  });
});

describe("fingerprint", () => {
  it("depends on key, name and value, and does not contain the value", () => {
    const a = fingerprint("k1", "API_KEY", "sk-live-123456");
    expect(a).toMatch(/^hmac:[0-9a-f]{16}$/);
    expect(a).not.toContain("sk-live");
    expect(fingerprint("k2", "API_KEY", "sk-live-123456")).not.toBe(a);
    expect(fingerprint("k1", "OTHER", "sk-live-123456")).not.toBe(a);
    expect(fingerprint("k1", "API_KEY", "sk-live-123457")).not.toBe(a);
    expect(fingerprint("k1", "API_KEY", "sk-live-123456")).toBe(a);
  });
});

const inspectJson = JSON.stringify({
  apiEndpoint: "my.medlab.host",
  apps: [
    { id: "a1", fqdn: "staging.communityrule.info", manifest: { id: "com.medlab.communityrule", version: "0.1.9", dockerImage: "r/c@sha256:1" }, installationState: "installed", runState: "running", health: "healthy", taskId: null },
    { id: "a2", subdomain: "wiki", domain: "medlab.host", manifest: { id: "org.wiki", version: "1.0.0", dockerImage: "w:1" }, installationState: "pending_update", runState: "running", taskId: "77" },
    { id: "a3", fqdn: "broken.medlab.host", manifest: { id: "x", version: "1.0.0" }, installationState: "error", error: { message: "pull failed" } },
  ],
});

describe("parseInspect", () => {
  it("reads apps with fqdn or subdomain+domain, manifest and task state", () => {
    const view = parseInspect(inspectJson);
    expect(view.apiEndpoint).toBe("my.medlab.host");
    expect(findApp(view, "STAGING.communityrule.info")?.image).toBe("r/c@sha256:1");
    expect(findApp(view, "wiki.medlab.host")?.taskId).toBe("77");
    expect(findApp(view, "broken.medlab.host")?.error).toContain("pull failed");
  });
  it("refuses output it does not understand instead of reading it as 'no apps'", () => {
    expect(() => parseInspect("Id  Location  State")).toThrow(/did not print JSON/);
    expect(() => parseInspect(JSON.stringify({ apiEndpoint: "x" }))).toThrow(/no apps\[\] list/);
  });
  it("classifies absent, ready, busy and error apps", () => {
    const view = parseInspect(inspectJson);
    expect(appCondition(undefined)).toBe("absent");
    expect(appCondition(findApp(view, "staging.communityrule.info"))).toBe("ready");
    expect(appCondition(findApp(view, "wiki.medlab.host"))).toBe("busy");
    expect(appCondition(findApp(view, "broken.medlab.host"))).toBe("error");
  });
  it("compares servers without scheme, slash or case mattering", () => {
    expect(sameServer("https://My.Medlab.host/", "my.medlab.host")).toBe(true);
    expect(sameServer("my.other.host", "my.medlab.host")).toBe(false);
  });
});

describe("decideDeploy", () => {
  const want = { manifestId: "com.medlab.communityrule", image: "r/c@sha256:2", version: "0.1.10", location: "staging.communityrule.info" };
  const app = (over: Partial<ObservedApp>): ObservedApp => ({
    id: "a1", fqdn: want.location, manifestId: want.manifestId, version: "0.1.9", image: "r/c@sha256:1",
    installationState: "installed", runState: "running", health: "healthy", taskId: null, error: null, ...over,
  });
  it("installs when the location is free", () => {
    expect(decideDeploy(undefined, want, "")).toEqual({ action: "install" });
  });
  it("updates our own app when image or version differ, noting adoption when the id is new", () => {
    expect(decideDeploy(app({}), want, "a1")).toMatchObject({ action: "update", adopting: false });
    expect(decideDeploy(app({}), want, "")).toMatchObject({ action: "update", adopting: true });
  });
  it("does nothing when the app already runs the wanted image and version", () => {
    expect(decideDeploy(app({ image: want.image, version: want.version }), want, "a1").action).toBe("adopt-unchanged");
  });
  it("refuses another app's location, naming its manifest id", () => {
    const d = decideDeploy(app({ manifestId: "org.wordpress.cloudronapp" }), want, "");
    expect(d).toMatchObject({ action: "refuse" });
    expect((d as { reason: string }).reason).toContain("org.wordpress.cloudronapp");
  });
});

describe("likelyCause (runbook troubleshooting table)", () => {
  it.each([
    ["update: image pull failed: manifest unknown", /public|tag|amd64/],
    ["health: 503 database error", /postgresql addon/],
    ["container exited unexpectedly during prisma migrate deploy", /migration/],
    ["Domain 'x' is in use (409)", /location is already used/],
    ["Not logged in", /cloudronToken/],
  ])("%s", (message, cause) => {
    expect(likelyCause(message)).toMatch(cause);
  });
  it("says nothing rather than guessing", () => {
    expect(likelyCause("something unusual")).toBeUndefined();
  });
});

describe("buildCredentialsFile", () => {
  it("writes the shape `cloudron login` stores, keyed by the server", () => {
    expect(JSON.parse(buildCredentialsFile("my.medlab.host", "tok"))).toEqual({
      cloudrons: { default: "my.medlab.host", "my.medlab.host": { apiEndpoint: "my.medlab.host", token: "tok" } },
    });
  });
});
