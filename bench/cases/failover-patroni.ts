// failover --mode patroni: docker kill of the leader of a failover=patroni stack under a writer on the
// read-write endpoint (HAProxy), nothing else run: Patroni elects the new leader. One round per run
// (ops/patroni-leader-loss.ts, the same round as npm run bench-patroni-failover), against the
// manual case's lower bound: pg_promote() at once on the best replica of a bare cluster.
import { alternate, CaseContext, PORT_BARE, PORT_OURS, SUBNET_BARE, SUBNET_OURS } from "../context";
import { bareCluster, bareUp, oursUp } from "../clusters";
import { psql } from "../../ops/cluster-discovery";
import { readLogin } from "../../ops/login";
import { waitFor } from "../../ops/ops";
import { removeByPrefix } from "../host";
import { PORT_OFFSETS } from "../../model/topology";
import { LeaderLossRound, leaderLossRound, prepareTable } from "../../ops/patroni-leader-loss";
import { barePromote, killUnderLoad, Outcome } from "./failover";

/** What a patroni round runs against: the stack, its read-write endpoint and the writer's table. */
type Target = Parameters<typeof leaderLossRound>[0];

/** One round on ours: the same stack every run; the killed leader is started again and rejoins before the next. */
async function oursRound(ctx: CaseContext, target: Target, run: number, firstId: number) {
    const result = await ctx.phases.time(`ours: docker kill of the leader, Patroni fails over (run ${run})`, () =>
        leaderLossRound(target, "kill", firstId),
    );
    const { round } = result;
    const s = (ms: number | null) => (ms === null ? "never" : `${(ms / 1000).toFixed(2)}s`);
    ctx.log(
        `    ours: killed ${round.leader}, ${round.newLeader ?? "no one"} leads; first write ${s(round.firstAckMs)}, others streaming ${s(round.allStreamingMs)}, ` +
            `${round.acked} acknowledged, ${round.lost} lost`,
    );
    if (round.firstAckMs === null || round.allStreamingMs === null)
        throw new Error(`Patroni did not fail over within 120 s (run ${run}): ${JSON.stringify(round)}`);
    return result;
}

/** One round on the bound: a fresh bare cluster, its primary killed and the best replica promoted at once. */
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

export async function failoverPatroni(ctx: CaseContext): Promise<void> {
    const oursOpts = {
        stack: `${ctx.prefix}p`,
        subnet: SUBNET_OURS,
        portBase: PORT_OURS,
        pooler: true,
        extra: ["failover=patroni"],
    };
    await ctx.phases.time("ours: live up (failover=patroni, endpoints on)", () => oursUp(oursOpts, ctx.log));
    const target: Target = {
        stack: oursOpts.stack,
        members: 3,
        host: "127.0.0.1",
        rwPort: PORT_OURS + PORT_OFFSETS.poolerRw,
        ...readLogin({ stack: oursOpts.stack, live: true }),
        table: "bench_fo",
    };
    await prepareTable(target);
    const ours: LeaderLossRound[] = [];
    const bare: Outcome[] = [];
    let nextId = 1;
    try {
        for (let run = 1; run <= ctx.args.runs; run++) {
            for (const side of alternate(run, "ours" as const, "bare" as const)) {
                if (side === "ours") {
                    const { round, nextId: next } = await oursRound(ctx, target, run, nextId);
                    nextId = next;
                    ours.push(round);
                } else {
                    bare.push(await bareRound(ctx, run));
                }
            }
        }
    } finally {
        if (!ctx.args.keep) await ctx.phases.time("teardown (ours)", () => removeByPrefix(`${oursOpts.stack}-`));
    }
    pushFigures(ctx, ours, bare);
}

/** The case's figures and note: ours against the bare bound, run by run. */
function pushFigures(ctx: CaseContext, ours: LeaderLossRound[], bare: Outcome[]): void {
    const boundIs =
        "bare cluster: pg_promote() at once on the best replica, other replica re-pointed by ALTER SYSTEM + reload";
    const secs = (xs: Array<number | null>) => xs.map((x) => (x as number) / 1000);
    ctx.figures.push({
        figure: "patroni: kill -> first acknowledged write (rw endpoint)",
        unit: "s",
        better: "lower",
        ours: secs(ours.map((r) => r.firstAckMs)),
        bound: bare.map((o) => o.firstWriteS),
        boundIs,
        note: "ours: through HAProxy (hostPortBase+10); bare: the new primary's own port",
    });
    ctx.figures.push({
        figure: "patroni: kill -> all replicas streaming",
        unit: "s",
        better: "lower",
        ours: secs(ours.map((r) => r.allStreamingMs)),
        bound: bare.map((o) => o.streamingS),
        boundIs,
        note: "ours: Patroni's /cluster shows a new leader running and the other member streaming (polled every 0.2 s)",
    });
    ctx.figures.push({
        figure: "patroni: acknowledged commits lost",
        unit: "commits",
        better: "lower",
        ours: ours.map((r) => r.lost),
        bound: bare.map((o) => o.lost),
        boundIs,
        note: `async (syncMode default); acknowledged per run: ours ${ours.map((r) => r.acked).join(", ")}, bare ${bare.map((o) => o.acked).join(", ")}`,
    });
    ctx.notes.push(
        "patroni: one failover=patroni stack (patroniTtl 20, loopWait 2, retryTimeout 5: the defaults), one kill per run, the killed leader kept down (restart policy off) until measured, then started again to rejoin; a writer inserts one id per transaction through the read-write endpoint and reconnects every 0.1 s",
    );
}
