import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { dockerLabels } from "./labels";
import * as path from "path";
import { CheckSpec, patroniCheckSpec } from "../scripts/lib/check-spec";
import { ClusterConfig } from "./config";
import { HaproxyEndpoints } from "./haproxy";
import { manualRoles } from "./manual-roles";
import { NodeFile, PostgresNode } from "./node";
import { nodeScript } from "./node-script";
import { MONITOR_ROLE_DEFAULT, metricsProbeUrl } from "./metrics-endpoint";
import { PostgresExporter } from "./metrics";
import { patroniRoles } from "./patroni-roles";
import { PgBouncerPool } from "./pooler";
import { psqlCommand } from "./psql";
import { NodeExtras, RoleStrategy } from "./roles";
import { roleVerifier } from "./scram";
import { dropRoleSql, monitorRoleSql } from "./sql";
import { ADDRESS_OFFSETS, clientHost, clusterNodes, dynamicAddressRange, nodeAddressMap, NodeSpec, PORT_OFFSETS, subnetAddress } from "./topology";

/** The one place a failover mode picks its role strategy. */
const ROLE_STRATEGIES: Record<ClusterConfig["failover"], RoleStrategy> = { manual: manualRoles, patroni: patroniRoles };

/** Where a node is reachable from the Docker host. */
export interface NodeEndpoint {
    node: string;
    container: string;
    host: string;
    port: number;
}

/** Arguments of a {@link PostgresCluster}. */
export interface PostgresClusterArgs {
    /** The validated cluster configuration (see infra/config.ts for every field and its default). */
    config: ClusterConfig;
    /** Prefix of every Docker object's name (containers are `<prefix>-pg1` …). @default the stack name */
    namePrefix?: string;
    /** Password of the postgres superuser. @default generated once and kept in the stack state */
    superuserPassword?: pulumi.Input<string>;
    /** Password of the replication role. @default generated once and kept in the stack state */
    replicationPassword?: pulumi.Input<string>;
    /** Directory holding scripts/ and node_modules, where the checks run. @default this project's root */
    projectRoot?: string;
}

/** A generated password: made once by a command, then kept in state as a secret. */
function generatedPassword(name: string, parent: pulumi.Resource): pulumi.Output<string> {
    const gen = new command.local.Command(
        name,
        {
            create: `node -e "process.stdout.write(require('crypto').randomBytes(24).toString('base64url'))"`,
            logging: "none",
        },
        { parent, additionalSecretOutputs: ["stdout"] },
    );
    return pulumi.secret(gen.stdout);
}

/**
 * A PostgreSQL streaming-replication cluster on Docker: `replicas + 1` role-neutral nodes (pg1 …),
 * one of them primary (`primaryNode` bootstraps it; a role strategy, manual or Patroni, moves it),
 * a replication role, one physical slot per replica, the synchronous-replication policy applied
 * online, and post-deploy checks that prove replication works.
 */
export class PostgresCluster extends pulumi.ComponentResource {
    /** The cluster's Docker network. */
    public readonly network: docker.Network;
    /** One node per server, in node order (pg1, pg2, …). */
    public readonly nodes: PostgresNode[];
    /** Where the primary is reachable from the Docker host. */
    public readonly primary: pulumi.Output<NodeEndpoint>;
    /** Where each replica is reachable from the Docker host. */
    public readonly replicas: pulumi.Output<NodeEndpoint[]>;
    /** postgresql:// URL of the primary as the postgres superuser (secret). */
    public readonly primaryConnectionString: pulumi.Output<string>;
    /** postgresql:// URLs of the replicas (secret). */
    public readonly replicaConnectionStrings: pulumi.Output<string[]>;
    /** `async`, or the synchronous policy and synchronous_commit level. */
    public readonly replicationMode: pulumi.Output<string>;
    /** Read-write endpoint through PgBouncer, follows the primary (secret); undefined when `pooler` is false. */
    public readonly rwConnectionString?: pulumi.Output<string>;
    /** Read-only endpoint through PgBouncer, over the replicas (secret); undefined when `pooler` is false. */
    public readonly roConnectionString?: pulumi.Output<string>;
    /** Base URL of the metrics exporter's multi-target /probe endpoint; undefined when `metrics` is false. */
    public readonly metricsEndpoint?: pulumi.Output<string>;
    /** The post-deploy checks' JSON report. */
    public readonly checkReport: pulumi.Output<unknown>;
    /** The postgres superuser's password (secret). */
    public readonly superuserPassword: pulumi.Output<string>;
    /** The replication role's password (secret). */
    public readonly replicationPassword: pulumi.Output<string>;

