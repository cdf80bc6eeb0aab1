// Lint rules for the deploy program. Product code may not use `any` without an eslint-disable
// comment that says why; tests may, because they poke at SDK internals.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

export default tseslint.config(
  { ignores: ["node_modules/**", "build/**", ".artifacts/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // Layout is Prettier's (width 120, `npm run format`); lint only checks it.
  prettier,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-require-imports": "off",
    },
  },
  {
    // Product code (everything but tests/) never imports test code: scripts and the lifecycle
    // engine are used by operators (rehearse, bench) and must stand on their own.
    files: ["**/*.ts"],
    ignores: ["tests/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [{ group: ["**/tests/**", "../tests", "./tests"], message: "only tests/ may import from tests/" }],
        },
      ],
    },
  },
  {
    // Tests and the lifecycle host poke at SDK internals (the mock monitor's requests).
    files: ["tests/**/*.ts", "engine/host.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    files: ["**/*.cjs", "engine/standin/**"],
    languageOptions: {
      sourceType: "commonjs",
      globals: {
        require: "readonly",
        process: "readonly",
        module: "writable",
        __dirname: "readonly",
        console: "readonly",
        Buffer: "readonly",
      },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // Prettier wraps code at 120 but leaves long strings and comments alone: this catches those.
    files: ["**/*.ts", "**/*.cjs", "**/*.mjs"],
    rules: { "max-len": ["error", { code: 120, ignoreUrls: false }] },
  },
);
