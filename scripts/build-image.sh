#!/usr/bin/env bash
# Build the local PostgreSQL 17 image from Debian packages, without any container registry.
#
#   scripts/build-image.sh [--force] [TAG]        (TAG defaults to $IMAGE, then pg-replication/postgres:17-local)
#
# The root filesystem is made with debootstrap (Debian trixie, minbase) and imported with
# `docker import`. The image has the layout of the official postgres:17 image: the server binaries
# on PATH (/usr/lib/postgresql/17/bin), PGDATA=/var/lib/postgresql/data owned by postgres (uid/gid
# 999 as there), /var/run/postgresql for sockets, no cluster created by postgresql-common,
# CMD ["postgres"] and STOPSIGNAL SIGINT. It also carries pgbench, pgbouncer,
# prometheus-postgres-exporter, setpriv (util-linux; the server refuses to run as root), procps, and
# for failover=patroni: patroni, etcd (server and etcdctl) and haproxy; for backups: pgbackrest and busybox (crond). postgresql-common's default
# cluster is never created (Patroni would otherwise find a stray 17/main), and PATH puts the
# PostgreSQL 17 binaries before /usr/bin (Debian's pg_wrapper psql).
#
# Idempotent: the sha256 of this script is stored in the image label pg-replication.build-hash; when
# an image with that tag and that label exists nothing is done. --force rebuilds anyway (e.g. to pick
# up Debian security updates). The Debian mirror comes from $DEBIAN_MIRROR, else from the host's apt
# sources, else http://deb.debian.org/debian.
set -euo pipefail

# debootstrap, chroot and dockerd live in sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

readonly SUITE=trixie
readonly PG_MAJOR=17
readonly PG_UID=999
readonly PG_GID=999
readonly PACKAGES=(
    "postgresql-${PG_MAJOR}"         # server; also ships pgbench, pg_rewind, initdb, pg_ctl
    "postgresql-client-${PG_MAJOR}"  # psql, pg_basebackup, pg_isready, pg_dump
    pgbouncer
    prometheus-postgres-exporter
    util-linux                       # setpriv
    procps                           # ps, pgrep, pkill
    patroni                          # failover=patroni: the HA engine (its etcd3 backend needs nothing more)
    etcd-server                      # failover=patroni: the DCS members
    etcd-client                      # etcdctl, for the etcd health checks
    haproxy                          # failover=patroni: endpoints that follow the leader (REST health checks)
    pgbackrest                       # backups: the repository host (TLS server), archive-push/-get, restore
    busybox                          # backups: crond runs the schedule in the repository container (Debian cron pulls in systemd)
)
readonly DEFAULT_IMAGE="pg-replication/postgres:17-local"
readonly HASH_LABEL="pg-replication.build-hash"

start=$SECONDS
log() { printf '[build-image %3ds] %s\n' "$((SECONDS - start))" "$*"; }
die() { printf 'build-image: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

force=0
tag=""
for arg in "$@"; do
    case "$arg" in
        --force | -f) force=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $arg" ;;
        *) [[ -z "$tag" ]] || die "only one image tag may be given"; tag="$arg" ;;
    esac
done
IMAGE="${tag:-${IMAGE:-$DEFAULT_IMAGE}}"
[[ "$IMAGE" == *:* ]] || IMAGE="$IMAGE:latest"

script_path="$(readlink -f "${BASH_SOURCE[0]}")"
build_hash="$(sha256sum "$script_path" | cut -d' ' -f1)"

# --- preconditions -------------------------------------------------------------------------------
command -v docker >/dev/null 2>&1 \
    || die "the docker CLI is not installed. Run scripts/start-docker.sh (installs docker.io and starts dockerd)."
if ! docker_err="$(docker info 2>&1 >/dev/null)"; then
    die "the Docker engine is unreachable (${docker_err##*$'\n'}). Start it with scripts/start-docker.sh, or: apt-get install -y docker.io && setsid nohup dockerd >/var/log/dockerd.log 2>&1 &"
fi

current_hash="$(docker image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$IMAGE" 2>/dev/null || true)"
if [[ "$force" -eq 0 && "$current_hash" == "$build_hash" ]]; then
    echo "image $IMAGE is up to date"
    exit 0
fi
old_image_id="$(docker image inspect --format '{{ .Id }}' "$IMAGE" 2>/dev/null || true)"

