// failover --mode patroni: docker kill of the leader under a writer on the read-write endpoint
// (HAProxy), nothing else run: Patroni elects the new leader. The same round (ops/patroni-leader-loss.ts,
// as npm run bench-patroni-failover runs it) on ours, a failover=patroni stack in the default
// configuration, and on the raw Patroni bound (bench/raw-patroni.ts: etcd, Patroni and HAProxy by plain
// docker run, same ttl, loop_wait, retry_timeout and sync mode). Each side is one cluster reused for
// every run (the killed leader is started again and rejoins before the next), so --runs 10 is 10 kills
// of each. An extra row keeps the manual case's bound: pg_promote() at once on a fresh bare cluster.
import { CaseContext, PORT_BARE, PORT_OURS, PORT_RAW, rotate, SUBNET_BARE, SUBNET_OURS, SUBNET_RAW } from "../context";
import { bareCluster, bareUp, oursUp } from "../clusters";
import { psql } from "../../ops/cluster-discovery";
import { readLogin } from "../../ops/login";
import { waitFor } from "../../ops/ops";
import { removeByPrefix } from "../host";
import { PORT_OFFSETS } from "../../model/topology";
import { LeaderLossRound, leaderLossRound, prepareTable } from "../../ops/patroni-leader-loss";
import { RAW_DEFAULTS, RAW_SUPERUSER_PASSWORD, rawDown, rawPorts, rawUp } from "../raw-patroni";
import { barePromote, killUnderLoad, Outcome } from "./failover";

/** What a patroni round runs against: the stack, its read-write endpoint and the writer's table. */
type Target = Parameters<typeof leaderLossRound>[0];

/** A side that is killed every run: its target and the next free writer id. */
interface PatroniSide {
    label: string;
    target: Target;
    nextId: number;
    rounds: LeaderLossRound[];
}

/** One kill on a side; the killed leader is started again and rejoins before the next. */
async function patroniRound(ctx: CaseContext, side: PatroniSide, run: number): Promise<void> {
    const { round, nextId } = await ctx.phases.time(
        `${side.label}: docker kill of the leader, Patroni fails over (run ${run})`,
        () => leaderLossRound(side.target, "kill", side.nextId),
    );
    side.nextId = nextId;
    const s = (ms: number | null) => (ms === null ? "never" : `${(ms / 1000).toFixed(2)}s`);
    ctx.log(
        `    ${side.label}: killed ${round.leader}, ${round.newLeader ?? "no one"} leads; first write ${s(round.firstAckMs)}, others streaming ${s(round.allStreamingMs)}, ` +
            `${round.acked} acknowledged, ${round.lost} lost`,
    );
    if (round.firstAckMs === null || round.allStreamingMs === null)
        throw new Error(`${side.label}: Patroni did not fail over within 120 s (run ${run}): ${JSON.stringify(round)}`);
    side.rounds.push(round);
}

/** One round on the extra bound: a fresh bare cluster, its primary killed and the best replica promoted at once. */
async function bareRound(ctx: CaseContext, run: number): Promise<Outcome> {
    const bareOpts = { prefix: `${ctx.prefix}b${run}`, subnet: SUBNET_BARE, portBase: PORT_BARE };
    await ctx.phases.time("bare: docker run + pg_basebackup", () => bareUp(bareOpts, ctx.log));
    const c = bareCluster(bareOpts);
    await waitFor("bare replicas accept connections", 60_000, async () => {
        for (const n of [2, 3]) await psql(c.container(n), "SELECT 1", 5000);
        return true as const;
    });
    const outcome = await ctx.phases.time(`bare: kill + pg_promote (run ${run})`, () =>
        killUnderLoad(ctx, c, (best, other) => barePromote(c, best, other)),
    );
    await ctx.phases.time("teardown (bare)", () => removeByPrefix(`${bareOpts.prefix}-`));
    return outcome;
}

/** Ours (default configuration, endpoints on) and the raw cluster, each up once and its writer's table ready. */
async function bringUp(ctx: CaseContext): Promise<{ ours: PatroniSide; raw: PatroniSide }> {
    const stack = `${ctx.prefix}p`;
    const oursOpts = { stack, subnet: SUBNET_OURS, portBase: PORT_OURS, pooler: true, extra: ["failover=patroni"] };
    await ctx.phases.time("ours: live up (failover=patroni, endpoints on)", () => oursUp(oursOpts, ctx.log));
    const rawOpts = { prefix: `${ctx.prefix}r`, subnet: SUBNET_RAW, portBase: PORT_RAW };
    await ctx.phases.time("raw: docker run of 3 etcd + 3 Patroni + HAProxy", () => rawUp(rawOpts, ctx.log));
    const common = { members: 3, host: "127.0.0.1", table: "bench_fo" };
    const ours: PatroniSide = {
        label: "ours",
        target: { stack, rwPort: PORT_OURS + PORT_OFFSETS.poolerRw, ...readLogin({ stack, live: true }), ...common },
        nextId: 1,
        rounds: [],
    };
    const raw: PatroniSide = {
        label: "raw",
        target: { stack: rawOpts.prefix, rwPort: rawPorts(rawOpts).rw, password: RAW_SUPERUSER_PASSWORD, ...common },
        nextId: 1,
        rounds: [],
    };
    for (const side of [ours, raw]) await prepareTable(side.target);
    return { ours, raw };
}

