/**
 * The one function that quotes a value for a POSIX shell. Every value that reaches a shell in a
 * command string goes through it (Kamal's rule: builders produce tokens, one helper escapes them).
 */

/** Characters that never need quoting; keeps generated commands readable in previews. */
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes `value` so that `sh -c` passes it to the program byte for byte: single quotes around
 * everything, each embedded `'` written as `'\''`. Inside single quotes the shell expands nothing
 * (`$(…)`, backticks, `$VAR`, `;`, newlines all stay literal).
 */
export function shellQuote(value: string): string {
  if (value.includes("\0")) throw new Error("a shell argument cannot contain a NUL byte");
  if (value !== "" && SAFE.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Joins tokens into one command line, quoting each. */
export function shellJoin(tokens: readonly string[]): string {
  return tokens.map(shellQuote).join(" ");
}
