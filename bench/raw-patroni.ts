// The "raw Patroni" lower bound of issue 20: the Patroni + etcd + HAProxy cluster a user would start by
// hand, as Patroni's docs and most blog posts show it. Plain `docker run` of the same local image: 3 etcd
// members, 3 Patroni nodes, 1 HAProxy checking Patroni's REST API. Its configuration is written here as
// plain text (none of infra/, templates/ or model/'s renderers is used: that would not be a peer); only
// the values that decide timing are taken from our defaults (model/config.ts), so both sides run with the
// same ttl, loop_wait, retry_timeout and synchronous mode. No TLS, no backups, no checks.
//
// The containers carry the two labels our day-2 code finds a cluster's nodes by (pg-replication.cluster,
// pg-replication.node), so that the same measuring round (ops/patroni-leader-loss.ts) runs against both
// sides; labels change nothing inside a container.
import { Client } from "pg";
import { DEFAULTS } from "../model/config";
import { CLUSTER_LABEL, NODE_LABEL } from "../model/labels";
import { execOrFail, execProgram } from "../ops/cluster-discovery";
import { waitFor } from "../ops/ops";
import { onceMoreOnPortClash } from "./clusters";
import { BENCH_TIMEOUT_MS, IMAGE, waitPortsFree } from "./host";

/** The settings that decide bring-up and failover times: our defaults unless a case says otherwise. */
export interface RawSettings {
    ttl: number;
    loopWait: number;
    retryTimeout: number;
    /** Patroni's synchronous_mode: false (async), "quorum" (ANY n) or true (FIRST n). */
    synchronousMode: false | "quorum" | true;
    syncCount: number;
}

/** Our defaults (model/config.ts DEFAULTS) in Patroni's words, as patroniDynamicConfig maps them. */
export const RAW_DEFAULTS: RawSettings = {
    ttl: DEFAULTS.patroniTtl,
    loopWait: DEFAULTS.patroniLoopWait,
    retryTimeout: DEFAULTS.patroniRetryTimeout,
    synchronousMode: DEFAULTS.syncMode === "async" ? false : DEFAULTS.syncMethod === "any" ? "quorum" : true,
    syncCount: DEFAULTS.syncCount,
};

export interface RawOptions {
    /** Every Docker object is named `${prefix}-…`; also the Patroni scope. */
    prefix: string;
    /** A /24, `a.b.c.0/24`. */
    subnet: string;
    /** HAProxy publishes rw on portBase+10 and ro on portBase+11, as our endpoints do. */
    portBase: number;
    settings?: RawSettings;
}

export const RAW_SUPERUSER_PASSWORD = "bench-super-pw";
const NODES = [1, 2, 3];

const at = (o: RawOptions, host: number) => o.subnet.replace(/\.0\/24$/, `.${host}`);
const pgIp = (o: RawOptions, n: number) => at(o, 10 + n);
const etcdIp = (o: RawOptions, n: number) => at(o, 20 + n);
const haproxyIp = (o: RawOptions) => at(o, 30);

/** The host ports of HAProxy's read-write and read-only listeners. */
export function rawPorts(o: Pick<RawOptions, "portBase">): { rw: number; ro: number } {
    return { rw: o.portBase + 10, ro: o.portBase + 11 };
}

/** Every container of the raw cluster, by name. */
export function rawContainers(prefix: string): string[] {
    return [...NODES.map((n) => `${prefix}-etcd${n}`), ...NODES.map((n) => `${prefix}-pg${n}`), `${prefix}-haproxy`];
}

/** Every named volume of the raw cluster. */
export function rawVolumes(prefix: string): string[] {
    return [...NODES.map((n) => `${prefix}-etcd${n}-data`), ...NODES.map((n) => `${prefix}-pg${n}-data`)];
}

/** `docker run -d` of one container on the raw cluster's network at a fixed address. */
function dockerRun(o: RawOptions, name: string, ip: string, flags: string[], command: string[]): string[] {
    return [
        "docker",
        "run",
        "-d",
        "--name",
        `${o.prefix}-${name}`,
        "--network",
        `${o.prefix}-net`,
        "--ip",
        ip,
        "--label",
        `${CLUSTER_LABEL}=${o.prefix}`,
        ...flags,
        IMAGE,
        ...command,
    ];
}

/** An etcd member, as etcd's clustering guide starts one (static bootstrap, plain HTTP). */
export function etcdArgv(o: RawOptions, n: number): string[] {
    const cluster = NODES.map((k) => `etcd${k}=http://${etcdIp(o, k)}:2380`).join(",");
    const ip = etcdIp(o, n);
    return dockerRun(
        o,
        `etcd${n}`,
        ip,
        ["--user", "etcd", "-v", `${o.prefix}-etcd${n}-data:/var/lib/etcd`],
        [
            "etcd",
            `--name=etcd${n}`,
            "--data-dir=/var/lib/etcd/data",
            `--listen-peer-urls=http://${ip}:2380`,
            `--initial-advertise-peer-urls=http://${ip}:2380`,
            `--listen-client-urls=http://${ip}:2379,http://127.0.0.1:2379`,
            `--advertise-client-urls=http://${ip}:2379`,
            `--initial-cluster=${cluster}`,
            "--initial-cluster-state=new",
            `--initial-cluster-token=${o.prefix}`,
        ],
    );
}

