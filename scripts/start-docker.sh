#!/usr/bin/env bash
# Make a Docker engine available on this machine (Debian, as root), idempotently:
#   - installs debootstrap if missing (scripts/build-image.sh needs it);
#   - if `docker info` works, stops there;
#   - installs docker.io if dockerd is missing;
#   - starts dockerd in the background (log: /var/log/dockerd.log), detached so it outlives this
#     script, and waits up to 60 s for `docker info` to answer.
set -euo pipefail

# debootstrap, chroot and dockerd live in sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

readonly DOCKERD_LOG=/var/log/dockerd.log
readonly DEADLINE_SECONDS=60

log() { printf '[start-docker] %s\n' "$*"; }
die() { printf 'start-docker: error: %s\n' "$*" >&2; exit 1; }

apt_updated=0
apt_install() {
    [[ "$(id -u)" -eq 0 ]] || die "installing $* needs root; run: sudo apt-get install -y $*"
    export DEBIAN_FRONTEND=noninteractive
    if [[ "$apt_updated" -eq 0 ]]; then
        log "apt-get update"
        apt-get update -q >/dev/null || die "apt-get update failed"
        apt_updated=1
    fi
    log "apt-get install -y $*"
    apt-get install -y -q "$@" >/dev/null || die "apt-get install $* failed"
}

docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap

if docker_ok; then
    log "the Docker engine is already running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    apt_install docker.io
fi

# The package's maintainer scripts may have started dockerd themselves; start one only if none runs.
if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is already running (pid $(pgrep -x dockerd | tr '\n' ' ')); waiting for it"
else
    [[ "$(id -u)" -eq 0 ]] || die "starting dockerd needs root"
    # A pid file left by a dockerd that was killed would stop the new one if its pid is reused.
    if [[ -f /var/run/docker.pid ]]; then
        stale_pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
        if [[ -z "$stale_pid" ]] || ! grep -qx dockerd "/proc/$stale_pid/comm" 2>/dev/null; then
            rm -f /var/run/docker.pid
        fi
    fi
    log "starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    printf '\n==== %s start-docker.sh: starting dockerd ====\n' "$(date -u +%FT%TZ)" >>"$DOCKERD_LOG"
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    dockerd_pid=$!
    disown "$dockerd_pid" 2>/dev/null || true
fi

deadline=$((SECONDS + DEADLINE_SECONDS))
until docker_ok; do
    if [[ -n "${dockerd_pid:-}" ]] && ! kill -0 "$dockerd_pid" 2>/dev/null && ! pgrep -x dockerd >/dev/null 2>&1; then
        echo "---- tail of $DOCKERD_LOG ----" >&2
        tail -n 40 "$DOCKERD_LOG" >&2 || true
        die "dockerd exited during startup"
    fi
    if ((SECONDS >= deadline)); then
        echo "---- tail of $DOCKERD_LOG ----" >&2
        tail -n 40 "$DOCKERD_LOG" >&2 || true
        die "the Docker engine did not answer 'docker info' within ${DEADLINE_SECONDS} s"
    fi
    sleep 1
done
log "the Docker engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')) after $((SECONDS - deadline + DEADLINE_SECONDS)) s"
