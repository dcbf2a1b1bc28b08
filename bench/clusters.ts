// The two clusters every case compares: ours (the Pulumi program, deployed by the live harness) and a
// bare lower bound on the same image (docker run, trust auth, pg_basebackup, no checks).
import { harnessArgv } from "../harness";
import { execOrFail, execProgram, psql } from "../ops/cluster-discovery";
import { DEFAULT_ENGINE, engineArgv } from "../ops/engines";
import { readLogin, SuperuserLogin } from "../ops/login";
import { waitFor } from "../ops/ops";
import { BENCH_TIMEOUT_MS, IMAGE, removeByPrefix, ROOT, waitPortsFree } from "./host";

/** synchronous_standby_names + synchronous_commit on the primary. */
export interface SyncSetting {
    label: string;
    standbyNames: string;
    commit: "on" | "remote_write" | "remote_apply";
}

export const SYNC_SETTINGS: SyncSetting[] = [
    { label: "async", standbyNames: "", commit: "on" },
    { label: "sync any 1", standbyNames: "ANY 1 (pg2, pg3)", commit: "on" },
    { label: "sync first 1", standbyNames: "FIRST 1 (pg2, pg3)", commit: "on" },
    { label: "any 1 remote_write", standbyNames: "ANY 1 (pg2, pg3)", commit: "remote_write" },
    { label: "any 1 remote_apply", standbyNames: "ANY 1 (pg2, pg3)", commit: "remote_apply" },
];

export interface Cluster {
    kind: "ours" | "bare";
    /** Stack name (ours) or name prefix (bare): every Docker object is named `${name}-…`. */
    name: string;
    network: string;
    replicas: number;
    password?: string;
    container(node: number): string;
    ip(node: number): string;
    hostPort(node: number): number;
}

const REPLICAS = 2;

/** How the bench logs in to a cluster's published ports: ours from its outputs (with its CA under tls required), bare with trust. */
export function clusterLogin(c: Cluster): SuperuserLogin {
    return c.kind === "ours" ? readLogin({ stack: c.name, live: true }) : { password: c.password ?? "" };
}

function subnetHost(subnet: string, host: number): string {
    return subnet.replace(/\.0\/24$/, `.${host}`);
}

// ---------------------------------------------------------------- ours, through the live harness

export interface OursOptions {
    stack: string;
    subnet: string;
    portBase: number;
    pooler: boolean;
    extra?: string[];
}

export function oursCluster(o: OursOptions): Cluster {
    return {
        kind: "ours",
        name: o.stack,
        network: `${o.stack}-net`,
        replicas: REPLICAS,
        password: "bench-super-pw",
        container: (n) => `${o.stack}-pg${n}`,
        ip: (n) => subnetHost(o.subnet, 10 + n),
        hostPort: (n) => o.portBase + n - 1,
    };
}

export function oursConfig(o: OursOptions): string[] {
    return [
        `image=${IMAGE}`,
        "pullImage=false",
        `subnet=${o.subnet}`,
        `hostPortBase=${o.portBase}`,
        "superuserPassword=bench-super-pw",
        "replicationPassword=bench-repl-pw",
        `replicas=${REPLICAS}`,
        `pooler=${o.pooler}`,
        ...(o.extra ?? []),
    ];
}

/** The live harness CLI, as `npm run live` runs it (without npm's own start-up). */
export function liveArgv(args: string[]): string[] {
    return harnessArgv(args);
}

/** The live harness's slowest resource lines (`  created   TYPE   NAME (1.2s)`), slowest first. */
export function slowestResources(stderr: string, n: number): Array<{ action: string; name: string; seconds: number }> {
    const rows: Array<{ action: string; name: string; seconds: number }> = [];
    for (const line of stderr.split("\n")) {
        const m = /^ {2}(created|replaced|updated|deleted|unchanged|failed)\s+\S+\s+(.+?) \(([0-9.]+)s\)\s*$/.exec(
            line,
        );
        if (m) rows.push({ action: m[1], name: m[2], seconds: Number(m[3]) });
    }
    return rows.sort((a, b) => b.seconds - a.seconds).slice(0, n);
}

function logSlowest(stderr: string, log?: (line: string) => void): void {
    if (!log) return;
    const top = slowestResources(stderr, 5);
    if (top.length) log(`      slowest resources: ${top.map((r) => `${r.action} ${r.name} ${r.seconds}s`).join("; ")}`);
}

