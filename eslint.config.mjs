// ESLint flat config: typescript-eslint's type-aware recommended rules, the Pulumi plugin's rules against
// Outputs in template literals, and eslint-config-prettier last so formatting is Prettier's alone.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";
import prettier from "eslint-config-prettier";
import { createNodeResolver, importX } from "eslint-plugin-import-x";

/** Which folder may not import from which: model < infra, ops < harness < scripts < bench < tests; client is a package. */
const LAYER_ZONES = [
    { target: "./client", from: ["./model", "./infra", "./ops", "./harness", "./scripts", "./bench", "./tests"] },
    { target: "./model", from: ["./infra", "./ops", "./harness", "./scripts", "./bench", "./tests"] },
    { target: "./infra", from: ["./ops", "./harness", "./scripts", "./bench", "./tests"] },
    { target: "./ops", from: ["./infra", "./scripts", "./bench", "./tests"] },
    { target: "./harness", from: ["./scripts", "./bench", "./tests"] },
    { target: "./scripts", from: ["./bench", "./tests"] },
    { target: "./bench", from: ["./tests"] },
].map((zone) => ({ ...zone, message: "dependencies point down the layers (docs/architecture.md)" }));

export default tseslint.config(
    { ignores: ["node_modules/", "build/", "bench/results/", "client/dist/", "**/*.js", "**/*.mjs"] },
    js.configs.recommended,
    ...tseslint.configs.recommendedTypeChecked,
    {
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        linterOptions: { reportUnusedDisableDirectives: "error" },
        plugins: { "@pulumi": pulumi, "import-x": importX },
        // Relative imports name TypeScript files without their extension.
        settings: {
            "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js", ".json"] })],
            // Imported TypeScript modules are parsed too (no-cycle follows them).
            "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
            "import-x/extensions": [".ts", ".js"],
        },
        rules: {
            "@pulumi/no-output-in-template-literal": "error",
            "@pulumi/no-output-instance-in-template-literal": "error",
            // Import circles hide which module is the lower layer; none is allowed.
            "import-x/no-cycle": "error",
        },
    },
    {
        // Small functions whose names say what they do: a constructor reads like a table of contents.
        // Not in tests, whose describe and test callbacks are lists of cases.
        files: ["**/*.ts"],
        ignores: ["**/*.test.ts", "tests/**"],
        rules: {
            "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }],
            complexity: ["error", 15],
        },
    },
    {
        // The layers (docs/architecture.md): each folder's sources import only from the ones below it. A
        // folder's own tests may use tests/support.
        files: ["**/*.ts"],
        ignores: ["**/*.test.ts", "tests/**"],
        rules: { "import-x/no-restricted-paths": ["error", { zones: LAYER_ZONES }] },
    },
    {
        // Tests read untyped JSON (command output, the Docker API, pg rows) through a few `any` types that each
        // carry a reason; a wrong shape there fails an assertion, so the no-unsafe-* family only adds noise.
        // The harness (moved out of tests/ unchanged) handles the same untyped JSON: resource inputs as the
        // SDK serialises them and Docker Engine API answers, each `any` with its reason.
        files: ["tests/**/*.ts", "harness/**/*.ts"],
        rules: {
            "@typescript-eslint/no-unsafe-argument": "off",
            "@typescript-eslint/no-unsafe-assignment": "off",
            "@typescript-eslint/no-unsafe-call": "off",
            "@typescript-eslint/no-unsafe-member-access": "off",
            "@typescript-eslint/no-unsafe-return": "off",
        },
    },
    prettier,
);
