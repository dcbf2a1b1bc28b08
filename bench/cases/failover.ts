// failover: docker kill of the primary under a writer that records acknowledged ids, then
// `npm run failover -- --to <best replica> --live` on ours, against pg_promote() on the same replica
// of a bare cluster (no fencing, no checks; the other replica re-pointed with ALTER SYSTEM).
// --mode patroni: cases/failover-patroni.ts.
import * as fs from "fs";
import * as os from "os";
import { Client } from "pg";
import { alternate, CaseContext, PORT_BARE, PORT_OURS, SUBNET_BARE, SUBNET_OURS } from "../context";
import { bareCluster, bareUp, Cluster, clusterLogin, oursCluster, oursUp } from "../clusters";
import * as path from "path";
import { setTimeout as sleep } from "timers/promises";
import { execOrFail, execProgram, psql } from "../../ops/cluster-discovery";
import { superuserClient } from "../../ops/login";
import { CommitWriter } from "../../ops/ack-writer";
import { waitFor } from "../../ops/ops";
import { BENCH_TIMEOUT_MS, removeByPrefix, ROOT } from "../host";
import { lsnToBytes } from "../stats";

/** The failover command as `npm run failover` runs it (without npm's own start-up). */
const failoverArgv = (...args: string[]) => [
    process.execPath,
    "-r",
    "./scripts/register-ts.js",
    "scripts/failover.ts",
    ...args,
];

/** The lower bound's failover: pg_promote() on `best` at once, `other` re-pointed; returns its ms. */
export async function barePromote(c: Cluster, best: number, other: number): Promise<number> {
    const t = performance.now();
    await psql(c.container(best), "SELECT pg_promote(true, 30)");
    await psql(
        c.container(other),
        `ALTER SYSTEM SET primary_conninfo = 'host=${c.ip(best)} user=postgres application_name=pg${other}'`,
    );
    await psql(c.container(other), "SELECT pg_reload_conf()");
    return performance.now() - t;
}

/**
 * The writer (ops/ack-writer.ts) inserting ids one by one into whichever node `to.node` names: it
 * follows the promoted node once told. Acknowledgement times are on performance.now().
 */
function nodeWriter(c: Cluster, to: { node: number }): CommitWriter<number> {
    const login = clusterLogin(c);
    return new CommitWriter({
        endpoint: () => to.node,
        client: (node) =>
            new Client({
                ...superuserClient(login, "127.0.0.1", c.hostPort(node)),
                connectionTimeoutMillis: 1000,
                query_timeout: 2000,
            }),
        table: "bench_fo",
        retryMs: 20, // killed, fenced, or still read-only: connect again soon
        now: () => performance.now(),
    });
}

export interface Outcome {
    firstWriteS: number;
    streamingS: number;
    commandS: number;
    lost: number;
    acked: number;
}

async function receiveLsn(c: Cluster, node: number): Promise<number> {
    const lsn = await psql(c.container(node), "SELECT COALESCE(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())");
    return lsnToBytes(lsn);
}

