import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { renderCrontab, renderRepoConf } from "../model/backup-config";
import { ClusterConfig } from "../model/config";
import { IssuedCertificate, tlsDockerUploads } from "./certificates";
import { tlsFilesCommand } from "./tls-files";
import { containerReady } from "./container-ready";
import { HEALTH_INTERVAL, HEALTHCHECK_SET_AT_CREATION } from "./healthcheck";
import { dockerLabels } from "../model/labels";
import { renderFile } from "../model/render";
import { tcpListening } from "../model/probes";
import { BACKUP_PATHS, NodeSpec, PATHS, repositoryPort, STANZA } from "../model/topology";
import { containerNetworking, Engine, engineEnvironment, onEngine } from "./engines";
import { dataVolume } from "./data-volume";

/**
 * Writes pgbackrest.conf (stdin) and the postgres user's crontab ($PGR_CRONTAB) into repository
 * container $PGR_REPO, each replaced in one rename: the source under /etc/pg-replication (which a
 * restart installs again) and pgBackRest's copy. pgBackRest reads its configuration on every
 * command; busybox crond notices the crontab directory's change within a minute.
 */
export const REWRITE_CONFIG = [
    "set -eu",
    `docker exec -i "$PGR_REPO" sh -c 'umask 077; cat > ${PATHS.confDir}/pgbackrest.conf.new && ` +
        `mv ${PATHS.confDir}/pgbackrest.conf.new ${PATHS.confDir}/pgbackrest.conf && ` +
        `install -o postgres -g postgres -m 0600 ${PATHS.confDir}/pgbackrest.conf ${BACKUP_PATHS.config}'`,
    `printf '%s' "$PGR_CRONTAB" | docker exec -i "$PGR_REPO" sh -c 'cat > ${PATHS.confDir}/crontab.new && ` +
        `mv ${PATHS.confDir}/crontab.new ${BACKUP_PATHS.crontabs}/postgres'`,
].join("\n");

/** pgbackrest.conf with the repository's cipher passphrase: a secret. */
function repoConf(args: BackupRepositoryArgs): pulumi.Output<string> {
    return pulumi.secret(args.cipherPass.apply((pass) => renderRepoConf(args.cfg, args.nodes, pass)));
}

/** Arguments of a {@link BackupRepository}. */
export interface BackupRepositoryArgs {
    /** Docker container name; its volume is `<containerName>-repo`. */
    containerName: string;
    /** Image with pgbackrest and busybox (the local image carries both). */
    image: pulumi.Input<string>;
    /** Name of the cluster's Docker network. @default none: the host's network (with `engine`) */
    network?: pulumi.Input<string>;
    /** The container's fixed address on that network (host number 9), or its host's. */
    address: string;
    /** The host's engine the repository runs on (`hosts`). @default the default engine and the cluster network */
    engine?: Engine;
    /** The validated stack configuration: retention, schedules, backupStandby, keepBackups. */
    cfg: ClusterConfig;
    /** The nodes the repository takes backups through (their TLS servers), in node order. */
    nodes: NodeSpec[];
    /** The repository's cipher passphrase (secret). */
    cipherPass: pulumi.Output<string>;
    /** The stack CA's certificate. */
    caCertPem: pulumi.Input<string>;
    /** The repository's own certificate and key, from the stack's CA. */
    certificate: IssuedCertificate;
    /** Labels put on the volume and the container. @default none */
    labels?: Record<string, string>;
}

/**
 * The backup repository: a container of its own running pgBackRest's TLS server (the nodes push
 * WAL to it and fetch WAL from it) and busybox crond (the backup schedule), on a volume of its own,
 * so that losing any node's volume, or every node, loses no backup. `firstBackup` creates the stanza
 * and takes the first full backup.
 */
export class BackupRepository extends pulumi.ComponentResource {
    /** The repository's volume; with keepBackups it outlives `pulumi destroy`. */
    public readonly volume: docker.Volume;
    /** The repository container. */
    public readonly container: docker.Container;
    /** Done once the TLS server listens. */
    public readonly ready: command.local.Command;
    /** Writes the current pgbackrest.conf and crontab into the running container. */
    public readonly config: command.local.Command;
    /** The host's engine it runs on (`hosts`); undefined on the default engine. */
    public readonly engine?: Engine;

    constructor(name: string, args: BackupRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:BackupRepository", name, {}, opts);
        const labels = dockerLabels(args.labels);
        this.engine = args.engine;
        this.volume = this.repositoryVolume(name, args, labels);
        this.container = this.repositoryContainer(name, args, labels);
        this.ready = containerReady(
            `${name}-ready`,
            {
                containerName: this.container.name,
                containerId: this.container.id,
                probe: tcpListening(repositoryPort(args.cfg)),
                engine: args.engine,
                timeoutSeconds: 60,
            },
            { parent: this },
        );
        this.config = this.configCommand(name, args);
        this.writeTlsFiles(name, args);
        this.registerOutputs({});
    }

    /** The repository's volume: `<containerName>-repo`. */
    private repositoryVolume(
        name: string,
        args: BackupRepositoryArgs,
        labels: ReturnType<typeof dockerLabels>,
    ): docker.Volume {
        return dataVolume(
            `${name}-volume`,
            {
                volumeName: `${args.containerName}-repo`,
                image: args.image,
                labels,
                engine: args.engine,
                // keepBackups: destroy leaves the volume (and every backup in it) behind on purpose.
                retainOnDelete: args.cfg.keepBackups,
            },
            this,
        );
    }

