// One measured loss of the leader on a failover=patroni stack, under a writer that records every
// acknowledged commit through the read-write endpoint. Nothing is run to fail over: Patroni does it.
// Shared by bench/patroni-failover.ts (many rounds on a deployed stack) and the bench's
// `failover --mode patroni` case.
// - kill: `docker kill` of the leader's container, kept down (restart policy off) as a dead host
//   would be, then started again after the measurement;
// - crash: `pkill -9 postgres` inside the leader, Patroni alive.
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "pg";
import { AckWriter } from "./ack-writer";
import { execProgram } from "./cluster-discovery";
import { dockerArgv } from "./engines";
import { superuserClient, SuperuserLogin } from "./login";
import { pollUntil } from "./ops";
import { leaderOf, patroniCluster } from "./patroni";

/** Where the writer goes: the stack's read-write endpoint, as the superuser. */
export interface LeaderLossTarget extends SuperuserLogin {
    stack: string;
    /** Members (nodes) in the stack. */
    members: number;
    host: string;
    rwPort: number;
    /** Table with an `id bigint PRIMARY KEY` column, created by {@link prepareTable}. */
    table: string;
}

/** What one round measured. Times are milliseconds from the start of the kill (or crash). */
export interface LeaderLossRound {
    kind: "kill" | "crash";
    leader: string;
    newLeader: string | null;
    /** First acknowledged write begun after the kill, through the read-write endpoint. */
    firstAckMs: number | null;
    /** A new leader running and every member still up streaming from it (Patroni's /cluster). */
    allStreamingMs: number | null;
    acked: number;
    /** Acknowledged ids the new leader does not have. */
    lost: number;
}

/** `docker ...argv` on the engine `container` runs on. */
async function docker(container: string, ...argv: string[]): Promise<void> {
    const res = await execProgram(dockerArgv(container, argv), 60_000);
    if (res.code !== 0) throw new Error(`docker ${argv.join(" ")}: ${res.stderr.trim()}`);
}

async function query<T>(t: LeaderLossTarget, text: string): Promise<T[]> {
    const c = new Client({
        ...superuserClient(t, t.host, t.rwPort),
        connectionTimeoutMillis: 3000,
        query_timeout: 10_000,
    });
    c.on("error", () => undefined);
    await c.connect();
    try {
        return (await c.query(text)).rows as T[];
    } finally {
        await c.end().catch(() => undefined);
    }
}

/** Creates the writer's table (empty) through the read-write endpoint. */
export async function prepareTable(t: LeaderLossTarget): Promise<void> {
    await query(t, `CREATE TABLE IF NOT EXISTS ${t.table} (id bigint PRIMARY KEY)`);
    await query(t, `TRUNCATE ${t.table}`);
}

/** Waits until Patroni shows one running leader and `streaming` other members streaming; returns the leader. */
export async function settledLeader(stack: string, streaming: number, timeoutMs = 180_000): Promise<string> {
    let settled = "";
    const last = await pollUntil(Date.now() + timeoutMs, async () => {
        const c = await patroniCluster(stack).catch(() => undefined);
        const leader = c && leaderOf(c.cluster);
        const n = c?.cluster.members.filter((m) => m.state === "streaming").length ?? 0;
        if (leader && leader.state === "running" && n >= streaming) settled = leader.name;
        return settled !== "" || JSON.stringify(c?.cluster.members ?? []);
    });
    if (last !== true) throw new Error(`stack ${stack} did not settle: ${last}`);
    return settled;
}

/** Takes the leader away: `docker kill` (it stays down) or a crash of its postgres (Patroni restarts it). */
async function loseLeader(container: string, kind: "kill" | "crash"): Promise<number> {
    if (kind === "kill") await docker(container, "update", "--restart=no", container);
    const started = Date.now();
    if (kind === "kill") await docker(container, "kill", container);
    else await docker(container, "exec", container, "pkill", "-9", "-x", "postgres");
    return started;
}

/** The leader Patroni names now, if any. */
async function currentLeader(stack: string): Promise<string | null> {
    return (
        (await patroniCluster(stack)
            .then((c) => leaderOf(c.cluster)?.name)
            .catch(() => undefined)) ?? null
    );
}

/**
 * Polls (at most 120 s) until the writer has its first acknowledged write after the loss and a new
 * leader runs with `streaming` others streaming; when that was seen, and which leader.
 */
async function awaitRecovery(
    t: LeaderLossTarget,
    lost: string,
    streaming: number,
    started: number,
    writer: AckWriter,
): Promise<{ allStreamingMs: number | null; newLeader: string | null }> {
    let seen: { allStreamingMs: number | null; newLeader: string | null } = { allStreamingMs: null, newLeader: null };
    await pollUntil(
        Date.now() + 120_000,
        async () => {
            if (seen.allStreamingMs === null) {
                const c = await patroniCluster(t.stack).catch(() => undefined);
                const l = c && leaderOf(c.cluster);
                const count = c?.cluster.members.filter((m) => m.state === "streaming").length ?? 0;
                if (l && l.name !== lost && l.state === "running" && count >= streaming)
                    seen = { allStreamingMs: Date.now() - started, newLeader: l.name };
            }
            return writer.firstAckAfter !== undefined && seen.allStreamingMs !== null;
        },
        200,
    );
    return seen;
}

/**
 * Kills (or crashes) the settled leader under the writer, waits for the first acknowledged write
 * after it (at most 120 s) and for the others to stream from the new leader, counts the acknowledged
 * ids lost, then brings a killed container back and waits until every member streams again.
 * Ids start at `firstId`; the next free one is returned.
 */
export async function leaderLossRound(
    t: LeaderLossTarget,
    kind: "kill" | "crash",
    firstId: number,
): Promise<{ round: LeaderLossRound; nextId: number }> {
    const leader = await settledLeader(t.stack, t.members - 1);
    const container = `${t.stack}-${leader}`;
    const writer = new AckWriter({ ...t, port: t.rwPort }, firstId);
    writer.start();
    let recovery: { allStreamingMs: number | null; newLeader: string | null };
    try {
        const warm = await pollUntil(Date.now() + 60_000, () => writer.acked.length >= 20, 50);
        if (warm !== true)
            throw new Error(`the writer had ${writer.acked.length} acknowledged writes after 60 s, not 20`);
        const started = await loseLeader(container, kind);
        writer.markKill(started, Date.now());
        // A killed leader stays down: every other member streams; a crashed one comes back as a replica.
        const streaming = kind === "kill" ? t.members - 2 : t.members - 1;
        recovery = await awaitRecovery(t, leader, streaming, started, writer);
        await sleep(500);
    } finally {
        await writer.stop();
    }
    const have = new Set((await query<{ id: string }>(t, `SELECT id FROM ${t.table}`)).map((r) => Number(r.id)));
    const lost = writer.acked.filter((id) => !have.has(id)).length;
    const newLeader = recovery.newLeader ?? (await currentLeader(t.stack));
    if (kind === "kill") {
        await docker(container, "update", "--restart=unless-stopped", container);
        await docker(container, "start", container);
    }
    const round: LeaderLossRound = {
        kind,
        leader,
        newLeader,
        firstAckMs: writer.firstAckAfter ?? null,
        allStreamingMs: recovery.allStreamingMs,
        acked: writer.acked.length,
        lost,
    };
    return { round, nextId: (writer.acked[writer.acked.length - 1] ?? firstId) + 1000 };
}
