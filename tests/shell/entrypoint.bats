#!/usr/bin/env bats
# The decisions of a manual-mode node's entrypoint (templates/entrypoint.sh as model/render.ts
# renders it), in /bin/sh as in the containers: the file is sourced with ENTRYPOINT_SOURCED=1,
# which defines its functions and runs nothing; the commands and probes a decision uses are
# replaced by stubs that answer as the test says and write down how they were called.
# Run with `npm run test:shell` (Debian: apt-get install -y bats).

# shellcheck disable=SC2016,SC2154 # shell code for node_sh in single quotes; bats sets $stderr
bats_require_minimum_version 1.5.0

setup_file() {
    cd "$BATS_TEST_DIRNAME/../.." || return 1
    export ENTRYPOINT="$BATS_FILE_TMPDIR/entrypoint.sh"
    node -r ./scripts/register-ts.js -e 'process.stdout.write(require("./model/render").renderEntrypoint())' >"$ENTRYPOINT"
}

setup() {
    export PGDATA="$BATS_TEST_TMPDIR/data" CONF_DIR="$BATS_TEST_TMPDIR/conf" CALLS="$BATS_TEST_TMPDIR/calls"
    mkdir -p "$PGDATA" "$CONF_DIR"
    : >"$CALLS"
    export PGR_NODE=pg-1 PGR_INITDB_NODE=pg-0 PGR_SLOT=pg-1 PGR_STANZA="" PGR_CONNECT="port=5432"
    export PGR_REJOIN_FLAG="$PGDATA/pg-replication.rejoin" PGR_RECLONE_FLAG="$PGDATA/pg-replication.reclone"
    export PGR_LAST_REJOIN="$PGDATA/pg-replication.last-rejoin" PGR_STANDBY_CONNECT="port=5432 user=replicator"
}

# Runs shell code $1 in /bin/sh with the entrypoint sourced: commands run as the test's user
# (AS_POSTGRES empty), chown does nothing, and `called WORDS` appends a line to $CALLS.
node_sh() {
    run --separate-stderr sh -c 'ENTRYPOINT_SOURCED=1 . "$ENTRYPOINT"
        AS_POSTGRES=""
        CONNECT="$PGR_CONNECT"
        chown() { :; }
        called() { echo "$*" >>"$CALLS"; }
        '"$1"
}

# The calls the stubs wrote down, one per line.
calls() { cat "$CALLS"; }

# --- start_action: what a node does at start, for the facts that hold -------------------------

action_is() {
    local expected=$1
    shift
    node_sh "start_action $*"
    [ "$status" -eq 0 ]
    [ "$output" = "$expected" ] || { echo "start_action $* printed '$output', expected '$expected'"; return 1; }
}

@test "empty volume, not the bootstrap node: clones, without probing (clone waits for a primary)" {
    action_is clone
    action_is clone restore-requested
}

@test "empty volume on the bootstrap node: asks whether a primary answers first" {
    action_is probe-primary bootstrap-node
    action_is probe-primary bootstrap-node restore-requested
}

@test "empty volume on the bootstrap node with a primary answering: clones it, never initialises" {
    action_is clone bootstrap-node primary-answers
    action_is clone bootstrap-node restore-requested primary-answers
}

@test "empty volume on the bootstrap node, no primary: asks whether any node answers" {
    action_is probe-nodes bootstrap-node no-primary-answers
}

@test "empty volume on the bootstrap node, no primary but a standby answers: waits for a primary" {
    action_is await-primary bootstrap-node no-primary-answers node-answers
    action_is await-primary bootstrap-node restore-requested no-primary-answers node-answers
}

@test "empty volume on the bootstrap node, nothing answers: restores when restoreFrom is set, else initdb" {
    action_is restore bootstrap-node restore-requested no-primary-answers no-node-answers
    action_is initdb bootstrap-node no-primary-answers no-node-answers
    action_is initdb no-node-answers no-primary-answers bootstrap-node
}

