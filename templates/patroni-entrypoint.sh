#!/bin/sh
# Entrypoint of a pg-replication node in failover=patroni. Patroni decides everything about the
# role (bootstrap, clone, rewind, promote, follow); this only prepares directories, hands the
# root-only patroni.yml to the postgres user and runs Patroni (under Docker's init, which reaps
# what Patroni and pgBackRest leave).
set -eu
CONF_DIR=/etc/pg-replication
PGDATA=/var/lib/postgresql/data

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 0700 "$PGDATA"
if [ -f "$CONF_DIR/tls-setup.sh" ]; then
    # shellcheck source=/dev/null # uploaded beside this file (templates/tls-setup.sh.tmpl)
    . "$CONF_DIR/tls-setup.sh"
fi
if [ -f "$CONF_DIR/backup-node-setup.sh" ]; then
    # shellcheck source=/dev/null # uploaded beside this file when backups are on (templates/backup-node-setup.sh)
    . "$CONF_DIR/backup-node-setup.sh"
fi
if [ -f "$CONF_DIR/restore.env" ] && [ ! -f "$PGDATA/PG_VERSION" ]; then
    # restoreFrom, an empty volume: the source repository's configuration for the postgres user, who
    # runs Patroni's custom bootstrap (patroni-restore.sh) if this node takes the initialize key.
    # shellcheck source=/dev/null # rendered per stack at deploy time (model/restore.ts)
    . "$CONF_DIR/restore.env"
    install -d -o postgres -g postgres -m 0750 "$(dirname "$PGR_RESTORE_CONFIG")"
    install -o postgres -g postgres -m 0600 "$CONF_DIR/restore-source.conf" "$PGR_RESTORE_CONFIG"
fi
install -o postgres -g postgres -m 0600 "$CONF_DIR/patroni.yml" /var/lib/postgresql/patroni.yml
# On an empty volume only primaryNode may initialise a new cluster (bootstrap.env): the others get
# patroni.yml without its bootstrap section. Patroni races for the initialize key only when that section
# is there (ha.py Ha.bootstrap); without it a node waits for the leader and clones it, so every node can
# start at once instead of each replica after the bootstrap node (as manual mode's PGR_INITDB_NODE).
if [ -f "$CONF_DIR/bootstrap.env" ] && [ ! -f "$PGDATA/PG_VERSION" ]; then
    # shellcheck source=/dev/null # rendered per node at deploy time (model/render.ts renderPatroniBootstrapEnv)
    . "$CONF_DIR/bootstrap.env"
    if [ "$PGR_NODE" != "$PGR_INITDB_NODE" ]; then
        # The section runs from its key to the next top-level key (patroni.yml.tmpl writes JSON values);
        # the copy installed above keeps its owner and mode.
        awk '/^bootstrap:/ { skip = 1; next } skip && /^[a-z]/ { skip = 0 } !skip' "$CONF_DIR/patroni.yml" \
            > /var/lib/postgresql/patroni.yml
        echo "pg-replication[$PGR_NODE]: an empty volume and $PGR_INITDB_NODE bootstraps the cluster: this node waits for its leader and clones it" >&2
    fi
fi
# The postgres user's HOME: libpq (Patroni's connections, pg_rewind, pg_basebackup) looks for a
# client certificate in ~/.postgresql and fails a TLS connection when it may not read /root's.
export HOME=/var/lib/postgresql

if command -v gosu >/dev/null 2>&1; then
    exec gosu postgres patroni /var/lib/postgresql/patroni.yml
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups patroni /var/lib/postgresql/patroni.yml
