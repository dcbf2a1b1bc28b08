#!/bin/sh
# Entrypoint of a pg-replication node. Works on the official postgres image and on the local
# Debian-built image: both have the postgres user, PGDATA and the server binaries on PATH.
#
# A node never decides from its files alone that it is the primary. At start it:
# - empty volume: clones the current primary (found through the cluster alias, which resolves to
#   every node), or runs initdb when it is the configured bootstrap node and no primary answers;
# - rejoin requested ($PGR_REJOIN_FLAG, left by failover/rejoin) or was a primary
#   (no standby.signal) while another node now accepts writes: rewinds onto that primary with
#   pg_rewind, or re-clones it when rewinding is impossible, then starts as a standby;
# - otherwise starts as it was: a standby follows whichever node is read-write.
# A standby whose data belongs to another cluster (a volume left by a destroyed stack), or whose
# next WAL no primary and no archive has any more, is re-cloned instead of looping on errors.
#
# The decisions are functions of the facts they are given (start_action, file_facts, ...), tested
# by tests/shell/entrypoint.bats, which sources this file with ENTRYPOINT_SOURCED=1: then only
# the functions are defined, and main, at the end, runs nothing.
set -eu

# Paths, flag files and libpq options come from node.env (model/render.ts renderNodeEnv), which the
# day-2 commands share through model/topology.ts PATHS: nothing here spells them a second time.
load_settings() {
    # shellcheck source=/dev/null # rendered per node at deploy time (model/render.ts)
    . "$CONF_DIR/node.env"
    # shellcheck source=/dev/null # rendered per stack at deploy time (infra/manual-roles.ts)
    . "$CONF_DIR/bootstrap.env"
    PGDATA="$PGR_DATA_DIR"
    CONNECT="$PGR_CONNECT"
    # Run a command as the postgres OS user (gosu in the official image, setpriv elsewhere). HOME
    # is the postgres user's: libpq looks for a client certificate in ~/.postgresql and fails a TLS
    # connection when it may not read /root's.
    export HOME="$PGR_HOME"
    if command -v gosu >/dev/null 2>&1; then
        AS_POSTGRES="gosu postgres"
    else
        AS_POSTGRES="setpriv --reuid=postgres --regid=postgres --init-groups"
    fi
}

log() { echo "pg-replication[$PGR_NODE]: $*" >&2; }

prepare_node() {
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    if [ -f "$CONF_DIR/tls-setup.sh" ]; then
        # shellcheck source=/dev/null # uploaded beside this file (templates/tls-setup.sh.tmpl)
        . "$CONF_DIR/tls-setup.sh"
    fi
    if [ -n "$PGR_STANZA" ]; then
        # shellcheck source=/dev/null # uploaded beside this file (templates/backup-node-setup.sh)
        . "$CONF_DIR/backup-node-setup.sh"
    fi
    # Passwords reach the node as an uploaded root-only file, never as environment variables.
    if [ -f "$CONF_DIR/pgpass" ]; then
        install -o postgres -g postgres -m 0600 "$CONF_DIR/pgpass" "$PGR_PGPASS"
    fi
}

# Sets PRIMARY to the node name (cluster_name) of the node that accepts writes, trying every
# address of the cluster alias: libpq would give up after the first read-only address of a name.
# This node is not running yet, so the primary found is another one.
# PRIMARY_SYSID is its database system identifier.
find_primary() {
    PRIMARY=""
    PRIMARY_SYSID=""
    for ip in $(getent ahostsv4 "$PGR_CLUSTER_ALIAS" | awk '{print $1}' | sort -u); do
        answer=$($AS_POSTGRES psql "host=$ip $CONNECT user=postgres dbname=postgres target_session_attrs=read-write" \
            -XAtqc "SELECT current_setting('cluster_name') || ' ' || system_identifier FROM pg_control_system()" 2>/dev/null) || continue
        if [ -n "$answer" ]; then
            PRIMARY="${answer%% *}"
            PRIMARY_SYSID="${answer#* }"
            return 0
        fi
    done
    return 1
}

