// npm run bench-patroni-failover -- --stack S [--live] [--kills N] [--crashes N]
// Figures for failover=patroni, printed as JSON on stdout (progress on stderr). Not a test: it
// asserts nothing, it measures, on a deployed stack (the endpoints must be on):
// - kill: `docker kill` of the leader's container (kept down, as a dead host would be) -> first
//   acknowledged write through the read-write endpoint; then the old leader is started again and
//   must stream before the next round;
// - crash: `pkill -9 postgres` inside the leader, Patroni alive -> first acknowledged write;
// - acknowledged commits lost: ids the writer saw acknowledged that the new leader lacks.
import { clientHost, PORT_OFFSETS } from "../model/topology";
import { LeaderLossRound, leaderLossRound, prepareTable, settledLeader } from "../ops/patroni-leader-loss";
import { readLogin } from "../ops/login";
import { command, integerOption, runCommand } from "../ops/cli";
import { COMMON_OPTIONS, stackConfig } from "../ops/topology-change";

const BENCH_PATRONI = command({
    name: "bench-patroni-failover",
    synopsis: "--stack S [--live] [--kills N] [--crashes N]",
    description:
        "Measures a failover=patroni stack: time from docker kill of the leader to the first acknowledged\n" +
        "write through the read-write endpoint, the same for a postgres crash with Patroni alive, and the\n" +
        "acknowledged commits lost. Prints JSON.",
    options: {
        kills: integerOption("N", "leader container kills", 10, 0, 1000),
        crashes: integerOption("N", "postgres crashes in the leader", 3, 0, 1000),
        stack: COMMON_OPTIONS.stack,
        live: COMMON_OPTIONS.live,
    },
    examples: ["npm run bench-patroni-failover -- --stack pat --live --kills 3 --crashes 1"],
});

const TABLE = "bench_patroni_writes";

const median = (xs: number[]) =>
    xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

runCommand(BENCH_PATRONI, async () => {
    const { values } = BENCH_PATRONI.parse(process.argv.slice(2));
    const { kills, crashes } = values;
    const args = { stack: values.stack, live: values.live };
    const cfg = stackConfig(args);
    if (cfg.failover !== "patroni" || !cfg.pooler)
        throw new Error(`stack ${args.stack} is not failover=patroni with the endpoints on`);
    const host = clientHost(cfg);
    const rw = cfg.hostPortBase + PORT_OFFSETS.poolerRw;
    const log = (l: string) => process.stderr.write(l + "\n");
    const members = cfg.replicas + 1;

    const target = { stack: args.stack, members, host, rwPort: rw, ...readLogin(args), table: TABLE };
    await prepareTable(target);
    const rounds: LeaderLossRound[] = [];
    let nextId = 1;
    const plan: Array<"kill" | "crash"> = [
        ...Array<"kill">(kills).fill("kill"),
        ...Array<"crash">(crashes).fill("crash"),
    ];
    for (const [i, kind] of plan.entries()) {
        const { round, nextId: next } = await leaderLossRound(target, kind, nextId);
        nextId = next;
        rounds.push(round);
        log(
            `${i + 1}/${plan.length} ${kind} ${round.leader}: first write after ${round.firstAckMs} ms on ${round.newLeader}; ${round.lost} of ${round.acked} acknowledged lost`,
        );
    }
    await settledLeader(args.stack, members - 1);
    const times = (kind: LeaderLossRound["kind"]) =>
        rounds.filter((r) => r.kind === kind && r.firstAckMs !== null).map((r) => r.firstAckMs as number);
    const result = {
        stack: args.stack,
        syncMode: cfg.syncMode,
        syncMethod: cfg.syncMethod,
        ttl: cfg.patroniTtl,
        loopWait: cfg.patroniLoopWait,
        retryTimeout: cfg.patroniRetryTimeout,
        kill: { rounds: times("kill").length, medianMs: median(times("kill")), maxMs: Math.max(...times("kill"), 0) },
        crash: {
            rounds: times("crash").length,
            medianMs: median(times("crash")),
            maxMs: Math.max(...times("crash"), 0),
        },
        acknowledgedLost: rounds.reduce((n, r) => n + r.lost, 0),
        acknowledged: rounds.reduce((n, r) => n + r.acked, 0),
        rounds,
    };
    process.stdout.write(JSON.stringify(result, null, 2) + "\n");
});