[[ "$(id -u)" -eq 0 ]] || die "building the image needs root (debootstrap and chroot); re-run as root."
command -v debootstrap >/dev/null 2>&1 \
    || die "debootstrap is not installed. Run scripts/start-docker.sh, or: apt-get update && apt-get install -y debootstrap"
[[ -e "/usr/share/debootstrap/scripts/$SUITE" ]] \
    || die "this debootstrap does not know the suite '$SUITE'; upgrade it (apt-get install -y debootstrap)."

detect_mirror() {
    local m
    m="$(grep -hsoE '^[[:space:]]*(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?|URIs:[[:space:]]*)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -oE 'https?://[^[:space:]]+' | head -n1 || true)"
    echo "${m:-http://deb.debian.org/debian}"
}
MIRROR="${DEBIAN_MIRROR:-$(detect_mirror)}"
MIRROR="${MIRROR%/}"

# --- build ---------------------------------------------------------------------------------------
WORK="$(mktemp -d /var/tmp/pg-image.XXXXXX)"
ROOT="$WORK/root"
LOG="$WORK/debootstrap.log"
TMP_TAG="pg-replication-import-tmp:$$"

cleanup() {
    local rc=$?
    if [[ $rc -ne 0 && -s "$LOG" ]]; then
        echo "---- last lines of the debootstrap log ----" >&2
        tail -n 40 "$LOG" >&2 || true
    fi
    # Mounts made inside the private mount namespaces vanish with them; this is only a safety net so
    # that rm never walks into a mounted /proc, /sys or /dev.
    local mnt
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r)
    rm -rf --one-file-system "$WORK"
    docker image rm "$TMP_TAG" >/dev/null 2>&1 || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "$force" -eq 1 && -n "$old_image_id" ]]; then
    log "rebuilding $IMAGE (--force; build hash ${build_hash:0:12})"
elif [[ -n "$old_image_id" ]]; then
    log "rebuilding $IMAGE (build hash ${current_hash:0:12} -> ${build_hash:0:12})"
else
    log "building $IMAGE (build hash ${build_hash:0:12})"
fi
log "debootstrap stage 1: $SUITE minbase from $MIRROR into $ROOT"
include="$(IFS=,; echo "${PACKAGES[*]}")"
unshare --mount --propagation private \
    debootstrap --variant=minbase --foreign --include="$include" "$SUITE" "$ROOT" "$MIRROR" >"$LOG" 2>&1 \
    || die "debootstrap (stage 1) failed; is $MIRROR reachable and does it carry $SUITE?"

# Before any package is configured: tell postgresql-common not to create the default 17/main
# cluster (debootstrap installs with --force-confold, so this file wins over the packaged one).
mkdir -p "$ROOT/etc/postgresql-common"
# shellcheck disable=SC2016
printf '# pg-replication: the image ships no cluster; initdb makes one in $PGDATA.\ncreate_main_cluster = false\n' \
    >"$ROOT/etc/postgresql-common/createcluster.conf"

log "debootstrap stage 2: installing ${#PACKAGES[@]} packages and their dependencies"
unshare --mount --propagation private \
    chroot "$ROOT" /debootstrap/debootstrap --second-stage >>"$LOG" 2>&1 \
    || die "debootstrap (stage 2) failed"

log "configuring the postgres user and directories"
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
# In case a cluster was created anyway.
rm -rf "$ROOT/etc/postgresql/$PG_MAJOR" "$ROOT/var/lib/postgresql/$PG_MAJOR"

# Same uid/gid as the official image (999:999), so data directories are interchangeable.
old_uid="$(in_root id -u postgres)"
old_gid="$(in_root id -g postgres)"
if [[ "$old_uid" != "$PG_UID" || "$old_gid" != "$PG_GID" ]]; then
    if in_root getent passwd "$PG_UID" >/dev/null || in_root getent group "$PG_GID" >/dev/null; then
        log "warning: uid $PG_UID or gid $PG_GID is taken in the image; postgres keeps $old_uid:$old_gid"
    else
        in_root groupmod -g "$PG_GID" postgres
        in_root usermod -u "$PG_UID" -g "$PG_GID" postgres
        find "$ROOT" -xdev -uid "$old_uid" -exec chown -h "$PG_UID" {} +
        find "$ROOT" -xdev -gid "$old_gid" -exec chgrp -h "$PG_GID" {} +
    fi
fi
pg_ids="$(in_root id postgres)"
[[ "$(in_root getent passwd postgres | cut -d: -f6)" == /var/lib/postgresql ]] \
    || die "the postgres user's home is not /var/lib/postgresql"

