import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { IssuedCertificate, tlsDockerUploads } from "./certificates";
import { tlsFilesCommand } from "./tls-files";
import { PATHS } from "../model/topology";
import { containerReady } from "./container-ready";
import { HEALTH_INTERVAL, HEALTHCHECK_SET_AT_CREATION } from "./healthcheck";
import { dockerLabels } from "../model/labels";
import { nodeScript } from "./node-script";
import {
    POOLER_HEALTHCHECK,
    POOLER_LISTENING,
    POOLER_OS_USER,
    POOLER_PATHS,
    POOLER_PORT,
    POOLER_ROLE_NAME,
    POOLER_ROLES,
    poolerContainerName,
    PoolerRole,
    NodeHosts,
    renderPgBouncerIni,
    renderPoolerEntrypoint,
    renderPoolerTlsIni,
    renderUserlist,
} from "../model/pooler-config";
import { roleVerifier } from "../model/scram";

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
    /**
     * TLS on both sides: clients must use TLS 1.3 to the endpoint (its own certificate), and PgBouncer
     * verifies each node's certificate against the stack's CA. @default undefined (plain text)
     */
    tls?: PoolerTls;
    /** Directory the targets command runs ops/hooks/repoint-pooler.ts from. @default the process's working directory */
    projectRoot?: string;
}

/** The CA and each endpoint's certificate. */
export interface PoolerTls {
    caCertPem: pulumi.Input<string>;
    certificates: Record<PoolerRole, IssuedCertificate>;
}

/** Where the TLS files start in each container's uploads (after entrypoint, ini, userlist, tls.ini). */
const TLS_UPLOAD = 4;

/** Index of pgbouncer.ini in each container's uploads: its later changes are ignored (see below). */
const INI_UPLOAD = 1;

