"use strict";
// Preload (`node -r ./scripts/ts-cache.js scripts/x.ts`) that runs TypeScript files transpiled once
// and cached by content, for the commands a deployment runs (post-deploy checks, primary guard).
// Why not ts-node there: `node -r ts-node/register/transpile-only` spends ~1.5-2.5 s on this machine
// before the script's first line, most of it loading the TypeScript compiler; a cached file needs
// none of it (~0.3 s), and those commands sit on the critical path of every `up`.
// Same output as ts-node's transpile-only mode: ts.transpileModule with tsconfig.json's options, no
// type check (`npm run typecheck` and ts-jest do that). A miss (first run, or the file, tsconfig.json
// or the TypeScript version changed) transpiles as ts-node would and stores the result; a cache that
// cannot be written only costs the time.
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const TSCONFIG = path.join(ROOT, "tsconfig.json");
/** Where transpiled files are kept; PGR_TS_CACHE_DIR overrides it (tests). */
const CACHE_DIR = process.env.PGR_TS_CACHE_DIR || path.join(ROOT, "node_modules", ".cache", "pg-replication-ts");

// Reading a package.json is cheap; loading the compiler is what the cache avoids.
const TS_VERSION = require("typescript/package.json").version;
const TSCONFIG_TEXT = fs.readFileSync(TSCONFIG, "utf8");

let ts;
let compilerOptions;

function transpile(source, filename) {
    if (!ts) {
        ts = require("typescript");
        const read = ts.readConfigFile(TSCONFIG, ts.sys.readFile);
        if (read.error) throw new Error(`ts-cache: ${ts.flattenDiagnosticMessageText(read.error.messageText, "\n")}`);
        compilerOptions = {
            ...ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT).options,
            // Stack traces name the .ts lines (Node maps them with source maps enabled below).
            inlineSourceMap: true,
            sourceMap: false,
            declaration: false,
            noEmit: false,
        };
    }
    return ts.transpileModule(source, { fileName: filename, compilerOptions }).outputText;
}

/** Writes `text` to `file` so that a concurrent reader sees the whole file or none of it. */
function writeAtomically(file, text) {
    try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, text);
        fs.renameSync(tmp, file);
    } catch {
        // A read-only tree: run uncached.
    }
}

/** The cache file for one version of one source file. */
function cacheFile(filename, source) {
    const key = crypto.createHash("sha256").update(`${TS_VERSION}\0${TSCONFIG_TEXT}\0${filename}\0${source}`).digest("hex");
    return path.join(CACHE_DIR, `${key}.js`);
}

process.setSourceMapsEnabled(true);
require.extensions[".ts"] = (module, filename) => {
    const source = fs.readFileSync(filename, "utf8");
    const file = cacheFile(filename, source);
    let js;
    try {
        js = fs.readFileSync(file, "utf8");
    } catch {
        js = transpile(source, filename);
        writeAtomically(file, js);
    }
    module._compile(js, filename);
};
