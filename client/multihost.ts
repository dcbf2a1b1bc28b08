// Connecting to a node that has several hosts, with libpq's semantics: hosts tried in order, one
// that does not connect within its connect timeout skipped, one whose session is not what
// target_session_attrs asks for skipped, and an error naming every host when none qualifies.
import { ClientBase, Pool, PoolClient, QueryResult, QueryResultRow } from "pg";
import { classifyError, errorMessage, HostRejectedError, isReadOnlyError, NoUsableHostError } from "./errors";
import type { HostEndpoint, NodeHosts, TargetSessionAttrs } from "./hosts";

/** What the router needs of a node's connections: pg's own Pool, or a {@link MultiHostPool}. */
export interface NodePool {
    connect(): Promise<PoolClient>;
    query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
    end(): Promise<void>;
    /**
     * The server behind `client` failed in a way that says it may no longer be the right host (its
     * connection broke, or it refused a write as read-only): the next connect picks a host again.
     */
    hostFailed?(client: PoolClient): void;
}

// libpq's checks and refusal messages for each target_session_attrs value.
const CHECKS: Record<Exclude<TargetSessionAttrs, "any">, { sql: string; want: string; refusal: string }> = {
    "read-write": { sql: "SHOW transaction_read_only", want: "off", refusal: "session is read-only" },
    "read-only": { sql: "SHOW transaction_read_only", want: "on", refusal: "session is not read-only" },
    primary: {
        sql: "SELECT pg_is_in_recovery()::text AS in_recovery",
        want: "false",
        refusal: "server is in hot standby mode",
    },
    standby: {
        sql: "SELECT pg_is_in_recovery()::text AS in_recovery",
        want: "true",
        refusal: "server is not in hot standby mode",
    },
};

/** A node that is a plain pg config: one host, no session attributes to check. */
export function isPlainNode(node: NodeHosts): boolean {
    return node.hosts.length === 1 && node.target === "any";
}

/** Rejects with `what` timed out after `ms` (the promise itself is left to settle unobserved). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    });
    p.catch(() => undefined);
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves when the session on `client` is what `target` asks for; otherwise rejects with a
 * HostRejectedError in libpq's words (or the query's own error). Bounded by `timeoutMs`.
 */
export async function checkSession(client: ClientBase, target: TargetSessionAttrs, timeoutMs: number): Promise<void> {
    if (target === "any") return;
    const check = CHECKS[target];
    const res = await withTimeout(
        client.query<Record<string, unknown>>(check.sql),
        timeoutMs,
        "target_session_attrs check",
    );
    const value = String(Object.values(res.rows[0] ?? {})[0]);
    if (value !== check.want) throw new HostRejectedError(check.refusal);
}

/**
 * The first host, in order, for which `open` succeeds (it connects and checks the session), or a
 * NoUsableHostError naming every host and why it was not used.
 */
export async function connectFirst<C>(
    node: NodeHosts,
    open: (host: HostEndpoint) => Promise<C>,
): Promise<{ host: HostEndpoint; conn: C }> {
    const failures: Array<{ host: string; reason: string; error: unknown }> = [];
    for (const host of node.hosts) {
        try {
            return { host, conn: await open(host) };
        } catch (error) {
            failures.push({ host: host.label, reason: errorMessage(error), error });
        }
    }
    throw new NoUsableHostError(node.target, failures);
}

/** An error after which the host behind a connection may no longer be the node's right one. */
export function isHostFailure(err: unknown): boolean {
    return classifyError(err) === "connection" || isReadOnlyError(err);
}

/**
 * A node's connections when it has several hosts (or session attributes to check): one pg Pool for
 * the host in use, chosen as libpq chooses (in order, the first that connects in time and passes
 * target_session_attrs). Each new connection of that pool is checked again (pg-pool's `verify`).
 * When that host fails (a connect fails or is rejected, or the router reports a failed write with
 * {@link hostFailed}), its pool is ended and the next connect chooses again, from the first host.
 * Only connecting is retried here, never a statement.
 */
