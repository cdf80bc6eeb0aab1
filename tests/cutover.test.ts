/**
 * The first production install (commands/cutover/cutover.ts, commands/cutover/main.ts): the pure rules on their
 * messages, then the real command against a Cloudron stand-in holding the legacy LAMP app at the
 * apex, with the production stack's up and preview played by the lifecycle runner
 * (commands/rehearse/cutover.ts builds the scene; `npm run rehearse -- production --cutover` plays
 * the same scene end to end).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  acknowledgementProblems,
  CutoverRefused,
  cutoverImage,
  MIN_PRESERVE_DAYS,
  newBackup,
  planRefusals,
  type CutoverSettings,
  type LegacyApp,
} from "../commands/cutover/cutover";
import { cutoverArgsFrom, newestRecord, recordPath } from "../commands/cutover/main";
import { LEGACY_LAMP, startCutoverScene, type CutoverScene } from "../commands/rehearse/cutover";
import { UsageError } from "../lib/cli";

const SETTINGS: CutoverSettings = {
  stack: "production",
  location: "communityrule.info",
  server: "my.medlab.host",
  imageRepository: "git.medlab.host/communityrule/community-rule",
  imageTag: "0.1.9",
  build: false,
  baseUrl: "https://communityrule.info",
  preserveDays: 90,
  exportDone: true,
  acknowledgedAppId: "legacy-1",
};
const LEGACY: LegacyApp = {
  id: "legacy-1",
  fqdn: "communityrule.info",
  appStoreId: "lamp.cloudronapp.php74",
  manifestId: "lamp.cloudronapp.php74",
  version: "5.1.2",
  dockerImage: "cloudron/lamp:5.1.2",
  installationState: "installed",
};

describe("cutover rules", () => {
  it.each([
    ["a promotion with the legacy app idle", SETTINGS, LEGACY, []],
    [
      "build: true",
      { ...SETTINGS, build: true },
      LEGACY,
      [
        new RegExp(
          /communityrule:build is true: production must promote .*/.source +
            / pulumi config set communityrule:build false -s production/.source,
        ),
      ],
    ],
    [
      "a final backup kept less than 90 days",
      { ...SETTINGS, preserveDays: 30 },
      LEGACY,
      [/--preserve-days 30: .* at least 90 days/],
    ],
    [
      "nothing at the apex",
      SETTINGS,
      undefined,
      [/nothing holds communityrule\.info: .* plain pulumi up -s production/],
    ],
    [
      "CommunityRule already at the apex",
      SETTINGS,
      { ...LEGACY, manifestId: "com.medlab.communityrule" },
      [/already runs CommunityRule .* explicit takeover key/],
    ],
    [
      "the legacy app busy",
      SETTINGS,
      { ...LEGACY, installationState: "pending_backup" },
      [/is pending_backup: wait for its task/],
    ],
  ] as const)("planRefusals: %s", (_name, settings, legacy, expected) => {
    const found = planRefusals(settings, legacy);
    expect(found).toHaveLength(expected.length);
    expected.forEach((m, i) => expect(found[i]).toMatch(m));
  });

  it.each([
    ["the right id and the export", SETTINGS, []],
    [
      "no acknowledgement",
      { ...SETTINGS, acknowledgedAppId: undefined },
      [/^no acknowledgement: pass --uninstall-legacy-app legacy-1/],
    ],
    [
      "another id",
      { ...SETTINGS, acknowledgedAppId: "yes" },
      [
        new RegExp(
          /^--uninstall-legacy-app yes does not name the app at communityrule\.info,/.source +
            / which is legacy-1 \(lamp\.cloudronapp\.php74@5\.1\.2\)/.source,
        ),
      ],
    ],
    ["no export", { ...SETTINGS, exportDone: false }, [/export is not confirmed: .* then pass --legacy-export-done/]],
  ] as const)("acknowledgementProblems: %s", (_name, settings, expected) => {
    const found = acknowledgementProblems(settings, LEGACY);
    expect(found).toHaveLength(expected.length);
    expected.forEach((m, i) => expect(found[i]).toMatch(m));
  });

  it("cutoverImage: a malformed --digest is refused before the registry is asked", async () => {
    await expect(cutoverImage("reg.invalid/x", "0.1.9", "abc")).rejects.toBeInstanceOf(CutoverRefused);
  });

  it("newBackup: the one the backup task added, newest first", () => {
    const before = [{ id: "a", creationTime: "2026-12-01T00:00:00Z" }];
    const after = [
      { id: "c", creationTime: "2026-12-03T00:00:00Z" },
      { id: "b", creationTime: "2026-12-02T00:00:00Z" },
      ...before,
    ];
    expect(newBackup(before, after)?.id).toBe("c");
    expect(newBackup(after, after)).toBeUndefined();
  });

  it("command line: at least 90 days, and the recovery takes no acknowledgement", () => {
    const parsed = (values: Record<string, string>, flags: Record<string, boolean> = {}) =>
      cutoverArgsFrom({
        positional: { stack: "production" },
        values,
        flags: { "legacy-export-done": false, "restore-legacy": false, ...flags },
      });
    expect(parsed({}).preserveDays).toBe(MIN_PRESERVE_DAYS);
    expect(parsed({ "preserve-days": "365" }).preserveDays).toBe(365);
    expect(() => parsed({ "preserve-days": "30" })).toThrow(UsageError);
    expect(() => parsed({ "preserve-days": "ninety" })).toThrow(/whole number of days, at least 90/);
    expect(() => parsed({ "uninstall-legacy-app": "x" }, { "restore-legacy": true })).toThrow(
      /takes no --uninstall-legacy-app/,
    );
  });

  it("records are dated to the second, and the recovery finds the newest", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-records-"));
    const first = recordPath(dir, "production", "2026-12-04T16:13:33.120Z");
    const second = recordPath(dir, "production", "2026-12-04T16:14:02.000Z");
    expect(path.basename(first)).toBe("cutover-20261204-161333-production.json");
    fs.writeFileSync(first, "{}");
    // A second run in the same second gets a file of its own.
    const sameSecond = recordPath(dir, "production", "2026-12-04T16:13:33.900Z");
    expect(path.basename(sameSecond)).toBe("cutover-20261204-161333-2-production.json");
    for (const f of [sameSecond, second, recordPath(dir, "staging", "2026-12-05T00:00:00Z")]) fs.writeFileSync(f, "{}");
    fs.utimesSync(second, new Date(), new Date(Date.now() + 1000));
    expect(newestRecord(dir, "production")).toBe(second);
    fs.rmSync(dir, { recursive: true });
  });
});

