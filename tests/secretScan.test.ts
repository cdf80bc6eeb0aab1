/**
 * Secret scan over a whole staging lifecycle (install with an extra secret env var, env change,
 * SESSION_SECRET rotation, destroy): no secret may appear anywhere the runner recorded, except in
 * the argv of `cloudron env set`. A negative control proves the scanner does find a planted leak.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult } from "../lifecycle/host";
import { Lifecycle } from "../lifecycle/runner";
import { callRecords, namedSecrets, scanForSecrets, scanRecords, type ScanRecord } from "../lifecycle/secretScan";

describe("secret scan over a staging lifecycle", () => {
  let lc: Lifecycle;
  const apiKey = `sk-live-${crypto.randomBytes(12).toString("hex")}`;
  // SESSION_SECRETs the app held along the way: the rotated-away one and the one destroy removes.
  const sessionSecrets: Record<string, string> = {};
  // The state file after each up: destroy empties it, so the final file alone would prove little.
  const stateSnapshots: ScanRecord[] = [];
  const snapshotState = () => {
    stateSnapshots.push({ where: `pulumi-state.json after run ${lc.runs.length - 1}`, text: fs.readFileSync(lc.pulumiStatePath, "utf8") });
  };
  const noteSessionSecret = () => {
    const s = lc.app()?.env.SESSION_SECRET;
    if (s) sessionSecrets[`SESSION_SECRET#${Object.keys(sessionSecrets).length}`] = s;
  };

  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging" });
    lc.secrets.secretEnv = { API_KEY: apiKey };

    const first = await lc.up();
    expect(first.errors).toEqual([]);
    expect(lc.app()!.env.API_KEY).toBe(apiKey);
    noteSessionSecret();
    snapshotState();

    lc.config.env = { ...(lc.config.env as Record<string, string>), FEATURE_FLAG: "on" };
    const envChange = await lc.up();
    expect(envChange.errors).toEqual([]);
    expect(lc.app()!.env.FEATURE_FLAG).toBe("on");
    snapshotState();

    lc.config.sessionSecretRotation = "1";
    const rotation = await lc.up();
    expect(rotation.errors).toEqual([]);
    noteSessionSecret();
    snapshotState();
    expect(Object.values(sessionSecrets)).toHaveLength(2);
    expect(sessionSecrets["SESSION_SECRET#0"]).not.toBe(sessionSecrets["SESSION_SECRET#1"]);
  });
  afterAll(async () => lc?.close());

  it("the pulumi state stores the environment of app-deploy and app-env-apply as ciphertext only", () => {
    const resources = lc.pulumiState().resources;
    for (const name of ["app-deploy", "app-env-apply"]) {
      const r = resources.find((x) => x.name === name);
      expect(r, name).toBeDefined();
      const environment = r!.inputs.environment as Record<string, unknown>;
      expect(environment, `${name}.inputs.environment`).toEqual({ __secret: { ciphertext: expect.any(String) } });
    }
  });

  it("finds no secret outside `cloudron env set` argv, after up, env change, rotation and destroy", async () => {
    const destroyed = await lc.destroy();
    expect(destroyed.errors).toEqual([]);
    expect(lc.app()).toBeUndefined();

    const report = scanForSecrets(lc, lc.runs, sessionSecrets);
    const states = scanRecords(stateSnapshots, namedSecrets(lc, sessionSecrets));
    const scanned = report.scannedStrings + states.scannedStrings;
    const hits = [...report.hits, ...states.hits];
    console.log(`secret scan: ${scanned} strings scanned, ${hits.length} hits`);
    expect(hits).toEqual([]);
    expect(stateSnapshots).toHaveLength(3);
    expect(report.scannedStrings).toBeGreaterThan(100);
    expect(lc.runs.map((r) => r.mode)).toEqual(["up", "up", "up", "destroy"]);
  });

  it("the stand-in never saw --token in any argv, and the secret env only reached `env set`", () => {
    const calls = lc.calls();
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => c.argv.some((a) => a.startsWith("--token")))).toEqual([]);
    const withApiKey = calls.filter((c) => c.argv.some((a) => a.includes(apiKey)));
    expect(withApiKey.map((c) => c.sub)).toEqual(["env set"]);
  });

  it("negative control: a planted secret in a synthetic record is found exactly once", () => {
    const planted: RunResult = {
      ok: false,
      mode: "up",
      steps: [{ urn: "urn:x", type: "command:local:Command", name: "leaky", op: "create", stderr: `curl: (22) auth ${apiKey} rejected` }],
      errors: [],
      outputs: {},
      registered: 1,
    };
    const report = scanForSecrets(lc, [...lc.runs, planted], sessionSecrets);
    expect(report.hits).toEqual([{ where: `runs[${lc.runs.length}](up).steps[0](leaky).stderr`, secretName: "secretEnv.API_KEY" }]);
  });

  it("negative control: the env-set exemption covers only env set argv", () => {
    const secret = `tok-${crypto.randomBytes(8).toString("hex")}`;
    const records = callRecords([
      { argv: ["env", "set", "--app", "a.example.org", `K=${secret}`], cwd: "/tmp", sub: "env set", authenticated: true, exit: 0 },
      { argv: ["install", "--location", "a.example.org", "--token", secret], cwd: "/tmp", sub: "install", authenticated: true, exit: 0 },
    ]);
    expect(scanRecords(records, { token: secret }).hits).toEqual([{ where: "calls[1](install).argv[4]", secretName: "token" }]);
  });
});
