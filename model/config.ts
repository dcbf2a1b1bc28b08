import { cronProblem, firstCommonMinute, parseCron } from "./cron";
import { parseRestoreTarget } from "./restore-target";
import { ENGINE_TLS_KEY, EngineTls, parseEngineTls } from "./engine-tls";
import { DockerHost, HostsProblem, parseHosts, parsePlacement, resolvePlacement, severalHosts } from "./hosts";
import { isKnownParameter, isReadOnlyParameter, MANAGED_PARAMETERS, parameterValueProblem } from "./parameters";

/** Replication mode of the cluster. */
export type SyncMode = "async" | "sync";
/** `ANY` (quorum) or `FIRST` (priority), as in synchronous_standby_names. */
export type SyncMethod = "any" | "first";
/** The synchronous_commit levels that wait for standbys. */
export type SynchronousCommit = "on" | "remote_write" | "remote_apply";
/** Whether backups may be taken from a standby: `prefer` one when it streams, `always` (fail without one), `never`. */
export type BackupStandby = "prefer" | "always" | "never";
/** Encryption in transit: `required` (TLS on every network connection, plain text refused) or `off`. */
export type TlsPolicy = "required" | "off";
/** Who decides roles: a person with the day-2 commands (`manual`), or Patroni with etcd (`patroni`). */
export type FailoverMode = "manual" | "patroni";

/**
 * The validated, typed stack configuration: one field per `pg-replication:` key of Pulumi.yaml
 * (where each key's default is declared; {@link DEFAULTS} must agree, tests/unit/config-defaults.test.ts).
 */
