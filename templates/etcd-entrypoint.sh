#!/bin/sh
# Entrypoint of a pg-replication etcd member (failover=patroni): with TLS, hands the stack's CA and
# this member's certificate and key (root-only uploads) to the etcd user first; then runs etcd as
# that user with the arguments the container was given.
set -eu
if [ -f /etc/pg-replication/tls-setup.sh ]; then
    # shellcheck disable=SC2034 # read by the sourced tls-setup.sh
    TLS_OWNER=etcd
    # shellcheck source=/dev/null # uploaded beside this file (templates/tls-setup.sh.tmpl)
    . /etc/pg-replication/tls-setup.sh
fi
exec setpriv --reuid=etcd --regid=etcd --init-groups etcd "$@"
