// ReplicaRouter: writes to the primary, reads round-robin over healthy replicas, optional
// read-your-writes by WAL position. Semantics are documented in docs/operations.md ("Read scaling from
// applications"); options and result types are in options.ts, the pure parts in lsn.ts, health.ts,
// select.ts, hosts.ts and errors.ts; nodes with several hosts connect through multihost.ts.
import { Pool, PoolClient, QueryResult, QueryResultRow } from "pg";
import {
    asError,
    classifyError,
    errorMessage,
    isReadOnlyError,
    NoHealthyReplicaError,
    RouterClosedError,
} from "./errors";
import { decideReplicaHealth, LsnSample, PrimaryStatus, recordPrimaryLsn, ReplicaProbe, ReplicaStatus } from "./health";
import type { NodeHosts } from "./hosts";
import { compareLsn, isLsn, Lsn, maxLsn } from "./lsn";
import { isHostFailure, isPlainNode, MultiHostPool, NodePool } from "./multihost";
import {
    nodeHosts,
    nodeNames,
    ReadOptions,
    ReadResult,
    ReplicaRouterOptions,
    ResolvedOptions,
    resolveOptions,
    RouterStatus,
    WriteResult,
} from "./options";
import { NodeProbe } from "./probe";
import { rotation } from "./select";

const RYW_POLL_MS = 10;
// Lag history kept for the seconds bound; see recordPrimaryLsn for why older samples still count.
const MIN_HISTORY_MS = 60_000;

// CASE: pg_current_wal_lsn() raises an error during recovery; a demoted primary must be reported,
// not fail the probe.
const PRIMARY_PROBE_SQL =
    "SELECT pg_is_in_recovery() AS in_recovery, CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS lsn";
const REPLICA_PROBE_SQL = "SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replay_lsn";
// Insert position: past the end of every record inserted so far, including the commit just made.
const INSERT_LSN_SQL = "SELECT pg_current_wal_insert_lsn()::text AS lsn";

interface Node {
    name: string;
    pool: NodePool;
    probe: NodeProbe;
}
interface Replica extends Node {
    status: ReplicaStatus;
    /** When a failed read took it out; a probe that started earlier must not put it back. */
    downSince: number;
}
type ReplayRow = { in_recovery: boolean; replay_lsn: string | null };
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

const settle = <T>(p: Promise<T>): Promise<Settled<T>> =>
    p.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
    );
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A checked-out connection; `release` hands it back (or destroys it after an error). */
interface Lease {
    client: PoolClient;
    release(err?: unknown): void;
}

/**
 * Checks a connection out with an 'error' listener for as long as it is out. pg emits 'error' on
 * a client whose server goes away between two queries (e.g. a FATAL right behind a query's last
 * reply during a fast shutdown), and pg-pool listens only while the client is idle in the pool:
 * without this, a replica shutting down could crash the application. The dead connection's next
 * query fails with a connection error, which the callers handle; on release it is destroyed.
 */
async function lease(pool: NodePool): Promise<Lease> {
    const client = await pool.connect();
    let broken: Error | undefined;
    const onError = (err: Error) => {
        broken = err;
    };
    client.on("error", onError);
    return {
        client,
        release(err?: unknown) {
            client.removeListener("error", onError);
            client.release(err === undefined ? broken : asError(err));
        },
    };
}

/**
 * Routes queries over a primary and its streaming replicas. Create one per application (it owns
 * the connection pools), and `close()` it at shutdown.
 */
export class ReplicaRouter {
    private readonly primary: Node & { status: PrimaryStatus };
    private readonly replicas: Replica[];
    private readonly opts: ResolvedOptions;
    private readonly retentionMs: number;
    private readonly firstRound: Promise<void>;
    private history: LsnSample[] = [];
    private cursor = 0;
    private lastWriteLsn: Lsn | null = null;
    // Writes whose LSN could not be read (connection lost after/while committing); resolved lazily.
    private unknownLsnWrites = 0;
    private resolvedUnknownWrites = 0;
    private timer: NodeJS.Timeout | undefined;
    private currentRound: Promise<void>;
    private closing: Promise<void> | undefined;

