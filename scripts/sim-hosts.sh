#!/usr/bin/env bash
# Simulated Docker hosts on this one machine, for the several-hosts work and its tests (issue 19).
# Each host is a network namespace with its own containerd and dockerd (own --data-root, --exec-root,
# socket and docker0 bridge), joined by a veth pair to one bridge this script creates on a private
# subnet. Nothing leaves it: the namespaces have no default route. See docs/harness.md
# ("Simulated hosts") for how to use them and the gotchas this script handles.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

readonly BRIDGE=pgr-sim0
readonly PREFIX=10.99.0
readonly BRIDGE_ADDRESS="$PREFIX.1"
readonly STATE_DIR=/var/lib/pgr-sim-hosts
readonly RUN_DIR=/run/pgr-sim-hosts
readonly MAX_HOSTS=9
readonly START_DEADLINE_SECONDS=60
readonly TCP_PORT=2376
readonly TLS_DIR="$STATE_DIR/tls"
# Each engine's --data-root. It outlives `down` (which leaves only images in it), so the next `up` finds
# the image already loaded instead of spending about 8 s per host on docker save | docker load.
readonly IMAGE_STORE_DIR=/var/cache/pgr-sim-hosts
DEFAULT_IMAGE=pg-replication/postgres:17-local

usage() {
    cat <<EOF
Usage: bash scripts/sim-hosts.sh COMMAND [ARGS]

Simulated Docker hosts: network namespaces pgr-sim-h1 … each running its own containerd and dockerd,
joined by bridge $BRIDGE on $PREFIX.0/24. Host I is at $PREFIX.(10+I); its engine at
unix://$RUN_DIR/hI/docker.sock (export DOCKER_HOST to use it).

Commands:
  up N [--image REF]   start hosts 1..N (1 <= N <= $MAX_HOSTS) and load REF into each engine
                       (default $DEFAULT_IMAGE; --image none loads nothing); idempotent
     [--tcp-tls]       each engine also listens on tcp://ADDRESS:$TCP_PORT with --tlsverify (a CA, a
                       server certificate per host and one client certificate, made with openssl)
  tcp H                print host H's tcp:// engine address (hosts started with --tcp-tls)
  tls-dir              print the directory of the client's ca.pem, cert.pem, key.pem (DOCKER_CERT_PATH)
  down [--purge]       remove every container, volume, network, engine, namespace and the bridge;
                       idempotent. Each engine's image store ($IMAGE_STORE_DIR/hI) stays for the next
                       up (the image is loaded again only when its ID differs); --purge removes it too
  status               one line per host: address, socket, engine answering or not, link up or down,
                       added latency (delay=none, delay=MSms(netem), delay=MSms(nfqueue))
  cut H                take host H's link down (the host is cut off; its containers keep running)
  heal H               bring host H's link up again
  delay MS             add MS ms of latency to every host's outgoing traffic on its link (0 removes it):
                       each host's egress, as netem on each host's eth0, so a round trip between two
                       hosts grows by 2*MS and one between this machine and a host by MS. With the
                       kernel's netem where it has one; otherwise a user-space delayer per host
                       (scripts/sim-delay.c, built with gcc against Debian's libnetfilter-queue-dev)
                       fed by an NFQUEUE rule in the host's namespace. Should that delayer die, the
                       host's outgoing packets are dropped, as on a cut link, and status shows
                       delay=MSms(nfqueue,delayer-dead)
  engine-stop H        stop host H's dockerd (its containers stop, as on a host whose engine dies)
  engine-start H       start host H's dockerd again
  address H            print host H's address
  socket H             print host H's engine socket (unix://…)
  --help               this text

Example:
  bash scripts/sim-hosts.sh up 3 && DOCKER_HOST=\$(bash scripts/sim-hosts.sh socket 2) docker ps
EOF
}

log() { printf '[sim-hosts] %s\n' "$*" >&2; }
die() { printf 'sim-hosts: error: %s\n' "$*" >&2; exit 1; }