/** `npm run live -- up`: nothing -> verified cluster. Returns the wall time in ms. */
export async function oursUp(o: OursOptions, log?: (line: string) => void): Promise<number> {
    for (let attempt = 1; ; attempt++) {
        await waitPortsFree(Array.from({ length: 13 }, (_, i) => o.portBase + i));
        const res = await execProgram(
            liveArgv(["up", "--stack", o.stack, ...oursConfig(o).flatMap((c) => ["--config", c])]),
            170_000,
            { cwd: ROOT },
        );
        if (res.code === 0) {
            logSlowest(res.stderr, log);
            return res.ms;
        }
        if (attempt === 1 && isPortClash(res.stderr)) {
            log?.(
                `      ${o.stack}: a host port was taken between the check and the container start (${portClash(res.stderr)}); tearing down and retrying once, the failed attempt is not counted`,
            );
            await execProgram(liveArgv(["down", "--stack", o.stack]), 120_000, { cwd: ROOT });
            await removeByPrefix(`${o.stack}-`);
            continue;
        }
        throw new Error(`live up --stack ${o.stack} exited ${res.code}: ${res.stderr.trim().slice(-1500)}`);
    }
}

/** Host ports 50432+ lie in Linux's ephemeral range (32768-60999): any outgoing connection on this machine
 *  can hold one as its source port for a moment, and a container publishing it then fails to start. */
export function isPortClash(stderr: string): boolean {
    return /bind: address already in use/.test(stderr);
}

function portClash(stderr: string): string {
    return /listen tcp4? ([0-9.:]+): bind: address already in use/.exec(stderr)?.[1] ?? "address already in use";
}

/**
 * `npm run live -- up` again, with the same config, of a stack `oursUp` just deployed: what one deployment
 * costs before any work (the SDK's start, refresh, preview, the program's invokes), issue 20's no-op bound.
 * Returns the wall time in ms; throws unless the deployment changed nothing.
 */
export async function oursNoopUp(o: OursOptions): Promise<number> {
    const res = await execOrFail(
        liveArgv(["up", "--stack", o.stack, ...oursConfig(o).flatMap((c) => ["--config", c])]),
        170_000,
        { cwd: ROOT },
    );
    const summary = /^Resources: .*$/m.exec(res.stderr)?.[0] ?? "(no summary line)";
    if (!/\b0 created, 0 replaced, 0 updated, 0 deleted\b/.test(summary))
        throw new Error(`live up --stack ${o.stack} of a deployed stack changed something: ${summary}`);
    return res.ms;
}

export async function oursDown(stack: string, log?: (line: string) => void): Promise<number> {
    const res = await execOrFail(liveArgv(["down", "--stack", stack]), 120_000, { cwd: ROOT });
    logSlowest(res.stderr, log);
    return res.ms;
}

// ---------------------------------------------------------------- bare lower bound

export interface BareOptions {
    prefix: string;
    subnet: string;
    portBase: number;
}

export function bareCluster(o: BareOptions): Cluster {
    return {
        kind: "bare",
        name: o.prefix,
        network: `${o.prefix}-net`,
        replicas: REPLICAS,
        container: (n) => `${o.prefix}-pg${n}`,
        ip: (n) => subnetHost(o.subnet, 10 + n),
        hostPort: (n) => o.portBase + n - 1,
    };
}

const PRIMARY_SCRIPT = `initdb -D "$PGDATA" -A trust -U postgres >/dev/null
printf 'host all all 0.0.0.0/0 trust\\nhost replication all 0.0.0.0/0 trust\\n' >> "$PGDATA/pg_hba.conf"
exec postgres -c listen_addresses='*' -c cluster_name=pg1`;

/**
 * The bare primary with TLS on every network connection, as ours has across hosts: a self-signed
 * ECDSA P-256 certificate (ours: @pulumi/tls, the same curve), `hostssl` lines only, TLS 1.3 at least.
 */
const PRIMARY_TLS_SCRIPT = `initdb -D "$PGDATA" -A trust -U postgres >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bare-pg1 \\
    -keyout "$PGDATA/server.key" -out "$PGDATA/server.crt" 2>/dev/null
chmod 600 "$PGDATA/server.key"
printf 'hostssl all all 0.0.0.0/0 trust\\nhostssl replication all 0.0.0.0/0 trust\\n' >> "$PGDATA/pg_hba.conf"
exec postgres -c listen_addresses='*' -c cluster_name=pg1 -c ssl=on -c ssl_min_protocol_version=TLSv1.3`;

function replicaScript(primaryIp: string, node: number, tls = false): string {
    // With TLS the connection string reaches primary_conninfo (-R): the standby streams over TLS too.
    const source = tls ? `-d "host=${primaryIp} user=postgres sslmode=require"` : `-h ${primaryIp} -U postgres`;
    return `until pg_basebackup ${source} -D "$PGDATA" -R -X stream -c fast 2>/dev/null; do rm -rf "$PGDATA"; sleep 0.1; done
exec postgres -c listen_addresses='*' -c cluster_name=pg${node}`;
}

/** docker run of a primary and two replicas cloned with pg_basebackup; done when the primary has one
 *  streaming pg_stat_replication row per replica. Returns the wall time in ms. */
export async function bareUp(o: BareOptions, log?: (line: string) => void): Promise<number> {
    return onceMoreOnPortClash(
        o.prefix,
        () => bareUpOnce(o),
        () => bareDown(o.prefix),
        log,
    );
}

/**
 * Runs a bring-up of the `docker run` kind; when a host port was taken between the check and the start
 * (isPortClash), removes what it made and runs it once more, saying so. Returns the counted attempt's ms.
 */