@test "a requested re-clone goes before a requested rejoin, and neither probes" {
    action_is reclone data reclone-requested
    action_is reclone data rejoin-requested reclone-requested standby
    action_is rejoin data rejoin-requested
    action_is rejoin data rejoin-requested standby bootstrap-node
}

@test "a volume with data and no request: asks whether a primary answers" {
    action_is probe-primary data
    action_is probe-primary data standby
    action_is probe-primary data bootstrap-node restore-requested
}

@test "no primary answers: starts as it was (a primary stays one, a standby waits), never initdb" {
    action_is start data no-primary-answers
    action_is start data standby no-primary-answers
    action_is start data bootstrap-node no-primary-answers
}

@test "another node accepts writes: a standby is checked, an old primary rejoins (no second primary)" {
    action_is check-standby data standby primary-answers
    action_is rejoin-old-primary data primary-answers
    action_is rejoin-old-primary data bootstrap-node primary-answers
}

@test "an unknown fact is an error, not a guess" {
    node_sh 'start_action data primry-answers'
    [ "$status" -eq 2 ]
    [[ "$stderr" == *"unknown fact primry-answers"* ]]
}

# --- file_facts: what the volume and the configuration tell ------------------------------------

@test "file_facts: an empty volume on another node tells nothing" {
    node_sh file_facts
    [ "$status" -eq 0 ]
    [ "$output" = "" ]
}

@test "file_facts: the bootstrap node and restoreFrom's restore.env" {
    touch "$CONF_DIR/restore.env"
    PGR_NODE=pg-0 node_sh file_facts
    [ "$output" = "$(printf 'bootstrap-node\nrestore-requested')" ]
}

@test "file_facts: without PG_VERSION (or with an empty one) flags and standby.signal are ignored" {
    touch "$PGDATA/standby.signal" "$PGR_REJOIN_FLAG" "$PGR_RECLONE_FLAG"
    node_sh file_facts
    [ "$output" = "" ]
    : >"$PGDATA/PG_VERSION"
    node_sh file_facts
    [ "$output" = "" ]
}

@test "file_facts: a data directory with its flags and standby.signal" {
    echo 17 >"$PGDATA/PG_VERSION"
    node_sh file_facts
    [ "$output" = data ]
    touch "$PGDATA/standby.signal" "$PGR_REJOIN_FLAG" "$PGR_RECLONE_FLAG"
    node_sh file_facts
    [ "$output" = "$(printf 'data\nreclone-requested\nrejoin-requested\nstandby')" ]
}

# --- decide_start: probes run only when asked, in order; their results stay set ----------------

probes='
    find_primary() { called find_primary; [ -z "${STUB_PRIMARY:-}" ] && return 1; PRIMARY=$STUB_PRIMARY; PRIMARY_SYSID=42; }
    find_any_node() { called find_any_node; [ -z "${STUB_ANSWERING:-}" ] && return 1; ANSWERING=$STUB_ANSWERING; }
'

@test "decide_start: a standby finds its primary with one probe, PRIMARY and PRIMARY_SYSID set" {
    echo 17 >"$PGDATA/PG_VERSION"
    touch "$PGDATA/standby.signal"
    STUB_PRIMARY=pg-2 node_sh "$probes"'decide_start; echo "$START_ACTION $PRIMARY $PRIMARY_SYSID"'
    [ "$output" = "check-standby pg-2 42" ]
    [ "$(calls)" = find_primary ]
}

@test "decide_start: the bootstrap node with an empty volume probes the primary, then any node" {
    STUB_ANSWERING=pg-1 PGR_NODE=pg-0 node_sh "$probes"'decide_start; echo "$START_ACTION $ANSWERING"'
    [ "$output" = "await-primary pg-1" ]
    [ "$(calls)" = "$(printf 'find_primary\nfind_any_node')" ]
    : >"$CALLS"
    PGR_NODE=pg-0 node_sh "$probes"'decide_start; echo "$START_ACTION"'
    [ "$output" = initdb ]
    [ "$(calls)" = "$(printf 'find_primary\nfind_any_node')" ]
}

