// The driver: walks the check table (table.ts) stage by stage, records every result and stops at the
// first failure; runChecks does it with the live runners (sessions, docker, Patroni's REST API).
import { Client, QueryResultRow } from "pg";
import { CheckEndpoint, CheckSpec, PatroniCheckSpec } from "../../model/check-spec";
import { backupReady } from "../backups";
import { peerCertificateEnd } from "../certificates";
import { superuserClient, SuperuserLogin } from "../login";
import { etcdEndpointHealth, patroniRest, PatroniCluster } from "../patroni";
import { addressOn } from "./addresses";
import { CheckFailure, CheckGroup, CheckReport, CheckResult, CheckRunners, CheckTarget, NamedCheck } from "./contract";
import { withPatroniLeader } from "./patroni";
import { CHECK_TABLE } from "./table";
import { pollUntil } from "../ops";

/** How often a check that waits is judged again. */
const POLL_MS = 250;

/** One judgement to make: a check and one of its targets. */
export interface PlannedCheck {
    check: NamedCheck<CheckTarget>;
    target: CheckTarget;
}

/** A group's judgements on `spec`, in order: target by target, each through every check of the group. */
export function planGroup(group: CheckGroup, spec: CheckSpec): PlannedCheck[] {
    const perCheck = group.map((check) => check.targets(spec).map((target) => ({ check, target })));
    const planned: PlannedCheck[] = [];
    for (let i = 0; perCheck.some((p) => i < p.length); i++) planned.push(...perCheck.flatMap((p) => p[i] ?? []));
    return planned;
}

/** One walk through the table: the results so far and what the checks share. */
class CheckWalk {
    readonly results: CheckResult[] = [];
    /** Patroni's /cluster as the Patroni checks last read it. */
    readonly observed: { cluster: PatroniCluster } = { cluster: { members: [] } };
    private readonly token = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    private readonly started = Date.now();
    private readonly deadline: number;

    constructor(
        private readonly run: CheckRunners,
        deadlineSeconds: number,
    ) {
        this.deadline = this.started + deadlineSeconds * 1000;
    }

    /**
     * Judges `groups` in order on `spec`, recording each result; returns the first failed one, and
     * stops there, or undefined. `atOnce`: a group's targets are judged at the same time, all recorded.
     */
    async walk(groups: CheckGroup[], spec: CheckSpec, atOnce = false): Promise<CheckResult | undefined> {
        for (const group of groups) {
            const planned = planGroup(group, spec);
            const failed = atOnce ? await this.judgeAtOnce(planned, spec) : await this.judgeInTurn(planned, spec);
            if (failed) return failed;
        }
        return undefined;
    }

    private async judgeAtOnce(planned: PlannedCheck[], spec: CheckSpec): Promise<CheckResult | undefined> {
        const results = await Promise.all(planned.map((p) => this.judge(p, spec)));
        this.results.push(...results);
        return results.find((r) => !r.ok);
    }

    private async judgeInTurn(planned: PlannedCheck[], spec: CheckSpec): Promise<CheckResult | undefined> {
        for (const p of planned) {
            const result = await this.judge(p, spec);
            this.results.push(result);
            if (!result.ok) return result;
        }
        return undefined;
    }

    private async judge({ check, target }: PlannedCheck, spec: CheckSpec): Promise<CheckResult> {
        const started = Date.now();
        const inputs = { spec, run: this.run, token: this.token, observed: this.observed, started };
        const judgement = () => check.judge(inputs, target);
        const outcome = check.waits ? await pollUntil(this.deadline, judgement, POLL_MS) : await judgement();
        const ok = outcome === true;
        return { check: check.name, node: target.node, ok, detail: ok ? "ok" : outcome, ms: Date.now() - started };
    }

