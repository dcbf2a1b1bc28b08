// Building blocks of failover, switchover and rejoin. Everything runs through Docker: psql as the
// postgres OS user over each container's socket (peer auth, no password), docker stop/start/cp.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseLsn } from "../client/lsn";
import { ClusterConfig } from "../model/config";
import { primaryConninfo } from "../model/render";
import { createSlotSql, invalidSlotSql, quoteLiteral, syncPolicySql } from "../model/sql";
import { NodeSpec, PATHS } from "../model/topology";
import {
    compareNodes,
    dockerSql,
    execProgram,
    pickPrimary,
    ProbedNode,
    probeNodes,
    psql,
    SqlRunner,
} from "./cluster-discovery";
import { dockerArgv } from "./engines";

/** A node as failover sees it. */
export type NodeState = ProbedNode;
export { probeNodes };

/** A failed step: the message says what and where. */
export class OpsError extends Error {}

/** Parses an LSN such as 0/5000028 into a comparable number. */
export const lsnValue = parseLsn;

/**
 * The one node that accepts writes, for an operation that needs a sound cluster; refuses (naming the
 * nodes and the commands that settle them) on split brain, no primary, or a node that may run but does
 * not say whether it accepts writes: an unknown answer is never read as "not primary".
 */
export function refusingUnless(action: string, stack: string, nodes: NodeState[]): NodeState {
    try {
        return pickPrimary(stack, nodes) as NodeState;
    } catch (err) {
        const noPrimary = /^no primary/.test((err as Error).message);
        const hint = noPrimary ? ` (npm run failover -- --stack ${stack} --to pgN promotes one)` : "";
        throw new OpsError(`refusing to ${action}: ${(err as Error).message}${hint}`);
    }
}

export function findNode(nodes: NodeState[], name: string): NodeState {
    const node = nodes.find((n) => n.node === name);
    if (!node) throw new OpsError(`no node ${name} in this stack (nodes: ${nodes.map((n) => n.node).join(", ")})`);
    return node;
}

/** Node `name` as the stack's configuration lays it out (model/topology.ts clusterNodes): container, host port. */
export function configuredNode(cluster: NodeSpec[], name: string): NodeSpec {
    const spec = cluster.find((s) => s.name === name);
    if (!spec)
        throw new OpsError(
            `no node ${name} in this stack's configuration (nodes: ${cluster.map((s) => s.name).join(", ")})`,
        );
    return spec;
}

/**
 * Why `target` must not be promoted, or undefined when it may: it must be a running standby that has
 * received WAL, and (unless forced) no other standby may have received more. While the old primary
 * still sends WAL, replicas differ by what is in flight, so before fencing (`settled` false) only a
 * target that does not stream while an ahead candidate does is refused; after fencing, when every
 * standby has all the WAL it will get, any candidate ahead of the target is.
 */
export function promotionRefusal(
    nodes: NodeState[],
    target: string,
    force: boolean,
    settled = false,
): string | undefined {
    const t = findNode(nodes, target);
    if (!t.running) return `${target} is not running`;
    if (t.inRecovery === null) return `${target} does not answer`;
    if (!t.inRecovery) return `${target} is not a replica: it already accepts writes`;
    if (t.receiveLsn === null) return `${target} is not a streaming replica: it has never received WAL from a primary`;
    if (force) return undefined;
    const ahead = nodes.filter(
        (n) =>
            n.node !== target &&
            n.running &&
            n.inRecovery &&
            n.receiveLsn !== null &&
            lsnValue(n.receiveLsn) > lsnValue(t.receiveLsn as string) &&
            (settled || (t.walReceiver !== "streaming" && n.walReceiver === "streaming")),
    );
    if (ahead.length > 0) {
        const a = ahead[0];
        return `${target} is behind ${a.node} (${t.receiveLsn} < ${a.receiveLsn}): promoting it would lose transactions ${a.node} has; promote ${a.node} or pass --force`;
    }
    return undefined;
}

/**
 * Probes until no standby's received position moves any more (the fenced primary has sent all it
 * had), at most `timeoutMs`; returns the last probe.
 */
