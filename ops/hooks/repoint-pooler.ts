// Points a deployment's PgBouncer endpoints at the topology the stack declares, in place: run by the
// pooler's targets command resource (infra/pooler.ts) whenever the primary, the replicas or a pooler
// container changes (PGR_CLUSTER = the stack, PGR_PRIMARY, PGR_REPLICAS = comma-separated nodes,
// PGR_NODE_HOSTS = node → address as JSON). The containers ignore later changes of their
// pgbouncer.ini upload, so a failover recorded in the stack or a new replica never re-creates an
// endpoint (which dropped every session through it): the file is rewritten and PgBouncer reloaded
// (ops/pooler.ts). Prints what each endpoint targets as JSON.
import { command, runCommand } from "../cli";
import { repointPooler } from "../pooler";

const REPOINT_POOLER = command({
    name: "repoint-pooler",
    invocation: "node -r ./scripts/register-ts.js ops/hooks/repoint-pooler.ts",
    synopsis: "(no arguments; PGR_CLUSTER, PGR_PRIMARY, PGR_REPLICAS and PGR_NODE_HOSTS in the environment)",
    description:
        "Rewrites the pgbouncer.ini of cluster PGR_CLUSTER's read-write and read-only endpoints for primary\n" +
        "PGR_PRIMARY and replicas PGR_REPLICAS and reloads PgBouncer (RELOAD on its admin console; the same file\n" +
        "again moves no session). Sessions on a server an endpoint no longer targets are closed\n" +
        "when idle and killed after 5 s. Neither the pooler nor a PostgreSQL node restarts. The stack program runs it.",
    options: {},
    examples: [
        "PGR_CLUSTER=dev PGR_PRIMARY=pg1 PGR_REPLICAS=pg2,pg3 PGR_NODE_HOSTS='{}' node -r ./scripts/register-ts.js ops/hooks/repoint-pooler.ts",
    ],
});

async function main(): Promise<number> {
    REPOINT_POOLER.parse(process.argv.slice(2));
    const stack = process.env.PGR_CLUSTER ?? "";
    const primary = process.env.PGR_PRIMARY ?? "";
    if (stack === "" || primary === "") throw new Error("PGR_CLUSTER and PGR_PRIMARY must be set");
    const replicas = (process.env.PGR_REPLICAS ?? "").split(",").filter((r) => r !== "");
    const hosts = JSON.parse(process.env.PGR_NODE_HOSTS ?? "{}") as Record<string, string>;
    const results = await repointPooler(stack, primary, replicas, { hosts });
    process.stdout.write(
        JSON.stringify({ endpoints: results.map((r) => ({ role: r.role, targets: r.targets, reload: r.reload })) }) +
            "\n",
    );
    return 0;
}

runCommand(REPOINT_POOLER, main, (err) => {
    process.stderr.write(`pg-replication: endpoints not re-pointed: ${err.message}\n`);
    return 1;
});
