// client/ as the package an application depends on (client/package.json, client/README.md): built from a
// copy of client/ alone (so it cannot lean on the rest of the repository), packed with `npm pack`, installed
// from the tarball into a fresh project that has only its peer `pg`, then used from plain Node (CommonJS and
// ES modules) and type-checked from TypeScript through its `exports`. No database: a router pointed at
// closed ports reports its replicas by name and refuses reads.
import { spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
const CLIENT = path.join(ROOT, "client");
const NAME = "@pg-replication/client";
// tsc twice and an npm install (the peer `pg` from the registry, or the repository's copy offline).
jest.setTimeout(120_000);

interface PackageJson {
    name: string;
    main?: string;
    types?: string;
    exports?: Record<string, string | Record<string, string>>;
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    files?: string[];
}

function run(cmd: string, args: string[], cwd: string, input?: string): SpawnSyncReturns<string> {
    return spawnSync(cmd, args, {
        cwd,
        input,
        encoding: "utf8",
        env: { ...process.env, npm_config_update_notifier: "false" },
    });
}

function mustRun(cmd: string, args: string[], cwd: string, input?: string): string {
    const res = run(cmd, args, cwd, input);
    if (res.status !== 0) throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}) failed:\n${res.stdout}\n${res.stderr}`);
    return res.stdout;
}

/** Every file a package.json's `main`, `types` and `exports` point to. */
function entryFiles(pkg: PackageJson): string[] {
    const targets = (v: string | Record<string, string>): string[] => (typeof v === "string" ? [v] : Object.values(v));
    const fromExports = Object.values(pkg.exports ?? {}).flatMap(targets);
    return [pkg.main, pkg.types, ...fromExports]
        .filter((f): f is string => f !== undefined)
        .map((f) => path.normalize(f));
}

/** client/ without its build output: what a checkout holds. */
function copyClientSources(to: string): void {
    fs.cpSync(CLIENT, to, {
        recursive: true,
        filter: (src) => !["dist", "node_modules"].includes(path.basename(src)) && !src.endsWith(".tgz"),
    });
    // The build's compiler and pg's types: the repository's dev dependencies.
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(to, "node_modules"), "dir");
}

/** Installs the tarball as an application would; offline (no registry) the repository's pg stands in. */
function installIntoApp(app: string, tarball: string): "registry" | "offline" {
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
    const npm = ["install", "--no-audit", "--no-fund", "--ignore-scripts"];
    if (run("npm", [...npm, "--prefer-offline", tarball], app).status === 0) return "registry";
    mustRun("npm", [...npm, "--offline", "--legacy-peer-deps", tarball], app);
    fs.symlinkSync(path.join(ROOT, "node_modules", "pg"), path.join(app, "node_modules", "pg"), "dir");
    return "offline";
}

/** Links the repository's type packages into the app, for the TypeScript check only. */
function linkTypes(app: string): void {
    fs.mkdirSync(path.join(app, "node_modules", "@types"), { recursive: true });
    for (const t of ["pg", "node"])
        fs.symlinkSync(
            path.join(ROOT, "node_modules", "@types", t),
            path.join(app, "node_modules", "@types", t),
            "dir",
        );
}

// Runs in the application: CommonJS require of the package by name, the pure API, and a router with
// nothing listening behind its URLs.
const CJS_CHECK = `
const c = require(${JSON.stringify(NAME)});
(async () => {
    const out = {
        resolved: require.resolve(${JSON.stringify(NAME)}),
        exports: Object.keys(c).sort(),
        compare: c.compareLsn("0/A", "0/10"),
        diff: String(c.lsnDiff("1/0", "0/FFFFFFFF")),
        roundTrip: c.formatLsn(c.parseLsn("16/b374d848")),
        max: c.maxLsn(null, "0/3000148"),
        isLsn: [c.isLsn("0/3000148"), c.isLsn("0/zz")],
        rotation: c.rotation(["a", "b", "c"], 4),
        kinds: [
            c.classifyError(Object.assign(new Error("refused"), { code: "ECONNREFUSED" })),
            c.classifyError(new Error("timeout exceeded when trying to connect")),
            c.classifyError(Object.assign(new Error("syntax"), { code: "42601" })),
        ],
        maxLagBytes: c.DEFAULTS.maxLagBytes,
    };
    let deep;
    try { require(${JSON.stringify(NAME + "/dist/lsn.js")}); deep = "loaded"; } catch (e) { deep = e.code; }
    out.deepImport = deep;
    const db = new c.ReplicaRouter({
        primary: "postgresql://app:pw@127.0.0.1:1/app",
        replicas: ["postgresql://app:pw@127.0.0.1:2/app", { connectionString: "postgresql://app:pw@127.0.0.1:3/app", name: "r2" }],
        fallbackToPrimary: false,
        connectTimeoutMs: 1000,
    });
    await db.ready();
    const status = db.status();
    out.replicas = status.replicas.map((r) => ({ name: r.name, healthy: r.healthy }));
    out.primary = status.primary.name;
    out.read = await db.read("SELECT 1").then(() => "served", (e) => (e instanceof c.NoHealthyReplicaError ? e.name : String(e)));
    await db.close();
    out.afterClose = await db.read("SELECT 1").then(() => "served", (e) => (e instanceof c.RouterClosedError ? e.name : String(e)));
    process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const ESM_CHECK = `
import { compareLsn, ReplicaRouter, classifyError } from ${JSON.stringify(NAME)};
process.stdout.write(JSON.stringify([compareLsn("0/10", "0/A"), typeof ReplicaRouter, classifyError(null)]));
`;

/** The README's example, as an application writes it: importing the package by name. */
function exampleAsApplication(): string {
    const file = fs.readFileSync(path.join(ROOT, "examples", "router.ts"), "utf8");
    const begin = file.indexOf("// README:begin\n");
    const end = file.indexOf("// README:end");
    expect(begin).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(begin);
    return `import { NodeConfig, ReplicaRouter } from ${JSON.stringify(NAME)};\n${file.slice(begin, end)}`;
}

// Fails if the declarations were missing or \`any\`: each @ts-expect-error must meet an error.
const TYPE_CHECKS = `
import { classifyError, compareLsn, ErrorKind, Lsn, ReplicaRouterOptions } from ${JSON.stringify(NAME)};
export const kind: ErrorKind = classifyError(new Error("x"));
export const lsn: Lsn = "0/3000148";
export const order: -1 | 0 | 1 = compareLsn(lsn, "0/1");
// @ts-expect-error an LSN is a string
compareLsn(1, 2);
// @ts-expect-error replicas are required
export const noReplicas: ReplicaRouterOptions = { primary: "postgresql://x" };
// @ts-expect-error the package's internals are not exported
import { resolveOptions } from ${JSON.stringify(NAME)};
export { resolveOptions };
`;

describe(`client/ as the package ${NAME}`, () => {
    let tmp: string;
    let packed: { filename: string; files: { path: string }[] };
    let manifest: PackageJson;
    let app: string;
    let installedFrom: "registry" | "offline";

    beforeAll(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgr-client-pkg-"));
        const src = path.join(tmp, "client");
        copyClientSources(src);
        // `npm pack` runs the package's prepack script: the build (tsc -p tsconfig.build.json).
        const out = mustRun("npm", ["pack", "--json", "--pack-destination", tmp], src);
        [packed] = JSON.parse(out.slice(out.indexOf("["))) as (typeof packed)[];
        const tarball = path.join(tmp, packed.filename);
        app = path.join(tmp, "app");
        fs.mkdirSync(app);
        installedFrom = installIntoApp(app, tarball);
        manifest = JSON.parse(
            fs.readFileSync(path.join(app, "node_modules", ...NAME.split("/"), "package.json"), "utf8"),
        ) as PackageJson;
    });
    afterAll(() => {
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    test("the tarball holds the compiled JavaScript and declarations, and every entry point is in it", () => {
        const files = packed.files.map((f) => path.normalize(f.path));
        expect(files).toEqual(
            expect.arrayContaining(["package.json", "README.md", "dist/index.js", "dist/index.d.ts"]),
        );
        // No TypeScript sources, no tests, no build config: only what an application runs and type-checks.
        expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
        expect(files.filter((f) => /tsconfig|\.test\./.test(f))).toEqual([]);
        const entries = entryFiles(manifest);
        expect(entries).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts"]));
        for (const entry of entries) expect(files).toContain(entry);
    });

    test("pg is a peer dependency and nothing else is needed at run time", () => {
        expect(manifest.name).toBe(NAME);
        expect(manifest.dependencies ?? {}).toEqual({});
        expect(Object.keys(manifest.peerDependencies ?? {})).toContain("pg");
        const exportsRoot = manifest.exports?.["."] as Record<string, string>;
        expect(exportsRoot.types).toBe("./dist/index.d.ts");
        // npm installs the peer itself when the registry is reachable.
        if (installedFrom === "registry")
            expect(fs.existsSync(path.join(app, "node_modules", "pg", "package.json"))).toBe(true);
    });

    test("plain Node requires it by name, and the API works without a database", () => {
        const out = JSON.parse(mustRun(process.execPath, ["-"], app, CJS_CHECK)) as Record<string, unknown>;
        expect(out.resolved).toBe(
            path.join(fs.realpathSync(app), "node_modules", "@pg-replication", "client", "dist", "index.js"),
        );
        expect(out.exports).toEqual(
            expect.arrayContaining([
                "ReplicaRouter",
                "classifyError",
                "compareLsn",
                "parseLsn",
                "rotation",
                "DEFAULTS",
            ]),
        );
        expect(out).toMatchObject({
            compare: -1,
            diff: "1",
            roundTrip: "16/B374D848",
            max: "0/3000148",
            isLsn: [true, false],
            rotation: ["b", "c", "a"],
            kinds: ["connection", "busy", "other"],
            maxLagBytes: 16 * 1024 * 1024,
            deepImport: "ERR_PACKAGE_PATH_NOT_EXPORTED",
            primary: "127.0.0.1:1",
            replicas: [
                { name: "127.0.0.1:2", healthy: false },
                { name: "r2", healthy: false },
            ],
            read: "NoHealthyReplicaError",
            afterClose: "RouterClosedError",
        });
    });

    test("an ES module imports its named exports", () => {
        const out = mustRun(process.execPath, ["--input-type=module", "-"], app, ESM_CHECK);
        expect(JSON.parse(out)).toEqual([1, "function", "other"]);
    });

    test("TypeScript finds its declarations through exports, and the README example compiles against them", () => {
        linkTypes(app);
        fs.writeFileSync(path.join(app, "example.ts"), exampleAsApplication());
        fs.writeFileSync(path.join(app, "checks.ts"), TYPE_CHECKS);
        const tsconfig = {
            compilerOptions: {
                module: "node16",
                moduleResolution: "node16",
                target: "ES2022",
                strict: true,
                noEmit: true,
                types: ["node"],
            },
            files: ["example.ts", "checks.ts"],
        };
        fs.writeFileSync(path.join(app, "tsconfig.json"), JSON.stringify(tsconfig));
        const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
        // --listFiles names the declaration file each import resolved to. Under node16 resolution a package
        // with `exports` is resolved through them alone (its top-level `types` is not consulted).
        const res = run(process.execPath, [tsc, "-p", ".", "--listFiles"], app);
        expect(res.stdout.split("\n").filter((l) => l.includes("error TS"))).toEqual([]);
        expect(res.status).toBe(0);
        const declarations = path.join(fs.realpathSync(app), "node_modules", "@pg-replication", "client", "dist");
        expect(res.stdout.split("\n")).toContain(path.join(declarations, "index.d.ts"));
    });
});
