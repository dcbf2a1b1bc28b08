// The seam between what both failover modes share (network, image, volumes, node containers,
// rendering, exporter, checks: infra/cluster.ts) and what decides roles: one strategy per mode
// (manual-roles.ts, patroni-roles.ts), chosen in one place (ROLE_STRATEGIES in cluster.ts). The
// shared path never branches on the mode: what differs (the guard's inputs, the node's servers that
// re-read certificates, where primary-only SQL runs, the endpoints) comes from the strategy.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ClusterTls } from "./certificates";
import { SqlTarget } from "./psql";
import { ClusterConfig } from "../model/config";
import { NodeFile, PostgresNode } from "./node";
import { NodeSpec } from "../model/topology";
import { ClusterEngines, Engine } from "./engines";

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
    /** The cluster's Docker network; undefined across hosts (each container on its host's network). */
    network?: docker.Network;
    /** Across hosts (`hosts`): each host's engine and each member's. */
    engines?: ClusterEngines;
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

/** What a strategy's endpoints are built from: the shared resources and where they listen. */
export interface EndpointContext {
    /** The cluster component's name: children's names derive from it. */
    name: string;
    /** Docker name prefix (the stack). */
    prefix: string;
    cfg: ClusterConfig;
    projectRoot: string;
    /** The configured primary and replicas (the endpoints' first targets). */
    primarySpec: NodeSpec;
    replicaSpecs: NodeSpec[];
    /** The cluster's Docker network; undefined across hosts. */
    network?: docker.Network;
    /** Across hosts (`hosts`): each host's engine and each member's. */
    engines?: ClusterEngines;
    /** The image the strategy's other containers run ({@link RoleOutcome.image}). */
    image: pulumi.Output<string>;
    /** The `poolerImage` to run when it is set, else {@link image}; declared only when asked for. */
    poolerImage(): pulumi.Output<string>;
    superuserPassword: pulumi.Output<string>;
    /** Published ports of the read-write and read-only endpoints. */
    rwPort: number;
    roPort: number;
    /** The stack's CA when `tls` is required. */
    tls?: ClusterTls;
    /** Parent and dependencies of the endpoints' resources. */
    opts: pulumi.CustomResourceOptions & pulumi.ComponentResourceOptions;
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
    /** Where SQL that must run on the primary runs (the exporter's role, …). */
    primarySql: SqlTarget;
    /**
     * Declares the read-write and read-only endpoints that follow the primary: PgBouncer re-pointed by
     * the day-2 commands, or HAProxy on Patroni's health checks.
     */
    endpoints(ctx: EndpointContext): pulumi.Resource[];
}

/** A failover mode's side of the program: what decides roles, and what the shared path asks of it. */
export interface RoleStrategy {
    /** Declares the nodes and what decides their roles. */
    declare(ctx: RoleContext): RoleOutcome;
    /** What the deployment guard (ops/hooks/guard-primary.ts) is told beside the mode, given the configured primary. */
    guardEnvironment(primary: NodeSpec): Record<string, string>;
    /** Shell lines that make the mode's own servers on a node re-read their certificate files (no restart). */
    certificateReload: string[];
    /**
     * Checks that the image has what the mode runs beyond PostgreSQL, before anything is created from it;
     * returns the image id once it has. @default none: the image as it is
     */
    requireImage?(
        name: string,
        imageId: pulumi.Output<string>,
        parent: pulumi.Resource,
        engines?: Engine[],
    ): pulumi.Output<string>;
}