describe("npm run cutover -- production, against a stand-in with the legacy LAMP app at the apex", () => {
  let scene: CutoverScene;
  beforeAll(async () => {
    scene = await startCutoverScene();
  });
  afterAll(async () => {
    await scene?.close();
  });
  const mutatingSince = (from: number) => scene.lc.mutatingCallsSince(from).map((c) => c.operation);

  it("without an acknowledgement shows the read-only plan and changes nothing", async () => {
    const from = scene.lc.calls().length;
    const { code, lines } = await scene.cutover([]);
    const text = lines.join("\n");
    const id = scene.legacyId()!;
    expect(code).toBe(0);
    expect(mutatingSince(from)).toEqual([]);
    expect(text).toContain(
      `at the apex:  app ${id}: app store lamp.cloudronapp.php74, manifest lamp.cloudronapp.php74@5.1.2, installed`,
    );
    expect(text).toMatch(/its newest backups:\n {4}app_\S+ \(.*version 5\.1\.2\)\n {4}app_/);
    expect(text).toContain(`image:        ${scene.lc.registryHost}/communityrule/community-rule@${scene.digest}`);
    expect(text).toMatch(
      new RegExp(
        /1\. final backup .*\n.*2\. preserve it 90 days .*preserveSecs:/.source +
          / 7776000.*\n.*3\. check the acknowledgement.*\n.*4\. uninstall/.source,
      ),
    );
    expect(text).toMatch(/irreversible:\n {4}- the uninstall removes/);
    expect(text).toContain(`npm run cutover -- production --uninstall-legacy-app ${id} --legacy-export-done`);
  });

  it("refuses, removing nothing, without the acknowledgement naming the app or without the export", async () => {
    const from = scene.lc.calls().length;
    const id = scene.legacyId()!;
    const wrong = await scene.cutover(["--uninstall-legacy-app", "yes", "--legacy-export-done"]);
    expect(wrong.code).toBe(1);
    expect(wrong.lines.join("\n")).toMatch(
      new RegExp(
        /cutover refused, nothing was changed:\n {2}- --uninstall-legacy-app/.source +
          / yes does not name the app at communityrule\.info/.source,
      ),
    );
    const noExport = await scene.cutover(["--uninstall-legacy-app", id]);
    expect(noExport.code).toBe(1);
    expect(noExport.lines.join("\n")).toContain("the legacy rules / version_history export is not confirmed");
    const movedTag = await scene.cutover([
      "--uninstall-legacy-app",
      id,
      "--legacy-export-done",
      "--digest",
      `sha256:${"0".repeat(64)}`,
    ]);
    expect(movedTag.code).toBe(1);
    expect(movedTag.lines.join("\n")).toContain("the tag was pushed again since");
    expect(mutatingSince(from)).toEqual([]);
    expect(scene.legacyId()).toBe(id);
    expect(scene.records()).toEqual([]);
  });

  it("refuses, removing nothing, when the final backup fails or cannot be preserved", async () => {
    const id = scene.legacyId()!;
    let from = scene.lc.calls().length;
    scene.lc.api.injectFault({ operation: "backupApp", kind: "taskFails", message: "Backup storage full (injected)" });
    const failedBackup = await scene.cutover(["--uninstall-legacy-app", id, "--legacy-export-done"]);
    expect(failedBackup.code).toBe(1);
    expect(failedBackup.lines.join("\n")).toMatch(
      /cutover refused, nothing was changed:\n.*Backup storage full \(injected\).*\(the legacy app was NOT removed\)/,
    );
    expect(mutatingSince(from)).toEqual(["backupApp"]);
    await scene.lc.waitUntilNoTask();
    // The app went into Cloudron's error state with the failed task; the dashboard's repair brings it back.
    const app = scene.lc.api.app(id)!;
    app.installationState = "installed";
    app.error = null;

    from = scene.lc.calls().length;
    scene.lc.api.injectFault({ operation: "updateAppBackup", kind: "taskNoop" });
    const notPreserved = await scene.cutover(["--uninstall-legacy-app", id, "--legacy-export-done"]);
    expect(notPreserved.code).toBe(1);
    expect(notPreserved.lines.join("\n")).toMatch(
      /is kept 0 s past retention, not the 7776000 s asked .*\(the legacy app was NOT removed\)/,
    );
    expect(mutatingSince(from)).toEqual(["backupApp", "updateAppBackup"]);
    expect(scene.legacyId()).toBe(id);
    expect(scene.records().map((r) => [r.result, r.steps.map((s) => `${s.name} ${s.ok}`)])).toEqual([
      ["refused", ["final backup false"]],
      ["refused", ["final backup true", "preserve the final backup false"]],
    ]);
    for (const f of fs.readdirSync(scene.recordDir)) fs.rmSync(path.join(scene.recordDir, f));
  });

  it(
    "a failure after the uninstall stops, names the step and the recovery;" +
      " the recovery restores the legacy app from the preserved backup",
    async () => {
      const id = scene.legacyId()!;
      const from = scene.lc.calls().length;
      scene.lc.api.injectFault({ operation: "installApp", kind: "taskFails", message: "Image pull failed (injected)" });
      const { code, lines } = await scene.cutover(["--uninstall-legacy-app", id, "--legacy-export-done"]);
      const text = lines.join("\n");
      expect(code).toBe(1);
      expect(mutatingSince(from)).toEqual(["backupApp", "updateAppBackup", "uninstallApp", "installApp"]);
      const [record] = scene.records();
      expect(record).toMatchObject({
        result: "stopped",
        stoppedAt: "install CommunityRule: pulumi up -s production",
        legacy: { id, appStoreId: "lamp.cloudronapp.php74", version: "5.1.2" },
      });
      const backupId = record.finalBackup!.id;
      expect(record.finalBackup?.preserveSecs).toBe(90 * 24 * 3600);
      expect(text).toContain(
        `CUTOVER STOPPED at "install CommunityRule: pulumi up -s production", after the legacy app was uninstalled:`,
      );
      expect(text).toContain("Image pull failed (injected)");
      expect(text).toContain(
        `RECOVERY (the legacy site back from its preserved final backup` +
          ` ${backupId}):\n  npm run cutover -- production --restore-legacy`,
      );
      // The backup outlived the uninstall, preserved.
      expect(scene.lc.api.state.detachedBackups.find((b) => b.id === backupId)?.preserveSecs).toBe(90 * 24 * 3600);

      const before = scene.lc.calls().length;
      const restored = await scene.cutover(["--restore-legacy"]);
      expect(restored.code).toBe(0);
      expect(restored.lines.join("\n")).toMatch(
        /LEGACY RESTORED: communityrule\.info runs lamp\.cloudronapp\.php74@5\.1\.2 again/,
      );
      // It removed the failed CommunityRule install, then installed the store app and restored the backup into it.
      const calls = scene.lc.mutatingCallsSince(before);
      expect(calls.map((c) => c.operation)).toEqual(["uninstallApp", "installApp", "restoreFromBackup"]);
      expect(calls[1].requestBody).toMatchObject({
        appStoreId: "lamp.cloudronapp.php74",
        subdomain: "",
        domain: "communityrule.info",
        accessRestriction: null,
        manifest: { id: LEGACY_LAMP.manifest.id, version: "5.1.2" },
      });
      expect(calls[2].requestBody).toEqual({ backupId });
      const back = scene.lc.api.app("communityrule.info")!;
      expect(back).toMatchObject({
        appStoreId: "lamp.cloudronapp.php74",
        restoredFrom: backupId,
        installationState: "installed",
        runState: "running",
      });
      expect(scene.records()[0].recovery).toMatchObject({ ok: true, backupId, restoredAppId: back.id });
      // A second recovery finds the legacy app there and refuses.
      const again = await scene.cutover(["--restore-legacy"]);
      expect(again.code).toBe(1);
      expect(again.lines.join("\n")).toContain("already runs lamp.cloudronapp.php74");
      for (const f of fs.readdirSync(scene.recordDir)) fs.rmSync(path.join(scene.recordDir, f));
    },
  );

  it(
    "after a failed health gate the stack records the app step: the recovery works," +
      " and a new cutover is refused before the uninstall until the state is cleared",
    async () => {
      const saved = scene.lc.save();
      const id = scene.legacyId()!;
      scene.lc.mutateStandin((st) => st.unhealthyImages.push("community-rule"));
      const stopped = await scene.cutover(["--uninstall-legacy-app", id, "--legacy-export-done"]);
      expect(stopped.code).toBe(1);
      expect(stopped.lines.join("\n")).toMatch(
        /CUTOVER STOPPED at "install CommunityRule: pulumi up -s production".*\n?.*health/,
      );
      scene.lc.mutateStandin((st) => st.unhealthyImages.splice(0));
      expect((await scene.cutover(["--restore-legacy"])).code).toBe(0);
      const urn = scene.lc.pulumiState().resources.find((r) => r.name === "app-deploy")?.urn;
      expect(urn).toMatch(/::app-deploy$/);
      const from = scene.lc.calls().length;
      const again = await scene.cutover(["--uninstall-legacy-app", scene.legacyId()!, "--legacy-export-done"]);
      expect(again.code).toBe(1);
      expect(again.lines.join("\n")).toContain(
        `pulumi state unprotect -s production '${urn}' && pulumi state delete -s production '${urn}'`,
      );
      expect(mutatingSince(from)).toEqual([]);
      await scene.lc.waitUntilNoTask();
      scene.lc.restore(saved);
      for (const f of fs.readdirSync(scene.recordDir)) fs.rmSync(path.join(scene.recordDir, f));
    },
  );

  it(
    "the cutover end to end: backup preserved before anything is removed, CommunityRule" +
      " at the apex with staging's digest, a record, and the next up is a no-op",
    async () => {
      const id = scene.legacyId()!;
      const from = scene.lc.calls().length;
      const { code, lines } = await scene.cutover(["--uninstall-legacy-app", id, "--legacy-export-done"]);
      expect(code, lines.join("\n")).toBe(0);
      const ops = mutatingSince(from);
      expect(ops.slice(0, 4)).toEqual(["backupApp", "updateAppBackup", "uninstallApp", "installApp"]);
      expect(ops).toContain("standinExec"); // the seed, once
      const [record] = scene.records();
      expect(record).toMatchObject({
        result: "done",
        legacy: { id },
        preserveDays: 90,
        image: { digest: scene.digest },
      });
      expect(record.steps.map((s) => s.name)).toEqual([
        "final backup",
        "preserve the final backup",
        "uninstall the legacy app",
        "install CommunityRule: pulumi up -s production",
        "verify the image",
        "smoke checks",
        "normal stack: pulumi preview -s production changes nothing",
      ]);
      expect(record.steps.every((s) => s.ok && s.startedAt && s.finishedAt)).toBe(true);
      expect(record.smoke).toMatch(/smoke: 5 passed, 0 failed/);
      const app = scene.lc.app()!;
      expect(app.manifest.id).toBe("com.medlab.communityrule");
      // Installed by digest (production's promotion), never by the tag, which could be pushed again.
      expect(app.manifest.dockerImage).toBe(`${scene.lc.registryHost}/communityrule/community-rule@${scene.digest}`);
      expect(record.image?.reference).toBe(app.manifest.dockerImage);
      expect(record.installedAppId).toBe(app.id);
      expect(lines.join("\n")).toContain(
        `CUTOVER DONE: communityrule.info runs CommunityRule ${scene.version} = ${scene.digest}`,
      );
      // No secret of the stack in the record the operator commits.
      const text = fs.readFileSync(path.join(scene.recordDir, fs.readdirSync(scene.recordDir)[0]), "utf8");
      for (const secret of scene.lc.secretValues()) expect(text).not.toContain(secret);

      const since = scene.lc.calls().length;
      const next = await scene.lc.up();
      expect(next.ok).toBe(true);
      expect(next.steps.filter((s) => s.op !== "same")).toEqual([]);
      expect(scene.lc.mutatingCallsSince(since)).toEqual([]);
      // The stack file sets no organizer inbox: every up says so, and goes on.
      expect((next as unknown as { log: string }).log).toMatch(
        new RegExp(
          /warning: \[runtime\] communityrule:secretEnv\.ORGANIZER_INQUIRY_TO:/.source +
            / is not set: POST \/api\/organizer-inquiry answers 500/.source,
        ),
      );
      // And a cutover now has nothing to do.
      const plan = await scene.cutover([]);
      expect(plan.code).toBe(1);
      expect(plan.lines.join("\n")).toMatch(/REFUSED: communityrule\.info already runs CommunityRule/);
    },
  );
});
