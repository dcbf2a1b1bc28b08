// What the benchmarks need of the machine beyond running programs (ops/cluster-discovery.ts
// execProgram, psql) and waiting (ops/ops.ts waitFor): the image, the machine's facts for the
// report, free host ports, and removing everything a case made.
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { DockerHost } from "../model/hosts";
import { execOrFail, execProgram } from "../ops/cluster-discovery";
import { waitFor } from "../ops/ops";

export const ROOT = path.resolve(__dirname, "..");
export const IMAGE = "pg-replication/postgres:17-local";

/** How long the bench lets a Docker command run when the step names no limit. */
export const BENCH_TIMEOUT_MS = 120_000;

/** The script that makes simulated Docker hosts on this machine (issue 19; needs root). */
export const SIM_HOSTS_SCRIPT = path.join(ROOT, "scripts", "sim-hosts.sh");

/** `bash scripts/sim-hosts.sh …` (up, down, cut H, heal H …), failing with its stderr. */
export function simHostsScript(...args: string[]) {
    return execOrFail(["bash", SIM_HOSTS_SCRIPT, ...args], 300_000);
}

/**
 * Simulated hosts 1..n, which must be up, as `hosts` config entries: named h1 … hn, with the engine
 * socket and the address the script gives each (`sim-hosts.sh socket|address H`), so that no caller
 * writes them out again.
 */
export async function simHosts(n: number): Promise<DockerHost[]> {
    const ask = async (what: "socket" | "address", h: number) => (await simHostsScript(what, String(h))).stdout.trim();
    return Promise.all(
        Array.from({ length: n }, async (_, i) => {
            const [engine, address] = await Promise.all([ask("socket", i + 1), ask("address", i + 1)]);
            return { name: `h${i + 1}`, engine, address };
        }),
    );
}

/** Removes every container, volume and network whose name starts with `prefix`, and the live
 *  harness's state of stacks with that prefix. */
export async function removeByPrefix(prefix: string): Promise<string[]> {
    const removed: string[] = [];
    const names = async (argv: string[]) =>
        (await execProgram(argv, BENCH_TIMEOUT_MS)).stdout
            .split("\n")
            .map((s) => s.trim())
            .filter((s) => s.startsWith(prefix));
    const containers = await names(["docker", "ps", "-a", "--format", "{{.Names}}"]);
    if (containers.length) {
        await execProgram(["docker", "rm", "-f", "-v", ...containers], 60_000);
        removed.push(...containers);
    }
    const volumes = await names(["docker", "volume", "ls", "--format", "{{.Name}}"]);
    if (volumes.length) {
        await execProgram(["docker", "volume", "rm", "-f", ...volumes], 60_000);
        removed.push(...volumes);
    }
    for (const n of await names(["docker", "network", "ls", "--format", "{{.Name}}"])) {
        await execProgram(["docker", "network", "rm", n], 30_000);
        removed.push(n);
    }
    // The harness's state, and the CA file `up` writes for the connection strings (tls required).
    for (const [dir, suffix] of [
        [".live-state", ".json"],
        [".pg-replication", "-ca.crt"],
    ]) {
        const full = path.join(ROOT, dir);
        if (!fs.existsSync(full)) continue;
        for (const f of fs.readdirSync(full)) {
            if (f.startsWith(prefix) && f.endsWith(suffix)) {
                fs.rmSync(path.join(full, f), { force: true });
                removed.push(`${dir}/${f}`);
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
    const docker = await execProgram(["docker", "version", "-f", "{{.Server.Version}}"], BENCH_TIMEOUT_MS);
    const pg = await execProgram(["docker", "run", "--rm", IMAGE, "postgres", "-V"], 60_000);
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
    });
    return performance.now() - started;
}
