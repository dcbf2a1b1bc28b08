// The seam between what both failover modes share (network, image, volumes, node containers,
// rendering, endpoints, exporter, checks: infra/cluster.ts) and what decides roles: one strategy
// per mode, chosen in one place (roleStrategy).
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ClusterTls } from "./certificates";
import { ClusterConfig } from "../model/config";
import { NodeFile, PostgresNode } from "./node";
import { NodeSpec } from "../model/topology";

/** What a strategy receives from the cluster: the shared resources and how to make a node. */
export interface RoleContext {
    /** The cluster component's name: children's names derive from it. */
    name: string;
    /** Docker name prefix (the stack). */
    prefix: string;
    cfg: ClusterConfig;
    projectRoot: string;
    /** Every node, pg1 … pg<replicas+1>; `primaryNode` has role "primary". */
    specs: NodeSpec[];
    /** The cluster component, parent of every child. */
    parent: pulumi.ComponentResource;
    network: docker.Network;
    /** The image id, as pulled or found locally. */
    imageId: pulumi.Output<string>;
    superuserPassword: pulumi.Output<string>;
    replicationPassword: pulumi.Output<string>;
    /** The stack's CA when `tls` is required: certificates for what the strategy adds (etcd). */
    tls?: ClusterTls;
    /** Makes a node container on the shared path (volume, port, healthcheck, labels, backup files). */
    makeNode(
        spec: NodeSpec,
        image: pulumi.Input<string>,
        files: NodeFile[],
        dependsOn: pulumi.Resource[],
        extra?: NodeExtras,
    ): PostgresNode;
}

/** Container settings a strategy may choose for its nodes. */
export interface NodeExtras {
    stopSignal?: string;
    fastResolver?: boolean;
}

/** What a strategy hands back to the shared path. */
export interface RoleOutcome {
    /** The image id the other containers (pooler, exporter) run, gated as the strategy needs. */
    image: pulumi.Output<string>;
    /** The primaryNode's PostgresNode and the replicas', by spec. */
    nodes: Array<{ spec: NodeSpec; node: PostgresNode }>;
    /** Resources after which the superuser can log in over the network (the endpoints wait for them). */
    superuserReady: pulumi.Resource[];
    /** Resources the checks wait for (roles, slots, the synchronous policy). */
    settled: pulumi.Resource[];
    /** `async`, or the synchronous policy. */
    replicationMode: pulumi.Output<string>;
    /** Where SQL that must run on the primary runs: a container, or whichever node accepts writes. */
    primaryContainer: pulumi.Input<string>;
    /** Endpoints that follow the primary: PgBouncer re-pointed by the day-2 commands, or HAProxy on Patroni's health checks. */
    endpoints: "pgbouncer" | "haproxy";
}

/** A role strategy: declares what decides roles in one failover mode. */
export type RoleStrategy = (ctx: RoleContext) => RoleOutcome;
