# shellcheck shell=sh
# Sourced by a node's entrypoint (both failover modes) when backups are on: hands pgBackRest's
# configuration and TLS files to the postgres user and starts the node's pgBackRest TLS server,
# through which the repository takes backups. Detached (a subshell that exits at once): its parent
# becomes Docker's init, never the postmaster or Patroni the entrypoint turns into (the postmaster
# takes an unknown child's non-zero exit for a crashed backend).
# Its TLS files are the node's own (templates/tls-setup.sh, sourced before this).
install -d -o postgres -g postgres -m 0750 /etc/pgbackrest /var/spool/pgbackrest
install -o postgres -g postgres -m 0600 /etc/pg-replication/pgbackrest.conf /etc/pgbackrest/pgbackrest.conf
# restore_command (templates/archive-get.sh): archive-get that fails at once while the repository does not answer.
install -o root -g root -m 0755 /etc/pg-replication/archive-get.sh /usr/local/bin/pg-replication-archive-get
(setsid setpriv --reuid=postgres --regid=postgres --init-groups pgbackrest server </dev/null &)
