import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { engineApiVersion, HEALTHCHECK_SET_AT_CREATION, healthTiming } from "./healthcheck";
import { dockerLabels } from "../model/labels";
import { containerReady } from "./container-ready";
import { pgAccepting } from "../model/probes";
import { CLUSTER_ALIAS, PATHS } from "../model/topology";
import { containerNetworking, Engine, onEngine } from "./engines";
import { dataVolume } from "./data-volume";

/** A file uploaded into the node's /etc/pg-replication at container creation. */
export interface NodeFile {
    /** File name inside /etc/pg-replication. */
    name: string;
    /** Its content; a secret when it holds a password. */
    content: pulumi.Input<string>;
    /** Octal permissions, e.g. "0600" for files only root may read. @default the provider's (0644) */
    permissions?: string;
    /** Executable (the entrypoint). @default false */
    executable?: boolean;
    /** Changes of this file never re-create the container (it matters only on an empty volume). @default false */
    ignoreChanges?: boolean;
}

/** Arguments of a {@link PostgresNode}. */
export interface PostgresNodeArgs {
    /** Node name (pg1 …): network alias, application_name, label. */
    node: string;
    /** Docker container name. */
    containerName: pulumi.Input<string>;
    /** Image id or reference to run. */
    image: pulumi.Input<string>;
    /** Name of the cluster's Docker network. @default none: the host's network (with `engine`) */
    network?: pulumi.Input<string>;
    /** The node's fixed IPv4 address on that network (model/topology.ts nodeAddress), or its host's. */
    address: string;
    /**
     * The host's engine the node runs on (`hosts`): the node then uses its host's network, publishes
     * nothing and is reached at the host's address. @default the default engine and the cluster network
     */
    engine?: Engine;
    /** Further volumes to mount (restoreFrom: the source repository, read-only). @default none */
    extraVolumes?: Array<{ volumeName: string; containerPath: string; readOnly?: boolean }>;
    /** Host address the port is published on. @default "127.0.0.1" */
    bindAddress?: string;
    /** Host port published for the node's 5432. */
    hostPort: number;
    /**
     * The files the role strategy gives the node (infra/manual-roles.ts, infra/patroni-roles.ts),
     * in upload order; `entrypoint.sh` among them is run with /bin/sh.
     */
    files: NodeFile[];
    /** Signal that stops the node cleanly. @default "SIGINT" (PostgreSQL's fast shutdown) */
    stopSignal?: string;
    /**
     * Cap the container's resolver at 1 s and 1 attempt, so that a lookup Docker's DNS forwards
     * (a stopped container's name) never stalls for glibc's 5 s (patroni-notes: DNS stalls). @default false
     */
    fastResolver?: boolean;
    /** Labels put on the volume and the container. @default none */
    labels?: Record<string, string>;
    /** Seconds to wait for PostgreSQL in the new container to accept connections. @default 360 */
    waitTimeoutSeconds?: number;
    /** Shell command that succeeds (printing why) once the node has given up starting: the deployment fails at once. @default none */
    failProbe?: string;
}

/**
 * The container's resolver capped at 1 s and 1 attempt (fastResolver). On its host's network a
 * container takes the host's resolver as it is: Docker refuses DNS options there.
 */
function resolverOptions(args: PostgresNodeArgs): Pick<docker.ContainerArgs, "dnsOpts" | "envs"> {
    if (!args.fastResolver) return {};
    const envs = ["RES_OPTIONS=timeout:1 attempts:1"];
    return args.engine ? { envs } : { dnsOpts: ["timeout:1", "attempts:1"], envs };
}

/**
 * The node's network: on one engine the cluster network (its fixed address, its name and the cluster
 * alias) and its published port; across hosts its host's network, where it publishes nothing.
 */
function nodeNetworking(
    args: PostgresNodeArgs,
): Pick<docker.ContainerArgs, "networkMode" | "networksAdvanced" | "hostname" | "ports"> {
    const network = containerNetworking(args.engine, args.network, {
        aliases: [args.node, CLUSTER_ALIAS],
        ipv4Address: args.address,
    });
    if (args.engine) return network;
    return {
        ...network,
        hostname: args.node,
        ports: [{ internal: 5432, external: args.hostPort, ip: args.bindAddress ?? "127.0.0.1", protocol: "tcp" }],
    };
}

