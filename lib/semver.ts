/**
 * The semver functions product code uses, each from its own module of the semver package. The
 * package's index loads all of semver (some 50 modules, ~25 ms of CPU at every start of an operator
 * command, whose whole start is a few hundred); these load a handful. Same functions, same results.
 */
export { default as valid } from "semver/functions/valid";
export { default as lt } from "semver/functions/lt";
export { default as eq } from "semver/functions/eq";
export { default as gt } from "semver/functions/gt";
export { default as rcompare } from "semver/functions/rcompare";
