// provision: nothing -> verified cluster, then the teardown of each.
// --mode manual: ours (`npm run live -- up`, checks on) against docker run + pg_basebackup with trust
// auth and no checks.
// --mode patroni: ours (failover=patroni) in the default configuration (tls required, backups on) and
// with the settings the raw cluster has (tls=off, backups=false), against the raw Patroni bound
// (bench/raw-patroni.ts: etcd, Patroni and HAProxy by plain docker run of the same image).
import { CaseContext, PORT_BARE, PORT_OURS, PORT_RAW, rotate, SUBNET_BARE, SUBNET_OURS, SUBNET_RAW } from "../context";
import { bareDown, bareUp, oursDown, oursUp } from "../clusters";
import { removeByPrefix } from "../host";
import { rawDown, rawUp } from "../raw-patroni";

/** One side of the comparison: how it comes up and goes away in run `run` (wall times in ms). */
interface Side {
    key: string;
    label: string;
    up(run: number): Promise<number>;
    down(run: number): Promise<number>;
}

/** The config our comparable side adds: what the raw cluster lacks (model/config.ts `tls`, `backups`). */
export const COMPARABLE_CONFIG = ["tls=off", "backups=false"];

function oursSide(ctx: CaseContext, key: string, label: string, tag: string, extra: string[]): Side {
    // Under failover=patroni the endpoints are HAProxy, which the raw cluster has too.
    const pooler = ctx.args.mode === "patroni";
    const stack = (run: number) => `${ctx.prefix}${tag}${run}`;
    return {
        key,
        label,
        up: (run) => oursUp({ stack: stack(run), subnet: SUBNET_OURS, portBase: PORT_OURS, pooler, extra }, ctx.log),
        down: async (run) => {
            const ms = await oursDown(stack(run), ctx.log);
            await removeByPrefix(`${stack(run)}-`);
            return ms;
        },
    };
}

function bareSide(ctx: CaseContext): Side {
    const prefix = (run: number) => `${ctx.prefix}b${run}`;
    return {
        key: "bound",
        label: "bare: docker run + pg_basebackup",
        up: (run) => bareUp({ prefix: prefix(run), subnet: SUBNET_BARE, portBase: PORT_BARE }, ctx.log),
        down: (run) => bareDown(prefix(run)),
    };
}

function rawSide(ctx: CaseContext): Side {
    const prefix = (run: number) => `${ctx.prefix}r${run}`;
    return {
        key: "bound",
        label: "raw: docker run of 3 etcd + 3 Patroni + HAProxy",
        up: (run) => rawUp({ prefix: prefix(run), subnet: SUBNET_RAW, portBase: PORT_RAW }, ctx.log),
        down: (run) => rawDown(prefix(run)),
    };
}

function sidesOf(ctx: CaseContext): Side[] {
    if (ctx.args.mode === "manual") return [oursSide(ctx, "ours", "ours", "o", []), bareSide(ctx)];
    return [
        oursSide(ctx, "ours", "ours (defaults)", "o", ["failover=patroni"]),
        oursSide(ctx, "fair", "ours (tls=off, backups=false)", "f", ["failover=patroni", ...COMPARABLE_CONFIG]),
        rawSide(ctx),
    ];
}

type Times = Record<string, { up: number[]; down: number[] }>;

/** Every side once per run, in turn (rotated, so no side always runs first), keeping `--keep`'s last clusters. */
async function measure(ctx: CaseContext, sides: Side[]): Promise<Times> {
    const times: Times = Object.fromEntries(sides.map((s) => [s.key, { up: [], down: [] }]));
    for (let run = 1; run <= ctx.args.runs; run++) {
        for (const side of rotate(run, sides)) {
            const t = times[side.key];
            t.up.push((await ctx.phases.time(`${side.label}: up (run ${run})`, () => side.up(run))) / 1000);
            if (ctx.args.keep && run === ctx.args.runs) continue;
            t.down.push((await ctx.phases.time(`${side.label}: down (run ${run})`, () => side.down(run))) / 1000);
        }
    }
    return times;
}

export async function provision(ctx: CaseContext): Promise<void> {
    const times = await measure(ctx, sidesOf(ctx));
    if (ctx.args.mode === "patroni") return patroniFigures(ctx, times);
    ctx.figures.push({
        figure: "provision (manual): nothing -> verified cluster",
        unit: "s",
        better: "lower",
        ours: times.ours.up,
        bound: times.bound.up,
        boundIs: "docker run primary (trust) + 2 replicas by pg_basebackup, 2 streaming rows, no checks",
        note: "ours: live up, primary + 2 replicas, checks on, pooler off",
    });
    if (times.ours.down.length && times.bound.down.length) {
        ctx.figures.push({
            figure: "provision (manual): teardown",
            unit: "s",
            better: "lower",
            ours: times.ours.down,
            bound: times.bound.down,
            boundIs: "docker rm -f -v of the 3 containers + network rm",
            note: "ours: live down",
        });
    }
}

function patroniFigures(ctx: CaseContext, times: Times): void {
    const upIs =
        "raw Patroni: docker run of 3 etcd + 3 Patroni + 1 HAProxy (same image, ttl/loop_wait/retry_timeout/sync mode as ours, no TLS, no backups, no checks) until 2 replicas stream and a write through HAProxy's rw port succeeds";
    const downIs = "raw Patroni: docker rm -f of the 7 containers + volume rm + network rm";
    const ours = {
        ours: "ours (defaults: tls required, backups on with a first full backup)",
        fair: `ours (${COMPARABLE_CONFIG.join(", ")}: what raw has)`,
    };
    for (const key of ["ours", "fair"] as const) {
        const which = key === "ours" ? "defaults" : COMPARABLE_CONFIG.join(" ");
        ctx.figures.push({
            figure: `provision (patroni, ${which}): nothing -> verified cluster`,
            unit: "s",
            better: "lower",
            ours: times[key].up,
            bound: times.bound.up,
            boundIs: upIs,
            note: `${ours[key]}: live up, failover=patroni, 3 nodes + 3 etcd + HAProxy endpoints (pooler=true), checks on`,
        });
    }
    for (const key of ["ours", "fair"] as const) {
        if (!times[key].down.length || !times.bound.down.length) continue;
        const which = key === "ours" ? "defaults" : COMPARABLE_CONFIG.join(" ");
        ctx.figures.push({
            figure: `provision (patroni, ${which}): teardown`,
            unit: "s",
            better: "lower",
            ours: times[key].down,
            bound: times.bound.down,
            boundIs: downIs,
            note: `${ours[key]}: live down`,
        });
    }
}