@test "decide_start: a primary answering spares the probe of the other nodes" {
    STUB_PRIMARY=pg-1 PGR_NODE=pg-0 node_sh "$probes"'decide_start; echo "$START_ACTION"'
    [ "$output" = clone ]
    [ "$(calls)" = find_primary ]
}

@test "decide_start: a requested rejoin and a replica's empty volume probe nothing" {
    node_sh "$probes"'decide_start; echo "$START_ACTION"'
    [ "$output" = clone ]
    echo 17 >"$PGDATA/PG_VERSION"
    touch "$PGR_REJOIN_FLAG"
    node_sh "$probes"'decide_start; echo "$START_ACTION"'
    [ "$output" = rejoin ]
    [ "$(calls)" = "" ]
}

# --- start_as: each action does what it says ------------------------------------------------------

actions='
    clone() { called clone; }
    reclone() { called reclone "$1"; }
    rejoin() { called rejoin; }
    check_standby() { called check_standby; }
    init_cluster() { called init_cluster; }
    restore_from_backup() { called restore_from_backup; }
    wait_for_primary() { called wait_for_primary; }
    record_rejoin() { called record_rejoin "$1" "$2"; }
    PRIMARY=pg-2 ANSWERING=pg-1
'

@test "start_as await-primary and clone: the volume's leftovers are deleted, then it clones" {
    for action in await-primary clone; do
        : >"$CALLS"
        touch "$PGDATA/leftover"
        node_sh "$actions"'start_as '"$action"
        [ "$status" -eq 0 ]
        [ ! -e "$PGDATA/leftover" ]
        [ "$(calls)" = clone ]
    done
    [[ "$stderr" != *"refusing"* ]]
    node_sh "$actions"'start_as await-primary'
    [[ "$stderr" == *"refusing to initialise a new cluster: pg-1 holds this cluster's data"* ]]
}

@test "start_as reclone: waits for a primary, re-clones and records a pg_basebackup" {
    node_sh "$actions"'start_as reclone'
    [ "$(calls)" = "$(printf 'wait_for_primary\nreclone requested\nrecord_rejoin pg_basebackup - - -')" ]
}

@test "start_as: initdb, restore, rejoin, rejoin-old-primary and check-standby call their function" {
    for pair in initdb:init_cluster restore:restore_from_backup rejoin:rejoin rejoin-old-primary:rejoin check-standby:check_standby; do
        : >"$CALLS"
        node_sh "$actions"'start_as '"${pair%%:*}"
        [ "$status" -eq 0 ]
        [ "$(calls)" = "${pair#*:}" ] || { echo "start_as ${pair%%:*} called $(calls)"; return 1; }
    done
    node_sh "$actions"'start_as rejoin-old-primary'
    [[ "$stderr" == *"this node was a primary but pg-2 accepts writes now"* ]]
}

@test "start_as start does nothing; an unknown action stops the node" {
    node_sh "$actions"'start_as start'
    [ "$status" -eq 0 ]
    [ "$(calls)" = "" ]
    node_sh "$actions"'start_as probe-primary; echo not reached'
    [ "$status" -eq 1 ]
    [ "$output" = "" ]
}

# --- check_standby: another cluster's data, WAL gone, or start as it is ------------------------

standby='
    PRIMARY=pg-2 PRIMARY_SYSID=42
    control_field() { echo "$STUB_SYSID"; }
    repair_slot() { called repair_slot; }
    wal_available() { called wal_available; NEEDED_SEGMENT=00000000000000A0 OLDEST_SEGMENT=00000000000000B0; [ -z "${STUB_WAL_GONE:-}" ]; }
    reclone() { called reclone "$1"; }
    record_rejoin() { called record_rejoin "$1" "$2"; }
