// Re-points a running cluster's PgBouncer endpoints after a failover or switchover: rewrites each
// container's pgbouncer.ini in place (rendered by model/pooler-config.ts, so the file is the one
// `pulumi up` would upload for the new topology), reloads PgBouncer and makes sure no session stays
// on a server the endpoint no longer targets. Neither the pooler nor any PostgreSQL node restarts.
import {
    POOLER_OS_USER,
    POOLER_PATHS,
    POOLER_PORT,
    POOLER_ROLES,
    poolerContainerName,
    PoolerRole,
    poolerTargets,
    NodeHosts,
    renderPgBouncerIni,
} from "../model/pooler-config";
import { ExecResult, execProgram } from "./cluster-discovery";
import { dockerArgv } from "./engines";
import { pollUntil } from "./ops";

/** What a finished program said. */
export type RunResult = ExecResult;

/** Runs a program (argv[0] is `docker`); tests substitute a fake. */
export type Runner = (argv: string[], stdin?: string) => Promise<RunResult>;

/** Options of {@link repointPooler}. */
export interface RepointOptions {
    /** How long sessions on the old targets may run before their clients are killed. @default 5000 */
    drainTimeoutMs?: number;
    /** Runs the Docker CLI. @default child_process, `docker` on PATH */
    run?: Runner;
    /** Node name → address PgBouncer connects to; the same map `pulumi up` renders with. @default {} (names) */
    hosts?: NodeHosts;
}

/** What happened to one endpoint. */
export interface RepointResult {
    role: PoolerRole;
    container: string;
    /** The nodes the endpoint now sends new sessions to. */
    targets: string[];
    /** `console`: RELOAD on the admin console, drain checked; `sighup`: the image has no psql, reload not confirmed. */
    reload: "console" | "sighup";
    /** Clients killed because their session was still on an old target when the drain time was up. */
    killedClients: number;
}

/** Re-pointing failed; the message says which container and why. */
export class PoolerError extends Error {}

const runDocker: Runner = (argv, stdin) => execProgram(argv, 30_000, { stdin });

/** Rows of an admin console SHOW command, by column name. */
type Row = Record<string, string>;

class Endpoint {
    constructor(
        readonly container: string,
        private readonly run: Runner,
    ) {}

    async must(argv: string[], what: string, stdin?: string): Promise<RunResult> {
        const res = await this.run(argv, stdin);
        if (res.code !== 0)
            throw new PoolerError(`${this.container}: ${what} failed (exit ${res.code}): ${res.stderr.trim()}`);
        return res;
    }

    /** psql on the admin console, as the user PgBouncer runs as (peer login, no password). */
    console(command: string): Promise<RunResult> {
        const conn = ["-h", POOLER_PATHS.socketDir, "-p", String(POOLER_PORT), "-U", "pgbouncer", "-d", "pgbouncer"];
        const format = ["-X", "-q", "-A", "-F", "\t", "-P", "footer=off"];
        return this.run(
            dockerArgv(this.container, [
                "exec",
                "-u",
                POOLER_OS_USER,
                this.container,
                "psql",
                ...format,
                ...conn,
                "-c",
                command,
            ]),
        );
    }

    async show(what: "SERVERS" | "CLIENTS"): Promise<Row[]> {
        const res = await this.console(`SHOW ${what}`);
        if (res.code !== 0) throw new PoolerError(`${this.container}: SHOW ${what} failed: ${res.stderr.trim()}`);
        const [header, ...lines] = res.stdout.split("\n").filter((l) => l !== "");
        const names = (header ?? "").split("\t");
        return lines.map((l) => Object.fromEntries(l.split("\t").map((v, i) => [names[i], v])));
    }

    /** Server connections marked close_needed by the reload: still on a target the endpoint dropped. */
    async stale(): Promise<Row[]> {
        return (await this.show("SERVERS")).filter((s) => s.close_needed === "1");
    }
}

/** Waits until no stale server connection is left or the deadline passes; returns those left. */
async function drain(ep: Endpoint, deadline: number): Promise<Row[]> {
    let stale: Row[] = [];
    await pollUntil(deadline, async () => (stale = await ep.stale()).length === 0, 200, "throw");
    return stale;
}

