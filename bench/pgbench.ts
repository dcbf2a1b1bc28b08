// pgbench in a throw-away container on the cluster's network, with per-transaction logs for percentiles.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Cluster } from "./clusters";
import { execOrFail } from "../ops/cluster-discovery";
import { dockerArgv } from "../ops/engines";
import { IMAGE } from "./host";

/** The "tps = …" line of pgbench's summary (the figure without initial connection time). */
export function parseTps(stdout: string): number {
    const m = /^tps = ([0-9.]+) \(without initial connection time\)/m.exec(stdout);
    if (!m) throw new Error(`no tps line in pgbench output:\n${stdout.slice(-800)}`);
    return Number(m[1]);
}

/** Latencies in microseconds from pgbench --log per-transaction lines
 *  (`client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries]`); failed or
 *  skipped transactions (a word instead of a time) are counted apart. */
export function parseTransactionLog(text: string): { latenciesUs: number[]; failed: number } {
    const latenciesUs: number[] = [];
    let failed = 0;
    for (const line of text.split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length < 6) continue;
        if (/^\d+$/.test(f[2])) latenciesUs.push(Number(f[2]));
        else failed++;
    }
    return { latenciesUs, failed };
}

export interface PgbenchResult {
    tps: number;
    latenciesUs: number[];
    failed: number;
    wallMs: number;
}

/** Runs pgbench against host:port from a container on the cluster's network, on the engine of the
 *  cluster's node 1 (ops/engines.ts: the default engine unless a map places it elsewhere). */
export async function pgbench(
    c: Cluster,
    target: { host: string; port: number },
    args: string[],
    timeoutMs: number,
    /** libpq's sslmode for the client. @default libpq's own (prefer: TLS when the server offers it) */
    sslmode?: string,
): Promise<PgbenchResult> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-pgbench-"));
    fs.chmodSync(dir, 0o777);
    try {
        const env = { ...process.env, PGPASSWORD: c.password ?? "", ...(sslmode ? { PGSSLMODE: sslmode } : {}) };
        const res = await execOrFail(
            dockerArgv(c.container(1), [
                "run",
                "--rm",
                "--network",
                c.network,
                "-v",
                `${dir}:/out`,
                "-e",
                "PGPASSWORD",
                ...(sslmode ? ["-e", "PGSSLMODE"] : []),
                IMAGE,
                "pgbench",
                "-h",
                target.host,
                "-p",
                String(target.port),
                "-U",
                "postgres",
                "-n",
                "-l",
                "--log-prefix=/out/tx",
                ...args,
                "postgres",
            ]),
            timeoutMs,
            { env },
        );
        const latenciesUs: number[] = [];
        let failed = 0;
        for (const f of fs.readdirSync(dir)) {
            const parsed = parseTransactionLog(fs.readFileSync(path.join(dir, f), "utf8"));
            // Not push(...latencies): a log of 100k+ transactions overflows the call stack as arguments.
            for (const us of parsed.latenciesUs) latenciesUs.push(us);
            failed += parsed.failed;
        }
        return { tps: parseTps(res.stdout), latenciesUs, failed, wallMs: res.ms };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** pgbench -i at `scale` on the primary, over its socket; `timeoutMs` for large scales. */
export async function pgbenchInit(c: Cluster, scale = 10, timeoutMs = 120_000): Promise<number> {
    const res = await execOrFail(
        dockerArgv(c.container(1), [
            "exec",
            "-u",
            "postgres",
            c.container(1),
            "pgbench",
            "-i",
            "-q",
            "-s",
            String(scale),
            "postgres",
        ]),
        timeoutMs,
    );
    return res.ms;
}

/** Concurrent pgbench processes (one per server) as one load: their tps summed (each is over the same
 *  -T window), their per-transaction latencies merged so percentiles span every transaction. */
export function mergeConcurrent(results: readonly PgbenchResult[]): PgbenchResult {
    if (results.length === 0) throw new Error("mergeConcurrent: no pgbench results");
    return {
        tps: results.reduce((sum, r) => sum + r.tps, 0),
        latenciesUs: results.flatMap((r) => r.latenciesUs),
        failed: results.reduce((sum, r) => sum + r.failed, 0),
        wallMs: Math.max(...results.map((r) => r.wallMs)),
    };
}

/** Splits `clients` pgbench clients (and `threads` threads) over `servers` as evenly as pgbench allows:
 *  the first servers get the remainder. Every server gets at least one client and one thread. */
export function splitClients(
    clients: number,
    threads: number,
    servers: number,
): Array<{ clients: number; threads: number }> {
    if (servers < 1 || clients < servers) throw new Error(`cannot split ${clients} clients over ${servers} servers`);
    return Array.from({ length: servers }, (_, i) => {
        const c = Math.floor(clients / servers) + (i < clients % servers ? 1 : 0);
        const t = Math.floor(threads / servers) + (i < threads % servers ? 1 : 0);
        return { clients: c, threads: Math.max(1, Math.min(t, c)) };
    });
}
