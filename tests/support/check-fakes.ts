// Fakes of what the post-deploy checks run against (ops/checks/contract.ts CheckRunners): SQL
// answers, docker inspect, etcd, Patroni's /cluster and pgBackRest, with no Docker. `FakeCluster`
// answers the checks' SQL as a healthy primary with streaming replicas would, from state a test edits.
import { QueryResultRow } from "pg";
import { CheckEndpoint, CheckSpec, expectedSyncStates, PatroniCheckSpec } from "../../model/check-spec";
import { ArchiverState } from "../../ops/archive";
import { CheckInputs, CheckRunners, QueryRunner } from "../../ops/checks";
import { PatroniCluster, PatroniMember } from "../../ops/patroni";

export const ep = (node: string, port: number): CheckEndpoint => ({ node, host: "127.0.0.1", port });
export const address = (node: string) => `172.20.0.${10 + Number(node.slice(2))}`;

/** Stack s: pg1 primary, pg2 and pg3 replicas, sync first 1, slots and tls on, no waiting. */
export const SPEC: CheckSpec = {
    stack: "s",
    primary: ep("pg1", 15432),
    replicas: [ep("pg2", 15433), ep("pg3", 15434)],
    syncMode: "sync",
    syncMethod: "first",
    syncCount: 1,
    slots: true,
    tls: true,
    deadlineSeconds: 0,
};

/** SPEC with every optional part on: fixed addresses, backups and the pooler endpoints. */
export const FULL_SPEC: CheckSpec = {
    ...SPEC,
    addresses: {
        network: "s-net",
        nodes: ["pg1", "pg2", "pg3"].map((node) => ({ node, container: `s-${node}`, address: address(node) })),
    },
    backups: true,
    endpoints: { rw: { host: "127.0.0.1", port: 15442 }, ro: { host: "127.0.0.1", port: 15443 } },
};

export const PATRONI: PatroniCheckSpec = {
    cluster: "s",
    nodes: ["pg1", "pg2", "pg3"].map((node, i) => ({
        ...ep(node, 15432 + i),
        address: address(node),
        container: `s-${node}`,
    })),
    etcdContainers: ["s-etcd1", "s-etcd2", "s-etcd3"],
    etcdEndpoints: ["https://172.20.0.31:2379", "https://172.20.0.32:2379", "https://172.20.0.33:2379"],
};

/** FULL_SPEC under failover=patroni. */
export const PATRONI_SPEC: CheckSpec = { ...FULL_SPEC, patroni: PATRONI };

export const member = (name: string, role: string, state = "streaming"): PatroniMember => ({ name, role, state });

/** A healthy /cluster: `leader` leads, the others stream in the roles sync first 1 expects. */
export function patroniCluster(leader: string, nodes = ["pg1", "pg2", "pg3"]): PatroniCluster {
    const others = nodes.filter((n) => n !== leader);
    return {
        members: [
            member(leader, "leader", "running"),
            ...others.map((n, i) => member(n, i === 0 ? "sync_standby" : "replica")),
        ],
    };
}

/** A runner that fails the test's expectations loudly when a check asks what the test did not fake. */
const unfaked = (what: string) => () => Promise.reject(new Error(`not faked: ${what}`));

/** `over` on top of runners that reject everything. */
export function fakeRunners(over: Partial<CheckRunners> = {}): CheckRunners {
    return {
        query: unfaked("query"),
        queryFresh: unfaked("queryFresh"),
        certificateEnd: unfaked("certificateEnd"),
        addressOn: unfaked("addressOn"),
        etcdHealth: unfaked("etcdHealth"),
        patroniCluster: unfaked("patroniCluster"),
        backupReady: unfaked("backupReady"),
        ...over,
    };
}

/** A query runner answering from `answer` (which may throw, as pg does). */
export function queryFrom(
    answer: (ep: CheckEndpoint, sql: string, params: unknown[]) => QueryResultRow[],
): QueryRunner {
    return <R extends QueryResultRow>(ep: CheckEndpoint, sql: string, params: unknown[] = []) =>
        Promise.resolve().then(() => ({ rows: answer(ep, sql, params) as R[] }));
}

/** A query runner that answers the first SQL containing a key with its rows (to anyone). */
export function rowsFor(answers: Record<string, QueryResultRow[]>): QueryRunner {
    return queryFrom((_ep, sql) => {
        const key = Object.keys(answers).find((k) => sql.includes(k));
        if (key === undefined) throw new Error(`not faked: ${sql}`);
        return answers[key];
    });
}

/** An error as pg raises it, with its SQLSTATE. */
export const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

/** What a check's judgement takes, with these runners. */
export function inputs(run: Partial<CheckRunners>, spec = SPEC, extra: Partial<CheckInputs> = {}): CheckInputs {
    return {
        spec,
        run: fakeRunners(run),
        token: "tok-1",
        observed: { cluster: { members: [] } },
        started: Date.now(),
        ...extra,
    };
}

