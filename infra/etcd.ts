import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerReady } from "./container-ready";
import { engineApiVersion, HEALTHCHECK_SET_AT_CREATION, healthTiming } from "./healthcheck";
import { dockerLabels } from "../model/labels";
import { ClusterTls, IssuedCertificate, tlsDockerUploads } from "./certificates";
import { tlsFilesCommand } from "./tls-files";
import { renderFile } from "../model/render";
import { PATRONI_PORTS, TLS_PATHS } from "../model/topology";
import { containerNetworking, Engine, onEngine } from "./engines";
import { dataVolume } from "./data-volume";

/** Where a member's entrypoint is uploaded. */
const ENTRYPOINT = "/etc/pg-replication/etcd-entrypoint.sh";

/**
 * etcdctl's TLS, as environment variables of every member's container (paths, no secret): every
 * `docker exec <member> etcdctl` (the ready probe, the checks, status) then presents the member's
 * certificate and verifies the server against the stack's CA without spelling it.
 */
export const ETCDCTL_TLS_ENV = [
    `ETCDCTL_CACERT=${TLS_PATHS.ca}`,
    `ETCDCTL_CERT=${TLS_PATHS.cert}`,
    `ETCDCTL_KEY=${TLS_PATHS.key}`,
];

/** etcd's TLS flags: clients and peers on TLS, each side presenting a certificate of the stack's CA. */
function etcdTlsFlags(): string[] {
    return [
        `--cert-file=${TLS_PATHS.cert}`,
        `--key-file=${TLS_PATHS.key}`,
        `--trusted-ca-file=${TLS_PATHS.ca}`,
        "--client-cert-auth",
        `--peer-cert-file=${TLS_PATHS.cert}`,
        `--peer-key-file=${TLS_PATHS.key}`,
        `--peer-trusted-ca-file=${TLS_PATHS.ca}`,
        "--peer-client-cert-auth",
    ];
}

/** Arguments of an {@link EtcdCluster}. */
export interface EtcdClusterArgs {
    /** Prefix of the containers' and volumes' names (`<prefix>-etcd1` …). */
    namePrefix: string;
    /** Image with etcd and etcdctl (the local image carries Debian's etcd-server and etcd-client). */
    image: pulumi.Input<string>;
    /** Name of the cluster's Docker network. @default none: each member on its host's network (`engines`) */
    network?: pulumi.Input<string>;
    /** Where member k (at index k-1) is reached: its fixed address on the network (host number 20+k), or its host's. */
    addresses: string[];
    /** Member k's host engine at index k-1 (`hosts`). @default none: every member on the default engine */
    engines?: Array<Engine | undefined>;
    /** Number of members: 1, or 3 to survive the loss of one. @default 3 */
    members?: number;
    /** Labels put on the volumes and containers. @default none */
    labels?: Record<string, string>;
    /**
     * The stack's CA: clients and peers then speak TLS, and each must present a certificate of the
     * stack's CA (a client without one is refused). @default undefined (plain HTTP)
     */
    tls?: ClusterTls;
}

/** A member: its name (etcd1 …), where it is reached, and its host's engine (`hosts`). */
interface EtcdMember {
    name: string;
    address: string;
    engine?: Engine;
}

/** An etcd URL: https with TLS, else http. */
function etcdUrl(args: EtcdClusterArgs, ip: string, port: number): string {
    return `${args.tls ? "https" : "http"}://${ip}:${port}`;
}

/** A member's peer URL. */
function peerUrl(args: EtcdClusterArgs, ip: string): string {
    return etcdUrl(args, ip, PATRONI_PORTS.etcdPeer);
}

/** A member's client URL. */
function clientUrl(args: EtcdClusterArgs, ip: string): string {
    return etcdUrl(args, ip, PATRONI_PORTS.etcdClient);
}

/** The members, numbered from 1, each at its fixed address or on its host. */
function etcdMembers(args: EtcdClusterArgs): EtcdMember[] {
    return Array.from({ length: args.members ?? 3 }, (_, i) => ({
        name: `etcd${i + 1}`,
        address: args.addresses[i],
        engine: args.engines?.[i],
    }));
}