    constructor(options: ReplicaRouterOptions) {
        this.opts = resolveOptions(options);
        this.retentionMs = Math.max(MIN_HISTORY_MS, 2 * 1000 * (this.opts.maxLagSeconds ?? 0));
        const names = nodeNames([options.primary, ...options.replicas]);
        // Every node's hosts first: a bad host list throws before any pool exists.
        const [primaryHosts, ...replicaHosts] = [options.primary, ...options.replicas].map((config, i) =>
            nodeHosts(config, names[i], this.opts.connectTimeoutMs),
        );
        const makeNode = (hosts: NodeHosts, name: string): Node => ({
            name,
            pool: isPlainNode(hosts) ? plainPool(hosts) : new MultiHostPool(hosts),
            probe: new NodeProbe(hosts, this.opts.connectTimeoutMs),
        });
        const [primaryName, ...replicaNames] = names;
        this.primary = {
            ...makeNode(primaryHosts, primaryName),
            status: { name: primaryName, healthy: false, reason: "not checked yet", lsn: null, lastCheckedAt: null },
        };
        this.replicas = replicaHosts.map((hosts, i) => {
            const name = replicaNames[i];
            const status: ReplicaStatus = {
                name,
                healthy: false,
                reason: "not checked yet",
                lagBytes: null,
                lagSeconds: null,
                replayLsn: null,
                lastCheckedAt: null,
            };
            return { ...makeNode(hosts, name), status, downSince: 0 };
        });
        this.firstRound = this.currentRound = this.runRound();
    }

    /** Resolves when the first health round has finished (reads wait for it by themselves). */
    ready(): Promise<void> {
        return this.firstRound;
    }

    /**
     * Runs one statement on the primary, in autocommit mode, and records the primary's WAL insert
     * position right after it (same connection) for read-your-writes. Not retried on failure: a
     * write may have committed even when its connection broke. For a multi-statement transaction
     * use {@link transaction}: a `BEGIN` sent through write() would leave a pooled connection
     * inside the transaction.
     */
    async write<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<WriteResult<R>> {
        this.assertOpen();
        const conn = await lease(this.primary.pool);
        let result: QueryResult<R>;
        try {
            result = await conn.client.query<R>(text, params);
        } catch (err) {
            this.afterFailedWrite(conn, err);
            throw err;
        }
        return Object.assign(result, { lsn: await this.lsnAfterWrite(conn) });
    }

    /** Same as {@link write}: a statement on the primary, tracked for read-your-writes. */
    query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<WriteResult<R>> {
        return this.write<R>(text, params);
    }

    /**
     * Runs `fn` inside BEGIN … COMMIT on one primary connection (ROLLBACK if it throws) and
     * records the WAL position after the commit, like {@link write}. `fn` must not release the client.
     */
    async transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<{ value: T; lsn: Lsn | null }> {
        this.assertOpen();
        const conn = await lease(this.primary.pool);
        let value: T;
        try {
            await conn.client.query("BEGIN");
            value = await fn(conn.client);
            await conn.client.query("COMMIT");
        } catch (err) {
            if (classifyError(err) === "connection") {
                this.afterFailedWrite(conn, err);
            } else {
                if (isReadOnlyError(err)) this.primaryHostFailed(conn);
                // ROLLBACK fails too when the connection is gone; then it is destroyed, not pooled.
                await conn.client.query("ROLLBACK").then(
                    () => conn.release(),
                    (rollbackErr: unknown) => conn.release(rollbackErr),
                );
            }
            throw err;
        }
        return { value, lsn: await this.lsnAfterWrite(conn) };
    }

    /**
     * Runs a read-only statement on a replica (see {@link ReadOptions} for which one). A replica
     * whose connection fails is taken out of rotation and the read is retried on the next one,
     * then on the primary, so only send statements that are safe to run twice (SELECTs).
     * Other errors (syntax, permissions, a recovery conflict) are thrown as they are.
     */
    async read<R extends QueryResultRow = QueryResultRow>(
        text: string,
        params?: unknown[],
        options: ReadOptions = {},
    ): Promise<ReadResult<R>> {
        this.assertOpen();
        await this.firstRound;
        this.assertOpen();
        const minLsn = options.consistency === "read-your-writes" ? await this.readYourWritesLsn(options.minLsn) : null;
        const deadline = Date.now() + this.opts.readYourWritesWaitMs;
        const cursor = this.cursor;
        this.cursor = (this.cursor + 1) % Number.MAX_SAFE_INTEGER;
        for (const replica of rotation(
            this.replicas.filter((r) => r.status.healthy),
            cursor,
        )) {
            const result = await this.readOnReplica<R>(replica, text, params, minLsn, deadline);
            if (result) return result;
        }
        // A read-your-writes read may always use the primary: it is the one node sure to have the write.
        if (minLsn === null && !this.opts.fallbackToPrimary) throw new NoHealthyReplicaError(this.status().replicas);
        const result = await this.primary.pool.query<R>(text, params);
        return Object.assign(result, { servedBy: { role: "primary" as const, name: this.primary.name } });
    }

