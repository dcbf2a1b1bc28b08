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
# The postgres user's HOME: libpq (Patroni's connections, pg_rewind, pg_basebackup) looks for a
# client certificate in ~/.postgresql and fails a TLS connection when it may not read /root's.
export HOME=/var/lib/postgresql

if command -v gosu >/dev/null 2>&1; then
    exec gosu postgres patroni /var/lib/postgresql/patroni.yml
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups patroni /var/lib/postgresql/patroni.yml