export interface ClusterConfig {
    /** Streaming replicas beside the primary (0..9): nodes pg1 … pg<replicas+1>. @default 2 */
    replicas: number;
    /** `async`, or `sync`: commits wait for `syncCount` standbys. @default "async" */
    syncMode: SyncMode;
    /** How synchronous standbys are chosen: `any` (quorum) or `first` (priority, in node order). @default "any" */
    syncMethod: SyncMethod;
    /** Standbys that must confirm each commit in sync mode (1..replicas). @default 1 */
    syncCount: number;
    /** synchronous_commit on the primary when syncMode is sync. @default "on" */
    synchronousCommit: SynchronousCommit;
    /** PostgreSQL image with the Debian layout of the official image. @default "postgres:17" */
    image: string;
    /** Pull `image`; false for an image that exists only locally (the deployment checks that it does). @default true */
    pullImage: boolean;
    /** Subnet of the cluster's Docker network (/8 … /26): fixed addresses in its lower half. @default "172.20.0.0/16" */
    subnet: string;
    /** Host address the published ports bind to. @default "127.0.0.1" (only this host reaches the cluster) */
    bindAddress: string;
    /** Node k publishes hostPortBase+k-1; the endpoints +10 (rw) and +11 (ro), the exporter +12. @default 15432 */
    hostPortBase: number;
    /** Replication role (LOGIN REPLICATION, not superuser). @default "replicator" */
    replicationUser: string;
    /** One physical replication slot per replica, on whichever node is primary. @default true */
    slots: boolean;
    /** max_slot_wal_keep_size: WAL a lagging slot may retain, or -1 for no cap. @default "2GB" */
    maxSlotWalKeepSize: string;
    /**
     * pgBackRest backups: a repository container of its own (TLS server, encrypted), WAL archived
     * into it asynchronously, a full backup by the end of every `up` that finds none, scheduled
     * backups and retention. false: archive_mode off, no repository. @default true
     */
    backups: boolean;
    /**
     * Encryption in transit. `required`: every network connection to PostgreSQL, PgBouncer and
     * between nodes uses TLS 1.3 with certificates of the stack's own CA, verified by name
     * (`sslmode=verify-full`); a plain-text network connection is refused (the unix socket stays).
     * `off`: plain text, as before TLS existed. @default "required"
     */
    tls: TlsPolicy;
    /**
     * Raise it (0..1000000) to issue new keys and certificates for every server of the stack (the CA
     * stays); `up` writes them into the running containers and reloads their servers, restarting
     * none that serves clients. @default 0
     */
    tlsRotation: number;
    /** Cron schedule (5 fields, UTC) of full backups; "" for none. @default "0 1 * * 0" (Sundays 01:00) */
    backupFullSchedule: string;
    /** Cron schedule of differential backups; "" for none. @default "0 1 * * 1-6" (Monday to Saturday 01:00) */
    backupDiffSchedule: string;
    /** Cron schedule of incremental backups; "" for none. @default "" */
    backupIncrSchedule: string;
    /** Full backups kept (1..99); older ones expire with the WAL before the oldest kept backup. @default 2 */
    backupRetentionFull: number;
    /** archive_timeout in seconds: the longest an idle cluster's last commit waits to be archived (0 off, else 10..86400). @default 60 */
    archiveTimeout: number;
    /** Take backups from a standby (the primary still starts and stops them). @default "prefer" */
    backupStandby: BackupStandby;
    /** The repository volume outlives `pulumi destroy` (restore a destroyed cluster from it). @default false */
    keepBackups: boolean;
    /**
     * Bootstrap this (new) stack by restoring another stack's backup: that stack's name, whose
     * repository volume `<name>-backup-repo` is on this Docker engine; its cipher passphrase is the
     * secret `restoreCipherPass`. Read only while the bootstrap node's volume is empty. @default "" (initdb)
     */
    restoreFrom: string;
    /** Where the restore's recovery stops: latest, time=…, lsn=…, xid=… or name=…. @default "latest" */
    restoreTarget: string;
    /**
     * Further postgresql.conf parameters (name → value); parameters pg-replication manages are
     * refused. Not declared in Pulumi.yaml: an object has no default there. @default {} (none)
     */
    settings: Record<string, string>;
    /** Run the post-deploy replication checks after every deployment. @default true */
    checks: boolean;
    /** The node that is primary (bootstraps an empty cluster); failover, switchover and rejoin update it. @default "pg1" */
    primaryNode: string;
    /** Read-write and read-only endpoints (PgBouncer, or HAProxy under failover=patroni). @default true */
    pooler: boolean;
    /** Image with pgbouncer for the endpoints. @default "" (the PostgreSQL image) */
    poolerImage: string;
    /** prometheus-postgres-exporter for every node on hostPortBase+12 (/probe); across hosts one per node's host, on that host's hostPortBase+12. @default false */
    metrics: boolean;
    /** Who moves the primary role: `manual` (the day-2 commands) or `patroni` (automatic, with etcd). @default "manual" */
    failover: FailoverMode;
    /** failover=patroni: etcd members holding the leader key, 1 or 3. @default 3 */
    etcdMembers: number;
    /** failover=patroni: seconds the leader key lives without renewal (>= 20). @default 20 */
    patroniTtl: number;
    /** failover=patroni: seconds between Patroni's HA loops. @default 2 */
    patroniLoopWait: number;
    /** failover=patroni: seconds Patroni retries etcd and PostgreSQL before a leader demotes itself. @default 5 */
    patroniRetryTimeout: number;
    /**
     * Docker hosts to spread the cluster over (model/hosts.ts): each `{name, engine, address}`, the
     * engine as `unix://…`, `ssh://user@host` or `tcp://host:port` (its client TLS material in the
     * secret key engineTls, model/engine-tls.ts), the address the other hosts reach it at. Needs
     * failover=patroni and tls=required; every container then uses its host's network. Not declared
     * in Pulumi.yaml (a list of objects). @default [] (one engine: DOCKER_HOST or the default socket)
     */
    hosts: DockerHost[];
    /**
     * With `hosts`: the host of each node (pg1 …), etcd member (etcd1 …) and of the backup repository
     * (`backup`). Not declared in Pulumi.yaml (an object). @default {} (pgK and etcdK on the K-th host, the repository on the last)
     */
    placement: Record<string, string>;
}

