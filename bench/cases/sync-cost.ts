// sync-cost: pgbench tps and p99 latency per synchronous setting, ours against a bare cluster with the
// same setting; settings switched with ALTER SYSTEM on the primary (not through the harness: seconds
// instead of a deployment per switch).
import { alternate, CaseContext, PORT_BARE, PORT_OURS, SUBNET_BARE, SUBNET_OURS } from "../context";
import { applySync, bareCluster, bareUp, Cluster, oursCluster, oursUp, SYNC_SETTINGS } from "../clusters";
import { pgbench, pgbenchInit } from "../pgbench";
import { psql } from "../../ops/cluster-discovery";
import { percentile } from "../stats";

export async function setupPair(ctx: CaseContext, pooler: boolean): Promise<{ ours: Cluster; bare: Cluster }> {
    const oursOpts = { stack: `${ctx.prefix}ours`, subnet: SUBNET_OURS, portBase: PORT_OURS, pooler };
    const bareOpts = { prefix: `${ctx.prefix}bare`, subnet: SUBNET_BARE, portBase: PORT_BARE };
    await ctx.phases.time("ours: live up", () => oursUp(oursOpts, ctx.log));
    await ctx.phases.time("bare: docker run + pg_basebackup", () => bareUp(bareOpts, ctx.log));
    const ours = oursCluster(oursOpts);
    const bare = bareCluster(bareOpts);
    await ctx.phases.time("pgbench -i -s 10 (both at once)", () => Promise.all([pgbenchInit(ours), pgbenchInit(bare)]));
    return { ours, bare };
}

export async function syncCost(ctx: CaseContext): Promise<void> {
    const { ours, bare } = await setupPair(ctx, false);
    const tps = new Map<string, { ours: number[]; bare: number[] }>();
    const p99 = new Map<string, { ours: number[]; bare: number[] }>();
    const d = ctx.args.duration;
    let turn = 0;
    for (let run = 1; run <= ctx.args.runs; run++) {
        for (const setting of SYNC_SETTINGS) {
            for (const c of alternate(++turn, ours, bare)) {
                await ctx.phases.time(`switch + checkpoint`, async () => {
                    await applySync(c, setting);
                    await psql(c.container(1), "CHECKPOINT", 60_000);
                });
                const r = await ctx.phases.time(`pgbench -T${d} (${c.kind}, ${setting.label})`, () =>
                    pgbench(c, { host: c.ip(1), port: 5432 }, ["-c4", "-j2", `-T${d}`], (d + 60) * 1000),
                );
                const lat = percentile(r.latenciesUs, 99) / 1000;
                ctx.log(
                    `    ${c.kind} ${setting.label}: ${r.tps.toFixed(0)} tps, p99 ${lat.toFixed(2)} ms, ${r.latenciesUs.length} transactions${r.failed ? `, ${r.failed} failed` : ""}`,
                );
                const t = tps.get(setting.label) ?? { ours: [], bare: [] };
                t[c.kind].push(r.tps);
                tps.set(setting.label, t);
                const p = p99.get(setting.label) ?? { ours: [], bare: [] };
                p[c.kind].push(lat);
                p99.set(setting.label, p);
            }
        }
    }
    const boundIs =
        "bare cluster (initdb defaults, trust) with the same synchronous_standby_names / synchronous_commit";
    for (const s of SYNC_SETTINGS) {
        const t = tps.get(s.label)!;
        const p = p99.get(s.label)!;
        ctx.figures.push({
            figure: `tps, ${s.label}`,
            unit: "tps",
            better: "higher",
            ours: t.ours,
            bound: t.bare,
            boundIs,
        });
        ctx.figures.push({
            figure: `p99 latency, ${s.label}`,
            unit: "ms",
            better: "lower",
            ours: p.ours,
            bound: p.bare,
            boundIs,
        });
    }
    ctx.notes.push(
        `pgbench -c4 -j2 -T${d} scale 10 (TPC-B-like) from a container on each cluster's network to the primary's address; p99 from per-transaction logs (--log); settings switched with ALTER SYSTEM + pg_reload_conf() on the primary, applied once pg_stat_replication showed the sync_state`,
    );
}
