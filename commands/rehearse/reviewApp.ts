/**
 * Offline rehearsal of review apps: `npm run rehearse -- pr-<n>`. Plays the whole life of review
 * app n on ONE Cloudron stand-in next to staging, through the lifecycle runner (the real program,
 * a real local registry, a loopback app): create, deploy, seed, smoke, a second push, destroy, and
 * checks that nothing is left and staging was not touched.
 *
 * The config comes from the committed Pulumi.staging.yaml through the same derivation as
 * `npm run review-app -- up` (commands/review-app/stackFile.ts). What the rehearsal does not play is the
 * Pulumi CLI and backend (stack init, config cp, stack rm): the driver's tests cover those against a
 * pulumi stand-in, and only a real backend proves them.
 */
import { Lifecycle, PROJECT_DIR } from "../../engine/runner";
import { readStackText } from "../../config/stackFile";
import { deriveReviewStack, readReviewAppSettings, type ReviewAppSettings } from "../review-app/stackFile";
import { capacityProblem, type ReviewAppEntry } from "../review-app/fleet";
import { reviewStackName } from "../review-app/names";

/**
 * Keys of the derived config the rehearsal hands to the runner; the rest (registry, app checkout,
 * URLs, server, timeouts) the runner points at its local stand-ins, as for staging.
 */
const REHEARSED_KEYS = ["environment", "location", "imageTag", "build", "smoke", "autoRollback", "env"] as const;

/**
 * Staging's stack file as the operator's holds it: with the registry push token set. Only its
 * presence matters to the derivation; the runner gives every stack its own test token, as
 * `pulumi config cp` gives the review stack a copy.
 */
export function stagingTextAsDeployed(projectDir: string = PROJECT_DIR): string {
  const { text } = readStackText(projectDir, "staging");
  return /^ {2}communityrule:registryPassword:/m.test(text)
    ? text
    : `${text}  communityrule:registryPassword:\n    secure: v1:rehearsal-placeholder\n`;
}

/** The runner config of review app `pr` at commit `sha`, derived from staging's stack file. */
export function reviewAppRunnerConfig(
  pr: number,
  sha: string,
  stagingText = stagingTextAsDeployed(),
): Record<string, unknown> {
  const derived = deriveReviewStack(stagingText, { pr, commitSha: sha });
  return Object.fromEntries(REHEARSED_KEYS.filter((k) => k in derived.config).map((k) => [k, derived.config[k]]));
}

/**
 * Staging and its review apps on one Cloudron stand-in, with the driver's limit applied
 * (the offline twin of `npm run review-app`; the stack list is kept here instead of a backend).
 */
export class ReviewAppFleet {
  readonly apps = new Map<number, { lc: Lifecycle; lastUpdate: Date }>();
  readonly settings: ReviewAppSettings;

  private constructor(
    readonly staging: Lifecycle,
    private readonly stagingText: string,
  ) {
    this.settings = readReviewAppSettings(stagingText);
  }

  /** Staging deployed first, as on the real Cloudron. */
  static async create(opts: { echo?: boolean } = {}): Promise<ReviewAppFleet> {
    const staging = await Lifecycle.create({ stack: "staging", echo: opts.echo });
    const first = await staging.up();
    if (!first.ok) {
      await staging.close();
      throw new Error(`staging did not deploy: ${first.errors.join("; ")}`);
    }
    return new ReviewAppFleet(staging, stagingTextAsDeployed());
  }

  /** What `pulumi stack ls` would list: one entry per review app, oldest deploy first. */
  entries(): ReviewAppEntry[] {
    return [...this.apps.entries()]
      .map(([pr, a]) => ({
        stack: reviewStackName(pr),
        pr,
        lastUpdate: a.lastUpdate,
        ageDays: 0,
        updateInProgress: false,
      }))
      .sort((a, b) => a.lastUpdate.getTime() - b.lastUpdate.getTime());
  }

  /** `review-app up <pr>`: refuses past maxReviewApps before creating anything, else deploys. */
  async up(pr: number, sha: string, opts: { echo?: boolean } = {}) {
    const refusal = capacityProblem(this.entries(), pr, this.settings.maxReviewApps);
    if (refusal) throw new Error(refusal);
    const config = reviewAppRunnerConfig(pr, sha, this.stagingText);
    let app = this.apps.get(pr);
    if (!app) {
      const lc = await Lifecycle.create({
        stack: reviewStackName(pr),
        shareCloudronWith: this.staging,
        config,
        echo: opts.echo,
      });
      app = { lc, lastUpdate: new Date() };
      this.apps.set(pr, app);
    } else {
      Object.assign(app.lc.config, config);
    }
    app.lastUpdate = new Date();
    return app.lc.up();
  }

