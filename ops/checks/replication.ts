// The replication checks proper, in SQL on the nodes: roles, streaming rows, sync states, a canary
// row read back on every replica, read-only replicas and active slots.
import { CheckEndpoint, CheckSpec, expectedSyncStates } from "../../model/check-spec";
import { NamedCheck } from "./contract";

const onPrimary = (spec: CheckSpec): CheckEndpoint[] => [spec.primary];
const onReplicas = (spec: CheckSpec): CheckEndpoint[] => spec.replicas;

const RECOVERY_SQL = "SELECT pg_is_in_recovery() AS r";
const CANARY_SQL = "SELECT token FROM replication_check.canary WHERE id = 1";

export const primaryNotInRecovery: NamedCheck = {
    name: "primary-not-in-recovery",
    waits: true,
    targets: onPrimary,
    async judge({ run }, ep) {
        const { rows } = await run.query<{ r: boolean }>(ep, RECOVERY_SQL);
        return rows[0].r === false ? true : "pg_is_in_recovery() is true on the primary";
    },
};

export const replicaInRecovery: NamedCheck = {
    name: "replica-in-recovery",
    waits: true,
    targets: onReplicas,
    async judge({ run }, ep) {
        const { rows } = await run.query<{ r: boolean }>(ep, RECOVERY_SQL);
        return rows[0].r === true ? true : "pg_is_in_recovery() is false: this node is not a standby";
    },
};

/** One walsender per replica on the primary, streaming, over TLS when tls is required. */
export const streaming: NamedCheck = {
    name: "streaming",
    waits: true,
    targets: onReplicas,
    async judge({ spec, run }, r) {
        const { rows } = await run.query<{ state: string; ssl: boolean | null }>(
            spec.primary,
            "SELECT r.state, s.ssl FROM pg_stat_replication r LEFT JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = $1",
            [r.node],
        );
        if (rows.length !== 1) return `expected one pg_stat_replication row for ${r.node}, found ${rows.length}`;
        if (rows[0].state !== "streaming") return `state is ${rows[0].state}`;
        // tls required: a walsender without TLS means WAL crosses the network in clear.
        return !spec.tls || rows[0].ssl === true ? true : "streams without TLS (tls is required)";
    },
};

/** The replica's sync_state as the sync keys say. Under Patroni, patroni-roles checks the synchronous roles. */
export const syncState: NamedCheck = {
    name: "sync-state",
    waits: true,
    targets: (spec) => (spec.patroni ? [] : spec.replicas),
    async judge({ spec, run }, r) {
        const expected = expectedSyncStates(spec)[r.node];
        const { rows } = await run.query<{ sync_state: string }>(
            spec.primary,
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1",
            [r.node],
        );
        const got = rows[0]?.sync_state;
        return got === expected ? true : `sync_state is ${got}, expected ${expected}`;
    },
};

/**
 * Writes this run's token into the canary row on the primary and reads it back there: the row the
 * replicas must show is the one committed here. Judged once: a failed statement means the checks
 * could not run.
 */
export const canaryWritten: NamedCheck = {
    name: "canary-written",
    waits: false,
    targets: onPrimary,
    async judge({ run, token }, ep) {
        // The canary proves streaming by being read back on every replica; its commit need not also
        // wait for synchronous standbys (their state is checked above), which after a failover may
        // still be rejoining.
        await run.query(ep, "SET synchronous_commit = local");
        await run.query(ep, "CREATE SCHEMA IF NOT EXISTS replication_check");
        await run.query(
            ep,
            "CREATE TABLE IF NOT EXISTS replication_check.canary (id int PRIMARY KEY, token text NOT NULL, written_at timestamptz NOT NULL)",
        );
        await run.query(
            ep,
            "INSERT INTO replication_check.canary VALUES (1, $1, now()) ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, written_at = EXCLUDED.written_at",
            [token],
        );
        const { rows } = await run.query<{ token: string }>(ep, CANARY_SQL);
        return rows[0]?.token === token ? true : `canary row reads ${JSON.stringify(rows[0]?.token)}, not ${token}`;
    },
};

export const canaryReplicated: NamedCheck = {
    name: "canary-replicated",
    waits: true,
    targets: onReplicas,
    async judge({ run, token, started }, r) {
        const { rows: exists } = await run.query<{ e: boolean }>(
            r,
            "SELECT to_regclass('replication_check.canary') IS NOT NULL AS e",
        );
        if (!exists[0].e) return "the canary table has not replicated yet";
        const { rows } = await run.query<{ token: string }>(r, CANARY_SQL);
        return rows[0]?.token === token ? true : `canary ${token} not visible after ${Date.now() - started} ms`;
    },
};

/** A write on the replica fails with 25006 (read_only_sql_transaction). Judged once. */
export const replicaReadOnly: NamedCheck = {
    name: "replica-read-only",
    waits: false,
    targets: onReplicas,
    async judge({ run }, r) {
        try {
            await run.query(r, "INSERT INTO replication_check.canary VALUES (2, 'from replica', now())");
            return "a write on the replica succeeded";
        } catch (err) {
            const e = err as { code?: string; message: string };
            return e.code === "25006" ? true : `unexpected error ${e.code}: ${e.message}`;
        }
    },
};

/** slots on: the replica's slot on the primary exists, is active and not invalidated. */
export const slotActive: NamedCheck = {
    name: "slot-active",
    waits: true,
    targets: (spec) => (spec.slots ? spec.replicas : []),
    async judge({ spec, run }, r) {
        const { rows } = await run.query<{
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
    },
};
