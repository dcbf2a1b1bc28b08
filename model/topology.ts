import { ClusterConfig } from "./config";
import { DockerHost, resolvePlacement, severalHosts } from "./hosts";

/** Where a node sits in the cluster. Names are role-neutral: failover moves the primary role. */
export interface NodeSpec {
    /** Node name: pg1 … pgN; also the network alias, application_name and slot name. */
    name: string;
    /** 1-based position; node k publishes hostPortBase + k - 1. */
    index: number;
    /** The node's role in the configuration (primaryNode). */
    role: "primary" | "replica";
    /** Host port published for 5432. */
    hostPort: number;
    /** Docker container name, `<stack>-<node>`. */
    containerName: string;
    /** Physical replication slot on the primary for a replica, when slots are on. */
    slotName?: string;
    /**
     * Where the other members reach the node: its fixed IPv4 address on the cluster network (see
     * {@link nodeAddress}), or with several hosts its host's address (the node uses the host's network).
     */
    address: string;
    /** With several hosts (`hosts`): the host the node runs on. */
    host?: DockerHost;
}

const DATA_DIR = "/var/lib/postgresql/data";

/**
 * Paths inside every node's container. The entrypoint reads them from node.env (render.ts
 * renderNodeEnv), the day-2 commands from here: one definition for both.
 */
export const PATHS = {
    confDir: "/etc/pg-replication",
    dataDir: DATA_DIR,
    /** The postgres user's home: libpq looks for client certificates in its .postgresql. */
    home: "/var/lib/postgresql",
    pgpass: "/var/lib/postgresql/.pgpass",
    /** Left by failover and rejoin: the node's next start rewinds (or re-clones) it onto the primary. */
    rejoinFlag: `${DATA_DIR}/pg-replication.rejoin`,
    /** Asks the node's next start to throw its data away and clone the primary again. */
    recloneFlag: `${DATA_DIR}/pg-replication.reclone`,
    /** What the last rejoin or re-clone did, written by the entrypoint, read by `npm run rejoin`. */
    lastRejoin: `${DATA_DIR}/pg-replication.last-rejoin`,
} as const;

/**
 * The pgBackRest stanza of every stack: each stack has a repository of its own, so one name serves
 * all, and a restore into a new stack reads the source's repository by the same name.
 */
export const STANZA = "main";

/** restore_command's program in every node (templates/archive-get.sh, installed by backup-node-setup.sh). */
export const ARCHIVE_GET_COMMAND = "/usr/local/bin/pg-replication-archive-get";

/** Paths of pgBackRest's files in the nodes and in the repository container. */
export const BACKUP_PATHS = {
    /** pgBackRest's default configuration file (the entrypoints install it from /etc/pg-replication). */
    config: "/etc/pgbackrest/pgbackrest.conf",
    /** The repository, on its own volume. */
    repo: "/var/lib/pgbackrest",
    /** The repository's logs, beside it so that they outlive the container. */
    repoLog: "/var/lib/pgbackrest/log",
    /** The asynchronous archive's spool in a node: status files only, the WAL stays in pg_wal until pushed. */
    spool: "/var/spool/pgbackrest",
    /** The source repository's configuration in a node that bootstraps by restoring (model/restore.ts). */
    restoreConfig: "/etc/pgbackrest/restore-source.conf",
    /** crontabs of the repository's crond (busybox), one file per user. */
    crontabs: "/etc/pg-replication/crontabs",
} as const;

/**
 * Where every container of a stack keeps the stack's CA and its own certificate and key, owned by
 * the user its server runs as (templates/tls-setup.sh installs them from the root-only uploads).
 * PostgreSQL, PgBouncer, pgBackRest and the exporter all read the same three files.
 */
export const TLS_PATHS = {
    dir: "/etc/ssl/pg-replication",
    ca: "/etc/ssl/pg-replication/ca.crt",
    cert: "/etc/ssl/pg-replication/server.crt",
    key: "/etc/ssl/pg-replication/server.key",
} as const;

/**
 * The CA, certificate and key a container's servers took last (written by templates/tls-setup.sh.tmpl
 * at start and after a successful reload; removed by a failed one): a rotation is done only when
 * the new files equal it.
 */
export const TLS_APPLIED = "/etc/pg-replication/tls-applied.pem";

/** pgBackRest's TLS server port (its default) in the nodes and the repository container. */
export const BACKUP_TLS_PORT = 8432;

