#!/usr/bin/env bats
# restore_command's wrapper (templates/archive-get.sh, installed in every node with backups on as
# /usr/local/bin/pg-replication-archive-get): pgbackrest archive-get, except that for a few seconds
# after the repository was found not to answer every call fails at once. pgbackrest is a stub that
# writes down its arguments and exits as the test says; the repository's "host" is 127.0.0.1, on a
# port with a listener (answers) or without one (does not).
# Run with `npm run test:shell` (Debian: apt-get install -y bats).

# shellcheck disable=SC2154 # bats sets $status, $output and $stderr
bats_require_minimum_version 1.5.0

setup() {
    cd "$BATS_TEST_DIRNAME/../.." || return 1
    export PGR_ARCHIVE_GET_CONFIG="$BATS_TEST_TMPDIR/pgbackrest.conf"
    export PGR_ARCHIVE_GET_MARKER="$BATS_TEST_TMPDIR/repository-unreachable"
    export CALLS="$BATS_TEST_TMPDIR/calls" STUB_EXIT=0
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    printf '#!/bin/sh\necho "pgbackrest $*" >>"$CALLS"\nexit "$STUB_EXIT"\n' >"$BATS_TEST_TMPDIR/bin/pgbackrest"
    chmod +x "$BATS_TEST_TMPDIR/bin/pgbackrest"
    export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
    : >"$CALLS"
    LISTENER_PID=""
}

teardown() {
    [ -z "$LISTENER_PID" ] || kill "$LISTENER_PID" 2>/dev/null || true
}

# A repository address that accepts TCP connections: a listener on 127.0.0.1 (its port printed to $1).
repository_answers() {
    node -e 'const s=require("net").createServer((c)=>c.end()).listen(0,"127.0.0.1",()=>{require("fs").writeFileSync(process.argv[1],String(s.address().port))})' "$BATS_TEST_TMPDIR/port" &
    LISTENER_PID=$!
    for _ in $(seq 1 50); do [ -s "$BATS_TEST_TMPDIR/port" ] && break; sleep 0.1; done
    configure_repository "$(cat "$BATS_TEST_TMPDIR/port")"
}

# A repository address nothing listens on (the port a listener had, now closed).
repository_silent() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})' >"$BATS_TEST_TMPDIR/port"
    configure_repository "$(cat "$BATS_TEST_TMPDIR/port")"
}

configure_repository() {
    printf '[global]\nrepo1-host=127.0.0.1\nrepo1-host-type=tls\nrepo1-host-port=%s\n' "$1" >"$PGR_ARCHIVE_GET_CONFIG"
}

archive_get() { run --separate-stderr bash templates/archive-get.sh 000000020000000000000003 pg_wal/RECOVERYXLOG; }

@test "a repository that answers: archive-get's own answer, the file found (0) or not (1); nothing marked" {
    repository_answers
    archive_get
    [ "$status" -eq 0 ]
    [ "$(cat "$CALLS")" = "pgbackrest --stanza=main archive-get 000000020000000000000003 pg_wal/RECOVERYXLOG" ]
    STUB_EXIT=1 archive_get
    [ "$status" -eq 1 ]
    [ ! -e "$PGR_ARCHIVE_GET_MARKER" ]
}

@test "no TCP connection to the repository: fails without calling pgBackRest, and so does the next call" {
    repository_silent
    archive_get
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"no TCP connection to the repository at 127.0.0.1:"*"000000020000000000000003 is treated as not archived"* ]]
    [ -s "$PGR_ARCHIVE_GET_MARKER" ]
    repository_answers
    archive_get
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"the repository did not answer within the last 5 s"* ]]
    [ "$(cat "$CALLS")" = "" ]
}

@test "pgBackRest finds no repository answering (103): not archived, and the next calls fail at once" {
    repository_answers
    STUB_EXIT=103 archive_get
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"pgBackRest found no repository answering (exit 103)"* ]]
    archive_get
    [ "$status" -eq 1 ]
    [ "$(wc -l <"$CALLS")" -eq 1 ]
}

@test "the verdict holds 5 s only: an older one lets the call through" {
    repository_answers
    echo $(($(date +%s) - 6)) >"$PGR_ARCHIVE_GET_MARKER"
    archive_get
    [ "$status" -eq 0 ]
    [ "$(wc -l <"$CALLS")" -eq 1 ]
}

@test "another pgBackRest error is passed on and marks nothing; a wrong call is a usage error" {
    repository_answers
    STUB_EXIT=29 archive_get
    [ "$status" -eq 29 ]
    [ ! -e "$PGR_ARCHIVE_GET_MARKER" ]
    run --separate-stderr bash templates/archive-get.sh only-one
    [ "$status" -eq 2 ]
    [[ "$stderr" == "usage: pg-replication-archive-get FILE DESTINATION" ]]
}
