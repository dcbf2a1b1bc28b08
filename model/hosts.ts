// Several Docker hosts (issue 19): the `hosts` and `placement` keys, validated, and where each
// container of a stack runs. No Pulumi: the program, the day-2 commands and the tests share it.
//
// Across hosts every container uses its host's network (Docker's `host` network mode): a member is
// reached at its host's address on its service's own port, which is what Patroni's connect_address
// and etcd's advertised URLs must be (never a container address another host cannot route to), and
// the source address PostgreSQL sees is always a host address, which pg_hba.conf can name. The price:
// one node and one etcd member per host, since two would want the same port.

/** A Docker host: how Pulumi and the day-2 commands reach its engine, and where the other hosts reach it. */
export interface DockerHost {
    /** The host's name in `placement` and in `status` (lowercase letters, digits, `-`). */
    name: string;
    /**
     * Its engine: `unix:///path/to/docker.sock`, `ssh://[user@]host[:port]` or `tcp://host:port` (as
     * `docker -H` takes them). A tcp:// engine needs its client TLS material in `engineTls`.
     */
    engine: string;
    /** The IPv4 address every other host reaches this one at. */
    address: string;
}

/** Which host runs what: one node and at most one etcd member per host, HAProxy on every host. */
export interface HostPlacement {
    /** Every host, in configuration order. */
    hosts: DockerHost[];
    /** The host of each node of the cluster (pg1 …). */
    nodes: Record<string, DockerHost>;
    /** The host of etcd member k at index k-1. */
    etcd: DockerHost[];
    /** The backup repository's host. */
    repository: DockerHost;
}

/** What placement reads from the configuration. */
export interface HostsConfig {
    hosts: DockerHost[];
    placement: Record<string, string>;
    replicas: number;
    etcdMembers: number;
}

/** True when the cluster is spread over several Docker hosts (`hosts`); with none, one engine. */
export function severalHosts(cfg: Pick<HostsConfig, "hosts">): boolean {
    return cfg.hosts.length > 0;
}

/**
 * Thrown for a bad `hosts` or `placement` value; model/config.ts turns it into its ConfigError
 * (key, value, what is allowed), which this module cannot import without a cycle.
 */
export class HostsProblem extends Error {
    constructor(
        readonly key: string,
        readonly value: unknown,
        readonly allowed: string,
    ) {
        super(allowed);
    }
}

const HOST_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const UNIX_ENGINE = /^unix:\/\/\/[^\s]+$/;
const SSH_ENGINE = /^ssh:\/\/([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(:\d{1,5})?$/;
const TCP_ENGINE = /^tcp:\/\/[A-Za-z0-9.-]+:\d{1,5}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function isIpv4(value: string): boolean {
    const m = IPV4.exec(value);
    return m !== null && m.slice(1).every((o) => Number(o) <= 255 && String(Number(o)) === o);
}

/** The raw JSON of an object-valued key, or undefined when unset. */
function parsedJson(key: string, value: string | undefined, expected: string): unknown {
    if (value === undefined || value === "") return undefined;
    try {
        return JSON.parse(value) as unknown;
    } catch {
        throw new HostsProblem(key, value, expected);
    }
}

const HOSTS_SHAPE =
    'expected a list of hosts, each {"name": "h1", "engine": "unix:///…/docker.sock", "ssh://user@host" or "tcp://host:2376", "address": "10.0.0.11"}, or [] for one engine';

/** One `hosts` entry, validated: its name, engine and address. */
function parseHost(entry: unknown, i: number): DockerHost {
    const key = `hosts[${i}]`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry))
        throw new HostsProblem(key, entry, HOSTS_SHAPE);
    const { name, engine, address, ...rest } = entry as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0)
        throw new HostsProblem(
            `${key}.${extra[0]}`,
            rest[extra[0]],
            "unknown field: a host has name, engine and address",
        );
    if (typeof name !== "string" || !HOST_NAME.test(name))
        throw new HostsProblem(
            `${key}.name`,
            name,
            "expected a name of lowercase letters, digits and -, starting with a letter (at most 31)",
        );
    if (typeof engine !== "string" || ![UNIX_ENGINE, SSH_ENGINE, TCP_ENGINE].some((re) => re.test(engine)))
        throw new HostsProblem(
            `${key}.engine`,
            engine,
            "expected unix:///path/to/docker.sock, ssh://[user@]host[:port] or tcp://host:port",
        );
    if (typeof address !== "string" || !isIpv4(address))
        throw new HostsProblem(
            `${key}.address`,
            address,
            "expected the IPv4 address the other hosts reach this host at, such as 10.0.0.11",
        );
    return { name, engine, address };
}

/** The `hosts` key: [] (one engine) or at least two distinct hosts. */
export function parseHosts(value: string | undefined): DockerHost[] {
    const parsed = parsedJson("hosts", value, HOSTS_SHAPE);
    if (parsed === undefined) return [];
    if (!Array.isArray(parsed)) throw new HostsProblem("hosts", parsed, HOSTS_SHAPE);
    const hosts = parsed.map(parseHost);
    if (hosts.length === 1)
        throw new HostsProblem(
            "hosts",
            parsed,
            "expected 2 or more hosts, or [] (one engine: point DOCKER_HOST at it, as the docker provider does)",
        );
    for (const field of ["name", "engine", "address"] as const) {
        const seen = new Set<string>();
        hosts.forEach((h, i) => {
            if (seen.has(h[field]))
                throw new HostsProblem(
                    `hosts[${i}].${field}`,
                    h[field],
                    `expected each host's ${field} once; it is already used by another host`,
                );
            seen.add(h[field]);
        });
    }
    return hosts;
}