/** The client certificates' common name, which every TLS server authorises for the stanza. */
export const BACKUP_CLIENT_CN = "pgbackrest-client";

/**
 * Network alias every node carries. It resolves to all nodes, and libpq tries each address in
 * turn, so `host=pg-cluster target_session_attrs=read-write` finds the primary wherever it is:
 * replicas follow a failover without any of their files changing.
 */
export const CLUSTER_ALIAS = "pg-cluster";

/** Nodes pg1 … pg<replicas+1>; `primaryNode` is the primary, the others replicas. */
export function clusterNodes(stack: string, cfg: ClusterConfig): NodeSpec[] {
    const placement = resolvePlacement(cfg);
    const nodes: NodeSpec[] = [];
    for (let index = 1; index <= cfg.replicas + 1; index++) {
        const name = `pg${index}`;
        const role = name === cfg.primaryNode ? "primary" : "replica";
        const host = placement?.nodes[name];
        nodes.push({
            name,
            index,
            role,
            // On its own host a node listens on PostgreSQL's port; on one engine it publishes its own.
            hostPort: host ? POSTGRES_PORT : nodeHostPort(cfg, name),
            containerName: `${stack}-${name}`,
            slotName: role === "replica" && cfg.slots ? name : undefined,
            address: host ? host.address : nodeAddress(cfg.subnet, index),
            ...(host ? { host } : {}),
        });
    }
    return nodes;
}

/** PostgreSQL's port inside every node (and on its host's address when nodes run on several hosts). */
export const POSTGRES_PORT = 5432;

/** What addresses depend on: the cluster network, or the hosts and what runs where. */
export type AddressConfig = Pick<ClusterConfig, "subnet" | "hosts" | "placement" | "replicas" | "etcdMembers">;

// The one test for "across hosts", defined beside placement (model/hosts.ts) and re-exported here
// for the address helpers' users.
export { severalHosts } from "./hosts";

/**
 * Node name → where the other members reach it: on one engine every possible node's fixed address
 * (pg1 … pg10, whatever `replicas` is now), across hosts the host of each node of the cluster.
 */
export function nodeAddresses(cfg: AddressConfig): Record<string, string> {
    const placement = resolvePlacement(cfg);
    if (!placement) return nodeAddressMap(cfg.subnet);
    return Object.fromEntries(Object.entries(placement.nodes).map(([node, host]) => [node, host.address]));
}

/** Where etcd member k (1-based) is reached: its fixed address, or its host's. */
export function etcdMemberAddress(cfg: AddressConfig, index: number): string {
    const placement = resolvePlacement(cfg);
    return placement ? placement.etcd[index - 1].address : etcdAddress(cfg.subnet, index);
}

/** Where the backup repository's TLS server is reached: its fixed address, or its host's. */
export function repositoryAddress(cfg: AddressConfig): string {
    const placement = resolvePlacement(cfg);
    return placement ? placement.repository.address : subnetAddress(cfg.subnet, ADDRESS_OFFSETS.backupRepo);
}

/**
 * The repository's TLS server port: pgBackRest's default, or across hosts the next one, since the
 * repository may share its host's network with a node whose own TLS server holds the default.
 */
export function repositoryPort(cfg: Pick<ClusterConfig, "hosts">): number {
    return severalHosts(cfg) ? BACKUP_TLS_PORT + 1 : BACKUP_TLS_PORT;
}

/**
 * The source addresses replication connections may come from (pg_hba.conf): every possible node's
 * fixed address, or across hosts every host's address (a node on the host network connects from it).
 */
export function replicationSources(cfg: AddressConfig): string[] {
    return severalHosts(cfg) ? cfg.hosts.map((h) => h.address) : allNodeAddresses(cfg.subnet);
}

/** Where a client outside the cluster reaches a node: the published port, or its host's address and PostgreSQL's port. */
export function nodeReach(
    cfg: ClusterConfig,
    spec: Pick<NodeSpec, "hostPort" | "host">,
): { host: string; port: number } {
    return spec.host
        ? { host: spec.host.address, port: POSTGRES_PORT }
        : { host: clientHost(cfg), port: spec.hostPort };
}

/** The address a client on the Docker host uses to reach published ports. */
export function clientHost(cfg: Pick<ClusterConfig, "bindAddress">): string {
    return cfg.bindAddress === "0.0.0.0" ? "127.0.0.1" : cfg.bindAddress;
}