export async function settledNodes(
    stack: string,
    timeoutMs = 10_000,
    sql: SqlRunner = dockerSql,
): Promise<NodeState[]> {
    const deadline = Date.now() + timeoutMs;
    let last = await probeNodes(stack, sql);
    for (;;) {
        // The old primary is stopped: all that can still arrive is what sits in a standby's socket
        // buffer, which its WAL receiver drains within milliseconds. Each probe itself takes 0.1-0.3 s.
        await sleep(200);
        const next = await probeNodes(stack, sql);
        const same = next.every((n) => n.receiveLsn === last.find((o) => o.node === n.node)?.receiveLsn);
        last = next;
        if (same || Date.now() > deadline) return last;
    }
}

/** What a poll asks: true when done, else what it saw (a thrown error counts as what it saw). */
export type Probe = () => boolean | string | Promise<boolean | string>;

/**
 * The one poll with a deadline: asks `probe` every `everyMs` until it returns true or `deadline`
 * (a Date.now() time) is reached, at least once; returns true, or what the probe last said (an error's
 * message). The caller words the timeout (see {@link waitFor}). A probe's error is what it saw, unless
 * `onError` is "throw": then the error ends the poll and is thrown (for probes whose failure is final).
 */
export async function pollUntil(
    deadline: number,
    probe: Probe,
    everyMs = 250,
    onError: "retry" | "throw" = "retry",
): Promise<true | string> {
    for (;;) {
        let last: boolean | string;
        try {
            last = await probe();
        } catch (err) {
            if (onError === "throw") throw err;
            last = (err as Error).message;
        }
        if (last === true) return true;
        if (Date.now() >= deadline) return String(last);
        await sleep(everyMs);
    }
}

/** Polls every `everyMs` until `probe` returns true; fails with what it last saw at the deadline. */
export async function waitFor(what: string, timeoutMs: number, probe: Probe, everyMs = 250): Promise<void> {
    const last = await pollUntil(Date.now() + timeoutMs, probe, everyMs);
    if (last !== true) throw new OpsError(`${what}: not done within ${timeoutMs / 1000}s (${last})`);
}

/** `docker …` on the engine `container` runs on (ops/engines.ts); its output, or an OpsError. */
async function docker(container: string, args: string[], timeoutMs = 180_000): Promise<string> {
    const res = await execProgram(dockerArgv(container, args), timeoutMs);
    if (res.code !== 0) throw new OpsError(`docker ${args.join(" ")}: ${res.stderr.trim()}`);
    return res.stdout.trim();
}

const REJOIN_FLAG = PATHS.rejoinFlag;
const LAST_REJOIN = PATHS.lastRejoin;

/**
 * Marks a node's data directory so that its next start rewinds (or re-clones) it onto the current
 * primary instead of running it as it was. Works on a stopped container too.
 */
