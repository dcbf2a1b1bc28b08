// Shell probes run inside a container: whether its server accepts connections yet. Plain strings,
// no Pulumi: the ready checks (infra/container-ready.ts), the healthchecks and psql's wait share them.

/** Seconds between two probes inside a container. */
const PROBE_SECONDS = 0.1;

/**
 * Shell loop (no single quotes: it is passed in them) run inside a container: returns once
 * `probe` succeeds, or runs `onTimeout` after `tries` probes {@link PROBE_SECONDS} apart.
 */
export function untilProbe(probe: string, tries: number, onTimeout: string): string {
    return (
        `i=0; until ${probe}; do i=$((i+1)); ` +
        `if [ "$i" -ge ${tries} ]; then ${onTimeout}; fi; sleep ${PROBE_SECONDS}; done`
    );
}

/** Probe: PostgreSQL on `host` (an address, or the socket directory) accepts connections. */
export function pgAccepting(host: string): string {
    return `pg_isready -q -h ${host} -p 5432`;
}

/** Probe: something listens on TCP `port` on every IPv4 address (read from /proc: no client tools needed). */
export function tcpListening(port: number): string {
    const hex = port.toString(16).toUpperCase().padStart(4, "0");
    return `grep -q ': 00000000:${hex} 00000000:0000 0A ' /proc/net/tcp`;
}