  /** `review-app down <pr>`: destroy; the stack is gone only when the destroy succeeded. */
  async down(pr: number) {
    const app = this.apps.get(pr);
    if (!app) throw new Error(`review app ${reviewStackName(pr)} does not exist`);
    const result = await app.lc.destroy();
    if (result.ok) {
      this.apps.delete(pr);
      await app.lc.close();
    }
    return result;
  }

  /** Review apps first (they share staging's stand-in), then staging. */
  async close() {
    for (const { lc } of this.apps.values()) await lc.close();
    this.apps.clear();
    await this.staging.close();
  }
}

const SHA_FIRST = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_SECOND = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/** Plays review app `pr`'s whole life and prints what happened; 0 when every check held. */
export async function rehearseReviewApp(pr: number, out: (line: string) => void): Promise<number> {
  const stack = reviewStackName(pr);
  out(`REHEARSAL of review app ${stack}: offline, one cloudron stand-in (not a real Cloudron) shared with staging,`);
  out("a throw-away local registry and local servers playing the apps. Config derived from Pulumi.staging.yaml.");
  const failures: string[] = [];
  const check = (ok: boolean, what: string) => {
    out(`  ${ok ? "ok  " : "FAIL"} ${what}`);
    if (!ok) failures.push(what);
  };
  const fleet = await ReviewAppFleet.create();
  try {
    const stagingBefore = JSON.stringify(fleet.staging.app());
    out(`\n== up ${stack} (first push, ${SHA_FIRST.slice(0, 7)}) ==`);
    const first = await fleet.up(pr, SHA_FIRST);
    const lc = fleet.apps.get(pr)!.lc;
    check(first.ok, `deployed${first.ok ? "" : `: ${first.errors.join("; ")}`}`);
    const app = lc.app();
    check(app?.fqdn === `${stack}.${fleet.settings.domain}`, `installed at ${app?.fqdn ?? "(nowhere)"}`);
    check(lc.seedRuns() === 1, `seeded once (${lc.seedRuns()})`);
    const smoke = String(first.outputs.smokeReport ?? "");
    check(
      smoke.includes(" 0 failed"),
      `smoke: ${smoke.split("\n").find((l) => l.includes("passed")) ?? (smoke || "no report")}`,
    );
    const secret = app?.env.SESSION_SECRET ?? "";
    const firstImage = app?.manifest.dockerImage;
    check(
      secret !== "" && secret !== fleet.staging.app()?.env.SESSION_SECRET,
      "its own SESSION_SECRET (not staging's)",
    );

    out(`\n== up ${stack} (second push, ${SHA_SECOND.slice(0, 7)}) ==`);
    const second = await fleet.up(pr, SHA_SECOND);
    check(second.ok, `updated${second.ok ? "" : `: ${second.errors.join("; ")}`}`);
    check(
      lc
        .builds()
        .at(-1)
        ?.imageName.endsWith(`:${stack}-${SHA_SECOND.slice(0, 7)}`) === true,
      `built ${lc.builds().at(-1)?.imageName ?? "nothing"}`,
    );
    check(lc.app()?.manifest.dockerImage !== firstImage, "the app runs the new image");
    check(lc.app()?.env.SESSION_SECRET === secret, "same SESSION_SECRET after the update");
    check(lc.seedRuns() === 1, `not seeded again (${lc.seedRuns()})`);

    out(`\n== down ${stack} ==`);
    const down = await fleet.down(pr);
    check(down.ok, `destroyed${down.ok ? "" : `: ${down.errors.join("; ")}`}`);
    const left = fleet.staging.standin().apps.filter((a) => a.fqdn !== fleet.staging.app()?.fqdn);
    check(left.length === 0, `no app left besides staging (${left.map((a) => a.fqdn).join(", ") || "none"})`);
    check(JSON.stringify(fleet.staging.app()) === stagingBefore, "staging untouched");
  } finally {
    await fleet.close();
  }
  out(
    failures.length === 0
      ? `\nREHEARSAL PASS: ${stack}: created, seeded, smoke-checked, updated on a second push, destroyed; staging ` +
          `untouched`
      : `\nREHEARSAL FAIL: ${stack}: ${failures.join("; ")}`,
  );
  return failures.length === 0 ? 0 : 1;
}