/** Defaults; they match the `config:` block of Pulumi.yaml. */
export const DEFAULTS: ClusterConfig = {
    replicas: 2,
    syncMode: "async",
    syncMethod: "any",
    syncCount: 1,
    synchronousCommit: "on",
    image: "postgres:17",
    pullImage: true,
    subnet: "172.20.0.0/16",
    bindAddress: "127.0.0.1",
    hostPortBase: 15432,
    replicationUser: "replicator",
    slots: true,
    maxSlotWalKeepSize: "2GB",
    backups: true,
    tls: "required",
    tlsRotation: 0,
    backupFullSchedule: "0 1 * * 0",
    backupDiffSchedule: "0 1 * * 1-6",
    backupIncrSchedule: "",
    backupRetentionFull: 2,
    archiveTimeout: 60,
    backupStandby: "prefer",
    keepBackups: false,
    restoreFrom: "",
    restoreTarget: "latest",
    settings: {},
    checks: true,
    primaryNode: "pg1",
    pooler: true,
    poolerImage: "",
    metrics: false,
    failover: "manual",
    etcdMembers: 3,
    // Patroni's defaults are 30 / 10 / 10: a dead leader costs 30-45 s. 20 / 2 / 5 keeps Patroni's
    // own rule (loop_wait + 2 * retry_timeout <= ttl) with room to spare and measured ~19.5 s from a
    // killed leader to the first write (/work/shared/patroni-notes.md).
    patroniTtl: 20,
    patroniLoopWait: 2,
    patroniRetryTimeout: 5,
    hosts: [],
    placement: {},
};

/** The passwords among the secret keys (at least 8 characters on one line). */
const PASSWORD_KEYS: readonly string[] = ["superuserPassword", "replicationPassword", "restoreCipherPass"];

/**
 * The keys whose values are secrets (read with getSecret, never shown): the passwords, and the
 * client TLS material of tcp:// Docker engines (model/engine-tls.ts).
 */
export const SECRET_CONFIG_KEYS: readonly string[] = [...PASSWORD_KEYS, ENGINE_TLS_KEY];

/** Every key this project reads (without the `pg-replication:` namespace). */
export const CONFIG_KEYS = [...Object.keys(DEFAULTS), ...SECRET_CONFIG_KEYS];

export const MAX_REPLICAS = 9;

/** Raw values as Pulumi hands them to a program: strings (objects as JSON). */
export type RawConfig = Record<string, string | undefined>;

/** Thrown for an invalid configuration value, before any resource is declared. */
export class ConfigError extends Error {
    constructor(key: string, value: unknown, allowed: string) {
        super(`pg-replication:${key} = ${JSON.stringify(value)} is invalid: ${allowed}`);
        this.name = "ConfigError";
    }
}

/** Levenshtein distance, for "did you mean" on a misspelt key. */
function editDistance(a: string, b: string): number {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const row = [i];
        for (let j = 1; j <= b.length; j++) {
            row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        prev = row;
    }
    return prev[b.length];
}

/**
 * An unknown key. Its value is never shown: a misspelt secret key (superUserPassword) would
 * otherwise print the password.
 */
export class UnknownKeyError extends ConfigError {
    constructor(key: string) {
        super(key, "[value not shown]", "unknown key");
        const near = CONFIG_KEYS.filter(
            (k) => k.toLowerCase() === key.toLowerCase() || editDistance(k.toLowerCase(), key.toLowerCase()) <= 2,
        );
        const hint = near.length > 0 ? `did you mean ${near.join(" or ")}? ` : "";
        this.message = `pg-replication:${key} is not a known key (its value is not shown): ${hint}known keys are ${CONFIG_KEYS.join(", ")}`;
        this.name = "ConfigError";
    }
}

function integer(raw: RawConfig, key: keyof ClusterConfig, min: number, max: number): number {
    const value = raw[key];
    if (value === undefined || value === "") return DEFAULTS[key] as number;
    if (!/^-?\d+$/.test(value.trim())) {
        throw new ConfigError(key, value, `expected an integer from ${min} to ${max}`);
    }
    const n = Number(value);
    if (n < min || n > max) throw new ConfigError(key, value, `expected an integer from ${min} to ${max}`);
    return n;
}

function boolean(raw: RawConfig, key: keyof ClusterConfig): boolean {
    const value = raw[key];
    if (value === undefined || value === "") return DEFAULTS[key] as boolean;
    if (value === "true") return true;
    if (value === "false") return false;
    throw new ConfigError(key, value, "expected true or false");
}