namespace() { echo "pgr-sim-h$1"; }
address() { echo "$PREFIX.$((10 + $1))"; }
host_state() { echo "$STATE_DIR/h$1"; }
host_run() { echo "$RUN_DIR/h$1"; }
image_store() { echo "$IMAGE_STORE_DIR/h$1/docker"; }
socket_path() { echo "$(host_run "$1")/docker.sock"; }
root_link() { echo "pgrsim$1"; }

# The hosts that exist now (their namespaces), in order.
existing_hosts() {
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n 's/^pgr-sim-h\([0-9]\+\)$/\1/p' | sort -n
}

require_host() {
    [[ "$1" =~ ^[1-9]$ ]] || die "host must be a number 1..$MAX_HOSTS, not '$1'"
    ip netns list | awk '{print $1}' | grep -qx "$(namespace "$1")" ||
        die "host $1 does not exist; start it with: bash scripts/sim-hosts.sh up $1"
}

# Runs a command in host H's network namespace only. Not `ip netns exec`: it also makes a mount
# namespace with a fresh /sys, which hides the cgroup mounts, and dockerd then fails with "Devices
# cgroup isn't mounted".
in_ns() { local h=$1; shift; nsenter --net="/run/netns/$(namespace "$h")" "$@"; }

# Starts a long-lived daemon in host H's namespace, in its own session, without the caller's open
# descriptors above 2: a daemon keeps whatever it inherits for its whole life, and a containerd
# started under a caller's `flock LOCK …` held that lock for hours after the caller had finished.
daemon_in_ns() {
    local h=$1 fd
    shift
    for fd in "/proc/$BASHPID/fd/"*; do
        fd=${fd##*/}
        if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec nsenter --net="/run/netns/$(namespace "$h")" setsid nohup "$@"
}

# Waits (bounded) until a command succeeds, failing at once when the daemon (pid) has exited.
wait_until() {
    local what=$1 pid=$2 deadline=$((SECONDS + START_DEADLINE_SECONDS))
    shift 2
    until "$@" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || die "$what exited while starting"
        ((SECONDS < deadline)) || die "$what did not come up within ${START_DEADLINE_SECONDS}s"
        sleep 0.2
    done
}

ensure_bridge() {
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
        ip addr add "$BRIDGE_ADDRESS/24" dev "$BRIDGE"
    fi
    ip link set "$BRIDGE" up
    # Bridged frames pass the root namespace's iptables FORWARD chain (br_netfilter,
    # bridge-nf-call-iptables=1), whose policy the main dockerd sets to DROP: without this rule the
    # hosts cannot reach one another.
    iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null ||
        iptables -I FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
}

ensure_link() {
    local h=$1 ns link
    ns=$(namespace "$h")
    link=$(root_link "$h")
    ip netns list | awk '{print $1}' | grep -qx "$ns" || ip netns add "$ns"
    if ! ip link show "$link" >/dev/null 2>&1; then
        ip link add "$link" type veth peer name eth0 netns "$ns"
        ip link set "$link" master "$BRIDGE" up
        in_ns "$h" ip addr add "$(address "$h")/24" dev eth0
    fi
    in_ns "$h" ip link set lo up
    in_ns "$h" ip link set eth0 up
}

start_containerd() {
    local h=$1 state run
    state=$(host_state "$h")
    run=$(host_run "$h")
    [[ -S "$run/containerd.sock" ]] && in_ns "$h" ctr --address "$run/containerd.sock" version >/dev/null 2>&1 &&
        return 0
    mkdir -p "$state/containerd" "$run/containerd"
    # Its own root, state and sockets: sharing the system's (or the main dockerd's) containerd would
    # put every engine's containers in one `moby` namespace. CRI is off: nothing here is Kubernetes.
    cat >"$run/containerd.toml" <<EOF
version = 2
root = "$state/containerd"
state = "$run/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd.sock.ttrpc"
[debug]
  address = ""
EOF
    (daemon_in_ns "$h" containerd --config "$run/containerd.toml") >>"$run/containerd.log" 2>&1 </dev/null &
    echo $! >"$run/containerd.pid"
    wait_until "host $h's containerd (log: $run/containerd.log)" "$!" test -S "$run/containerd.sock"
}

# Signs a certificate for NAME with the script's CA: KIND server (for host address ADDR) or client.
sign_cert() {
    local kind=$1 name=$2 addr=${3:-} dir=$TLS_DIR ext
    ext="$dir/$name.ext"
    if [[ "$kind" == server ]]; then
        printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$addr" >"$ext"
    else
        printf 'extendedKeyUsage=clientAuth\n' >"$ext"
    fi
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
        -keyout "$dir/$name-key.pem" -out "$dir/$name.csr" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
        -days 30 -extfile "$ext" -out "$dir/$name-cert.pem" 2>/dev/null
    rm -f "$dir/$name.csr" "$ext"
}

# The CA, a server certificate for each of hosts 1..N (for its address) and the client's material in
# $TLS_DIR/client (ca.pem, cert.pem, key.pem: what DOCKER_CERT_PATH names). Made once; 0700/0600.
ensure_tls() {
    local n=$1 h
    (
        umask 077
        mkdir -p "$TLS_DIR/client"
        if [[ ! -f "$TLS_DIR/ca.pem" ]]; then
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
                -subj "/CN=pgr-sim-hosts CA" -keyout "$TLS_DIR/ca-key.pem" -out "$TLS_DIR/ca.pem" 2>/dev/null
        fi
        for ((h = 1; h <= n; h++)); do
            [[ -f "$TLS_DIR/h$h-cert.pem" ]] || sign_cert server "h$h" "$(address "$h")"
        done
        if [[ ! -f "$TLS_DIR/client/cert.pem" ]]; then
            sign_cert client client
            mv "$TLS_DIR/client-cert.pem" "$TLS_DIR/client/cert.pem"
            mv "$TLS_DIR/client-key.pem" "$TLS_DIR/client/key.pem"
            cp "$TLS_DIR/ca.pem" "$TLS_DIR/client/ca.pem"
        fi
    )
}

# dockerd's options for host H's tcp:// listener, when the host was started with --tcp-tls: TLS
# verified both ways (--tlsverify: only clients with a certificate from the CA get in).
tcp_options() {
    local h=$1
    [[ -f "$(host_run "$h")/tcp-tls" ]] || return 0
    printf '%s\n' --host "tcp://$(address "$h"):$TCP_PORT" --tlsverify --tlscacert "$TLS_DIR/ca.pem" \
        --tlscert "$TLS_DIR/h$h-cert.pem" --tlskey "$TLS_DIR/h$h-key.pem"
}

# Where the client's material is (`tls-dir`).
cmd_tls_dir() {
    [[ -f "$TLS_DIR/client/cert.pem" ]] || die "no client material: start the hosts with up N --tcp-tls"
    echo "$TLS_DIR/client"
}

start_dockerd() {
    local h=$1 state run
    state=$(host_state "$h")
    run=$(host_run "$h")
    docker -H "unix://$(socket_path "$h")" info >/dev/null 2>&1 && return 0
    mkdir -p "$(image_store "$h")" "$run/docker"
    rm -f "$run/docker.pid"
    local tcp=()
    mapfile -t tcp < <(tcp_options "$h")
    # Containers live in their own cgroup parent, so a host's are told apart from the main engine's.
    # The label names the host: every engine here reports the same ID (it comes from the shared
    # /etc/docker/key.json), so the ID cannot tell them apart.
    (daemon_in_ns "$h" dockerd \
        --containerd "$run/containerd.sock" \
        --data-root "$(image_store "$h")" \
        --exec-root "$run/docker" \
        --pidfile "$run/docker.pid" \
        --host "unix://$(socket_path "$h")" \
        --cgroup-parent "pgr-sim-h$h" \
        --label "pg-replication.sim-host=h$h" "${tcp[@]}") \
        >>"$run/dockerd.log" 2>&1 </dev/null &
    wait_until "host $h's dockerd (log: $run/dockerd.log)" "$!" docker -H "unix://$(socket_path "$h")" info
}

load_image() {
    local h=$1 image=$2 sock
    sock="unix://$(socket_path "$h")"
    [[ "$image" == none ]] && return 0
    docker image inspect "$image" >/dev/null 2>&1 ||
        die "image $image is not on this machine's engine; build it with: bash scripts/build-image.sh"
    local want have
    want=$(docker image inspect --format '{{.Id}}' "$image")
    have=$(docker -H "$sock" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    if [[ "$want" != "$have" ]]; then
        log "loading $image into host $h"
        docker save "$image" | docker -H "$sock" load >/dev/null
    fi
}

cmd_up() {
    local n=${1:-} image=$DEFAULT_IMAGE tcp_tls=0
    [[ "$n" =~ ^[1-9]$ ]] || die "up needs a host count 1..$MAX_HOSTS (bash scripts/sim-hosts.sh --help)"
    shift
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --image)
                [[ -n "${2:-}" ]] || die "--image needs an image reference, or none"
                image=$2
                shift 2
                ;;
            --tcp-tls) tcp_tls=1 && shift ;;
            *) die "unknown argument '$1' (bash scripts/sim-hosts.sh --help)" ;;
        esac
    done
    ensure_bridge
    [[ "$tcp_tls" == 0 ]] || ensure_tls "$n"
    local h
    for ((h = 1; h <= n; h++)); do
        ensure_link "$h"
        mkdir -p "$(host_run "$h")"
        if [[ "$tcp_tls" == 1 ]] && [[ ! -f "$(host_run "$h")/tcp-tls" ]]; then
            docker -H "unix://$(socket_path "$h")" info >/dev/null 2>&1 &&
                die "host $h is up without --tcp-tls; run down first"
            touch "$(host_run "$h")/tcp-tls"
        fi
        start_containerd "$h"
        start_dockerd "$h"
    done
    for ((h = 1; h <= n; h++)); do load_image "$h" "$image"; done
    for ((h = 1; h <= n; h++)); do log "host $h: $(address "$h"), DOCKER_HOST=unix://$(socket_path "$h")"; done
    [[ "$tcp_tls" == 0 ]] ||
        log "tcp://ADDRESS:$TCP_PORT with TLS on every host; client material (ca.pem, cert.pem, key.pem): $TLS_DIR/client"
}

