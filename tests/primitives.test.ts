/** The small shared primitives: the secret-env naming and the tools' result line. */
import { describe, expect, it } from "vitest";
import { isSecretEnvVar, secretEnvVars, secretsFromEnv } from "../lib/secretEnv";
import { lastJsonLine } from "../lib/jsonLine";

describe("secret env naming", () => {
  it("what a step puts in a tool's environment, the tool reads back; nothing else is taken for a secret", () => {
    const values = { API_KEY: "k-1", SMTP_PASSWORD: "p w" };
    const vars = secretEnvVars(values);
    expect(Object.keys(vars).every(isSecretEnvVar)).toBe(true);
    const env = { ...vars, PATH: "/bin", CLOUDRON_TOKEN: "t", CR_SECRET_FROM_SHELL: "s" };
    expect(secretsFromEnv(env, Object.keys(values))).toEqual(values);
    // Only the names asked for: a CR_SECRET_ variable from the operator's shell is not one of ours.
    expect(secretsFromEnv(env, ["API_KEY", "MISSING"])).toEqual({ API_KEY: "k-1" });
    expect(isSecretEnvVar("PATH")).toBe(false);
  });
});

describe("lastJsonLine", () => {
  it("reads the object on the last line, after progress lines; anything else is no result", () => {
    expect(lastJsonLine('progress\n{"a":1}\n')).toEqual({ a: 1 });
    expect(lastJsonLine('{"a":1}\nprogress')).toBeUndefined();
    expect(lastJsonLine("{not json")).toBeUndefined();
    expect(lastJsonLine(undefined)).toBeUndefined();
  });
});
