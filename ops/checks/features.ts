// The checks of what surrounds replication: WAL archiving, the backup repository (backups), the
// nodes' certificates (tls required) and the PgBouncer endpoints (pooler).
import { CheckEndpoint, CheckSpec } from "../../model/check-spec";
import { ARCHIVER_SQL, archiveTrouble, ArchiverState } from "../archive";
import { expiryVerdict } from "../certificates";
import { upCommand } from "../stack-backends";
import { NamedCheck } from "./contract";

/** The primary's container, as the archive and backup messages name it. */
const primaryContainer = (spec: CheckSpec) => `${spec.stack ?? "<stack>"}-${spec.primary.node}`;

/** Archiving is not failing or lagging on the primary (archive_mode off passes). */
export const archiving: NamedCheck = {
    name: "archiving",
    // Until the deadline: one failed attempt that the archiver's next retry repairs is no fault.
    waits: true,
    targets: (spec) => [spec.primary],
    async judge({ spec, run }, ep) {
        const { rows } = await run.query<ArchiverState>(ep, ARCHIVER_SQL);
        return archiveTrouble(rows[0], { node: ep.node, container: primaryContainer(spec) }) ?? true;
    },
};

/** backups on: pgBackRest's check passes on the primary and the repository holds a usable backup. */
export const backup: NamedCheck<CheckEndpoint & { stack: string }> = {
    name: "backup",
    waits: true,
    targets: ({ backups, stack, primary }) => (backups && stack ? [{ ...primary, stack }] : []),
    judge: ({ spec, run }, ep) => run.backupReady(ep.stack, primaryContainer(spec)),
};

/** tls required: the certificate each node presented to these checks' own session is not near its end. Judged once. */
export const certificate: NamedCheck = {
    name: "certificate",
    waits: false,
    targets: (spec) => (spec.tls ? [spec.primary, ...spec.replicas] : []),
    async judge({ spec, run }, ep) {
        const stack = spec.stack ?? "<stack>";
        const renew =
            `pulumi up re-issues them (${upCommand({ stack, live: false })}; ` +
            `the live harness: ${upCommand({ stack, live: true })})`;
        const notAfter = await run.certificateEnd(ep);
        return notAfter ? expiryVerdict(ep.node, notAfter, new Date(), renew) : "the connection is not TLS";
    },
};

const ENDPOINT_SQL =
    "SELECT pg_is_in_recovery() AS r, current_setting('cluster_name') AS node, host(inet_server_addr()) AS addr";

/**
 * pooler on: the endpoint reaches the primary (rw) or, with replicas, a standby (ro), on a session of
 * its own each time (each connection through the pooler may land elsewhere).
 */
function endpointCheck(name: "rw" | "ro"): NamedCheck {
    return {
        name: `endpoint-${name}`,
        waits: true,
        targets: ({ endpoints }) => (endpoints ? [{ node: `endpoint-${name}`, ...endpoints[name] }] : []),
        async judge({ spec, run }, ep) {
            const { rows } = await run.queryFresh<{ r: boolean; node: string; addr: string }>(ep, ENDPOINT_SQL);
            const { r, addr } = rows[0];
            // Patroni sets cluster_name to the scope; the node's fixed address names it.
            const node = spec.patroni
                ? (spec.patroni.nodes.find((n) => n.address === addr)?.node ?? addr)
                : rows[0].node;
            if (name === "rw" && node !== spec.primary.node)
                return `reaches ${node}, not the primary ${spec.primary.node}`;
            const recovery = name === "ro" && spec.replicas.length > 0;
            return r === recovery ? true : `reaches ${node}, which is ${r ? "a standby" : "the primary"}`;
        },
    };
}

export const endpointRw = endpointCheck("rw");
export const endpointRo = endpointCheck("ro");
