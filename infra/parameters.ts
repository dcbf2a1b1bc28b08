import { PARAMETER_CONTEXT, POSTGRES_PARAMETERS } from "./postgres-parameters";

/**
 * Parameters that pg-replication sets itself, from its own config keys or its topology.
 * Setting them through `settings` would silently fight the cluster's wiring.
 */
export const MANAGED_PARAMETERS: ReadonlySet<string> = new Set([
    "archive_command",
    "archive_library",
    "archive_mode",
    "config_file",
    "data_directory",
    "hba_file",
    "hot_standby",
    "ident_file",
    "listen_addresses",
    "max_replication_slots",
    "max_slot_wal_keep_size",
    "max_wal_senders",
    "port",
    "primary_conninfo",
    "primary_slot_name",
    "restore_command",
    "synchronous_commit",
    "synchronous_standby_names",
    "wal_level",
    "wal_log_hints",
]);

/** A PostgreSQL 17 parameter, or a custom `extension.name` one. */
export function isKnownParameter(name: string): boolean {
    if (POSTGRES_PARAMETERS.has(name)) return true;
    return /^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_.]*$/.test(name);
}

/** A built-in parameter that cannot be set at all (server_version, block_size, …). */
export function isReadOnlyParameter(name: string): boolean {
    return PARAMETER_CONTEXT[name] === "internal";
}