stop_pid_file() {
    local file=$1 pid
    [[ -f "$file" ]] || return 0
    pid=$(cat "$file" 2>/dev/null || true)
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

stop_engine() {
    stop_pid_file "$(host_run "$1")/docker.pid"
}

# Empties host H's engine of everything but images: containers, volumes (named ones too) and networks.
# Fails when the engine does not answer or something stays.
empty_engine() {
    local sock ids
    sock="unix://$(socket_path "$1")"
    docker -H "$sock" info >/dev/null 2>&1 || return 1
    ids=$(docker -H "$sock" ps -aq)
    # shellcheck disable=SC2086 # one word per container id
    [[ -z "$ids" ]] || docker -H "$sock" rm -f -v $ids >/dev/null 2>&1 || true
    docker -H "$sock" volume prune -f >/dev/null 2>&1 || true
    docker -H "$sock" network prune -f >/dev/null 2>&1 || true
    [[ -z "$(docker -H "$sock" ps -aq)$(docker -H "$sock" volume ls -q)" ]]
}

cmd_down() {
    local purge=0 h run
    case "${1:-}" in
        "") ;;
        --purge) purge=1 ;;
        *) die "unknown argument '$1' to down (bash scripts/sim-hosts.sh --help)" ;;
    esac
    for h in $(existing_hosts); do
        run=$(host_run "$h")
        local keep_store=0
        # An engine that does not answer may still hold containers, which would come back with the
        # store: only an emptied one is kept.
        if empty_engine "$h" && [[ "$purge" == 0 ]]; then keep_store=1; fi
        remove_delay "$h"
        stop_engine "$h"
        stop_pid_file "$run/containerd.pid"
        ip link del "$(root_link "$h")" 2>/dev/null || true
        ip netns del "$(namespace "$h")" 2>/dev/null || true
        # What dockerd leaves mounted (overlay layers, the netns files of its containers) would
        # keep the directories busy.
        grep -E " ($(host_state "$h")|$(image_store "$h")|$run)/" /proc/mounts | awk '{print $2}' | sort -r |
            xargs -r -n1 umount -l 2>/dev/null || true
        rm -rf "$(host_state "$h")" "$run"
        if [[ "$keep_store" == 1 ]]; then
            log "host $h removed (its image store $(image_store "$h") stays; down --purge removes it)"
        else
            rm -rf "$IMAGE_STORE_DIR/h$h"
            log "host $h removed"
        fi
    done
    [[ "$purge" == 0 ]] || rm -rf "$IMAGE_STORE_DIR"
    rm -f "$RUN_DIR/sim-delay"
    if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
    rm -rf "$TLS_DIR"
    rmdir "$STATE_DIR" "$RUN_DIR" 2>/dev/null || true
    while iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do
        iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
    done
}

