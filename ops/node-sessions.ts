// SQL to a stack's nodes over their published ports, one connection per node held for the length of
// a command: the failover's critical path (probe, settle, promote, first write) is a dozen small
// statements, and each `docker exec … psql` costs 0.1 s on an idle machine and 1.4-1.7 s at a load
// average of 40, where a statement on an open connection takes milliseconds and a new connection
// 0.15-0.35 s (measured here). The superuser password comes from the stack outputs, as for the
// checks; what needs no password or no server (fencing, files) stays with Docker.
import { Client, QueryConfig, QueryResult } from "pg";
import { NodeRef, SqlRunner } from "./cluster-discovery";
import { superuserClient, SuperuserLogin } from "./login";

/** Where a node's published port is, and the superuser's login. */
export interface SessionTarget extends SuperuserLogin {
    host: string;
    /** The host port node `pgK` publishes. */
    port: (node: string) => number;
}

export class NodeSessions implements SqlRunner {
    private readonly clients = new Map<string, Promise<Client>>();

    constructor(private readonly target: SessionTarget) {}

    /** The node's connection, opened on first use; one that failed or broke is opened again next time. */
    private client(node: string, timeoutMs: number): Promise<Client> {
        const open = this.clients.get(node);
        if (open) return open;
        const c = new Client({
            ...superuserClient(this.target, this.target.host, this.target.port(node)),
            application_name: "pg-replication-scripts",
            connectionTimeoutMillis: Math.min(timeoutMs, 5000),
        });
        const forget = () => {
            if (this.clients.get(node) === opened) this.clients.delete(node);
        };
        // A fenced or dying server ends the socket: the next statement reconnects (and fails if it is gone).
        c.on("error", forget);
        c.on("end", forget);
        const opened = c.connect().then(
            () => c,
            (err: Error) => {
                forget();
                throw new Error(
                    `cannot connect to ${node} at ${this.target.host}:${this.target.port(node)}: ${err.message}`,
                );
            },
        );
        this.clients.set(node, opened);
        return opened;
    }

    private async query(n: NodeRef, sql: string, timeoutMs: number): Promise<Record<string, unknown>[]> {
        const c = await this.client(n.node, timeoutMs);
        try {
            // query_timeout per query: pg reads it (lib/client.js), @types/pg's QueryConfig omits it.
            const config: QueryConfig & { query_timeout: number } = { text: sql, query_timeout: timeoutMs };
            const res = (await c.query(config)) as QueryResult | QueryResult[];
            // A multi-statement string answers with one result per statement: the last one counts.
            const last = Array.isArray(res) ? res[res.length - 1] : res;
            return last.rows as Record<string, unknown>[];
        } catch (err) {
            // A statement that failed inside BEGIN … COMMIT leaves the session's transaction aborted:
            // end it, so that a retry on the same session runs (a ROLLBACK outside one only warns).
            await c.query("ROLLBACK").catch(() => undefined);
            throw new Error(`on ${n.node}: ${(err as Error).message}`, { cause: err });
        }
    }

    async rows<T = Record<string, unknown>>(n: NodeRef, select: string, timeoutMs = 20_000): Promise<T[]> {
        return (await this.query(n, select, timeoutMs)) as T[];
    }

    async exec(n: NodeRef, statements: string[], timeoutMs = 20_000): Promise<string> {
        let rows: Record<string, unknown>[] = [];
        for (const sql of statements) rows = await this.query(n, sql, timeoutMs);
        const value = rows.length === 0 ? undefined : Object.values(rows[0])[0];
        // As psql -A -t prints it, so that callers read the same answer from either runner.
        if (value === undefined || value === null) return "";
        if (typeof value === "boolean") return value ? "t" : "f";
        return typeof value === "string" ? value : JSON.stringify(value);
    }

    async close(): Promise<void> {
        const open = [...this.clients.values()];
        this.clients.clear();
        await Promise.all(open.map((p) => p.then((c) => c.end()).catch(() => undefined)));
    }
}
