import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerReady } from "./container-ready";
import { engineApiVersion, HEALTHCHECK_SET_AT_CREATION, healthTiming } from "./healthcheck";
import { dockerLabels } from "./labels";
import { etcdAddress, PATRONI_PORTS } from "./topology";

/** Arguments of an {@link EtcdCluster}. */
export interface EtcdClusterArgs {
    /** Prefix of the containers' and volumes' names (`<prefix>-etcd1` …). */
    namePrefix: string;
    /** Image with etcd and etcdctl (the local image carries Debian's etcd-server and etcd-client). */
    image: pulumi.Input<string>;
    /** Name of the cluster's Docker network. */
    network: pulumi.Input<string>;
    /** The network's subnet: member k gets the fixed address at host number 20+k. */
    subnet: string;
    /** Number of members: 1, or 3 to survive the loss of one. @default 3 */
    members?: number;
    /** Labels put on the volumes and containers. @default none */
    labels?: Record<string, string>;
}

/**
 * The etcd cluster Patroni keeps its leader key and dynamic configuration in: one container and
 * one data volume per member, on fixed addresses of the cluster network, never published. Peers
 * and clients speak plain HTTP on that private network only.
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
        const count = args.members ?? 3;
        const labels = dockerLabels({ ...args.labels, "pg-replication.etcd": "member" });
        const members = Array.from({ length: count }, (_, i) => ({
            name: `etcd${i + 1}`,
            address: etcdAddress(args.subnet, i + 1),
        }));
        const peerUrl = (ip: string) => `http://${ip}:${PATRONI_PORTS.etcdPeer}`;
        const initialCluster = members.map((m) => `${m.name}=${peerUrl(m.address)}`).join(",");
        this.clientEndpoints = members.map((m) => `${m.address}:${PATRONI_PORTS.etcdClient}`);

        const health = ["etcdctl", `--endpoints=http://127.0.0.1:${PATRONI_PORTS.etcdClient}`, "endpoint", "health"];
        this.containers = members.map((m) => {
            const volume = new docker.Volume(
                `${name}-${m.name}-data`,
                // Removed with the stack: a new `up` must bootstrap a new cluster, not find an old leader key.
                { name: `${args.namePrefix}-${m.name}-data`, labels },
                { parent: this, deleteBeforeReplace: true },
            );
            return new docker.Container(
                `${name}-${m.name}`,
                {
                    name: `${args.namePrefix}-${m.name}`,
                    hostname: m.name,
                    image: args.image,
                    // The Debian package's user; the volume inherits /var/lib/etcd's ownership.
                    user: "etcd",
                    entrypoints: ["etcd"],
                    command: [
                        `--name=${m.name}`,
                        "--data-dir=/var/lib/etcd/data",
                        `--listen-peer-urls=${peerUrl(m.address)}`,
                        `--initial-advertise-peer-urls=${peerUrl(m.address)}`,
                        `--listen-client-urls=http://${m.address}:${PATRONI_PORTS.etcdClient},http://127.0.0.1:${PATRONI_PORTS.etcdClient}`,
                        `--advertise-client-urls=http://${m.address}:${PATRONI_PORTS.etcdClient}`,
                        `--initial-cluster=${initialCluster}`,
                        "--initial-cluster-state=new",
                        `--initial-cluster-token=${args.namePrefix}`,
                    ],
                    networksAdvanced: [{ name: args.network, aliases: [m.name], ipv4Address: m.address }],
                    volumes: [{ volumeName: volume.name, containerPath: "/var/lib/etcd" }],
                    // See PostgresNode: a name lookup never waits 5 s on the host's resolver.
                    dnsOpts: ["timeout:1", "attempts:1"],
                    envs: ["RES_OPTIONS=timeout:1 attempts:1"],
                    // For health read later; `ready` below decides when the nodes may start.
                    healthcheck: engineApiVersion().apply((api) => ({
                        tests: ["CMD", ...health],
                        ...healthTiming(api),
                        timeout: "5s",
                        retries: 5,
                        startPeriod: "1m0s",
                    })),
                    restart: "unless-stopped",
                    labels,
                },
                { parent: this, deleteBeforeReplace: true, ignoreChanges: [HEALTHCHECK_SET_AT_CREATION] },
            );
        });
        this.ready = this.containers.map((c, i) =>
            containerReady(
                `${name}-${members[i].name}-ready`,
                {
                    containerName: c.name,
                    containerId: c.id,
                    // Bounded: without a quorum etcdctl would wait its default 5 s command timeout.
                    probe: [...health, "--dial-timeout=1s", "--command-timeout=1s"].join(" "),
                    timeoutSeconds: 120,
                },
                { parent: this },
            ),
        );
        this.registerOutputs({ clientEndpoints: this.clientEndpoints });
    }
}
