/**
 * The Pulumi CLI's config step (engine/configStep.ts, after pulumi/pulumi pkg/workspace/config.go
 * `mergeConfig` and sdk/go/common/workspace/project.go), played on the project's real files, and
 * Pulumi.yaml's declarations against the schema key by key.
 */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import {
  mergeConfig,
  readProjectConfig,
  readProjectYaml,
  runConfigStep,
  stackConfigFromText,
  validateConfigValue,
  configValueFromYaml,
  ProjectFileError,
} from "../engine/configStep";
import { declarationFor, renderPulumiYaml, undeclaredKeys } from "../config/pulumiYaml";
import { CONFIG_DEFAULTS, CONFIG_SCHEMA, type ConfigKey } from "../config/schema";
import { checkConfig } from "../config/loader";
import { deriveReviewStack } from "../commands/review-app/stackFile";

const root = path.resolve(__dirname, "..");
const project = readProjectYaml(root);
const stackText = (stack: string) => fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8");
const secure = (v: string) => `{ secure: "v1:${Buffer.from(v).toString("base64")}" }`;

/** Staging's file as an operator has it after `pulumi config set --secret …` (README, step 4). */
function withSecrets(text: string): string {
  const lines = [
    "  communityrule:registryUsername: deployer",
    `  communityrule:registryPassword: ${secure("pw")}`,
    `  communityrule:cloudronToken: ${secure("tok")}`,
  ];
  return `${text}\n${lines.join("\n")}\n`;
}

/** Replaces or removes one `communityrule:<key>` line of a stack file. */
function edit(text: string, key: string, line: string | undefined): string {
  const re = new RegExp(`^  communityrule:${key}:.*$`, "m");
  if (!re.test(text)) return line === undefined ? text : `${text}\n  communityrule:${key}: ${line}\n`;
  return line === undefined ? text.replace(re, "") : text.replace(re, `  communityrule:${key}: ${line}`);
}

const step = (stack: string, text: string, mode: "preview" | "up" | "destroy" = "up") =>
  runConfigStep(mode, stack, project, stackConfigFromText("communityrule", text));