cmd_status() {
    local h engine link
    for h in $(existing_hosts); do
        engine=down
        docker -H "unix://$(socket_path "$h")" info >/dev/null 2>&1 && engine=up
        link=$(in_ns "$h" ip -o link show eth0 2>/dev/null | grep -q 'state UP' && echo up || echo down)
        printf 'h%s %s unix://%s engine=%s link=%s delay=%s\n' "$h" "$(address "$h")" "$(socket_path "$h")" \
            "$engine" "$link" "$(delay_state "$h")"
    done
}

# Whether this kernel has the netem queueing discipline (CONFIG_NET_SCH_NETEM): tried on a throw-away
# dummy link in a throw-away namespace, so nothing of the hosts changes.
netem_available() {
    local ns=pgr-sim-probe ok=1
    ip netns add "$ns" 2>/dev/null || true
    ip netns exec "$ns" ip link add probe0 type dummy 2>/dev/null || true
    ip netns exec "$ns" tc qdisc add dev probe0 root netem delay 1ms 2>/dev/null || ok=0
    ip netns del "$ns" 2>/dev/null || true
    [[ "$ok" == 1 ]]
}

# The user-space delayer (scripts/sim-delay.c), built on first use; rebuilt when the source is newer.
delayer_binary() {
    local src bin="$RUN_DIR/sim-delay"
    src="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/sim-delay.c"
    if [[ ! -x "$bin" || "$src" -nt "$bin" ]]; then
        command -v gcc >/dev/null || die "no netem here, and the user-space delayer needs gcc (apt-get install gcc)"
        [[ -f /usr/include/libnetfilter_queue/libnetfilter_queue.h ]] ||
            die "no netem here, and the user-space delayer needs Debian's libnetfilter-queue-dev (apt-get install libnetfilter-queue-dev)"
        mkdir -p "$RUN_DIR"
        gcc -O2 -Wall -o "$bin.tmp" "$src" -lnetfilter_queue -lnfnetlink || die "cannot build $src"
        mv "$bin.tmp" "$bin"
    fi
    echo "$bin"
}