/** etcdctl's health check of the member it runs in (the container's healthcheck and the ready probe). */
function healthCommand(args: EtcdClusterArgs): string[] {
    return ["etcdctl", `--endpoints=${clientUrl(args, "127.0.0.1")}`, "endpoint", "health"];
}

/** A member's etcd flags: a new cluster of all `members`, its own URLs, TLS when the stack has it. */
function memberFlags(args: EtcdClusterArgs, m: EtcdMember, members: EtcdMember[]): string[] {
    const initialCluster = members.map((other) => `${other.name}=${peerUrl(args, other.address)}`).join(",");
    return [
        `--name=${m.name}`,
        "--data-dir=/var/lib/etcd/data",
        `--listen-peer-urls=${peerUrl(args, m.address)}`,
        `--initial-advertise-peer-urls=${peerUrl(args, m.address)}`,
        `--listen-client-urls=${clientUrl(args, m.address)},${clientUrl(args, "127.0.0.1")}`,
        `--advertise-client-urls=${clientUrl(args, m.address)}`,
        `--initial-cluster=${initialCluster}`,
        "--initial-cluster-state=new",
        `--initial-cluster-token=${args.namePrefix}`,
        ...(args.tls ? etcdTlsFlags() : []),
    ];
}

/**
 * The etcd cluster Patroni keeps its leader key and dynamic configuration in: one container and
 * one data volume per member, on fixed addresses of the cluster network, never published. With
 * `tls`, peers and clients speak TLS with client certificates; without, plain HTTP.
 */
export class EtcdCluster extends pulumi.ComponentResource {
    /** The members' containers. */
    public readonly containers: docker.Container[];
    /** Per member, done once it answers `etcdctl endpoint health` (the cluster has a quorum): what Patroni waits for. */
    public readonly ready: command.local.Command[];
    /** Client endpoints (`ip:2379`) of the members. */
    public readonly clientEndpoints: string[];

    constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:EtcdCluster", name, {}, opts);
        const labels = dockerLabels({ ...args.labels, "pg-replication.etcd": "member" });
        const members = etcdMembers(args);
        this.clientEndpoints = members.map((m) => `${m.address}:${PATRONI_PORTS.etcdClient}`);

