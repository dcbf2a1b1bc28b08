// Shared helpers of the fault suite (tests/faults): a test's own cluster through the live harness,
// bounded process runs, queries with deadlines, a writer that records acknowledged ids, a monitor
// that watches for a second primary, and network facts read from Docker. Every wait has a deadline.
import { spawn } from "child_process";
import { Client, ClientConfig } from "pg";
import { parseLsn } from "../../client/lsn";
import { Ack, CommitWriter } from "../../ops/ack-writer";
import { eventually, forceCleanup, live, localSuperuser, ROOT } from "./live-client";

export const IMAGE = "pg-replication/postgres:17-local";

/** One test file's cluster: its own stack name, subnet, port block and passwords. */
export interface FaultCluster {
    stack: string;
    subnet: string;
    base: number;
    password: string;
    replPassword: string;
    replicas: number;
    /** Extra `key=value` config of this cluster (syncMode, pooler, …). */
    config: string[];
}

export function faultCluster(opts: {
    stack: string;
    subnet: string;
    base: number;
    password: string;
    replPassword: string;
    replicas?: number;
    config?: string[];
}): FaultCluster {
    return { replicas: 2, config: [], ...opts };
}

/** Node names pg1 … pg<replicas+1>. */
export function nodes(c: FaultCluster): string[] {
    return Array.from({ length: c.replicas + 1 }, (_, i) => `pg${i + 1}`);
}

export function nodePort(c: FaultCluster, node: string): number {
    return c.base + Number(node.slice(2)) - 1;
}

export function containerOf(c: FaultCluster, node: string): string {
    return `${c.stack}-${node}`;
}

export function networkOf(c: FaultCluster): string {
    return `${c.stack}-net`;
}

/** `--stack S --config k=v …` for `npm run live -- up`. */
export function upArgs(c: FaultCluster, extra: string[] = []): string[] {
    const config = [
        `subnet=${c.subnet}`,
        `hostPortBase=${c.base}`,
        `image=${IMAGE}`,
        "pullImage=false",
        `superuserPassword=${c.password}`,
        `replicationPassword=${c.replPassword}`,
        `replicas=${c.replicas}`,
        ...c.config,
        ...extra,
    ];
    return ["up", "--stack", c.stack, ...config.flatMap((kv) => ["--config", kv])];
}

/** Deploys (or updates) the cluster; fails with the harness's output. Bounded. */
export async function deploy(c: FaultCluster, extra: string[] = [], timeoutMs = 240_000): Promise<void> {
    const res = await withDeadline(`live up ${c.stack}`, timeoutMs, live(upArgs(c, extra)));
    if (res.code !== 0) throw new Error(`live up --stack ${c.stack} exited ${res.code}:\n${res.stderr.slice(-4000)}`);
}

/** Removes the cluster whatever state it is in (harness down, bounded, then a forced cleanup). */
export async function teardown(c: FaultCluster): Promise<void> {
    await withDeadline(`live down ${c.stack}`, 120_000, live(["down", "--stack", c.stack])).catch(() => undefined);
    await forceCleanup(c.stack);
}

/** Rejects when `p` does not settle within `ms` (the underlying work is not cancelled). */
export function withDeadline<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export interface ExecResult {
    code: number;
    stdout: string;
    stderr: string;
    ms: number;
    timedOut: boolean;
}

/** Runs a program (no shell), killing it (SIGKILL, the process we started) after `timeoutMs`. */
export function exec(
    argv: string[],
    timeoutMs = 60_000,
    opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env });
        let stdout = "";
        let stderr = "";
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
        }, timeoutMs);
        child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
        child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.stdin.on("error", () => undefined);
        child.stdin.end();
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code: timedOut ? -1 : (code ?? 1), stdout, stderr, ms: Date.now() - started, timedOut });
        });
    });
}