# The NFQUEUE rule that hands host H's outgoing packets to its delayer. No --queue-bypass: were the
# delayer to die, its host's packets are dropped (as on a cut link, and `status` says so) rather than
# leaving undelayed, which would make a measurement "with latency" silently one without.
nfqueue_rule() { echo "POSTROUTING -o eth0 -j NFQUEUE --queue-num $1"; }

# Whether host H's namespace has a program bound to queue H (the kernel lists bound queues per namespace).
# shellcheck disable=SC2016 # an awk program, not shell
queue_bound() { in_ns "$1" awk -v q="$1" '$1 == q { found = 1 } END { exit !found }' /proc/net/netfilter/nfnetlink_queue; }

# Removes host H's added latency, whichever way it was added: the rule first, then the delayer (which
# accepts whatever it still holds on SIGTERM), so no packet meets a queue nobody reads.
remove_delay() {
    local h=$1 run rule
    run=$(host_run "$h")
    rule=$(nfqueue_rule "$h")
    # shellcheck disable=SC2086 # the rule is words
    while in_ns "$h" iptables -t mangle -C $rule 2>/dev/null; do in_ns "$h" iptables -t mangle -D $rule; done
    stop_pid_file "$run/delay.pid"
    if [[ -f "$run/delay" ]] && [[ "$(cut -d' ' -f2 "$run/delay")" == netem ]]; then
        in_ns "$h" tc qdisc del dev eth0 root 2>/dev/null || true
    fi
    rm -f "$run/delay"
}