        const certificates: Array<IssuedCertificate | undefined> = [];
        this.containers = members.map((m) => {
            const volume = this.memberVolume(name, args, m, labels);
            const certificate = this.memberCertificate(name, args, m);
            certificates.push(certificate);
            return this.memberContainer(name, args, { member: m, members, volume, certificate, labels });
        });
        this.ready = this.containers.map((c, i) => this.memberReady(name, args, members[i], c));
        this.containers.forEach((container, i) =>
            this.writeTlsFiles(name, args, members[i], {
                container,
                ready: this.ready[i],
                certificate: certificates[i],
            }),
        );
        this.registerOutputs({ clientEndpoints: this.clientEndpoints });
    }

    /** A member's data volume. */
    private memberVolume(
        name: string,
        args: EtcdClusterArgs,
        m: EtcdMember,
        labels: ReturnType<typeof dockerLabels>,
    ): docker.Volume {
        // Removed with the stack: a new `up` must bootstrap a new cluster, not find an old leader key.
        return dataVolume(
            `${name}-${m.name}-data`,
            { volumeName: `${args.namePrefix}-${m.name}-data`, image: args.image, labels, engine: m.engine },
            this,
        );
    }

    /** A member's certificate from the stack's CA, for its names and addresses; none without TLS. */
    private memberCertificate(name: string, args: EtcdClusterArgs, m: EtcdMember): IssuedCertificate | undefined {
        return args.tls?.issue(`${name}-${m.name}-tls`, {
            commonName: `${args.namePrefix}-${m.name}`,
            dnsNames: [`${args.namePrefix}-${m.name}`, m.name, "localhost"],
            ipAddresses: [m.address, "127.0.0.1"],
        });
    }

    /** A member's container: etcd, on its fixed address, its data on its volume. */
    private memberContainer(name: string, args: EtcdClusterArgs, parts: MemberParts): docker.Container {
        const { member: m, volume, certificate, labels } = parts;
        const tlsFiles =
            args.tls && certificate
                ? tlsDockerUploads("/etc/pg-replication", args.tls.caCertPem, certificate, 1)
                : { uploads: [], ignore: [] };
        return new docker.Container(
            `${name}-${m.name}`,
            {
                name: `${args.namePrefix}-${m.name}`,
                ...(m.engine ? {} : { hostname: m.name }),
                image: args.image,
                // Root to hand the TLS files over; the entrypoint runs etcd as the Debian package's
                // user (the volume inherits /var/lib/etcd's ownership).
                user: "root",
                entrypoints: ["/bin/sh", ENTRYPOINT],
                uploads: [
                    { file: ENTRYPOINT, content: renderFile("etcd-entrypoint.sh"), executable: true },
                    ...tlsFiles.uploads,
                ],
                command: memberFlags(args, m, parts.members),
                ...containerNetworking(m.engine, args.network, { aliases: [m.name], ipv4Address: m.address }),
                volumes: [{ volumeName: volume.name, containerPath: "/var/lib/etcd" }],
                // See PostgresNode: a name lookup never waits 5 s on the host's resolver (Docker
                // refuses DNS options on the host's network).
                ...(m.engine ? {} : { dnsOpts: ["timeout:1", "attempts:1"] }),
                envs: ["RES_OPTIONS=timeout:1 attempts:1", ...(args.tls ? ETCDCTL_TLS_ENV : [])],
                // For health read later; `ready` decides when the nodes may start.
                healthcheck: engineApiVersion().apply((api) => ({
                    tests: ["CMD", ...healthCommand(args)],
                    ...healthTiming(api),
                    timeout: "5s",
                    retries: 5,
                    startPeriod: "1m0s",
                })),
                restart: "unless-stopped",
                labels,
            },
            {
                parent: this,
                ...onEngine(m.engine),
                deleteBeforeReplace: true,
                ignoreChanges: [HEALTHCHECK_SET_AT_CREATION, ...tlsFiles.ignore],
            },
        );
    }

    /** Done once the member answers `etcdctl endpoint health`, which needs a quorum. */
    private memberReady(
        name: string,
        args: EtcdClusterArgs,
        m: EtcdMember,
        c: docker.Container,
    ): command.local.Command {
        return containerReady(
            `${name}-${m.name}-ready`,
            {
                containerName: c.name,
                containerId: c.id,
                // Bounded: without a quorum etcdctl would wait its default 5 s command timeout.
                probe: [...healthCommand(args), "--dial-timeout=1s", "--command-timeout=1s"].join(" "),
                timeoutSeconds: 120,
                engine: m.engine,
            },
            { parent: this },
        );
    }

    /**
     * Writes a member's new certificate files into its running container. etcd reads them again for
     * every new connection (etcd's Documentation/op-guide/security.md, "TLS certificates get reloaded
     * on every client connection" since v3.2): writing them is the whole rotation.
     */
    private writeTlsFiles(name: string, args: EtcdClusterArgs, m: EtcdMember, member: RunningMember): void {
        const { container: c, ready, certificate } = member;
        if (!args.tls || !certificate) return;
        tlsFilesCommand(
            `${name}-${m.name}-tls-files`,
            {
                containerName: c.name,
                containerId: c.id,
                caCertPem: args.tls.caCertPem,
                certificate,
                owner: "etcd",
                reload: "true",
                engine: m.engine,
            },
            { parent: this, dependsOn: [ready] },
        );
    }
}

/** What a member's container is made of. */
interface MemberParts {
    member: EtcdMember;
    /** Every member: the initial cluster. */
    members: EtcdMember[];
    volume: docker.Volume;
    certificate: IssuedCertificate | undefined;
    labels: ReturnType<typeof dockerLabels>;
}

/** A member once declared: its container, its ready command and its certificate (none without TLS). */
interface RunningMember {
    container: docker.Container;
    ready: command.local.Command;
    certificate: IssuedCertificate | undefined;
}