# Runs SQL on $PRIMARY as the superuser (pgpass) and prints the answer.
on_primary() {
    $AS_POSTGRES psql "host=$PRIMARY $CONNECT user=postgres dbname=postgres" -XAtqc "$1"
}

# Prints a field of this node's control file, e.g. "Database system identifier".
control_field() {
    $AS_POSTGRES pg_controldata -D "$PGDATA" 2>/dev/null | sed -n "s/^$1:[[:space:]]*//p"
}

# Prints the segment part (the last 16 hex digits of a WAL file name) holding LSN $1 (16 MB segments).
segment_of() {
    hi=${1%/*}
    lo=${1#*/}
    printf '%08X%08X' "$((0x$hi))" "$((0x$lo >> 24))"
}

# Where this node's valid local WAL ends: streaming resumes there. pg_waldump reads from the last
# restartpoint's REDO location and stops, with an error naming the position, at the end.
local_wal_end() {
    redo=$(control_field "Latest checkpoint's REDO location")
    tli=$(control_field "Latest checkpoint's TimeLineID")
    [ -n "$redo" ] && [ -n "$tli" ] || return 0
    end=$($AS_POSTGRES pg_waldump --quiet --path="$PGDATA/pg_wal" --timeline="$tli" --start="$redo" 2>&1 \
        | grep -oE '[0-9A-F]+/[0-9A-F]+' | tail -1)
    echo "${end:-$redo}"
}

# Succeeds when the backup repository holds WAL file $1 (timeline and segment, 24 hex digits):
# fetched once into a scratch file, synchronously (the async spool is for recovery).
archive_has() {
    [ -n "$PGR_STANZA" ] || return 1
    probe=/tmp/pg-replication-wal-probe
    rm -f "$probe"
    if $AS_POSTGRES pgbackrest --stanza="$PGR_STANZA" --no-archive-async archive-get "$1" "$probe" >/dev/null 2>&1; then
        rm -f "$probe"
        return 0
    fi
    rm -f "$probe"
    return 1
}