function oneOf<T extends string>(raw: RawConfig, key: keyof ClusterConfig, allowed: readonly T[]): T {
    const value = raw[key];
    if (value === undefined || value === "") return DEFAULTS[key] as T;
    if (!(allowed as readonly string[]).includes(value)) {
        throw new ConfigError(key, value, `expected one of ${allowed.join(", ")}`);
    }
    return value as T;
}

function text(raw: RawConfig, key: keyof ClusterConfig): string {
    const value = raw[key];
    return value === undefined || value === "" ? (DEFAULTS[key] as string) : value;
}

function parseIpv4(value: string): number[] | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(value);
    if (!m) return undefined;
    const octets = m.slice(1).map(Number);
    return octets.every((o, i) => o <= 255 && String(o) === m[i + 1]) ? octets : undefined;
}

function validateSubnet(value: string): string {
    const [addr, prefixText, ...rest] = value.split("/");
    const octets = parseIpv4(addr ?? "");
    const prefix = Number(prefixText);
    // Up to /26: every container gets a fixed address in the lower half (see model/topology.ts),
    // Docker's dynamic addresses come from the upper half.
    const allowed = "expected an IPv4 CIDR such as 172.20.0.0/16 with a prefix from /8 to /26";
    if (!octets || rest.length > 0 || !/^\d+$/.test(prefixText ?? "") || prefix < 8 || prefix > 26) {
        throw new ConfigError("subnet", value, allowed);
    }
    const asInt = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    if ((asInt & mask) >>> 0 !== asInt) {
        const network = [24, 16, 8, 0].map((s) => ((asInt & mask) >>> s) & 255).join(".");
        throw new ConfigError("subnet", value, `host bits are set; did you mean ${network}/${prefix}?`);
    }
    return value;
}

const SIZE = /^(-1|\d+(kB|MB|GB|TB))$/;
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const IMAGE_REF = /^[a-z0-9]([a-z0-9._\-/:@]*[a-z0-9])?$/i;

/** The `settings` object: postgresql.conf parameters, each judged as the image's PostgreSQL would. */
function validateSettings(value: string | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, v] of Object.entries(settingsObject(value))) {
        out[name] = settingValue(name, v);
    }
    return out;
}

/** The raw `settings` JSON as an object; {} when unset. */
function settingsObject(value: string | undefined): Record<string, unknown> {
    if (value === undefined || value === "") return {};
    let parsed: unknown;
    try {
        parsed = JSON.parse(value);
    } catch {
        throw new ConfigError("settings", value, "expected an object of postgresql.conf parameters");
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new ConfigError("settings", parsed, "expected an object of postgresql.conf parameters");
    }
    return parsed as Record<string, unknown>;
}

/** One `settings` entry's value as postgresql.conf text, or the error for the first thing wrong with it. */
function settingValue(name: string, v: unknown): string {
    const key = `settings.${name}`;
    refuseUnsettableParameter(key, name, v);
    const value = settingText(key, v);
    // Judged as the server would: a value it refuses would keep the node from starting.
    const problem = parameterValueProblem(name, value);
    if (problem !== undefined) throw new ConfigError(key, v, problem);
    return value;
}

/** Refuses a parameter pg-replication manages, one PostgreSQL does not know, and a read-only one. */
function refuseUnsettableParameter(key: string, name: string, v: unknown): void {
    if (MANAGED_PARAMETERS.has(name)) {
        throw new ConfigError(key, v, `${name} is managed by pg-replication; use its own config key or leave it`);
    }
    if (!isKnownParameter(name)) {
        throw new ConfigError(key, v, `${name} is not a PostgreSQL 17 parameter (custom ones need a dot: ext.name)`);
    }
    if (isReadOnlyParameter(name)) {
        throw new ConfigError(key, v, `${name} is read-only in PostgreSQL and cannot be set`);
    }
}

/** A setting's JSON value as text: numbers and booleans spelt out, strings on one line. */
function settingText(key: string, v: unknown): string {
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    if (typeof v === "string" && v !== "" && !/[\n\r\0]/.test(v)) return v;
    throw new ConfigError(key, v, "expected a non-empty single-line string, a number or a boolean");
}