'

@test "check_standby: another cluster's system identifier re-clones at once" {
    STUB_SYSID=7 node_sh "$standby"'check_standby'
    [ "$status" -eq 0 ]
    [ "$(calls)" = "$(printf '%s\n' "reclone this volume holds another cluster's data (system identifier 7, pg-2 has 42)" "record_rejoin pg_basebackup - - -")" ]
}

@test "check_standby: the same cluster, WAL available: repairs the slot and starts as it is" {
    STUB_SYSID=42 node_sh "$standby"'check_standby'
    [ "$(calls)" = "$(printf 'repair_slot\nwal_available')" ]
}

@test "check_standby: an unreadable control file proves no other cluster" {
    STUB_SYSID="" node_sh "$standby"'check_standby'
    [ "$(calls)" = "$(printf 'repair_slot\nwal_available')" ]
}

@test "check_standby: the WAL it needs is gone: re-clones and says which segment" {
    STUB_SYSID=42 STUB_WAL_GONE=1 node_sh "$standby"'check_standby'
    [ "$(calls)" = "$(printf '%s\n' repair_slot wal_available "reclone it needs WAL segment 00000000000000A0, which pg-2 (oldest 00000000000000B0) and the archive no longer have" "record_rejoin pg_basebackup - - -")" ]
}

# --- rejoin: pg_rewind, or a re-clone when it fails or leaves WAL nobody has ---------------------

rejoin_stubs='
    wait_for_primary() { PRIMARY=pg-2; }
    link_config() { :; }
    discarded_wal() { echo "0/3000000 0/3000100 2"; }
    pg_rewind() { called pg_rewind "$@"; [ -z "${STUB_REWIND_FAILS:-}" ]; }
    repair_slot() { called repair_slot; }
    wal_available() { called wal_available; NEEDED_SEGMENT=A OLDEST_SEGMENT=B; [ -z "${STUB_WAL_GONE:-}" ]; }
    reclone() { called reclone "$1"; }
    record_rejoin() { called record_rejoin "$1" "$2"; }
'

@test "rejoin: pg_rewind succeeds: its slots dropped, a standby of the primary, discarded WAL recorded" {
    mkdir -p "$PGDATA/pg_replslot/old"
    touch "$PGR_REJOIN_FLAG"
    node_sh "$rejoin_stubs"'rejoin'
    [ "$status" -eq 0 ]
    [ "$(sed -n 2,99p "$CALLS")" = "$(printf '%s\n' repair_slot wal_available "record_rejoin pg_rewind 0/3000000 0/3000100 2")" ]
    [[ "$(sed -n 1p "$CALLS")" == "pg_rewind --target-pgdata=$PGDATA --source-server=host=pg-2 port=5432 user=postgres dbname=postgres" ]]
    [ -z "$(ls -A "$PGDATA/pg_replslot")" ]
    [ -f "$PGDATA/standby.signal" ]
    [ ! -e "$PGR_REJOIN_FLAG" ]
    grep -qx "primary_conninfo = 'host=pg-2 port=5432 user=replicator'" "$PGDATA/postgresql.auto.conf"
}

@test "rejoin: with backups pg_rewind fetches missing WAL from the archive" {
    PGR_STANZA=main node_sh "$rejoin_stubs"'rejoin'
    [[ "$(sed -n 1p "$CALLS")" == "pg_rewind --target-pgdata=$PGDATA --restore-target-wal --source-server="* ]]
}

@test "rejoin: pg_rewind fails: re-clones, records pg_basebackup with nothing discarded" {
    STUB_REWIND_FAILS=1 node_sh "$rejoin_stubs"'rejoin'
    [ "$status" -eq 0 ]
    [ "$(sed -n 2,99p "$CALLS")" = "$(printf '%s\n' "reclone pg_rewind failed" "record_rejoin pg_basebackup - - -")" ]
}

@test "rejoin: rewound but the WAL it needs is gone: re-clones, records pg_basebackup" {
    STUB_WAL_GONE=1 node_sh "$rejoin_stubs"'rejoin'
    [ "$(sed -n 2,99p "$CALLS")" = "$(printf '%s\n' repair_slot wal_available "reclone it needs WAL segment A, which pg-2 (oldest B) and the archive no longer have" "record_rejoin pg_basebackup - - -")" ]
}

# --- wal_available: is the WAL this standby needs next still somewhere? ---------------------------

wal_stubs='
    PRIMARY=pg-2
    local_wal_end() { echo "${STUB_END-0/5000028}"; }
    control_field() { echo 2; }
    archive_has() { called archive_has "$1"; [ "$1" = "${STUB_ARCHIVED:-}" ]; }
    on_primary() {
        case $1 in
            *pg_current_wal_lsn*) echo 00000003 ;;
            *pg_ls_waldir*) [ -z "${STUB_PRIMARY_DOWN:-}" ] || return 2; echo "${STUB_OLDEST-0000000000000004}" ;;
        esac
    }
