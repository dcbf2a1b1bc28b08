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
    /** The PgBouncer endpoints, when the pooler is on. */
    endpoints?: { rw: { host: string; port: number }; ro: { host: string; port: number } };
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