/** `docker …`, failing with its stderr on a non-zero exit. */
export async function docker(args: string[], timeoutMs = 60_000): Promise<string> {
    const res = await exec(["docker", ...args], timeoutMs);
    if (res.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${res.code}: ${res.stderr.trim()}`);
    return res.stdout.trim();
}

export type Script = "failover" | "switchover" | "rejoin" | "lag" | "status" | "backup" | "backups" | "restore-point";

/** Runs scripts/<name>.ts with exactly these arguments (as `npm run -s <name> -- …`). */
export function script(name: Script, argv: string[], timeoutMs = 60_000): Promise<ExecResult> {
    return exec(
        [process.execPath, "-r", `${ROOT}/scripts/register-ts.js`, `${ROOT}/scripts/${name}.ts`, ...argv],
        timeoutMs,
    );
}

/** Runs a topology command on the cluster: `--stack S --live --json …`. */
export function ops(
    c: FaultCluster,
    name: Exclude<Script, "lag" | "status">,
    args: string[],
    timeoutMs = 150_000,
): Promise<ExecResult> {
    return script(name, ["--stack", c.stack, "--live", "--json", ...args], timeoutMs);
}

/** Describes a command's result for an assertion message. */
export function describeRun(what: string, r: ExecResult): string {
    const status = r.timedOut ? `killed after ${r.ms} ms (no exit)` : `exit ${r.code} after ${r.ms} ms`;
    return `${what}: ${status}\n--- stdout ---\n${r.stdout.slice(-3000)}\n--- stderr ---\n${r.stderr.slice(-5000)}`;
}

/** Fails with the command's output unless it exited 0. */
export function expectOk(what: string, r: ExecResult): void {
    if (r.code !== 0) throw new Error(describeRun(what, r));
}

/** A client to a node (or endpoint) published on 127.0.0.1, with connect and query deadlines. */
export function clientFor(port: number, password: string, extra: Partial<ClientConfig> = {}): Client {
    const client = new Client({
        ...localSuperuser(port, password, { query_timeout: 20_000 }),
        ...extra,
    });
    client.on("error", () => undefined); // a server that goes away must not crash the test process
    return client;
}

/** Closes a client without waiting more than a few seconds on a dead connection. */
export async function endQuietly(client: Client): Promise<void> {
    await withDeadline("client end", 3000, client.end()).catch(() => undefined);
}

/** One query on a published port as the superuser; bounded. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows are JSON
export async function query<T = any>(
    port: number,
    password: string,
    text: string,
    params: unknown[] = [],
    extra: Partial<ClientConfig> = {},
): Promise<T[]> {
    const client = clientFor(port, password, extra);
    try {
        await client.connect();
        return (await client.query(text, params)).rows as T[];
    } finally {
        await endQuietly(client);
    }
}

/** One query on node `node` of the cluster through its published port. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows are JSON
export function q<T = any>(c: FaultCluster, node: string, text: string, params: unknown[] = []): Promise<T[]> {
    return query<T>(nodePort(c, node), c.password, text, params);
}

/** psql inside a node container as the postgres OS user (socket, peer auth); unaligned tuples. */
export async function psqlIn(container: string, sql: string, timeoutMs = 30_000): Promise<string> {
    const res = await exec(
        [
            "docker",
            "exec",
            "-u",
            "postgres",
            container,
            "psql",
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            "postgres",
            "-c",
            sql,
        ],
        timeoutMs,
    );
    if (res.code !== 0) throw new Error(`psql in ${container} exited ${res.code}: ${res.stderr.trim()}`);
    return res.stdout.trim();
}

export async function isRunning(c: FaultCluster, node: string): Promise<boolean> {
    const res = await exec(["docker", "inspect", "-f", "{{.State.Running}}", containerOf(c, node)], 20_000);
    return res.stdout.trim() === "true";
}

/** pg_is_in_recovery() of every node answering on its published port (null: no answer). */
export async function recoveryStates(c: FaultCluster, connectMs = 1500): Promise<Record<string, boolean | null>> {
    const entries = await Promise.all(
        nodes(c).map(async (n): Promise<[string, boolean | null]> => {
            try {
                const [row] = await query(nodePort(c, n), c.password, "SELECT pg_is_in_recovery() AS r", [], {
                    connectionTimeoutMillis: connectMs,
                    query_timeout: 5000,
                });
                return [n, row.r as boolean];
            } catch {
                return [n, null];
            }
        }),
    );
    return Object.fromEntries(entries);
}

/** Nodes that answer pg_is_in_recovery() = false now. */
export async function writableNodes(c: FaultCluster): Promise<string[]> {
    const states = await recoveryStates(c);
    return Object.entries(states)
        .filter(([, r]) => r === false)
        .map(([n]) => n);
}

/** application_name → state of the primary's pg_stat_replication. */
export async function streamingFrom(c: FaultCluster, primary: string): Promise<Record<string, string>> {
    const rows = await q<{ application_name: string; state: string }>(
        c,
        primary,
        "SELECT application_name, state FROM pg_stat_replication",
    );
    return Object.fromEntries(rows.map((r) => [r.application_name, r.state]));
}

/**
 * Waits (bounded) until exactly one node accepts writes and every other named node streams from it;
 * returns the primary.
 */
export async function waitHealthy(c: FaultCluster, timeoutMs: number, expectedPrimary?: string): Promise<string> {
    let primary = "";
    await eventually("one primary with every other node streaming", timeoutMs, async () => {
        const w = await writableNodes(c);
        if (w.length !== 1) return `writable: [${w.join(", ")}]`;
        if (expectedPrimary && w[0] !== expectedPrimary) return `primary is ${w[0]}, expected ${expectedPrimary}`;
        const s = await streamingFrom(c, w[0]);
        const missing = nodes(c).filter((n) => n !== w[0] && s[n] !== "streaming");
        if (missing.length > 0) return `primary ${w[0]}; not streaming: ${missing.join(", ")} (${JSON.stringify(s)})`;
        primary = w[0];
        return true;
    });
    return primary;
}

/** Received (flushed) WAL position of each running standby, as a number; the most advanced first. */
export async function standbysByReceivedLsn(
    c: FaultCluster,
    except: string[],
): Promise<Array<{ node: string; lsn: string; value: bigint }>> {
    const out: Array<{ node: string; lsn: string; value: bigint }> = [];
    for (const n of nodes(c).filter((x) => !except.includes(x))) {
        try {
            const [row] = await q(c, n, "SELECT pg_is_in_recovery() AS r, pg_last_wal_receive_lsn()::text AS lsn");
            if (row.r && row.lsn) out.push({ node: n, lsn: row.lsn, value: lsnValue(row.lsn) });
        } catch {
            // not answering: not a candidate
        }
    }
    return out.sort((a, b) => (a.value === b.value ? 0 : a.value > b.value ? -1 : 1));
}

/** An LSN's 64-bit position (client/lsn.ts: the one parser). */
export const lsnValue = parseLsn;

export const LSN = /^[0-9A-F]+\/[0-9A-F]+$/;

/**
 * The fault suites' writer (ops/ack-writer.ts's {@link CommitWriter}): autocommit rows with increasing
 * ids (and this round's number) into whichever port `target()` names, recording every id whose INSERT
 * returned (acknowledged). Several sessions, bounded by rows and time; reconnects after errors.
 */
export class Writer {
    private writer?: CommitWriter<number>;
    private nextId: number;

    constructor(
        private readonly table: string,
        private readonly password: string,
        firstId: number,
        private readonly round: number,
    ) {
        this.nextId = firstId;
    }

    /** Starts `sessions` concurrent sessions (each one autocommit INSERT at a time), all bounded. */
    start(target: () => number, maxRows = 50_000, maxMs = 120_000, sessions = 4): void {
        this.writer = new CommitWriter({
            endpoint: target,
            client: (port) => clientFor(port, this.password, { connectionTimeoutMillis: 1500, query_timeout: 10_000 }),
            table: this.table,
            columns: { round: this.round },
            firstId: this.nextId,
            sessions,
            maxRows,
            maxMs,
        });
        this.writer.start();
    }

    /** Ids the server acknowledged, in order. */
    get acked(): readonly number[] {
        return this.writer?.acked ?? [];
    }

    /** The same acknowledgements with their times (Date.now()), parallel to {@link acked}. */
    get acks(): readonly Ack<number>[] {
        return this.writer?.acks ?? [];
    }

    get errors(): number {
        return this.writer?.errors ?? 0;
    }

    get lastError(): string {
        return this.writer?.lastError ?? "";
    }

    /** When the first acknowledgement at or after `t` came, or undefined. */
    firstAckAfter(t: number): number | undefined {
        return this.writer?.firstAck((a) => a.at >= t)?.at;
    }

    /** Next id the writer would use (ids are never reused, acknowledged or not). */
    get next(): number {
        return this.writer?.next ?? this.nextId;
    }

    async stop(): Promise<void> {
        await withDeadline("writer stop", 30_000, this.writer?.stop() ?? Promise.resolve());
    }
}

/** Polls every node while running and records any moment when more than one accepts writes. */
export class SplitBrainMonitor {
    readonly violations: string[] = [];
    samples = 0;
    private stopped = false;
    private done: Promise<void> = Promise.resolve();

    constructor(private readonly c: FaultCluster) {}

    start(maxMs = 600_000): void {
        const deadline = Date.now() + maxMs;
        this.done = (async () => {
            while (!this.stopped && Date.now() < deadline) {
                const w = await writableNodes(this.c);
                this.samples++;
                if (w.length > 1) this.violations.push(`${new Date().toISOString()}: ${w.join(" and ")} accept writes`);
                await new Promise((r) => setTimeout(r, 300));
            }
        })();
    }

    async stop(): Promise<void> {
        this.stopped = true;
        await withDeadline("split-brain monitor stop", 30_000, this.done);
    }
}

/** A container's IPv4 address and aliases on a network, as Docker reports them. */
export async function networkEndpoint(container: string, network: string): Promise<{ ip: string; aliases: string[] }> {
    const json = await docker(["inspect", "-f", "{{json .NetworkSettings.Networks}}", container]);
    const nets = JSON.parse(json) as Record<
        string,
        { IPAddress?: string; Aliases?: string[] | null; DNSNames?: string[] | null }
    >;
    const ep = nets[network];
    if (!ep)
        throw new Error(
            `${container} is not attached to ${network} (networks: ${Object.keys(nets).join(", ") || "none"})`,
        );
    return { ip: ep.IPAddress ?? "", aliases: ep.Aliases ?? [] };
}

/** Every node's IPv4 address on the cluster network (running containers only; "" when stopped). */
export async function nodeAddresses(c: FaultCluster): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const n of nodes(c)) {
        try {
            out[n] = (await networkEndpoint(containerOf(c, n), networkOf(c))).ip;
        } catch {
            out[n] = "";
        }
    }
    return out;
}

/** One figure line for the lead's report, on stderr. */
export function figure(data: Record<string, unknown>): void {
    console.error(JSON.stringify({ faultFigure: true, ...data }));
}

/** Row count of a table on a node (through its published port). */
export async function count(c: FaultCluster, node: string, table: string): Promise<number> {
    const [row] = await q(c, node, `SELECT count(*)::int AS n FROM ${table}`);
    return row.n as number;
}

export { eventually };

/** What one kill -9 / failover / rejoin round saw. */
export interface RoundResult {
    round: number;
    killed: string;
    promoted: string;
    candidates: Array<{ node: string; lsn: string }>;
    acked: number;
    present: number;
    lost: number;
    lostIds: number[];
    /** Lost ids whose acknowledgement came after the kill: from the new primary. Must be none. */
    lostAckedAfterKill: number[];
    /** How long before the kill the earliest lost commit was acknowledged; null when none was lost. */
    lostWindowMs: number | null;
    failover: ExecResult;
    failoverMs: number;
    /** From the SIGKILL to the first write acknowledged by the new primary. */
    writeGapMs: number | null;
    rejoin?: ExecResult;
    rejoinMs: number | null;
    splitBrain: string[];
    monitorSamples: number;
    writerErrors: number;
    healthyAfter: string;
}

/** The standbys by received position once their positions stop moving (they have all a killed primary sent). */
async function settledStandbys(c: FaultCluster, killed: string): Promise<Array<{ node: string; lsn: string }>> {
    let candidates = await standbysByReceivedLsn(c, [killed]);
    for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const again = await standbysByReceivedLsn(c, [killed]);
        const same =
            again.length === candidates.length &&
            again.every((a) => candidates.some((b) => b.node === a.node && b.lsn === a.lsn));
        candidates = again;
        if (same) break;
    }
    return candidates;
}

/** Which acknowledged ids the new primary lacks (`present` holds its ids), and when they were acknowledged. */
function lostCommits(
    writer: Writer,
    present: Set<number>,
    killedAt: number,
): Pick<RoundResult, "present" | "lost" | "lostIds" | "lostAckedAfterKill" | "lostWindowMs"> {
    const lostIds = writer.acked.filter((id) => !present.has(id));
    // When each lost commit was acknowledged: only the old primary, before it died, can have lost one.
    const ackedAt = new Map(writer.acks.map((a) => [a.id, a.at]));
    const lostAt = lostIds.map((id) => ackedAt.get(id) as number);
    return {
        present: writer.acked.length - lostIds.length,
        lost: lostIds.length,
        lostIds: lostIds.slice(0, 50),
        lostAckedAfterKill: lostIds.filter((_, i) => lostAt[i] > killedAt),
        lostWindowMs: lostAt.length === 0 ? null : killedAt - Math.min(...lostAt),
    };
}

/**
 * One round: a writer on the primary's published port, `docker kill` (SIGKILL) of the primary's
 * container, failover to the most advanced standby, the writer moved there, acknowledged ids
 * checked on the new primary, then `rejoin` of the killed node. Command failures are returned,
 * not thrown, so that the caller can print the figures before asserting.
 */
export async function killFailoverRejoinRound(
    c: FaultCluster,
    table: string,
    round: number,
    firstId: number,
): Promise<RoundResult> {
    const killed = await waitHealthy(c, 45_000);
    const monitor = new SplitBrainMonitor(c);
    const writer = new Writer(table, c.password, firstId, round);
    let target = nodePort(c, killed);
    monitor.start(400_000);
    const result: RoundResult = {
        round,
        killed,
        promoted: "",
        candidates: [],
        acked: 0,
        present: 0,
        lost: 0,
        lostIds: [],
        lostAckedAfterKill: [],
        lostWindowMs: null,
        failover: { code: -1, stdout: "", stderr: "", ms: 0, timedOut: false },
        failoverMs: 0,
        writeGapMs: null,
        rejoinMs: null,
        splitBrain: [],
        monitorSamples: 0,
        writerErrors: 0,
        healthyAfter: "",
    };
    try {
        writer.start(() => target, 100_000, 180_000);
        await eventually(
            "writes flowing on the primary",
            30_000,
            () => writer.acked.length >= 1000 || `acked ${writer.acked.length} (${writer.lastError})`,
        );
        await docker(["kill", containerOf(c, killed)]);
        const killedAt = Date.now();
        const candidates = await settledStandbys(c, killed);
        result.candidates = candidates.map(({ node, lsn }) => ({ node, lsn }));
        if (candidates.length === 0) throw new Error(`round ${round}: no standby answers after killing ${killed}`);
        const to = candidates[0].node;
        result.promoted = to;
        result.failover = await ops(c, "failover", ["--to", to], 90_000);
        result.failoverMs = result.failover.ms;
        if (result.failover.code === 0) {
            const before = writer.acked.length;
            target = nodePort(c, to);
            await eventually(
                "writes acknowledged by the new primary",
                30_000,
                () =>
                    writer.acked.length > before + 200 ||
                    `acked ${writer.acked.length - before} since (${writer.lastError})`,
            ).catch(() => undefined);
            const first = writer.firstAckAfter(killedAt);
            result.writeGapMs = first === undefined ? null : first - killedAt;
        }
        await writer.stop();
        result.acked = writer.acked.length;
        result.writerErrors = writer.errors;
        if (result.failover.code !== 0) return result;

        const rows = await q<{ id: string }>(c, to, `SELECT id FROM ${table} WHERE round = $1`, [round]);
        Object.assign(result, lostCommits(writer, new Set(rows.map((r) => Number(r.id))), killedAt));

        result.rejoin = await ops(c, "rejoin", ["--node", killed], 120_000);
        result.rejoinMs = result.rejoin.ms;
        if (result.rejoin.code === 0) {
            result.healthyAfter = await waitHealthy(c, 60_000, to).catch((err: Error) => `not healthy: ${err.message}`);
        }
        return result;
    } finally {
        await writer.stop().catch(() => undefined);
        await monitor.stop().catch(() => undefined);
        result.splitBrain = monitor.violations;
        result.monitorSamples = monitor.samples;
    }
}

/** The figures of a round as one JSON line (no command output). */
export function roundFigures(
    kind: string,
    r: RoundResult,
    extra: Record<string, unknown> = {},
): Record<string, unknown> {
    return {
        case: kind,
        round: r.round,
        killed: r.killed,
        promoted: r.promoted,
        candidates: r.candidates,
        acked: r.acked,
        present: r.present,
        lost: r.lost,
        lostWindowMs: r.lostWindowMs,
        failoverExit: r.failover.code,
        failoverMs: r.failoverMs,
        writeGapMs: r.writeGapMs,
        rejoinExit: r.rejoin?.code ?? null,
        rejoinMs: r.rejoinMs,
        secondPrimarySeen: r.splitBrain.length,
        monitorSamples: r.monitorSamples,
        writerErrors: r.writerErrors,
        ...extra,
    };
}

/** A slot as pg_replication_slots shows it. */
export interface SlotRow {
    slot_name: string;
    active: boolean;
    wal_status: string | null;
    invalidation_reason?: string | null;
    restart_lsn: string | null;
}

export async function slotRow(c: FaultCluster, primary: string, slot: string): Promise<SlotRow | undefined> {
    const [row] = await q<SlotRow>(
        c,
        primary,
        "SELECT slot_name, active, wal_status, invalidation_reason, restart_lsn::text AS restart_lsn FROM pg_replication_slots WHERE slot_name = $1",
        [slot],
    );
    return row;
}

/**
 * Writes on the primary (rows into `table`, a WAL segment switch after each batch, a CHECKPOINT
 * every few) until `slot` is invalidated: wal_status 'lost'. Bounded by rounds and time. Returns the
 * slot row and how much was written.
 */
export async function driveSlotLost(
    c: FaultCluster,
    primary: string,
    slot: string,
    table: string,
    timeoutMs = 120_000,
): Promise<{ slot: SlotRow | undefined; rows: number; switches: number; ms: number }> {
    const started = Date.now();
    let rows = 0;
    let switches = 0;
    let slotNow: SlotRow | undefined;
    for (let i = 0; i < 60 && Date.now() - started < timeoutMs; i++) {
        await q(
            c,
            primary,
            `INSERT INTO ${table} (payload) SELECT repeat(md5(g::text), 8) FROM generate_series(1, 2000) g`,
        );
        rows += 2000;
        await q(c, primary, "SELECT pg_switch_wal()");
        switches++;
        if (i % 2 === 1) await q(c, primary, "CHECKPOINT");
        slotNow = await slotRow(c, primary, slot);
        if (slotNow?.wal_status === "lost") break;
    }
    return { slot: slotNow, rows, switches, ms: Date.now() - started };
}

/** The last JSON document a command printed on stdout (--json), or undefined. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the command's JSON
export function jsonOf(r: ExecResult): Record<string, any> | undefined {
    const lines = r.stdout
        .trim()
        .split("\n")
        .filter((l) => l.trim().startsWith("{"));
    for (const line of lines.reverse()) {
        try {
            return JSON.parse(line);
        } catch {
            // not JSON
        }
    }
    try {
        return JSON.parse(r.stdout);
    } catch {
        return undefined;
    }
}

/** What `npm run backups -- --json` says about a live stack's repository. */
export interface BackupListing {
    backups: Array<{ label: string; type: string; walStart: string; walStop: string }>;
    archive?: { min: string; max: string };
    restoreWindow: { earliest: string | null; latest: string | null };
}

/** The backups of live stack `stack` (`npm run backups -- --json`); fails when it prints no JSON. */
export async function backupListing(stack: string): Promise<BackupListing> {
    const r = await script("backups", ["--stack", stack, "--live", "--json"], 60_000);
    const parsed = jsonOf(r);
    if (!parsed) throw new Error(`backups printed no JSON (exit ${r.code}): ${r.stderr}`);
    return parsed as BackupListing;
}
