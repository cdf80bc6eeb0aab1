/**
 * Pulumi CLI command lines of the review-app driver: pure builders (argv arrays, compared whole in
 * tests/reviewApp.core.test.ts); commands/review-app/main.ts runs them. None carries a secret: config
 * secrets move stack to stack inside `pulumi config cp`, and the passphrase stays in the env.
 */
import { CONFIG_NAMESPACE } from "../../config/loader";
import { shellJoin } from "../../lib/shell";
import { reviewStackName } from "./names";

/** The stack review apps are made from. */
export const SOURCE_STACK = "staging";

/** `pulumi stack ls --json`: the project's stacks with their last update (ages, limits). */
export function stackListCommand(): string[] {
  return ["stack", "ls", "--json"];
}

/**
 * `pulumi stack init pr-<n>`: a new stack with the backend's default secrets provider (the
 * passphrase on file:// and s3:// backends, Pulumi Cloud's own key there). It also selects the
 * new stack; harmless, since every later command names its stack with `-s`.
 */
export function stackInitCommand(pr: number): string[] {
  return ["stack", "init", reviewStackName(pr)];
}

/** `pulumi stack export`: read the state to recover the passphrase salt of an existing stack. */
export function stackExportCommand(pr: number): string[] {
  return ["stack", "export", "-s", reviewStackName(pr)];
}

/**
 * `pulumi config cp`: copies one secret from staging to `pr-<n>`, decrypted with staging's
 * provider and encrypted again with the review stack's (flags as in the CLI reference:
 * `-s` source stack, `-d/--dest` destination, `--path` for `secretEnv.NAME`).
 */
export function configCopyCommand(pr: number, key: string): string[] {
  const path = key.includes(".") ? ["--path"] : [];
  return ["config", "cp", ...path, `${CONFIG_NAMESPACE}:${key}`, "-s", SOURCE_STACK, "-d", reviewStackName(pr)];
}

/** `pulumi config set --secret <key> -s pr-<n>`: the value goes on stdin, never on the command line. */
export function configSetSecretFromStdinCommand(pr: number, key: string): string[] {
  return ["config", "set", "--secret", `${CONFIG_NAMESPACE}:${key}`, "-s", reviewStackName(pr)];
}

/** `pulumi up -s pr-<n> --yes`: deploy through the same program as staging and production. */
export function upCommand(pr: number): string[] {
  return ["up", "-s", reviewStackName(pr), "--yes", "--diff"];
}

/** `pulumi stack output --json -s pr-<n>`: url and smoke report for the summary (no secrets shown). */
export function stackOutputCommand(pr: number): string[] {
  return ["stack", "output", "--json", "-s", reviewStackName(pr)];
}

/** `pulumi destroy -s pr-<n> --yes`: uninstall the app (review apps are never protected). */
export function destroyCommand(pr: number): string[] {
  return ["destroy", "-s", reviewStackName(pr), "--yes"];
}

/** `pulumi stack rm pr-<n> --yes`: remove the emptied stack and its Pulumi.pr-<n>.yaml. */
export function stackRemoveCommand(pr: number): string[] {
  return ["stack", "rm", reviewStackName(pr), "--yes"];
}

/** How a command line reads in logs: `pulumi` and its arguments, quoted where needed. */
export function displayCommand(args: readonly string[]): string {
  return shellJoin(["pulumi", ...args]);
}