# Succeeds when the WAL this standby needs next is still somewhere: on the primary (pg_wal holds
# every segment from its oldest on) or in the backup repository (on this node's timeline or the
# primary's). Sets NEEDED_SEGMENT and OLDEST_SEGMENT.
wal_available() {
    end=$(local_wal_end)
    [ -n "$end" ] || return 0
    NEEDED_SEGMENT=$(segment_of "$end")
    own_tli=$(printf '%08X' "$(control_field "Latest checkpoint's TimeLineID")")
    primary_tli=$(on_primary "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)" 2>/dev/null || true)
    for tli in $own_tli $primary_tli; do
        archive_has "$tli$NEEDED_SEGMENT" && return 0
    done
    OLDEST_SEGMENT=$(on_primary "SELECT coalesce(min(substr(name, 9)), '') FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}\$'" 2>/dev/null) || return 0
    [ -n "$OLDEST_SEGMENT" ] || return 0
    [ "$(printf '%s\n%s\n' "$OLDEST_SEGMENT" "$NEEDED_SEGMENT" | sort | head -1)" = "$OLDEST_SEGMENT" ]
}

# What this node wrote after its history forked from $PRIMARY's (an old primary's commits that a
# failover lost): "<from LSN> <to LSN> <commit records>", read from its WAL before pg_rewind
# replaces it; "- - -" when nothing diverged or it cannot be read.
discarded_wal() {
    tli=$(control_field "Latest checkpoint's TimeLineID")
    fork=$(on_primary "SELECT pg_read_file('pg_wal/' || tli || '.history') FROM substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS tli WHERE tli <> '00000001'" 2>/dev/null \
        | awk -v t="$tli" '$1 == t { print $2 }')
    if [ -z "$tli" ] || [ -z "$fork" ]; then echo "- - -"; return 0; fi
    dump=$($AS_POSTGRES pg_waldump --path="$PGDATA/pg_wal" --timeline="$tli" --start="$fork" 2>/dev/null || true)
    commits=$(printf '%s\n' "$dump" | grep -c 'desc: COMMIT' || true)
    last=$(printf '%s\n' "$dump" | sed -n 's/.*lsn: \([0-9A-F]*\/[0-9A-F]*\),.*/\1/p' | tail -1)
    # pg_waldump zero-pads the low half (0/052DC6F8); print LSNs as PostgreSQL does (0/52DC6F8).
    last=${last:-$fork}
    echo "$fork $(printf '%X/%X' "$((0x${last%/*}))" "$((0x${last#*/}))") $commits"
}

# Points this standby at $PRIMARY. The failover and rejoin commands change it later with
# ALTER SYSTEM (reloadable), which writes the same file.
set_primary_conninfo() {
    auto="$PGDATA/postgresql.auto.conf"
    touch "$auto"
    sed -i '/^primary_conninfo[[:space:]]*=/d' "$auto"
    echo "primary_conninfo = 'host=$PRIMARY $PGR_STANDBY_CONNECT'" >> "$auto"
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
            --no-password ${slot_args:+"$slot_args"} \
            --dbname="host=$PRIMARY $PGR_STANDBY_CONNECT"; do
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

# Makes sure this node's slot on $PRIMARY exists and retains WAL: a slot invalidated past
# max_slot_wal_keep_size (wal_status lost) can never be streamed from again, so it is dropped and
# created anew; what the node misses then comes from the archive, or it is re-cloned (wal_available).
repair_slot() {
    [ -n "$PGR_SLOT" ] || return 0
    reason=$(on_primary "SELECT coalesce(invalidation_reason, wal_status) FROM pg_replication_slots WHERE slot_name = '$PGR_SLOT' AND (wal_status = 'lost' OR invalidation_reason IS NOT NULL)" 2>/dev/null) || return 0
    if [ -n "$reason" ]; then
        log "slot $PGR_SLOT on $PRIMARY is invalidated ($reason): re-creating it"
        on_primary "SELECT pg_drop_replication_slot('$PGR_SLOT')" >/dev/null 2>&1 || true
    fi
    on_primary "SELECT pg_create_physical_replication_slot('$PGR_SLOT', true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$PGR_SLOT')" >/dev/null 2>&1 || true
}

# Throws this node's data away and clones the primary again (data is only ever a copy on a
# standby); $1 says why.
reclone() {
    log "re-cloning $PRIMARY: $1"
    RECLONE_REASON="$1"
    find "$PGDATA" -mindepth 1 -delete
    clone
}

# Leaves what the last rejoin or re-clone did for `npm run rejoin` to report: method, when, how
# long, the discarded WAL range and commits ("- - -" when none), and why it re-cloned.
record_rejoin() {
    echo "$1 $(date -u +%Y-%m-%dT%H:%M:%SZ) $(( $(date +%s) - started ))s $2 ${RECLONE_REASON:-}" > "$PGR_LAST_REJOIN"
    chown postgres:postgres "$PGR_LAST_REJOIN"
}

rejoin() {
    wait_for_primary
    link_config
    started=$(date +%s)
    discarded=$(discarded_wal)
    # Fetch WAL the rewind needs from the backup repository (restore_command), when there is one.
    restore_arg=""
    if [ -n "$PGR_STANZA" ]; then restore_arg="--restore-target-wal"; fi
    if $AS_POSTGRES pg_rewind --target-pgdata="$PGDATA" $restore_arg \
            --source-server="host=$PRIMARY $CONNECT user=postgres dbname=postgres"; then
        method=pg_rewind
    else
        reclone "pg_rewind failed"
        method=pg_basebackup
    fi
    if [ "$method" = pg_rewind ]; then
        # Slots it kept from its time as a primary would pin WAL on this standby up to their cap.
        find "$PGDATA/pg_replslot" -mindepth 1 -delete 2>/dev/null || true
        repair_slot
        if ! wal_available; then
            reclone "it needs WAL segment $NEEDED_SEGMENT, which $PRIMARY (oldest $OLDEST_SEGMENT) and the archive no longer have"
            method=pg_basebackup
        fi
    fi
    $AS_POSTGRES touch "$PGDATA/standby.signal"
    set_primary_conninfo
    rm -f "$PGR_REJOIN_FLAG"
    if [ "$method" != pg_rewind ]; then discarded="- - -"; fi
    record_rejoin "$method" "$discarded"
    log "rejoined as a standby of $PRIMARY with $method"
}

# Sets ANSWERING to the name of another node whose server answers at all (a standby, say).
find_any_node() {
    ANSWERING=""
    for ip in $(getent ahostsv4 "$PGR_CLUSTER_ALIAS" | awk '{print $1}' | sort -u); do
        ANSWERING=$($AS_POSTGRES psql "host=$ip $CONNECT user=postgres dbname=postgres" -XAtqc "SHOW cluster_name" 2>/dev/null) || continue
        [ -z "$ANSWERING" ] || return 0
    done
    return 1
}

# The recovery settings pgBackRest's restore writes into postgresql.auto.conf: removed once the
# restored server is promoted, or a later standby of this node would stop replaying at the target.
RECOVERY_SETTINGS="restore_command recovery_target recovery_target_time recovery_target_lsn recovery_target_xid recovery_target_name recovery_target_action recovery_target_inclusive"

# Bootstraps this stack from another stack's backup (restoreFrom, restore.env): restores the newest
# backup before the target from the source's repository (mounted read-only), replays its WAL to the
# target with the server on its socket only, waits for the promotion, removes the recovery settings
# and stops it again; the normal start follows. A failure leaves the volume empty, records why and
# waits (no restart loop): the deployment fails at once with it; nothing of the source is written to.
restore_failed() {
    find "$PGDATA" -mindepth 1 -delete
    log "$1; the volume is left empty. Remove this stack (npm run live -- down, or pulumi destroy), correct restoreTarget or restoreFrom, and deploy again"
    echo "restore from $PGR_RESTORE_FROM failed: $1" > "$PGR_RESTORE_FAILED"
    exec sleep infinity
}

restore_from_backup() {
    # shellcheck source=/dev/null # rendered per stack at deploy time (model/restore.ts)
    . "$CONF_DIR/restore.env"
    install -d -o postgres -g postgres -m 0750 "$(dirname "$PGR_RESTORE_CONFIG")"
    install -o postgres -g postgres -m 0600 "$CONF_DIR/restore-source.conf" "$PGR_RESTORE_CONFIG"
    log "restoring stack $PGR_RESTORE_FROM's backup, recovery target: $PGR_RESTORE_TYPE ${PGR_RESTORE_TARGET:-(end of the archived WAL)}"
    find "$PGDATA" -mindepth 1 -delete
    set -- --config="$PGR_RESTORE_CONFIG" --stanza=main restore
    if [ "$PGR_RESTORE_TYPE" != default ]; then
        set -- "$@" --type="$PGR_RESTORE_TYPE" --target="$PGR_RESTORE_TARGET" --target-action=promote
    fi
    rm -f "$PGR_RESTORE_FAILED"
    if ! restored=$($AS_POSTGRES pgbackrest "$@" 2>&1); then
        echo "$restored" >&2
        restore_failed "pgbackrest restore: $(echo "$restored" | grep -E 'ERROR' | tail -1)"
    fi
    echo "$restored" >&2
    cat "$CONF_DIR/settings.conf" >> "$PGDATA/postgresql.auto.conf"
    link_config
    recovery_log=/tmp/pg-replication-restore.log
    if ! $AS_POSTGRES pg_ctl -D "$PGDATA" -w -t 3600 -o "-c listen_addresses=''" -l "$recovery_log" start; then
        cat "$recovery_log" >&2
        restore_failed "recovery failed: $(grep -E 'FATAL|PANIC' "$recovery_log" | tail -1)"
    fi
    until [ "$($AS_POSTGRES psql -XAtqc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
        if ! $AS_POSTGRES pg_ctl -D "$PGDATA" status >/dev/null 2>&1; then
            cat "$recovery_log" >&2
            restore_failed "recovery stopped before the promotion: $(grep -E 'FATAL|PANIC' "$recovery_log" | tail -1)"
        fi
        sleep 0.5
    done
    for setting in $RECOVERY_SETTINGS; do
        $AS_POSTGRES psql -XAtqc "ALTER SYSTEM RESET $setting" >/dev/null
    done
    log "restored and promoted at $($AS_POSTGRES psql -XAtqc 'SELECT pg_current_wal_lsn()') (WAL $($AS_POSTGRES psql -XAtqc 'SELECT pg_walfile_name(pg_current_wal_lsn())'))"
    $AS_POSTGRES pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
}


# A standby that found $PRIMARY (PRIMARY_SYSID) at start: re-cloned when its volume holds another
# cluster's data or when the WAL it needs next is gone; otherwise it starts as it is.
check_standby() {
    started=$(date +%s)
    own_sysid=$(control_field "Database system identifier")
    if holds_other_cluster "$own_sysid" "$PRIMARY_SYSID"; then
        reclone "this volume holds another cluster's data (system identifier $own_sysid, $PRIMARY has $PRIMARY_SYSID)"
        record_rejoin pg_basebackup "- - -"
        return 0
    fi
    repair_slot
    if ! wal_available; then
        reclone "it needs WAL segment $NEEDED_SEGMENT, which $PRIMARY (oldest $OLDEST_SEGMENT) and the archive no longer have"
        record_rejoin pg_basebackup "- - -"
    fi
}

# Succeeds when this node's system identifier $1 is known and is not its primary's, $2: an
# unreadable control file (empty $1) proves nothing.
holds_other_cluster() {
    [ -n "$1" ] && [ "$1" != "$2" ]
}

# A new cluster on the bootstrap node, with the stack's settings from its first start on (replicas
# clone them with the data directory).
init_cluster() {
    log "initialising a new cluster in $PGDATA"
    $AS_POSTGRES initdb -D "$PGDATA" --username=postgres --auth-local=peer \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --data-checksums >/dev/null
    cat "$CONF_DIR/settings.conf" >> "$PGDATA/postgresql.auto.conf"
}

# Prints the facts this node's files tell, one word each: data (PG_VERSION), reclone-requested,
# rejoin-requested, standby (standby.signal), bootstrap-node (PGR_INITDB_NODE), restore-requested
# (restore.env, from restoreFrom). A volume without PG_VERSION tells nothing else: whatever it
# holds is thrown away.
file_facts() {
    if [ -s "$PGDATA/PG_VERSION" ]; then
        echo data
        if [ -f "$PGR_RECLONE_FLAG" ]; then echo reclone-requested; fi
        if [ -f "$PGR_REJOIN_FLAG" ]; then echo rejoin-requested; fi
        if [ -f "$PGDATA/standby.signal" ]; then echo standby; fi
    fi
    if [ "$PGR_NODE" = "$PGR_INITDB_NODE" ]; then echo bootstrap-node; fi
    if [ -f "$CONF_DIR/restore.env" ]; then echo restore-requested; fi
}

# Prints what this node does at start, given the facts that hold (words, any order): file_facts'
# and what the probes found, primary-answers or no-primary-answers (find_primary: a node accepts
# writes) and node-answers or no-node-answers (find_any_node: another node's server answers).
# A probe is asked for (probe-primary, probe-nodes) only when the action depends on it, and before
# the next one. Actions: clone, initdb, restore, await-primary (the bootstrap node never starts a
# new cluster beside standbys that hold this one's data), reclone, rejoin, rejoin-old-primary (no
# second primary), check-standby, start.
start_action() {
    facts=" $* "
    for fact in "$@"; do
        case $fact in
            data | reclone-requested | rejoin-requested | standby | bootstrap-node | restore-requested) ;;
            primary-answers | no-primary-answers | node-answers | no-node-answers) ;;
            *) echo "start_action: unknown fact $fact" >&2; return 2 ;;
        esac
    done
    if ! fact_holds data; then
        if ! fact_holds bootstrap-node; then echo clone
        elif ! fact_known primary-answers; then echo probe-primary
        elif fact_holds primary-answers; then echo clone
        elif ! fact_known node-answers; then echo probe-nodes
        elif fact_holds node-answers; then echo await-primary
        elif fact_holds restore-requested; then echo restore
        else echo initdb
        fi
    elif fact_holds reclone-requested; then echo reclone
    elif fact_holds rejoin-requested; then echo rejoin
    elif ! fact_known primary-answers; then echo probe-primary
    elif fact_holds no-primary-answers; then echo start
    elif fact_holds standby; then echo check-standby
    else echo rejoin-old-primary
    fi
}

