// Several hosts for one node, as libpq has them (issue 19): a multi-host URL such as
// postgresql://app:pw@10.99.0.11:15442,10.99.0.12:15442/app?target_session_attrs=read-write&connect_timeout=3,
// or an explicit `hosts` list. Pure: turns a node's config into one pg config per host, in order, and
// what a host must be to be kept. Each host's URL is the original one with only the host list replaced,
// so that pg parses it (with its own pg-connection-string) exactly as it parses any single-host URL:
// user, password, database, sslmode, sslrootcert and every other parameter stay as they are.
import type { PoolConfig } from "pg";

/** libpq's `target_session_attrs` values the router supports (not `prefer-standby`). */
export const TARGET_SESSION_ATTRS = ["any", "read-write", "read-only", "primary", "standby"] as const;
export type TargetSessionAttrs = (typeof TARGET_SESSION_ATTRS)[number];

/** One host of a node, as pg connects to it. */
export interface HostEndpoint {
    /** `host:port`, never the password: for status and errors. */
    label: string;
    config: PoolConfig;
}

/** Where a node's connections go: its hosts in order, and what a host's session must be. */
export interface NodeHosts {
    hosts: HostEndpoint[];
    target: TargetSessionAttrs;
}

/** The multi-host options of a node config (besides a multi-host `connectionString`). */
export interface MultiHostOptions {
    /**
     * Several hosts for this node, tried in order (libpq's host list); instead of `host`/`port` and
     * of a `connectionString`. Every other setting (user, password, database, ssl) is shared.
     */
    hosts?: Array<{ host: string; port?: number }>;
    /**
     * What a host's session must be for the node to use it (libpq's `target_session_attrs`):
     * `read-write` skips hosts where `SHOW transaction_read_only` is on, `primary` hosts in recovery,
     * `read-only` and `standby` the opposite. Overrides the URL's `target_session_attrs`. @default "any"
     */
    targetSessionAttrs?: TargetSessionAttrs;
}

const DEFAULT_PORT = 5432;
// Scheme, authority (userinfo@hostlist), then path, query and fragment as they are.
const URL_PARTS = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/s;

/** A connection string's host list, and how to make the same URL for one of its hosts. */
interface UrlHosts {
    specs: string[];
    withHost(spec: string): string;
    params: URLSearchParams;
}

function urlHosts(url: string): UrlHosts | null {
    const m = URL_PARTS.exec(url);
    if (!m) return null; // a socket path or something else pg understands: not a host list
    const [, scheme, authority, rest] = m;
    const at = authority.lastIndexOf("@");
    const userinfo = authority.slice(0, at + 1);
    const query = rest.includes("?") ? rest.slice(rest.indexOf("?") + 1).split("#")[0] : "";
    return {
        specs: authority.slice(at + 1).split(","),
        withHost: (spec) => scheme + userinfo + spec + rest,
        params: new URLSearchParams(query),
    };
}

/** `host:port` of a URL's host spec (`h`, `h:5433`, `[::1]`, `[::1]:5433`). */
function specLabel(spec: string): string {
    const hasPort = spec.startsWith("[") ? /\]:\d+$/.test(spec) : /:\d+$/.test(spec);
    return hasPort ? spec : `${spec.replace(/:$/, "")}:${DEFAULT_PORT}`;
}

function targetOf(value: string | null | undefined, where: string): TargetSessionAttrs {
    if (value === null || value === undefined) return "any";
    if ((TARGET_SESSION_ATTRS as readonly string[]).includes(value)) return value as TargetSessionAttrs;
    throw new TypeError(
        `ReplicaRouter: ${where} ${JSON.stringify(value)} is not supported (one of ${TARGET_SESSION_ATTRS.join(", ")})`,
    );
}

/** libpq's connect_timeout (seconds) in milliseconds; 0 or absent: undefined (the router's connectTimeoutMs). */
function connectTimeoutOf(value: string | null): number | undefined {
    if (value === null || value.trim() === "") return undefined;
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds < 0) {
        throw new TypeError(`ReplicaRouter: connect_timeout ${JSON.stringify(value)} is not a number of seconds`);
    }
    return seconds === 0 ? undefined : seconds * 1000;
}

