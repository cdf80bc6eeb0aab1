/**
 * Names of review apps: the stack `pr-<n>`, its image tag `pr-<n>-<short sha>` and its location
 * `pr-<n>.<reviewAppDomain>`. Pure, shared by the config rules, the driver and the workflows' tests.
 */

/** Stack names of review apps: `pr-` and a pull-request number without leading zeros. */
const REVIEW_STACK = /^pr-([1-9][0-9]{0,8})$/;

/** Image tags of review apps: `pr-<n>-<7 to 40 hex digits of the PR's head commit>`. */
const REVIEW_TAG = /^pr-([1-9][0-9]{0,8})-([0-9a-f]{7,40})$/;

/** Length of the commit prefix in review tags, as `git rev-parse --short` prints by default. */
export const SHORT_SHA_LENGTH = 7;

/** True for a review-app stack name (`pr-42`); staging and production never match. */
export function isReviewStack(stack: string): boolean {
  return REVIEW_STACK.test(stack);
}

/** The pull-request number of a review-app stack, or undefined for any other stack. */
export function prNumberOfStack(stack: string): number | undefined {
  const m = REVIEW_STACK.exec(stack);
  return m ? Number(m[1]) : undefined;
}

/** True for a tag of the review-app shape `pr-<n>-<sha>`. */
export function isReviewImageTag(tag: string): boolean {
  return REVIEW_TAG.test(tag);
}

/** The pull-request number a review tag was built for, or undefined. */
export function prNumberOfTag(tag: string): number | undefined {
  const m = REVIEW_TAG.exec(tag);
  return m ? Number(m[1]) : undefined;
}

/**
 * Parses the `<n>` an operator or a workflow passes (`42`, not `#42` or `pr-42`), or throws a
 * message saying what a pull-request number looks like.
 */
export function parsePrNumber(text: string | undefined): number {
  if (text === undefined || !/^[1-9][0-9]{0,8}$/.test(text)) {
    throw new Error(
      `expected a pull-request number such as 42, got ${text === undefined ? "nothing" : JSON.stringify(text)}`,
    );
  }
  return Number(text);
}

/** `pr-<n>`: the Pulumi stack of pull request n. */
export function reviewStackName(pr: number): string {
  return `pr-${pr}`;
}

/** `pr-<n>-<first 7 hex digits>`; refuses anything that is not a hex commit id. */
export function reviewImageTag(pr: number, commitSha: string): string {
  const sha = commitSha.trim().toLowerCase();
  if (!/^[0-9a-f]{7,40}$/.test(sha)) {
    throw new Error(`expected the PR's head commit as hex (git rev-parse HEAD), got ${JSON.stringify(commitSha)}`);
  }
  return `pr-${pr}-${sha.slice(0, SHORT_SHA_LENGTH)}`;
}

/** `pr-<n>.<domain>`: where the review app of pull request n answers. */
export function reviewLocation(pr: number, reviewAppDomain: string): string {
  return `pr-${pr}.${reviewAppDomain}`;
}
