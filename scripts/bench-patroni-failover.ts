// npm run bench-patroni-failover -- --stack S [--live] [--kills N] [--crashes N]
// Figures for failover=patroni, printed as JSON on stdout (progress on stderr). Not a test: it
// asserts nothing, it measures, on a deployed stack (the endpoints must be on):
// - kill: `docker kill` of the leader's container (kept down, as a dead host would be) -> first
//   acknowledged write through the read-write endpoint; then the old leader is started again and
//   must stream before the next round;
// - crash: `pkill -9 postgres` inside the leader, Patroni alive -> first acknowledged write;
// - acknowledged commits lost: ids the writer saw acknowledged that the new leader lacks.
import { clientHost, PORT_OFFSETS } from "../infra/topology";
import { AckWriter } from "./lib/ack-writer";
import { execProgram } from "./lib/cluster-discovery";
import { leaderOf, patroniCluster } from "./lib/patroni";
import { readOutputs } from "./lib/stack-backends";
import { command, integerOption, runCommand } from "./lib/cli";
import { COMMON_OPTIONS, stackConfig } from "./lib/topology-change";
import { Client } from "pg";

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
        ...COMMON_OPTIONS,
    },
    examples: ["npm run bench-patroni-failover -- --stack pat --live --kills 3 --crashes 1"],
});

const TABLE = "bench_patroni_writes";

interface Round {
    kind: "kill" | "crash";
    leader: string;
    newLeader: string | null;
    firstAckMs: number | null;
    acked: number;
    lost: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const docker = async (...argv: string[]) => {
    const res = await execProgram(["docker", ...argv], 60_000);
    if (res.code !== 0) throw new Error(`docker ${argv.join(" ")}: ${res.stderr.trim()}`);
};

async function query<T>(host: string, port: number, password: string, text: string): Promise<T[]> {
    const c = new Client({ host, port, user: "postgres", password, database: "postgres", connectionTimeoutMillis: 3000, query_timeout: 10_000 });
    c.on("error", () => undefined);
    await c.connect();
    try {
        return (await c.query(text)).rows as T[];
    } finally {
        await c.end().catch(() => undefined);
    }
}

/** Waits until Patroni shows one leader and every other member streaming. */
async function settled(stack: string, members: number, timeoutMs = 180_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const c = await patroniCluster(stack).catch(() => undefined);
        const leader = c && leaderOf(c.cluster);
        const streaming = c?.cluster.members.filter((m) => m.state === "streaming").length ?? 0;
        if (leader && leader.state === "running" && streaming === members - 1) return leader.name;
        if (Date.now() > deadline) throw new Error(`stack ${stack} did not settle: ${JSON.stringify(c?.cluster.members ?? [])}`);
        await sleep(500);
    }
}

const median = (xs: number[]) => (xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]);

runCommand(BENCH_PATRONI, async () => {
    const { values } = BENCH_PATRONI.parse(process.argv.slice(2));
    const { kills, crashes } = values;
    const args = { stack: values.stack, live: values.live };
    const cfg = stackConfig(args);
    if (cfg.failover !== "patroni" || !cfg.pooler) throw new Error(`stack ${args.stack} is not failover=patroni with the endpoints on`);
    const password = String(readOutputs(args).superuserPassword);
    const host = clientHost(cfg);
    const rw = cfg.hostPortBase + PORT_OFFSETS.poolerRw;
    const log = (l: string) => process.stderr.write(l + "\n");
    const members = cfg.replicas + 1;

    await query(host, rw, password, `CREATE TABLE IF NOT EXISTS ${TABLE} (id bigint PRIMARY KEY)`);
    await query(host, rw, password, `TRUNCATE ${TABLE}`);
    const rounds: Round[] = [];
    let nextId = 1;
    const plan: Array<"kill" | "crash"> = [...Array(kills).fill("kill"), ...Array(crashes).fill("crash")];
    for (const [i, kind] of plan.entries()) {
        const leader = await settled(args.stack, members);
        const container = `${args.stack}-${leader}`;
        const writer = new AckWriter({ host, port: rw, password, table: TABLE }, nextId);
        writer.start();
        while (writer.acked.length < 20) await sleep(50);
        if (kind === "kill") await docker("update", "--restart=no", container);
        const started = Date.now();
        if (kind === "kill") await docker("kill", container);
        else await docker("exec", container, "pkill", "-9", "-x", "postgres");
        writer.markKill(started, Date.now());
        const deadline = Date.now() + 120_000;
        while (writer.firstAckAfter === undefined && Date.now() < deadline) await sleep(50);
        await sleep(500);
        await writer.stop();
        nextId = (writer.acked[writer.acked.length - 1] ?? nextId) + 1000;
        const have = new Set((await query<{ id: string }>(host, rw, password, `SELECT id FROM ${TABLE}`)).map((r) => Number(r.id)));
        const lost = writer.acked.filter((id) => !have.has(id)).length;
        const now = await patroniCluster(args.stack).catch(() => undefined);
        const round: Round = {
            kind,
            leader,
            newLeader: (now && leaderOf(now.cluster)?.name) ?? null,
            firstAckMs: writer.firstAckAfter ?? null,
            acked: writer.acked.length,
            lost,
        };
        rounds.push(round);
        log(`${i + 1}/${plan.length} ${kind} ${leader}: first write after ${round.firstAckMs} ms on ${round.newLeader}; ${lost} of ${round.acked} acknowledged lost`);
        if (kind === "kill") {
            await docker("update", "--restart=unless-stopped", container);
            await docker("start", container);
        }
    }
    await settled(args.stack, members);
    const times = (kind: Round["kind"]) => rounds.filter((r) => r.kind === kind && r.firstAckMs !== null).map((r) => r.firstAckMs as number);
    const result = {
        stack: args.stack,
        syncMode: cfg.syncMode,
        syncMethod: cfg.syncMethod,
        ttl: cfg.patroniTtl,
        loopWait: cfg.patroniLoopWait,
        retryTimeout: cfg.patroniRetryTimeout,
        kill: { rounds: times("kill").length, medianMs: median(times("kill")), maxMs: Math.max(...times("kill"), 0) },
        crash: { rounds: times("crash").length, medianMs: median(times("crash")), maxMs: Math.max(...times("crash"), 0) },
        acknowledgedLost: rounds.reduce((n, r) => n + r.lost, 0),
        acknowledged: rounds.reduce((n, r) => n + r.acked, 0),
        rounds,
    };
    process.stdout.write(JSON.stringify(result, null, 2) + "\n");
});