    /** The container: pgBackRest's TLS server and crond, with its configuration uploaded at creation. */
    private repositoryContainer(
        name: string,
        args: BackupRepositoryArgs,
        labels: ReturnType<typeof dockerLabels>,
    ): docker.Container {
        const conf = PATHS.confDir;
        const tlsFiles = tlsDockerUploads(conf, args.caCertPem, args.certificate, 3);
        return new docker.Container(
            `${name}-container`,
            {
                name: args.containerName,
                ...(args.engine ? {} : { hostname: "backup" }),
                image: args.image,
                // Docker's init reaps what crond's jobs and the TLS server's children leave.
                init: true,
                entrypoints: ["/bin/sh", `${conf}/entrypoint.sh`],
                uploads: [
                    {
                        file: `${conf}/entrypoint.sh`,
                        content: renderFile("backup-repo-entrypoint.sh"),
                        executable: true,
                    },
                    { file: `${conf}/pgbackrest.conf`, content: repoConf(args), permissions: "0600" },
                    { file: `${BACKUP_PATHS.crontabs}/postgres`, content: renderCrontab(args.cfg) },
                    ...tlsFiles.uploads,
                ],
                ...containerNetworking(args.engine, args.network, { ipv4Address: args.address }),
                volumes: [{ volumeName: this.volume.name, containerPath: BACKUP_PATHS.repo }],
                // Healthy while the TLS server listens; read later (docker ps, monitoring): `ready`
                // decides when the repository is up.
                healthcheck: {
                    tests: ["CMD-SHELL", tcpListening(repositoryPort(args.cfg))],
                    interval: HEALTH_INTERVAL,
                    timeout: "5s",
                    retries: 5,
                    startPeriod: "30s",
                },
                restart: "unless-stopped",
                labels,
            },
            {
                parent: this,
                ...onEngine(args.engine),
                deleteBeforeReplace: true,
                // pgbackrest.conf (its host list) and the crontab matter at creation only: the
                // `config` command writes every later change into the running container, so a
                // change of `replicas` or of a schedule re-creates nothing (the nodes depend on this
                // container, and re-creating it would re-create them).
                // A new image replaces no container at once (npm run roll-image moves the nodes; the
                // repository takes the image when it is next created: docker rm -f, then up).
                ignoreChanges: [HEALTHCHECK_SET_AT_CREATION, "image", "uploads[1]", "uploads[2]", ...tlsFiles.ignore],
            },
        );
    }

    /** Writes the current pgbackrest.conf and crontab into the running container, once it is ready. */
    private configCommand(name: string, args: BackupRepositoryArgs): command.local.Command {
        return new command.local.Command(
            `${name}-config`,
            {
                create: REWRITE_CONFIG,
                environment: {
                    PGR_REPO: this.container.name,
                    PGR_CRONTAB: renderCrontab(args.cfg),
                    ...engineEnvironment(args.engine),
                },
                // The passphrase on standard input, never in an environment or on a command line.
                stdin: repoConf(args),
                // A re-created container starts from its upload: write the current files again.
                triggers: [this.container.id],
                logging: "stderr",
            },
            { parent: this, dependsOn: [this.ready] },
        );
    }

    /**
     * A new certificate: pgBackRest's TLS server reads it only at start, and it serves no client
     * session, so the repository restarts (after the config command, never during it).
     */
    private writeTlsFiles(name: string, args: BackupRepositoryArgs): void {
        tlsFilesCommand(
            `${name}-tls-files`,
            {
                containerName: this.container.name,
                containerId: this.container.id,
                caCertPem: args.caCertPem,
                certificate: args.certificate,
                owner: "postgres",
                reload: "true",
                restart: true,
                engine: args.engine,
            },
            { parent: this, dependsOn: [this.ready, this.config] },
        );
    }

    /**
     * Creates the stanza and, when the repository holds no backup yet, takes a full one, so that
     * point-in-time recovery works from the first minute; run after the nodes are up (`after`).
     * Again whenever the repository container is re-created (both steps are idempotent).
     */
    public firstBackup(name: string, after: pulumi.Resource[]): command.local.Command {
        const stanza = `pgbackrest --stanza=${STANZA}`;
        return new command.local.Command(
            name,
            {
                create: [
                    "set -eu",
                    // Retried for up to a minute, on pgBackRest's transient errors only: 50 lock-acquire
                    // (the nodes' archive-push holds the repository's archive lock for moments at a
                    // time), 49 host-connect and 56 db-connect (a node's TLS server or a standby that
                    // has just started and does not take connections yet).
                    'run() { i=0; until docker exec -u postgres "$PGR_REPO" ' +
                        stanza +
                        ' "$@"; do rc=$?; case "$rc" in 49|50|56) ;; *) return "$rc";; esac; ' +
                        '[ "$i" -lt 60 ] || return "$rc"; i=$((i+1)); sleep 1; done; }',
                    "run --log-level-console=warn stanza-create",
                    // info's JSON lists backups as "backup":[…]; an empty list means none yet.
                    `if docker exec -u postgres "$PGR_REPO" ${stanza} info --output=json | grep -q '"backup":\\[\\]'; then`,
                    `  run backup --type=full --log-level-console=warn`,
                    "fi",
                ].join("\n"),
                environment: { PGR_REPO: this.container.name, ...engineEnvironment(this.engine) },
                triggers: [this.container.id],
            },
            { parent: this, dependsOn: [this.ready, this.config, ...after] },
        );
    }
}
