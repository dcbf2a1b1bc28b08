#!/bin/bash
# restore_command of every node with backups on (both failover modes), installed as
# /usr/local/bin/pg-replication-archive-get by backup-node-setup.sh: `pgbackrest archive-get`, except
# that once the repository is known not to answer, every call for the next few seconds fails at once.
#
# Why: a promotion calls restore_command about six times (the last segment, the next timeline's
# history file, the parent's) and PostgreSQL waits for each answer. With the repository's host lost
# together with the leader's, each call spent 3-4 s failing to connect (io-timeout 1 s, retried): the
# new leader stayed read-only for 20 s after Patroni promoted it. A failed call means "not in the
# archive", as for any restore_command, and streaming (with the members' slots) supplies the rest.
#
# "Does not answer": no TCP connection to repo1-host:repo1-host-port within 1 s (a lost host, a cut
# link), or pgBackRest's own verdict that no repository answered (exit 103, "unable to find a valid
# repository": a frozen or stopped repository). Exit 1 from pgBackRest (the file is not in the
# archive) and every other error mark nothing. Usage: pg-replication-archive-get FILE DESTINATION
set -u

# The two paths may be moved for tests/shell/archive-get.bats only.
readonly CONFIG=${PGR_ARCHIVE_GET_CONFIG:-/etc/pgbackrest/pgbackrest.conf}
readonly STANZA=main
# Where the verdict is kept (the time it was reached) and how long it holds: long enough for one
# promotion's calls, short enough that a repository back on its feet is used again at once.
readonly MARKER=${PGR_ARCHIVE_GET_MARKER:-/var/spool/pgbackrest/repository-unreachable}
readonly HOLD_SECONDS=5
readonly CONNECT_SECONDS=1
readonly NO_VALID_REPOSITORY=103

[ $# -eq 2 ] || { echo "usage: pg-replication-archive-get FILE DESTINATION" >&2; exit 2; }

setting() { sed -n "s/^$1=//p" "$CONFIG" | head -n 1; }

# True while a verdict reached less than HOLD_SECONDS ago stands.
recently_unreachable() {
    local at now
    at=$(cat "$MARKER" 2>/dev/null) || return 1
    now=$(date +%s)
    [[ "$at" =~ ^[0-9]+$ ]] && ((now - at < HOLD_SECONDS))
}

mark_unreachable() {
    date +%s >"$MARKER.new" 2>/dev/null && mv -f "$MARKER.new" "$MARKER" 2>/dev/null
    echo "pg-replication-archive-get: $1; $2 is treated as not archived, and so is every file for ${HOLD_SECONDS} s" >&2
}

if recently_unreachable; then
    echo "pg-replication-archive-get: the repository did not answer within the last ${HOLD_SECONDS} s; $1 is treated as not archived" >&2
    exit 1
fi

host=$(setting repo1-host)
port=$(setting repo1-host-port)
# shellcheck disable=SC2016 # $0 and $1 are the inner shell's: the host and port passed after it
if [ -n "$host" ] && [ -n "$port" ] &&
    ! timeout "$CONNECT_SECONDS" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; then
    mark_unreachable "no TCP connection to the repository at $host:$port within ${CONNECT_SECONDS} s" "$1"
    exit 1
fi

pgbackrest --stanza="$STANZA" archive-get "$1" "$2"
code=$?
if [ "$code" -eq "$NO_VALID_REPOSITORY" ]; then
    mark_unreachable "pgBackRest found no repository answering (exit $code)" "$1"
    exit 1
fi
exit "$code"
