// Finds a stack's PostgreSQL nodes through Docker and asks them who is primary. Shared by the
// operational scripts (lag, failover, …): it needs only the Docker CLI, never a password, because
// every query runs as the postgres OS user over the container's local socket (peer auth).
import { spawn } from "child_process";
import { CLUSTER_LABEL, ETCD_LABEL, NODE_LABEL, TLS_LABEL } from "../model/labels";
import {
    containersOn,
    DEFAULT_ENGINE,
    describeEngine,
    dockerArgv,
    engineArgv,
    engineOf,
    stackEngines,
} from "./engines";

export { CLUSTER_LABEL, ETCD_LABEL, NODE_LABEL };

/** Stack names as the live harness and Pulumi accept them; anything else cannot have containers. */
const STACK_NAME = /^[a-zA-Z0-9_.-]+$/;

/** The cluster cannot be read: no Docker, no containers, no primary, split brain, a failed query. */
export class DiscoveryError extends Error {}

/** One node of the stack as Docker and PostgreSQL see it. */
export interface ClusterNode {
    /** Node name from the container's label: pg1 … pgN. */
    node: string;
    /** Docker container name. */
    container: string;
    /** Whether the container is running (not paused, restarting or stopped): SQL can be sent to it. */
    running: boolean;
    /** Docker's state: running, paused, restarting, exited, created, dead or removing. */
    state: string;
    /** pg_is_in_recovery(); null when the container is stopped or the server did not answer. */
    inRecovery: boolean | null;
    /** Why inRecovery is null for a running container (the server is starting, crashed, …). */
    error?: string;
}

/** A stack's nodes, in node order, and the one that accepts writes. */
export interface ClusterView {
    stack: string;
    nodes: ClusterNode[];
    primary: ClusterNode;
}

/** What a finished program said. */
export interface ExecResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** What a finished program said, and how long it ran (wall time). */
export interface TimedExecResult extends ExecResult {
    ms: number;
}

/** How to run a program: what it reads on stdin, where, with which environment. */
export interface ExecOptions {
    /** Fed to the program's stdin; without it the program reads end-of-file at once, as from /dev/null. */
    stdin?: string;
    /** @default this process's working directory */
    cwd?: string;
    /** @default this process's environment */
    env?: NodeJS.ProcessEnv;
}

/**
 * Runs a program without a shell (arguments are never re-parsed) and collects its output. Kills it
 * after `timeoutMs`: a hung `docker exec` must not hang a monitoring loop. Rejects only when the
 * program cannot be started (e.g. no docker binary); a non-zero exit is a normal result.
 */
export function execProgram(argv: string[], timeoutMs = 20_000, opts: ExecOptions = {}): Promise<TimedExecResult> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { stdio: "pipe", cwd: opts.cwd, env: opts.env });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
        }, timeoutMs);
        child.stdout.on("data", (c: Buffer) => out.push(c));
        child.stderr.on("data", (c: Buffer) => err.push(c));
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(new DiscoveryError(`cannot run ${argv[0]}: ${e.message}`));
        });
        child.stdin.on("error", () => undefined);
        child.stdin.end(opts.stdin ?? "");
        child.on("close", (code) => {
            clearTimeout(timer);
            const stderr = Buffer.concat(err).toString("utf8") + (timedOut ? `\n(killed after ${timeoutMs} ms)` : "");
            resolve({
                code: code ?? 1,
                stdout: Buffer.concat(out).toString("utf8"),
                stderr,
                ms: performance.now() - started,
            });
        });
    });
}

/** {@link execProgram}, failing with the program's last output when it exits non-zero. */
export async function execOrFail(argv: string[], timeoutMs?: number, opts?: ExecOptions): Promise<TimedExecResult> {
    const res = await execProgram(argv, timeoutMs, opts);
    if (res.code !== 0)
        throw new Error(
            `${argv.slice(0, 6).join(" ")} … exited ${res.code}: ${(res.stderr || res.stdout).trim().slice(-1500)}`,
        );
    return res;
}

/** Natural order of node names: pg2 before pg10. */
export function compareNodes(a: string, b: string): number {
    const num = (s: string) => Number(/(\d+)$/.exec(s)?.[1] ?? Number.NaN);
    const [na, nb] = [num(a), num(b)];
    if (!Number.isNaN(na) && !Number.isNaN(nb) && na !== nb) return na - nb;
    return a < b ? -1 : a > b ? 1 : 0;
}

