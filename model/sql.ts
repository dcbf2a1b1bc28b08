import { ClusterConfig } from "./config";

/** A SQL string literal. */
export function quoteLiteral(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

/** A SQL identifier, always quoted. */
export function quoteIdent(value: string): string {
    return `"${value.replace(/"/g, '""')}"`;
}

/**
 * synchronous_standby_names for the configuration: '' in async mode, otherwise
 * `ANY n (…)` (quorum) or `FIRST n (…)` (priority, in node order).
 */
export function synchronousStandbyNames(cfg: ClusterConfig, replicaNames: readonly string[]): string {
    if (cfg.syncMode === "async") return "";
    return `${cfg.syncMethod.toUpperCase()} ${cfg.syncCount} (${replicaNames.map(quoteIdent).join(", ")})`;
}

/** The policy applied online on the primary: ALTER SYSTEM then a reload, no restart. */
export function syncPolicySql(cfg: ClusterConfig, replicaNames: readonly string[]): string {
    return [
        `ALTER SYSTEM SET synchronous_standby_names = ${quoteLiteral(synchronousStandbyNames(cfg, replicaNames))};`,
        `ALTER SYSTEM SET synchronous_commit = ${quoteLiteral(cfg.synchronousCommit)};`,
        "SELECT pg_reload_conf();",
        "",
    ].join("\n");
}

/** Undoes {@link syncPolicySql}. */
export function resetSyncPolicySql(): string {
    return "ALTER SYSTEM RESET synchronous_standby_names;\nALTER SYSTEM RESET synchronous_commit;\nSELECT pg_reload_conf();\n";
}

/** Creates a LOGIN role or brings an existing one to `attributes`, its password a SCRAM verifier; idempotent. */
function loginRoleSql(user: string, verifier: string, attributes: string, grants: string[] = []): string {
    return [
        "DO $$ BEGIN",
        `  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${quoteLiteral(user)}) THEN`,
        `    CREATE ROLE ${quoteIdent(user)};`,
        "  END IF;",
        "END $$;",
        `ALTER ROLE ${quoteIdent(user)} WITH LOGIN ${attributes} PASSWORD ${quoteLiteral(verifier)};`,
        ...grants.map((g) => `GRANT ${g} TO ${quoteIdent(user)};`),
        "",
    ].join("\n");
}

/** The replication role: LOGIN REPLICATION and nothing more. */
export function replicationRoleSql(user: string, verifier: string): string {
    return loginRoleSql(user, verifier, "REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE");
}

/** The monitoring role: read-only statistics through pg_monitor. */
export function monitorRoleSql(user: string, verifier: string): string {
    return loginRoleSql(user, verifier, "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION", ["pg_monitor"]);
}

/** Drops a role; idempotent. */
export function dropRoleSql(user: string): string {
    return `DROP ROLE IF EXISTS ${quoteIdent(user)};\n`;
}

/** Sets a role's password from a SCRAM verifier. */
export function setPasswordSql(user: string, verifier: string): string {
    return `ALTER ROLE ${quoteIdent(user)} WITH PASSWORD ${quoteLiteral(verifier)};\n`;
}

/** The condition of a slot that no longer retains WAL: lost past max_slot_wal_keep_size, or invalidated. */
const SLOT_INVALID = "(wal_status = 'lost' OR invalidation_reason IS NOT NULL)";

/** Prints why slot `slot` is invalidated (e.g. `wal_removed`), or nothing when it is healthy or absent. */
export function invalidSlotSql(slot: string): string {
    return `SELECT coalesce(invalidation_reason, wal_status) FROM pg_replication_slots WHERE slot_name = ${quoteLiteral(slot)} AND ${SLOT_INVALID}`;
}

/**
 * Creates a physical slot that reserves WAL at once; idempotent. An invalidated slot retains
 * nothing and can never be used again, so it is dropped and created anew: the replica then takes
 * what it misses from the archive, or is re-cloned (its entrypoint notices the gap).
 */
export function createSlotSql(slot: string): string {
    return (
        dropSlotSql(slot, 30, SLOT_INVALID) +
        `SELECT pg_create_physical_replication_slot(${quoteLiteral(slot)}, true) ` +
        `WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = ${quoteLiteral(slot)});\n`
    );
}

/**
 * Drops a slot; idempotent. A slot stays active until its walsender exits, which can lag behind
 * the replica's container being removed, so terminate the walsender and retry for a while.
 */
export function dropSlotSql(slot: string, timeoutSeconds = 30, onlyIf = "true"): string {
    const s = quoteLiteral(slot);
    return [
        "DO $$",
        `DECLARE deadline timestamptz := clock_timestamp() + interval '${timeoutSeconds} seconds';`,
        "BEGIN",
        "  LOOP",
        `    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = ${s} AND ${onlyIf});`,
        `    PERFORM pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = ${s} AND active_pid IS NOT NULL;`,
        "    BEGIN",
        `      PERFORM pg_drop_replication_slot(${s});`,
        "    EXCEPTION WHEN object_in_use THEN",
        "      IF clock_timestamp() > deadline THEN RAISE; END IF;",
        "      PERFORM pg_sleep(0.2);",
        "    END;",
        "  END LOOP;",
        "END $$;",
        "",
    ].join("\n");
}
