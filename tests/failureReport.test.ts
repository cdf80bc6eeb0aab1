/**
 * The failure report (cloudron/failureReport.ts): logs read through the real client from the
 * Cloudron stand-in, bounded, masked (app env values, URL passwords), and a log that cannot be read
 * named instead of hiding the step's error.
 */
import * as crypto from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CloudronApi, parseLogText } from "../cloudron/client";
import {
  excerptLines,
  formatFailureReport,
  gatherEvidence,
  LOG_BOUNDS,
  maskUrlCredentials,
} from "../cloudron/failureReport";
import { startCloudronApi, type CloudronApi as Standin } from "../engine/standin/cloudronApi";

let standin: Standin;
let api: CloudronApi;
const SECRET = `sess-${crypto.randomBytes(8).toString("hex")}`;

beforeEach(async () => {
  const token = `tok-${crypto.randomBytes(8).toString("hex")}`;
  standin = await startCloudronApi({ tokens: [{ token, role: "owner" }], taskMs: 50 });
  api = new CloudronApi({
    server: standin.url,
    token,
    taskTimeoutSeconds: 5,
    busyWaitSeconds: 1,
    log: () => undefined,
  });
});
afterEach(async () => standin.stop());

describe("reading logs", () => {
  it("NDJSON lines give their message; other lines stay as they came", () => {
    expect(parseLogText('{"realtimeTimestamp":1,"message":"a","source":"x"}\nplain line\n\n')).toEqual([
      "a",
      "plain line",
    ]);
  });

  it("fetches the app's last lines by location, masked with every env value the app list carried", async () => {
    const app = standin.addApp({
      fqdn: "staging.communityrule.info",
      manifest: { id: "m", version: "1.0.0", dockerImage: "r:1" },
      env: { SESSION_SECRET: SECRET },
    });
    for (let i = 0; i < 80; i++) app.logLines.push(`2026-05-21T15:00:00.000Z line ${i}`);
    app.logLines.push(`2026-05-21T15:00:01.000Z leaked ${SECRET} and postgres://u:pw-123456@db:5432/x`);
    const e = await gatherEvidence(api, { step: "health", location: "staging.communityrule.info" });
    expect(e.appLog).toHaveLength(LOG_BOUNDS.appLines);
    expect(e.appLog.at(-1)).toBe("leaked [masked] and postgres://u:[masked]@db:5432/x");
    expect(e.notes).toEqual([]);
  });

  it("a log that cannot be read is named in a note, and nothing throws", async () => {
    const e = await gatherEvidence(api, { step: "update", appId: "no-such-app", taskId: "4242" });
    expect(e.appLog).toEqual([]);
    expect(e.notes).toEqual([
      expect.stringMatching(/^task 4242 log not fetched: update: GET \/tasks\/4242\/logs not found/),
      expect.stringMatching(/^app log not fetched: update: GET \/apps\/no-such-app\/logs not found/),
    ]);
  });
});

describe("the report", () => {
  it("quotes the finding's lines and the last ones, in order, each line bounded", () => {
    const lines = Array.from({ length: 100 }, (_, i) =>
      i === 10 ? "Error: P3009" : `l${i}${i === 99 ? "x".repeat(400) : ""}`,
    );
    const out = excerptLines(lines, [10]);
    expect(out[0]).toBe("Error: P3009");
    expect(out[1]).toBe("…");
    expect(out).toHaveLength(2 + LOG_BOUNDS.shownLines);
    expect(out.at(-1)!.length).toBe(LOG_BOUNDS.lineChars + 1);
  });

  it("names the row, the task log and the app log; masks what the mask knows", () => {
    const text = formatFailureReport(
      { step: "update", app: "a.example", message: "Cloudron task 7 failed: pull access denied" },
      { taskLog: ["Downloading image", "task failed: pull access denied"], appLog: [`x ${SECRET}`], notes: ["a note"] },
      (t) => t.split(SECRET).join("[masked]"),
    );
    expect(text).toContain("likely cause, from the step and the logs: image pull error");
    expect(text).toContain(
      "task log (last 2 lines, masked):\n  | Downloading image\n  | task failed: pull access denied",
    );
    expect(text).toContain("  | x [masked]");
    expect(text).toContain("a note");
    expect(maskUrlCredentials("mysql://root:secret@h/db https://x.y/z")).toBe(
      "mysql://root:[masked]@h/db https://x.y/z",
    );
  });
});