/** The `host:port` labels of a node config that lists several hosts, else undefined. */
export function multiHostLabels(cfg: PoolConfig & MultiHostOptions): string[] | undefined {
    if (cfg.hosts) return cfg.hosts.map((h) => `${h.host}:${h.port ?? cfg.port ?? DEFAULT_PORT}`);
    const parsed = cfg.connectionString ? urlHosts(cfg.connectionString) : null;
    return parsed && parsed.specs.length > 1 ? parsed.specs.map(specLabel) : undefined;
}

function explicitHosts(
    cfg: PoolConfig,
    hosts: NonNullable<MultiHostOptions["hosts"]>,
    target: TargetSessionAttrs,
    connectTimeoutMs: number,
): NodeHosts {
    if (!Array.isArray(hosts) || hosts.length === 0)
        throw new TypeError("ReplicaRouter: hosts must list at least one host");
    if (cfg.connectionString !== undefined || cfg.host !== undefined) {
        throw new TypeError("ReplicaRouter: give a node's hosts either in hosts or in host/connectionString, not both");
    }
    const connectionTimeoutMillis = cfg.connectionTimeoutMillis ?? connectTimeoutMs;
    return {
        target,
        hosts: hosts.map(({ host, port }) => ({
            label: `${host}:${port ?? cfg.port ?? DEFAULT_PORT}`,
            config: { ...cfg, host, port: port ?? cfg.port, connectionTimeoutMillis },
        })),
    };
}

function urlNodeHosts(
    cfg: PoolConfig,
    parsed: UrlHosts,
    target: TargetSessionAttrs,
    connectTimeoutMs: number,
): NodeHosts {
    const { specs, params } = parsed;
    if (specs.some((s) => s === "")) throw new TypeError("ReplicaRouter: a host list has an empty host");
    if (specs.length > 1 && (params.has("host") || params.has("port"))) {
        throw new TypeError(
            "ReplicaRouter: list several hosts in the URL's authority (user@h1:p1,h2:p2/db), not with ?host= or ?port=",
        );
    }
    const connectionTimeoutMillis =
        cfg.connectionTimeoutMillis ?? connectTimeoutOf(params.get("connect_timeout")) ?? connectTimeoutMs;
    return {
        target,
        hosts: specs.map((spec) => ({
            label: specLabel(spec),
            config: { ...cfg, connectionString: parsed.withHost(spec), connectionTimeoutMillis },
        })),
    };
}

/**
 * The hosts of a node config that has several (a `hosts` list or a multi-host URL) or a
 * target_session_attrs other than `any`; null for any other config, which pg handles as it is.
 * Throws a TypeError naming what is wrong (before anything connects).
 */
export function multiHostNode(cfg: PoolConfig & MultiHostOptions, connectTimeoutMs: number): NodeHosts | null {
    const { hosts, targetSessionAttrs, ...pool } = cfg;
    const option = targetSessionAttrs === undefined ? undefined : targetOf(targetSessionAttrs, "targetSessionAttrs");
    if (hosts !== undefined) return explicitHosts(pool, hosts, option ?? "any", connectTimeoutMs);
    const parsed = pool.connectionString ? urlHosts(pool.connectionString) : null;
    if (parsed) {
        const target = option ?? targetOf(parsed.params.get("target_session_attrs"), "target_session_attrs");
        // One host and no session attributes: pg's own handling, exactly as before.
        return parsed.specs.length > 1 || target !== "any"
            ? urlNodeHosts(pool, parsed, target, connectTimeoutMs)
            : null;
    }
    if (option === undefined || option === "any") return null;
    const label = `${pool.host ?? "localhost"}:${pool.port ?? DEFAULT_PORT}`;
    const connectionTimeoutMillis = pool.connectionTimeoutMillis ?? connectTimeoutMs;
    return { target: option, hosts: [{ label, config: { ...pool, connectionTimeoutMillis } }] };
}
