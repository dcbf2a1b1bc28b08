import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { clusterLabels, dockerLabels, NODE_LABEL, TLS_LABEL } from "../model/labels";
import { generatedPassword } from "./generated-password";
import * as path from "path";
import { renderNodeBackupConf } from "../model/backup-config";
import { BackupRepository } from "./backup-repository";
import { IssuedCertificate, publishedNames, StackCertificates, tlsUploads } from "./certificates";
import { checkSpec } from "../model/check-spec";
import { renderFile } from "../model/render";
import { renderRestoreEnv, renderRestoreSourceConf, RESTORE_FAILED_FILE, RESTORE_SOURCE_PATH } from "../model/restore";
import { parseRestoreTarget } from "../model/restore-target";
import { ClusterConfig, ConfigError, configFromValues, missingRestorePassphrase } from "../model/config";
import { EngineTls, engineTlsRoot } from "../model/engine-tls";
import { NodeFile, PostgresNode } from "./node";
import { nodeStarts } from "./node-starts";
import { nodeScript } from "./node-script";
import { MONITOR_ROLE_DEFAULT, metricsEndpoints, metricsExporters, metricsProbeUrl } from "../model/metrics-endpoint";
import { PostgresExporter } from "./metrics";
import { tlsFilesCommand } from "./tls-files";
import { psqlCommand } from "./psql";
import { MANUAL_ROLES } from "./manual-roles";
import { PATRONI_ROLES } from "./patroni-roles";
import {
    ClusterEngines,
    clusterEngines,
    EngineTlsFiles,
    Engine,
    engineEnvironment,
    onEngine,
    stackEnginesEnvironment,
} from "./engines";
import { NodeExtras, RoleOutcome, RoleStrategy } from "./roles";
import { roleVerifier } from "../model/scram";
import { dropRoleSql, monitorRoleSql } from "../model/sql";
import {
    ADDRESS_OFFSETS,
    BACKUP_CLIENT_CN,
    CLUSTER_ALIAS,
    clientHost,
    clusterNodes,
    dynamicAddressRange,
    nodeReach,
    NodeSpec,
    PATHS,
    publishedPorts,
    repositoryAddress,
    repositoryPort,
    subnetAddress,
} from "../model/topology";

/**
 * Runs on every deployment and preview (an invoke, not a resource), before anything is declared:
 * refuses a change of `failover` on a stack whose containers were made for the other mode (and of
 * `tls` on one whose nodes run the other policy), and in
 * manual mode refuses when another node than `primaryNode` is the running primary (a failover whose
 * primaryNode change was not recorded) or a node that may run cannot say whether it accepts writes,
 * rather than let the deployment treat two nodes as primary (ops/hooks/guard-primary.ts).
 */
function deploymentGuard(b: Build): pulumi.Output<string> {
    return command.local
        .runOutput({
            command: nodeScript("guard-primary"),
            dir: b.projectRoot,
            environment: {
                PGR_CLUSTER: b.prefix,
                PGR_FAILOVER: b.cfg.failover,
                PGR_IMAGE: b.cfg.image,
                PGR_PULL_IMAGE: String(b.cfg.pullImage),
                PGR_TLS: b.cfg.tls,
                ...b.strategy.guardEnvironment(b.primarySpec),
                ...invokeEnginesEnvironment(b),
            },
        })
        .apply((r) => r.stdout.trim());
}

/**
 * Where an invoke (a hook run before any resource exists, in the preview too) finds the stack's
 * containers across hosts: the engine map, and the cert root as written rather than the output of
 * its cleanup resource, which would defer the invoke. Empty on one engine.
 */
function invokeEnginesEnvironment(b: Build): Record<string, pulumi.Input<string>> {
    return {
        ...stackEnginesEnvironment(b.prefix, b.cfg, b.engines),
        ...(b.engines?.tlsRoot ? { PGR_DOCKER_TLS_DIR: b.engines.tlsRoot } : {}),
    };
}

/**
 * restoreFrom: before anything is created, checks that the source's repository is on this engine,
 * opens with the passphrase, holds a backup, and that the target lies in its restore window
 * (ops/hooks/check-restore-source.ts); nothing once this stack's bootstrap node has data.
 */
function restorePreflight(b: Build): pulumi.Output<string> {
    return command.local
        .runOutput({
            command: nodeScript("check-restore-source"),
            dir: b.projectRoot,
            environment: {
                PGR_STACK: b.prefix,
                PGR_RESTORE_FROM: b.cfg.restoreFrom,
                PGR_RESTORE_TARGET: b.cfg.restoreTarget,
                PGR_BOOTSTRAP_VOLUME: `${b.primarySpec.containerName}-data`,
                PGR_IMAGE: b.cfg.image,
                // Across hosts: the bootstrap node's host, whose engine must hold the source's volume.
                PGR_BOOTSTRAP_NODE: b.primarySpec.name,
                PGR_BOOTSTRAP_HOST: b.primarySpec.host?.name ?? "",
                ...invokeEnginesEnvironment(b),
            },
            // The passphrase on standard input: never in an environment or on a command line.
            stdin: pulumi.secret(pulumi.output(b.restoreCipherPass ?? "")),
        })
        .apply((r) => r.stdout.trim());
}

