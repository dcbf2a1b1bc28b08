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
 * Shell script for a delete step: runs `sql` on the node in $PGR_CONTAINER, or does nothing when
 * that container is gone or stopped (its data goes with it, or it is fenced on purpose).
 */
export function psqlOnDelete(sql: string): string {
    return [
        "set -eu",
        'if [ "$(docker container inspect -f \'{{.State.Running}}\' "$PGR_CONTAINER" 2>/dev/null)" != true ]; then',
        '  echo "pg-replication: $PGR_CONTAINER is not running; nothing to undo there" >&2; exit 0',
        "fi",
        WAIT_READY,
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
    /** SQL that undoes it on delete. @default nothing is undone */
    deleteSql?: string;
}

/** A command resource that applies SQL on a node, re-applied whenever the SQL changes. */
export function psqlCommand(name: string, args: PsqlCommandArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: PSQL_FROM_STDIN,
            delete: args.deleteSql === undefined ? undefined : psqlOnDelete(args.deleteSql),
            stdin: args.sql,
            environment: { PGR_CONTAINER: args.container },
            logging: "stderr",
        },
        opts,
    );
}