    /** The report on `spec` (its primary and replicas are the ones checked) with the results so far. */
    report(spec: CheckSpec, ok: boolean): CheckReport {
        return {
            ok,
            primary: spec.primary.node,
            replicas: spec.replicas.map((r) => r.node),
            syncMode: spec.syncMode,
            checks: this.results,
            durationMs: Date.now() - this.started,
            checkedAt: new Date(this.started).toISOString(),
        };
    }

    /** Throws {@link CheckFailure} for `failed`, if any, with the report on `spec`. */
    throwIfFailed(failed: CheckResult | undefined, spec: CheckSpec): void {
        if (failed) throw new CheckFailure(failed, this.report(spec, false));
    }
}

/**
 * failover=patroni: waits for etcd, one leader among the configured nodes and the replicas' roles.
 * Returns `spec` with Patroni's leader as the primary and the other nodes as replicas.
 */
async function patroniTopology(walk: CheckWalk, spec: CheckSpec, patroni: PatroniCheckSpec): Promise<CheckSpec> {
    walk.throwIfFailed(await walk.walk(CHECK_TABLE.patroniLeader, spec), spec);
    const rolesFailed = await walk.walk(CHECK_TABLE.patroniRoles, spec);
    // Even when the roles fail: the report names the leader found.
    const found = withPatroniLeader(spec, patroni, walk.observed.cluster);
    walk.throwIfFailed(rolesFailed, found);
    return found;
}

/**
 * Walks the check table with `run`: the fixed addresses, Patroni's leader and roles (failover=patroni),
 * then replication on the primary and replicas found. Throws {@link CheckFailure} at the first failed
 * check; returns the report otherwise.
 */
export async function walkChecks(configured: CheckSpec, run: CheckRunners): Promise<CheckReport> {
    const walk = new CheckWalk(run, configured.deadlineSeconds);
    walk.throwIfFailed(await walk.walk(CHECK_TABLE.addresses, configured, true), configured);
    const patroni = configured.patroni;
    const spec = patroni ? await patroniTopology(walk, configured, patroni) : configured;
    walk.throwIfFailed(await walk.walk(CHECK_TABLE.replication, spec), spec);
    return walk.report(spec, true);
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

/** The live runners: a session per node (opened on first use, ended by `close`), docker, Patroni's REST API. */
export function liveRunners(login: SuperuserLogin): CheckRunners & { close(): Promise<void> } {
    const sessions = new Map<string, Client>();
    const session = async (ep: CheckEndpoint): Promise<Client> => {
        const existing = sessions.get(ep.node);
        if (existing) return existing;
        const c = await connect(ep, login);
        sessions.set(ep.node, c);
        return c;
    };
    return {
        query: async <R extends QueryResultRow>(ep: CheckEndpoint, sql: string, params: unknown[] = []) =>
            (await session(ep)).query<R>(sql, params),
        queryFresh: async <R extends QueryResultRow>(ep: CheckEndpoint, sql: string, params: unknown[] = []) => {
            const c = await connect(ep, login);
            try {
                return await c.query<R>(sql, params);
            } finally {
                await c.end().catch(() => undefined);
            }
        },
        certificateEnd: async (ep) => peerCertificateEnd(await session(ep)),
        addressOn,
        etcdHealth: (container, endpoints) => etcdEndpointHealth(container, endpoints),
        patroniCluster: (container) =>
            patroniRest<PatroniCluster>(container, { method: "GET", path: "/cluster", timeoutSeconds: 3 }, 10_000),
        backupReady: (stack, container) => backupReady(stack, container),
        close: async () => {
            await Promise.all([...sessions.values()].map((c) => c.end().catch(() => undefined)));
        },
    };
}

/**
 * Proves the cluster replicates: roles, streaming rows, sync states, a canary row read back on
 * every replica, read-only replicas and active slots. Throws {@link CheckFailure} at the first
 * failed check; returns the report otherwise.
 */
export async function runChecks(configured: CheckSpec, login: SuperuserLogin): Promise<CheckReport> {
    const run = liveRunners(login);
    try {
        return await walkChecks(configured, run);
    } finally {
        await run.close();
    }
}
