// reads: read-only pgbench (-S) through the read-only PgBouncer endpoint (the 2 replicas) against the same
// clients split across those replicas directly (issue 20's fair bound), on our cluster. Also measured in the
// same runs: the primary alone (how reads scale with two replicas), and a bench-only HAProxy in TCP mode over
// the same replicas (what the patroni mode's endpoints do: TLS passes through to the servers, once).
import { CaseContext, PORT_OURS, rotate, SUBNET_OURS } from "../context";
import { Cluster, containerIp, containerPort, oursCluster, oursUp } from "../clusters";
import { mergeConcurrent, pgbench, pgbenchInit, PgbenchResult, splitClients } from "../pgbench";
import { BENCH_TIMEOUT_MS, IMAGE } from "../host";
import { execOrFail, psql } from "../../ops/cluster-discovery";
import { waitFor } from "../../ops/ops";
import { Figure } from "../report";
import { percentile } from "../stats";

/** Every path is encrypted from the client: the endpoint refuses plain text, and with tls required every
 *  node's pg_hba accepts only hostssl. Through PgBouncer the bytes are encrypted twice (client -> PgBouncer,
 *  PgBouncer -> replica, verify-ca); direct and through HAProxy (TCP passthrough) once. */
const SSLMODE = "require";
const CLIENTS = 4;
const THREADS = 2;
const HAPROXY_PORT = 5433;

type Side = "endpoint" | "direct" | "primary" | "haproxy";
const SIDES: readonly Side[] = ["endpoint", "direct", "primary", "haproxy"];

interface Target {
    host: string;
    port: number;
}

/** haproxy.cfg of the bench-only read-only balancer: TCP mode, round-robin over the servers, as the patroni
 *  mode's `ro` listener (templates/haproxy.cfg.tmpl) without its Patroni health checks. */
export function haproxyTcpConfig(port: number, servers: readonly Target[]): string {
    return [
        "global",
        "    maxconn 200",
        "defaults",
        "    mode tcp",
        "    timeout connect 3s",
        "    timeout client 30m",
        "    timeout server 30m",
        "listen ro",
        `    bind *:${port}`,
        "    balance roundrobin",
        ...servers.map((s, i) => `    server s${i + 1} ${s.host}:${s.port}`),
        "",
    ].join("\n");
}

/** xact_commit of the postgres database on pg1..pg3: which nodes served the reads. */
async function commits(c: Cluster): Promise<number[]> {
    return Promise.all(
        [1, 2, 3].map(async (n) =>
            Number(await psql(c.container(n), "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'")),
        ),
    );
}

async function replicasCaughtUp(c: Cluster): Promise<void> {
    await waitFor(
        "replicas caught up",
        60_000,
        async () => {
            const caughtUp = await psql(
                c.container(1),
                "SELECT count(*) FROM pg_stat_replication WHERE replay_lsn = pg_current_wal_lsn()",
            );
            return caughtUp === "2" || `${caughtUp} of 2 replicas caught up`;
        },
        100,
    );
}

