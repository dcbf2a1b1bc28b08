#!/bin/sh
# Entrypoint of a pg-replication node. Works on the official postgres image and on the local
# Debian-built image: both have the postgres user, PGDATA and the server binaries on PATH.
#
# A node never decides from its files alone that it is the primary. At start it:
# - empty volume: clones the current primary (found through the cluster alias, which resolves to
#   every node), or runs initdb when it is the configured bootstrap node and no primary answers;
# - rejoin requested ($PGDATA/pg-replication.rejoin, left by failover/rejoin) or was a primary
#   (no standby.signal) while another node now accepts writes: rewinds onto that primary with
#   pg_rewind, or re-clones it when rewinding is impossible, then starts as a standby;
# - otherwise starts as it was: a standby follows whichever node is read-write.
set -eu

CONF_DIR=/etc/pg-replication
. "$CONF_DIR/node.env"
. "$CONF_DIR/bootstrap.env"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
PGPASSFILE_PATH=/var/lib/postgresql/.pgpass
REJOIN_FLAG="$PGDATA/pg-replication.rejoin"
LAST_REJOIN="$PGDATA/pg-replication.last-rejoin"
CONNECT="port=5432 connect_timeout=3 passfile=$PGPASSFILE_PATH"

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
# Passwords reach the node as an uploaded root-only file, never as environment variables.
if [ -f "$CONF_DIR/pgpass" ]; then
    install -o postgres -g postgres -m 0600 "$CONF_DIR/pgpass" "$PGPASSFILE_PATH"
fi

# Sets PRIMARY to the node name (cluster_name) of the node that accepts writes, trying every
# address of the cluster alias: libpq would give up after the first read-only address of a name.
# This node is not running yet, so the primary found is another one.
find_primary() {
    PRIMARY=""
    for ip in $(getent ahostsv4 "$PGR_CLUSTER_ALIAS" | awk '{print $1}' | sort -u); do
        name=$($AS_POSTGRES psql "host=$ip $CONNECT user=postgres dbname=postgres target_session_attrs=read-write" \
            -XAtqc "SHOW cluster_name" 2>/dev/null) || continue
        if [ -n "$name" ]; then PRIMARY="$name"; return 0; fi
    done
    return 1
}

# Points this standby at $PRIMARY. The failover and rejoin commands change it later with
# ALTER SYSTEM (reloadable), which writes the same file.
set_primary_conninfo() {
    auto="$PGDATA/postgresql.auto.conf"
    touch "$auto"
    sed -i '/^primary_conninfo[[:space:]]*=/d' "$auto"
    echo "primary_conninfo = 'host=$PRIMARY $CONNECT user=$PGR_REPLICATION_USER application_name=$PGR_NODE'" >> "$auto"
    chown postgres:postgres "$auto"
}

wait_for_primary() {
    deadline=$(( $(date +%s) + PGR_BASEBACKUP_TIMEOUT ))
    until find_primary; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "no primary answered for ${PGR_BASEBACKUP_TIMEOUT}s; giving up"
            exit 1
        fi
        sleep 2
    done
}

# Runs every server the same way: the uploaded configuration, included from the data directory so
# that pg_rewind's own single-user runs use it too.
link_config() {
    echo "include '$CONF_DIR/postgresql.conf'" > "$PGDATA/postgresql.conf"
    chown postgres:postgres "$PGDATA/postgresql.conf"
}

clone() {
    wait_for_primary
    attempt=1
    slot_args=""
    if [ -n "$PGR_SLOT" ]; then slot_args="--slot=$PGR_SLOT"; fi
    until $AS_POSTGRES pg_basebackup --pgdata="$PGDATA" --wal-method=stream --checkpoint=fast \
            --no-password $slot_args \
            --dbname="host=$PRIMARY $CONNECT user=$PGR_REPLICATION_USER application_name=$PGR_NODE"; do
        if [ "$attempt" -ge 30 ]; then
            log "pg_basebackup failed $attempt times; giving up"
            exit 1
        fi
        log "pg_basebackup attempt $attempt failed; retrying"
        attempt=$((attempt + 1))
        find "$PGDATA" -mindepth 1 -delete
        sleep 2
    done
    $AS_POSTGRES touch "$PGDATA/standby.signal"
    set_primary_conninfo
    log "cloned $PRIMARY after $attempt attempt(s)"
}

rejoin() {
    wait_for_primary
    link_config
    started=$(date +%s)
    # Fetch WAL the rewind needs from the archive, when there is one.
    restore_arg=""
    if [ -d "$PGR_ARCHIVE_DIR" ]; then restore_arg="--restore-target-wal"; fi
    if $AS_POSTGRES pg_rewind --target-pgdata="$PGDATA" $restore_arg \
            --source-server="host=$PRIMARY $CONNECT user=postgres dbname=postgres"; then
        method=pg_rewind
    else
        log "pg_rewind failed; re-cloning the primary instead"
        find "$PGDATA" -mindepth 1 -delete
        clone
        method=pg_basebackup
    fi
    $AS_POSTGRES touch "$PGDATA/standby.signal"
    set_primary_conninfo
    rm -f "$REJOIN_FLAG"
    echo "$method $(date -u +%Y-%m-%dT%H:%M:%SZ) $(( $(date +%s) - started ))s" > "$LAST_REJOIN"
    chown postgres:postgres "$LAST_REJOIN"
    log "rejoined as a standby of $PRIMARY with $method"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ "$PGR_NODE" = "$PGR_INITDB_NODE" ] && ! find_primary; then
        log "initialising a new cluster in $PGDATA"
        $AS_POSTGRES initdb -D "$PGDATA" --username=postgres --auth-local=peer \
            --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --data-checksums >/dev/null
    else
        find "$PGDATA" -mindepth 1 -delete
        clone
    fi
elif [ -f "$REJOIN_FLAG" ]; then
    log "rejoin requested"
    rejoin
elif [ ! -f "$PGDATA/standby.signal" ] && find_primary; then
    log "this node was a primary but $PRIMARY accepts writes now: rejoining instead of starting a second primary"
    rejoin
fi

link_config
exec $AS_POSTGRES postgres -D "$PGDATA"
