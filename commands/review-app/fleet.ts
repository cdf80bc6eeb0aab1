/**
 * The set of review apps, as `pulumi stack ls --json` reports the project's stacks: which exist,
 * how old they are, whether one more fits under `maxReviewApps`, which are past `reviewAppTtlDays`.
 *
 * Age is measured from a stack's last deploy (`lastUpdate`), the only time `pulumi stack ls` gives
 * on every backend: a PR that keeps being pushed keeps its app, one left alone expires.
 */
import { prNumberOfStack } from "./names";

/** One review app. */
export interface ReviewAppEntry {
  stack: string;
  pr: number;
  /** Start of the last update; undefined when the stack was created but never deployed. */
  lastUpdate?: Date;
  /** Whole days since `lastUpdate` (rounded down); undefined when never deployed. */
  ageDays?: number;
  updateInProgress: boolean;
  resourceCount?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Review apps among the stacks `pulumi stack ls --json` printed, oldest first (never-deployed
 * stacks last). Stack names may be qualified (`org/project/pr-42` on Pulumi Cloud).
 */
export function parseStackList(json: string, now: Date): ReviewAppEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error(`pulumi stack ls --json printed something that is not JSON: ${json.slice(0, 200)}`);
  }
  if (!Array.isArray(parsed)) throw new Error("pulumi stack ls --json did not print a list");
  const entries: ReviewAppEntry[] = [];
  for (const item of parsed as Array<Record<string, unknown>>) {
    const name =
      String(item.name ?? "")
        .split("/")
        .pop() ?? "";
    const pr = prNumberOfStack(name);
    if (pr === undefined) continue;
    const when = typeof item.lastUpdate === "string" ? new Date(item.lastUpdate) : undefined;
    const lastUpdate = when && !Number.isNaN(when.getTime()) ? when : undefined;
    entries.push({
      stack: name,
      pr,
      lastUpdate,
      ageDays: lastUpdate ? Math.max(0, Math.floor((now.getTime() - lastUpdate.getTime()) / DAY_MS)) : undefined,
      updateInProgress: item.updateInProgress === true,
      resourceCount: typeof item.resourceCount === "number" ? item.resourceCount : undefined,
    });
  }
  const t = (e: ReviewAppEntry) => e.lastUpdate?.getTime() ?? Number.POSITIVE_INFINITY;
  return entries.sort((a, b) => t(a) - t(b) || a.pr - b.pr);
}

/**
 * Why review app `pr` may not be created now, or undefined when it may (it exists already, or
 * there is room). The message names the oldest review app and how to remove it.
 */
export function capacityProblem(
  entries: readonly ReviewAppEntry[],
  pr: number,
  maxReviewApps: number,
): string | undefined {
  if (entries.some((e) => e.pr === pr)) return undefined;
  if (entries.length < maxReviewApps) return undefined;
  const oldest = entries[0];
  const age =
    oldest.ageDays === undefined
      ? "never deployed"
      : `last deployed ${oldest.ageDays} day${oldest.ageDays === 1 ? "" : "s"} ago`;
  return (
    `refusing to create review app pr-${pr}: ${entries.length} review apps exist and maxReviewApps is ` +
    `${maxReviewApps}. ` +
    `The oldest is ${oldest.stack} (${age}); remove it with npm run review-app -- down ${oldest.pr} ` +
    `(or close its PR / remove its review-app label), or raise communityrule:maxReviewApps in Pulumi.staging.yaml`
  );
}

/** Review apps not deployed for more than `ttlDays` days (an update in progress never expires). */
export function expiredReviewApps(entries: readonly ReviewAppEntry[], ttlDays: number): ReviewAppEntry[] {
  return entries.filter((e) => !e.updateInProgress && e.ageDays !== undefined && e.ageDays >= ttlDays);
}

/** The `list` table: one line per review app with its URL, age and whether it has expired. */
export function formatReviewAppList(
  entries: readonly ReviewAppEntry[],
  opts: { domain: string; ttlDays: number; maxReviewApps: number },
): string {
  const lines = [
    `review apps: ${entries.length} of at most ${opts.maxReviewApps}; removed after ${opts.ttlDays} days ` +
      `without a deploy`,
  ];
  if (entries.length === 0) lines.push("  (none)");
  const expired = new Set(expiredReviewApps(entries, opts.ttlDays).map((e) => e.stack));
  for (const e of entries) {
    const when = e.updateInProgress
      ? "update in progress"
      : e.lastUpdate
        ? `last deployed ${e.lastUpdate.toISOString().slice(0, 16).replace("T", " ")} UTC (${e.ageDays} d ago)`
        : "never deployed";
    lines.push(
      `  ${e.stack.padEnd(10)} https://${e.stack}.${opts.domain}  ${when}${expired.has(e.stack) ? "  EXPIRED" : ""}`,
    );
  }
  return lines.join("\n");
}