describe("the config step on the project's real files", () => {
  for (const stack of ["staging", "production"]) {
    it(`Pulumi.yaml + Pulumi.${stack}.yaml pass, and the program gets the schema's defaults`, () => {
      const result = step(stack, withSecrets(stackText(stack)));
      if (!result.ok) throw new Error(result.error);
      expect(result.config["communityrule:healthTimeoutSeconds"]).toBe(String(CONFIG_DEFAULTS.healthTimeoutSeconds));
      // build's default depends on the environment (production promotes), so the program applies it.
      expect(result.config["communityrule:build"]).toBeUndefined();
      expect(result.config["communityrule:smoke"]).toBe("true");
      expect(result.config["communityrule:acknowledgeMigrations"]).toBe("[]");
      expect(result.secretKeys).toEqual(["communityrule:cloudronToken", "communityrule:registryPassword"]);
    });
  }

  it("a generated Pulumi.pr-<n>.yaml passes", () => {
    const staging = edit(stackText("staging"), "reviewAppSecrets", "registryPassword, cloudronToken");
    const review = deriveReviewStack(withSecrets(staging), { pr: 42, commitSha: "abcdef1234567" });
    const result = step("pr-42", review.text);
    if (!result.ok) throw new Error(result.error);
    expect(result.config["communityrule:location"]).toBe("pr-42.communityrule.info");
  });

  it("what the CLI hands over passes the program's own rules on staging and production", () => {
    for (const stack of ["staging", "production"]) {
      const result = step(stack, withSecrets(stackText(stack)));
      if (!result.ok) throw new Error(result.error);
      const check = checkConfig(
        { values: result.config, secretKeys: new Set(result.secretKeys) },
        { stack, projectDir: root, allowMissingAppDir: true },
      );
      expect(check.problems, stack).toEqual([]);
    }
  });

  it("a stack file without location fails with the CLI's message, before the program", () => {
    const result = step("staging", edit(stackText("staging"), "location", undefined));
    expect(result).toEqual({
      ok: false,
      error: "validating stack config: Stack 'staging' is missing configuration value 'location'",
    });
  });

  it("several missing keys are named in one sorted message, as formatMissingKeys writes it", () => {
    const bare = "config:\n  communityrule:env: {}\n";
    expect(step("staging", bare)).toEqual({
      ok: false,
      error: "validating stack config: Stack 'staging' is missing configuration values 'cloudronServer' and 'location'",
    });
  });

  it("a non-integer healthTimeoutSeconds fails with the CLI's message", () => {
    for (const bad of ["1.5", '"300s"', "yes"]) {
      const result = step("staging", edit(stackText("staging"), "healthTimeoutSeconds", bad));
      expect(result, bad).toEqual({
        ok: false,
        error:
          "validating stack config: Stack 'staging' with configuration" +
          " key 'healthTimeoutSeconds' must be of type 'integer'",
      });
    }
    const ok = step("staging", edit(stackText("staging"), "healthTimeoutSeconds", '"120"'));
    expect(ok.ok).toBe(true);
  });

  it(
    "a plain-text cloudronToken passes the CLI (an optional" + " secret is not declared) and the program refuses it",
    () => {
      const result = step("staging", edit(withSecrets(stackText("staging")), "cloudronToken", "plain-token-123"));
      if (!result.ok) throw new Error(result.error);
      const check = checkConfig(
        { values: result.config, secretKeys: new Set(result.secretKeys) },
        { stack: "staging", projectDir: root, allowMissingAppDir: true },
      );
      expect(check.problems.map((p) => p.key)).toEqual(["communityrule:cloudronToken"]);
      expect(check.problems[0].message).toMatch(/--secret/);
    },
  );

  it("destroy applies defaults without validating (the program does not run)", () => {
    const result = step("staging", edit(stackText("staging"), "location", undefined), "destroy");
    expect(result.ok).toBe(true);
    const preview = step("staging", edit(stackText("staging"), "location", undefined), "preview");
    expect(preview.ok).toBe(false);
  });
});