/** Go template for `docker ps --format`: tab-separated name, state and node label. */
export const PS_FORMAT = `{{.Names}}\t{{.State}}\t{{.Label "${NODE_LABEL}"}}`;

/** A node as Docker lists it. */
export type ListedNode = Pick<ClusterNode, "node" | "container" | "running" | "state" | "error">;

/** Parses `docker ps --format PS_FORMAT` output; containers without a node label are not nodes. */
export function parseDockerPs(text: string): ListedNode[] {
    return text
        .split("\n")
        .map((line) => line.trim().split("\t"))
        .filter((f) => f.length === 3 && f[0] !== "" && f[2] !== "")
        .map(([container, state, node]) => ({ node, container, running: state === "running", state }))
        .sort((a, b) => compareNodes(a.node, b.node));
}

/**
 * Whether Docker says the container certainly runs no server: exited, created (never started), dead or
 * being removed. A paused or restarting container may serve writes again at any moment.
 */
export function certainlyStopped(n: Pick<ClusterNode, "state">): boolean {
    return ["exited", "created", "dead", "removing"].includes(n.state);
}

/**
 * Nodes whose role cannot be told: not certainly stopped, yet no answer to pg_is_in_recovery(). A
 * decision about who is primary must not read them as "not primary" (one may be a second primary).
 */
export function unknownRoles(nodes: ClusterNode[]): ClusterNode[] {
    return nodes.filter((n) => !certainlyStopped(n) && n.inRecovery === null);
}

/** What to check about a node of unknown role, with the exact commands that settle it. */
export function unknownRoleHint(n: Pick<ClusterNode, "node" | "container" | "state" | "error">): string {
    const c = n.container;
    if (n.state === UNREACHABLE_STATE)
        return `${n.node} (${c}) cannot be reached: ${n.error ?? "its Docker engine does not answer"}; it may still run and accept writes`;
    if (n.state === "paused")
        return `${n.node} (${c}) is paused: docker unpause ${c} lets it answer, docker stop ${c} takes it out of the cluster`;
    return (
        `${n.node} (${c}) is ${n.state} but does not answer pg_is_in_recovery() (${n.error ?? "no answer"}): ` +
        `read docker logs --tail 50 ${c}, and docker stop ${c} if it must stay out of the cluster`
    );
}

