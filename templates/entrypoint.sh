#!/bin/sh
# Entrypoint of a pg-replication node. Works on the official postgres image and on the local
# Debian-built image: both have the postgres user, PGDATA and the server binaries on PATH.
# /etc/pg-replication/node.env (uploaded) says which node this is and what it bootstraps as.
set -eu

CONF_DIR=/etc/pg-replication
. "$CONF_DIR/node.env"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
PGPASSFILE_PATH=/var/lib/postgresql/.pgpass

log() { echo "pg-replication[$PGR_NODE]: $*" >&2; }

# Run a command as the postgres OS user (gosu in the official image, setpriv elsewhere).
if command -v gosu >/dev/null 2>&1; then
    AS_POSTGRES="gosu postgres"
else
    AS_POSTGRES="setpriv --reuid=postgres --regid=postgres --init-groups"
fi

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 0700 "$PGDATA"
if [ -d "$PGR_ARCHIVE_DIR" ]; then
    chown postgres:postgres "$PGR_ARCHIVE_DIR"
fi
# The replication password reaches the node as an uploaded file, never as an environment variable.
if [ -f "$CONF_DIR/pgpass" ]; then
    install -o postgres -g postgres -m 0600 "$CONF_DIR/pgpass" "$PGPASSFILE_PATH"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ "$PGR_BOOTSTRAP" = primary ]; then
        log "initialising a new cluster in $PGDATA"
        $AS_POSTGRES initdb -D "$PGDATA" --username=postgres --auth-local=peer \
            --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --data-checksums >/dev/null
    else
        # Clone the primary. The primary may still be starting, so retry until the deadline.
        deadline=$(( $(date +%s) + PGR_BASEBACKUP_TIMEOUT ))
        attempt=1
        slot_args=""
        if [ -n "$PGR_SLOT" ]; then slot_args="--slot=$PGR_SLOT"; fi
        until $AS_POSTGRES pg_basebackup --pgdata="$PGDATA" --wal-method=stream --checkpoint=fast \
                --no-password $slot_args \
                --dbname="host=$PGR_PRIMARY_HOST port=5432 user=$PGR_REPLICATION_USER passfile=$PGPASSFILE_PATH application_name=$PGR_NODE connect_timeout=5"; do
            if [ "$(date +%s)" -ge "$deadline" ]; then
                log "pg_basebackup from $PGR_PRIMARY_HOST failed for ${PGR_BASEBACKUP_TIMEOUT}s; giving up"
                exit 1
            fi
            log "pg_basebackup attempt $attempt failed; retrying in 2s"
            attempt=$((attempt + 1))
            find "$PGDATA" -mindepth 1 -delete
            sleep 2
        done
        $AS_POSTGRES touch "$PGDATA/standby.signal"
        log "cloned $PGR_PRIMARY_HOST after $attempt attempt(s)"
    fi
fi

exec $AS_POSTGRES postgres -D "$PGDATA" -c config_file="$CONF_DIR/postgresql.conf"
