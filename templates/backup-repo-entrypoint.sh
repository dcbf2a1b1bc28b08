#!/bin/sh
# Entrypoint of the backup repository container (pg-replication, backups on). Hands the root-only
# pgbackrest.conf and TLS files to the postgres user, starts busybox crond (the backup schedule,
# jobs run as postgres) and runs pgBackRest's TLS server, through which the nodes push and fetch
# WAL. Docker's init (the container runs with init: true) is PID 1 and reaps what both leave.
set -eu
CONF_DIR=/etc/pg-replication
REPO=/var/lib/pgbackrest

install -d -o postgres -g postgres -m 0750 "$REPO" "$REPO/log" /etc/pgbackrest
install -o postgres -g postgres -m 0600 "$CONF_DIR/pgbackrest.conf" /etc/pgbackrest/pgbackrest.conf
# shellcheck source=/dev/null # uploaded beside this file (templates/tls-setup.sh.tmpl)
. "$CONF_DIR/tls-setup.sh"
# A volume made by an earlier container may hold files of another owner.
chown -R postgres:postgres "$REPO"

busybox crond -b -l 8 -L "$REPO/log/crond.log" -c "$CONF_DIR/crontabs"

exec setpriv --reuid=postgres --regid=postgres --init-groups pgbackrest server