/** One PostgreSQL server: its data volume and its container. */
export class PostgresNode extends pulumi.ComponentResource {
    /** The node's name (pg1 …). */
    public readonly node: string;
    /** The Docker container. */
    public readonly container: docker.Container;
    /** Completes once the container's PostgreSQL accepts connections (infra/container-ready.ts). */
    public readonly ready: command.local.Command;
    /** The named data volume; it outlives container replacements. */
    public readonly volume: docker.Volume;
    /** The container's name, known once its PostgreSQL accepts connections. */
    public readonly containerName: pulumi.Output<string>;
    /** The host's engine it runs on (`hosts`); undefined on the default engine. */
    public readonly engine?: Engine;

    constructor(name: string, args: PostgresNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:PostgresNode", name, {}, opts);
        this.node = args.node;
        this.engine = args.engine;
        const labels = dockerLabels(args.labels);
        const containerName = pulumi.output(args.containerName);

        this.volume = dataVolume(
            `${name}-data`,
            { volumeName: pulumi.interpolate`${containerName}-data`, image: args.image, labels, engine: args.engine },
            this,
        );

        const volumes: docker.types.input.ContainerVolume[] = [
            { volumeName: this.volume.name, containerPath: PATHS.dataDir },
            ...(args.extraVolumes ?? []),
        ];
        const conf = PATHS.confDir;
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: containerName,
                image: args.image,
                entrypoints: ["/bin/sh", `${conf}/entrypoint.sh`],
                // Docker's init as PID 1 reaps what detaches from the server: pgBackRest's TLS
                // server and its asynchronous archive-push. Were the postmaster PID 1, it would
                // reap such orphans as its own children, and an exit status other than 0 or 1
                // counts as a crashed backend there: every session ends and the server recovers
                // (postmaster.c CleanupBackend).
                init: true,
                uploads: args.files.map((f) => ({
                    file: `${conf}/${f.name}`,
                    content: f.content,
                    ...(f.executable ? { executable: true } : {}),
                    ...(f.permissions !== undefined ? { permissions: f.permissions } : {}),
                })),
                ...resolverOptions(args),
                ...nodeNetworking(args),
                volumes,
                // For health read later (docker ps, monitoring); `ready` below decides when the node is up.
                healthcheck: engineApiVersion().apply((api) => ({
                    tests: ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"],
                    ...healthTiming(api),
                    timeout: "5s",
                    retries: 5,
                    // A replica clones its primary before it answers; give that time.
                    startPeriod: "5m0s",
                })),
                restart: "unless-stopped",
                // PostgreSQL's fast shutdown, as the official image does.
                stopSignal: args.stopSignal ?? "SIGINT",
                stopTimeout: 60,
                // Without it the provider removes a container with SIGKILL; with it, a clean stop.
                destroyGraceSeconds: 60,
                labels,
            },
            // The component's dependsOn (the role and slot a replica clones through) is repeated
            // here so that the container's own dependencies say it, whatever the engine infers.
            {
                parent: this,
                ...onEngine(args.engine),
                deleteBeforeReplace: true,
                dependsOn: opts?.dependsOn,
                // e.g. manual mode's bootstrap.env, which names the node that runs initdb on an empty
                // cluster: it matters only for an empty volume, so a failover (which changes
                // primaryNode) must not re-create every container for it.
                // A new image never replaces running nodes all at once: `npm run roll-image` moves
                // them one by one (a re-created node takes the configured image).
                // ignoreChanges names a list element only by its index, so each flagged file's index
                // is taken from where it sits in `files`: no file is tied to a fixed position.
                ignoreChanges: [
                    "image",
                    HEALTHCHECK_SET_AT_CREATION,
                    ...args.files.flatMap((f, i) => (f.ignoreChanges ? [`uploads[${i}]`] : [])),
                ],
            },
        );
        this.ready = containerReady(
            `${name}-ready`,
            {
                containerName,
                containerId: this.container.id,
                probe: pgAccepting("127.0.0.1"),
                timeoutSeconds: args.waitTimeoutSeconds ?? 360,
                failProbe: args.failProbe,
                engine: args.engine,
            },
            { parent: this },
        );
        this.containerName = pulumi.all([this.container.name, this.ready.id]).apply(([n]) => n);
        this.registerOutputs({ containerName: this.containerName });
    }
}