export class MultiHostPool implements NodePool {
    private active: Pool | null = null;
    private choosing: Promise<Pool> | null = null;
    private readonly ending = new Set<Promise<void>>();
    private readonly origin = new WeakMap<PoolClient, Pool>();
    private closed = false;

    constructor(
        private readonly node: NodeHosts,
        private readonly makePool: (host: HostEndpoint, target: TargetSessionAttrs) => Pool = hostPool,
    ) {}

    /** A connection to the node's current host; chooses a host first if there is none. */
    async connect(): Promise<PoolClient> {
        const pool = await this.currentPool();
        try {
            return this.track(await pool.connect(), pool);
        } catch (err) {
            // Nothing ran on a connection that never came: choosing another host is safe.
            // So is trying again when another caller has just given this pool up (it is ending).
            if (!isHostFailure(err) && this.active === pool) throw err;
            this.abandon(pool);
        }
        const next = await this.currentPool();
        return this.track(await next.connect(), next);
    }

    /** Like pg's Pool.query: one statement on a connection of the current host. */
    async query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
        const client = await this.connect();
        // A session that dies mid-query fails the query itself; without a listener 'error' would crash.
        const onError = () => undefined;
        client.on("error", onError);
        let failure: Error | undefined;
        try {
            return await client.query<R>(text, params);
        } catch (err) {
            failure = err instanceof Error ? err : new Error(String(err));
            if (isHostFailure(err)) this.hostFailed(client);
            throw err;
        } finally {
            client.removeListener("error", onError);
            // Like pg's Pool.query: a connection whose statement failed is not pooled again.
            client.release(failure);
        }
    }

    hostFailed(client: PoolClient): void {
        const pool = this.origin.get(client);
        if (pool) this.abandon(pool);
    }

    /** Ends the pool in use and waits for every connection to be closed. */
    async end(): Promise<void> {
        this.closed = true;
        await this.choosing?.catch(() => undefined);
        if (this.active) this.abandon(this.active);
        await Promise.all(this.ending);
    }

    private track(client: PoolClient, pool: Pool): PoolClient {
        this.origin.set(client, pool);
        return client;
    }

    private currentPool(): Promise<Pool> {
        if (this.active) return Promise.resolve(this.active);
        // Concurrent connects share one choice.
        this.choosing ??= this.choose().finally(() => {
            this.choosing = null;
        });
        return this.choosing;
    }

    private async choose(): Promise<Pool> {
        const { conn: pool } = await connectFirst(this.node, async (host) => {
            const pool = this.makePool(host, this.node.target);
            try {
                (await pool.connect()).release(); // connected and verified; stays idle for the caller
            } catch (err) {
                this.retire(pool);
                throw err;
            }
            return pool;
        });
        if (this.closed) {
            this.retire(pool);
            throw new Error("the pool was ended while it chose a host");
        }
        this.active = pool;
        return pool;
    }

    /** Stops using `pool` if it is the current one (the next connect chooses again). */
    private abandon(pool: Pool): void {
        if (this.active !== pool) return;
        this.active = null;
        this.retire(pool);
    }

    /** Ends a pool; connections still checked out are closed when they are released. */
    private retire(pool: Pool): void {
        const ended: Promise<void> = pool.end().catch(() => undefined);
        this.ending.add(ended);
        void ended.then(() => this.ending.delete(ended));
    }
}

/** pg's Pool for one host, checking each new connection's session when target_session_attrs asks to. */
function hostPool(host: HostEndpoint, target: TargetSessionAttrs): Pool {
    const timeoutMs = host.config.connectionTimeoutMillis || 2000;
    const pool = new Pool(
        target === "any"
            ? host.config
            : {
                  ...host.config,
                  verify: (client, done) => {
                      checkSession(client, target, timeoutMs).then(
                          () => done(),
                          (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
                      );
                  },
              },
    );
    // An idle connection whose server went away: pg discards it; the next connect tells.
    pool.on("error", () => undefined);
    return pool;
}