/** "pg1", "pg1 and pg2", "pg1, pg2 and pg3". */
function joinNames(names: string[]): string {
    return names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/** The one running node not in recovery; a clear error when there is none or more than one. */
export function pickPrimary(stack: string, nodes: ClusterNode[]): ClusterNode {
    const writable = nodes.filter((n) => n.running && n.inRecovery === false);
    if (writable.length > 1) {
        const names = writable.map((n) => n.node);
        throw new DiscoveryError(
            `split brain: ${joinNames(names)} ${names.length === 2 ? "both" : "all"} accept writes (stack ${stack})`,
        );
    }
    const unknown = unknownRoles(nodes);
    if (unknown.length > 0) {
        throw new DiscoveryError(
            `cannot tell which node of stack ${stack} is primary: ${unknown.map(unknownRoleHint).join("; ")}`,
        );
    }
    if (writable.length === 0) {
        const why = nodes.map((n) => (!n.running ? `${n.node} not running` : `${n.node} in recovery`));
        throw new DiscoveryError(`no primary in stack ${stack}: ${why.join(", ")}`);
    }
    return writable[0];
}

/**
 * Runs SQL with psql on a node, as the postgres OS user over the local socket (peer auth: no
 * password). The SQL goes in on stdin, as a script: one statement or several, each in its own
 * transaction (so ALTER SYSTEM may follow another statement), stopping at the first error. Returns
 * psql's unaligned, tuples-only output without the final newline.
 */
export async function psql(container: string, sql: string, timeoutMs?: number): Promise<string> {
    const res = await execProgram(
        // PGAPPNAME makes these sessions recognisable in pg_stat_activity.
        dockerArgv(container, [
            "exec",
            "-i",
            "-u",
            "postgres",
            "-e",
            "PGAPPNAME=pg-replication-scripts",
            container,
            "psql",
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            "postgres",
            "-f",
            "-",
        ]),
        timeoutMs,
        { stdin: sql },
    );
    if (res.code !== 0) {
        throw new DiscoveryError(
            `psql on ${container} failed (exit ${res.code}): ${res.stderr.trim() || res.stdout.trim()}`,
        );
    }
    return res.stdout.replace(/\n$/, "");
}

/**
 * Runs a query that returns exactly one JSON value (one row, one column) and parses it. The type
 * parameter is the query's contract, not checked at run time: callers own both sides.
 */
export async function psqlJson<T = unknown>(container: string, sql: string, timeoutMs?: number): Promise<T> {
    const text = await psql(container, sql, timeoutMs);
    try {
        return JSON.parse(text) as T;
    } catch {
        throw new DiscoveryError(
            `psql on ${container} did not return one JSON value: ${JSON.stringify(text.slice(0, 200))}`,
        );
    }
}

/** Runs a SELECT and returns its rows as JSON objects (column name → value); [] when it has none. */
export function psqlRows<T = Record<string, unknown>>(container: string, select: string): Promise<T[]> {
    return psqlJson<T[]>(container, `SELECT coalesce(json_agg(t), '[]') FROM (${select}) t`);
}

/** A node as SQL is sent to it. */
export type NodeRef = Pick<ClusterNode, "node" | "container">;

/**
 * How a command sends SQL to a node: `docker exec … psql` (no password, {@link dockerSql}) or an
 * open connection over the node's published port (ops/node-sessions.ts), which costs
 * milliseconds where a `docker exec` costs 0.1-1.7 s (idle to loaded machine).
 */
export interface SqlRunner {
    /** A SELECT's rows as objects (column name → value). */
    rows<T = Record<string, unknown>>(n: NodeRef, select: string, timeoutMs?: number): Promise<T[]>;
    /**
     * Runs `statements` in order in one session, each on its own (ALTER SYSTEM cannot run in a
     * transaction block), stopping at the first error. One statement per element: over a connection
     * an element with several statements runs as one implicit transaction. Returns the last statement's first value as
     * psql prints it (`t` for true), or "" when it returned no row.
     */
    exec(n: NodeRef, statements: string[], timeoutMs?: number): Promise<string>;
}

/** SQL through `docker exec … psql` as the postgres OS user (peer auth: no password). */
export const dockerSql: SqlRunner = {
    rows: <T>(n: NodeRef, select: string, timeoutMs?: number) =>
        psqlJson<T[]>(n.container, `SELECT coalesce(json_agg(t), '[]') FROM (${select}) t`, timeoutMs),
    exec: async (n, statements, timeoutMs) => {
        // One script on stdin: one docker exec for all of them, each statement in its own transaction.
        // The terminator on a line of its own survives a statement ending in a -- comment; the marker
        // separates the last statement's output from what the others printed.
        const marker = "__pg_replication_last_statement__";
        const head = statements.slice(0, -1).map((st) => `${st}\n;`);
        const script = [...head, `\\echo ${marker}`, `${statements[statements.length - 1] ?? ""}\n;`].join("\n");
        const out = (await psql(n.container, script, timeoutMs)).split("\n");
        return out[out.indexOf(marker) + 1] ?? "";
    },
};

/** How discovery runs `docker ps` (tests pass a fake; {@link execProgram} otherwise). */
export type DockerExec = (argv: string[], timeoutMs?: number) => Promise<ExecResult>;

/**
 * Docker's state for a container on an engine that did not answer: it may run (and accept writes),
 * so it is never {@link certainlyStopped}; its `error` names the engine and what it said.
 */
export const UNREACHABLE_STATE = "unreachable";

/** An engine that did not answer `docker ps`, and what it said. */
interface EngineFailure {
    engine: string;
    error: string;
}

/** What the stack's engines listed: their lines, merged, and the engines that did not answer. */
interface StackListing {
    lines: string;
    failed: EngineFailure[];
}

/** `docker ps -a` on `engine` of the containers labelled with the stack, one `format` line each. */
function psArgv(engine: string, stack: string, format: string): string[] {
    return engineArgv(engine, ["ps", "-a", "--filter", `label=${CLUSTER_LABEL}=${stack}`, "--format", format]);
}

/** One engine's `docker ps -a` of the stack's containers: its lines, or why it did not answer. */
async function engineContainers(
    engine: string,
    stack: string,
    format: string,
    exec: DockerExec,
): Promise<string | EngineFailure> {
    try {
        const res = await exec(psArgv(engine, stack, format));
        if (res.code === 0) return res.stdout;
        return { engine, error: `docker ps exited ${res.code}: ${res.stderr.trim()}` };
    } catch (err) {
        return { engine, error: (err as Error).message };
    }
}

/**
 * `docker ps -a` of the containers labelled with the stack on every engine of the stack (ops/engines.ts),
 * in parallel, one `format` line each. With one engine (no engine map) its failure is the error, as
 * before engines; with several, the engines that did not answer are returned, unless none did.
 */
async function stackContainers(stack: string, format: string, exec: DockerExec): Promise<StackListing> {
    if (!STACK_NAME.test(stack)) throw new DiscoveryError(`invalid stack name ${JSON.stringify(stack)}`);
    const engines = stackEngines();
    if (engines.length === 1 && engines[0] === DEFAULT_ENGINE) {
        const res = await exec(psArgv(DEFAULT_ENGINE, stack, format));
        if (res.code !== 0) {
            throw new DiscoveryError(
                `cannot list containers: docker ps exited ${res.code}: ${res.stderr.trim()} ` +
                    "(is a Docker engine running? bash scripts/start-docker.sh starts one)",
            );
        }
        return { lines: res.stdout, failed: [] };
    }
    const answers = await Promise.all(engines.map((e) => engineContainers(e, stack, format, exec)));
    const failed = answers.filter((a): a is EngineFailure => typeof a !== "string");
    if (failed.length === answers.length) {
        throw new DiscoveryError(
            `cannot list containers on any Docker engine of stack ${stack}: ` +
                failed.map((f) => `${describeEngine(f.engine)}: ${f.error}`).join("; "),
        );
    }
    const lines = answers.filter((a): a is string => typeof a === "string");
    return { lines: lines.map((l) => l.replace(/\n?$/, "\n")).join(""), failed };
}

/**
 * The stack's containers of kind `pattern` (after `<stack>-`) that the engine map places on an engine
 * that did not answer and no engine listed: name, what is after the prefix, and the engine's failure.
 */
function unlistedOnFailed(
    stack: string,
    pattern: RegExp,
    listing: StackListing,
): Array<{ container: string; name: string; failure: EngineFailure }> {
    const listed = new Set(listing.lines.split("\n").map((l) => l.split("\t")[0]));
    return listing.failed.flatMap((failure) =>
        containersOn(failure.engine)
            .filter((c) => c.startsWith(`${stack}-`) && pattern.test(c.slice(stack.length + 1)) && !listed.has(c))
            .map((container) => ({ container, name: container.slice(stack.length + 1), failure })),
    );
}

/** The nodes the engine map places on engines that did not answer, as {@link UNREACHABLE_STATE}. */
function unreachableNodes(stack: string, listing: StackListing): ListedNode[] {
    return unlistedOnFailed(stack, /^pg[0-9]+$/, listing).map(({ container, name, failure }) => ({
        node: name,
        container,
        running: false,
        state: UNREACHABLE_STATE,
        error: `${describeEngine(failure.engine)} does not answer (${failure.error})`,
    }));
}

/** The listed nodes and the ones on engines that did not answer, in node order. */
function mergedNodes(stack: string, listing: StackListing, listed: ListedNode[]): ListedNode[] {
    return [...listed, ...unreachableNodes(stack, listing)].sort((a, b) => compareNodes(a.node, b.node));
}

/** The containers labelled with the stack, in node order (running or not). */
export async function listNodes(stack: string, exec: DockerExec = execProgram): Promise<ListedNode[]> {
    const listing = await stackContainers(stack, PS_FORMAT, exec);
    return mergedNodes(stack, listing, parseDockerPs(listing.lines));
}

/** What a stack has on the engine: its nodes, and the failover mode its containers were made for. */
export interface StackInventory {
    nodes: ListedNode[];
    /**
     * `patroni` when any etcd member exists (running or not), `manual` when only nodes do, undefined
     * when the stack has no container. Read from Docker, not from the configuration: the
     * configuration is what is about to change.
     */
    failover: "manual" | "patroni" | undefined;
    /**
     * The `tls` policy the nodes were made for; `legacy` when any node predates the label (made by a
     * version without TLS); undefined without nodes.
     */
    tls: "required" | "off" | "legacy" | undefined;
}

/** The stack's nodes and deployed failover mode from one `docker ps` (the deployment guard runs it on every up). */
export async function stackInventory(stack: string, exec: DockerExec = execProgram): Promise<StackInventory> {
    const format = `${PS_FORMAT}\t{{.Label "${ETCD_LABEL}"}}\t{{.Label "${TLS_LABEL}"}}`;
    const listing = await stackContainers(stack, format, exec);
    const rows = listing.lines.split("\n").map((l) => l.split("\t"));
    // Nodes on an engine that did not answer count as nodes of unknown role; their tls label is unknown.
    const nodes = mergedNodes(stack, listing, parseDockerPs(rows.map((f) => f.slice(0, 3).join("\t")).join("\n")));
    const etcd =
        rows.some((f) => (f[3] ?? "").trim() !== "") || unlistedOnFailed(stack, /^etcd[0-9]+$/, listing).length > 0;
    const labels = rows.filter((f) => (f[2] ?? "").trim() !== "").map((f) => (f[4] ?? "").trim());
    const tls =
        labels.length === 0
            ? undefined
            : labels.some((l) => l === "")
              ? "legacy"
              : labels.includes("required")
                ? "required"
                : "off";
    return { nodes, failover: etcd ? "patroni" : nodes.length > 0 ? "manual" : undefined, tls };
}

/** A node with its WAL positions, as failover and switchover compare candidates. */
export interface ProbedNode extends ClusterNode {
    /** Last WAL position received from a primary (standbys), or the current position (primary). */
    receiveLsn: string | null;
    replayLsn: string | null;
    /** pg_stat_wal_receiver.status: "streaming" while a standby streams. */
    walReceiver: string | null;
}

/** Every node of the stack: running or not, in recovery or not, and where its WAL stands. */
export async function probeNodes(stack: string, sql: SqlRunner = dockerSql): Promise<ProbedNode[]> {
    const listed = await listNodes(stack);
    if (listed.length === 0) {
        throw new DiscoveryError(`no containers labelled ${CLUSTER_LABEL}=${stack}: is stack ${stack} up?`);
    }
    return probeListed(listed, sql);
}

/** Asks each listed node that runs whether it is in recovery and where its WAL stands. */
export function probeListed(listed: ListedNode[], sql: SqlRunner = dockerSql): Promise<ProbedNode[]> {
    return Promise.all(
        listed.map(async (n): Promise<ProbedNode> => {
            const blank = { ...n, inRecovery: null, receiveLsn: null, replayLsn: null, walReceiver: null };
            if (!n.running) return certainlyStopped(n) ? blank : { ...blank, error: n.error ?? `container ${n.state}` };
            try {
                const rows = await sql.rows<{
                    r: boolean;
                    receive: string | null;
                    replay: string | null;
                    wr: string | null;
                }>(
                    n,
                    "SELECT pg_is_in_recovery() AS r, " +
                        "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END::text AS receive, " +
                        "pg_last_wal_replay_lsn()::text AS replay, (SELECT status FROM pg_stat_wal_receiver) AS wr",
                );
                const row = rows[0];
                return { ...n, inRecovery: row.r, receiveLsn: row.receive, replayLsn: row.replay, walReceiver: row.wr };
            } catch (err) {
                return { ...blank, error: (err as Error).message };
            }
        }),
    );
}

/** Finds the stack's nodes, asks each running one whether it is in recovery, and picks the primary. */
export async function discoverCluster(stack: string): Promise<ClusterView> {
    const nodes = await probeNodes(stack);
    return { stack, nodes, primary: pickPrimary(stack, nodes) };
}

/** Engine address → host name, as the deployment hands them to its hooks (PGR_HOST_NAMES, infra/engines.ts); {} on one engine. */
export function hostNamesFromEnv(): Record<string, string> {
    try {
        return JSON.parse(process.env.PGR_HOST_NAMES ?? "{}") as Record<string, string>;
    } catch {
        return {};
    }
}

/**
 * Across hosts: why a deployment must stop when a node's host's engine does not answer, naming the
 * host (`hostNames`: engine → name); undefined when every node's engine answered. The deployment
 * guard runs it before anything is declared, so nothing changes on the hosts that answer.
 */
export function unreachableRefusal(
    cluster: string,
    nodes: ReadonlyArray<{ node: string; container: string; state: string; error?: string }>,
    hostNames: Record<string, string>,
): string | undefined {
    const lost = nodes.filter((n) => n.state === UNREACHABLE_STATE);
    if (lost.length === 0) return undefined;
    const hosts = [...new Set(lost.map((n) => hostNames[engineOf(n.container)] ?? engineOf(n.container)))];
    return (
        `pg-replication: refusing to deploy: the Docker engine of host ${hosts.join(", ")} does not answer ` +
        `(${lost.map((n) => `${n.node}: ${n.error ?? "unreachable"}`).join("; ")}). Nothing was changed on any host. ` +
        `Bring the host's engine back and deploy again (npm run live -- up --stack ${cluster}), or take the host out of pg-replication:hosts.\n`
    );
}