/** The one place a failover mode picks its role strategy. */
const ROLE_STRATEGIES: Record<ClusterConfig["failover"], RoleStrategy> = {
    manual: MANUAL_ROLES,
    patroni: PATRONI_ROLES,
};

/** Where a node is reachable from the Docker host. */
export interface NodeEndpoint {
    node: string;
    container: string;
    host: string;
    port: number;
    /** failover=patroni: when the node's role was read from Patroni (ISO 8601); Patroni may move it since. */
    roleReadAt?: string;
}

/**
 * Arguments of a {@link PostgresCluster}: every {@link ClusterConfig} field (documented there with
 * its default), each optional, validated by the same rules as stack configuration, and the secrets.
 * Docker objects are named after the stack (`<stack>-pg1` …): the day-2 commands find a cluster by
 * its stack name, so no other prefix is offered.
 */
export interface PostgresClusterArgs extends Partial<ClusterConfig> {
    /** Password of the postgres superuser. @default generated once and kept in the stack state */
    superuserPassword?: pulumi.Input<string>;
    /** Password of the replication role. @default generated once and kept in the stack state */
    replicationPassword?: pulumi.Input<string>;
    /** restoreFrom: the source stack's repository passphrase (its output backupCipherPass). @default none (required with restoreFrom) */
    restoreCipherPass?: pulumi.Input<string>;
    /**
     * The client TLS material of each `hosts` entry whose engine is tcp://, by host name (required for
     * each). Plain values, since the docker CLI reads them from files written before anything is
     * declared; they reach resources only as secrets (the providers' caMaterial, certMaterial,
     * keyMaterial). @default none (no tcp:// engine)
     */
    engineTls?: EngineTls;
    /** Directory holding scripts/ and node_modules, where the checks and the primary guard run. @default this project's root */
    projectRoot?: string;
}

/** What every builder of a {@link PostgresCluster} shares. */
interface Build {
    /** The component's name: children's names derive from it. */
    name: string;
    /** Docker name prefix: the stack. */
    prefix: string;
    cfg: ClusterConfig;
    projectRoot: string;
    /** Every node, pg1 … pg<replicas+1>, in node order. */
    specs: NodeSpec[];
    /** The configured primary's spec (it bootstraps; the role strategy may move the role later). */
    primarySpec: NodeSpec;
    replicaSpecs: NodeSpec[];
    /** The address a client on the Docker host reaches the published ports at. */
    host: string;
    labels: Record<string, string>;
    /** The failover mode's side of the program. */
    strategy: RoleStrategy;
    /** restoreFrom: the source repository's passphrase (secret). */
    restoreCipherPass?: pulumi.Input<string>;
    /** Across hosts (`hosts`): each host's engine and each member's; undefined on one engine. */
    engines?: ClusterEngines;
    /** The tcp:// hosts' client TLS material and where the docker CLI finds it. */
    engineTls: EngineTlsFiles;
}

/**
 * The stack's TLS material (made when `tls` is required or backups are on): the CA, which later
 * certificates (endpoints) are issued from, and a certificate per node, whose names cover every way
 * the node is reached; the repository's when backups are on.
 */
interface StackTls {
    ca: StackCertificates;
    caCertPem: pulumi.Output<string>;
    /** By node name. */
    nodes: Record<string, IssuedCertificate>;
    repo?: IssuedCertificate;
}

/** A file path in a URI query: each segment percent-encoded, the slashes kept (readable, and both libpq and node-postgres decode it). */
function uriPath(file: string): string {
    return file.split("/").map(encodeURIComponent).join("/");
}

/**
 * How a node's servers take a new certificate without a restart: PostgreSQL re-reads its
 * certificate files on a reload; the failover mode's own servers as its strategy says; pgBackRest's
 * TLS server only at start, so it is started again (a backup through it at that moment fails and is
 * retried).
 */
function nodeTlsReload(b: Build): string {
    const lines = ["psql -U postgres -XAtqc 'SELECT pg_reload_conf()' >/dev/null", ...b.strategy.certificateReload];
    if (b.cfg.backups) {
        // Every descriptor to /dev/null: a server holding `docker exec`'s output would keep it open.
        // The old server must have let go of its port before the new one binds it (bounded: 10 s).
        lines.push(
            "pkill -f '^pgbackrest server' || true",
            "i=0; while pgrep -f '^pgbackrest server' >/dev/null && [ \"$i\" -lt 100 ]; do i=$((i+1)); sleep 0.1; done",
            `. ${PATHS.confDir}/backup-node-setup.sh </dev/null >/dev/null 2>&1`,
        );
    }
    return lines.join("\n");
}

/** The endpoints that follow the primary: their container resource and connection strings. */
interface PooledEndpoints {
    resources: pulumi.Resource[];
    rw: pulumi.Output<string>;
    ro: pulumi.Output<string>;
}