export async function killUnderLoad(
    ctx: CaseContext,
    c: Cluster,
    promote: (best: number, other: number) => Promise<number>,
): Promise<Outcome> {
    await psql(c.container(1), "CREATE TABLE IF NOT EXISTS bench_fo (id bigint PRIMARY KEY)");
    const to = { node: 1 };
    const w = nodeWriter(c, to);
    w.start();
    try {
        await waitFor("writes flowing", 30_000, () => w.acked.length >= 200 || `${w.acked.length} acknowledged`, 100);
        const t0 = performance.now();
        await execOrFail(["docker", "kill", c.container(1)], BENCH_TIMEOUT_MS);
        // The best replica: the one that received the most WAL (as the failover command requires).
        await sleep(200);
        const [l2, l3] = await Promise.all([receiveLsn(c, 2), receiveLsn(c, 3)]);
        const best = l3 > l2 ? 3 : 2;
        const other = best === 2 ? 3 : 2;
        to.node = best;
        let streamingAt = 0;
        const poll = waitFor(
            "the other replica streaming from the new primary",
            60_000,
            async () => {
                const n = await psql(
                    c.container(best),
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
                    5000,
                );
                if (n === "1") streamingAt = performance.now();
                return n === "1" || `${n} streaming`;
            },
            50,
        );
        poll.catch(() => undefined); // awaited below; a failing promote must not leave it unhandled
        const commandMs = await promote(best, other);
        await poll;
        await waitFor(
            "a write on the new primary",
            30_000,
            () => w.acks.some((a) => a.endpoint === best) || "none yet",
            100,
        );
        await sleep(500);
        await w.stop();
        const firstAck = w.firstAck((a) => a.at > t0 && a.endpoint === best)!;
        const present = new Set((await psql(c.container(best), "SELECT id FROM bench_fo")).split("\n").map(Number));
        const lost = w.acked.filter((id) => !present.has(id)).length;
        ctx.log(
            `    ${c.kind}: promoted pg${best}; first write ${((firstAck.at - t0) / 1000).toFixed(2)}s, pg${other} streaming ${((streamingAt - t0) / 1000).toFixed(2)}s, ` +
                `command ${(commandMs / 1000).toFixed(2)}s, ${w.acked.length} acknowledged, ${lost} lost`,
        );
        return {
            firstWriteS: (firstAck.at - t0) / 1000,
            streamingS: (streamingAt - t0) / 1000,
            commandS: commandMs / 1000,
            lost,
            acked: w.acked.length,
        };
    } finally {
        await w.stop();
    }
}

/** `npm run failover` on ours: the measured command, its log lines passed through. */
async function oursFailover(ctx: CaseContext, c: Parameters<typeof killUnderLoad>[1], best: number): Promise<number> {
    const res = await execProgram(failoverArgv("--to", `pg${best}`, "--stack", c.name, "--live", "--json"), 90_000, {
        cwd: ROOT,
    });
    if (res.code !== 0) throw new Error(`failover exited ${res.code}: ${res.stderr.trim().slice(-1500)}`);
    for (const l of res.stderr.trim().split("\n")) ctx.log(`      | ${l}`);
    return res.ms;
}

/** One run: a fresh ours and a fresh bare cluster, each killed under the writer, in alternating order. */
async function failoverRun(ctx: CaseContext, run: number, out: { ours: Outcome[]; bare: Outcome[] }): Promise<void> {
    const oursOpts = { stack: `${ctx.prefix}o${run}`, subnet: SUBNET_OURS, portBase: PORT_OURS, pooler: true };
    const bareOpts = { prefix: `${ctx.prefix}b${run}`, subnet: SUBNET_BARE, portBase: PORT_BARE };
    await ctx.phases.time("ours: live up (pooler on)", () => oursUp(oursOpts, ctx.log));
    await ctx.phases.time("bare: docker run + pg_basebackup", () => bareUp(bareOpts, ctx.log));
    const ours = oursCluster(oursOpts);
    const bare = bareCluster(bareOpts);
    // Streaming starts before a standby is consistent; the measurement needs both replicas to answer.
    await ctx.phases.time("bare: replicas accept connections", () =>
        waitFor(
            "bare replicas accept connections",
            60_000,
            async () => {
                for (const n of [2, 3]) await psql(bare.container(n), "SELECT 1", 5000);
                return true as const;
            },
            100,
        ),
    );
    for (const c of alternate(run, ours, bare)) {
        if (c.kind === "ours") {
            out.ours.push(
                await ctx.phases.time(`ours: kill + npm run failover (run ${run})`, () =>
                    killUnderLoad(ctx, c, (best) => oursFailover(ctx, c, best)),
                ),
            );
        } else {
            out.bare.push(
                await ctx.phases.time(`bare: kill + pg_promote (run ${run})`, () =>
                    killUnderLoad(ctx, c, (best, other) => barePromote(c, best, other)),
                ),
            );
        }
    }
    if (!(ctx.args.keep && run === ctx.args.runs)) {
        await ctx.phases.time("teardown", async () => {
            await removeByPrefix(`${ctx.prefix}o${run}-`);
            await removeByPrefix(`${ctx.prefix}b${run}-`);
        });
    }
}

/**
 * How much of the command's wall time is starting the process: `failover --help` as npm runs it (warm
 * transpile cache), with an empty cache (the first run after a change to a source), and with ts-node
 * (how it ran before), each against a bare `node -e 0`, interleaved.
 */