/** What the caller knows of the configuration beyond its values. */
export interface ConfigContext {
    /**
     * The keys (without the namespace) the stack holds as secrets, as the Pulumi program learns them;
     * a key that must be a secret (engineTls) and is not is refused. @default unknown (not judged)
     */
    secretKeys?: ReadonlySet<string>;
}

/**
 * Validates raw stack configuration and returns the typed configuration. Throws a
 * {@link ConfigError} naming the key, the value and what is allowed for the first bad value
 * (the keys are judged in the order below, and the first error wins).
 */
export function validateConfig(raw: RawConfig, ctx: ConfigContext = {}): ClusterConfig {
    refuseUnknownKeys(raw);
    const { replicas, syncMode, syncMethod, syncCount, synchronousCommit } = replicationConfig(raw);
    const { image, subnet, bindAddress, hostPortBase } = networkConfig(raw);
    const primaryNode = validatePrimaryNode(raw, replicas);
    const poolerImage = validatePoolerImage(raw);
    const replicationUser = validateReplicationUser(raw);
    const maxSlotWalKeepSize = validateMaxSlotWalKeepSize(raw);
    validateSecrets(raw);
    const { failover, etcdMembers, patroniTtl, patroniLoopWait, patroniRetryTimeout } = patroniConfig(raw);
    const tls = oneOf<TlsPolicy>(raw, "tls", ["required", "off"]);
    const { hosts, placement } = hostsConfig(raw, {
        replicas,
        etcdMembers,
        failover,
        tls,
        engineTlsSecret: ctx.secretKeys?.has(ENGINE_TLS_KEY),
    });
    return {
        replicas,
        syncMode,
        syncMethod,
        syncCount,
        synchronousCommit,
        image,
        pullImage: boolean(raw, "pullImage"),
        subnet,
        bindAddress,
        hostPortBase,
        replicationUser,
        slots: boolean(raw, "slots"),
        maxSlotWalKeepSize,
        tls,
        tlsRotation: integer(raw, "tlsRotation", 0, 1_000_000),
        ...backupConfig(raw),
        ...restoreConfig(raw),
        settings: validateSettings(raw.settings),
        checks: boolean(raw, "checks"),
        primaryNode,
        pooler: boolean(raw, "pooler"),
        poolerImage,
        metrics: boolean(raw, "metrics"),
        failover,
        etcdMembers,
        patroniTtl,
        patroniLoopWait,
        patroniRetryTimeout,
        hosts,
        placement,
    };
}

/** What the hosts keys are judged against. */
interface HostsContext {
    replicas: number;
    etcdMembers: number;
    failover: FailoverMode;
    tls: TlsPolicy;
    /** Whether engineTls is held as a secret; undefined: not known here. */
    engineTlsSecret?: boolean;
}

/**
 * The `hosts` and `placement` keys (model/hosts.ts), with what several hosts require of the others:
 * Patroni (a person cannot fence a primary on a host they cannot reach), TLS (traffic crosses the
 * hosts' network), and the features not yet built across hosts refused rather than half done.
 */
function hostsConfig(raw: RawConfig, ctx: HostsContext): Pick<ClusterConfig, "hosts" | "placement"> {
    try {
        const hosts = parseHosts(raw.hosts);
        const placement = parsePlacement(raw.placement);
        parseEngineTls(raw[ENGINE_TLS_KEY], hosts, ctx.engineTlsSecret);
        resolvePlacement({ hosts, placement, replicas: ctx.replicas, etcdMembers: ctx.etcdMembers });
        if (severalHosts({ hosts })) refuseSingleHostOnly(raw, ctx);
        return { hosts, placement };
    } catch (err) {
        if (err instanceof HostsProblem) throw new ConfigError(err.key, err.value, err.allowed);
        throw err;
    }
}

