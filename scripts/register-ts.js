// Runs the TypeScript commands without paying TypeScript's start-up on every run:
// `node -r ./scripts/register-ts.js scripts/failover.ts`. A require hook for .ts files that
// transpiles each file once (typescript's transpileModule with tsconfig.json's compilerOptions, as
// `ts-node --transpile-only` does: no type check, `npx tsc --noEmit -p .` is the type check) and
// keeps the output in node_modules/.cache/pg-replication-ts, keyed by the file's path and content,
// tsconfig.json and the TypeScript version. A changed file is transpiled again, never run stale.
//
// Why not ts-node: it loads the compiler (8 MB of JavaScript) and transpiles every imported file on
// each start, 1.3-1.7 s of a failover's wall time here against 0.15-0.2 s for node on precompiled
// JavaScript; with a warm cache this hook starts as fast as precompiled JavaScript (docs/benchmarks.md,
// Benchmarks), with no build step to forget and __dirname still the source directory (templates are
// read relative to it).
// Plain JavaScript on purpose: it is what makes TypeScript loadable.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
// PG_REPLICATION_TS_CACHE moves the cache (the bench measures a cold start with an empty one).
const CACHE_DIR = process.env.PG_REPLICATION_TS_CACHE || path.join(ROOT, "node_modules", ".cache", "pg-replication-ts");
const TSCONFIG = fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8");
// null without TypeScript (npm ci --omit=dev): then nothing can be transpiled, and `prepare` must not fail.
const TS_VERSION = (() => {
    try {
        return JSON.parse(fs.readFileSync(require.resolve("typescript/package.json"), "utf8")).version;
    } catch {
        return null;
    }
})();
const compilerOptions = { ...JSON.parse(TSCONFIG).compilerOptions, inlineSourceMap: true, inlineSources: false };
// Part of every key: a change to this hook (its options, its transform) never serves an old output.
const HOOK = crypto.createHash("sha256").update(fs.readFileSync(__filename)).digest("hex");

let ts; // loaded on the first cache miss only

function transpile(source, filename) {
    const key = crypto
        .createHash("sha256")
        .update(`${HOOK}\0${TS_VERSION}\0${TSCONFIG}\0${filename}\0${source}`)
        .digest("hex");
    const cached = path.join(CACHE_DIR, `${key}.js`);
    try {
        return fs.readFileSync(cached, "utf8");
    } catch {
        // not cached yet
    }
    ts = ts || require("typescript");
    const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: filename });
    try {
        // Written beside and renamed, so a concurrent run never reads half a file.
        fs.mkdirSync(CACHE_DIR, { recursive: true });
        const tmp = `${cached}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
        try {
            fs.writeFileSync(tmp, outputText);
            fs.renameSync(tmp, cached);
        } finally {
            fs.rmSync(tmp, { force: true });
        }
    } catch {
        // a read-only node_modules only costs speed
    }
    return outputText;
}

/** Every .ts file under `dir` (declaration files aside). */
function sources(dir) {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) return e.name === "node_modules" ? [] : sources(p);
        return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
    });
}

if (require.main === module) {
    // `node scripts/register-ts.js` (npm's prepare step, after npm ci): fills the cache for the
    // commands, so that even the first failover after an install starts without the compiler.
    if (TS_VERSION === null) {
        process.stdout.write("register-ts: typescript is not installed (dev dependencies omitted?): no cache filled\n");
        process.exit(0);
    }
    const files = ["scripts", "infra", "model", "ops", "client"].flatMap((d) => sources(path.join(ROOT, d)));
    for (const f of files) transpile(fs.readFileSync(f, "utf8"), f);
    process.stdout.write(`register-ts: ${files.length} TypeScript files ready in ${path.relative(ROOT, CACHE_DIR)}\n`);
} else {
    require.extensions[".ts"] = (module, filename) => {
        module._compile(transpile(fs.readFileSync(filename, "utf8"), filename), filename);
    };
    // Stack traces name the .ts lines (the inline source maps).
    process.setSourceMapsEnabled(true);
}
