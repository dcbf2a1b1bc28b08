import { Client, QueryResultRow } from "pg";
import {
    CheckEndpoint,
    CheckSpec,
    expectedPatroniRoles,
    expectedSyncStates,
    PatroniCheckSpec,
} from "../model/check-spec";
import { CLUSTER_ALIAS } from "../model/topology";
import { ARCHIVER_SQL, archiveTrouble, ArchiverState } from "./archive";
import { backupReady } from "./backups";
import { execProgram } from "./cluster-discovery";
import { etcdEndpointHealth, patroniRest, PatroniCluster } from "./patroni";
import { superuserClient, SuperuserLogin } from "./login";
import { expiryVerdict, peerCertificateEnd } from "./certificates";
import { upCommand } from "./stack-backends";

/** One check's outcome. */
export interface CheckResult {
    check: string;
    node: string;
    ok: boolean;
    detail: string;
    ms: number;
}

/** The checks' JSON report. */
export interface CheckReport {
    ok: boolean;
    primary: string;
    replicas: string[];
    syncMode: string;
    checks: CheckResult[];
    durationMs: number;
    /** When the checks started (ISO 8601): under Patroni, when `primary` was read. */
    checkedAt: string;
}

/** Thrown when a check fails: names the check and the node. */
export class CheckFailure extends Error {
    constructor(
        public readonly result: CheckResult,
        public readonly report: CheckReport,
    ) {
        super(`check ${result.check} failed on ${result.node}: ${result.detail}`);
    }
}

async function connect(ep: CheckEndpoint, login: SuperuserLogin): Promise<Client> {
    const client = new Client({
        ...superuserClient(login, ep.host, ep.port),
        connectionTimeoutMillis: 5000,
        // No check may hang: a statement that cannot finish (e.g. a commit waiting for synchronous
        // standbys that are not there) fails the check instead. Client-side, because PgBouncer
        // refuses statement_timeout as a startup parameter.
        query_timeout: 20_000,
        application_name: "pg-replication-checks",
    });
    await client.connect();
    return client;
}

/** Polls `probe` until it returns a string starting with "ok" or the deadline passes. */
async function until(deadline: number, probe: () => Promise<string | true>): Promise<string | true> {
    let last: string | true;
    for (;;) {
        try {
            last = await probe();
        } catch (err) {
            last = (err as Error).message;
        }
        if (last === true || Date.now() >= deadline) return last;
        await new Promise((r) => setTimeout(r, 250));
    }
}

/**
 * What is wrong with Patroni's member list for the configured nodes, or undefined: each configured
 * node registered, and the leader one of them. Members beyond them are the ones a scale-down removes
 * (the deployment deletes them after the checks), so they are no fault; a leader among them is: the
 * deletion would take the primary away, so a switchover must come first.
 */
export function membershipProblem(cluster: PatroniCluster, configured: string[], stack: string): string | undefined {
    const leader = cluster.members.find((m) => m.role === "leader");
    if (leader && !configured.includes(leader.name))
        return (
            `the leader ${leader.name} is not among the configured nodes (${configured.join(", ")}): this deployment would ` +
            `remove it; move the role first: npm run switchover -- --stack ${stack} --to ${configured[0]} (add --live for a live-harness stack)`
        );
    const missing = configured.filter((n) => !cluster.members.some((m) => m.name === n));
    if (missing.length > 0)
        return `${configured.length - missing.length} of ${configured.length} members registered (missing: ${missing.join(", ")})`;
    return undefined;
}

/**
 * A running container's address on `network`: "" when it is not connected; undefined when it cannot
 * be inspected or is not running (a stopped container has no address on any network).
 */
async function addressOn(container: string, network: string): Promise<string | undefined> {
    const res = await execProgram(
        ["docker", "inspect", "-f", "{{.State.Running}} {{json .NetworkSettings.Networks}}", container],
        15_000,
    );
    if (res.code !== 0 || !res.stdout.startsWith("true ")) return undefined;
    const networks = JSON.parse(res.stdout.slice("true ".length)) as Record<string, { IPAddress?: string }> | null;
    return networks?.[network]?.IPAddress ?? "";
}