    /** Per-node health and the last write position, as copies. */
    status(): RouterStatus {
        return {
            primary: { ...this.primary.status },
            replicas: this.replicas.map((r) => ({ ...r.status })),
            lastWriteLsn: this.lastWriteLsn,
        };
    }

    /** Stops the health loop and ends every pool and probe connection. Idempotent. */
    close(): Promise<void> {
        this.closing ??= (async () => {
            clearTimeout(this.timer);
            await this.currentRound;
            await Promise.all(
                [this.primary, ...this.replicas].map(async (n) => {
                    await n.probe.close();
                    await n.pool.end();
                }),
            );
        })();
        return this.closing;
    }

    private assertOpen(): void {
        if (this.closing) throw new RouterClosedError();
    }

    private schedule(): void {
        if (this.closing) return;
        this.timer = setTimeout(() => {
            this.currentRound = this.runRound();
        }, this.opts.healthIntervalMs);
        // The health loop alone must not keep an application's process alive.
        this.timer.unref();
    }

    /** A round, then the next one scheduled. Never rejects: it runs from a timer. */
    private async runRound(): Promise<void> {
        try {
            await this.round();
        } catch (err) {
            // A bug in a decision, not a node failure: keep routing safe (primary only) and visible.
            const now = Date.now();
            for (const r of this.replicas) this.setHealth(r, false, `health round failed: ${errorMessage(err)}`, now);
        }
        this.schedule();
    }

    /** One health round: the primary and every replica probed in parallel. */
    private async round(): Promise<void> {
        const startedAt = Date.now();
        const [primary, replicas] = await Promise.all([
            settle(this.primary.probe.row<{ in_recovery: boolean; lsn: string | null }>(PRIMARY_PROBE_SQL)),
            Promise.all(this.replicas.map((r) => settle(r.probe.row<ReplayRow>(REPLICA_PROBE_SQL)))),
        ]);
        if (this.closing) return;
        const now = Date.now();
        const p = this.primary.status;
        p.lastCheckedAt = new Date(now);
        if (!primary.ok) Object.assign(p, { healthy: false, reason: `unreachable: ${errorMessage(primary.error)}` });
        else if (primary.value.in_recovery || primary.value.lsn === null) {
            Object.assign(p, { healthy: false, reason: "in recovery: not a primary" });
        } else {
            Object.assign(p, { healthy: true, reason: "ok", lsn: primary.value.lsn });
            this.history = recordPrimaryLsn(this.history, primary.value.lsn, now, this.retentionMs);
        }
        this.replicas.forEach((replica, i) => {
            const res = replicas[i];
            const probe: ReplicaProbe = res.ok
                ? { ok: true, inRecovery: res.value.in_recovery, replayLsn: res.value.replay_lsn }
                : { ok: false, error: errorMessage(res.error) };
            const bounds = { maxLagBytes: this.opts.maxLagBytes, maxLagSeconds: this.opts.maxLagSeconds };
            const decision = decideReplicaHealth(probe, this.history, bounds, now);
            // A probe that answered before a read saw the connection fail is stale.
            if (decision.healthy && replica.downSince >= startedAt) return;
            this.setHealth(replica, decision.healthy, decision.reason, now, {
                lagBytes: decision.lagBytes,
                lagSeconds: decision.lagSeconds,
                replayLsn: probe.ok ? probe.replayLsn : replica.status.replayLsn,
            });
        });
    }

    private setHealth(
        replica: Replica,
        healthy: boolean,
        reason: string,
        now: number,
        extra: Partial<ReplicaStatus> = {},
    ): void {
        const changed = replica.status.healthy !== healthy;
        Object.assign(replica.status, extra, { healthy, reason, lastCheckedAt: new Date(now) });
        if (changed && this.opts.onHealthChange) {
            try {
                this.opts.onHealthChange({ ...replica.status });
            } catch {
                // An observer's bug must not break routing.
            }
        }
    }

    private markDown(replica: Replica, reason: string): void {
        const now = Date.now();
        replica.downSince = now;
        this.setHealth(replica, false, reason, now);
    }

