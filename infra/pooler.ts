import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerReady } from "./container-ready";
import { HEALTH_INTERVAL, HEALTHCHECK_SET_AT_CREATION } from "./healthcheck";
import { dockerLabels } from "./labels";
import {
    POOLER_HEALTHCHECK,
    POOLER_LISTENING,
    POOLER_PATHS,
    POOLER_PORT,
    POOLER_ROLE_NAME,
    POOLER_ROLES,
    poolerContainerName,
    PoolerRole,
    NodeHosts,
    renderPgBouncerIni,
    renderPoolerEntrypoint,
    renderUserlist,
} from "./pooler-config";
import { roleVerifier } from "./scram";

/** Arguments of a {@link PgBouncerPool}. */
export interface PgBouncerPoolArgs {
    /** Prefix of the containers' names (`<prefix>-pgbouncer-rw`, `<prefix>-pgbouncer-ro`) and value of the `pg-replication.cluster` label. */
    namePrefix: string;
    /** Image id or reference to run: it needs /bin/sh, pgbouncer on PATH and a `postgres` user; psql lets re-pointing confirm the drain. */
    image: pulumi.Input<string>;
    /** Name of the cluster's Docker network, where the node names resolve. */
    network: pulumi.Input<string>;
    /** Node name of the primary (pg1 …): the read-write endpoint sends every session there. */
    primaryNode: string;
    /** Node names of the replicas: the read-only endpoint spreads sessions over them. @default [] (the read-only endpoint then uses the primary) */
    replicaNodes?: string[];
    /** Node name → fixed address that PgBouncer connects to. @default {} (node names, resolved by DNS) */
    nodeHosts?: NodeHosts;
    /** Fixed addresses of the two containers on the cluster network. @default Docker assigns them */
    addresses?: Partial<Record<PoolerRole, string>>;
    /** Host address both endpoints are published on. @default "127.0.0.1" */
    bindAddress?: string;
    /** Host port of the read-write endpoint. */
    rwPort: number;
    /** Host port of the read-only endpoint. */
    roPort: number;
    /** Password of the postgres superuser; only its SCRAM verifier reaches the containers. Treated as a secret. */
    superuserPassword: pulumi.Input<string>;
    /** Labels added to both containers (besides `pg-replication.cluster` and `pg-replication.pooler`). @default none */
    labels?: Record<string, string>;
    /** Seconds to wait for each container to accept connections (installing PgBouncer first, where the image lacks it). @default 240 */
    waitTimeoutSeconds?: number;
}

/**
 * Stable endpoints of the cluster through PgBouncer: a read-write one that follows the primary and
 * a read-only one over the replicas. After a failover, scripts/lib/pooler.ts re-points the running
 * containers in place; no PostgreSQL node and no pooler restarts.
 */
export class PgBouncerPool extends pulumi.ComponentResource {
    /** The read-write endpoint's container. */
    public readonly rwContainer: docker.Container;
    /** The read-only endpoint's container. */
    public readonly roContainer: docker.Container;
    /** Name of the read-write endpoint's container, known once it accepts connections. */
    public readonly rwContainerName: pulumi.Output<string>;
    /** Name of the read-only endpoint's container, known once it accepts connections. */
    public readonly roContainerName: pulumi.Output<string>;

    constructor(name: string, args: PgBouncerPoolArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:PgBouncerPool", name, {}, opts);
        const replicas = args.replicaNodes ?? [];
        // The verifier the server stores for postgres (same derived salt): PgBouncer can then log
        // in to the server with the keys of the client's own SCRAM exchange.
        const userlist = pulumi.secret(
            pulumi
                .output(args.superuserPassword)
                .apply((pw) =>
                    renderUserlist([{ role: POOLER_ROLE_NAME, verifier: roleVerifier(pw, POOLER_ROLE_NAME) }]),
                ),
        );
        const ports: Record<PoolerRole, number> = { rw: args.rwPort, ro: args.roPort };
        const [[rw, rwReady], [ro, roReady]] = POOLER_ROLES.map((role) => {
            const labels = { "pg-replication.cluster": args.namePrefix, ...args.labels, "pg-replication.pooler": role };
            const container = new docker.Container(
                `${name}-${role}`,
                {
                    name: poolerContainerName(args.namePrefix, role),
                    hostname: `pgbouncer-${role}`,
                    image: args.image,
                    // Whatever the image's USER: the entrypoint hands the auth file over, then
                    // PgBouncer drops to postgres itself (-u).
                    user: "root",
                    entrypoints: ["/bin/sh", POOLER_PATHS.entrypoint],
                    uploads: [
                        { file: POOLER_PATHS.entrypoint, content: renderPoolerEntrypoint(), executable: true },
                        {
                            file: POOLER_PATHS.ini,
                            content: renderPgBouncerIni(role, args.primaryNode, replicas, args.nodeHosts),
                        },
                        { file: POOLER_PATHS.userlist, content: userlist, permissions: "0600" },
                    ],
                    networksAdvanced: [
                        { name: args.network, aliases: [`pgbouncer-${role}`], ipv4Address: args.addresses?.[role] },
                    ],
                    ports: [
                        {
                            internal: POOLER_PORT,
                            external: ports[role],
                            ip: args.bindAddress ?? "127.0.0.1",
                            protocol: "tcp",
                        },
                    ],
                    healthcheck: {
                        tests: POOLER_HEALTHCHECK,
                        interval: HEALTH_INTERVAL,
                        timeout: "3s",
                        retries: 5,
                        startPeriod: "3m0s",
                    },
                    restart: "unless-stopped",
                    // Safe shutdown: stop accepting, close server connections as sessions end.
                    stopSignal: "SIGINT",
                    stopTimeout: 10,
                    labels: dockerLabels(labels),
                },
                // Fixed container names and host ports: the old container must go first.
                { parent: this, deleteBeforeReplace: true, ignoreChanges: [HEALTHCHECK_SET_AT_CREATION] },
            );
            // Up as soon as PgBouncer listens, probed every 100 ms (infra/container-ready.ts).
            const ready = containerReady(
                `${name}-${role}-ready`,
                {
                    containerName: container.name,
                    containerId: container.id,
                    probe: POOLER_LISTENING,
                    timeoutSeconds: args.waitTimeoutSeconds ?? 240,
                },
                { parent: this },
            );
            return [container, ready] as const;
        });
        this.rwContainer = rw;
        this.roContainer = ro;
        this.rwContainerName = pulumi.all([rw.name, rwReady.id]).apply(([n]) => n);
        this.roContainerName = pulumi.all([ro.name, roReady.id]).apply(([n]) => n);
        this.registerOutputs({ rwContainerName: this.rwContainerName, roContainerName: this.roContainerName });
    }
}
