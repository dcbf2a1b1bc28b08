import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { USE_ENGINE_SHELL } from "../model/engine-tls";
import { RUNNING_NODES_SHELL } from "../model/labels";
import { pgAccepting, untilProbe } from "../model/probes";

/**
 * psql as the postgres OS user over the local socket (peer auth: no password needed), on the node in
 * $PGR_CONTAINER, on engine $PGR_ENGINE when {@link FIND_PRIMARY} found it on one of $PGR_ENGINE_LIST.
 */
const PSQL = [
    "e=$PGR_ENGINE",
    ...USE_ENGINE_SHELL,
    'docker exec -i -u postgres "$PGR_CONTAINER" psql -X -q -v ON_ERROR_STOP=1 -d postgres',
].join("\n");

/**
 * Run inside the node by {@link PSQL_FROM_STDIN}: waits (up to a minute) until the server accepts
 * connections, then hands its standard input to psql. No single quotes: it is passed in them.
 */
const PSQL_WHEN_READY = `${untilProbe(
    pgAccepting("/var/run/postgresql"),
    600,
    'echo "pg-replication: $PGR_CONTAINER is not accepting connections" >&2; exit 1',
)}; exec psql -X -q -v ON_ERROR_STOP=1 -d postgres`;

/**
 * Shell script that feeds its standard input to psql on the node in $PGR_CONTAINER. One `docker
 * exec` that waits and then runs psql, not one to wait and one to run: the commands on the primary
 * lie between it and the replicas on every fresh `up`, and each exec costs there. The container must
 * be running (it is: the node's resource started it).
 */
export const PSQL_FROM_STDIN = `set -eu; docker exec -i -u postgres -e PGR_CONTAINER="$PGR_CONTAINER" "$PGR_CONTAINER" sh -c '${PSQL_WHEN_READY}'`;

/**
 * Sets PGR_CONTAINER to the node of cluster $PGR_CLUSTER that accepts writes (the last one found) and
 * PGR_ENGINE to its engine, PGR_WRITABLE to how many do, and PGR_UNKNOWN to the nodes that are listed
 * by `docker ps` (running, paused or restarting: not certainly stopped) but do not answer
 * pg_is_in_recovery(): one of them may be a second primary, so callers must not read them as "not
 * primary". Across hosts it asks every engine of $PGR_ENGINE_LIST (stackEnginesEnvironment); one that
 * does not answer lists no node (under Patroni, which alone runs across hosts, a node cut off from
 * etcd does not stay primary).
 */
const FIND_PRIMARY = [
    "PGR_CONTAINER=; PGR_ENGINE=-; PGR_WRITABLE=0; PGR_UNKNOWN=",
    // Every engine of $PGR_ENGINE_LIST across hosts (infra/engines.ts), else the default one.
    "for e in ${PGR_ENGINE_LIST:--}; do",
    ...USE_ENGINE_SHELL.map((line) => `  ${line}`),
    `  for c in $(${RUNNING_NODES_SHELL}); do`,
    `    a=$(docker exec -u postgres "$c" psql -X -A -t -q -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null) || a=`,
    '    case "$a" in',
    "      f) PGR_CONTAINER=$c; PGR_ENGINE=$e; PGR_WRITABLE=$((PGR_WRITABLE+1)) ;;",
    "      t) ;;",
    '      *) PGR_UNKNOWN="$PGR_UNKNOWN $c" ;;',
    "    esac",
    "  done",
    "done",
].join("\n");

/**
 * Shell script that feeds its standard input to psql on whichever node of cluster $PGR_CLUSTER
 * accepts writes now (waiting up to a minute for one): for failover=patroni, where the leader is
 * whoever Patroni elected, so the resource never names a node and a failover changes nothing.
 */
