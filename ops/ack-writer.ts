// The one writer that records acknowledged commits, to prove that no acknowledged write is lost
// across a failover and to time the first write after it: autocommit inserts of increasing ids
// (shared by its sessions, never reused), one at a time per session, through whichever endpoint
// `endpoint()` names. An insert whose INSERT returned is acknowledged; a failed or timed-out one is
// not, and its session drops the connection, waits, and connects again (to the endpoint named then).
// Users: ops/patroni-leader-loss.ts and the Patroni integration test (through AckWriter below),
// bench/cases/failover.ts (a writer that follows the promoted node), and the fault suites' Writer
// (several sessions, bounded by rows and time).
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "pg";
import { superuserClient, SuperuserLogin } from "./login";

/** What the writer needs of a connection: pg's Client has it; unit tests pass a fake. */
export interface AckClient {
    connect(): Promise<unknown>;
    query(text: string, values: unknown[]): Promise<unknown>;
    end(): Promise<unknown>;
    on?(event: "error", listener: (err: Error) => void): unknown;
}

/** One acknowledged insert. Times are on the writer's clock (`now`). */
export interface Ack<E> {
    id: number;
    /** When its INSERT was sent: only a write begun after a kill proves the new primary took it. */
    begunAt: number;
    /** When the server acknowledged it. */
    at: number;
    /** The endpoint its session was connected to. */
    endpoint: E;
}

export interface CommitWriterOptions<E> {
    /** Where sessions write: read at each connect, and a session whose endpoint changed connects again. */
    endpoint: () => E;
    /** A new, unconnected client for an endpoint, with its connect and query deadlines. */
    client: (endpoint: E) => AckClient;
    /** Table with an `id bigint PRIMARY KEY` column. */
    table: string;
    /** Other columns, each given the same value in every row (a round number, say). */
    columns?: Record<string, unknown>;
    /** First id (default 1). Ids used by an earlier writer would fail on the key, never be acknowledged. */
    firstId?: number;
    /** Concurrent sessions (default 1). */
    sessions?: number;
    /** Stops by itself after this many acknowledgements (default: no bound). A session's insert in flight may add one more each. */
    maxRows?: number;
    /** Stops by itself this long after start() (default: no bound). */
    maxMs?: number;
    /** Pause after a failed connect or insert before connecting again (default 100 ms). */
    retryMs?: number;
    /** Longest wait for a client's end(): a dead server's socket may never close (default 3000 ms). */
    endMs?: number;
    /** The clock of `begunAt`, `at` and `maxMs` (default Date.now). */
    now?: () => number;
}

/** Ends a client, waiting at most `ms` for it. */
async function endWithin(client: AckClient, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((r) => (timer = setTimeout(r, ms)));
    await Promise.race([client.end().catch(() => undefined), gaveUp]).finally(() => clearTimeout(timer));
}

export class CommitWriter<E> {
    /** Ids the server acknowledged, in order of acknowledgement. */
    readonly acked: number[] = [];
    /** The same acknowledgements with their times and endpoints, parallel to {@link acked}. */
    readonly acks: Ack<E>[] = [];
    /** Failed connects and inserts. */
    errors = 0;
    lastError = "";
    private stopped = false;
    private deadline = Number.POSITIVE_INFINITY;
    private nextId: number;
    private done: Promise<void> = Promise.resolve();
    private readonly insert: string;
    private readonly fixed: unknown[];
    private readonly now: () => number;

    constructor(private readonly opts: CommitWriterOptions<E>) {
        this.nextId = opts.firstId ?? 1;
        this.now = opts.now ?? Date.now;
        const extra = Object.entries(opts.columns ?? {});
        const names = ["id", ...extra.map(([name]) => name)];
        const params = names.map((_, i) => `$${i + 1}`);
        this.insert = `INSERT INTO ${opts.table} (${names.join(", ")}) VALUES (${params.join(", ")})`;
        this.fixed = extra.map(([, value]) => value);
    }

