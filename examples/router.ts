// Runnable example of the read-scaling library (client/), shown in docs/operations.md ("Read scaling from
// applications"). Here it imports the sources; an application imports the package `@pg-replication/client`
// (client/README.md), and tests/unit/client-package.test.ts compiles the README region that way. Run it
// against a deployed stack:
//
//   npx ts-node --transpile-only examples/router.ts --stack local --live   # a live-harness stack
//   npx ts-node --transpile-only examples/router.ts --stack dev            # a Pulumi CLI stack
//   PG_PRIMARY_URL=… PG_REPLICA_URLS=…,… npx ts-node --transpile-only examples/router.ts
//
// It creates its own `orders` table (on the primary; replication brings it to the replicas), writes
// one row, reads it back with read-your-writes, counts the rows on any healthy replica and prints
// the router's view of each replica. Type-checked by `npm test` (tsconfig includes examples/).
import { parseArgs } from "node:util";
import { NodeConfig, ReplicaRouter } from "../client/index";
import { readOutputs } from "../ops/stack-backends";

// README:begin
export async function ordersExample(primary: NodeConfig, replicas: NodeConfig[]): Promise<string[]> {
    const db = new ReplicaRouter({
        primary, //                        rwConnectionString (follows failovers) or primaryConnectionString
        replicas, //                       replicaConnectionStrings: the nodes themselves, not the read-only endpoint
        maxLagBytes: 16 * 1024 * 1024, //  default
        maxLagSeconds: 5, //               default: no time bound
    });
    const lines: string[] = [];
    try {
        // The example's own table: DDL runs on the primary and reaches the replicas by replication.
        await db.write("CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, total numeric NOT NULL)");
        const { lsn } = await db.write(
            "INSERT INTO orders (id, total) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET total = EXCLUDED.total",
            [42, 9.5],
        );
        // read-your-writes: served by a replica that has replayed `lsn`, else by the primary.
        const mine = await db.read<{ id: string; total: string }>("SELECT id, total FROM orders WHERE id = $1", [42], {
            consistency: "read-your-writes",
        });
        lines.push(
            `order ${mine.rows[0].id} (total ${mine.rows[0].total}) written at ${lsn}, read back from ${mine.servedBy.role} ${mine.servedBy.name}`,
        );
        const all = await db.read<{ n: string }>("SELECT count(*) AS n FROM orders"); // any healthy replica
        lines.push(`${all.rows[0].n} order(s), counted on ${all.servedBy.role} ${all.servedBy.name}`);
        for (const r of db.status().replicas) {
            lines.push(
                `replica ${r.name}: ${r.healthy ? "in rotation" : "out of rotation"} (${r.reason}), ${r.lagBytes ?? "?"} bytes behind`,
            );
        }
    } finally {
        await db.close();
    }
    return lines;
}
// README:end

/**
 * The nodes of a stack from its outputs, named after the nodes (pg1, pg2, …) so that `servedBy.name`
 * and `status()` say `pg2` rather than `127.0.0.1:15433` (a URL alone is named `host:port`).
 */
export function stackNodes(outputs: Record<string, unknown>): { primary: NodeConfig; replicas: NodeConfig[] } {
    const primary = outputs.primary as { node: string } | undefined;
    // The read-write endpoint follows every failover; a node's own URL is the primary only while it is.
    const rw = outputs.rwConnectionString;
    const url = typeof rw === "string" ? rw : outputs.primaryConnectionString;
    if (!primary || typeof url !== "string")
        throw new Error("the stack has no primary / primaryConnectionString output: deploy it first");
    const nodes = (outputs.replicas ?? []) as Array<{ node: string }>;
    const urls = (outputs.replicaConnectionStrings ?? []) as string[];
    return {
        primary: { connectionString: url, name: typeof rw === "string" ? "rw" : primary.node },
        replicas: urls.map((connectionString, i) => ({ connectionString, name: nodes[i]?.node ?? `replica${i + 1}` })),
    };
}

const USAGE = `usage: npx ts-node --transpile-only examples/router.ts [--stack S] [--live]

Runs the ReplicaRouter example against a deployed stack (its outputs give the connection strings),
or against PG_PRIMARY_URL and PG_REPLICA_URLS (comma-separated) when they are set.

  --stack S    the stack (default local)
  --live       a stack made by the live harness (npm run live) instead of the Pulumi CLI
  -h, --help   this help

example: npx ts-node --transpile-only examples/router.ts --stack local --live`;

async function main(): Promise<number> {
    let values: { stack?: string; live?: boolean; help?: boolean };
    try {
        ({ values } = parseArgs({
            options: { stack: { type: "string" }, live: { type: "boolean" }, help: { type: "boolean", short: "h" } },
            strict: true,
        }));
    } catch (err) {
        process.stderr.write(`usage error: ${(err as Error).message}\n${USAGE}\n`);
        return 2;
    }
    if (values.help) {
        process.stdout.write(USAGE + "\n");
        return 0;
    }
    const env = process.env;
    const nodes = env.PG_PRIMARY_URL
        ? { primary: env.PG_PRIMARY_URL, replicas: (env.PG_REPLICA_URLS ?? "").split(",").filter((u) => u !== "") }
        : stackNodes(readOutputs({ stack: values.stack ?? "local", live: values.live === true }));
    for (const line of await ordersExample(nodes.primary, nodes.replicas)) process.stdout.write(line + "\n");
    return 0;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (err: Error) => {
            process.stderr.write(`error: ${err.message}\n`);
            process.exit(1);
        },
    );
}