export async function failoverPatroni(ctx: CaseContext): Promise<void> {
    const bare: Outcome[] = [];
    let sides: { ours: PatroniSide; raw: PatroniSide } | undefined;
    try {
        sides = await bringUp(ctx);
        for (let run = 1; run <= ctx.args.runs; run++) {
            for (const side of rotate(run, ["ours", "raw", "bare"] as const)) {
                if (side === "bare") bare.push(await bareRound(ctx, run));
                else await patroniRound(ctx, sides[side], run);
            }
        }
    } finally {
        if (!ctx.args.keep) {
            await ctx.phases.time("teardown (ours)", () => removeByPrefix(`${ctx.prefix}p-`));
            await ctx.phases.time("teardown (raw)", () => rawDown(`${ctx.prefix}r`));
        }
    }
    pushFigures(ctx, sides.ours.rounds, sides.raw.rounds, bare);
}

const secs = (xs: Array<number | null>) => xs.map((x) => (x as number) / 1000);

/** The case's figures and notes: ours against the raw bound, and against pg_promote as an extra row. */
function pushFigures(ctx: CaseContext, ours: LeaderLossRound[], raw: LeaderLossRound[], bare: Outcome[]): void {
    const boundIs =
        "raw Patroni: 3 etcd + 3 Patroni + HAProxy by docker run, same image and ttl/loop_wait/retry_timeout/sync mode, no TLS; the same kill round and writer";
    ctx.figures.push({
        figure: "patroni: kill -> first acknowledged write (rw endpoint)",
        unit: "s",
        better: "lower",
        ours: secs(ours.map((r) => r.firstAckMs)),
        bound: secs(raw.map((r) => r.firstAckMs)),
        boundIs,
        note: "both through HAProxy's rw port (ours: hostPortBase+10)",
    });
    ctx.figures.push({
        figure: "patroni: kill -> all replicas streaming",
        unit: "s",
        better: "lower",
        ours: secs(ours.map((r) => r.allStreamingMs)),
        bound: secs(raw.map((r) => r.allStreamingMs)),
        boundIs,
        note: "Patroni's /cluster shows a new leader running and the other member streaming (polled every 0.2 s)",
    });
    ctx.figures.push({
        figure: "patroni: acknowledged commits lost",
        unit: "commits",
        better: "lower",
        ours: ours.map((r) => r.lost),
        bound: raw.map((r) => r.lost),
        boundIs,
        note: `async (syncMode default); acknowledged per run: ours ${ours.map((r) => r.acked).join(", ")}, raw ${raw.map((r) => r.acked).join(", ")}`,
    });
    ctx.figures.push({
        figure: "patroni: kill -> first write, against pg_promote at once (extra)",
        unit: "s",
        better: "lower",
        ours: secs(ours.map((r) => r.firstAckMs)),
        bound: bare.map((o) => o.firstWriteS),
        boundIs:
            "bare cluster: pg_promote() at once on the best replica, other replica re-pointed by ALTER SYSTEM + reload",
        note: "ours: through HAProxy; bare: the new primary's own port",
    });
    ctx.notes.push(...killNotes(ours, raw));
}

/** Per-kill times of both sides, and how many kills missed issue 20's patroniTtl + 5 s. */
export function killNotes(ours: LeaderLossRound[], raw: LeaderLossRound[]): string[] {
    const limit = RAW_DEFAULTS.ttl + 5;
    const line = (label: string, rounds: LeaderLossRound[]) => {
        const times = secs(rounds.map((r) => r.firstAckMs));
        const over = times.filter((t) => t > limit).length;
        return `${label} kill -> first write per kill (s): ${times.map((t) => t.toFixed(1)).join(", ")}; ${over} of ${times.length} over patroniTtl + 5 = ${limit} s`;
    };
    return [
        `patroni: both sides patroniTtl ${RAW_DEFAULTS.ttl}, loop_wait ${RAW_DEFAULTS.loopWait}, retry_timeout ${RAW_DEFAULTS.retryTimeout}, synchronous_mode ${RAW_DEFAULTS.synchronousMode}; one cluster per side, one kill per run, the killed leader kept down (restart policy off) until measured, then started again to rejoin; a writer inserts one id per transaction through HAProxy's rw port and reconnects every 0.1 s`,
        line("ours", ours),
        line("raw", raw),
    ];
}