const PLACEMENT_SHAPE =
    'expected an object such as {"pg1": "h1", "etcd1": "h2", "backup": "h3"} naming hosts of pg-replication:hosts';

/** The `placement` key: a host name per pgN, etcdN or `backup`; {} when unset. */
export function parsePlacement(value: string | undefined): Record<string, string> {
    const parsed = parsedJson("placement", value, PLACEMENT_SHAPE);
    if (parsed === undefined) return {};
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
        throw new HostsProblem("placement", parsed, PLACEMENT_SHAPE);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
        if (typeof v !== "string") throw new HostsProblem(`placement.${k}`, v, "expected a host name");
        out[k] = v;
    }
    return out;
}

/** The members `placement` may name for this cluster's size. */
function placeableMembers(cfg: HostsConfig): string[] {
    const nodes = Array.from({ length: cfg.replicas + 1 }, (_, i) => `pg${i + 1}`);
    const etcd = Array.from({ length: cfg.etcdMembers }, (_, i) => `etcd${i + 1}`);
    return [...nodes, ...etcd, "backup"];
}

/**
 * Where each member runs: as `placement` says, else spread in order (pgK on the K-th host, etcdK on
 * the K-th host, the repository on the last host, away from the first primary). Validates what
 * `placement` names and refuses two nodes, or two etcd members, on one host.
 */
export function resolvePlacement(cfg: HostsConfig): HostPlacement | undefined {
    if (!severalHosts(cfg)) {
        const keys = Object.keys(cfg.placement);
        if (keys.length > 0)
            throw new HostsProblem(
                `placement.${keys[0]}`,
                cfg.placement[keys[0]],
                "placement needs pg-replication:hosts (no hosts are configured)",
            );
        return undefined;
    }
    const byName = new Map(cfg.hosts.map((h) => [h.name, h]));
    const members = placeableMembers(cfg);
    const hostOf = (member: string, fallback: DockerHost): DockerHost => {
        const named = cfg.placement[member];
        if (named === undefined) return fallback;
        const host = byName.get(named);
        if (!host)
            throw new HostsProblem(
                `placement.${member}`,
                named,
                `expected one of the hosts: ${[...byName.keys()].join(", ")}`,
            );
        return host;
    };
    for (const key of Object.keys(cfg.placement)) {
        if (!members.includes(key))
            throw new HostsProblem(
                `placement.${key}`,
                cfg.placement[key],
                `expected a member of this cluster: ${members.join(", ")}`,
            );
    }
    const spread = (i: number) => cfg.hosts[i % cfg.hosts.length];
    const nodeNames = members.filter((m) => m.startsWith("pg"));
    const nodes = Object.fromEntries(nodeNames.map((n, i) => [n, hostOf(n, spread(i))]));
    const etcd = Array.from({ length: cfg.etcdMembers }, (_, i) => hostOf(`etcd${i + 1}`, spread(i)));
    refuseSharedHost(
        "node",
        nodeNames.map((n) => [n, nodes[n]]),
        cfg.hosts.length,
    );
    refuseSharedHost(
        "etcd member",
        etcd.map((h, i) => [`etcd${i + 1}`, h]),
        cfg.hosts.length,
    );
    return { hosts: cfg.hosts, nodes, etcd, repository: hostOf("backup", cfg.hosts[cfg.hosts.length - 1]) };
}

/** Two members of one kind on one host would want the same ports, and one host's loss would take both. */
function refuseSharedHost(kind: string, placed: Array<[string, DockerHost]>, hostCount: number): void {
    const seen = new Map<string, string>();
    for (const [member, host] of placed) {
        const other = seen.get(host.name);
        if (other !== undefined) {
            const why =
                placed.length > hostCount
                    ? `${placed.length} ${kind}s need ${placed.length} hosts and ${hostCount} are configured (add hosts, or lower replicas / etcdMembers)`
                    : `${other} already runs on ${host.name}: at most one ${kind} per host (each uses its host's ports, and a host's loss must not take two)`;
            throw new HostsProblem(`placement.${member}`, host.name, why);
        }
        seen.set(host.name, member);
    }
}

/**
 * Container name → engine address of every container of stack `prefix` spread over hosts: its
 * nodes, etcd members, HAProxy per host (`<prefix>-haproxy-<host>`) and backup repository. What the
 * program's hooks and the day-2 commands reach each container through (ops/engines.ts); {} on one engine.
 */
export function containerEngines(prefix: string, cfg: HostsConfig): Record<string, string> {
    const placement = resolvePlacement(cfg);
    if (!placement) return {};
    return {
        ...Object.fromEntries(Object.entries(placement.nodes).map(([node, h]) => [`${prefix}-${node}`, h.engine])),
        ...Object.fromEntries(placement.etcd.map((h, i) => [`${prefix}-etcd${i + 1}`, h.engine])),
        ...Object.fromEntries(placement.hosts.map((h) => [haproxyContainer(prefix, h), h.engine])),
        [`${prefix}-backup`]: placement.repository.engine,
    };
}

/** HAProxy's container: one per stack on one engine, one per host across hosts. */
export function haproxyContainer(prefix: string, host: DockerHost | undefined): string {
    return host ? `${prefix}-haproxy-${host.name}` : `${prefix}-haproxy`;
}
