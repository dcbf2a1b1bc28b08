// The router's options and result types, and their resolution (defaults, validation, names).
import { PoolConfig, QueryResult, QueryResultRow } from "pg";
import type { PrimaryStatus, ReplicaStatus } from "./health";
import { MultiHostOptions, multiHostLabels, multiHostNode, NodeHosts } from "./hosts";
import type { Lsn } from "./lsn";

/**
 * A node: a postgresql:// URL, or a pg pool config with an optional display name. Either may list
 * several hosts, libpq-style: `postgresql://u:pw@h1:p1,h2:p2/db?target_session_attrs=read-write`
 * (or `hosts` and `targetSessionAttrs` in the config); see hosts.ts.
 */
export type NodeConfig =
    | string
    | (PoolConfig &
          MultiHostOptions & {
              /** Name in status() and servedBy. @default `host:port` (`h1:p1,h2:p2` for several hosts) */
              name?: string;
          });

/** Options of a `ReplicaRouter` (router.ts). */
export interface ReplicaRouterOptions {
    /** The primary. Every write goes here, and reads that no replica can serve. */
    primary: NodeConfig;
    /** The read replicas (hot standbys). May be empty: then every read is a fallback read. */
    replicas: NodeConfig[];
    /** A replica more than this many bytes of WAL behind the primary leaves rotation. @default 16777216 (16 MiB) */
    maxLagBytes?: number;
    /**
     * A replica that has been missing WAL the primary had for longer than this leaves rotation.
     * Measured by the router from its own samples of the primary's position (resolution:
     * healthIntervalMs), so an idle cluster never counts as lagging. @default undefined (no time bound)
     */
    maxLagSeconds?: number;
    /** Pause between health rounds (each round probes the primary and every replica in parallel). @default 1000 */
    healthIntervalMs?: number;
    /**
     * Bound on connecting and on each health query; also the pools' `connectionTimeoutMillis`
     * unless a node's config sets its own. @default 2000
     */
    connectTimeoutMs?: number;
    /** When no replica is healthy, plain reads go to the primary; false makes them throw NoHealthyReplicaError. @default true */
    fallbackToPrimary?: boolean;
    /**
     * How long a read-your-writes read may wait, in total, for a replica to replay the required
     * LSN before it goes to the primary. @default 0 (never wait: go to the primary at once)
     */
    readYourWritesWaitMs?: number;
    /** Called whenever a replica enters or leaves rotation (for logs and metrics); must not throw. @default undefined */
    onHealthChange?: (replica: ReplicaStatus) => void;
}

/** Options of one read. */
export interface ReadOptions {
    /**
     * `any`: a healthy replica (within the lag bounds), else the primary (fallbackToPrimary).
     * `read-your-writes`: a node that has replayed `minLsn`: a replica whose
     * pg_last_wal_replay_lsn() >= minLsn, checked on the connection that then runs the read,
     * else the primary. @default "any"
     */
    consistency?: "any" | "read-your-writes";
    /**
     * With read-your-writes: the position the read must see, e.g. `lsn` from a write()'s result,
     * possibly passed between processes. @default the newest position of this router's own writes
     */
    minLsn?: Lsn | null;
}

/** Which node served a read. */
export interface ServedBy {
    role: "primary" | "replica";
    name: string;
}

/** A read's result, with the node that served it. */
export type ReadResult<R extends QueryResultRow> = QueryResult<R> & { servedBy: ServedBy };
/** A write's result, with the primary's WAL insert position right after it (null when it could not be read). */
export type WriteResult<R extends QueryResultRow> = QueryResult<R> & { lsn: Lsn | null };

/** Everything status() reports. */
export interface RouterStatus {
    primary: PrimaryStatus;
    replicas: ReplicaStatus[];
    /** The newest WAL position recorded after this router's writes. */
    lastWriteLsn: Lsn | null;
}

/** The options with defaults applied and values checked. */
export interface ResolvedOptions {
    maxLagBytes: number;
    maxLagSeconds: number | undefined;
    healthIntervalMs: number;
    connectTimeoutMs: number;
    fallbackToPrimary: boolean;
    readYourWritesWaitMs: number;
    onHealthChange: ((replica: ReplicaStatus) => void) | undefined;
}