    /** The read on one replica, or null when it cannot serve it (and the next node should). */
    private async readOnReplica<R extends QueryResultRow>(
        replica: Replica,
        text: string,
        params: unknown[] | undefined,
        minLsn: Lsn | null,
        deadline: number,
    ): Promise<ReadResult<R> | null> {
        let conn: Lease;
        try {
            conn = await lease(replica.pool);
        } catch (err) {
            // Nothing ran, so any connect failure is safe to route around; only "busy" keeps it in rotation.
            if (classifyError(err) !== "busy")
                this.markDown(replica, `connect failed during a read: ${errorMessage(err)}`);
            return null;
        }
        try {
            if (minLsn !== null && !(await this.hasReplayed(replica, conn.client, minLsn, deadline))) {
                conn.release();
                return null;
            }
            const result = await conn.client.query<R>(text, params);
            conn.release();
            return Object.assign(result, { servedBy: { role: "replica" as const, name: replica.name } });
        } catch (err) {
            const connectionLost = classifyError(err) === "connection";
            conn.release(connectionLost ? err : undefined);
            if (!connectionLost) throw err;
            this.markDown(replica, `connection lost during a read: ${errorMessage(err)}`);
            return null;
        }
    }

    /**
     * True when the replica behind `client` has replayed `minLsn`, checked on that connection so
     * that the read which follows (a new snapshot on the same server) sees it. Polls until
     * `deadline` (shared by all replicas of one read).
     */
    private async hasReplayed(replica: Replica, client: PoolClient, minLsn: Lsn, deadline: number): Promise<boolean> {
        for (;;) {
            const { rows } = await client.query<ReplayRow>(REPLICA_PROBE_SQL);
            if (!rows[0].in_recovery) {
                this.markDown(replica, "not in recovery (promoted, or not a standby)");
                return false;
            }
            if (rows[0].replay_lsn !== null && compareLsn(rows[0].replay_lsn, minLsn) >= 0) return true;
            const left = deadline - Date.now();
            if (left <= 0) return false;
            await delay(Math.min(RYW_POLL_MS, left));
        }
    }

    /** The position a read-your-writes read must see, or null when there is nothing to wait for. */
    private async readYourWritesLsn(explicit: Lsn | null | undefined): Promise<Lsn | null> {
        if (explicit != null) {
            if (!isLsn(explicit))
                throw new TypeError(`ReplicaRouter: minLsn ${JSON.stringify(explicit)} is not an LSN like 0/3000148`);
            return explicit;
        }
        if (this.resolvedUnknownWrites < this.unknownLsnWrites) {
            // Some write's position is unknown. The primary's insert position now is past it, since
            // that write has returned; if the primary cannot say, the read fails rather than risk staleness.
            const target = this.unknownLsnWrites;
            const { rows } = await this.primary.pool.query<{ lsn: string }>(INSERT_LSN_SQL);
            this.lastWriteLsn = maxLsn(this.lastWriteLsn, rows[0].lsn);
            this.resolvedUnknownWrites = Math.max(this.resolvedUnknownWrites, target);
        }
        return this.lastWriteLsn;
    }

    private async lsnAfterWrite(conn: Lease): Promise<Lsn | null> {
        try {
            const { rows } = await conn.client.query<{ lsn: string }>(INSERT_LSN_SQL);
            conn.release();
            this.lastWriteLsn = maxLsn(this.lastWriteLsn, rows[0].lsn);
            return rows[0].lsn;
        } catch (err) {
            conn.release(err);
            this.unknownLsnWrites++;
            if (isHostFailure(err)) this.primaryHostFailed(conn);
            return null;
        }
    }

    private afterFailedWrite(conn: Lease, err: unknown): void {
        const connectionLost = classifyError(err) === "connection";
        conn.release(connectionLost ? err : undefined);
        // The commit may have happened before the connection broke: its position is unknown.
        if (connectionLost) this.unknownLsnWrites++;
        if (isHostFailure(err)) this.primaryHostFailed(conn);
    }

    /**
     * The primary's host lost the connection or refused a write as read-only (after a failover):
     * with several hosts, the next write chooses the read-write host again. The failed statement
     * itself is not retried (it may have committed); its caller gets the error.
     */
    private primaryHostFailed(conn: Lease): void {
        this.primary.pool.hostFailed?.(conn.client);
    }
}

/** pg's Pool for a node with one host and nothing to check: exactly what the router always used. */
function plainPool(hosts: NodeHosts): Pool {
    const pool = new Pool(hosts.hosts[0].config);
    // An idle pooled connection whose server went away emits 'error' on the pool (fatal if
    // unhandled). pg discards that connection; whether the node is down is for the probes
    // (or the next read's connect) to decide, so that e.g. idle_session_timeout is no outage.
    pool.on("error", () => undefined);
    return pool;
}