# Delays host H's outgoing packets by MS ms in user space: the delayer bound to queue H first, then
# the rule that feeds it.
start_delayer() {
    local h=$1 ms=$2 bin=$3 run rule
    run=$(host_run "$h")
    rule=$(nfqueue_rule "$h")
    (daemon_in_ns "$h" "$bin" --queue "$h" --delay-ms "$ms") >>"$run/delay.log" 2>&1 </dev/null &
    echo $! >"$run/delay.pid"
    wait_until "host $h's delayer (log: $run/delay.log)" "$!" queue_bound "$h"
    # shellcheck disable=SC2086 # the rule is words
    in_ns "$h" iptables -t mangle -A $rule
}

cmd_delay() {
    local ms=${1:-} h way=netem bin=""
    [[ "$ms" =~ ^[0-9]+$ ]] || die "delay needs a whole number of milliseconds (0 removes it)"
    ((ms <= 10000)) || die "delay is at most 10000 ms, not $ms"
    if [[ "$ms" != 0 ]] && ! netem_available; then
        way=nfqueue
        bin=$(delayer_binary)
    fi
    for h in $(existing_hosts); do
        remove_delay "$h"
        [[ "$ms" == 0 ]] && continue
        if [[ "$way" == netem ]]; then
            in_ns "$h" tc qdisc replace dev eth0 root netem delay "${ms}ms"
        else
            start_delayer "$h" "$ms" "$bin"
        fi
        echo "$ms $way" >"$(host_run "$h")/delay"
    done
}

# Host H's added latency for `status`: none, MSms(netem), MSms(nfqueue), or, when the delayer has
# died, MSms(nfqueue,delayer-dead) (its rule then drops the host's outgoing packets).
delay_state() {
    local run ms way
    run=$(host_run "$1")
    [[ -f "$run/delay" ]] || { echo none; return; }
    read -r ms way <"$run/delay"
    if [[ "$way" == nfqueue ]] && ! { kill -0 "$(cat "$run/delay.pid" 2>/dev/null)" 2>/dev/null && queue_bound "$1"; }; then
        way="$way,delayer-dead"
    fi
    echo "${ms}ms($way)"
}

main() {
    [[ $# -gt 0 ]] || { usage >&2; exit 2; }
    local cmd=$1
    shift
    case "$cmd" in
        -h | --help | help) usage ;;
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status ;;
        cut) require_host "${1:-}" && ip link set "$(root_link "$1")" down ;;
        heal) require_host "${1:-}" && ip link set "$(root_link "$1")" up ;;
        delay) cmd_delay "$@" ;;
        engine-stop) require_host "${1:-}" && stop_engine "$1" ;;
        engine-start) require_host "${1:-}" && start_dockerd "$1" ;;
        address) require_host "${1:-}" && address "$1" ;;
        socket) require_host "${1:-}" && echo "unix://$(socket_path "$1")" ;;
        tcp) require_host "${1:-}" && echo "tcp://$(address "$1"):$TCP_PORT" ;;
        tls-dir) cmd_tls_dir ;;
        *) die "unknown command '$cmd' (bash scripts/sim-hosts.sh --help)" ;;
    esac
}

[[ "$(id -u)" -eq 0 ]] || [[ "${1:-}" == --help || "${1:-}" == -h ]] || die "needs root (network namespaces, dockerd)"
main "$@"
