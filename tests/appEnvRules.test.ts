/**
 * The app's env rules (config/appEnvRules.ts), table-driven: each case is an env as an operator
 * writes it, and the refusal or warning the rules must give (key, the effect on the app, the fix).
 * Then the same rules through the config loader (refusals stop it), the plan and preflight
 * (warnings shown), and the committed stack files.
 */
import { describe, expect, it } from "vitest";
import * as path from "node:path";
import { appEnvFindings, type AppEnvInput } from "../config/appEnvRules";
import { checkConfig, type RawConfig } from "../config/loader";
import { buildPlan, formatPlan } from "../commands/plan/plan";
import { formatPreflight, runPreflight } from "../commands/preflight/preflight";
import { rawConfigFromStackText, readStackText } from "../config/stackFile";
import { FIXTURE_APP_DIR } from "../engine/fixtureManifest";

const projectDir = path.resolve(__dirname, "..");
const appDir = FIXTURE_APP_DIR;
const GOOD = { SMTP_FROM: "Community Rule <hello@communityrule.info>", UPLOAD_ROOT: "/app/data/uploads" };
const input = (env: Record<string, string>, secretEnvNames: string[] = ["ORGANIZER_INQUIRY_TO"]): AppEnvInput => ({
  env,
  secretEnvNames,
  stack: "production",
});

interface Case {
  name: string;
  env: Record<string, string>;
  secret?: string[];
  expected: Array<{ severity: "refuse" | "warn"; key: string; message: RegExp[] }>;
}

