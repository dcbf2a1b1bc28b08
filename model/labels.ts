// The Docker labels that tie containers to a cluster: the program sets them, the day-2 operations and
// the program's shell steps find containers by them. One spelling, here.

/** Label every container of a cluster carries, valued with the stack (its name prefix). */
export const CLUSTER_LABEL = "pg-replication.cluster";
/** Label naming the node (pg1 …) a container runs. */
export const NODE_LABEL = "pg-replication.node";
/** Label every etcd member of a failover=patroni cluster carries. */
export const ETCD_LABEL = "pg-replication.etcd";
/** Label naming the endpoint (rw, ro) a PgBouncer container serves. */
export const POOLER_LABEL = "pg-replication.pooler";
/** Label every node carries: the `tls` policy its container was made for (the deployment guard compares it). */
export const TLS_LABEL = "pg-replication.tls";

/** The labels every container of the cluster of stack `prefix` carries. */
export function clusterLabels(prefix: string): Record<string, string> {
    return { [CLUSTER_LABEL]: prefix };
}

/** A label map in the docker provider's list form. */
export function dockerLabels(labels: Record<string, string> | undefined): Array<{ label: string; value: string }> {
    return Object.entries(labels ?? {}).map(([label, value]) => ({ label, value }));
}

/**
 * Shell words that list the names of the running nodes of cluster $PGR_CLUSTER (for the program's
 * shell steps: `for c in $(…); do`).
 */
export const RUNNING_NODES_SHELL = `docker ps --filter "label=${CLUSTER_LABEL}=$PGR_CLUSTER" --filter label=${NODE_LABEL} --format '{{.Names}}'`;