async function processStartFigures(ctx: CaseContext): Promise<void> {
    const starts = [
        {
            label: "process start (failover --help)",
            argv: failoverArgv("--help"),
            env: process.env,
            note: "node -r ./scripts/register-ts.js scripts/failover.ts --help, transpile cache filled (as after npm ci)",
        },
        {
            label: "process start, empty transpile cache",
            argv: failoverArgv("--help"),
            env: undefined,
            note: "the same with PG_REPLICATION_TS_CACHE set to an empty directory: TypeScript loaded and every file transpiled",
        },
        {
            label: "process start with ts-node (before)",
            argv: [process.execPath, "-r", "ts-node/register/transpile-only", "scripts/failover.ts", "--help"],
            env: process.env,
            note: "node -r ts-node/register/transpile-only scripts/failover.ts --help: how npm run failover started before",
        },
    ];
    for (const s of starts) {
        const start = { ours: [] as number[], bare: [] as number[] };
        for (let run = 1; run <= ctx.args.runs; run++) {
            for (const side of alternate(run, "ours" as const, "bare" as const)) {
                const emptyCache = s.env ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), "pgr-ts-cache-"));
                const env = emptyCache ? { ...process.env, PG_REPLICATION_TS_CACHE: emptyCache } : process.env;
                const argv = side === "ours" ? s.argv : [process.execPath, "-e", "0"];
                try {
                    const res = await ctx.phases.time(
                        `${s.label}: ${side === "ours" ? "failover --help" : "node -e 0"}`,
                        () => execOrFail(argv, 60_000, { cwd: ROOT, env }),
                    );
                    start[side].push(res.ms / 1000);
                } finally {
                    if (emptyCache) fs.rmSync(emptyCache, { recursive: true, force: true });
                }
            }
        }
        ctx.figures.push({
            figure: s.label,
            unit: "s",
            better: "lower",
            ours: start.ours,
            bound: start.bare,
            boundIs: "node -e 0",
            note: s.note,
        });
    }
}

export async function failover(ctx: CaseContext): Promise<void> {
    // As after npm ci (its prepare step): the commands' transpile cache is filled.
    await execOrFail([process.execPath, "scripts/register-ts.js"], 120_000, { cwd: ROOT });
    const out = { ours: [] as Outcome[], bare: [] as Outcome[] };
    for (let run = 1; run <= ctx.args.runs; run++) await failoverRun(ctx, run, out);
    await processStartFigures(ctx);
    failoverFigures(ctx, out);
}

/** The failover figures: ours against the bare bound, run by run. */
function failoverFigures(ctx: CaseContext, out: { ours: Outcome[]; bare: Outcome[] }): void {
    const boundIs =
        "bare cluster: pg_promote() on the same best replica, other replica re-pointed by ALTER SYSTEM + reload; no fencing, no checks";
    const pick = (k: keyof Outcome) => ({ ours: out.ours.map((o) => o[k]), bound: out.bare.map((o) => o[k]) });
    ctx.figures.push({
        figure: "kill -> first acknowledged write",
        unit: "s",
        better: "lower",
        ...pick("firstWriteS"),
        boundIs,
    });
    ctx.figures.push({
        figure: "kill -> all replicas streaming",
        unit: "s",
        better: "lower",
        ...pick("streamingS"),
        boundIs,
    });
    ctx.figures.push({
        figure: "failover command wall time",
        unit: "s",
        better: "lower",
        ...pick("commandS"),
        boundIs,
        note: "ours: node -r ./scripts/register-ts.js scripts/failover.ts --live (process start included, npm's own start-up not); bare: the three psql calls",
    });
    ctx.figures.push({
        figure: "acknowledged commits lost",
        unit: "commits",
        better: "lower",
        ...pick("lost"),
        boundIs,
        note: `async (syncMode default); acknowledged per run: ours ${out.ours.map((o) => o.acked).join(", ")}, bare ${out.bare.map((o) => o.acked).join(", ")}`,
    });
    ctx.notes.push(
        "writer: one INSERT per transaction over one connection to the node's published port; after the kill it targets the replica with the most received WAL (chosen 0.2 s after the kill, by pg_last_wal_receive_lsn) and reconnects every 20 ms until a write is acknowledged; times from just before docker kill",
    );
}