'

available() { node_sh "$wal_stubs"'if wal_available; then echo yes; else echo "no $NEEDED_SEGMENT $OLDEST_SEGMENT"; fi'; }

@test "wal_available: the primary still holds the needed segment (its oldest is older or the same)" {
    available
    [ "$output" = yes ]
    STUB_OLDEST=0000000000000005 available
    [ "$output" = yes ]
}

@test "wal_available: the primary's oldest segment is newer and the archive lacks it: not available" {
    STUB_OLDEST=0000000000000006 available
    [ "$output" = "no 0000000000000005 0000000000000006" ]
    [ "$(calls)" = "$(printf 'archive_has 000000020000000000000005\narchive_has 000000030000000000000005')" ]
}

@test "wal_available: the archive holds it on this node's timeline or the primary's" {
    STUB_OLDEST=0000000000000006 STUB_ARCHIVED=000000020000000000000005 available
    [ "$output" = yes ]
    STUB_OLDEST=0000000000000006 STUB_ARCHIVED=000000030000000000000005 available
    [ "$output" = yes ]
}

@test "wal_available: what cannot be known is no reason to re-clone" {
    STUB_END="" available
    [ "$output" = yes ]
    STUB_PRIMARY_DOWN=1 available
    [ "$output" = yes ]
    STUB_OLDEST="" available
    [ "$output" = yes ]
}

@test "segment_of: the segment holding an LSN (16 MB segments)" {
    node_sh 'for lsn in 0/52DC6F8 1/FF000000 0/0 2A/FFFFFF; do segment_of $lsn; echo; done'
    [ "$output" = "$(printf '0000000000000005\n00000001000000FF\n0000000000000000\n0000002A00000000')" ]
}

@test "local_wal_end: where pg_waldump stops, else the REDO location; nothing without a control file" {
    stubs='
        control_field() { case $1 in *REDO*) echo "${STUB_REDO-0/5000028}" ;; *) echo 1 ;; esac; }
        pg_waldump() { called pg_waldump "$@"; echo "${STUB_WALDUMP-pg_waldump: error: error in WAL record at 0/52DC6F8: invalid record length}" >&2; return 1; }
    '
    node_sh "$stubs"'local_wal_end'
    [ "$output" = 0/52DC6F8 ]
    [ "$(calls)" = "pg_waldump --quiet --path=$PGDATA/pg_wal --timeline=1 --start=0/5000028" ]
    STUB_WALDUMP="" node_sh "$stubs"'local_wal_end'
    [ "$output" = 0/5000028 ]
    STUB_REDO="" node_sh "$stubs"'local_wal_end'
    [ "$output" = "" ]
}

# --- discarded_wal: what an old primary wrote after the fork --------------------------------------

