import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { dockerLabels } from "./labels";
import { CLUSTER_ALIAS, PATHS } from "./topology";

/** Property path of the bootstrap.env upload (its index in `uploads`). */
export const BOOTSTRAP_UPLOAD = "uploads[2]";

/** Arguments of a {@link PostgresNode}. */
export interface PostgresNodeArgs {
    /** Node name (pg1 …): network alias, application_name, label. */
    node: string;
    /** Docker container name. */
    containerName: pulumi.Input<string>;
    /** Image id or reference to run. */
    image: pulumi.Input<string>;
    /** Name of the cluster's Docker network. */
    network: pulumi.Input<string>;
    /** The node's fixed IPv4 address on that network (infra/topology.ts nodeAddress). */
    address: string;
    /** Name of the WAL archive volume, mounted at /var/lib/postgresql/wal_archive. @default no archive volume */
    archiveVolume?: pulumi.Input<string>;
    /** Host address the port is published on. @default "127.0.0.1" */
    bindAddress?: string;
    /** Host port published for the node's 5432. */
    hostPort: number;
    /** Rendered postgresql.conf. */
    postgresqlConf: string;
    /** Rendered pg_hba.conf. */
    pgHbaConf: string;
    /** Rendered pg_ident.conf. */
    pgIdentConf: string;
    /** The entrypoint script. */
    entrypoint: string;
    /** Shell variables for the entrypoint (node.env). */
    nodeEnv: string;
    /** Which node initialises an empty cluster (bootstrap.env); later changes are ignored. */
    bootstrapEnv: string;
    /** libpq password file for the replication role; a secret. */
    pgpass: pulumi.Input<string>;
    /** Labels put on the volume and the container. @default none */
    labels?: Record<string, string>;
    /** Seconds to wait for the container to become healthy. @default 360 */
    waitTimeoutSeconds?: number;
}

/** One PostgreSQL server: its data volume and its container. */
export class PostgresNode extends pulumi.ComponentResource {
    /** The node's name (pg1 …). */
    public readonly node: string;
    /** The Docker container. */
    public readonly container: docker.Container;
    /** The named data volume; it outlives container replacements. */
    public readonly volume: docker.Volume;
    /** The container's name. */
    public readonly containerName: pulumi.Output<string>;

    constructor(name: string, args: PostgresNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:PostgresNode", name, {}, opts);
        this.node = args.node;
        const labels = dockerLabels(args.labels);
        const containerName = pulumi.output(args.containerName);

        this.volume = new docker.Volume(
            `${name}-data`,
            { name: pulumi.interpolate`${containerName}-data`, labels },
            // Keep the data when the container goes; fixed names need delete-before-replace.
            { parent: this, deleteBeforeReplace: true },
        );

        const volumes: docker.types.input.ContainerVolume[] = [{ volumeName: this.volume.name, containerPath: PATHS.dataDir }];
        if (args.archiveVolume !== undefined) {
            volumes.push({ volumeName: args.archiveVolume, containerPath: PATHS.archiveDir });
        }
        const conf = PATHS.confDir;
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: containerName,
                hostname: args.node,
                image: args.image,
                entrypoints: ["/bin/sh", `${conf}/entrypoint.sh`],
                uploads: [
                    { file: `${conf}/entrypoint.sh`, content: args.entrypoint, executable: true },
                    { file: `${conf}/node.env`, content: args.nodeEnv },
                    { file: `${conf}/bootstrap.env`, content: args.bootstrapEnv },
                    { file: `${conf}/postgresql.conf`, content: args.postgresqlConf },
                    { file: `${conf}/pg_hba.conf`, content: args.pgHbaConf },
                    { file: `${conf}/pg_ident.conf`, content: args.pgIdentConf },
                    { file: `${conf}/pgpass`, content: args.pgpass, permissions: "0600" },
                ],
                networksAdvanced: [{ name: args.network, aliases: [args.node, CLUSTER_ALIAS], ipv4Address: args.address }],
                ports: [{ internal: 5432, external: args.hostPort, ip: args.bindAddress ?? "127.0.0.1", protocol: "tcp" }],
                volumes,
                healthcheck: {
                    tests: ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"],
                    interval: "2s",
                    timeout: "5s",
                    retries: 5,
                    // A replica clones its primary before it answers; give that time.
                    startPeriod: "5m0s",
                },
                restart: "unless-stopped",
                // PostgreSQL's fast shutdown, as the official image does.
                stopSignal: "SIGINT",
                stopTimeout: 60,
                // Without it the provider removes a container with SIGKILL; with it, a clean stop.
                destroyGraceSeconds: 60,
                labels,
                wait: true,
                waitTimeout: args.waitTimeoutSeconds ?? 360,
            },
            // The component's dependsOn (the role and slot a replica clones through) is repeated
            // here so that the container's own dependencies say it, whatever the engine infers.
            {
                parent: this,
                deleteBeforeReplace: true,
                dependsOn: opts?.dependsOn,
                // bootstrap.env names the node that runs initdb on an empty cluster. It matters only
                // for an empty volume, so a failover (which changes primaryNode) must not re-create
                // every container for it.
                // A new image never replaces running nodes all at once: `npm run roll-image` moves
                // them one by one (a re-created node takes the configured image).
                ignoreChanges: ["image", BOOTSTRAP_UPLOAD],
            },
        );
        this.containerName = this.container.name;
        this.registerOutputs({ containerName: this.containerName });
    }
}