/** Keys whose values work on one engine only, refused when `hosts` is set. */
function refuseSingleHostOnly(raw: RawConfig, ctx: HostsContext): void {
    if (ctx.failover !== "patroni")
        throw new ConfigError(
            "failover",
            ctx.failover,
            "several hosts (pg-replication:hosts) need failover patroni: a manual failover cannot fence a primary on a host it cannot reach",
        );
    if (ctx.tls !== "required")
        throw new ConfigError(
            "tls",
            ctx.tls,
            "several hosts need tls required: replication and clients cross the hosts' network",
        );
}

/** Refuses a key this project no longer reads (saying what replaced it) and a key it never read. */
function refuseUnknownKeys(raw: RawConfig): void {
    const known = new Set(CONFIG_KEYS);
    for (const key of Object.keys(raw)) {
        if (key in REPLACED_KEYS) throw new ConfigError(key, raw[key], REPLACED_KEYS[key]);
        if (!known.has(key)) {
            throw new UnknownKeyError(key);
        }
    }
}

type ReplicationKey = "replicas" | "syncMode" | "syncMethod" | "syncCount" | "synchronousCommit";

/** The replication keys, validated together: sync mode needs enough replicas. */
function replicationConfig(raw: RawConfig): Pick<ClusterConfig, ReplicationKey> {
    const replicas = integer(raw, "replicas", 0, MAX_REPLICAS);
    const syncMode = oneOf<SyncMode>(raw, "syncMode", ["async", "sync"]);
    if (syncMode === "sync" && replicas === 0) {
        throw new ConfigError(
            "syncMode",
            syncMode,
            "sync needs at least one replica (set replicas >= 1 or syncMode async)",
        );
    }
    const syncMethod = oneOf<SyncMethod>(raw, "syncMethod", ["any", "first"]);
    const syncCount = integer(raw, "syncCount", 1, MAX_REPLICAS);
    if (syncMode === "sync" && syncCount > replicas) {
        throw new ConfigError("syncCount", raw.syncCount, `expected 1..replicas (replicas is ${replicas})`);
    }
    const synchronousCommit = oneOf<SynchronousCommit>(raw, "synchronousCommit", [
        "on",
        "remote_write",
        "remote_apply",
    ]);
    return { replicas, syncMode, syncMethod, syncCount, synchronousCommit };
}

/** The image and where the cluster lives: its Docker network and the host ports it publishes. */
function networkConfig(raw: RawConfig): Pick<ClusterConfig, "image" | "subnet" | "bindAddress" | "hostPortBase"> {
    const image = text(raw, "image");
    if (!IMAGE_REF.test(image))
        throw new ConfigError("image", image, "expected an image reference such as postgres:17");

    const subnet = validateSubnet(text(raw, "subnet"));
    const bindAddress = text(raw, "bindAddress");
    if (!parseIpv4(bindAddress))
        throw new ConfigError("bindAddress", bindAddress, "expected an IPv4 address such as 127.0.0.1");

    // Nodes use hostPortBase .. +9; the pooler's read-write and read-only endpoints +10 and +11;
    // the metrics exporter +12.
    const hostPortBase = integer(raw, "hostPortBase", 1024, 65535 - 12);
    return { image, subnet, bindAddress, hostPortBase };
}

function validatePrimaryNode(raw: RawConfig, replicas: number): string {
    const primaryNode = text(raw, "primaryNode");
    const nodeIndex = /^pg([1-9][0-9]?)$/.exec(primaryNode);
    if (!nodeIndex || Number(nodeIndex[1]) > replicas + 1) {
        throw new ConfigError("primaryNode", primaryNode, `expected a node of the cluster, pg1..pg${replicas + 1}`);
    }
    return primaryNode;
}

function validatePoolerImage(raw: RawConfig): string {
    const poolerImage = raw.poolerImage ?? DEFAULTS.poolerImage;
    if (poolerImage !== "" && !IMAGE_REF.test(poolerImage)) {
        throw new ConfigError("poolerImage", poolerImage, "expected an image reference, or empty to use `image`");
    }
    return poolerImage;
}

function validateReplicationUser(raw: RawConfig): string {
    const replicationUser = text(raw, "replicationUser");
    if (!IDENTIFIER.test(replicationUser) || replicationUser === "postgres" || replicationUser.startsWith("pg_")) {
        throw new ConfigError(
            "replicationUser",
            replicationUser,
            "expected a lowercase identifier ([a-z_][a-z0-9_]*, at most 63 characters), not postgres and not starting with pg_",
        );
    }
    return replicationUser;
}

