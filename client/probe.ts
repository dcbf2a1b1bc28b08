// One long-lived health-check connection per node, re-opened after any failure.
import { Client, ClientConfig, QueryResultRow } from "pg";
import type { NodeHosts } from "./hosts";
import { checkSession, connectFirst, isPlainNode } from "./multihost";

/** application_name of the health-check sessions. */
export const PROBE_APPLICATION_NAME = "pg-replication-router-health";

// pg's Client has unref() (pg-pool's allowExitOnIdle uses it) but @types/pg does not declare it.
type Unrefable = { unref?: () => void };

/**
 * Runs the health queries on a node. A persistent connection keeps a probe cheap (no
 * authentication per round) and is unref'd so that the health loop never keeps the process
 * alive by itself. Every connect and query is bounded by `timeoutMs`: a node that accepts TCP
 * but never answers fails its probe instead of stalling the loop. A node with several hosts is
 * probed on the first host that qualifies, chosen as its pool chooses (multihost.ts), with each
 * host's own connect timeout.
 */
export class NodeProbe {
    private client: Client | null = null;

    constructor(
        private readonly node: NodeHosts,
        private readonly timeoutMs: number,
    ) {}

    /** The first row of `text`; throws (and drops the connection) on any failure. */
    async row<R extends QueryResultRow>(text: string): Promise<R> {
        const client = await this.qualifyingConnection();
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

    /**
     * The probe's connection; for a node with session attributes, checked again first: a host can
     * be demoted under a session that stays open (behind a proxy, say), and the probe then moves
     * to the host that qualifies now instead of reporting the old one forever.
     */
    private async qualifyingConnection(): Promise<Client> {
        const client = await this.connected();
        if (isPlainNode(this.node) || this.node.target === "any") return client;
        try {
            await checkSession(client, this.node.target, this.timeoutMs);
            return client;
        } catch {
            this.drop(client);
            return this.connected();
        }
    }

    private async connected(): Promise<Client> {
        if (this.client) return this.client;
        const client = isPlainNode(this.node)
            ? await this.open(this.node.hosts[0].config, this.timeoutMs)
            : (await connectFirst(this.node, (host) => this.openChecked(host.config))).conn;
        (client as Client & Unrefable).unref?.();
        this.client = client;
        return client;
    }

    /** A connection to one host of a multi-host node whose session is what the node asks for. */
    private async openChecked(config: ClientConfig): Promise<Client> {
        const client = await this.open(config, config.connectionTimeoutMillis ?? this.timeoutMs);
        try {
            await checkSession(client, this.node.target, this.timeoutMs);
        } catch (err) {
            client.end().catch(() => undefined);
            throw err;
        }
        return client;
    }

    private async open(config: ClientConfig, connectTimeoutMs: number): Promise<Client> {
        const client = new Client({
            ...config,
            // Fixed, so that health sessions are recognisable in pg_stat_activity.
            application_name: PROBE_APPLICATION_NAME,
            connectionTimeoutMillis: connectTimeoutMs,
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
        return client;
    }

    private drop(client: Client): void {
        if (this.client === client) this.client = null;
        client.end().catch(() => undefined);
    }
}
