// The command lines of failover, switchover and rejoin, declared once: the scripts parse with them
// and the tests check the command lines in README.md and docs/ against the same declarations.
import { command } from "./cli";
import { COMMON_OPTIONS } from "./topology-change";

export const FAILOVER = command({
    name: "failover",
    synopsis: "--to pgN [--stack S] [--live] [--force] [--json]",
    description:
        "Promotes replica pgN when the primary is gone or must be abandoned: fences (stops) the old primary,\n" +
        "promotes pgN, re-points the other replicas and the PgBouncer endpoints, records primaryNode in the\n" +
        "stack's config and runs the deployment's checks.",
    options: {
        to: { type: "string", value: "pgN", help: "the replica to promote (required)" },
        force: {
            type: "boolean",
            help: "promote pgN even if another replica has received more WAL (loses those transactions)",
        },
        ...COMMON_OPTIONS,
    },
    examples: ["npm run failover -- --to pg2 --stack local --live"],
});

export const SWITCHOVER = command({
    name: "switchover",
    synopsis: "--to pgN [--stack S] [--live] [--json]",
    description:
        "Planned role change with no lost transaction: the primary shuts down cleanly, pgN is promoted once\n" +
        "it has replayed everything, and the old primary rejoins as a replica of pgN.",
    options: {
        to: { type: "string", value: "pgN", help: "the streaming replica to promote (required)" },
        ...COMMON_OPTIONS,
    },
    examples: ["npm run switchover -- --to pg1 --stack local --live"],
});

export const REJOIN = command({
    name: "rejoin",
    synopsis: "--node pgN [--stack S] [--live] [--json]",
    description:
        "Brings pgN back as a replica of the running primary: its slot is repaired if it was invalidated,\n" +
        "then the node restarts and rewinds onto the primary with pg_rewind, or is re-cloned with\n" +
        "pg_basebackup when rewinding is impossible or the WAL it needs is neither on the primary nor in\n" +
        "the archive. Reports the method and, after a rewind, the WAL and transactions it discarded.",
    options: {
        node: { type: "string", value: "pgN", help: "the node to bring back (required)" },
        ...COMMON_OPTIONS,
    },
    examples: ["npm run rejoin -- --node pg1 --stack local --live"],
});
