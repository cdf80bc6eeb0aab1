/**
 * The tools print progress on stderr and their result as ONE JSON object on the last line of
 * stdout (the line Pulumi records as the command's output); this reads it back.
 */

/** The JSON object on the last non-empty line of `stdout`, or undefined when there is none. */
export function lastJsonLine(stdout: string | undefined): unknown {
  const line = (stdout ?? "").trim().split("\n").pop() ?? "";
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
