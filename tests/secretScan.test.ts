/**
 * Secret scan over a whole staging lifecycle (first install with a secret env var, an env change
 * that changes a secret, a SESSION_SECRET rotation, destroy): no secret may appear anywhere the
 * runner recorded, except the `env` of the install and configure/env request bodies. Throughout the
 * three `up`s a sampler reads every process's /proc/<pid>/cmdline (what `ps` shows any local user)
 * and finds none of the secrets. Negative controls prove each scanner finds a planted leak.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult } from "../engine/host";
import { Lifecycle, type ApiCall } from "../engine/runner";
import {
  apiCallRecords,
  namedSecrets,
  scanCmdlines,
  scanForSecrets,
  scanRecords,
  startProcSampler,
  type ProcSample,
  type ScanRecord,
} from "../engine/secretScan";

describe("secret scan over a staging lifecycle", () => {
  let lc: Lifecycle;
  const apiKey = `sk-live-${crypto.randomBytes(12).toString("hex")}`;
  const apiKey2 = `sk-live-${crypto.randomBytes(12).toString("hex")}`;
  // SESSION_SECRETs the app held along the way: the rotated-away one and the one destroy removes.
  const sessionSecrets: Record<string, string> = {};
  // The state file after each up: destroy empties it, so the final file alone would prove little.
  const stateSnapshots: ScanRecord[] = [];
  let proc: ProcSample;
  const snapshotState = () => {
    stateSnapshots.push({
      where: `pulumi-state.json after run ${lc.runs.length - 1}`,
      text: fs.readFileSync(lc.pulumiStatePath, "utf8"),
    });
  };
  const noteSessionSecret = () => {
    const s = lc.app()?.env.SESSION_SECRET;
    if (s) sessionSecrets[`SESSION_SECRET#${Object.keys(sessionSecrets).length}`] = s;
  };

  beforeAll(async () => {
    lc = await Lifecycle.create({ stack: "staging" });
    lc.secrets.secretEnv = { API_KEY: apiKey };
    const sampler = startProcSampler(15);
    try {
      const first = await lc.up();
      expect(first.errors).toEqual([]);
      expect(lc.app()!.env.API_KEY).toBe(apiKey);
      noteSessionSecret();
      snapshotState();

      // An env change with secrets: a plain key added and the secret value changed.
      lc.config.env = { ...(lc.config.env as Record<string, string>), FEATURE_FLAG: "on" };
      lc.secrets.secretEnv = { API_KEY: apiKey2 };
      const envChange = await lc.up();
      expect(envChange.errors).toEqual([]);
      expect(lc.app()!.env.FEATURE_FLAG).toBe("on");
      expect(lc.app()!.env.API_KEY).toBe(apiKey2);
      snapshotState();

      lc.config.sessionSecretRotation = "1";
      const rotation = await lc.up();
      expect(rotation.errors).toEqual([]);
      noteSessionSecret();
      snapshotState();
    } finally {
      proc = sampler.stop();
    }
    expect(Object.values(sessionSecrets)).toHaveLength(2);
    expect(sessionSecrets["SESSION_SECRET#0"]).not.toBe(sessionSecrets["SESSION_SECRET#1"]);
  });
  afterAll(async () => lc?.close());

  const allSecrets = () => namedSecrets(lc, { ...sessionSecrets, "secretEnv.API_KEY(first)": apiKey });

  it("no secret in any process's argv: /proc/*/cmdline sampled throughout install, env change and rotation", () => {
    // The sampler really watched the deploy: it saw the lifecycle host and the exec stand-in run.
    const lines = [...proc.cmdlines.keys()];
    expect(proc.samples).toBeGreaterThan(50);
    expect(lines.filter((l) => l.includes("build/engine/host.js")).length).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.includes("standin/cloudron exec --app staging.communityrule.info"))).toBe(true);
    const hits = scanCmdlines(proc, allSecrets());
    console.log(
      `process table: ${proc.samples} samples, ${proc.cmdlines.size} distinct command lines, ${hits.length} hits`,
    );
    expect(hits).toEqual([]);
  });

  it("negative control: the sampler sees a process that carries a secret in its argv", async () => {
    const planted = `planted-${crypto.randomBytes(10).toString("hex")}`;
    const sampler = startProcSampler(15);
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 600)", "--", `--token=${planted}`]);
    await new Promise((r) => child.on("close", r));
    const seen = sampler.stop();
    expect(scanCmdlines(seen, { planted })).toEqual([{ where: `/proc/${child.pid}/cmdline`, secretName: "planted" }]);
  });

  it("secrets reached Cloudron only in the env of install and configure/env bodies", () => {
    const carrying = (value: string) =>
      lc
        .calls()
        .filter(
          (c) =>
            JSON.stringify(c.requestBody ?? "").includes(value) ||
            JSON.stringify(c.query).includes(value) ||
            c.path.includes(value),
        )
        .map((c) => [
          c.operation,
          Object.entries((c.requestBody as { env?: Record<string, string> }).env ?? {}).find(
            ([, v]) => v === value,
          )?.[0],
        ]);
    expect(carrying(apiKey)).toEqual([["installApp", "API_KEY"]]);
    expect(carrying(apiKey2)).toEqual([
      ["setAppEnv", "API_KEY"],
      ["setAppEnv", "API_KEY"],
    ]);
    expect(carrying(sessionSecrets["SESSION_SECRET#1"])).toEqual([["setAppEnv", "SESSION_SECRET"]]);
    expect(carrying(lc.token)).toEqual([]);
    expect(lc.calls().every((c) => c.authenticated && !("access_token" in c.query))).toBe(true);
  });

  it("finds no secret anywhere the runner recorded, after up, env change, rotation and destroy", async () => {
    const destroyed = await lc.destroy();
    expect(destroyed.errors).toEqual([]);
    expect(lc.app()).toBeUndefined();

    const report = scanForSecrets(lc, lc.runs, { ...sessionSecrets, "secretEnv.API_KEY(first)": apiKey });
    const states = scanRecords(stateSnapshots, allSecrets());
    const scanned = report.scannedStrings + states.scannedStrings;
    const hits = [...report.hits, ...states.hits];
    console.log(`secret scan: ${scanned} strings scanned, ${hits.length} hits`);
    expect(hits).toEqual([]);
    expect(stateSnapshots).toHaveLength(3);
    expect(report.scannedStrings).toBeGreaterThan(100);
    expect(lc.runs.map((r) => r.mode)).toEqual(["up", "up", "up", "destroy"]);
  });

  it("the exec stand-in never saw --token, and its argv carries no secret", () => {
    const execs = lc.execCalls();
    expect(execs.length).toBeGreaterThan(0);
    expect(execs.filter((c) => c.argv.some((a) => a.startsWith("--token")))).toEqual([]);
  });

  it("negative control: a planted secret in a synthetic run record is found exactly once", () => {
    const planted: RunResult = {
      ok: false,
      mode: "up",
      steps: [
        {
          urn: "urn:x",
          type: "command:local:Command",
          name: "leaky",
          op: "create",
          stderr: `curl: (22) auth ${apiKey2} rejected`,
        },
      ],
      errors: [],
      outputs: {},
      registered: 1,
    };
    const report = scanForSecrets(lc, [...lc.runs, planted], sessionSecrets);
    expect(report.hits).toEqual([
      { where: `runs[${lc.runs.length}](up).steps[0](leaky).stderr`, secretName: "secretEnv.API_KEY" },
    ]);
  });

  it("negative control: the body exemption covers only the env of install and configure/env", () => {
    const secret = `tok-${crypto.randomBytes(8).toString("hex")}`;
    const call = (
      operation: ApiCall["operation"],
      requestBody: unknown,
      query: Record<string, string> = {},
    ): ApiCall => ({
      seq: 0,
      method: "POST",
      path: "/api/v1/apps",
      operation,
      status: 202,
      query,
      authenticated: true,
      requestBody,
      time: 0,
    });
    const records = apiCallRecords([
      call("installApp", { env: { K: secret }, manifest: { id: "x" } }),
      call("setAppEnv", { env: { K: secret } }),
      call("installApp", { env: {}, label: secret }),
      call("updateApp", { manifest: { env: secret } }),
      call("getApp", undefined, { access_token: secret }),
    ]);
    expect(scanRecords(records, { token: secret }).hits).toEqual([
      { where: "calls[2](installApp).body.label", secretName: "token" },
      { where: "calls[3](updateApp).body.manifest.env", secretName: "token" },
      { where: "calls[4](getApp).query.access_token", secretName: "token" },
    ]);
  });
});