function validateMaxSlotWalKeepSize(raw: RawConfig): string {
    const maxSlotWalKeepSize = text(raw, "maxSlotWalKeepSize");
    if (!SIZE.test(maxSlotWalKeepSize)) {
        throw new ConfigError(
            "maxSlotWalKeepSize",
            maxSlotWalKeepSize,
            "expected -1 or a size such as 512MB, 2GB (units kB, MB, GB, TB)",
        );
    }
    return maxSlotWalKeepSize;
}

/** The passwords given (each is optional here): never shown in an error. */
function validateSecrets(raw: RawConfig): void {
    for (const key of PASSWORD_KEYS) {
        const pw = raw[key];
        if (pw !== undefined && (pw.length < 8 || /[\n\r\0]/.test(pw))) {
            throw new ConfigError(key, "[secret]", "expected at least 8 characters on one line");
        }
    }
}

type PatroniKey = "failover" | "etcdMembers" | "patroniTtl" | "patroniLoopWait" | "patroniRetryTimeout";

/** The failover keys, validated together: Patroni's timings must let a leader demote itself in time. */
function patroniConfig(raw: RawConfig): Pick<ClusterConfig, PatroniKey> {
    const failover = oneOf<FailoverMode>(raw, "failover", ["manual", "patroni"]);
    const etcdMembers = integer(raw, "etcdMembers", 1, 3);
    // 2 members tolerate no more failures than 1 and halve availability: etcd's own advice.
    if (etcdMembers === 2)
        throw new ConfigError(
            "etcdMembers",
            raw.etcdMembers,
            "expected 1 or 3 (2 etcd members tolerate no failure, like 1)",
        );
    // Patroni refuses ttl < 20 and loop_wait < 1 (patroni/config.py validation of the dynamic config).
    const patroniTtl = integer(raw, "patroniTtl", 20, 3600);
    const patroniLoopWait = integer(raw, "patroniLoopWait", 1, 3600);
    const patroniRetryTimeout = integer(raw, "patroniRetryTimeout", 3, 3600);
    // Patroni's rule (docs/dynamic_configuration.rst): a leader that cannot reach the DCS retries for
    // retry_timeout, twice within a loop, and must still demote itself before its key expires.
    if (patroniLoopWait + 2 * patroniRetryTimeout > patroniTtl) {
        throw new ConfigError(
            "patroniTtl",
            raw.patroniTtl ?? String(patroniTtl),
            `expected patroniLoopWait + 2 * patroniRetryTimeout <= patroniTtl (${patroniLoopWait} + 2 * ${patroniRetryTimeout} = ` +
                `${patroniLoopWait + 2 * patroniRetryTimeout} > ${patroniTtl}); raise patroniTtl or lower the others`,
        );
    }
    return { failover, etcdMembers, patroniTtl, patroniLoopWait, patroniRetryTimeout };
}

/** Keys an earlier version read, and what replaced them. */
const REPLACED_KEYS: Record<string, string> = {
    walArchive:
        "walArchive was replaced by backups: pgBackRest archives WAL into the backup repository (set backups false for no archive)",
};

const SCHEDULE_KEYS = ["backupFullSchedule", "backupDiffSchedule", "backupIncrSchedule"] as const;

function schedule(raw: RawConfig, key: (typeof SCHEDULE_KEYS)[number]): string {
    const value = raw[key] ?? DEFAULTS[key];
    if (value.trim() === "") return "";
    const problem = cronProblem(value);
    if (problem !== undefined) {
        throw new ConfigError(
            key,
            value,
            `expected a cron schedule such as "0 1 * * 0" (UTC) or "" for none: ${problem}`,
        );
    }
    return value.trim().split(/\s+/).join(" ");
}