/**
 * A PostgreSQL streaming-replication cluster on Docker: `replicas + 1` role-neutral nodes
 * (pg1 …); `primaryNode` bootstraps as the primary and a role strategy (manual: the day-2
 * commands; patroni: Patroni with etcd) moves the role later. Manual mode adds a replication role,
 * one physical slot per replica and the synchronous policy applied online; both modes add the
 * read-write and read-only endpoints, the optional exporter, and post-deploy checks that prove
 * replication works.
 */
export class PostgresCluster extends pulumi.ComponentResource {
    /** The cluster's Docker network; undefined across hosts (each container on its host's network). */
    public readonly network?: docker.Network;
    /** One node per server, in node order (pg1, pg2, …). */
    public readonly nodes: PostgresNode[];
    /**
     * Where the primary is reachable from the Docker host, as the checks found it at deploy time
     * (`roleReadAt`; under Patroni the leader its REST API named); the configured `primaryNode` when
     * the checks are off. A failover or switchover since moves it: `npm run status` shows it now.
     */
    public readonly primary: pulumi.Output<NodeEndpoint>;
    /** Where each other node is reachable from the Docker host, in node order. */
    public readonly replicas: pulumi.Output<NodeEndpoint[]>;
    /**
     * postgresql:// URL of the primary as the postgres superuser (secret): the read-write endpoint
     * when the pooler is on (every failover and switchover re-points it, so it stays true); without
     * the pooler, the port of the primary at deploy time.
     */
    public readonly primaryConnectionString: pulumi.Output<string>;
    /** postgresql:// URLs of the other nodes (secret). */
    public readonly replicaConnectionStrings: pulumi.Output<string[]>;
    /** `async`, or the synchronous policy and synchronous_commit level. */
    public readonly replicationMode: pulumi.Output<string>;
    /** Read-write endpoint, follows the primary (secret); undefined when `pooler` is false. */
    public readonly rwConnectionString?: pulumi.Output<string>;
    /** Read-only endpoint over the replicas (secret); undefined when `pooler` is false. */
    public readonly roConnectionString?: pulumi.Output<string>;
    /**
     * Base URL of the metrics exporter's multi-target /probe endpoint (append `pgN:5432/postgres`);
     * undefined when `metrics` is false, and across hosts, where each node has its own exporter
     * ({@link metricsEndpoints}).
     */
    public readonly metricsEndpoint?: pulumi.Output<string>;
    /** Each node's full scrape URL (its exporter's /probe with its target), by node name; undefined when `metrics` is false. */
    public readonly metricsEndpoints?: pulumi.Output<Record<string, string>>;
    /** Password of the `prometheus` user the exporter's port requires (basic auth; secret); undefined when `metrics` is false. */
    public readonly metricsPassword?: pulumi.Output<string>;
    /** The post-deploy checks' JSON report. */
    public readonly checkReport: pulumi.Output<unknown>;
    /** The postgres superuser's password (secret). */
    public readonly superuserPassword: pulumi.Output<string>;
    /** The replication role's password (secret). */
    public readonly replicationPassword: pulumi.Output<string>;
    /**
     * The backup repository's cipher passphrase (secret); undefined when `backups` is false. A stack
     * restored from this one needs it (restoreCipherPass): save it before a destroy with keepBackups.
     */
    public readonly backupCipherPass?: pulumi.Output<string>;

    /**
     * The stack CA's certificate (PEM), which every server's certificate chains to: what a client
     * verifies with `sslmode=verify-full`. Undefined when `tls` is off.
     */
    public readonly caCert?: pulumi.Output<string>;
    /** Where `up` wrote {@link caCert} (the connection strings' sslrootcert); undefined when `tls` is off. */
    public readonly caCertFile?: pulumi.Output<string>;
    /** The `tls` policy deployed: `required` or `off`. */
    public readonly tls: string;