export async function requestRejoin(n: Pick<NodeState, "container" | "running">): Promise<void> {
    if (n.running) {
        await docker(n.container, ["exec", "-u", "postgres", n.container, "touch", REJOIN_FLAG]);
        return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgr-"));
    const flag = path.join(dir, path.posix.basename(REJOIN_FLAG));
    fs.writeFileSync(flag, "requested by pg-replication\n");
    try {
        await docker(n.container, ["cp", flag, `${n.container}:${REJOIN_FLAG}`]);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * Fences a node: marks it to rejoin, then stops its container. Docker's `unless-stopped` policy does
 * not restart a stopped container, and if anything starts it again its entrypoint rejoins it as a
 * standby instead of starting a second primary.
 */
export async function fence(n: NodeState): Promise<void> {
    await requestRejoin(n).catch(() => undefined); // a crashed node cannot take the flag; its entrypoint still checks for another primary
    // Stopped even when the probe saw it down: a crashed container is restarted by Docker
    // (unless-stopped) at any moment, and `docker stop` of a stopped one only marks it as stopped
    // by hand, which keeps Docker from restarting it later.
    await docker(n.container, ["stop", "-t", "60", n.container]);
}

export async function startContainer(container: string): Promise<void> {
    await docker(container, ["start", container]);
}

/**
 * Promotes `n` in one psql session, after giving it, while it is still a standby, what it needs as
 * the primary of `others`: the configured synchronous policy (so that no commit after the promotion
 * runs under a policy left from when the node was cloned) and the slots the others stream through
 * (so that each can attach as soon as it is re-pointed). Both are allowed in recovery: ALTER SYSTEM
 * writes no WAL, and a physical slot made on a standby reserves WAL from its last restartpoint.
 * One session for all of it (one `docker exec` with the default runner).
 */
export async function promote(
    n: NodeState,
    others: string[],
    cfg: ClusterConfig,
    sql: SqlRunner = dockerSql,
): Promise<void> {
    const statements = [
        ...syncPolicyStatements(others, cfg),
        ...(cfg.slots ? others.map(createSlotSql) : []),
        "SELECT pg_promote(true, 60)",
    ];
    const answer = await sql.exec(n, statements, 90_000);
    if (answer !== "t") throw new OpsError(`pg_promote on ${n.node} did not finish within 60s`);
}

/**
 * Repeats a small write on the new primary until it is accepted. It commits locally: whether
 * synchronous standbys confirm it depends on how many stream yet, which is not this step's question.
 */
export async function firstWrite(n: NodeState, sql: SqlRunner = dockerSql): Promise<void> {
    await waitFor(`first write on ${n.node}`, 60_000, async () => {
        // One transaction: SET LOCAL ends with it, whatever session runs it.
        await sql.exec(
            n,
            [
                "BEGIN; SET LOCAL synchronous_commit = local; CREATE SCHEMA IF NOT EXISTS replication_check; " +
                    "CREATE TABLE IF NOT EXISTS replication_check.topology_change (at timestamptz PRIMARY KEY DEFAULT clock_timestamp(), primary_node text NOT NULL); " +
                    `INSERT INTO replication_check.topology_change (primary_node) VALUES (${quoteLiteral(n.node)}); COMMIT`,
            ],
            20_000,
        );
        return true as const;
    });
}

/**
 * Creates on the primary the slots the other nodes stream through (idempotent); a slot that was
 * invalidated (past max_slot_wal_keep_size) is dropped and created again. Returns the repaired ones.
 */
export async function ensureSlots(primary: NodeState, others: string[], cfg: ClusterConfig): Promise<string[]> {
    if (!cfg.slots) return [];
    const repaired: string[] = [];
    for (const node of others) {
        const invalid = await psql(primary.container, invalidSlotSql(node));
        if (invalid !== "") repaired.push(`${node} (${invalid})`);
        await psql(primary.container, createSlotSql(node));
    }
    return repaired;
}

/** {@link syncPolicySql} as separate statements: ALTER SYSTEM cannot run in a transaction block. */
function syncPolicyStatements(others: string[], cfg: ClusterConfig): string[] {
    return syncPolicySql(cfg, [...others].sort(compareNodes))
        .split("\n")
        .filter((l) => l.trim() !== "");
}

/** Points a standby at `primary` online: primary_conninfo is reloadable since PostgreSQL 13. */
export async function repoint(
    replica: NodeState,
    primary: string,
    cfg: ClusterConfig,
    sql: SqlRunner = dockerSql,
): Promise<void> {
    await sql.exec(replica, [
        `ALTER SYSTEM SET primary_conninfo = ${quoteLiteral(primaryConninfo(cfg, replica.node, primary))}`,
        "SELECT pg_reload_conf()",
    ]);
}

/**
 * Waits until each named node streams from `primary`, their containers named by `cluster`
 * (model/topology.ts clusterNodes): a streaming row in the primary's
 * pg_stat_replication AND the node's own server in recovery with its WAL receiver streaming. The
 * primary's row alone is not enough: pg_basebackup, while a node re-clones, streams under the same
 * application_name before the node's server even runs.
 */
export async function waitStreaming(
    cluster: NodeSpec[],
    primary: NodeState,
    nodes: string[],
    timeoutMs = 120_000,
    sql: SqlRunner = dockerSql,
): Promise<void> {
    const containers = nodes.map((n) => configuredNode(cluster, n).containerName);
    await waitFor(`${nodes.join(", ")} streaming from ${primary.node}`, timeoutMs, async () => {
        const rows = await sql.rows<{ application_name: string; state: string }>(
            primary,
            "SELECT application_name, state FROM pg_stat_replication",
        );
        const missing = nodes.filter((n) => !rows.some((r) => r.application_name === n && r.state === "streaming"));
        if (missing.length > 0) return `not streaming yet: ${missing.join(", ")}`;
        for (const [i, n] of nodes.entries()) {
            const receiver = await sql
                .rows<{ status: string }>(
                    { node: n, container: containers[i] },
                    "SELECT status FROM pg_stat_wal_receiver",
                    10_000,
                )
                .then((r) => r[0]?.status ?? "")
                .catch(() => "no answer");
            if (receiver !== "streaming") return `${n}'s WAL receiver is ${receiver || "not running"}`;
        }
        return true;
    });
}

/** What the entrypoint recorded about a node's last rejoin or re-clone. */
export interface RejoinRecord {
    method: string;
    at: string;
    seconds: string;
    /** WAL the node wrote after its history forked from the primary's, which pg_rewind threw away. */
    discarded?: { fromLsn: string; toLsn: string; transactions: number };
    /** Why it re-cloned instead of rewinding, when it did. */
    recloneReason?: string;
}

/** Parses the entrypoint's `pg-replication.last-rejoin` line: `method at seconds from to commits [reason…]`. */
export function parseRejoinRecord(line: string): RejoinRecord {
    const [method, at, seconds, from, to, commits, ...reason] = line.trim().split(/\s+/);
    const record: RejoinRecord = { method, at, seconds };
    if (from && from !== "-" && to && to !== "-")
        record.discarded = { fromLsn: from, toLsn: to, transactions: Number(commits) };
    if (reason.length > 0) record.recloneReason = reason.join(" ");
    return record;
}

/** What the entrypoint recorded about the node's last rejoin, or undefined. */
export async function lastRejoin(container: string): Promise<RejoinRecord | undefined> {
    const res = await execProgram(dockerArgv(container, ["exec", container, "cat", LAST_REJOIN]));
    if (res.code !== 0) return undefined;
    return parseRejoinRecord(res.stdout);
}

/** A line that says what a rejoin did, for the commands' logs. */
export function describeRejoin(node: string, r: RejoinRecord | undefined): string {
    if (!r) return `${node}: no rejoin record`;
    const parts = [`${node} rejoined with ${r.method} in ${r.seconds}`];
    if (r.recloneReason) parts.push(`re-cloned because ${r.recloneReason}`);
    if (r.discarded) {
        parts.push(
            r.discarded.fromLsn === r.discarded.toLsn
                ? `nothing it wrote after the fork at ${r.discarded.fromLsn} was lost`
                : `pg_rewind discarded WAL ${r.discarded.fromLsn}..${r.discarded.toLsn} (${r.discarded.transactions} committed transaction(s)) that the new primary never had`,
        );
    }
    return parts.join("; ");
}

/** Latest checkpoint LSN of a stopped node's data directory (pg_controldata in a throwaway container). */
export async function stoppedCheckpointLsn(container: string): Promise<string> {
    const mounts = JSON.parse(await docker(container, ["inspect", "-f", "{{json .Mounts}}", container])) as Array<{
        Name?: string;
        Destination: string;
    }>;
    const data = mounts.find((m) => m.Destination === PATHS.dataDir);
    if (!data?.Name) throw new OpsError(`${container} has no data volume at ${PATHS.dataDir}`);
    const image = await docker(container, ["inspect", "-f", "{{.Image}}", container]);
    // On the node's engine: its data volume is there.
    const out = await docker(container, [
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        `${data.Name}:${PATHS.dataDir}`,
        "--entrypoint",
        "pg_controldata",
        image,
        PATHS.dataDir,
    ]);
    const state = /Database cluster state:\s+(.+)/.exec(out)?.[1]?.trim();
    if (state !== "shut down") throw new OpsError(`${container} did not shut down cleanly (cluster state: ${state})`);
    const m = /Latest checkpoint location:\s+([0-9A-F]+\/[0-9A-F]+)/.exec(out);
    if (!m) throw new OpsError(`pg_controldata of ${container} shows no checkpoint location`);
    return m[1];
}

/**
 * Elapsed-time recorder for the commands' timing report. Times count from when the process started
 * (`performance.timeOrigin`), not from when the command got going: starting Node and loading the
 * command is part of what a user waits for.
 */
export class Timings {
    readonly steps: Array<{ step: string; atMs: number }> = [];
    /** Records `step` as done now, or at `atMs` (milliseconds since the process started). */
    mark(step: string, log: (line: string) => void, atMs = Math.round(performance.now())): void {
        this.steps.push({ step, atMs });
        log(`  ${(atMs / 1000).toFixed(2).padStart(7)}s  ${step}`);
    }
}