export async function onceMoreOnPortClash(
    prefix: string,
    up: () => Promise<number>,
    remove: () => Promise<unknown>,
    log?: (line: string) => void,
): Promise<number> {
    try {
        return await up();
    } catch (err) {
        if (!isPortClash((err as Error).message)) throw err;
        log?.(
            `      ${prefix}: a host port was taken (${portClash((err as Error).message)}); removing and retrying once, the failed attempt is not counted`,
        );
        await remove();
        return up();
    }
}

async function bareUpOnce(o: BareOptions): Promise<number> {
    const c = bareCluster(o);
    await waitPortsFree([1, 2, 3].map((n) => c.hostPort(n)));
    const started = performance.now();
    await execOrFail(["docker", "network", "create", "--subnet", o.subnet, c.network], BENCH_TIMEOUT_MS);
    await runBareNodes(c, (n) => ({
        engine: DEFAULT_ENGINE,
        flags: ["--network", c.network, "--ip", c.ip(n), "-p", `127.0.0.1:${c.hostPort(n)}:5432`],
    }));
    return performance.now() - started;
}

/**
 * `docker run` of a bare cluster's primary (node 1: initdb, trust), then of its replicas (pg_basebackup
 * from node 1's address), each on the engine and with the network flags `where(n)` gives; done when every
 * replica streams.
 */
export async function runBareNodes(
    c: Cluster,
    where: (n: number) => { engine: string; flags: string[] },
    /** TLS on every network connection (clients and replication). @default false */
    tls = false,
): Promise<void> {
    const run = (n: number, script: string) =>
        execOrFail(
            engineArgv(where(n).engine, [
                "run",
                "-d",
                "--name",
                c.container(n),
                ...where(n).flags,
                "--user",
                "postgres",
                IMAGE,
                "sh",
                "-c",
                script,
            ]),
            BENCH_TIMEOUT_MS,
        );
    await run(1, tls ? PRIMARY_TLS_SCRIPT : PRIMARY_SCRIPT);
    await Promise.all(Array.from({ length: c.replicas }, (_, i) => run(i + 2, replicaScript(c.ip(1), i + 2, tls))));
    await replicasStreaming(c);
}

/** Waits (90 s at most) until the primary, node 1, has one streaming pg_stat_replication row per replica. */
export async function replicasStreaming(c: Cluster): Promise<void> {
    await waitFor(
        `${c.name} streaming`,
        90_000,
        async () => {
            const streaming = await psql(
                c.container(1),
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
            );
            return streaming === String(c.replicas) || `${streaming} of ${c.replicas} replicas streaming`;
        },
        100,
    );
}

export async function bareDown(prefix: string): Promise<number> {
    const started = performance.now();
    const c = bareCluster({ prefix, subnet: "0.0.0.0/24", portBase: 0 });
    await execProgram(["docker", "rm", "-f", "-v", c.container(1), c.container(2), c.container(3)], 60_000);
    await execProgram(["docker", "network", "rm", c.network], BENCH_TIMEOUT_MS);
    return performance.now() - started;
}

// ---------------------------------------------------------------- both

/** Applies a synchronous setting with ALTER SYSTEM + reload on the primary (pg1), and waits until
 *  pg_stat_replication shows it. */
export async function applySync(c: Cluster, s: SyncSetting): Promise<void> {
    const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;
    await psql(c.container(1), `ALTER SYSTEM SET synchronous_standby_names = ${quote(s.standbyNames)}`);
    await psql(c.container(1), `ALTER SYSTEM SET synchronous_commit = ${quote(s.commit)}`);
    await psql(c.container(1), "SELECT pg_reload_conf()");
    const want =
        s.standbyNames === ""
            ? ["async", "async"]
            : s.standbyNames.startsWith("ANY")
              ? ["quorum", "quorum"]
              : ["potential", "sync"];
    await waitFor(
        `${c.name}: ${s.label} in effect`,
        30_000,
        async () => {
            const states = (
                await psql(
                    c.container(1),
                    "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming' ORDER BY sync_state",
                )
            ).split("\n");
            const commit = await psql(c.container(1), "SHOW synchronous_commit");
            return (
                (JSON.stringify(states) === JSON.stringify(want) && commit === s.commit) ||
                `${states.join(",")} ${commit}`
            );
        },
        100,
    );
}

export async function containerIp(name: string): Promise<string> {
    const res = await execOrFail(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
        BENCH_TIMEOUT_MS,
    );
    return res.stdout.trim();
}

/** The port inside a container that is published on the host (e.g. PgBouncer's listen_port). */
export async function containerPort(name: string): Promise<number> {
    const res = await execOrFail(["docker", "port", name], BENCH_TIMEOUT_MS);
    const m = /^(\d+)\/tcp/m.exec(res.stdout);
    if (!m) throw new Error(`${name} publishes no TCP port: ${res.stdout}`);
    return Number(m[1]);
}