/** patroni.yml of node n: the minimal file of Patroni's docs, with our timing settings. */
export function patroniYml(o: RawOptions, n: number): string {
    const s = o.settings ?? RAW_DEFAULTS;
    const ip = pgIp(o, n);
    return `scope: ${o.prefix}
namespace: /raw/
name: pg${n}
restapi:
  listen: ${ip}:8008
  connect_address: ${ip}:8008
etcd3:
  hosts: ${NODES.map((k) => `${etcdIp(o, k)}:2379`).join(",")}
bootstrap:
  dcs:
    ttl: ${s.ttl}
    loop_wait: ${s.loopWait}
    retry_timeout: ${s.retryTimeout}
    synchronous_mode: ${s.synchronousMode}
    synchronous_node_count: ${s.syncCount}
    primary_start_timeout: 0
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
  initdb:
  - encoding: UTF8
  - data-checksums
postgresql:
  listen: 0.0.0.0:5432
  connect_address: ${ip}:5432
  data_dir: /var/lib/postgresql/data
  bin_dir: /usr/lib/postgresql/17/bin
  pgpass: /tmp/pgpass
  authentication:
    superuser:
      username: postgres
      password: ${RAW_SUPERUSER_PASSWORD}
    replication:
      username: replicator
      password: bench-repl-pw
  pg_hba:
  - local all all trust
  - host replication replicator 0.0.0.0/0 scram-sha-256
  - host all all 0.0.0.0/0 scram-sha-256
  parameters:
    password_encryption: scram-sha-256
watchdog:
  mode: "off"
`;
}

/** A Patroni node: its patroni.yml written by the container's shell, then Patroni as PID 1 (it reaps). */
export function patroniArgv(o: RawOptions, n: number): string[] {
    const script = `cat > /var/lib/postgresql/patroni.yml <<'EOF'\n${patroniYml(o, n)}EOF\nexec patroni /var/lib/postgresql/patroni.yml`;
    return dockerRun(
        o,
        `pg${n}`,
        pgIp(o, n),
        ["--user", "postgres", "--label", `${NODE_LABEL}=pg${n}`, "-v", `${o.prefix}-pg${n}-data:/var/lib/postgresql`],
        ["sh", "-c", script],
    );
}

/** haproxy.cfg of Patroni's docs (TCP, HTTP checks of /primary and /replica), our check timings. */
export function haproxyCfg(o: RawOptions): string {
    const servers = NODES.map((n) => `    server pg${n} ${pgIp(o, n)}:5432 check port 8008`).join("\n");
    return `global
    maxconn 200
defaults
    mode tcp
    timeout connect 3s
    timeout client 30m
    timeout server 30m
    timeout check 1s
listen rw
    bind *:5000
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
${servers}
listen ro
    bind *:5001
    balance roundrobin
    option httpchk OPTIONS /replica
    http-check expect status 200
    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
${servers}
`;
}

export function haproxyArgv(o: RawOptions): string[] {
    const { rw, ro } = rawPorts(o);
    const script = `cat > /tmp/haproxy.cfg <<'EOF'\n${haproxyCfg(o)}EOF\nexec haproxy -W -db -f /tmp/haproxy.cfg`;
    return dockerRun(
        o,
        "haproxy",
        haproxyIp(o),
        ["--user", "haproxy", "-p", `127.0.0.1:${rw}:5000`, "-p", `127.0.0.1:${ro}:5001`],
        ["sh", "-c", script],
    );
}

/** One try through HAProxy's rw port: true once the leader has 2 streaming replicas and took a write. */
async function routesWrites(o: RawOptions): Promise<true | string> {
    const c = new Client({
        host: "127.0.0.1",
        port: rawPorts(o).rw,
        user: "postgres",
        password: RAW_SUPERUSER_PASSWORD,
        database: "postgres",
        connectionTimeoutMillis: 2000,
        query_timeout: 5000,
    });
    c.on("error", () => undefined);
    try {
        await c.connect();
        const r = await c.query("SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'");
        const streaming = (r.rows[0] as { n: number }).n;
        if (streaming < NODES.length - 1) return `${streaming} replicas streaming`;
        await c.query("CREATE TABLE IF NOT EXISTS raw_up (at timestamptz); INSERT INTO raw_up VALUES (now())");
        return true;
    } catch (err) {
        return (err as Error).message;
    } finally {
        await c.end().catch(() => undefined);
    }
}

async function rawUpOnce(o: RawOptions): Promise<number> {
    const { rw, ro } = rawPorts(o);
    await waitPortsFree([rw, ro]);
    const started = performance.now();
    await execOrFail(["docker", "network", "create", "--subnet", o.subnet, `${o.prefix}-net`], BENCH_TIMEOUT_MS);
    // All at once, as a compose file would: Patroni waits for etcd by itself, HAProxy's checks for Patroni.
    await Promise.all(
        [...NODES.map((n) => etcdArgv(o, n)), ...NODES.map((n) => patroniArgv(o, n)), haproxyArgv(o)].map((argv) =>
            execOrFail(argv, BENCH_TIMEOUT_MS),
        ),
    );
    await waitFor(
        `${o.prefix}: leader, 2 replicas streaming, a write through HAProxy`,
        120_000,
        () => routesWrites(o),
        100,
    );
    return performance.now() - started;
}

/** Nothing -> a leader, every replica streaming and HAProxy routing writes. Returns the wall time in ms. */
export async function rawUp(o: RawOptions, log?: (line: string) => void): Promise<number> {
    return onceMoreOnPortClash(
        o.prefix,
        () => rawUpOnce(o),
        () => rawDown(o.prefix),
        log,
    );
}

/** `docker rm -f` of every container, then its volumes and network. Returns the wall time in ms. */
export async function rawDown(prefix: string): Promise<number> {
    const started = performance.now();
    await execProgram(["docker", "rm", "-f", ...rawContainers(prefix)], 60_000);
    await execProgram(["docker", "volume", "rm", "-f", ...rawVolumes(prefix)], 60_000);
    await execProgram(["docker", "network", "rm", `${prefix}-net`], BENCH_TIMEOUT_MS);
    return performance.now() - started;
}
