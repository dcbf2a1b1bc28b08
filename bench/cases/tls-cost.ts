// tls-cost: what `tls: required` costs against `tls: off`, both ours, in the same run: provisioning
// (nothing -> verified cluster) and pgbench tps and p99 latency in sync ANY 1 from a container on
// each cluster's network to its primary (TLS 1.3 with PGSSLMODE=require, plain text with disable).
import { alternate, CaseContext, PORT_BARE, PORT_OURS, SUBNET_BARE, SUBNET_OURS } from "../context";
import { applySync, Cluster, oursCluster, oursDown, OursOptions, oursUp, SYNC_SETTINGS } from "../clusters";
import { pgbench, pgbenchInit } from "../pgbench";
import { psql } from "../../ops/cluster-discovery";
import { percentile } from "../stats";

/** One side: its stack options and the sslmode its pgbench client asks for. */
interface Side {
    label: "required" | "off";
    opts: OursOptions;
    sslmode: "require" | "disable";
}

/** Both sides' figures, run by run. */
interface Samples {
    upMs: number[];
    tps: number[];
    p99Ms: number[];
}

async function measureSide(ctx: CaseContext, side: Side, samples: Samples): Promise<void> {
    samples.upMs.push(await ctx.phases.time(`live up (tls ${side.label})`, () => oursUp(side.opts, ctx.log)));
    const c: Cluster = oursCluster(side.opts);
    try {
        await ctx.phases.time(`pgbench -i (tls ${side.label})`, () => pgbenchInit(c));
        await applySync(c, SYNC_SETTINGS[1]);
        await psql(c.container(1), "CHECKPOINT", 60_000);
        const d = ctx.args.duration;
        const r = await ctx.phases.time(`pgbench -T${d} (tls ${side.label})`, () =>
            pgbench(c, { host: c.ip(1), port: 5432 }, ["-c4", "-j2", `-T${d}`], (d + 60) * 1000, side.sslmode),
        );
        const p99 = percentile(r.latenciesUs, 99) / 1000;
        ctx.log(
            `    tls ${side.label}: ${r.tps.toFixed(0)} tps, p99 ${p99.toFixed(2)} ms${r.failed ? `, ${r.failed} failed` : ""}`,
        );
        samples.tps.push(r.tps);
        samples.p99Ms.push(p99);
    } finally {
        await ctx.phases.time(`live down (tls ${side.label})`, () => oursDown(side.opts.stack, ctx.log));
    }
}

export async function tlsCost(ctx: CaseContext): Promise<void> {
    const required: Side = {
        label: "required",
        opts: { stack: `${ctx.prefix}on`, subnet: SUBNET_OURS, portBase: PORT_OURS, pooler: false },
        sslmode: "require",
    };
    const off: Side = {
        label: "off",
        opts: {
            stack: `${ctx.prefix}off`,
            subnet: SUBNET_BARE,
            portBase: PORT_BARE,
            pooler: false,
            extra: ["tls=off"],
        },
        sslmode: "disable",
    };
    const samples: Record<Side["label"], Samples> = {
        required: { upMs: [], tps: [], p99Ms: [] },
        off: { upMs: [], tps: [], p99Ms: [] },
    };
    for (let run = 1; run <= ctx.args.runs; run++) {
        for (const side of alternate(run, required, off)) await measureSide(ctx, side, samples[side.label]);
    }
    const boundIs = "the same deployment with tls: off (plain text), same run, interleaved";
    ctx.figures.push(
        {
            figure: "provisioning, tls required",
            unit: "ms",
            better: "lower",
            ours: samples.required.upMs,
            bound: samples.off.upMs,
            boundIs,
        },
        {
            figure: "tps, sync any 1, tls required",
            unit: "tps",
            better: "higher",
            ours: samples.required.tps,
            bound: samples.off.tps,
            boundIs,
        },
        {
            figure: "p99 latency, sync any 1, tls required",
            unit: "ms",
            better: "lower",
            ours: samples.required.p99Ms,
            bound: samples.off.p99Ms,
            boundIs,
        },
    );
    ctx.notes.push(
        `each run deploys both stacks (live up: 3 nodes, checks, backups, pooler off), pgbench -i -s 10, sync ANY 1, pgbench -c4 -j2 -T${ctx.args.duration} from a container on the cluster's network to the primary (PGSSLMODE=require against disable; walsenders on TLS or not with it), then live down; goals (issue 18): tps >= 0.9x, p99 <= 1.2x, provisioning <= 1.1x`,
    );
}