    constructor(name: string, args: PostgresClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:PostgresCluster", name, {}, opts);
        const cfg = args.config;
        const prefix = args.namePrefix ?? pulumi.getStack();
        const projectRoot = args.projectRoot ?? path.resolve(__dirname, "..");
        const specs = clusterNodes(prefix, cfg);
        const primarySpec = specs.find((s) => s.role === "primary") as NodeSpec;
        const replicaSpecs = specs.filter((s) => s.role === "replica");
        const labels = { "pg-replication.cluster": prefix };

        this.superuserPassword = pulumi.secret(args.superuserPassword ?? generatedPassword(`${name}-superuser-password`, this));
        this.replicationPassword = pulumi.secret(
            args.replicationPassword ?? generatedPassword(`${name}-replication-password`, this),
        );

        this.network = new docker.Network(
            `${name}-network`,
            {
                name: `${prefix}-net`,
                driver: "bridge",
                // Fixed addresses for every container in the lower half, Docker's own in the upper.
                ipamConfigs: [{ subnet: cfg.subnet, ipRange: dynamicAddressRange(cfg.subnet) }],
                labels: dockerLabels(labels),
            },
            { parent: this, deleteBeforeReplace: true },
        );

        const imageId = this.image(`${name}-image`, cfg.image, cfg.pullImage);
        const archive = cfg.walArchive
            ? new docker.Volume(
                  `${name}-wal-archive`,
                  { name: `${prefix}-wal-archive`, labels: dockerLabels(labels) },
                  { parent: this, deleteBeforeReplace: true },
              )
            : undefined;

        const makeNode = (spec: NodeSpec, image: pulumi.Input<string>, files: NodeFile[], dependsOn: pulumi.Resource[], extra?: NodeExtras) =>
            new PostgresNode(
                `${name}-${spec.name}`,
                {
                    node: spec.name,
                    containerName: spec.containerName,
                    image,
                    network: this.network.name,
                    address: spec.address,
                    archiveVolume: archive?.name,
                    bindAddress: cfg.bindAddress,
                    hostPort: spec.hostPort,
                    files,
                    stopSignal: extra?.stopSignal,
                    fastResolver: extra?.fastResolver,
                    labels: { ...labels, "pg-replication.node": spec.name },
                },
                { parent: this, dependsOn },
            );
        const roles = ROLE_STRATEGIES[cfg.failover]({
            name,
            prefix,
            cfg,
            projectRoot,
            specs,
            parent: this,
            network: this.network,
            imageId,
            superuserPassword: this.superuserPassword,
            replicationPassword: this.replicationPassword,
            makeNode,
        });
        const image = roles.image;
        const primaryNode = roles.nodes.find((n) => n.spec === primarySpec)?.node as PostgresNode;
        const replicaNodes = roles.nodes.filter((n) => n.spec !== primarySpec);
        this.nodes = roles.nodes.map((n) => n.node).sort((a, b) => a.node.localeCompare(b.node, "en", { numeric: true }));
        this.replicationMode = roles.replicationMode;

        const host = clientHost(cfg);
        if (cfg.metrics) {
            const monitorPassword = generatedPassword(`${name}-monitor-password`, this);
            const monitorRole = psqlCommand(
                `${name}-monitor-user`,
                {
                    container: roles.primaryContainer,
                    cluster: prefix,
                    sql: pulumi.secret(monitorPassword.apply((pw) => monitorRoleSql(MONITOR_ROLE_DEFAULT, roleVerifier(pw, MONITOR_ROLE_DEFAULT)))),
                    deleteSql: dropRoleSql(MONITOR_ROLE_DEFAULT),
                },
                { parent: this },
            );
            const metricsPort = cfg.hostPortBase + PORT_OFFSETS.metrics;
            new PostgresExporter(
                `${name}-metrics`,
                {
                    containerName: `${prefix}-metrics`,
                    image,
                    network: this.network.name,
                    address: subnetAddress(cfg.subnet, ADDRESS_OFFSETS.metrics),
                    bindAddress: cfg.bindAddress,
                    hostPort: metricsPort,
                    user: MONITOR_ROLE_DEFAULT,
                    password: monitorPassword,
                    labels,
                },
                { parent: this, dependsOn: [monitorRole] },
            );
            this.metricsEndpoint = pulumi.output(metricsProbeUrl(host, metricsPort));
        }

        const endpoint = (spec: NodeSpec, node: PostgresNode): pulumi.Output<NodeEndpoint> =>
            node.containerName.apply((container) => ({ node: spec.name, container, host, port: spec.hostPort }));
        this.primary = endpoint(primarySpec, primaryNode);
        this.replicas = pulumi.all(replicaNodes.map((r) => endpoint(r.spec, r.node)));
        const url = (port: number) =>
            pulumi.secret(
                pulumi.interpolate`postgresql://postgres:${pulumi.output(this.superuserPassword).apply(encodeURIComponent)}@${host}:${port}/postgres`,
            );
        this.primaryConnectionString = url(primarySpec.hostPort);
        this.replicaConnectionStrings = pulumi.secret(pulumi.all(replicaSpecs.map((s) => url(s.hostPort))));

        let endpoints: pulumi.Resource | undefined;
        if (cfg.pooler) {
            const rwPort = cfg.hostPortBase + PORT_OFFSETS.poolerRw;
            const roPort = cfg.hostPortBase + PORT_OFFSETS.poolerRo;
            const poolerImage =
                cfg.poolerImage === ""
                    ? image
                    : pulumi.all([this.image(`${name}-pooler-image`, cfg.poolerImage, cfg.pullImage), image]).apply(([id]) => id);
            endpoints =
                roles.endpoints === "haproxy"
                    ? new HaproxyEndpoints(
                          `${name}-haproxy`,
                          {
                              containerName: `${prefix}-haproxy`,
                              image,
                              network: this.network.name,
                              address: subnetAddress(cfg.subnet, ADDRESS_OFFSETS.haproxy),
                              servers: specs.map((s) => ({ name: s.name, address: s.address })),
                              bindAddress: cfg.bindAddress,
                              rwPort,
                              roPort,
                              labels,
                          },
                          { parent: this, dependsOn: roles.superuserReady },
                      )
                    : new PgBouncerPool(
                          `${name}-pooler`,
                          {
                              namePrefix: prefix,
                              image: poolerImage,
                              network: this.network.name,
                              primaryNode: primarySpec.name,
                              replicaNodes: replicaSpecs.map((s) => s.name),
                              nodeHosts: nodeAddressMap(cfg.subnet),
                              addresses: {
                                  rw: subnetAddress(cfg.subnet, ADDRESS_OFFSETS.poolerRw),
                                  ro: subnetAddress(cfg.subnet, ADDRESS_OFFSETS.poolerRo),
                              },
                              bindAddress: cfg.bindAddress,
                              rwPort,
                              roPort,
                              superuserPassword: this.superuserPassword,
                              labels,
                          },
                          // Logins through the endpoints need the superuser's verifier on the server.
                          { parent: this, dependsOn: roles.superuserReady },
                      );
            this.rwConnectionString = url(rwPort);
            this.roConnectionString = url(roPort);
        }

        if (cfg.checks) {
            const spec: CheckSpec = {
                stack: prefix,
                primary: { node: primarySpec.name, host, port: primarySpec.hostPort },
                replicas: replicaSpecs.map((s) => ({ node: s.name, host, port: s.hostPort })),
                syncMode: cfg.syncMode,
                syncMethod: cfg.syncMethod,
                syncCount: cfg.syncCount,
                slots: cfg.slots,
                deadlineSeconds: 60,
                endpoints: cfg.pooler
                    ? { rw: { host, port: cfg.hostPortBase + PORT_OFFSETS.poolerRw }, ro: { host, port: cfg.hostPortBase + PORT_OFFSETS.poolerRo } }
                    : undefined,
                // failover=patroni: the leader is whoever Patroni elected; the checks find it.
                patroni: cfg.failover === "patroni" ? patroniCheckSpec(prefix, cfg, host) : undefined,
            };
            const checks = new command.local.Command(
                `${name}-checks`,
                {
                    create: nodeScript("scripts/check-cluster.ts"),
                    dir: projectRoot,
                    environment: {
                        PGR_CHECK_SPEC: JSON.stringify(spec),
                        // Re-check whenever a node's container is re-created.
                        PGR_CONTAINER_IDS: pulumi.all(this.nodes.map((n) => n.container.id)).apply((ids) => ids.join(",")),
                        PGPASSWORD: this.superuserPassword,
                    },
                    logging: "stderr",
                },
                {
                    parent: this,
                    // Every node explicitly: in async mode nothing in `settled` waits for the replicas.
                    dependsOn: [...roles.settled, ...this.nodes, ...(endpoints ? [endpoints] : [])],
                },
            );
            this.checkReport = checks.stdout.apply((out) => JSON.parse(out) as unknown);
        } else {
            this.checkReport = pulumi.output({ skipped: "checks are off (pg-replication:checks false)" });
        }

        this.registerOutputs({
            primary: this.primary,
            replicas: this.replicas,
            primaryConnectionString: this.primaryConnectionString,
            replicaConnectionStrings: this.replicaConnectionStrings,
            replicationMode: this.replicationMode,
            checkReport: this.checkReport,
            rwConnectionString: this.rwConnectionString,
            roConnectionString: this.roConnectionString,
            metricsEndpoint: this.metricsEndpoint,
        });
    }

    /**
     * The image reference to run, once it is pulled or checked to exist locally. The reference, not
     * the image id: when its tag moves (someone pulled postgres:17 again), a refresh re-reads the
     * RemoteImage with a new id, and containers created from the id would all be replaced at once.
     * The provider reads a container's `image` back as the reference it was given
     * (terraform-provider-docker v4.5.0 resourceDockerContainerRead), so nothing changes.
     */
    private image(resourceName: string, ref: string, pull: boolean): pulumi.Output<string> {
        if (pull) {
            const remote = new docker.RemoteImage(resourceName, { name: ref, keepLocally: true }, { parent: this });
            return remote.imageId.apply(() => ref);
        }
        const check = new command.local.Command(
            resourceName,
            {
                create:
                    'docker image inspect --format "{{.Id}}" "$PGR_IMAGE" 2>/dev/null || { echo "pg-replication: image $PGR_IMAGE ' +
                    'does not exist locally and pg-replication:pullImage is false; build it with npm run build-image, ' +
                    'or set pullImage true to pull it" >&2; exit 1; }',
                environment: { PGR_IMAGE: ref },
            },
            { parent: this },
        );
        return check.stdout.apply(() => ref);
    }
}
