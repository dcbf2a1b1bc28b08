import { PARAMETERS, ParameterSpec, POSTGRES_PARAMETERS } from "./postgres-parameters";

/**
 * Parameters that pg-replication sets itself, from its own config keys or its topology.
 * Setting them through `settings` would silently fight the cluster's wiring.
 */
export const MANAGED_PARAMETERS: ReadonlySet<string> = new Set([
    "archive_command",
    "archive_library",
    "archive_mode",
    "archive_timeout",
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
    "ssl",
    "ssl_ca_file",
    "ssl_cert_file",
    "ssl_key_file",
    "ssl_min_protocol_version",
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
    return PARAMETERS[name]?.context === "internal";
}

/** Bytes per memory unit, as PostgreSQL spells them (case matters: guc.c memory_unit_conversion_table). */
const MEMORY_UNITS: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
/** Microseconds per time unit (guc.c time_unit_conversion_table). */
const TIME_UNITS: Record<string, number> = { us: 1, ms: 1000, s: 1e6, min: 60e6, h: 3600e6, d: 86400e6 };

/** The unit table a parameter's base unit belongs to, and the base unit's size in it. */
function unitTable(unit: string | undefined): { table: Record<string, number>; base: number } | undefined {
    if (unit === undefined) return undefined;
    if (unit === "8kB") return { table: MEMORY_UNITS, base: 8192 };
    if (unit in MEMORY_UNITS) return { table: MEMORY_UNITS, base: MEMORY_UNITS[unit] };
    if (unit in TIME_UNITS) return { table: TIME_UNITS, base: TIME_UNITS[unit] };
    return undefined;
}

/** What PostgreSQL's parse_bool accepts: on/off, true/false, yes/no, 1/0, and unique prefixes, any case. */
export function isPostgresBool(value: string): boolean {
    const v = value.trim().toLowerCase();
    if (v === "") return false;
    if (["1", "0", "on"].includes(v)) return true;
    if (v.length >= 2 && "off".startsWith(v)) return true;
    return ["true", "false", "yes", "no"].some((word) => word.startsWith(v));
}

const NUMBER = /^\s*([+-]?(?:0x[0-9a-f]+|\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?))\s*([a-zA-Z]*)\s*$/i;

/** `value` in the parameter's base unit, or why it is not a number PostgreSQL would take. */
function numericValue(value: string, spec: ParameterSpec): number | string {
    const m = NUMBER.exec(value);
    if (!m) return "not a number";
    const n = /^[+-]?0x/i.test(m[1]) ? Number.parseInt(m[1], 16) : Number(m[1]);
    if (!Number.isFinite(n)) return "not a finite number";
    const unit = m[2];
    if (unit === "") return n;
    const units = unitTable(spec.unit);
    if (!units || !(unit in units.table)) return `"${unit}" is not a unit of this parameter`;
    const converted = (n * units.table[unit]) / units.base;
    return spec.type === "integer" ? Math.round(converted) : converted;
}

/** What a parameter takes, in words, for the error message. */
function allowedValues(name: string, spec: ParameterSpec): string {
    if (spec.type === "bool") return `${name} is a boolean: on or off (also true/false, yes/no, 1/0)`;
    if (spec.type === "enum") return `${name} takes one of ${(spec.values ?? []).join(", ")}`;
    const units = unitTable(spec.unit);
    const unitText = units ? ` in ${spec.unit}, or with a unit (${Object.keys(units.table).join(", ")})` : " (no unit)";
    const kind = spec.type === "integer" ? "an integer" : "a number";
    return `${name} takes ${kind}${unitText} from ${spec.min} to ${spec.max}${spec.unit ? ` (${spec.unit})` : ""}`;
}

/**
 * Why `value` would make PostgreSQL refuse to start (or to reload), judged as the server does
 * (guc.c parse_bool, parse_int, parse_real, config_enum_lookup_by_name: type, unit, range, enum
 * values, for the image's PostgreSQL); undefined when it would take it. Strings and custom
 * `ext.name` parameters are not judged: only their extension knows them.
 */
export function parameterValueProblem(name: string, value: string): string | undefined {
    const spec = PARAMETERS[name];
    if (!spec || spec.type === "string") return undefined;
    const allowed = allowedValues(name, spec);
    if (spec.type === "bool") return isPostgresBool(value) ? undefined : allowed;
    if (spec.type === "enum") return enumTakes(spec, value) ? undefined : allowed;
    return numericValueProblem(value, spec, allowed);
}

/** Whether an enum parameter takes `value` (config_enum_lookup_by_name: any case). */
function enumTakes(spec: ParameterSpec, value: string): boolean {
    const values = spec.values ?? [];
    if (values.some((v) => v.toLowerCase() === value.trim().toLowerCase())) return true;
    // Enums with on and off also take PostgreSQL's hidden boolean spellings (true, yes, 1, …).
    return values.includes("on") && values.includes("off") && isPostgresBool(value);
}

/** Why a numeric parameter would refuse `value` (not a number, a foreign unit, out of range), or undefined. */
function numericValueProblem(value: string, spec: ParameterSpec, allowed: string): string | undefined {
    const n = numericValue(value, spec);
    if (typeof n === "string") return `${n}; ${allowed}`;
    if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max))
        return `${n}${spec.unit ? ` × ${spec.unit}` : ""} is out of range; ${allowed}`;
    return undefined;
}
