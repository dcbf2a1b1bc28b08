// lag: replay lag per replica, sampled every 100 ms on the primary under a pgbench write load.
import * as path from "path";
import { Client } from "pg";
import { alternate, CaseContext } from "../context";
import { Cluster, clusterLogin } from "../clusters";
import { superuserClient } from "../../ops/login";
import { pgbench } from "../pgbench";
import { LagSample, writeLagPng } from "../plot";
import { setTimeout as sleep } from "timers/promises";
import { psql } from "../../ops/cluster-discovery";
import { percentile } from "../stats";
import { setupPair } from "./sync-cost";

const SAMPLE_SQL = `SELECT application_name AS node,
       (pg_current_wal_lsn() - replay_lsn)::float8 AS bytes,
       COALESCE(EXTRACT(epoch FROM replay_lag), 0)::float8 AS seconds
  FROM pg_stat_replication ORDER BY application_name`;

/** Samples pg_stat_replication on the primary every `everyMs` until stopped. */
export function sampler(c: Cluster, everyMs: number): { stop: () => Promise<LagSample[]>; started: number } {
    const samples: LagSample[] = [];
    let stopped = false;
    const started = performance.now();
    const done = (async () => {
        const client = new Client({
            ...superuserClient(clusterLogin(c), "127.0.0.1", c.hostPort(1)),
            connectionTimeoutMillis: 5000,
        });
        client.on("error", () => undefined);
        await client.connect();
        try {
            while (!stopped) {
                const t0 = performance.now();
                const { rows } = await client.query<{ node: string; bytes: number | null; seconds: number }>(
                    SAMPLE_SQL,
                );
                const t = (t0 - started) / 1000;
                for (const r of rows)
                    samples.push({ t, series: `${c.kind} ${r.node}`, bytes: r.bytes ?? 0, seconds: r.seconds });
                await sleep(Math.max(0, everyMs - (performance.now() - t0)));
            }
        } finally {
            await client.end().catch(() => undefined);
        }
    })();
    done.catch(() => undefined); // awaited by stop(); a failing load must not leave it unhandled
    return {
        started,
        stop: async () => {
            stopped = true;
            await done;
            return samples;
        },
    };
}

export async function lag(ctx: CaseContext): Promise<void> {
    const { ours, bare } = await setupPair(ctx, false);
    const d = ctx.args.duration;
    const stats: Record<string, { ours: number[]; bare: number[] }> = {};
    const add = (key: string, kind: "ours" | "bare", v: number) => {
        stats[key] ??= { ours: [], bare: [] };
        stats[key][kind].push(v);
    };
    const plotted: LagSample[] = [];
    const counts: string[] = [];
    for (let run = 1; run <= ctx.args.runs; run++) {
        for (const c of alternate(run, ours, bare)) {
            await psql(c.container(1), "CHECKPOINT", 60_000);
            const s = sampler(c, 100);
            await ctx.phases.time(`pgbench -T${d} write load + 100 ms sampling (${c.kind}, run ${run})`, () =>
                pgbench(c, { host: c.ip(1), port: 5432 }, ["-c4", "-j2", `-T${d}`], (d + 60) * 1000),
            );
            await sleep(500);
            const samples = (await s.stop()).filter((x) => x.t >= 0);
            if (run === 1) plotted.push(...samples);
            for (const node of ["pg2", "pg3"]) {
                const mine = samples.filter((x) => x.series === `${c.kind} ${node}`);
                if (mine.length === 0) throw new Error(`no pg_stat_replication row for ${node} on ${c.kind}`);
                counts.push(`${c.kind} ${node} run ${run}: ${mine.length} samples`);
                const bytes = mine.map((x) => x.bytes);
                const secs = mine.map((x) => x.seconds);
                add(`${node} lag bytes p50`, c.kind, percentile(bytes, 50));
                add(`${node} lag bytes p99`, c.kind, percentile(bytes, 99));
                add(`${node} lag bytes max`, c.kind, Math.max(...bytes));
                add(`${node} replay_lag p50`, c.kind, percentile(secs, 50));
                add(`${node} replay_lag p99`, c.kind, percentile(secs, 99));
                add(`${node} replay_lag max`, c.kind, Math.max(...secs));
            }
        }
    }
    const boundIs = "bare cluster (initdb defaults, async) under the same pgbench load";
    for (const [key, v] of Object.entries(stats)) {
        ctx.figures.push({
            figure: key,
            unit: key.includes("bytes") ? "bytes" : "s",
            better: "lower",
            ours: v.ours,
            bound: v.bare,
            boundIs,
        });
    }
    const png = `${ctx.outBase}-lag.png`;
    const size = await ctx.phases.time("plot (vega-lite -> vega SVG -> resvg PNG)", () =>
        writeLagPng(plotted, `Replay lag under pgbench -c4 -j2 -T${d} (async, run 1): ours vs bare`, png),
    );
    ctx.artifacts.push(`${path.relative(process.cwd(), png)} (${(size / 1024).toFixed(0)} KiB)`);
    ctx.notes.push(
        `lag = pg_current_wal_lsn() - replay_lsn and replay_lag (NULL -> 0) from pg_stat_replication on the primary, every 100 ms while pgbench -c4 -j2 -T${d} (TPC-B-like, scale 10) writes; ${counts.join("; ")}`,
    );
}
