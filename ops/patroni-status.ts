// `status` under failover=patroni: Patroni's view of the members over PostgreSQL's (its roles
// leader / sync_standby / quorum_standby / replica and its states), how long a dead leader's key
// still holds, and whether etcd has a quorum. ops/role-operations.ts picks this for the mode;
// ops/status.ts gathers the rest of the report, the same in both modes.
import { ClusterConfig } from "../model/config";
import { PatroniCheckSpec } from "../model/check-spec";
import type { ProbedNode } from "./cluster-discovery";
import { etcdEndpointHealth, LeaderKey, leaderKey, PatroniCluster, patroniCluster } from "./patroni";
import type { MemberStatus, ModeStatus, ModeStatusInput } from "./status";

/** How many etcd members answer `etcdctl endpoint health`, of how many. */
export interface EtcdCount {
    healthy: number;
    members: number;
}

/**
 * etcd without a quorum: Patroni cannot keep or take the leader key, so every node is read-only
 * until a majority of the members answers again.
 */
export function etcdProblem(stack: string, etcd: EtcdCount): string | undefined {
    const quorum = Math.floor(etcd.members / 2) + 1;
    if (etcd.healthy >= quorum) return undefined;
    const names = Array.from({ length: etcd.members }, (_, i) => `${stack}-etcd${i + 1}`).join(" ");
    return (
        `etcd has no quorum (${etcd.healthy} of ${etcd.members} members healthy, ${quorum} needed): Patroni holds no ` +
        `leader key, so every node is read-only; start the stopped members: docker start ${names}`
    );
}

/**
 * The members as Patroni lists them, over what PostgreSQL answered (`members`, one per `probed`
 * node, in the same order). Where the container is not running, Docker's word wins: Patroni keeps a
 * dead leader's key until its lease runs out, so the state says what Patroni still claims and, from
 * `key`, when that ends. A node Patroni does not list keeps PostgreSQL's line.
 */
export function patroniMembers(
    members: MemberStatus[],
    probed: Array<Pick<ProbedNode, "running">>,
    cluster: PatroniCluster,
    key: LeaderKey | undefined,
): MemberStatus[] {
    return members.map((m, i) => {
        const p = cluster.members.find((x) => x.name === m.node);
        if (!p) return m;
        if (!probed[i].running) {
            const expiry = key && key.holder === m.node ? `; its leader key expires in ${key.expiresInSeconds} s` : "";
            return { ...m, state: `${m.state} (patroni still lists it as ${p.role}${expiry})` };
        }
        return { ...m, role: p.role, state: p.state, timeline: p.timeline ?? m.timeline };
    });
}

/** How many etcd members answer, asked through each member's container in turn (any running one will do). */
async function etcdHealth(cfg: ClusterConfig, spec: PatroniCheckSpec | undefined): Promise<EtcdCount> {
    const members = cfg.etcdMembers;
    if (!spec) return { healthy: 0, members };
    for (const container of spec.etcdContainers) {
        const health = await etcdEndpointHealth(container, spec.etcdEndpoints, "2s");
        if (health.answered) return { healthy: health.healthy, members };
    }
    return { healthy: 0, members };
}

/** Patroni's part of `status`: its view of the members, and etcd's health with a problem when it has no quorum. */
export async function patroniStatus({ stack, cfg, probed, members, spec }: ModeStatusInput): Promise<ModeStatus> {
    // No answer from /cluster leaves PostgreSQL's view as it is.
    const { cluster } = await patroniCluster(stack).catch(() => ({ cluster: { members: [] } }));
    // A leader whose node is gone keeps its key until the lease runs out: ask etcd when that is.
    const deadLeader = cluster.members.some(
        (p) => p.role === "leader" && !probed.find((n) => n.node === p.name)?.running,
    );
    const patroni = spec.patroni;
    const key =
        deadLeader && patroni ? await leaderKey(patroni.etcdContainers, patroni.etcdEndpoints, stack) : undefined;
    const etcd = await etcdHealth(cfg, patroni);
    const trouble = etcdProblem(stack, etcd);
    return {
        members: patroniMembers(members, probed, cluster, key),
        etcd,
        problems: trouble === undefined ? [] : [trouble],
    };
}
