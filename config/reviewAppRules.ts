/**
 * Stack-config rules for review apps. config/loader.ts calls these (one schema entry per key, one
 * rule call); they import nothing from config/schema.ts, so the two modules never import each other
 * in a circle.
 *
 * - Staging carries the review-app settings (`reviewAppDomain`, `reviewAppSecrets`,
 *   `maxReviewApps`, `reviewAppTtlDays`); production may not.
 * - Tags of the shape `pr-<n>-<sha>` deploy only to the stack `pr-<n>`.
 * - A `pr-<n>` stack answers only at `pr-<n>.<domain>`, so it can never take over staging's app.
 */
import { isReviewImageTag, isReviewStack, prNumberOfStack, prNumberOfTag } from "../commands/review-app/names";

/** Secret keys a review app may take over from staging; everything else secret stays behind. */
const COPYABLE_SECRET = /^(registryPassword|cloudronToken|secretEnv\.[A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * Parses `reviewAppSecrets`: key names separated by commas or spaces
 * (`registryPassword, secretEnv.SMTP_PASSWORD`), or a YAML list (which Pulumi hands over as JSON
 * text). Names only: the values are copied by `pulumi config cp`.
 */
export function parseReviewAppSecrets(text: string): string[] | { problem: string } {
  const example = "e.g. registryPassword, cloudronToken, secretEnv.SMTP_PASSWORD";
  let names: unknown[];
  if (text.trim().startsWith("[")) {
    try {
      names = JSON.parse(text) as unknown[];
    } catch {
      return { problem: `must be a list of secret key names, ${example}` };
    }
    if (!Array.isArray(names)) return { problem: `must be a list of secret key names, ${example}` };
  } else {
    names = text.split(/[\s,]+/).filter((n) => n !== "");
  }
  if (names.some((k) => typeof k !== "string")) return { problem: `must be a list of secret key names, ${example}` };
  const bad = (names as string[]).filter((k) => !COPYABLE_SECRET.test(k));
  if (bad.length > 0) {
    return {
      problem:
        `${bad.map((k) => JSON.stringify(k)).join(", ")} cannot be copied to a review app: list only ` +
        `registryPassword, ` +
        `cloudronToken or secretEnv.<NAME> (plain keys are copied anyway; SESSION_SECRET is generated per stack)`,
    };
  }
  return [...new Set(names as string[])];
}

/** What {@link reviewAppConfigProblems} looks at. */
export interface ReviewAppRuleInput {
  stack: string;
  environment: "staging" | "production";
  location: string;
  imageTag: string;
  /** The staging-only keys (`stagingOnly` in config/schema.ts) present in the stack's config. */
  stagingOnlyKeys: readonly string[];
}

/** One problem, keyed by its short key (the caller adds the namespace). */
export interface ReviewAppProblem {
  key: string;
  message: string;
}

/** Every review-app rule broken by one stack's config, with the fix in each message. */
export function reviewAppConfigProblems(input: ReviewAppRuleInput): ReviewAppProblem[] {
  const problems: ReviewAppProblem[] = [];
  const { stack, environment, location, imageTag } = input;
  const pr = prNumberOfStack(stack);

  if (isReviewImageTag(imageTag)) {
    const tagPr = prNumberOfTag(imageTag);
    if (pr === undefined) {
      problems.push({
        key: "imageTag",
        message:
          `"${imageTag}" is a review-app tag (pr-<n>-<sha>); it deploys only to the review-app stack pr-${tagPr} ` +
          `(npm run review-app -- up ${tagPr}), never to ${stack}. Set a release tag ` +
          `X.Y.Z${environment === "production" ? "" : " or a short git SHA"}`,
      });
    } else if (tagPr !== pr) {
      problems.push({
        key: "imageTag",
        message: `"${imageTag}" was built for pull request ${tagPr}; stack ${stack} deploys only pr-${pr}-<sha> tags`,
      });
    }
  }

  if (pr !== undefined) {
    if (environment !== "staging") {
      problems.push({
        key: "environment",
        message: `review app ${stack} must run as staging (it is made from staging and is never protected)`,
      });
    }
    if (!location.startsWith(`${stack}.`)) {
      problems.push({
        key: "location",
        message:
          `review app ${stack} must answer at ${stack}.<reviewAppDomain>, not ${location}: regenerate its ` +
          `stack file with npm run review-app -- up ${pr}`,
      });
    }
  }

  if (environment === "production" && pr === undefined) {
    for (const key of input.stagingOnlyKeys)
      problems.push({ key, message: "review apps are made from staging only; move this key to Pulumi.staging.yaml" });
  }
  return problems;
}

export { isReviewImageTag, isReviewStack };
