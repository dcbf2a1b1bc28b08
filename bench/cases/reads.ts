// reads: read-only pgbench (-S) through the read-only PgBouncer endpoint (the replicas) against the
// primary alone, on our cluster: how reads scale with two replicas behind one endpoint.
import { alternate, CaseContext, PORT_OURS, SUBNET_OURS } from "../context";
import { Cluster, containerIp, containerPort, oursCluster, oursUp } from "../clusters";
import { pgbench, pgbenchInit } from "../pgbench";
import { psql } from "../../ops/cluster-discovery";
import { waitFor } from "../../ops/ops";
import { percentile } from "../stats";

/** xact_commit of the postgres database on pg1..pg3: which nodes served the reads. */
async function commits(c: Cluster): Promise<number[]> {
    return Promise.all(
        [1, 2, 3].map(async (n) =>
            Number(await psql(c.container(n), "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'")),
        ),
    );
}

export async function reads(ctx: CaseContext): Promise<void> {
    const opts = { stack: `${ctx.prefix}ours`, subnet: SUBNET_OURS, portBase: PORT_OURS, pooler: true };
    await ctx.phases.time("ours: live up (pooler on)", () => oursUp(opts, ctx.log));
    const c = oursCluster(opts);
    await ctx.phases.time("pgbench -i -s 10", () => pgbenchInit(c));
    await ctx.phases.time("replicas caught up", () =>
        waitFor(
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
        ),
    );
    const ro = `${c.name}-pgbouncer-ro`;
    const endpoint = { host: await containerIp(ro), port: await containerPort(ro) };
    const primary = { host: c.ip(1), port: 5432 };
    const d = ctx.args.duration;
    const tps = { ours: [] as number[], bare: [] as number[] };
    const p99 = { ours: [] as number[], bare: [] as number[] };
    for (let run = 1; run <= ctx.args.runs; run++) {
        for (const side of alternate(run, "ours" as const, "bare" as const)) {
            const target = side === "ours" ? endpoint : primary;
            const label =
                side === "ours" ? `read-only endpoint ${target.host}:${target.port}` : `primary ${target.host}:5432`;
            await psql(c.container(1), "CHECKPOINT", 60_000);
            const before = await commits(c);
            const r = await ctx.phases.time(`pgbench -S -T${d} (${label})`, () =>
                pgbench(c, target, ["-S", "-c4", "-j2", `-T${d}`], (d + 60) * 1000),
            );
            const lat = percentile(r.latenciesUs, 99) / 1000;
            // Approximate: an idle session (PgBouncer keeps its server sessions) flushes its statistics
            // up to 10 s late, so part of one run's count can show in the next one.
            const after = await commits(c);
            const served = after.map((n, i) => `pg${i + 1} ${n - before[i]}`).join(", ");
            ctx.log(
                `    ${label}: ${r.tps.toFixed(0)} tps, p99 ${lat.toFixed(2)} ms; transactions per node (pg_stat_database, approximate): ${served}`,
            );
            tps[side].push(r.tps);
            p99[side].push(lat);
        }
    }
    const boundIs = "the same pgbench -S directly against the primary alone (no pooler)";
    ctx.figures.push({
        figure: "read-only tps via ro endpoint (2 replicas)",
        unit: "tps",
        better: "higher",
        ours: tps.ours,
        bound: tps.bare,
        boundIs,
    });
    ctx.figures.push({
        figure: "read-only p99 latency via ro endpoint",
        unit: "ms",
        better: "lower",
        ours: p99.ours,
        bound: p99.bare,
        boundIs,
    });
    ctx.notes.push(
        `pgbench -S -c4 -j2 -T${d} scale 10 from a container on the cluster network; the ro endpoint is PgBouncer (session pooling, round-robin over pg2, pg3). All containers share this machine's 2 cores, so more servers cannot add CPU: the ratio shows what the pooler hop costs more than any scaling`,
    );
}
