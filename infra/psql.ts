import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

/** Waits (up to a minute) until the node in $PGR_CONTAINER accepts connections. */
const WAIT_READY =
    'i=0; until docker exec "$PGR_CONTAINER" pg_isready -q -h /var/run/postgresql; do ' +
    'i=$((i+1)); if [ "$i" -ge 60 ]; then echo "pg-replication: $PGR_CONTAINER is not accepting connections" >&2; exit 1; fi; sleep 1; done';

/** psql as the postgres OS user over the local socket (peer auth: no password needed). */
const PSQL = 'docker exec -i -u postgres "$PGR_CONTAINER" psql -X -q -v ON_ERROR_STOP=1 -d postgres';

/** Shell script that feeds its standard input to psql on the node in $PGR_CONTAINER. */
export const PSQL_FROM_STDIN = `set -eu; ${WAIT_READY}; ${PSQL}`;

/**
 * Shell script for a delete step: runs `sql` on the node of cluster $PGR_CLUSTER that is the
 * primary now, found by its labels and pg_is_in_recovery(), not on the node that was primary when
 * the resource was created: after a failover that one is a read-only standby (DROP ROLE there
 * fails). With no running primary (the cluster is being destroyed, or is down) there is nothing to
 * undo: the data goes with the volumes.
 */
export function psqlOnDelete(sql: string): string {
    return [
        "set -eu",
        "PGR_CONTAINER=",
        'for c in $(docker ps --filter "label=pg-replication.cluster=$PGR_CLUSTER" --filter label=pg-replication.node --format \'{{.Names}}\'); do',
        '  if [ "$(docker exec -u postgres "$c" psql -X -A -t -q -d postgres -c \'SELECT pg_is_in_recovery()\' 2>/dev/null)" = f ]; then PGR_CONTAINER=$c; break; fi',
        "done",
        'if [ -z "$PGR_CONTAINER" ]; then',
        '  echo "pg-replication: no running primary in cluster $PGR_CLUSTER; nothing to undo" >&2; exit 0',
        "fi",
        `${PSQL} <<'PGR_SQL'`,
        sql.trimEnd(),
        "PGR_SQL",
    ].join("\n");
}

/** Arguments of {@link psqlCommand}. */
export interface PsqlCommandArgs {
    /** Container (name or id) of the node to run on. */
    container: pulumi.Input<string>;
    /** SQL applied on create and on every change; must be idempotent. May be a secret. */
    sql: pulumi.Input<string>;
    /** SQL that undoes it on delete, run on the cluster's primary at that time. @default nothing is undone */
    deleteSql?: string;
    /** The cluster's name prefix (its `pg-replication.cluster` label): where the delete finds the primary. */
    cluster: string;
}

/** A command resource that applies SQL on a node, re-applied whenever the SQL changes. */
export function psqlCommand(name: string, args: PsqlCommandArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: PSQL_FROM_STDIN,
            delete: args.deleteSql === undefined ? undefined : psqlOnDelete(args.deleteSql),
            stdin: args.sql,
            environment: { PGR_CONTAINER: args.container, PGR_CLUSTER: args.cluster },
            logging: "stderr",
        },
        opts,
    );
}
