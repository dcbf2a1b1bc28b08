// Runs processes for the benchmarks, timed, with a hard timeout: nothing a case starts can hang it.
import { spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

export const ROOT = path.resolve(__dirname, "..", "..");
export const IMAGE = "pg-replication/postgres:17-local";

export interface ExecResult {
    code: number;
    stdout: string;
    stderr: string;
    ms: number;
}

export function exec(argv: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<ExecResult> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env: opts.env ?? process.env });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
        child.on("error", (err) => {
            clearTimeout(timer);
            reject(err);
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            if (signal === "SIGKILL") stderr += `\n(killed after ${opts.timeoutMs ?? 120_000} ms)`;
            resolve({ code: code ?? 1, stdout, stderr, ms: performance.now() - started });
        });
        if (opts.input !== undefined) child.stdin.end(opts.input);
        else child.stdin.end();
    });
}

/** Like exec, but throws with the output when the command fails. */
export async function mustExec(argv: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<ExecResult> {
    const res = await exec(argv, opts);
    if (res.code !== 0) throw new Error(`${argv.slice(0, 6).join(" ")} … exited ${res.code}: ${(res.stderr || res.stdout).trim().slice(-1500)}`);
    return res;
}

/** One SQL statement in a container over its socket as the postgres OS user (peer or trust). */
export async function psql(container: string, sql: string, timeoutMs = 30_000): Promise<string> {
    const res = await mustExec(["docker", "exec", "-u", "postgres", container, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], { timeoutMs });
    return res.stdout.trim();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns true; throws with the last answer at the deadline. */
export async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean | string>, everyMs = 100): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last: boolean | string = false;
    while (performance.now() < deadline) {
        try {
            last = await probe();
            if (last === true) return;
        } catch (err) {
            last = (err as Error).message;
        }
        await sleep(everyMs);
    }
    throw new Error(`${what} did not happen within ${timeoutMs} ms (last: ${String(last)})`);
}

/** Removes every container, volume and network whose name starts with `prefix`, and the live
 *  harness's state of stacks with that prefix. */
export async function removeByPrefix(prefix: string): Promise<string[]> {
    const removed: string[] = [];
    const names = async (argv: string[]) =>
        (await exec(argv)).stdout
            .split("\n")
            .map((s) => s.trim())
            .filter((s) => s.startsWith(prefix));
    const containers = await names(["docker", "ps", "-a", "--format", "{{.Names}}"]);
    if (containers.length) {
        await exec(["docker", "rm", "-f", "-v", ...containers], { timeoutMs: 60_000 });
        removed.push(...containers);
    }
    const volumes = await names(["docker", "volume", "ls", "--format", "{{.Name}}"]);
    if (volumes.length) {
        await exec(["docker", "volume", "rm", "-f", ...volumes], { timeoutMs: 60_000 });
        removed.push(...volumes);
    }
    for (const n of await names(["docker", "network", "ls", "--format", "{{.Name}}"])) {
        await exec(["docker", "network", "rm", n], { timeoutMs: 30_000 });
        removed.push(n);
    }
    const stateDir = path.join(ROOT, ".live-state");
    if (fs.existsSync(stateDir)) {
        for (const f of fs.readdirSync(stateDir)) {
            if (f.startsWith(prefix) && f.endsWith(".json")) {
                fs.rmSync(path.join(stateDir, f), { force: true });
                removed.push(`.live-state/${f}`);
            }
        }
    }
    return removed;
}

export interface Machine {
    cores: number;
    cpuModel: string;
    memoryGiB: number;
    loadAvg1m: number;
    kernel: string;
    versions: { node: string; dockerServer: string; postgres: string; image: string };
}

export async function machine(): Promise<Machine> {
    const docker = await exec(["docker", "version", "-f", "{{.Server.Version}}"]);
    const pg = await exec(["docker", "run", "--rm", IMAGE, "postgres", "-V"], { timeoutMs: 60_000 });
    return {
        cores: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? "unknown",
        memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
        loadAvg1m: Math.round(os.loadavg()[0] * 100) / 100,
        kernel: os.release(),
        versions: {
            node: process.version,
            dockerServer: docker.stdout.trim() || "unknown",
            postgres: pg.stdout.trim().replace(/^postgres \(PostgreSQL\) /, "") || "unknown",
            image: IMAGE,
        },
    };
}

function portFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.once("error", () => resolve(false));
        srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
}

/** Waits until nothing listens on 127.0.0.1:port for each port: Docker's userland proxy of a container
 *  that was just removed can hold its host port for a few seconds, and the next cluster would then fail
 *  with "address already in use". Returns the ms waited. */
export async function waitPortsFree(ports: number[], timeoutMs = 30_000): Promise<number> {
    const started = performance.now();
    await waitFor(`host ports ${ports[0]}..${ports[ports.length - 1]} free`, timeoutMs, async () => {
        const busy: number[] = [];
        for (const p of ports) if (!(await portFree(p))) busy.push(p);
        return busy.length === 0 || `busy: ${busy.join(", ")}`;
    }, 250);
    return performance.now() - started;
}