/** The backup keys, validated together: two backup types may not start in the same minute. */
function backupConfig(raw: RawConfig): Pick<ClusterConfig, BackupKey> {
    const schedules = SCHEDULE_KEYS.map((key) => ({ key, value: schedule(raw, key) }));
    const set = schedules.filter((s) => s.value !== "");
    for (let i = 0; i < set.length; i++) {
        for (let j = i + 1; j < set.length; j++) {
            const clash = firstCommonMinute(parseCron(set[i].value), parseCron(set[j].value));
            if (clash) {
                throw new ConfigError(
                    set[j].key,
                    set[j].value,
                    `it starts in the same minute as ${set[i].key} "${set[i].value}" (first at ${clash.toISOString().slice(0, 16)}Z ` +
                        "in 2027); pgBackRest runs one backup at a time, so give each type its own minutes or days",
                );
            }
        }
    }
    const archiveTimeout = integer(raw, "archiveTimeout", 0, 86400);
    if (archiveTimeout > 0 && archiveTimeout < 10) {
        throw new ConfigError(
            "archiveTimeout",
            raw.archiveTimeout,
            "expected 0 (off) or 10..86400 seconds: each timeout archives a 16 MB segment",
        );
    }
    return {
        backups: boolean(raw, "backups"),
        backupFullSchedule: schedules[0].value,
        backupDiffSchedule: schedules[1].value,
        backupIncrSchedule: schedules[2].value,
        backupRetentionFull: integer(raw, "backupRetentionFull", 1, 99),
        archiveTimeout,
        backupStandby: oneOf<BackupStandby>(raw, "backupStandby", ["prefer", "always", "never"]),
        keepBackups: boolean(raw, "keepBackups"),
    };
}

const STACK_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * The restore keys: a source stack and a target recovery can reach (both failover modes). The
 * source's passphrase (restoreCipherPass, a secret) is checked where the secrets arrive
 * ({@link missingRestorePassphrase}).
 */
function restoreConfig(raw: RawConfig): Pick<ClusterConfig, "restoreFrom" | "restoreTarget"> {
    const restoreFrom = raw.restoreFrom ?? "";
    const restoreTarget = text(raw, "restoreTarget");
    try {
        parseRestoreTarget(restoreTarget);
    } catch (err) {
        throw new ConfigError("restoreTarget", restoreTarget, (err as Error).message);
    }
    if (restoreFrom === "") return { restoreFrom, restoreTarget };
    if (!STACK_NAME.test(restoreFrom))
        throw new ConfigError("restoreFrom", restoreFrom, "expected a stack name (letters, digits, _ . -) or empty");
    return { restoreFrom, restoreTarget };
}

type BackupKey =
    | "backups"
    | "backupFullSchedule"
    | "backupDiffSchedule"
    | "backupIncrSchedule"
    | "backupRetentionFull"
    | "archiveTimeout"
    | "backupStandby"
    | "keepBackups";

/**
 * Validates typed values (a component's arguments) by the rules of {@link validateConfig}: each
 * value is handed over as the CLI hands stack config to a program, so no rule exists twice.
 * Absent values take their defaults. `engineTls`: the tcp:// hosts' client material, judged with `hosts`.
 */
export function configFromValues(values: Partial<ClusterConfig>, engineTls?: EngineTls): ClusterConfig {
    const raw: RawConfig = engineTls ? { [ENGINE_TLS_KEY]: JSON.stringify(engineTls) } : {};
    for (const key of Object.keys(DEFAULTS) as Array<keyof ClusterConfig>) {
        const value = values[key];
        if (value !== undefined) raw[key] = typeof value === "object" ? JSON.stringify(value) : String(value);
    }
    return validateConfig(raw);
}

/** The error for restoreFrom without the source's passphrase, with the commands that set it. */
export function missingRestorePassphrase(restoreFrom: string): ConfigError {
    return new ConfigError(
        "restoreCipherPass",
        "[not set]",
        `restoreFrom ${restoreFrom} needs the source repository's passphrase, the source stack's secret output backupCipherPass: ` +
            `npm run -s live -- output backupCipherPass --stack ${restoreFrom} --show-secrets | npm run -s live -- config set --secret restoreCipherPass --stack NEW ` +
            `(Pulumi: pulumi stack output backupCipherPass --show-secrets --stack ${restoreFrom} | pulumi config set --secret restoreCipherPass --stack NEW)`,
    );
}