install -d -o "$PG_UID" -g "$PG_GID" -m 0755 "$ROOT/var/lib/postgresql"
install -d -o "$PG_UID" -g "$PG_GID" -m 0700 "$ROOT/var/lib/postgresql/data"
# /var/run -> /run on trixie; like the official image: sticky, setgid, world-writable socket dir.
install -d -o "$PG_UID" -g "$PG_GID" -m 3777 "$ROOT/run/postgresql"
# Like the official image: clusters made by initdb listen on all interfaces.
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" \
    "$ROOT/usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample"
grep -q "^listen_addresses = '\*'" "$ROOT/usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample" \
    || die "could not set listen_addresses in postgresql.conf.sample"

# shellcheck disable=SC2016
pg_version="$(in_root dpkg-query -W -f '${Version}' "postgresql-$PG_MAJOR")"
server_version="$(in_root "/usr/lib/postgresql/$PG_MAJOR/bin/postgres" --version)"
for bin in postgres initdb pg_ctl pg_basebackup pg_rewind pgbench pg_isready psql; do
    [[ -x "$ROOT/usr/lib/postgresql/$PG_MAJOR/bin/$bin" ]] || die "$bin is missing from the image"
done
for bin in pgbouncer prometheus-postgres-exporter setpriv ps patroni patronictl etcd etcdctl haproxy pgbackrest busybox; do
    in_root sh -c "command -v $bin" >/dev/null || die "$bin is missing from the image"
done

log "cleaning apt caches, documentation and translations"
in_root apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/debconf/*-old \
    "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
    "$ROOT"/usr/share/lintian "$ROOT"/usr/share/linda "$ROOT"/usr/share/postgresql/*/man \
    "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* "$ROOT"/var/lib/dpkg/*-old \
    "$ROOT"/etc/hostname "$ROOT"/etc/resolv.conf "$ROOT"/tmp/* "$ROOT"/var/tmp/*
# Documentation goes, the copyright files stay.
find "$ROOT/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
# Keep later `apt-get install`s in the image from bringing the documentation back.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/pg-replication-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
rootfs_size="$(du -sh --one-file-system "$ROOT" | cut -f1)"

log "importing the root filesystem ($rootfs_size) into docker"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$ROOT" \
    --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -c . \
    | docker import \
        -c "ENV PATH=/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        -c "ENV PGDATA=/var/lib/postgresql/data" \
        -c "ENV LANG=C.UTF-8" \
        -c "ENV PG_MAJOR=$PG_MAJOR" \
        -c "ENV PG_VERSION=$pg_version" \
        -c "LABEL $HASH_LABEL=$build_hash" \
        -c "LABEL pg-replication.postgres-version=$pg_version" \
        -c "LABEL org.opencontainers.image.description=\"PostgreSQL $PG_MAJOR from Debian $SUITE (pg-replication local build)\"" \
        -c "EXPOSE 5432" \
        -c 'CMD ["postgres"]' \
        - "$TMP_TAG" >/dev/null

# docker import cannot set STOPSIGNAL (rejected by Docker 20.10), so add it with a metadata-only
# build on top of the imported image: no layer and no registry access.
log "setting STOPSIGNAL SIGINT"
printf 'FROM %s\nSTOPSIGNAL SIGINT\n' "$TMP_TAG" \
    | DOCKER_BUILDKIT=0 docker build --quiet --tag "$IMAGE" - 2>&1 >/dev/null \
        | grep -vE 'DEPRECATED|legacy builder|BuildKit|environment-variable|docs.docker.com|^[[:space:]]*$' >&2 || true
new_image_id="$(docker image inspect --format '{{ .Id }}' "$IMAGE" 2>/dev/null || true)"
[[ "$(docker image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }} {{ .Config.StopSignal }}" "$IMAGE" 2>/dev/null)" \
    == "$build_hash SIGINT" ]] || die "docker build did not produce $IMAGE"
docker image rm "$TMP_TAG" >/dev/null

if [[ -n "$old_image_id" && "$old_image_id" != "$new_image_id" ]]; then
    # The previous build, now untagged; kept if a container still uses it.
    docker image rm "$old_image_id" >/dev/null 2>&1 || true
fi

size="$(docker image inspect --format '{{ .Size }}' "$IMAGE")"
log "built $IMAGE: $server_version, postgres user $pg_ids, $((size / 1000 / 1000)) MB"
log "done in $((SECONDS - start)) s"