    constructor(name: string, args: PostgresClusterArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:PostgresCluster", name, {}, opts);
        const b = PostgresCluster.plan(name, args);
        b.engines = clusterEngines(name, b.cfg, this, b.engineTls);
        this.tls = b.cfg.tls;
        this.superuserPassword = this.password(`${name}-superuser-password`, args.superuserPassword);
        this.replicationPassword = this.password(`${name}-replication-password`, args.replicationPassword);
        const imageId = this.gatedImage(b);
        this.network = this.declareNetwork(b, imageId);
        this.backupCipherPass = b.cfg.backups ? this.password(`${name}-backup-cipher-pass`) : undefined;
        const stackTls = b.cfg.backups || b.cfg.tls === "required" ? this.declareTls(b) : undefined;
        // The repository first, and every node depends on its container: a destroy stops the nodes
        // (whose last archiving needs it) before the repository goes.
        const repository = this.declareRepository(b, imageId, stackTls);
        // What clients must verify: undefined with tls off (the CA then serves pgBackRest alone).
        const serverTls = b.cfg.tls === "required" ? stackTls : undefined;
        const roles = this.declareNodes(b, imageId, stackTls, repository);
        this.caCert = serverTls?.caCertPem;
        this.caCertFile = serverTls && this.writeCaCertFile(b, serverTls.caCertPem);
        this.nodes = roles.nodes
            .map((n) => n.node)
            .sort((x, y) => x.node.localeCompare(y.node, "en", { numeric: true }));
        this.replicationMode = roles.replicationMode;
        if (b.cfg.metrics) {
            this.metricsPassword = this.password(`${name}-metrics-scrape-password`);
            const metrics = this.declareMetrics(b, roles, this.metricsPassword, serverTls?.caCertPem);
            this.metricsEndpoint = metrics.base;
            this.metricsEndpoints = metrics.byNode;
        }

        const backups = repository?.firstBackup(`${b.name}-backup-first`, [...roles.settled, ...this.nodes]);
        const pooled = b.cfg.pooler ? this.declareEndpoints(b, roles, serverTls) : undefined;
        this.rwConnectionString = pooled?.rw;
        this.roConnectionString = pooled?.ro;
        this.checkReport = this.declareChecks(b, roles, [pooled?.resources, backups]);

        const where = this.rolesNow(b, pooled);
        this.primary = where.primary;
        this.replicas = where.replicas;
        this.primaryConnectionString = where.primaryConnectionString;
        this.replicaConnectionStrings = where.replicaConnectionStrings;
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
            metricsEndpoints: this.metricsEndpoints,
            metricsPassword: this.metricsPassword,
            backupCipherPass: this.backupCipherPass,
            caCert: this.caCert,
            caCertFile: this.caCertFile,
            tls: this.tls,
        });
    }

    /** A password given by the caller, or generated once and kept in the state; secret either way. */
    private password(resourceName: string, given?: pulumi.Input<string>): pulumi.Output<string> {
        return pulumi.secret(given ?? generatedPassword(resourceName, this));
    }

    /**
     * The image reference, known only once the deployment guard agrees, the restore source checks out
     * (restoreFrom) and the image is there (pulled, or found on the engine): the network, the volumes
     * and the containers all wait for it, so nothing is created or changed before.
     */
    private gatedImage(b: Build): pulumi.Output<string> {
        const guard = deploymentGuard(b);
        const preflight = b.cfg.restoreFrom !== "" ? restorePreflight(b) : pulumi.output("");
        // Across hosts every host's engine needs the image (each has its own copy).
        const images = b.engines
            ? b.engines.hosts.map((e) => this.image(`${b.name}-image-${e.host.name}`, b.cfg.image, b.cfg.pullImage, e))
            : [this.image(`${b.name}-image`, b.cfg.image, b.cfg.pullImage)];
        const id = pulumi.all([...images, guard, preflight]).apply(([first]) => first);
        // Everything waits for the mode's own check: a bad image fails the deployment before anything is
        // created, and every data volume hangs off one image gate (infra/data-volume.ts says why).
        return b.strategy.requireImage
            ? b.strategy.requireImage(`${b.name}-${b.cfg.failover}-image`, id, this, b.engines?.hosts)
            : id;
    }

    /**
     * The roles are the ones the checks found at deploy time, with when (roleReadAt): after a
     * failover or switchover (a command in manual mode, an election under Patroni) no output recorded
     * earlier can name the primary, so none claims to be "now". The way to the primary is the
     * read-write endpoint, which every failover re-points; without the pooler, the deployed primary's
     * own port. With the checks off: the configured layout.
     */
    private rolesNow(b: Build, pooled: PooledEndpoints | undefined) {
        const roleAt = b.cfg.checks ? this.rolesAtDeploy(b) : undefined;
        const primarySpec = roleAt ? roleAt.apply((r) => r.primary) : pulumi.output(b.primarySpec);
        const replicaSpecs = roleAt ? roleAt.apply((r) => r.replicas) : pulumi.output(b.replicaSpecs);
        const readAt = roleAt ? roleAt.apply((r) => r.readAt) : pulumi.output(undefined);
        return {
            primary: pulumi.all([primarySpec, readAt]).apply(([spec, at]) => this.endpointOf(b, spec, at)),
            replicas: pulumi
                .all([replicaSpecs, readAt])
                .apply(([specs, at]) => specs.map((spec) => this.endpointOf(b, spec, at))),
            primaryConnectionString: pooled
                ? pooled.rw
                : primarySpec.apply((spec) => this.superuserUrl([nodeReach(b.cfg, spec)])),
            replicaConnectionStrings: pulumi.secret(
                replicaSpecs.apply((specs) =>
                    pulumi.all(specs.map((spec) => this.superuserUrl([nodeReach(b.cfg, spec)]))),
                ),
            ),
        };
    }

    /** The validated configuration and the node layout every builder reads; declares nothing. */
    private static plan(name: string, args: PostgresClusterArgs): Build {
        const cfg = configFromValues(args, args.engineTls);
        const prefix = pulumi.getStack();
        if (cfg.restoreFrom === prefix)
            throw new ConfigError(
                "restoreFrom",
                cfg.restoreFrom,
                "a stack never restores onto itself (a restore must not overwrite a running cluster); restore into a new stack",
            );
        if (cfg.restoreFrom !== "" && args.restoreCipherPass === undefined)
            throw missingRestorePassphrase(cfg.restoreFrom);
        const specs = clusterNodes(prefix, cfg);
        const projectRoot = args.projectRoot ?? path.resolve(__dirname, "..");
        return {
            name,
            prefix,
            cfg,
            projectRoot,
            engineTls: { material: args.engineTls ?? {}, root: engineTlsRoot(projectRoot, prefix) },
            restoreCipherPass: args.restoreCipherPass,
            specs,
            primarySpec: specs.find((s) => s.role === "primary") as NodeSpec,
            replicaSpecs: specs.filter((s) => s.role === "replica"),
            host: clientHost(cfg),
            labels: clusterLabels(prefix),
            strategy: ROLE_STRATEGIES[cfg.failover],
        };
    }

    /**
     * The bridge network: fixed addresses for every container in the lower half, Docker's own in the
     * upper. None across hosts: each container uses its host's network.
     */
    private declareNetwork(b: Build, gate: pulumi.Output<string>): docker.Network | undefined {
        if (b.engines) return undefined;
        return new docker.Network(
            `${b.name}-network`,
            {
                name: gate.apply(() => `${b.prefix}-net`),
                driver: "bridge",
                ipamConfigs: [{ subnet: b.cfg.subnet, ipRange: dynamicAddressRange(b.cfg.subnet) }],
                labels: dockerLabels(b.labels),
            },
            { parent: this, deleteBeforeReplace: true },
        );
    }

    /**
     * The image and the node containers on the shared path; the failover mode's role strategy
     * decides which files each node gets and what runs on the primary. With backups, every node
     * also gets its pgBackRest configuration and TLS files.
     */
    private declareNodes(
        b: Build,
        imageId: pulumi.Output<string>,
        stackTls?: StackTls,
        repository?: BackupRepository,
    ): RoleOutcome {
        const makeNode = (
            spec: NodeSpec,
            image: pulumi.Input<string>,
            files: NodeFile[],
            dependsOn: pulumi.Resource[],
            extra?: NodeExtras,
        ) => {
            const node = new PostgresNode(
                `${b.name}-${spec.name}`,
                {
                    node: spec.name,
                    // Known once the image is: the node's volume and container wait for it.
                    containerName: pulumi.output(image).apply(() => spec.containerName),
                    image,
                    network: this.network?.name,
                    address: spec.address,
                    engine: b.engines?.nodes[spec.name],
                    bindAddress: b.cfg.bindAddress,
                    hostPort: spec.hostPort,
                    files: [
                        ...files,
                        ...(stackTls ? tlsUploads(stackTls.caCertPem, stackTls.nodes[spec.name]) : []),
                        ...(b.cfg.backups ? this.backupNodeFiles(b, spec) : []),
                        ...this.restoreFiles(b),
                    ],
                    // The source's repository volume: on one engine every node mounts it; across hosts
                    // only the bootstrap node, the one that restores, on whose engine the preflight found it.
                    extraVolumes:
                        b.cfg.restoreFrom && (!b.engines || spec.name === b.primarySpec.name)
                            ? [
                                  {
                                      volumeName: `${b.cfg.restoreFrom}-backup-repo`,
                                      containerPath: RESTORE_SOURCE_PATH,
                                      readOnly: true,
                                  },
                              ]
                            : [],
                    // A restore replays the source's WAL before the node first answers: allow an hour,
                    // and fail at once when the entrypoint says the restore failed.
                    waitTimeoutSeconds: b.cfg.restoreFrom ? 3600 : undefined,
                    failProbe: b.cfg.restoreFrom ? `cat ${RESTORE_FAILED_FILE}` : undefined,
                    stopSignal: extra?.stopSignal,
                    fastResolver: extra?.fastResolver,
                    // The tls label: the deployment guard refuses a switch of policy in place.
                    labels: { ...b.labels, [NODE_LABEL]: spec.name, [TLS_LABEL]: b.cfg.tls },
                },
                { parent: this, dependsOn: [...dependsOn, ...(repository ? [repository.container] : [])] },
            );
            if (stackTls) this.nodeTlsFiles(b, spec, node, stackTls);
            return node;
        };
        return b.strategy.declare({
            name: b.name,
            prefix: b.prefix,
            cfg: b.cfg,
            projectRoot: b.projectRoot,
            specs: b.specs,
            parent: this,
            network: this.network,
            engines: b.engines,
            imageId,
            superuserPassword: this.superuserPassword,
            replicationPassword: this.replicationPassword,
            tls:
                b.cfg.tls === "required" && stackTls
                    ? { caCertPem: stackTls.caCertPem, issue: (n, req) => stackTls.ca.issue(n, req) }
                    : undefined,
            makeNode,
        });
    }

    /** Writes a node's current certificate into its running container and reloads its servers. */
    private nodeTlsFiles(b: Build, spec: NodeSpec, node: PostgresNode, stackTls: StackTls): void {
        tlsFilesCommand(
            `${b.name}-${spec.name}-tls-files`,
            {
                containerName: node.containerName,
                containerId: node.container.id,
                caCertPem: stackTls.caCertPem,
                certificate: stackTls.nodes[spec.name],
                owner: "postgres",
                reload: nodeTlsReload(b),
                engine: b.engines?.nodes[spec.name],
            },
            { parent: this, dependsOn: [node.ready] },
        );
    }

    /**
     * The stack's CA and the certificates of the nodes (PostgreSQL and pgBackRest's TLS server) and
     * of the repository. A node's names: its container, its node name, the cluster alias, its fixed
     * address, and how the Docker host reaches its published port.
     */
    private declareTls(b: Build): StackTls {
        const ca = new StackCertificates(
            `${b.name}-ca`,
            { stack: b.prefix, rotation: b.cfg.tlsRotation },
            { parent: this },
        );
        const published = publishedNames(b.cfg.bindAddress);
        // Across hosts a client reaches any node through any host's HAProxy (TLS passes through to
        // the node), so each node's certificate names every host's address.
        published.ipAddresses.push(...b.cfg.hosts.map((h) => h.address));
        const issue = (name: string, dnsNames: string[], ipAddresses: string[]) =>
            ca.issue(`${b.name}-${name}-tls`, { commonName: BACKUP_CLIENT_CN, dnsNames, ipAddresses });
        const nodes = Object.fromEntries(
            b.specs.map((s) => [
                s.name,
                issue(
                    s.name,
                    [s.containerName, s.name, CLUSTER_ALIAS, ...published.dnsNames],
                    [s.address, ...published.ipAddresses],
                ),
            ]),
        );
        const repo = b.cfg.backups ? issue("repo", [`${b.prefix}-backup`], [repositoryAddress(b.cfg)]) : undefined;
        return { ca, caCertPem: ca.caCertPem, nodes, repo };
    }

    /**
     * restoreFrom: what the bootstrap node restores with (the entrypoint reads them only on an empty
     * volume, so their changes re-create nothing). Every node gets them and the source volume,
     * read-only: whichever node bootstraps, a later failover changes no node's container.
     */
    private restoreFiles(b: Build): NodeFile[] {
        if (b.cfg.restoreFrom === "" || b.restoreCipherPass === undefined) return [];
        return [
            {
                name: "restore.env",
                content: renderRestoreEnv(b.cfg.restoreFrom, parseRestoreTarget(b.cfg.restoreTarget)),
                ignoreChanges: true,
            },
            {
                name: "restore-source.conf",
                content: pulumi.secret(pulumi.output(b.restoreCipherPass).apply(renderRestoreSourceConf)),
                permissions: "0600",
                ignoreChanges: true,
            },
        ];
    }

    /** What a node needs for pgBackRest (its TLS files are the node's own): the setup its entrypoint sources, its configuration. */
    private backupNodeFiles(b: Build, spec: NodeSpec): NodeFile[] {
        return [
            { name: "backup-node-setup.sh", content: renderFile("backup-node-setup.sh") },
            { name: "archive-get.sh", content: renderFile("archive-get.sh") },
            {
                name: "pgbackrest.conf",
                content: renderNodeBackupConf(spec, repositoryAddress(b.cfg), repositoryPort(b.cfg)),
            },
        ];
    }

    /**
     * The backup repository (its own container and volume), made before the nodes; its host list
     * and schedule are written by a command, so that scaling or a new schedule re-creates nothing.
     */
    private declareRepository(
        b: Build,
        imageId: pulumi.Output<string>,
        stackTls: StackTls | undefined,
    ): BackupRepository | undefined {
        const certificate = stackTls?.repo;
        const cipherPass = this.backupCipherPass;
        if (!stackTls || !certificate || !cipherPass) return undefined;
        return new BackupRepository(
            `${b.name}-backup`,
            {
                containerName: `${b.prefix}-backup`,
                image: imageId,
                network: this.network?.name,
                address: repositoryAddress(b.cfg),
                engine: b.engines?.repository,
                cfg: b.cfg,
                nodes: b.specs,
                cipherPass,
                caCertPem: stackTls.caCertPem,
                certificate,
                labels: b.labels,
            },
            { parent: this },
        );
    }

    /**
     * The monitoring role (created on the primary) and the exporters (model/metrics-endpoint.ts:
     * one on one engine, one per node's host across hosts); returns the /probe base URL (one engine
     * only) and every node's scrape URL.
     */
    private declareMetrics(
        b: Build,
        roles: RoleOutcome,
        scrapePassword: pulumi.Output<string>,
        caCertPem: pulumi.Output<string> | undefined,
    ): { base?: pulumi.Output<string>; byNode: pulumi.Output<Record<string, string>> } {
        const monitorPassword = generatedPassword(`${b.name}-monitor-password`, this);
        const monitorRole = psqlCommand(
            `${b.name}-monitor-user`,
            {
                on: roles.primarySql,
                cluster: b.prefix,
                // Across hosts the primary is on one of the hosts' engines (none is the default one).
                engines: stackEnginesEnvironment(b.prefix, b.cfg, b.engines),
                sql: pulumi.secret(
                    monitorPassword.apply((pw) =>
                        monitorRoleSql(MONITOR_ROLE_DEFAULT, roleVerifier(pw, MONITOR_ROLE_DEFAULT)),
                    ),
                ),
                deleteSql: dropRoleSql(MONITOR_ROLE_DEFAULT),
            },
            // Once the primary is settled: under Patroni a restored primary's post_bootstrap restarts
            // the server after it first answers (patroni-roles.ts superuserReady). And after every node:
            // `pulumi destroy` deletes in parallel whatever nothing left depends on (the engine's
            // ScheduleDeletes), and this delete finds the primary among all running nodes, so it must
            // run before any node goes (a node vanishing under it cannot say whether it accepts writes).
            { parent: this, dependsOn: [...new Set([...roles.superuserReady, ...roles.nodes.map((n) => n.node)])] },
        );
        const exporters = metricsExporters(b.prefix, b.cfg);
        for (const e of exporters) {
            const engine = e.host && b.engines?.hosts.find((h) => h.host.name === e.host?.name);
            new PostgresExporter(
                e.host ? `${b.name}-metrics-${e.host.name}` : `${b.name}-metrics`,
                {
                    containerName: e.containerName,
                    image: roles.image,
                    network: this.network?.name,
                    address: engine ? undefined : subnetAddress(b.cfg.subnet, ADDRESS_OFFSETS.metrics),
                    engine,
                    bindAddress: b.cfg.bindAddress,
                    hostPort: publishedPorts(b.cfg).metrics,
                    listenPort: e.listenPort,
                    user: MONITOR_ROLE_DEFAULT,
                    password: monitorPassword,
                    labels: b.labels,
                    targets: e.targets,
                    scrapePassword,
                    caCertPem,
                },
                { parent: this, dependsOn: [monitorRole] },
            );
        }
        return {
            // One base URL on one engine; across hosts each exporter has its own host and target.
            base: b.engines ? undefined : pulumi.output(metricsProbeUrl(b.host, publishedPorts(b.cfg).metrics)),
            byNode: pulumi.output(metricsEndpoints(exporters)),
        };
    }

    /** Where node `spec` is reachable from the Docker host; `readAt` when its role was read from Patroni. */
    private endpointOf(b: Build, spec: NodeSpec, readAt: string | undefined): NodeEndpoint {
        return {
            node: spec.name,
            container: spec.containerName,
            ...nodeReach(b.cfg, spec),
            ...(readAt ? { roleReadAt: readAt } : {}),
        };
    }

    /**
     * The primary and replicas as the checks found them at deploy time (under Patroni through its
     * REST API), and when; the configured layout when the checks said nothing.
     */
    private rolesAtDeploy(b: Build): pulumi.Output<{ primary: NodeSpec; replicas: NodeSpec[]; readAt?: string }> {
        return this.checkReport.apply((raw) => {
            const report = raw as { primary?: string; checkedAt?: string };
            const leader = b.specs.find((s) => s.name === report.primary);
            if (!leader) return { primary: b.primarySpec, replicas: b.replicaSpecs };
            return { primary: leader, replicas: b.specs.filter((s) => s !== leader), readAt: report.checkedAt };
        });
    }

    /**
     * postgresql:// URL of the superuser at a published port (secret); with TLS it verifies the
     * server against the CA file written beside the project (libpq and node-postgres both read it).
     */
    private superuserUrl(at: Array<{ host: string; port: number }>, params: string[] = []): pulumi.Output<string> {
        const tls = this.caCertFile
            ? this.caCertFile.apply((f) => ["sslmode=verify-full", `sslrootcert=${uriPath(f)}`])
            : pulumi.output([] as string[]);
        const query = tls.apply((t) => [...params, ...t]).apply((q) => (q.length > 0 ? `?${q.join("&")}` : ""));
        const hosts = at.map((a) => `${a.host}:${a.port}`).join(",");
        return pulumi.secret(
            pulumi.interpolate`postgresql://postgres:${this.superuserPassword.apply(encodeURIComponent)}@${hosts}/postgres${query}`,
        );
    }

    /**
     * Writes the CA certificate to `.pg-replication/<stack>-ca.crt` in the project directory, where
     * the connection strings' sslrootcert points: what `pulumi up` prints then works as printed.
     * Removed by a destroy. The certificate is public; only keys are secret.
     */
    private writeCaCertFile(b: Build, caCertPem: pulumi.Output<string>): pulumi.Output<string> {
        const file = path.join(b.projectRoot, ".pg-replication", `${b.prefix}-ca.crt`);
        const written = new command.local.Command(
            `${b.name}-ca-file`,
            {
                create: `mkdir -p "$(dirname "$PGR_CA_FILE")" && cat > "$PGR_CA_FILE"`,
                delete: `rm -f "$PGR_CA_FILE"`,
                environment: { PGR_CA_FILE: file },
                stdin: caCertPem,
            },
            // The old command's delete removes the same path: it must run before the new one writes.
            { parent: this, deleteBeforeReplace: true },
        );
        return written.stdout.apply(() => file);
    }

    /**
     * The read-write and read-only endpoints: PgBouncer (re-pointed by the day-2 commands) or
     * HAProxy (on Patroni's health checks), as the role strategy says.
     */
    private declareEndpoints(b: Build, roles: RoleOutcome, tls: StackTls | undefined): PooledEndpoints {
        const { cfg, name } = b;
        const { poolerRw: rwPort, poolerRo: roPort } = publishedPorts(cfg);
        const resources = roles.endpoints({
            name,
            prefix: b.prefix,
            cfg,
            projectRoot: b.projectRoot,
            primarySpec: b.primarySpec,
            replicaSpecs: b.replicaSpecs,
            network: this.network,
            engines: b.engines,
            image: roles.image,
            poolerImage: () =>
                cfg.poolerImage === ""
                    ? roles.image
                    : pulumi
                          .all([this.image(`${name}-pooler-image`, cfg.poolerImage, cfg.pullImage), roles.image])
                          .apply(([id]) => id),
            superuserPassword: this.superuserPassword,
            rwPort,
            roPort,
            tls: tls && { caCertPem: tls.caCertPem, issue: (n, req) => tls.ca.issue(n, req) },
            // Logins through the endpoints need the superuser's verifier on the server.
            opts: { parent: this, dependsOn: roles.superuserReady },
        });
        if (!b.engines) {
            const at = (port: number) => [{ host: b.host, port }];
            return { resources, rw: this.superuserUrl(at(rwPort)), ro: this.superuserUrl(at(roPort)) };
        }
        // Across hosts every host's HAProxy, libpq-style: a client tries the next host when one is
        // unreachable (within connect_timeout) and keeps only a read-write session on rw.
        const at = (port: number) => b.cfg.hosts.map((h) => ({ host: h.address, port }));
        return {
            resources,
            rw: this.superuserUrl(at(rwPort), ["connect_timeout=3", "target_session_attrs=read-write"]),
            ro: this.superuserUrl(at(roPort), ["connect_timeout=3"]),
        };
    }

    /**
     * The post-deploy checks (ops/hooks/check-cluster.ts), once roles, slots, the synchronous policy,
     * the endpoints and the first backup are in place; re-run whenever a node's container is re-created or started again.
     */
    private declareChecks(
        b: Build,
        roles: RoleOutcome,
        after: Array<pulumi.Resource | pulumi.Resource[] | undefined>,
    ): pulumi.Output<unknown> {
        if (!b.cfg.checks) return pulumi.output({ skipped: "checks are off (pg-replication:checks false)" });
        const spec = checkSpec(
            b.prefix,
            b.cfg,
            b.primarySpec.name,
            b.replicaSpecs.map((s) => s.name),
        );
        const checks = new command.local.Command(
            `${b.name}-checks`,
            {
                create: nodeScript("check-cluster"),
                dir: b.projectRoot,
                environment: {
                    PGR_CHECK_SPEC: JSON.stringify(spec),
                    PGR_CONTAINER_IDS: pulumi.all(this.nodes.map((n) => n.container.id)).apply((ids) => ids.join(",")),
                    PGR_NODE_STARTS: nodeStarts(this.nodes),
                    PGPASSWORD: this.superuserPassword,
                    // The CA is public; the checks verify every server against it (tls required).
                    PGR_TLS_CA: this.caCert ?? "",
                    ...stackEnginesEnvironment(b.prefix, b.cfg, b.engines),
                },
                logging: "stderr",
            },
            {
                parent: this,
                // Every node explicitly: in async mode nothing in `settled` waits for the replicas.
                dependsOn: [...roles.settled, ...this.nodes, ...after.flat().filter((r) => r !== undefined)],
            },
        );
        return checks.stdout.apply((out) => JSON.parse(out) as unknown);
    }

    /**
     * The image reference to run, once it is pulled or checked to exist locally. The reference, not
     * the image id: when its tag moves (someone pulled postgres:17 again), a refresh re-reads the
     * RemoteImage with a new id, and containers created from the id would all be replaced at once.
     * The provider reads a container's `image` back as the reference it was given
     * (terraform-provider-docker v4.5.0 resourceDockerContainerRead), so nothing changes.
     */
    private image(resourceName: string, ref: string, pull: boolean, engine?: Engine): pulumi.Output<string> {
        if (pull) {
            const remote = new docker.RemoteImage(
                resourceName,
                { name: ref, keepLocally: true },
                { parent: this, ...onEngine(engine) },
            );
            return remote.imageId.apply(() => ref);
        }
        const check = new command.local.Command(
            resourceName,
            {
                create:
                    'docker image inspect --format "{{.Id}}" "$PGR_IMAGE" 2>/dev/null || { echo "pg-replication: image $PGR_IMAGE ' +
                    "does not exist ${DOCKER_HOST:+on $DOCKER_HOST }locally and pg-replication:pullImage is false; build it with npm run build-image " +
                    '(for another host: docker save | docker -H that host load), or set pullImage true to pull it" >&2; exit 1; }',
                environment: { PGR_IMAGE: ref, ...engineEnvironment(engine) },
            },
            { parent: this },
        );
        return check.stdout.apply(() => ref);
    }
}