/**
 * Stable endpoints of the cluster through PgBouncer: a read-write one that follows the primary and
 * a read-only one over the replicas. After a failover, ops/pooler.ts re-points the running
 * containers in place; no PostgreSQL node and no pooler restarts. A deployment does the same: each
 * container's pgbouncer.ini is uploaded once, at creation, and a command re-points the running
 * endpoints whenever the primary or the replicas change (a failover recorded in the stack, a new
 * replica), so no such change re-creates an endpoint and drops the sessions through it.
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
    /** Re-points both running endpoints at the declared primary and replicas (ops/hooks/repoint-pooler.ts). */
    public readonly targets: command.local.Command;

    constructor(name: string, args: PgBouncerPoolArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:PgBouncerPool", name, {}, opts);
        const userlist = poolerUserlist(args);
        const [[rw, rwReady], [ro, roReady]] = POOLER_ROLES.map((role) => {
            const container = this.endpointContainer(name, args, role, userlist);
            const ready = this.endpointReady(name, args, role, container);
            this.writeTlsFiles(name, args, role, container, ready);
            return [container, ready] as const;
        });
        this.rwContainer = rw;
        this.roContainer = ro;
        this.targets = this.targetsCommand(name, args, [rw, ro], [rwReady, roReady]);
        this.rwContainerName = pulumi.all([rw.name, rwReady.id, this.targets.id]).apply(([n]) => n);
        this.roContainerName = pulumi.all([ro.name, roReady.id, this.targets.id]).apply(([n]) => n);
        this.registerOutputs({ rwContainerName: this.rwContainerName, roContainerName: this.roContainerName });
    }

    /** An endpoint's container: PgBouncer on the cluster network, published on the endpoint's host port. */
    private endpointContainer(
        name: string,
        args: PgBouncerPoolArgs,
        role: PoolerRole,
        userlist: pulumi.Output<string>,
    ): docker.Container {
        const labels = { "pg-replication.cluster": args.namePrefix, ...args.labels, "pg-replication.pooler": role };
        const tlsFiles = args.tls
            ? tlsDockerUploads(PATHS.confDir, args.tls.caCertPem, args.tls.certificates[role], TLS_UPLOAD)
            : { uploads: [], ignore: [] };
        const ports: Record<PoolerRole, number> = { rw: args.rwPort, ro: args.roPort };
        return new docker.Container(
            `${name}-${role}`,
            {
                name: poolerContainerName(args.namePrefix, role),
                hostname: `pgbouncer-${role}`,
                image: args.image,
                // Whatever the image's USER: the entrypoint hands the auth file over, then
                // PgBouncer drops to postgres itself (-u).
                user: "root",
                entrypoints: ["/bin/sh", POOLER_PATHS.entrypoint],
                uploads: [...endpointUploads(args, role, userlist), ...tlsFiles.uploads],
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
            // Fixed container names and host ports: the old container must go first. The ini's
            // later changes are the targets command's job, applied without a restart.
            {
                parent: this,
                deleteBeforeReplace: true,
                ignoreChanges: [HEALTHCHECK_SET_AT_CREATION, `uploads[${INI_UPLOAD}]`, ...tlsFiles.ignore],
            },
        );
    }

    /** Up as soon as PgBouncer listens, probed every 100 ms (infra/container-ready.ts). */
    private endpointReady(
        name: string,
        args: PgBouncerPoolArgs,
        role: PoolerRole,
        container: docker.Container,
    ): command.local.Command {
        return containerReady(
            `${name}-${role}-ready`,
            {
                containerName: container.name,
                containerId: container.id,
                probe: POOLER_LISTENING,
                timeoutSeconds: args.waitTimeoutSeconds ?? 240,
            },
            { parent: this },
        );
    }

    /**
     * With TLS, writes an endpoint's new certificate files: RELOAD (SIGHUP to PgBouncer, PID 1) loads
     * them again; sessions stay connected.
     */
    private writeTlsFiles(
        name: string,
        args: PgBouncerPoolArgs,
        role: PoolerRole,
        container: docker.Container,
        ready: command.local.Command,
    ): void {
        if (!args.tls) return;
        tlsFilesCommand(
            `${name}-${role}-tls-files`,
            {
                containerName: container.name,
                containerId: container.id,
                caCertPem: args.tls.caCertPem,
                certificate: args.tls.certificates[role],
                owner: POOLER_OS_USER,
                reload: "kill -HUP 1",
            },
            { parent: this, dependsOn: [ready] },
        );
    }

    /**
     * Re-points both endpoints. Runs on create, whenever the topology changes and after either
     * container is re-created (which may have kept an older ini): the endpoints then send sessions
     * where the stack says.
     */
    private targetsCommand(
        name: string,
        args: PgBouncerPoolArgs,
        containers: docker.Container[],
        ready: command.local.Command[],
    ): command.local.Command {
        return new command.local.Command(
            `${name}-targets`,
            {
                create: nodeScript("repoint-pooler"),
                dir: args.projectRoot,
                environment: {
                    PGR_CLUSTER: args.namePrefix,
                    PGR_PRIMARY: args.primaryNode,
                    PGR_REPLICAS: (args.replicaNodes ?? []).join(","),
                    PGR_NODE_HOSTS: JSON.stringify(args.nodeHosts ?? {}),
                    PGR_CONTAINER_IDS: pulumi.all(containers.map((c) => c.id)).apply((ids) => ids.join(",")),
                },
                logging: "stderr",
            },
            { parent: this, dependsOn: ready },
        );
    }
}

/**
 * The auth file: the verifier the server stores for postgres (same derived salt), so PgBouncer can
 * log in to the server with the keys of the client's own SCRAM exchange. A secret.
 */
function poolerUserlist(args: PgBouncerPoolArgs): pulumi.Output<string> {
    return pulumi.secret(
        pulumi
            .output(args.superuserPassword)
            .apply((pw) => renderUserlist([{ role: POOLER_ROLE_NAME, verifier: roleVerifier(pw, POOLER_ROLE_NAME) }])),
    );
}

/** An endpoint's own files, in upload order: entrypoint, ini (INI_UPLOAD), userlist, tls.ini; the TLS files follow. */
function endpointUploads(
    args: PgBouncerPoolArgs,
    role: PoolerRole,
    userlist: pulumi.Output<string>,
): docker.types.input.ContainerUpload[] {
    return [
        { file: POOLER_PATHS.entrypoint, content: renderPoolerEntrypoint(), executable: true },
        {
            file: POOLER_PATHS.ini,
            content: renderPgBouncerIni(role, args.primaryNode, args.replicaNodes ?? [], args.nodeHosts),
        },
        { file: POOLER_PATHS.userlist, content: userlist, permissions: "0600" },
        // Included by pgbouncer.ini; only a new container changes it.
        { file: POOLER_PATHS.tlsIni, content: renderPoolerTlsIni(args.tls !== undefined) },
    ];
}