# Whether fact $1 is among start_action's $facts; whether $1 or no-$1 is (a probe's answer).
fact_holds() { case $facts in *" $1 "*) return 0 ;; esac; return 1; }
fact_known() { fact_holds "$1" || fact_holds "no-$1"; }

# Sets START_ACTION from file_facts, running each probe start_action asks for (find_primary sets
# PRIMARY and PRIMARY_SYSID, find_any_node ANSWERING, for the action to use).
decide_start() {
    known=$(file_facts)
    while :; do
        # shellcheck disable=SC2086 # one fact per word
        START_ACTION=$(start_action $known)
        case $START_ACTION in
            probe-primary) if find_primary; then known="$known primary-answers"; else known="$known no-primary-answers"; fi ;;
            probe-nodes) if find_any_node; then known="$known node-answers"; else known="$known no-node-answers"; fi ;;
            *) return 0 ;;
        esac
    done
}

# Does what start_action decided; the server starts after it (main).
start_as() {
    case $1 in
        restore) restore_from_backup ;;
        await-primary)
            # The bootstrap node lost its volume while standbys of the cluster still run: a new
            # cluster here would make them re-clone an empty one. Wait for a primary instead.
            log "refusing to initialise a new cluster: $ANSWERING holds this cluster's data and none accepts writes;" \
                "waiting for a primary to clone (promote one with npm run failover -- --to $ANSWERING)"
            find "$PGDATA" -mindepth 1 -delete
            clone
            ;;
        initdb) init_cluster ;;
        clone)
            find "$PGDATA" -mindepth 1 -delete
            clone
            ;;
        reclone)
            started=$(date +%s)
            wait_for_primary
            reclone "requested"
            record_rejoin pg_basebackup "- - -"
            ;;
        rejoin)
            log "rejoin requested"
            rejoin
            ;;
        rejoin-old-primary)
            log "this node was a primary but $PRIMARY accepts writes now: rejoining instead of starting a second primary"
            rejoin
            ;;
        check-standby) check_standby ;;
        start) ;;
        *)
            log "no start action: $1"
            exit 1
            ;;
    esac
}

main() {
    CONF_DIR=$(dirname "$0")
    load_settings
    prepare_node
    decide_start
    start_as "$START_ACTION"
    link_config
    exec $AS_POSTGRES postgres -D "$PGDATA"
}

if [ "${ENTRYPOINT_SOURCED:-}" != 1 ]; then
    main "$@"
fi
