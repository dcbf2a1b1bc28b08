// The post-deploy checks, in the order they run and the report lists them. run.ts walks it.
import { fixedAddress } from "./addresses";
import { CheckGroup } from "./contract";
import { archiving, backup, certificate, endpointRo, endpointRw } from "./features";
import { etcdHealthy, patroniOneLeader, patroniRoles } from "./patroni";
import {
    canaryReplicated,
    canaryWritten,
    primaryNotInRecovery,
    replicaInRecovery,
    replicaReadOnly,
    slotActive,
    streaming,
    syncState,
} from "./replication";

/** The table's stages: each a list of groups (see {@link CheckGroup}); a check without targets for a spec is skipped. */
export interface CheckTable {
    /**
     * Each node on its fixed address: first and all at once, so a node off it fails now, not after
     * Patroni's roles have waited out the deadline.
     */
    addresses: CheckGroup[];
    /** failover=patroni: etcd, then exactly one leader, among the configured nodes. */
    patroniLeader: CheckGroup[];
    /** failover=patroni: the replicas' roles; the /cluster read last names the primary the stage after checks. */
    patroniRoles: CheckGroup[];
    /** On the primary and replicas found (under Patroni, the leader and the others). */
    replication: CheckGroup[];
}

export const CHECK_TABLE: CheckTable = {
    addresses: [[fixedAddress]],
    patroniLeader: [[etcdHealthy], [patroniOneLeader]],
    patroniRoles: [[patroniRoles]],
    replication: [
        [primaryNotInRecovery],
        [replicaInRecovery],
        // Per replica: its walsender, then its sync_state.
        [streaming, syncState],
        [canaryWritten],
        [canaryReplicated],
        [archiving],
        [backup],
        [certificate],
        [replicaReadOnly],
        [slotActive],
        [endpointRw],
        [endpointRo],
    ],
};

/** Every check's name, in table order. */
export function checkNames(table: CheckTable = CHECK_TABLE): string[] {
    const stages = [table.addresses, table.patroniLeader, table.patroniRoles, table.replication];
    return stages.flatMap((stage) => stage.flatMap((group) => group.map((c) => c.name)));
}