export const DEFAULTS = {
    maxLagBytes: 16 * 1024 * 1024,
    healthIntervalMs: 1000,
    connectTimeoutMs: 2000,
    readYourWritesWaitMs: 0,
};

function checked(name: string, value: number | undefined, fallback: number, allowZero = false): number {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
        throw new RangeError(
            `ReplicaRouter: ${name} must be a ${allowZero ? "non-negative" : "positive"} number, got ${value}`,
        );
    }
    return v;
}

/** Applies defaults and refuses bad values with the option's name, before anything connects. */
export function resolveOptions(options: ReplicaRouterOptions): ResolvedOptions {
    if (!options || options.primary === undefined) throw new TypeError("ReplicaRouter: options.primary is required");
    if (!Array.isArray(options.replicas))
        throw new TypeError("ReplicaRouter: options.replicas must be an array (it may be empty)");
    return {
        maxLagBytes: checked("maxLagBytes", options.maxLagBytes, DEFAULTS.maxLagBytes, true),
        maxLagSeconds:
            options.maxLagSeconds === undefined ? undefined : checked("maxLagSeconds", options.maxLagSeconds, 0),
        healthIntervalMs: checked("healthIntervalMs", options.healthIntervalMs, DEFAULTS.healthIntervalMs),
        connectTimeoutMs: checked("connectTimeoutMs", options.connectTimeoutMs, DEFAULTS.connectTimeoutMs),
        fallbackToPrimary: options.fallbackToPrimary ?? true,
        readYourWritesWaitMs: checked(
            "readYourWritesWaitMs",
            options.readYourWritesWaitMs,
            DEFAULTS.readYourWritesWaitMs,
            true,
        ),
        onHealthChange: options.onHealthChange,
    };
}

/** Display names for the nodes, primary first: `name`, else `host:port` (never the password), made unique. */
export function nodeNames(nodes: NodeConfig[]): string[] {
    const used = new Set<string>();
    return nodes.map((node, i) => {
        const base = defaultName(node) ?? (i === 0 ? "primary" : `replica${i}`);
        let name = base;
        for (let n = 2; used.has(name); n++) name = `${base}#${n}`;
        used.add(name);
        return name;
    });
}

function defaultName(node: NodeConfig): string | undefined {
    const cfg = typeof node === "string" ? { connectionString: node } : node;
    if (cfg.name) return cfg.name;
    const several = multiHostLabels(cfg);
    if (several) return several.join(",");
    if (cfg.connectionString) {
        try {
            const url = new URL(cfg.connectionString);
            return url.hostname ? `${url.hostname}:${url.port || 5432}` : undefined;
        } catch {
            return undefined;
        }
    }
    return cfg.host ? `${cfg.host}:${cfg.port ?? 5432}` : undefined;
}

/** The pg pool config of a node; connectTimeoutMs unless the node sets connectionTimeoutMillis. */
export function poolConfig(node: NodeConfig, connectTimeoutMs: number): PoolConfig {
    const cfg: PoolConfig & { name?: string } = typeof node === "string" ? { connectionString: node } : { ...node };
    delete cfg.name;
    return { connectionTimeoutMillis: connectTimeoutMs, ...cfg };
}

/**
 * Where a node's connections go: its hosts, in order, and what their sessions must be. A node with
 * one host and no target_session_attrs is one host whose config is {@link poolConfig}'s, unchanged.
 * Throws a TypeError for a bad host list or target_session_attrs.
 */
export function nodeHosts(node: NodeConfig, name: string, connectTimeoutMs: number): NodeHosts {
    const cfg: PoolConfig & MultiHostOptions & { name?: string } =
        typeof node === "string" ? { connectionString: node } : { ...node };
    delete cfg.name;
    return (
        multiHostNode(cfg, connectTimeoutMs) ?? {
            hosts: [{ label: name, config: poolConfig(node, connectTimeoutMs) }],
            target: "any",
        }
    );
}