export const PSQL_ON_CURRENT_PRIMARY = [
    "set -eu",
    "i=0",
    "while :; do",
    FIND_PRIMARY,
    // Patroni holds the leader key: only its leader accepts writes, so an unanswering replica cannot
    // be a second primary here; two writable nodes still wait (and fail after a minute).
    '  [ "$PGR_WRITABLE" -eq 1 ] && break',
    "  i=$((i+1))",
    '  if [ "$i" -ge 60 ]; then echo "pg-replication: $PGR_WRITABLE nodes of $PGR_CLUSTER accept writes, not one" >&2; exit 1; fi',
    "  sleep 1",
    "done",
    PSQL,
].join("\n");

/**
 * Shell script for a delete step: runs `sql` on the node of cluster $PGR_CLUSTER that is the
 * primary now, found by its labels and pg_is_in_recovery(), not on the node that was primary when
 * the resource was created: after a failover that one is a read-only standby (DROP ROLE there
 * fails). With no running primary (the cluster is being destroyed, or is down) there is nothing to
 * undo: the data goes with the volumes. Refuses on two writable nodes, or on one that may run but
 * does not answer.
 */
export function psqlOnDelete(sql: string): string {
    return [
        "set -eu",
        FIND_PRIMARY,
        // Fails closed: undo SQL on the wrong one of two primaries, or beside a node that may be one,
        // would leave the other with what was to be undone.
        'if [ "$PGR_WRITABLE" -gt 1 ]; then',
        '  echo "pg-replication: split brain in cluster $PGR_CLUSTER: $PGR_WRITABLE nodes accept writes; nothing undone (npm run lag -- --stack $PGR_CLUSTER shows them)" >&2; exit 1',
        "fi",
        'if [ -n "$PGR_UNKNOWN" ]; then',
        '  echo "pg-replication: cannot tell whether$PGR_UNKNOWN accept writes (paused, restarting or not answering); nothing undone. docker unpause or docker stop each, then run again" >&2; exit 1',
        "fi",
        'if [ -z "$PGR_CONTAINER" ]; then',
        '  echo "pg-replication: no running primary in cluster $PGR_CLUSTER; nothing to undo" >&2; exit 0',
        "fi",
        `${PSQL} <<'PGR_SQL'`,
        // Teardown removes the standbys too: an undo must never wait for one to confirm it.
        "SET synchronous_commit = local;",
        sql.trimEnd(),
        "PGR_SQL",
    ].join("\n");
}

/**
 * Where SQL that must run on the primary runs: a node's container (manual mode, where the deployment
 * guard holds the configured primary), or whichever node accepts writes when the command runs (Patroni,
 * where the leader is whoever holds the leader key, so the resource names no node).
 */
export type SqlTarget = { node: pulumi.Input<string> } | { currentPrimary: true };

/** Arguments of {@link psqlCommand}. */
export interface PsqlCommandArgs {
    /** Where the SQL runs. */
    on: SqlTarget;
    /** SQL applied on create and on every change; must be idempotent. May be a secret. */
    sql: pulumi.Input<string>;
    /** SQL that undoes it on delete, run on the cluster's primary at that time. @default nothing is undone */
    deleteSql?: string;
    /** The cluster's name prefix (its `pg-replication.cluster` label): where the delete finds the primary. */
    cluster: string;
    /**
     * Across hosts, the engines to look for the current primary on (stackEnginesEnvironment:
     * PGR_ENGINE_LIST, and PGR_DOCKER_TLS_DIR for tcp:// engines). @default the default engine
     */
    engines?: Record<string, pulumi.Input<string>>;
}

/** A command resource that applies SQL on a node, re-applied whenever the SQL changes. */
export function psqlCommand(
    name: string,
    args: PsqlCommandArgs,
    opts: pulumi.CustomResourceOptions,
): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: "node" in args.on ? PSQL_FROM_STDIN : PSQL_ON_CURRENT_PRIMARY,
            delete: args.deleteSql === undefined ? undefined : psqlOnDelete(args.deleteSql),
            stdin: args.sql,
            environment:
                "node" in args.on
                    ? { PGR_CONTAINER: args.on.node, PGR_CLUSTER: args.cluster }
                    : { PGR_CLUSTER: args.cluster, ...args.engines },
            logging: "stderr",
        },
        opts,
    );
}
