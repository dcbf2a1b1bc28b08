// What a post-deploy check is, what it runs against and what the checks report. Each check is a
// named unit in the table (table.ts) that takes its runners as a parameter, so a test judges it with
// fakes and no Docker; the driver (run.ts) walks the table with the live runners.
import { QueryResultRow } from "pg";
import { CheckEndpoint, CheckSpec } from "../../model/check-spec";
import { EtcdHealth, PatroniCluster, PatroniResponse } from "../patroni";

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

/** SQL on a node; rejects as pg does (an error with the SQLSTATE in `code`). */
export type QueryRunner = <R extends QueryResultRow = QueryResultRow>(
    ep: CheckEndpoint,
    sql: string,
    params?: unknown[],
) => Promise<{ rows: R[] }>;

/** Everything the checks touch outside this process: the live ones in run.ts, fakes in the unit tests. */
export interface CheckRunners {
    /** SQL on the node's own session, opened once and reused by every check after. */
    query: QueryRunner;
    /** SQL on a session of its own, closed after: each connection through a pooler may land elsewhere. */
    queryFresh: QueryRunner;
    /** When the certificate the node presented to its session ends; undefined when the session is not TLS. */
    certificateEnd(ep: CheckEndpoint): Promise<Date | undefined>;
    /** A running container's address on `network`: "" when not connected, undefined when not inspectable or stopped. */
    addressOn(container: string, network: string): Promise<string | undefined>;
    /** `etcdctl endpoint health` of `endpoints`, asked in `container`. */
    etcdHealth(container: string, endpoints: string[]): Promise<EtcdHealth>;
    /** Patroni's GET /cluster, asked of the node in `container`; rejects when it cannot be asked. */
    patroniCluster(container: string): Promise<PatroniResponse<PatroniCluster>>;
    /** pgBackRest's verdict on the repository of `stack`, asked on the primary's container. */
    backupReady(stack: string, primaryContainer: string): Promise<string | true>;
}

/** What a check's judgement takes: the spec (with the roles found), the runners and the run's shared facts. */
export interface CheckInputs {
    spec: CheckSpec;
    run: CheckRunners;
    /** This run's canary token: canary-written writes it, canary-replicated looks for it. */
    token: string;
    /** Patroni's /cluster as last read: patroni-one-leader reads it, patroni-roles re-reads it, the leader follows it. */
    observed: { cluster: PatroniCluster };
    /** When this check started (epoch ms), for messages that say how long it waited. */
    started: number;
}

/** What a check runs on: the node its result names, and whatever else it needs. */
export interface CheckTarget {
    node: string;
}

/**
 * A named check: what it needs of the spec (its targets, none when it does not apply) and its
 * judgement of one target, true or what is wrong.
 */
export interface NamedCheck<T extends CheckTarget = CheckEndpoint> {
    readonly name: string;
    /**
     * Waits: judged again every 250 ms until it passes or the deadline passes, an error counting as a
     * failed judgement (replication converges). Otherwise judged once, and an error means the
     * checks could not run.
     */
    readonly waits: boolean;
    /** The targets in the order the report lists them. */
    targets(spec: CheckSpec): T[];
    // A method, not a property: bivariant in `target`, so one table holds checks of different
    // target types; the driver passes each check only the targets it listed.
    judge(inputs: CheckInputs, target: T): Promise<string | true>;
}

/**
 * Checks run target by target: each target through every check of the group before the next
 * (streaming then sync-state for one replica, then the next replica). Most groups hold one check.
 */
export type CheckGroup = ReadonlyArray<NamedCheck<CheckTarget>>;
