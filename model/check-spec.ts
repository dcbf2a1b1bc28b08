// The contract between whoever asks for the post-deploy checks (the deployment, infra/cluster.ts;
// the day-2 commands after a role change, ops/topology-change.ts) and the checks that run
// them (ops/hooks/check-cluster.ts, ops/checks/): one builder, so both ask the same.
import { ClusterConfig } from "./config";
import {
    clientHost,
    clusterNodes,
    etcdMemberAddress,
    nodeAddressMap,
    nodeHostPort,
    nodeReach,
    PATRONI_PORTS,
    publishedPorts,
    severalHosts,
} from "./topology";

/** How long replication may take to converge before a check fails. */
export const CHECK_DEADLINE_SECONDS = 60;

/** A node as the checks reach it from the Docker host. */
export interface CheckEndpoint {
    node: string;
    host: string;
    port: number;
}

/** What the post-deploy checks expect of the cluster. */
export interface CheckSpec {
    /** The stack (cluster name prefix), for the repair commands failures print. */
    stack?: string;
    primary: CheckEndpoint;
    replicas: CheckEndpoint[];
    syncMode: "async" | "sync";
    syncMethod: "any" | "first";
    syncCount: number;
    slots: boolean;
    /** How long replication may take to converge (streaming rows, canary, sync_state). */
    deadlineSeconds: number;
    /**
     * Every node's container and the fixed address it must have on the cluster network: a node
     * reconnected without it (`docker network connect` without `--ip`) is refused replication by
     * pg_hba.conf and would wait for ever; the checks name it at once.
     */
    addresses?: { network: string; nodes: Array<{ node: string; container: string; address: string }> };
    /** tls required: every walsender must use TLS (pg_stat_ssl). */
    tls?: boolean;
    /** backups on: pgBackRest's `check` passes through the repository and it holds a usable backup. */
    backups?: boolean;
    /** The PgBouncer endpoints, when the pooler is on. */
    endpoints?: { rw: { host: string; port: number }; ro: { host: string; port: number } };
    /**
     * failover=patroni: the leader is whoever Patroni elected, so `primary` and `replicas` are only
     * the configured bootstrap; the checks find the leader through Patroni's REST API and check
     * every node, the configured synchronous roles and etcd.
     */
    patroni?: PatroniCheckSpec;
}

/** A node of a failover=patroni cluster as the checks reach it. */
export interface PatroniCheckNode extends CheckEndpoint {
    /** Its fixed address on the cluster network (how a connection through HAProxy names it). */
    address: string;
    container: string;
}

/** What the checks need of a failover=patroni cluster. */
export interface PatroniCheckSpec {
    cluster: string;
    nodes: PatroniCheckNode[];
    etcdContainers: string[];
    etcdEndpoints: string[];
}

/** The Patroni role (GET /cluster) each replica should reach, for the configured sync keys. */
export function expectedPatroniRoles(
    spec: Pick<CheckSpec, "syncMode" | "syncMethod" | "syncCount">,
    replicaCount: number,
): string[] {
    if (spec.syncMode === "async") return Array<string>(replicaCount).fill("replica");
    if (spec.syncMethod === "any") return Array<string>(replicaCount).fill("quorum_standby");
    // Priority mode: exactly syncCount synchronous standbys, the others plain replicas.
    return Array.from({ length: replicaCount }, (_, i) => (i < spec.syncCount ? "sync_standby" : "replica"));
}

/** The sync_state pg_stat_replication should show for each replica, in node order. */
export function expectedSyncStates(spec: CheckSpec): Record<string, string> {
    const states: Record<string, string> = {};
    spec.replicas.forEach((r, i) => {
        if (spec.syncMode === "async") states[r.node] = "async";
        else if (spec.syncMethod === "any") states[r.node] = "quorum";
        else states[r.node] = i < spec.syncCount ? "sync" : "potential";
    });
    return states;
}

/**
 * What the checks expect of stack `stack` with `primary` as the primary and `replicas` streaming
 * from it: the deployment passes the configured roles, the day-2 commands the roles they just set.
 */
export function checkSpec(stack: string, cfg: ClusterConfig, primary: string, replicas: readonly string[]): CheckSpec {
    const specs = new Map(clusterNodes(stack, cfg).map((s) => [s.name, s]));
    const endpoint = (node: string): CheckEndpoint => {
        const spec = specs.get(node);
        return spec
            ? { node, ...nodeReach(cfg, spec) }
            : { node, host: clientHost(cfg), port: nodeHostPort(cfg, node) };
    };
    return {
        stack,
        primary: endpoint(primary),
        replicas: replicas.map(endpoint),
        syncMode: cfg.syncMode,
        syncMethod: cfg.syncMethod,
        syncCount: cfg.syncCount,
        slots: cfg.slots,
        deadlineSeconds: CHECK_DEADLINE_SECONDS,
        // Across hosts a node uses its host's network: it has no container address to check.
        addresses: severalHosts(cfg)
            ? undefined
            : {
                  network: `${stack}-net`,
                  nodes: [primary, ...replicas].map((node) => ({
                      node,
                      container: `${stack}-${node}`,
                      address: nodeAddressMap(cfg.subnet)[node],
                  })),
              },
        endpoints: cfg.pooler ? endpointSpec(cfg) : undefined,
        backups: cfg.backups,
        tls: cfg.tls === "required",
        // failover=patroni: the leader is whoever Patroni elected; primary and replicas are only a hint.
        patroni: cfg.failover === "patroni" ? patroniCheckSpec(stack, cfg) : undefined,
    };
}

/** The endpoints the checks go through: the published ports, or across hosts the first host's HAProxy. */
function endpointSpec(cfg: ClusterConfig): NonNullable<CheckSpec["endpoints"]> {
    const ports = publishedPorts(cfg);
    const host = severalHosts(cfg) ? cfg.hosts[0].address : clientHost(cfg);
    return { rw: { host, port: ports.poolerRw }, ro: { host, port: ports.poolerRo } };
}

/** The failover=patroni part of the checks' spec for stack `stack`. */
function patroniCheckSpec(stack: string, cfg: ClusterConfig): PatroniCheckSpec {
    return {
        cluster: stack,
        nodes: clusterNodes(stack, cfg).map((s) => ({
            node: s.name,
            ...nodeReach(cfg, s),
            address: s.address,
            container: s.containerName,
        })),
        etcdContainers: Array.from({ length: cfg.etcdMembers }, (_, i) => `${stack}-etcd${i + 1}`),
        etcdEndpoints: Array.from(
            { length: cfg.etcdMembers },
            (_, i) =>
                `${cfg.tls === "required" ? "https" : "http"}://${etcdMemberAddress(cfg, i + 1)}:${PATRONI_PORTS.etcdClient}`,
        ),
    };
}
