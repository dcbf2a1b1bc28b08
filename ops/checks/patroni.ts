// failover=patroni: etcd healthy, exactly one leader among the configured nodes, and every other
// node streaming in the configured synchronous role (quorum mode shows `replica` before
// `quorum_standby` for a moment, so the roles are polled, not read once). The leader Patroni
// elected is where the replication checks then look for the primary.
import { CheckEndpoint, CheckSpec, expectedPatroniRoles, PatroniCheckSpec } from "../../model/check-spec";
import { PatroniCluster } from "../patroni";
import { CheckRunners, CheckTarget, NamedCheck } from "./contract";

/** A Patroni check's target: the name its result carries, and the cluster's part of the spec. */
export interface PatroniTarget extends CheckTarget {
    patroni: PatroniCheckSpec;
}

/**
 * What is wrong with Patroni's member list for the configured nodes, or undefined: each configured
 * node registered, and the leader one of them. Members beyond them are the ones a scale-down removes
 * (the deployment deletes them after the checks), so they are no fault; a leader among them is: the
 * deletion would take the primary away, so a switchover must come first.
 */
export function membershipProblem(cluster: PatroniCluster, configured: string[], stack: string): string | undefined {
    const leader = cluster.members.find((m) => m.role === "leader");
    if (leader && !configured.includes(leader.name))
        return (
            `the leader ${leader.name} is not among the configured nodes (${configured.join(", ")}): this deployment would ` +
            `remove it; move the role first: npm run switchover -- --stack ${stack} --to ${configured[0]} (add --live for a live-harness stack)`
        );
    const missing = configured.filter((n) => !cluster.members.some((m) => m.name === n));
    if (missing.length > 0)
        return `${configured.length - missing.length} of ${configured.length} members registered (missing: ${missing.join(", ")})`;
    return undefined;
}

export const etcdHealthy: NamedCheck<PatroniTarget> = {
    name: "etcd-healthy",
    waits: true,
    targets: ({ patroni }) => (patroni ? [{ node: patroni.etcdContainers.join(","), patroni }] : []),
    async judge({ run }, { patroni }) {
        const { healthy, stderr } = await run.etcdHealth(patroni.etcdContainers[0], patroni.etcdEndpoints);
        return healthy === patroni.etcdEndpoints.length
            ? true
            : `${healthy} of ${patroni.etcdEndpoints.length} etcd members healthy: ${stderr.trim()}`;
    },
};

/**
 * Asks the nodes for /cluster in turn until one answers 200, keeping its answer in `observed`;
 * returns why the last one asked did not answer ("no node answered" when none was asked).
 */
async function readCluster(
    run: CheckRunners,
    nodes: PatroniCheckSpec["nodes"],
    observed: { cluster: PatroniCluster },
): Promise<string> {
    let last = "no node answered";
    for (const n of nodes) {
        try {
            const res = await run.patroniCluster(n.container);
            if (res.status === 200) {
                observed.cluster = res.body;
                break;
            }
            last = `${n.node}: HTTP ${res.status}`;
        } catch (err) {
            last = (err as Error).message;
        }
    }
    return last;
}

export const patroniOneLeader: NamedCheck<PatroniTarget> = {
    name: "patroni-one-leader",
    waits: true,
    targets: ({ patroni }) => (patroni ? [{ node: patroni.cluster, patroni }] : []),
    async judge({ spec, run, observed }, { patroni }) {
        const last = await readCluster(run, patroni.nodes, observed);
        const leaders = observed.cluster.members.filter((m) => m.role === "leader");
        if (leaders.length !== 1)
            return `expected one leader, found ${leaders.map((m) => m.name).join(", ") || "none"} (${last})`;
        const configured = patroni.nodes.map((n) => n.node);
        return membershipProblem(observed.cluster, configured, spec.stack ?? patroni.cluster) ?? true;
    },
};

export const patroniRoles: NamedCheck<PatroniTarget> = {
    name: "patroni-roles",
    waits: true,
    targets: ({ patroni }) => (patroni ? [{ node: patroni.cluster, patroni }] : []),
    async judge({ spec, run, observed }, { patroni }) {
        const res = await run.patroniCluster(patroni.nodes[0].container).catch(() => undefined);
        if (res?.status === 200) observed.cluster = res.body;
        const configured = new Set(patroni.nodes.map((n) => n.node));
        const others = observed.cluster.members.filter((m) => m.role !== "leader" && configured.has(m.name));
        const notStreaming = others.filter((m) => m.state !== "streaming");
        if (notStreaming.length > 0)
            return `not streaming: ${notStreaming.map((m) => `${m.name} (${m.state})`).join(", ")}`;
        // Members this deployment removes (scale-down: Pulumi deletes them after the checks) may
        // still hold synchronous roles; the configured ones' roles settle once they are gone.
        if (observed.cluster.members.some((m) => !configured.has(m.name))) return true;
        const expected = expectedPatroniRoles(spec, patroni.nodes.length - 1).sort();
        const roles = others.map((m) => m.role).sort();
        return JSON.stringify(roles) === JSON.stringify(expected)
            ? true
            : `replica roles are ${roles.join(", ")}, expected ${expected.join(", ")}`;
    },
};

/** `spec` with the leader of `cluster` as the primary and every other node as a replica. */
export function withPatroniLeader(spec: CheckSpec, patroni: PatroniCheckSpec, cluster: PatroniCluster): CheckSpec {
    const leader = cluster.members.find((m) => m.role === "leader")?.name ?? spec.primary.node;
    const endpoint = (n: CheckEndpoint): CheckEndpoint => ({ node: n.node, host: n.host, port: n.port });
    return {
        ...spec,
        primary: endpoint(patroni.nodes.find((n) => n.node === leader) ?? patroni.nodes[0]),
        replicas: patroni.nodes.filter((n) => n.node !== leader).map(endpoint),
    };
}
