// scripts/register-ts.js, the preload every command runs with (the deployment's checks and primary
// guard, npm run failover …): the first run transpiles and stores, later runs never load the compiler,
// a changed file is transpiled again (never run stale), and errors point at the TypeScript source's lines.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
const PRELOAD = path.join(ROOT, "scripts", "register-ts.js");
// Every cache miss loads TypeScript in a new process: seconds on a loaded machine.
jest.setTimeout(120_000);

/** A script that says whether the compiler was loaded to run it. */
const probe = (marker: string) =>
    [
        `const value: string = ${JSON.stringify(marker)};`,
        `const loaded = Object.keys(require.cache).some((k) => k.includes("${path.sep}typescript${path.sep}lib${path.sep}"));`,
        "process.stdout.write(JSON.stringify({ value, loaded }));",
    ].join("\n");

describe("register-ts preload", () => {
    let dir: string;
    let cache: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgr-register-"));
        cache = path.join(dir, "cache");
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const run = (file: string) => {
        const res = spawnSync(process.execPath, ["-r", PRELOAD, file], {
            encoding: "utf8",
            env: { ...process.env, PG_REPLICATION_TS_CACHE: cache },
        });
        return {
            ...res,
            parsed: res.status === 0 ? (JSON.parse(res.stdout) as { value: string; loaded: boolean }) : undefined,
        };
    };

    test("transpiles on a miss, then runs from the cache without loading the compiler", () => {
        const file = path.join(dir, "probe.ts");
        fs.writeFileSync(file, probe("first"));
        expect(run(file).parsed).toEqual({ value: "first", loaded: true });
        expect(fs.readdirSync(cache).filter((f) => f.endsWith(".js"))).toHaveLength(1);
        expect(run(file).parsed).toEqual({ value: "first", loaded: false });
    });

    test("a changed file is transpiled again, never served stale", () => {
        const file = path.join(dir, "probe.ts");
        fs.writeFileSync(file, probe("first"));
        run(file);
        fs.writeFileSync(file, probe("second"));
        expect(run(file).parsed).toEqual({ value: "second", loaded: true });
        expect(fs.readdirSync(cache).filter((f) => f.endsWith(".js"))).toHaveLength(2);
    });

    test("stack traces name the TypeScript file and line, also from the cache", () => {
        const file = path.join(dir, "fails.ts");
        fs.writeFileSync(file, ["interface Unused { a: number }", "", "", 'throw new Error("boom");'].join("\n"));
        for (let i = 0; i < 2; i++) {
            const res = run(file);
            expect(res.status).not.toBe(0);
            expect(res.stderr).toMatch(/at Object\.<anonymous> \(.*fails\.ts:4:\d+\)/);
        }
    });

    test("the deployment's commands run through it", () => {
        // check-cluster.ts without its environment answers with its own usage error: it loaded.
        const res = spawnSync(process.execPath, ["-r", PRELOAD, "ops/hooks/check-cluster.ts"], {
            cwd: ROOT,
            encoding: "utf8",
            env: { ...process.env, PG_REPLICATION_TS_CACHE: cache, PGR_CHECK_SPEC: "", PGPASSWORD: "" },
        });
        expect(res.stderr).toContain("PGR_CHECK_SPEC and PGPASSWORD must be set");
    });
    test("run directly, it fills the cache for scripts/, infra/ and client/", () => {
        const res = spawnSync(process.execPath, [PRELOAD], {
            encoding: "utf8",
            env: { ...process.env, PG_REPLICATION_TS_CACHE: cache },
        });
        expect(res.status).toBe(0);
        const n = Number(/register-ts: (\d+) TypeScript files/.exec(res.stdout)?.[1]);
        expect(n).toBeGreaterThan(30);
        expect(fs.readdirSync(cache).filter((f) => f.endsWith(".js"))).toHaveLength(n);
    });
});
