// scripts/register-ts.js: the commands' transpile cache must never run a stale file.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
const HOOK = path.join(ROOT, "scripts", "register-ts.js");
// Every cache miss loads TypeScript in a new process: seconds on a loaded machine.
jest.setTimeout(120_000);

describe("register-ts", () => {
    let dir: string;
    let cache: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgr-register-"));
        cache = path.join(dir, "cache");
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const run = (file: string) =>
        spawnSync(process.execPath, ["-r", HOOK, file], { encoding: "utf8", env: { ...process.env, PG_REPLICATION_TS_CACHE: cache } });

    test("runs TypeScript, caches it, and transpiles a changed file again", () => {
        const file = path.join(dir, "hello.ts");
        fs.writeFileSync(file, 'const n: number = 1;\nprocess.stdout.write(`v${n}`);\n');
        expect(run(file).stdout).toBe("v1");
        expect(fs.readdirSync(cache).filter((f) => f.endsWith(".js"))).toHaveLength(1);
        expect(run(file).stdout).toBe("v1"); // from the cache
        fs.writeFileSync(file, 'const n: number = 2;\nprocess.stdout.write(`v${n}`);\n');
        expect(run(file).stdout).toBe("v2");
        expect(fs.readdirSync(cache).filter((f) => f.endsWith(".js"))).toHaveLength(2);
    });

    test("stack traces name the TypeScript line", () => {
        const file = path.join(dir, "boom.ts");
        fs.writeFileSync(file, "interface X { a: number }\nconst x: X = { a: 1 };\n\nthrow new Error(`boom ${x.a}`);\n");
        const res = run(file);
        expect(res.status).not.toBe(0);
        expect(res.stderr).toContain(`${file}:4`);
    });

    test("run directly, it fills the cache for scripts/, infra/ and client/", () => {
        const res = spawnSync(process.execPath, [HOOK], { encoding: "utf8", env: { ...process.env, PG_REPLICATION_TS_CACHE: cache } });
        expect(res.status).toBe(0);
        const n = Number(/register-ts: (\d+) TypeScript files/.exec(res.stdout)?.[1]);
        expect(n).toBeGreaterThan(30);
        expect(fs.readdirSync(cache).filter((f) => f.endsWith(".js"))).toHaveLength(n);
    });
});