@test "discarded_wal: from the fork to the last record, with its commits, LSNs as PostgreSQL prints them" {
    stubs='
        PRIMARY=pg-2
        control_field() { echo "${STUB_TLI:-2}"; }
        on_primary() { printf "1\t0/3000000\tno recovery target specified\n2\t0/52DC000\tno recovery target specified\n"; }
        pg_waldump() {
            echo "rmgr: Heap        len (rec/tot):     54/    54, tx:        750, lsn: 0/052DC028, prev 0/052DC000, desc: INSERT"
            echo "rmgr: Transaction len (rec/tot):     34/    34, tx:        750, lsn: 0/052DC060, prev 0/052DC028, desc: COMMIT 2025-01-01"
            echo "rmgr: Transaction len (rec/tot):     34/    34, tx:        751, lsn: 0/052DC6F8, prev 0/052DC060, desc: COMMIT 2025-01-01"
        }
    '
    node_sh "$stubs"'discarded_wal'
    [ "$output" = "0/52DC000 0/52DC6F8 2" ]
    # This node is on the primary's timeline (no fork in its history): nothing diverged.
    STUB_TLI=3 node_sh "$stubs"'discarded_wal'
    [ "$output" = "- - -" ]
}

@test "discarded_wal: the primary still on timeline 1 (no history): nothing diverged" {
    node_sh 'PRIMARY=pg-2; control_field() { echo 1; }; on_primary() { :; }; discarded_wal'
    [ "$output" = "- - -" ]
}

# --- repair_slot: a slot invalidated past its cap is dropped and created anew --------------------

slot_stubs='
    PRIMARY=pg-2
    on_primary() {
        case $1 in
            *invalidation_reason*) called check; [ -z "${STUB_DOWN:-}" ] || return 2; echo "${STUB_REASON:-}" ;;
            *pg_drop_replication_slot*) called drop ;;
            *pg_create_physical_replication_slot*) called create-if-missing ;;
        esac
    }
'

@test "repair_slot: an invalidated slot is dropped, then created" {
    STUB_REASON=wal_removed node_sh "$slot_stubs"'repair_slot'
    [ "$status" -eq 0 ]
    [ "$(calls)" = "$(printf 'check\ndrop\ncreate-if-missing')" ]
    [[ "$stderr" == *"slot pg-1 on pg-2 is invalidated (wal_removed)"* ]]
}

@test "repair_slot: a sound slot is only created if missing; no slots or no answer: nothing" {
    node_sh "$slot_stubs"'repair_slot'
    [ "$(calls)" = "$(printf 'check\ncreate-if-missing')" ]
    : >"$CALLS"
    STUB_DOWN=1 node_sh "$slot_stubs"'repair_slot'
    [ "$status" -eq 0 ]
    [ "$(calls)" = check ]
    : >"$CALLS"
    PGR_SLOT="" node_sh "$slot_stubs"'repair_slot'
    [ "$status" -eq 0 ]
    [ "$(calls)" = "" ]
}

@test "archive_has: without backups there is no archive to ask" {
    node_sh 'pgbackrest() { called pgbackrest; }; archive_has 000000010000000000000001 || echo absent'
    [ "$output" = absent ]
    [ "$(calls)" = "" ]
    PGR_STANZA=main node_sh 'pgbackrest() { called pgbackrest "$@"; }; archive_has 000000010000000000000001 && echo present'
    [ "$output" = present ]
    [[ "$(calls)" == "pgbackrest --stanza=main --no-archive-async archive-get 000000010000000000000001 "* ]]
}

@test "sourced with ENTRYPOINT_SOURCED=1, the entrypoint runs nothing" {
    node_sh 'echo sourced'
    [ "$status" -eq 0 ]
    [ "$output" = sourced ]
    [ "$stderr" = "" ]
    [ -z "$(ls -A "$PGDATA")" ]
}