/** Starts the bench-only HAProxy (named like the stack's objects, so the case's cleanup removes it). */
async function startHaproxy(c: Cluster, replicas: readonly Target[]): Promise<Target> {
    const name = `${c.name}-bench-haproxy-ro`;
    const cfg = haproxyTcpConfig(HAPROXY_PORT, replicas).replace(/'/g, "'\\''");
    await execOrFail(
        ["docker", "run", "-d", "--name", name, "--network", c.network, "--user", "root", IMAGE, "sh", "-c"].concat(
            `printf '%s' '${cfg}' > /tmp/haproxy.cfg && exec haproxy -W -db -f /tmp/haproxy.cfg`,
        ),
        BENCH_TIMEOUT_MS,
    );
    const target = { host: await containerIp(name), port: HAPROXY_PORT };
    await waitFor(
        "bench HAProxy listening",
        30_000,
        async () => {
            const ready = await execOrFail(
                ["docker", "exec", name, "pg_isready", "-h", "127.0.0.1", "-p", String(HAPROXY_PORT)],
                BENCH_TIMEOUT_MS,
            ).then(
                () => true,
                (err: Error) => err.message.slice(0, 200),
            );
            return ready;
        },
        100,
    );
    return target;
}

/** One pgbench -S run of a side: one process to a single target, or (direct) one per replica at once. */
async function measure(c: Cluster, targets: Record<Side, Target[]>, side: Side, d: number): Promise<PgbenchResult> {
    const servers = targets[side];
    const parts = splitClients(CLIENTS, THREADS, servers.length);
    const results = await Promise.all(
        servers.map((t, i) =>
            pgbench(c, t, ["-S", `-c${parts[i].clients}`, `-j${parts[i].threads}`, `-T${d}`], (d + 60) * 1000, SSLMODE),
        ),
    );
    return mergeConcurrent(results);
}

function label(side: Side, targets: Record<Side, Target[]>): string {
    const where = targets[side].map((t) => `${t.host}:${t.port}`).join(" + ");
    const what = {
        endpoint: "read-only endpoint (PgBouncer)",
        direct: "direct to the replicas",
        primary: "primary alone",
        haproxy: "bench HAProxy TCP",
    }[side];
    return `${what} ${where}`;
}

export async function reads(ctx: CaseContext): Promise<void> {
    const opts = { stack: `${ctx.prefix}ours`, subnet: SUBNET_OURS, portBase: PORT_OURS, pooler: true };
    await ctx.phases.time("ours: live up (pooler on)", () => oursUp(opts, ctx.log));
    const c = oursCluster(opts);
    await ctx.phases.time("pgbench -i -s 10", () => pgbenchInit(c));
    await ctx.phases.time("replicas caught up", () => replicasCaughtUp(c));
    const ro = `${c.name}-pgbouncer-ro`;
    const replicas = [2, 3].map((n) => ({ host: c.ip(n), port: 5432 }));
    const targets: Record<Side, Target[]> = {
        endpoint: [{ host: await containerIp(ro), port: await containerPort(ro) }],
        direct: replicas,
        primary: [{ host: c.ip(1), port: 5432 }],
        haproxy: [await ctx.phases.time("bench HAProxy up", () => startHaproxy(c, replicas))],
    };
    const d = ctx.args.duration;
    const tps: Record<Side, number[]> = { endpoint: [], direct: [], primary: [], haproxy: [] };
    const p99: Record<Side, number[]> = { endpoint: [], direct: [], primary: [], haproxy: [] };
    for (let run = 1; run <= ctx.args.runs; run++) {
        for (const side of rotate(run, SIDES)) {
            const what = label(side, targets);
            await psql(c.container(1), "CHECKPOINT", 60_000);
            const before = await commits(c);
            const r = await ctx.phases.time(`pgbench -S -T${d} (${what})`, () => measure(c, targets, side, d));
            const lat = percentile(r.latenciesUs, 99) / 1000;
            // Approximate: an idle session (PgBouncer keeps its server sessions) flushes its statistics
            // up to 10 s late, so part of one run's count can show in the next one.
            const after = await commits(c);
            const served = after.map((n, i) => `pg${i + 1} ${n - before[i]}`).join(", ");
            ctx.log(
                `    ${what}: ${r.tps.toFixed(0)} tps, p99 ${lat.toFixed(2)} ms${r.failed ? `, ${r.failed} failed` : ""}; transactions per node (pg_stat_database, approximate): ${served}`,
            );
            tps[side].push(r.tps);
            p99[side].push(lat);
        }
    }
    ctx.figures.push(...readFigures(tps, p99));
    ctx.notes.push(
        `pgbench -S, ${CLIENTS} clients, ${THREADS} threads, -T${d}, scale 10, PGSSLMODE=${SSLMODE} on every path, from containers on the cluster network; the ro endpoint is PgBouncer (session pooling, round-robin over pg2, pg3; TLS 1.3 from the client and again to each replica); direct = two pgbench -c2 -j1 at once, one per replica, tps summed, p99 of the merged per-transaction logs; the bench HAProxy is not part of the product (TCP passthrough: one TLS session, client to replica). All containers share this machine's cores. Issue 20's goal: endpoint / direct >= 0.8x tps`,
    );
}

function readFigures(tps: Record<Side, number[]>, p99: Record<Side, number[]>): Figure[] {
    const direct = `the same ${CLIENTS} clients split across the same 2 replicas directly (two pgbench -c2 -j1 at once, sslmode=${SSLMODE}, no pooler)`;
    const primary = `the same pgbench -S directly against the primary alone (sslmode=${SSLMODE}, no pooler)`;
    const pair = (name: string, ours: Side, bound: Side, boundIs: string): Figure[] => [
        { figure: `read-only tps ${name}`, unit: "tps", better: "higher", ours: tps[ours], bound: tps[bound], boundIs },
        { figure: `read-only p99 ${name}`, unit: "ms", better: "lower", ours: p99[ours], bound: p99[bound], boundIs },
    ];
    return [
        ...pair("via ro endpoint / direct to the replicas", "endpoint", "direct", direct),
        ...pair("via ro endpoint / primary alone", "endpoint", "primary", primary),
        ...pair("via bench HAProxy TCP (not the product) / direct", "haproxy", "direct", direct),
    ];
}