/** Why node `n` is not where the cluster reaches it, with the commands that put it back; undefined when it is. */
export function addressProblem(
    n: { node: string; container: string; address: string },
    network: string,
    found: string | undefined,
): string | undefined {
    // Not inspectable (gone) or stopped with no address: the other checks judge it.
    if (found === undefined || found === n.address) return undefined;
    const connect = `docker network connect --ip ${n.address} --alias ${n.node} --alias ${CLUSTER_ALIAS} ${network} ${n.container}`;
    if (found === "")
        return `${n.container} is not connected to ${network}; connect it at its fixed address: ${connect}`;
    return (
        `${n.container} is on ${found}, not its fixed address ${n.address} on ${network} (reconnected without --ip?): ` +
        `the nodes' pg_hba.conf admit replication only from the fixed addresses, so it cannot stream. ` +
        `Put it back: docker network disconnect ${network} ${n.container} && ${connect}`
    );
}

/** Every node's {@link addressProblem}, for `status`. */
export async function addressProblems(addresses: NonNullable<CheckSpec["addresses"]>): Promise<string[]> {
    const found = await Promise.all(addresses.nodes.map((n) => addressOn(n.container, addresses.network)));
    return addresses.nodes.flatMap((n, i) => addressProblem(n, addresses.network, found[i]) ?? []);
}

/**
 * Each node on its fixed address, checked first and at once: one that is not (reconnected to the
 * network without `--ip`) is refused replication by pg_hba.conf and would otherwise only show up as
 * a replica that never streams, after the whole deadline.
 */
async function addressChecks(spec: CheckSpec): Promise<CheckResult[]> {
    if (!spec.addresses) return [];
    const { network, nodes } = spec.addresses;
    return Promise.all(
        nodes.map(async (n): Promise<CheckResult> => {
            const t0 = Date.now();
            const problem = addressProblem(n, network, await addressOn(n.container, network));
            return { check: "fixed-address", node: n.node, ok: !problem, detail: problem ?? "ok", ms: Date.now() - t0 };
        }),
    );
}

/**
 * Proves the cluster replicates: roles, streaming rows, sync states, a canary row read back on
 * every replica, read-only replicas and active slots. Throws {@link CheckFailure} at the first
 * failed check; returns the report otherwise.
 */
