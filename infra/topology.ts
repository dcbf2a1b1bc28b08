import { ClusterConfig } from "./config";

/** Where a node sits in the cluster. Names are role-neutral: failover moves the primary role. */
export interface NodeSpec {
    /** Node name: pg1 … pgN; also the network alias, application_name and slot name. */
    name: string;
    /** 1-based position; node k publishes hostPortBase + k - 1. */
    index: number;
    /** The node's role in the configuration (primaryNode). */
    role: "primary" | "replica";
    /** Host port published for 5432. */
    hostPort: number;
    /** Docker container name, `<stack>-<node>`. */
    containerName: string;
    /** Physical replication slot on the primary for a replica, when slots are on. */
    slotName?: string;
}

/** Paths inside every node's container. */
export const PATHS = {
    confDir: "/etc/pg-replication",
    dataDir: "/var/lib/postgresql/data",
    archiveDir: "/var/lib/postgresql/wal_archive",
    pgpass: "/var/lib/postgresql/.pgpass",
} as const;

/**
 * Network alias every node carries. It resolves to all nodes, and libpq tries each address in
 * turn, so `host=pg-cluster target_session_attrs=read-write` finds the primary wherever it is:
 * replicas follow a failover without any of their files changing.
 */
export const CLUSTER_ALIAS = "pg-cluster";

/** Nodes pg1 … pg<replicas+1>; `primaryNode` is the primary, the others replicas. */
export function clusterNodes(stack: string, cfg: ClusterConfig): NodeSpec[] {
    const nodes: NodeSpec[] = [];
    for (let index = 1; index <= cfg.replicas + 1; index++) {
        const name = `pg${index}`;
        const role = name === cfg.primaryNode ? "primary" : "replica";
        nodes.push({
            name,
            index,
            role,
            hostPort: cfg.hostPortBase + index - 1,
            containerName: `${stack}-${name}`,
            slotName: role === "replica" && cfg.slots ? name : undefined,
        });
    }
    return nodes;
}

/** The address a client on the Docker host uses to reach published ports. */
export function clientHost(cfg: ClusterConfig): string {
    return cfg.bindAddress === "0.0.0.0" ? "127.0.0.1" : cfg.bindAddress;
}