/**
 * Host ports relative to `hostPortBase`: node k publishes `hostPortBase + k - 1` (k <= 10), the
 * PgBouncer endpoints and the exporter sit after the last possible node.
 */
export const PORT_OFFSETS = { poolerRw: 10, poolerRo: 11, metrics: 12 } as const;

/** The host ports of the read-write and read-only endpoints and of the exporter. */
export function publishedPorts(cfg: Pick<ClusterConfig, "hostPortBase">): Record<keyof typeof PORT_OFFSETS, number> {
    return {
        poolerRw: cfg.hostPortBase + PORT_OFFSETS.poolerRw,
        poolerRo: cfg.hostPortBase + PORT_OFFSETS.poolerRo,
        metrics: cfg.hostPortBase + PORT_OFFSETS.metrics,
    };
}

/** The host port node `node` (pg<k>) publishes its 5432 on: hostPortBase + k - 1. */
export function nodeHostPort(cfg: Pick<ClusterConfig, "hostPortBase">, node: string): number {
    const m = /^pg([1-9][0-9]?)$/.exec(node);
    if (!m || Number(m[1]) > MAX_NODES)
        throw new Error(`${JSON.stringify(node)} is not a node name (pg1 … pg${MAX_NODES})`);
    return cfg.hostPortBase + Number(m[1]) - 1;
}

/**
 * Host numbers of the fixed addresses on the cluster network. Every container the cluster runs
 * has one, so a restart in any order can never swap two nodes' addresses (PgBouncer and libpq
 * cache resolved addresses), and pg_hba.conf can name the nodes themselves. Docker hands out
 * dynamic addresses only from the upper half of the subnet ({@link dynamicAddressRange}), so a
 * stopped node's address is never taken by another container while it is down.
 */
export const ADDRESS_OFFSETS = {
    poolerRw: 5,
    poolerRo: 6,
    metrics: 7,
    haproxy: 8,
    backupRepo: 9,
    firstNode: 11,
    firstEtcd: 21,
} as const;

/** Ports inside the containers of failover=patroni: Patroni's REST API, etcd's client and peer ports, HAProxy's endpoints. */
export const PATRONI_PORTS = {
    rest: 8008,
    etcdClient: 2379,
    etcdPeer: 2380,
    haproxyRw: 5000,
    haproxyRo: 5001,
} as const;

/** Fixed address of etcd member k (1-based): host numbers 21..23. */
export function etcdAddress(subnet: string, index: number): string {
    return subnetAddress(subnet, ADDRESS_OFFSETS.firstEtcd + index - 1);
}

/** Largest node index (pg1 … pg10: 9 replicas and a primary). */
export const MAX_NODES = 10;

function ipv4ToInt(ip: string): number {
    return ip.split(".").reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
}

function intToIpv4(n: number): string {
    return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

/** The address `offset` hosts into `subnet` (a validated CIDR with room for it). */
export function subnetAddress(subnet: string, offset: number): string {
    const [base, prefix] = subnet.split("/");
    const size = 2 ** (32 - Number(prefix));
    if (offset <= 0 || offset >= size / 2) throw new Error(`subnet ${subnet} has no fixed address at offset ${offset}`);
    return intToIpv4(ipv4ToInt(base) + offset);
}

/** Fixed address of node k (pg<k>). */
export function nodeAddress(subnet: string, index: number): string {
    return subnetAddress(subnet, ADDRESS_OFFSETS.firstNode + index - 1);
}

/** Every address a node of the cluster may have, pg1 … pg10, whatever `replicas` is now. */
export function allNodeAddresses(subnet: string): string[] {
    return Array.from({ length: MAX_NODES }, (_, i) => nodeAddress(subnet, i + 1));
}

/** The upper half of the subnet: the only range Docker assigns dynamic addresses from. */
export function dynamicAddressRange(subnet: string): string {
    const [base, prefix] = subnet.split("/");
    const half = 2 ** (32 - Number(prefix)) / 2;
    return `${intToIpv4(ipv4ToInt(base) + half)}/${Number(prefix) + 1}`;
}

/** Node name → fixed address for every possible node (pg1 … pg10). */
export function nodeAddressMap(subnet: string): Record<string, string> {
    return Object.fromEntries(allNodeAddresses(subnet).map((ip, i) => [`pg${i + 1}`, ip]));
}