export async function runChecks(configured: CheckSpec, login: SuperuserLogin): Promise<CheckReport> {
    const started = Date.now();
    const deadline = started + configured.deadlineSeconds * 1000;
    const patroni = configured.patroni;
    const patroniChecks: CheckResult[] = await addressChecks(configured);
    let spec = configured;
    // A node off its address fails now, not after Patroni's roles have waited out the deadline.
    if (patroni && patroniChecks.every((c) => c.ok)) {
        const found = await patroniTopology(configured, patroni, deadline, patroniChecks);
        spec = { ...configured, primary: found.primary, replicas: found.replicas };
    }
    const report: CheckReport = {
        ok: false,
        primary: spec.primary.node,
        replicas: spec.replicas.map((r) => r.node),
        syncMode: spec.syncMode,
        checks: [...patroniChecks],
        durationMs: 0,
        checkedAt: new Date(started).toISOString(),
    };
    const failed = patroniChecks.find((c) => !c.ok);
    if (failed) {
        report.durationMs = Date.now() - started;
        throw new CheckFailure(failed, report);
    }
    const clients = new Map<string, Client>();
    const record = (check: string, node: string, t0: number, outcome: string | true) => {
        const result = {
            check,
            node,
            ok: outcome === true,
            detail: outcome === true ? "ok" : outcome,
            ms: Date.now() - t0,
        };
        report.checks.push(result);
        if (!result.ok) {
            report.durationMs = Date.now() - started;
            throw new CheckFailure(result, report);
        }
    };
    const client = async (ep: CheckEndpoint) => {
        const existing = clients.get(ep.node);
        if (existing) return existing;
        const c = await connect(ep, login);
        clients.set(ep.node, c);
        return c;
    };
    const query = async <R extends QueryResultRow = QueryResultRow>(
        ep: CheckEndpoint,
        sql: string,
        params: unknown[] = [],
    ) => (await client(ep)).query<R>(sql, params);

    try {
        let t0 = Date.now();
        record(
            "primary-not-in-recovery",
            spec.primary.node,
            t0,
            await until(deadline, async () => {
                const { rows } = await query<{ r: boolean }>(spec.primary, "SELECT pg_is_in_recovery() AS r");
                return rows[0].r === false ? true : "pg_is_in_recovery() is true on the primary";
            }),
        );

        for (const r of spec.replicas) {
            t0 = Date.now();
            record(
                "replica-in-recovery",
                r.node,
                t0,
                await until(deadline, async () => {
                    const { rows } = await query<{ r: boolean }>(r, "SELECT pg_is_in_recovery() AS r");
                    return rows[0].r === true ? true : "pg_is_in_recovery() is false: this node is not a standby";
                }),
            );
        }

        const expected = expectedSyncStates(spec);
        for (const r of spec.replicas) {
            t0 = Date.now();
            record(
                "streaming",
                r.node,
                t0,
                await until(deadline, async () => {
                    const { rows } = await query<{ state: string; ssl: boolean | null }>(
                        spec.primary,
                        "SELECT r.state, s.ssl FROM pg_stat_replication r LEFT JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = $1",
                        [r.node],
                    );
                    if (rows.length !== 1)
                        return `expected one pg_stat_replication row for ${r.node}, found ${rows.length}`;
                    if (rows[0].state !== "streaming") return `state is ${rows[0].state}`;
                    // tls required: a walsender without TLS means WAL crosses the network in clear.
                    return !spec.tls || rows[0].ssl === true ? true : "streams without TLS (tls is required)";
                }),
            );
            // Under Patroni the synchronous roles are checked through /cluster (patroni-roles).
            if (patroni) continue;
            t0 = Date.now();
            record(
                "sync-state",
                r.node,
                t0,
                await until(deadline, async () => {
                    const { rows } = await query<{ sync_state: string }>(
                        spec.primary,
                        "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1",
                        [r.node],
                    );
                    const got = rows[0]?.sync_state;
                    return got === expected[r.node] ? true : `sync_state is ${got}, expected ${expected[r.node]}`;
                }),
            );
        }

        t0 = Date.now();
        const token = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
        // The canary proves streaming by being read back on every replica; its commit need not also
        // wait for synchronous standbys (their state is checked above), which after a failover may
        // still be rejoining.
        await query(spec.primary, "SET synchronous_commit = local");
        await query(spec.primary, "CREATE SCHEMA IF NOT EXISTS replication_check");
        await query(
            spec.primary,
            "CREATE TABLE IF NOT EXISTS replication_check.canary (id int PRIMARY KEY, token text NOT NULL, written_at timestamptz NOT NULL)",
        );
        await query(
            spec.primary,
            "INSERT INTO replication_check.canary VALUES (1, $1, now()) ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, written_at = EXCLUDED.written_at",
            [token],
        );
        // Read back on the primary: the row the replicas must show is the one committed here.
        const { rows: written } = await query<{ token: string }>(
            spec.primary,
            "SELECT token FROM replication_check.canary WHERE id = 1",
        );
        record(
            "canary-written",
            spec.primary.node,
            t0,
            written[0]?.token === token ? true : `canary row reads ${JSON.stringify(written[0]?.token)}, not ${token}`,
        );
        for (const r of spec.replicas) {
            t0 = Date.now();
            record(
                "canary-replicated",
                r.node,
                t0,
                await until(deadline, async () => {
                    const { rows: exists } = await query<{ e: boolean }>(
                        r,
                        "SELECT to_regclass('replication_check.canary') IS NOT NULL AS e",
                    );
                    if (!exists[0].e) return "the canary table has not replicated yet";
                    const { rows } = await query<{ token: string }>(
                        r,
                        "SELECT token FROM replication_check.canary WHERE id = 1",
                    );
                    return rows[0]?.token === token ? true : `canary ${token} not visible after ${Date.now() - t0} ms`;
                }),
            );
        }

        t0 = Date.now();
        const archiveAt = { node: spec.primary.node, container: `${spec.stack ?? "<stack>"}-${spec.primary.node}` };
        record(
            "archiving",
            spec.primary.node,
            t0,
            // Until the deadline: one failed attempt that the archiver's next retry repairs is no fault.
            await until(deadline, async () => {
                const { rows } = await query<ArchiverState>(spec.primary, ARCHIVER_SQL);
                return archiveTrouble(rows[0], archiveAt) ?? true;
            }),
        );

        if (spec.backups && spec.stack) {
            t0 = Date.now();
            const stack = spec.stack;
            record(
                "backup",
                spec.primary.node,
                t0,
                await until(deadline, () => backupReady(stack, archiveAt.container)),
            );
        }

        if (spec.tls) {
            // The certificate each node presented to these checks' own TLS sessions.
            const renew =
                `pulumi up re-issues them (${upCommand({ stack: spec.stack ?? "<stack>", live: false })}; ` +
                `the live harness: ${upCommand({ stack: spec.stack ?? "<stack>", live: true })})`;
            for (const ep of [spec.primary, ...spec.replicas]) {
                t0 = Date.now();
                const notAfter = peerCertificateEnd(await client(ep));
                record(
                    "certificate",
                    ep.node,
                    t0,
                    notAfter ? expiryVerdict(ep.node, notAfter, new Date(), renew) : "the connection is not TLS",
                );
            }
        }

        for (const r of spec.replicas) {
            t0 = Date.now();
            let outcome: string | true;
            try {
                await query(r, "INSERT INTO replication_check.canary VALUES (2, 'from replica', now())");
                outcome = "a write on the replica succeeded";
            } catch (err) {
                const e = err as { code?: string; message: string };
                outcome = e.code === "25006" ? true : `unexpected error ${e.code}: ${e.message}`;
            }
            record("replica-read-only", r.node, t0, outcome);
        }

        if (spec.slots) {
            for (const r of spec.replicas) {
                t0 = Date.now();
                record(
                    "slot-active",
                    r.node,
                    t0,
                    await until(deadline, async () => {
                        const { rows } = await query<{
                            active: boolean;
                            wal_status: string | null;
                            invalidation_reason: string | null;
                        }>(
                            spec.primary,
                            "SELECT active, wal_status, invalidation_reason FROM pg_replication_slots WHERE slot_name = $1",
                            [r.node],
                        );
                        if (rows.length === 0) return `slot ${r.node} does not exist`;
                        const { active, wal_status: walStatus, invalidation_reason: reason } = rows[0];
                        if (walStatus === "lost" || reason !== null) {
                            return (
                                `slot ${r.node} is invalidated (${reason ?? walStatus}): it retains no WAL for ${r.node}; repair with ` +
                                `npm run rejoin -- --node ${r.node} --stack ${spec.stack ?? "<stack>"} (add --live for a harness stack)`
                            );
                        }
                        return active ? true : `slot ${r.node} is not active`;
                    }),
                );
            }
        }
        if (spec.endpoints) {
            const expectations: Array<["rw" | "ro", boolean]> = [
                ["rw", false],
                ["ro", spec.replicas.length > 0],
            ];
            for (const [name, recovery] of expectations) {
                const ep = { node: `endpoint-${name}`, ...spec.endpoints[name] };
                t0 = Date.now();
                record(
                    `endpoint-${name}`,
                    ep.node,
                    t0,
                    await until(deadline, async () => {
                        const c = await connect(ep, login);
                        try {
                            const { rows } = await c.query<{ r: boolean; node: string; addr: string }>(
                                "SELECT pg_is_in_recovery() AS r, current_setting('cluster_name') AS node, host(inet_server_addr()) AS addr",
                            );
                            // Patroni sets cluster_name to the scope; the node's fixed address names it.
                            if (patroni)
                                rows[0].node =
                                    patroni.nodes.find((n) => n.address === rows[0].addr)?.node ?? rows[0].addr;
                            if (name === "rw" && rows[0].node !== spec.primary.node)
                                return `reaches ${rows[0].node}, not the primary ${spec.primary.node}`;
                            return rows[0].r === recovery
                                ? true
                                : `reaches ${rows[0].node}, which is ${rows[0].r ? "a standby" : "the primary"}`;
                        } finally {
                            await c.end().catch(() => undefined);
                        }
                    }),
                );
            }
        }
        report.ok = true;
        report.durationMs = Date.now() - started;
        return report;
    } finally {
        await Promise.all([...clients.values()].map((c) => c.end().catch(() => undefined)));
    }
}