export const ARCHIVER_OK: ArchiverState = {
    archive_mode: "on",
    failed_count: 0,
    last_failed_wal: null,
    failed_age: null,
    archived_age: 3,
    ready: 0,
};

interface Walsender {
    state: string;
    ssl: boolean | null;
    sync_state: string;
}

interface Slot {
    active: boolean;
    wal_status: string | null;
    invalidation_reason: string | null;
}

/**
 * A healthy cluster as the checks see it: `primary` out of recovery, every other node a streaming,
 * read-only standby over TLS in the sync state `spec` expects, with its active slot; the canary
 * row replicates at once. Tests edit the state to break it; `asked` lists "node: sql" in order.
 */
export class FakeCluster {
    readonly asked: string[] = [];
    walsenders: Record<string, Walsender | undefined> = {};
    slots: Record<string, Slot | undefined> = {};
    archiver: ArchiverState = ARCHIVER_OK;
    /** Nodes a query reaches but which answer with this error (e.g. the connection is refused). */
    down: Record<string, Error | undefined> = {};
    inRecovery: Record<string, boolean>;
    canary: string | undefined;
    etcdHealthy = 3;
    cluster: PatroniCluster;
    /** What `docker inspect` says of each container's address (default: its fixed one). */
    addresses: Record<string, string | undefined> = {};

    constructor(
        readonly spec: CheckSpec,
        readonly primary = spec.primary.node,
    ) {
        const nodes = [spec.primary, ...spec.replicas].map((r) => r.node);
        const replicas = nodes.filter((n) => n !== primary);
        const expected = expectedSyncStates({ ...spec, replicas: replicas.map((n) => ep(n, 0)) });
        this.inRecovery = Object.fromEntries(nodes.map((n) => [n, n !== primary]));
        for (const r of replicas) {
            this.walsenders[r] = { state: "streaming", ssl: true, sync_state: expected[r] };
            this.slots[r] = { active: true, wal_status: "reserved", invalidation_reason: null };
        }
        this.cluster = patroniCluster(primary, nodes);
    }

    runners(over: Partial<CheckRunners> = {}): CheckRunners {
        return fakeRunners({
            query: queryFrom((at, sql, params) => this.answer(at, sql, params)),
            queryFresh: queryFrom((at, sql) => this.answerEndpoint(at, sql)),
            certificateEnd: () => Promise.resolve(new Date(Date.now() + 365 * 86_400_000)),
            addressOn: (container) => Promise.resolve(this.addresses[container] ?? address(container.slice(2))),
            etcdHealth: () => Promise.resolve({ healthy: this.etcdHealthy, answered: true, stderr: "" }),
            patroniCluster: () => Promise.resolve({ status: 200, body: this.cluster }),
            backupReady: () => Promise.resolve(true as const),
            ...over,
        });
    }

    private answer(at: CheckEndpoint, sql: string, params: unknown[]): QueryResultRow[] {
        this.asked.push(`${at.node}: ${sql}`);
        const down = this.down[at.node];
        if (down) throw down;
        if (sql === "SELECT pg_is_in_recovery() AS r") return [{ r: this.inRecovery[at.node] }];
        if (sql.includes("FROM pg_stat_replication") || sql.includes("FROM pg_replication_slots"))
            return this.onPrimary(at, sql, String(params[0]));
        if (sql.includes("FROM pg_stat_archiver")) return [this.archiver];
        return this.canaryAnswer(at, sql, params);
    }

    private onPrimary(at: CheckEndpoint, sql: string, node: string): QueryResultRow[] {
        if (this.inRecovery[at.node]) return [];
        const rows = sql.includes("pg_replication_slots") ? this.slots[node] : this.walsenders[node];
        return rows ? [rows] : [];
    }

    private canaryAnswer(at: CheckEndpoint, sql: string, params: unknown[]): QueryResultRow[] {
        const readOnly = this.inRecovery[at.node];
        if (sql.startsWith("INSERT")) {
            if (readOnly) throw pgError("25006", "cannot execute INSERT in a read-only transaction");
            this.canary = String(params[0]);
            return [];
        }
        if (sql.startsWith("SET") || sql.startsWith("CREATE")) return [];
        if (sql.includes("to_regclass")) return [{ e: this.canary !== undefined }];
        if (sql.includes("FROM replication_check.canary")) return this.canary ? [{ token: this.canary }] : [];
        throw new Error(`not faked: ${sql}`);
    }

    /** The pooler: rw reaches the primary, ro the first standby (the primary when there is none). */
    private answerEndpoint(at: CheckEndpoint, sql: string): QueryResultRow[] {
        this.asked.push(`${at.node}: ${sql}`);
        const standby = Object.keys(this.walsenders)[0];
        const target = at.node === "endpoint-ro" && standby ? standby : this.primary;
        // Patroni sets cluster_name to the scope.
        return [{ r: this.inRecovery[target], node: this.spec.patroni ? "s" : target, addr: address(target) }];
    }
}