const CASES: Case[] = [
  { name: "a complete env", env: GOOD, expected: [] },
  {
    name: "SMTP_FROM as a secret counts",
    env: { UPLOAD_ROOT: "/app/data/uploads" },
    secret: ["SMTP_FROM", "ORGANIZER_INQUIRY_TO"],
    expected: [],
  },
  {
    name: "SMTP_FROM missing",
    env: { UPLOAD_ROOT: "/app/data/uploads" },
    expected: [
      {
        severity: "refuse",
        key: "communityrule:env.SMTP_FROM",
        message: [
          /is not set/,
          /noreply@localhost/,
          /SES relay/,
          /pulumi config set --path 'env\.SMTP_FROM' .* -s production/,
        ],
      },
    ],
  },
  {
    name: "SMTP_FROM empty",
    env: { ...GOOD, SMTP_FROM: "  " },
    expected: [
      {
        severity: "refuse",
        key: "communityrule:env.SMTP_FROM",
        message: [/is empty/, /pulumi config set --path 'env\.SMTP_FROM'/],
      },
    ],
  },
  {
    name: "UPLOAD_ROOT outside /app/data",
    env: { ...GOOD, UPLOAD_ROOT: "/app/code/uploads" },
    expected: [
      {
        severity: "refuse",
        key: "communityrule:env.UPLOAD_ROOT",
        message: [
          /"\/app\/code\/uploads", outside \/app\/data/,
          /only \/app\/data is writable/,
          /'env\.UPLOAD_ROOT' \/app\/data\/uploads -s production/,
        ],
      },
    ],
  },
  {
    name: "UPLOAD_ROOT that only looks like /app/data",
    env: { ...GOOD, UPLOAD_ROOT: "/app/database" },
    expected: [{ severity: "refuse", key: "communityrule:env.UPLOAD_ROOT", message: [/outside \/app\/data/] }],
  },
  {
    name: "UPLOAD_ROOT escaping /app/data with ..",
    env: { ...GOOD, UPLOAD_ROOT: "/app/data/../code" },
    expected: [{ severity: "refuse", key: "communityrule:env.UPLOAD_ROOT", message: [/outside \/app\/data/] }],
  },
  {
    name: "UPLOAD_ROOT relative (resolved from the app's working directory)",
    env: { ...GOOD, UPLOAD_ROOT: "uploads" },
    expected: [{ severity: "refuse", key: "communityrule:env.UPLOAD_ROOT", message: [/outside \/app\/data/] }],
  },
  { name: "UPLOAD_ROOT = /app/data itself", env: { ...GOOD, UPLOAD_ROOT: "/app/data" }, expected: [] },
  {
    name: "UPLOAD_ROOT empty",
    env: { ...GOOD, UPLOAD_ROOT: "" },
    expected: [
      { severity: "refuse", key: "communityrule:env.UPLOAD_ROOT", message: [/is empty/, /500 server_misconfigured/] },
    ],
  },
  {
    name: "UPLOAD_ROOT unset",
    env: { SMTP_FROM: GOOD.SMTP_FROM },
    expected: [
      {
        severity: "warn",
        key: "communityrule:env.UPLOAD_ROOT",
        message: [/is not set/, /GET \/api\/uploads\/smoke-check/, /500/],
      },
    ],
  },
  {
    name: "WEB_VITALS_STORAGE=local",
    env: { ...GOOD, WEB_VITALS_STORAGE: "local" },
    expected: [
      {
        severity: "refuse",
        key: "communityrule:env.WEB_VITALS_STORAGE",
        message: [/\/app\/\.next\/web-vitals/, /read-only/, /'env\.WEB_VITALS_STORAGE' external/],
      },
    ],
  },
  {
    name: "WEB_VITALS_STORAGE=Local (the app lower-cases and trims)",
    env: { ...GOOD, WEB_VITALS_STORAGE: " Local " },
    expected: [{ severity: "refuse", key: "communityrule:env.WEB_VITALS_STORAGE", message: [/read-only/] }],
  },
  { name: "WEB_VITALS_STORAGE=external", env: { ...GOOD, WEB_VITALS_STORAGE: "external" }, expected: [] },
  {
    name: "NEXT_PUBLIC_* in env",
    env: { ...GOOD, NEXT_PUBLIC_ENABLE_BACKEND_SYNC: "true" },
    expected: [
      {
        severity: "warn",
        key: "communityrule:env.NEXT_PUBLIC_ENABLE_BACKEND_SYNC",
        message: [
          /no effect at run time/,
          /inlines NEXT_PUBLIC_\* .* at `next build`/,
          /only restarts the app/,
          /pulumi config rm --path 'env\.NEXT_PUBLIC_ENABLE_BACKEND_SYNC'/,
          /removes it from the app once/,
        ],
      },
    ],
  },
  {
    name: "NEXT_PUBLIC_* in secretEnv",
    env: GOOD,
    secret: ["ORGANIZER_INQUIRY_TO", "NEXT_PUBLIC_API_KEY"],
    expected: [
      {
        severity: "warn",
        key: "communityrule:secretEnv.NEXT_PUBLIC_API_KEY",
        message: [/'secretEnv\.NEXT_PUBLIC_API_KEY'/],
      },
    ],
  },
  {
    name: "ORGANIZER_INQUIRY_TO unset",
    env: GOOD,
    secret: [],
    expected: [
      {
        severity: "warn",
        key: "communityrule:secretEnv.ORGANIZER_INQUIRY_TO",
        message: [
          /POST \/api\/organizer-inquiry answers 500 server_misconfigured/,
          /"Ask an organizer" form is broken/,
          /--secret --path 'secretEnv\.ORGANIZER_INQUIRY_TO'/,
        ],
      },
    ],
  },
  {
    name: "ORGANIZER_INQUIRY_TO as plain env counts",
    env: { ...GOOD, ORGANIZER_INQUIRY_TO: "team@communityrule.info" },
    secret: [],
    expected: [],
  },
  {
    name: "several at once: refusals first",
    env: { NEXT_PUBLIC_X: "1", WEB_VITALS_STORAGE: "local" },
    secret: [],
    expected: [
      { severity: "refuse", key: "communityrule:env.SMTP_FROM", message: [/is not set/] },
      { severity: "refuse", key: "communityrule:env.WEB_VITALS_STORAGE", message: [/read-only/] },
      { severity: "warn", key: "communityrule:env.UPLOAD_ROOT", message: [/is not set/] },
      { severity: "warn", key: "communityrule:env.NEXT_PUBLIC_X", message: [/next build/] },
      { severity: "warn", key: "communityrule:secretEnv.ORGANIZER_INQUIRY_TO", message: [/is not set/] },
    ],
  },
];