/**
 * failover=patroni: waits until Patroni's /cluster shows exactly one leader, every other node
 * `streaming` in the configured synchronous role (quorum mode shows `replica` before
 * `quorum_standby` for a moment, so the roles are polled, not read once), and etcd healthy.
 * Returns where the leader and the replicas are.
 */
async function patroniTopology(
    spec: CheckSpec,
    patroni: PatroniCheckSpec,
    deadline: number,
    out: CheckResult[],
): Promise<{ primary: CheckEndpoint; replicas: CheckEndpoint[] }> {
    const push = (check: string, node: string, t0: number, outcome: string | true) =>
        out.push({ check, node, ok: outcome === true, detail: outcome === true ? "ok" : outcome, ms: Date.now() - t0 });
    let t0 = Date.now();
    push(
        "etcd-healthy",
        patroni.etcdContainers.join(","),
        t0,
        await until(deadline, async () => {
            const { healthy, stderr } = await etcdEndpointHealth(patroni.etcdContainers[0], patroni.etcdEndpoints);
            return healthy === patroni.etcdEndpoints.length
                ? true
                : `${healthy} of ${patroni.etcdEndpoints.length} etcd members healthy: ${stderr.trim()}`;
        }),
    );
    if (!out[out.length - 1].ok) return { primary: spec.primary, replicas: spec.replicas };

    t0 = Date.now();
    let cluster: PatroniCluster = { members: [] };
    const expected = expectedPatroniRoles(spec, patroni.nodes.length - 1).sort();
    push(
        "patroni-one-leader",
        patroni.cluster,
        t0,
        await until(deadline, async () => {
            let last = "no node answered";
            for (const n of patroni.nodes) {
                try {
                    const res = await patroniRest<PatroniCluster>(
                        n.container,
                        { method: "GET", path: "/cluster", timeoutSeconds: 3 },
                        10_000,
                    );
                    if (res.status === 200) {
                        cluster = res.body;
                        break;
                    }
                    last = `${n.node}: HTTP ${res.status}`;
                } catch (err) {
                    last = (err as Error).message;
                }
            }
            const leaders = cluster.members.filter((m) => m.role === "leader");
            if (leaders.length !== 1)
                return `expected one leader, found ${leaders.map((m) => m.name).join(", ") || "none"} (${last})`;
            return (
                membershipProblem(
                    cluster,
                    patroni.nodes.map((n) => n.node),
                    spec.stack ?? patroni.cluster,
                ) ?? true
            );
        }),
    );
    if (!out[out.length - 1].ok) return { primary: spec.primary, replicas: spec.replicas };

    t0 = Date.now();
    push(
        "patroni-roles",
        patroni.cluster,
        t0,
        await until(deadline, async () => {
            const res = await patroniRest<PatroniCluster>(
                patroni.nodes[0].container,
                { method: "GET", path: "/cluster", timeoutSeconds: 3 },
                10_000,
            ).catch(() => undefined);
            if (res?.status === 200) cluster = res.body;
            const configured = new Set(patroni.nodes.map((n) => n.node));
            const others = cluster.members.filter((m) => m.role !== "leader" && configured.has(m.name));
            const notStreaming = others.filter((m) => m.state !== "streaming");
            if (notStreaming.length > 0)
                return `not streaming: ${notStreaming.map((m) => `${m.name} (${m.state})`).join(", ")}`;
            // Members this deployment removes (scale-down: Pulumi deletes them after the checks) may
            // still hold synchronous roles; the configured ones' roles settle once they are gone.
            if (cluster.members.some((m) => !configured.has(m.name))) return true;
            const roles = others.map((m) => m.role).sort();
            return JSON.stringify(roles) === JSON.stringify(expected)
                ? true
                : `replica roles are ${roles.join(", ")}, expected ${expected.join(", ")}`;
        }),
    );
    const leader = cluster.members.find((m) => m.role === "leader")?.name ?? spec.primary.node;
    const endpoint = (n: { node: string; host: string; port: number }): CheckEndpoint => ({
        node: n.node,
        host: n.host,
        port: n.port,
    });
    return {
        primary: endpoint(patroni.nodes.find((n) => n.node === leader) ?? patroni.nodes[0]),
        replicas: patroni.nodes.filter((n) => n.node !== leader).map(endpoint),
    };
}