    start(): void {
        if (this.opts.maxMs !== undefined) this.deadline = this.now() + this.opts.maxMs;
        const sessions = Array.from({ length: this.opts.sessions ?? 1 }, () => this.session());
        this.done = Promise.all(sessions).then(() => undefined);
    }

    /** Stops after the inserts in flight; resolves when every session has ended. */
    async stop(): Promise<void> {
        this.stopped = true;
        await this.done;
    }

    /** Resolves when every session has ended: after stop(), or by itself at a bound. */
    finished(): Promise<void> {
        return this.done;
    }

    /** Next id the writer would use (ids are never reused, acknowledged or not). */
    get next(): number {
        return this.nextId;
    }

    /** The first acknowledgement that matches. */
    firstAck(matches: (a: Ack<E>) => boolean): Ack<E> | undefined {
        return this.acks.find(matches);
    }

    private more(): boolean {
        return !this.stopped && this.acked.length < (this.opts.maxRows ?? Infinity) && this.now() < this.deadline;
    }

    private async session(): Promise<void> {
        while (this.more()) {
            const endpoint = this.opts.endpoint();
            const client = this.opts.client(endpoint);
            // A dying server ends the socket: that surfaces as a failed query, not as an unhandled event.
            client.on?.("error", () => undefined);
            try {
                await client.connect();
                await this.insertWhileOn(client, endpoint);
            } catch (err) {
                this.errors++;
                this.lastError = (err as Error).message;
                if (this.more()) await sleep(this.opts.retryMs ?? 100);
            } finally {
                await endWithin(client, this.opts.endMs ?? 3000);
            }
        }
    }

    /** Inserts until a bound, a stop, or the endpoint changes (then the session connects again at once). */
    private async insertWhileOn(client: AckClient, endpoint: E): Promise<void> {
        while (this.more() && this.opts.endpoint() === endpoint) {
            const id = this.nextId++;
            const begunAt = this.now();
            await client.query(this.insert, [id, ...this.fixed]);
            this.acked.push(id);
            this.acks.push({ id, begunAt, at: this.now(), endpoint });
        }
    }
}

/** Where and how {@link AckWriter} connects. */
export interface AckWriterTarget extends SuperuserLogin {
    host: string;
    port: number;
    /** Table with an `id bigint PRIMARY KEY` column. */
    table: string;
}

/** A pg client to the target, with the deadlines a failover measurement needs. */
function targetClient(target: AckWriterTarget): AckClient {
    return new Client({
        ...superuserClient(target, target.host, target.port),
        connectionTimeoutMillis: 2000,
        // A killed node sends no RST: give up on its socket instead of hanging (patroni-notes).
        query_timeout: 3000,
    });
}

/**
 * The writer on one fixed endpoint (Patroni's read-write endpoint), one session, unbounded, that
 * times the first write after a kill: {@link markKill} then {@link firstAckAfter}.
 */
export class AckWriter extends CommitWriter<number> {
    private killedAt?: number;
    private killDone?: number;

    /** `client` replaces the pg client (unit tests). */
    constructor(target: AckWriterTarget, firstId = 1, client: (t: AckWriterTarget) => AckClient = targetClient) {
        super({ endpoint: () => target.port, client: () => client(target), table: target.table, firstId });
    }

    /** The leader was killed between `startedAt` and `doneAt`. */
    markKill(startedAt: number, doneAt: number): void {
        this.killedAt = startedAt;
        this.killDone = doneAt;
    }

    /** Milliseconds from the kill's start to the first acknowledged insert begun after the kill completed. */
    get firstAckAfter(): number | undefined {
        const { killedAt, killDone } = this;
        if (killedAt === undefined || killDone === undefined) return undefined;
        // Only a write begun after the kill proves a new leader (an earlier one may have reached the old).
        const first = this.firstAck((a) => a.begunAt > killDone);
        return first && first.at - killedAt;
    }
}