describe("mergeConfig as config.go writes it", () => {
  const proj = (config: Record<string, unknown>) => readProjectConfig({ name: "test", config });
  const values = (entries: Record<string, unknown>) =>
    new Map(Object.entries(entries).map(([k, v]) => [`test:${k}`, configValueFromYaml(v, (e) => String(e.secure))]));

  it("a declared secret with a type must be encrypted; a default is never encrypted", () => {
    const p = proj({ token: { type: "string", secret: true } });
    expect(mergeConfig("dev", p, values({ token: "plain" }), true)).toEqual({
      ok: false,
      error: "Stack 'dev' with configuration key 'token' must be encrypted as it's secret",
    });
    expect(mergeConfig("dev", p, values({ token: { secure: "c" } }), true).ok).toBe(true);
    expect(mergeConfig("dev", p, values({}), true)).toEqual({
      ok: false,
      error: "Stack 'dev' is missing configuration value 'token'",
    });
    const withDefault = proj({ token: { type: "string", secret: true, default: "" } });
    expect(mergeConfig("dev", withDefault, values({}), true)).toEqual({
      ok: false,
      error: "Stack 'dev' with configuration key 'token' must be encrypted as it's secret",
    });
  });

  it("shorthand values are defaults; the stack's value wins over a default", () => {
    const p = proj({ size: "t3.micro", count: 20 });
    const r = mergeConfig("dev", p, values({ size: "t4.large" }), true);
    if (!r.ok) throw new Error(r.error);
    expect(r.config.get("test:size")?.value).toBe("t4.large");
    expect(r.config.get("test:count")?.value).toBe("20");
  });

  it("keys outside the project namespace are never required", () => {
    const p = proj({ "aws:region": { value: "us-east-1" } });
    expect(mergeConfig("dev", p, values({}), true).ok).toBe(true);
  });

  it("type checks follow ValidateConfigValue", () => {
    expect(validateConfigValue("integer", undefined, "42")).toBe(true);
    expect(validateConfigValue("integer", undefined, "-7")).toBe(true);
    expect(validateConfigValue("integer", undefined, " 42")).toBe(false);
    expect(validateConfigValue("integer", undefined, "9223372036854775808")).toBe(false);
    expect(validateConfigValue("integer", undefined, 3)).toBe(true);
    expect(validateConfigValue("integer", undefined, 3.5)).toBe(false);
    expect(validateConfigValue("boolean", undefined, "True")).toBe(false);
    expect(validateConfigValue("boolean", undefined, "false")).toBe(true);
    expect(validateConfigValue("object", undefined, [])).toBe(false);
    expect(validateConfigValue("array", { type: "string" }, ["a", "b"])).toBe(true);
    expect(validateConfigValue("array", { type: "string" }, ["a", 1])).toBe(false);
    expect(validateConfigValue("string", undefined, { a: 1 })).toBe(false);
  });

  it("a map given to a string-typed key fails its type", () => {
    const p = proj({ name: { type: "string" } });
    expect(mergeConfig("dev", p, values({ name: { a: "b" } }), true)).toEqual({
      ok: false,
      error: "Stack 'dev' with configuration key 'name' must be of type 'string'",
    });
  });

  it("the project file itself is checked as Project.Validate does", () => {
    expect(() => proj({ n: { type: "integer", default: "many" } })).toThrow(
      new ProjectFileError(
        "The default value specified for configuration key 'n' is not of the expected type 'integer'",
      ),
    );
    expect(() => proj({ l: { type: "array" } })).toThrow(
      /does not specify the underlying type via the 'items' attribute/,
    );
    expect(() => proj({ x: { default: 1, value: 2 } })).toThrow(/cannot have both a 'default' and 'value' attribute/);
  });
});

describe("Pulumi.yaml against config/schema.ts", () => {
  const declared = (
    YAML.parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as {
      config: Record<string, Record<string, unknown>>;
    }
  ).config;

  it("is what npm run gen:pulumi-yaml writes (run it after changing the schema)", () => {
    expect(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")).toBe(
      renderPulumiYaml(fs.readFileSync(path.join(root, "README.md"), "utf8")),
    );
  });

  it(
    "declares each key as the schema says: required without default," +
      " constant defaults exactly, nothing optional without one",
    () => {
      for (const key of Object.keys(CONFIG_SCHEMA) as ConfigKey[]) {
        const entry: { secret: boolean; required?: true } = CONFIG_SCHEMA[key];
        const decl = declared[key];
        if (entry.required) {
          expect(decl, key).toBeDefined();
          expect(decl.default, key).toBeUndefined();
        } else if (decl) {
          expect(decl.default, `${key} is declared, so it needs the schema's default`).toEqual(
            CONFIG_DEFAULTS[key as keyof typeof CONFIG_DEFAULTS],
          );
          expect(entry.secret, `${key}: a secret with a default fails the CLI when unset`).toBe(false);
        }
        if (decl) expect(decl.secret === true, key).toBe(entry.secret);
        expect(decl !== undefined, key).toBe(declarationFor(key).declared);
      }
    },
  );

  it("leaves out exactly the optional secrets, computed defaults and staging-only keys", () => {
    const left = Object.fromEntries(undeclaredKeys().map((k) => [k.key, k.reason]));
    expect(left.cloudronToken).toBe("optional secret");
    expect(left.imageTag).toBe("computed or no default");
    expect(left.maxReviewApps).toBe("staging only");
    expect(Object.keys(left).length + Object.keys(declared).length).toBe(Object.keys(CONFIG_SCHEMA).length);
  });
});