describe("the app's env rules, case by case", () => {
  it.each(CASES)("$name", ({ env, secret, expected }) => {
    const findings = appEnvFindings(input(env, secret));
    expect(findings.map((f) => [f.severity, f.key])).toEqual(expected.map((e) => [e.severity, e.key]));
    findings.forEach((f, i) => {
      for (const m of expected[i].message) expect(f.message).toMatch(m);
    });
  });
});

const raw = (values: Record<string, string>, secret: string[] = []): RawConfig => ({
  values: Object.fromEntries(Object.entries(values).map(([k, v]) => [`communityrule:${k}`, v])),
  secretKeys: new Set(secret.map((k) => `communityrule:${k}`)),
});
const base = {
  location: "communityrule.info",
  cloudronServer: "my.medlab.host",
  appDir,
  build: "false",
  imageTag: "0.1.9",
};

describe("the rules in the config loader, plan and preflight", () => {
  it("refusals stop the loader with the key and fix; warnings do not", () => {
    const refused = checkConfig(
      raw({ ...base, env: JSON.stringify({ UPLOAD_ROOT: "/srv/uploads", WEB_VITALS_STORAGE: "local" }) }),
      { stack: "production", projectDir },
    );
    expect(refused.config).toBeUndefined();
    expect(refused.problems.map((p) => p.key)).toEqual([
      "communityrule:env.SMTP_FROM",
      "communityrule:env.UPLOAD_ROOT",
      "communityrule:env.WEB_VITALS_STORAGE",
    ]);
    const warned = checkConfig(
      raw({ ...base, env: JSON.stringify({ ...GOOD, NEXT_PUBLIC_ENABLE_BACKEND_SYNC: "true" }) }),
      { stack: "production", projectDir },
    );
    expect(warned.problems).toEqual([]);
    expect(warned.config?.env.NEXT_PUBLIC_ENABLE_BACKEND_SYNC).toBe("true");
  });

  it(
    "the committed stack files pass, do not set" +
      " NEXT_PUBLIC_ENABLE_BACKEND_SYNC, and the plan warns about the organizer inbox",
    () => {
      for (const stack of ["staging", "production"]) {
        const text = readStackText(projectDir, stack).text;
        expect(text).not.toContain("NEXT_PUBLIC_");
        const plan = buildPlan(stack, text, { projectDir, appDir });
        expect(plan.warnings).toEqual([
          expect.stringMatching(
            /^communityrule:secretEnv\.ORGANIZER_INQUIRY_TO: is not set: POST \/api\/organizer-inquiry answers 500/,
          ),
        ]);
        expect(formatPlan(plan)).toContain("  warning: communityrule:secretEnv.ORGANIZER_INQUIRY_TO: is not set");
      }
    },
  );

  it("preflight prints the warning as a WARN line and does not fail on it", async () => {
    const stackText = readStackText(projectDir, "production").text;
    const results = await runPreflight({
      stack: "production",
      projectDir,
      stackText,
      overrides: { appDir, build: "false", imageTag: "0.1.9", registryPassword: "x" },
      serverCheck: async () => ({ ok: false, detail: "offline test" }),
    });
    const text = formatPreflight(results, "production");
    expect(text).toMatch(
      /^WARN app env as the app reads it: communityrule:secretEnv\.ORGANIZER_INQUIRY_TO: is not set/m,
    );
    expect(results.find((r) => r.warning)?.ok).toBe(true);
    // A stack file with the inbox set has no such line.
    const withInbox = stackText.replace(
      "  communityrule:env:",
      "  communityrule:secretEnv:\n    ORGANIZER_INQUIRY_TO:\n      secure: v1:abc\n  communityrule:env:",
    );
    const raw2 = rawConfigFromStackText(withInbox, "Pulumi.production.yaml");
    expect(Object.keys(raw2.values)).toContain("communityrule:secretEnv");
    const again = await runPreflight({
      stack: "production",
      projectDir,
      stackText: withInbox,
      overrides: { appDir, build: "false", imageTag: "0.1.9" },
      serverCheck: async () => ({ ok: false, detail: "offline test" }),
    });
    expect(again.some((r) => r.warning)).toBe(false);
  });
});
