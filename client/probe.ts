// One long-lived health-check connection per node, re-opened after any failure.
import { Client, ClientConfig, QueryResultRow } from "pg";

/** application_name of the health-check sessions. */
export const PROBE_APPLICATION_NAME = "pg-replication-router-health";

// pg's Client has unref() (pg-pool's allowExitOnIdle uses it) but @types/pg does not declare it.
type Unrefable = { unref?: () => void };

/**
 * Runs the health queries on a node. A persistent connection keeps a probe cheap (no
 * authentication per round) and is unref'd so that the health loop never keeps the process
 * alive by itself. Every connect and query is bounded by `timeoutMs`: a node that accepts TCP
 * but never answers fails its probe instead of stalling the loop.
 */
export class NodeProbe {
    private client: Client | null = null;

    constructor(
        private readonly config: ClientConfig,
        private readonly timeoutMs: number,
    ) {}

    /** The first row of `text`; throws (and drops the connection) on any failure. */
    async row<R extends QueryResultRow>(text: string): Promise<R> {
        const client = await this.connected();
        try {
            const res = await client.query<R>(text);
            return res.rows[0];
        } catch (err) {
            this.drop(client);
            throw err;
        }
    }

    /** Closes the connection, if any. */
    async close(): Promise<void> {
        const client = this.client;
        this.client = null;
        if (client) await client.end().catch(() => undefined);
    }

    private async connected(): Promise<Client> {
        if (this.client) return this.client;
        const client = new Client({
            ...this.config,
            // Fixed, so that health sessions are recognisable in pg_stat_activity.
            application_name: PROBE_APPLICATION_NAME,
            connectionTimeoutMillis: this.timeoutMs,
            query_timeout: this.timeoutMs,
        });
        // A server that goes away while the connection is idle emits 'error'; without a listener
        // that would crash the process. The next probe reconnects (and fails if it is still down).
        client.on("error", () => this.drop(client));
        try {
            await client.connect();
        } catch (err) {
            client.end().catch(() => undefined);
            throw err;
        }
        (client as Client & Unrefable).unref?.();
        this.client = client;
        return client;
    }

    private drop(client: Client): void {
        if (this.client === client) this.client = null;
        client.end().catch(() => undefined);
    }
}