async function repointOne(
    prefix: string,
    role: PoolerRole,
    ini: string,
    targets: string[],
    opts: Required<RepointOptions>,
): Promise<RepointResult> {
    const ep = new Endpoint(poolerContainerName(prefix, role), opts.run);
    // Written beside the old file and renamed over it, so PgBouncer never reads half a file.
    await ep.must(
        dockerArgv(ep.container, [
            "exec",
            "-i",
            ep.container,
            "sh",
            "-c",
            'set -eu; cat > "$1.new"; chmod 0644 "$1.new"; mv "$1.new" "$1"',
            "sh",
            POOLER_PATHS.ini,
        ]),
        `writing ${POOLER_PATHS.ini}`,
        ini,
    );
    const written = await ep.must(
        dockerArgv(ep.container, ["exec", ep.container, "cat", POOLER_PATHS.ini]),
        `reading ${POOLER_PATHS.ini} back`,
    );
    if (written.stdout !== ini)
        throw new PoolerError(`${ep.container}: ${POOLER_PATHS.ini} does not hold what was written`);

    const reload = await ep.console("RELOAD");
    if (reload.code !== 0) {
        // No psql in the image (docker exec says 126/127): SIGHUP is PgBouncer's RELOAD too.
        if (reload.code !== 126 && reload.code !== 127)
            throw new PoolerError(`${ep.container}: RELOAD failed: ${reload.stderr.trim()}`);
        await ep.must(dockerArgv(ep.container, ["kill", "-s", "HUP", ep.container]), "SIGHUP");
        return { role, container: ep.container, targets, reload: "sighup", killedClients: 0 };
    }
    // RELOAD marks server connections to the old target close_needed; server_fast_close closes
    // each as soon as its session is idle. Sessions still inside a transaction at the deadline are
    // killed: after a promotion they would otherwise keep using the old primary (or, on the
    // read-only endpoint, a node that now accepts writes).
    const left = await drain(ep, Date.now() + opts.drainTimeoutMs);
    let killed = 0;
    if (left.length > 0) {
        const clients = new Map((await ep.show("CLIENTS")).map((c) => [c.ptr, c.id]));
        for (const server of left) {
            const id = clients.get(server.link);
            if (id === undefined) continue;
            const res = await ep.console(`KILL_CLIENT ${id}`);
            if (res.code === 0) killed++;
        }
        const still = await drain(ep, Date.now() + 5000);
        if (still.length > 0)
            throw new PoolerError(
                `${ep.container}: ${still.length} server connection(s) to an old target did not close`,
            );
    }
    return { role, container: ep.container, targets, reload: "console", killedClients: killed };
}

/**
 * Points the running endpoints of cluster `prefix` at `primary` (read-write) and `replicas`
 * (read-only; the primary when empty), both at once.
 */
export async function repointPooler(
    prefix: string,
    primary: string,
    replicas: string[],
    options: RepointOptions = {},
): Promise<RepointResult[]> {
    const opts: Required<RepointOptions> = {
        drainTimeoutMs: options.drainTimeoutMs ?? 5000,
        run: options.run ?? runDocker,
        hosts: options.hosts ?? {},
    };
    const running = await Promise.all(
        POOLER_ROLES.map(async (role) => {
            const container = poolerContainerName(prefix, role);
            const res = await opts.run(dockerArgv(container, ["inspect", "-f", "{{.State.Running}}", container]));
            return res.code !== 0 ? "missing" : res.stdout.trim() === "true" ? "running" : "stopped";
        }),
    );
    // No pooler at all: the stack runs with pooler false, nothing to re-point.
    if (running.every((r) => r === "missing")) return [];
    const down = POOLER_ROLES.filter((_, i) => running[i] !== "running").map((role) =>
        poolerContainerName(prefix, role),
    );
    if (down.length > 0)
        throw new PoolerError(`${down.join(", ")}: pooler container is not running; re-create it with \`pulumi up\``);
    // Both endpoints at once: each is its own container, and the read-write one (what clients wait
    // for) no longer waits for the read-only one's drain.
    return Promise.all(
        POOLER_ROLES.map((role) =>
            repointOne(
                prefix,
                role,
                renderPgBouncerIni(role, primary, replicas, opts.hosts),
                poolerTargets(role, primary, replicas),
                opts,
            ),
        ),
    );
}
