// provision: nothing -> verified cluster, then the teardown of each. Each of our sides also deploys its
// stack a second time, changing nothing (issue 20's no-op bound: what one deployment costs before any
// work), and reports "ours minus no-op" beside "ours".
// --mode manual: ours (`npm run live -- up`, checks on) in the default configuration and with the settings
// the bare cluster has (tls=off, backups=false) against docker run + pg_basebackup with trust auth and no
// checks.
// --mode patroni: ours (failover=patroni) in the default configuration (tls required, backups on) and
// with the settings the raw cluster has (tls=off, backups=false), against the raw Patroni bound
// (bench/raw-patroni.ts: etcd, Patroni and HAProxy by plain docker run of the same image).
import { CaseContext, PORT_BARE, PORT_OURS, PORT_RAW, rotate, SUBNET_BARE, SUBNET_OURS, SUBNET_RAW } from "../context";
import { bareDown, bareUp, oursDown, oursNoopUp, OursOptions, oursUp } from "../clusters";
import { removeByPrefix } from "../host";
import { rawDown, rawUp } from "../raw-patroni";
import { median } from "../stats";

/** One side of the comparison: how it comes up and goes away in run `run` (wall times in ms). */
interface Side {
    key: string;
    label: string;
    up(run: number): Promise<number>;
    /** Ours: `up` again, changing nothing. */
    noop?: (run: number) => Promise<number>;
    down(run: number): Promise<number>;
    /** A bound: what its bring-up and its teardown are, in words. */
    is?: { up: string; down: string };
}

/** The config our comparable side adds: what the bare and raw clusters lack (model/config.ts `tls`, `backups`). */
export const COMPARABLE_CONFIG = ["tls=off", "backups=false"];

function oursSide(ctx: CaseContext, key: string, label: string, tag: string, extra: string[]): Side {
    // Under failover=patroni the endpoints are HAProxy, which the raw cluster has too.
    const pooler = ctx.args.mode === "patroni";
    const stack = (run: number) => `${ctx.prefix}${tag}${run}`;
    const opts = (run: number): OursOptions => ({
        stack: stack(run),
        subnet: SUBNET_OURS,
        portBase: PORT_OURS,
        pooler,
        extra,
    });
    return {
        key,
        label,
        up: (run) => oursUp(opts(run), ctx.log),
        noop: (run) => oursNoopUp(opts(run)),
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
        is: {
            up: "docker run primary (trust) + 2 replicas by pg_basebackup, 2 streaming rows, no checks",
            down: "docker rm -f -v of the 3 containers + network rm",
        },
        up: (run) => bareUp({ prefix: prefix(run), subnet: SUBNET_BARE, portBase: PORT_BARE }, ctx.log),
        down: (run) => bareDown(prefix(run)),
    };
}

function rawSide(ctx: CaseContext): Side {
    const prefix = (run: number) => `${ctx.prefix}r${run}`;
    return {
        key: "bound",
        label: "raw: docker run of 3 etcd + 3 Patroni + HAProxy",
        is: {
            up: "raw Patroni: docker run of 3 etcd + 3 Patroni + 1 HAProxy (same image, ttl/loop_wait/retry_timeout/sync mode as ours, no TLS, no backups, no checks) until 2 replicas stream and a write through HAProxy's rw port succeeds",
            down: "raw Patroni: docker rm -f of the 7 containers + volume rm + network rm",
        },
        up: (run) => rawUp({ prefix: prefix(run), subnet: SUBNET_RAW, portBase: PORT_RAW }, ctx.log),
        down: (run) => rawDown(prefix(run)),
    };
}

function sidesOf(ctx: CaseContext): Side[] {
    if (ctx.args.mode === "manual")
        return [
            oursSide(ctx, "ours", "ours (defaults)", "o", []),
            oursSide(ctx, "fair", "ours (tls=off, backups=false)", "f", COMPARABLE_CONFIG),
            bareSide(ctx),
        ];
    return [
        oursSide(ctx, "ours", "ours (defaults)", "o", ["failover=patroni"]),
        oursSide(ctx, "fair", "ours (tls=off, backups=false)", "f", ["failover=patroni", ...COMPARABLE_CONFIG]),
        rawSide(ctx),
    ];
}

type Times = Record<string, { up: number[]; noop: number[]; down: number[] }>;

/** Every side once per run, in turn (rotated, so no side always runs first), keeping `--keep`'s last clusters. */
async function measure(ctx: CaseContext, sides: Side[]): Promise<Times> {
    const times: Times = Object.fromEntries(sides.map((s) => [s.key, { up: [], noop: [], down: [] }]));
    for (let run = 1; run <= ctx.args.runs; run++) {
        for (const side of rotate(run, sides)) {
            const t = times[side.key];
            t.up.push((await ctx.phases.time(`${side.label}: up (run ${run})`, () => side.up(run))) / 1000);
            const noop = side.noop;
            if (noop)
                t.noop.push(
                    (await ctx.phases.time(`${side.label}: up again, no-op (run ${run})`, () => noop(run))) / 1000,
                );
            if (ctx.args.keep && run === ctx.args.runs) continue;
            t.down.push((await ctx.phases.time(`${side.label}: down (run ${run})`, () => side.down(run))) / 1000);
        }
    }
    return times;
}

export async function provision(ctx: CaseContext): Promise<void> {
    const sides = sidesOf(ctx);
    const times = await measure(ctx, sides);
    const boundIs = sides.find((side) => side.key === "bound")?.is;
    if (!boundIs) throw new Error("provision: no side is the bound");
    const patroni = ctx.args.mode === "patroni";
    const mode = patroni ? "patroni" : "manual";
    const what = patroni
        ? "live up, failover=patroni, 3 nodes + 3 etcd + HAProxy endpoints (pooler=true), checks on"
        : "live up, primary + 2 replicas, checks on, pooler off";
    for (const key of ["ours", "fair"] as const) {
        const t = times[key];
        const which = key === "ours" ? "defaults" : COMPARABLE_CONFIG.join(" ");
        const side =
            key === "ours"
                ? "ours (defaults: tls required, backups on with a first full backup)"
                : `ours (${COMPARABLE_CONFIG.join(", ")}: what the bound has)`;
        const figure = (name: string, ours: number[], boundValues: number[], boundIs: string, note: string) =>
            ctx.figures.push({
                figure: `provision (${mode}, ${which}): ${name}`,
                unit: "s",
                better: "lower",
                ours,
                bound: boundValues,
                boundIs,
                note,
            });
        figure("nothing -> verified cluster", t.up, times.bound.up, boundIs.up, `${side}: ${what}`);
        figure(
            "nothing -> verified cluster, minus a no-op up",
            minusNoop(t.up, t.noop),
            times.bound.up,
            boundIs.up,
            `${side}: the same live up less the same run's second live up of the deployed stack, which changed nothing (no-op median ${median(t.noop).toFixed(2)} s)`,
        );
        if (t.down.length && times.bound.down.length)
            figure("teardown", t.down, times.bound.down, boundIs.down, `${side}: live down`);
    }
}

/** Each run's deployment less the same run's no-op deployment. */
export function minusNoop(up: number[], noop: number[]): number[] {
    if (up.length !== noop.length) throw new Error(`${up.length} deployments but ${noop.length} no-op deployments`);
    return up.map((u, i) => u - noop[i]);
}
