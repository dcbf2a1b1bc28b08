// The stack's `settings` applied to a running failover=manual cluster without taking the primary
// down: ALTER SYSTEM on every node (postgresql.auto.conf, on the data volume: it outlives a re-created
// container and is copied to a new replica by pg_basebackup), a reload, then what still waits for a
// restart. Replicas are restarted one at a time, each streaming again before the next is touched; a
// restart of the primary is never done here: the exact switchover that applies it is printed. A
// value the server refuses on reload is rolled back on that node before anything else is touched.
import { PARAMETERS } from "../model/postgres-parameters";
import { quoteLiteral } from "../model/sql";
import { NodeRef, SqlRunner } from "./cluster-discovery";
import { pollUntil } from "./ops";

/** What changes between the settings applied last and the ones wanted now. */
export interface SettingsPlan {
    /** Parameters to set (new or changed), name → value. */
    set: Record<string, string>;
    /** Parameters to reset to their postgresql.conf / built-in value (no longer in `settings`). */
    reset: string[];
}

/** The change from `previous` to `desired` (names in sorted order, for stable statements). */
export function settingsPlan(previous: Record<string, string>, desired: Record<string, string>): SettingsPlan {
    const set: Record<string, string> = {};
    for (const name of Object.keys(desired).sort()) if (previous[name] !== desired[name]) set[name] = desired[name];
    const reset = Object.keys(previous)
        .filter((n) => !(n in desired))
        .sort();
    return { set, reset };
}

/** The plan that undoes `plan`, back to `previous`. */
export function inversePlan(plan: SettingsPlan, previous: Record<string, string>): SettingsPlan {
    const names = [...Object.keys(plan.set), ...plan.reset];
    const set: Record<string, string> = {};
    const reset: string[] = [];
    for (const n of names) {
        if (n in previous) set[n] = previous[n];
        else reset.push(n);
    }
    return { set, reset };
}

/**
 * List parameters whose postgresql.conf value is a comma-separated list: ALTER SYSTEM takes their
 * elements as separate literals (one quoted string would be a single element, e.g. one schema
 * named "a, b").
 */
const LIST_PARAMETERS = new Set([
    "search_path",
    "temp_tablespaces",
    "shared_preload_libraries",
    "local_preload_libraries",
    "session_preload_libraries",
]);

/** The value of `name` as ALTER SYSTEM SET takes it: one literal, or one per list element. */
function alterValue(name: string, value: string): string {
    if (!LIST_PARAMETERS.has(name)) return quoteLiteral(value);
    return value
        .split(",")
        .map((e) => e.trim().replace(/^"(.*)"$/, "$1"))
        .filter((e) => e !== "")
        .map(quoteLiteral)
        .join(", ");
}

/** ALTER SYSTEM statements for a plan (names are validated parameter names: never quoted, ext.name keeps its dot). */
export function alterSystemStatements(plan: SettingsPlan): string[] {
    return [
        ...Object.entries(plan.set).map(([n, v]) => `ALTER SYSTEM SET ${n} = ${alterValue(n, v)}`),
        ...plan.reset.map((n) => `ALTER SYSTEM RESET ${n}`),
    ];
}

/** Whether a parameter takes effect only after a restart (pg_settings.context postmaster). */
export function needsRestart(name: string): boolean {
    return PARAMETERS[name]?.context === "postmaster";
}

/** What one node said after the plan and a reload. */
export interface NodeOutcome {
    node: string;
    /** Parameters in the configuration files the server refused (pg_file_settings.error). */
    errors: string[];
    /** Parameters whose new value waits for a restart (pg_settings.pending_restart). */
    pendingRestart: string[];
}

/** Waits until the reload asked at `before` (pg_conf_load_time) is processed: new sessions then see it. */
async function reloaded(sql: SqlRunner, n: NodeRef, before: string, timeoutMs: number): Promise<void> {
    const done = await pollUntil(
        Date.now() + timeoutMs,
        async () => {
            const [row] = await sql.rows<{ newer: boolean }>(
                n,
                `SELECT pg_conf_load_time() > ${quoteLiteral(before)}::timestamptz AS newer`,
            );
            return row?.newer === true || "not yet";
        },
        100,
    );
    if (done !== true) throw new Error(`${n.node} did not reload its configuration within ${timeoutMs} ms`);
}

/**
 * Runs the plan on one node (ALTER SYSTEM, reload) and reads what the server made of it. A statement
 * the server refuses (ALTER SYSTEM checks each value) or a file entry it cannot apply on reload is an
 * error; a restart-only parameter is not (pg_file_settings marks it "could not be applied" until a
 * restart: it is pending instead).
 */
export async function applyOnNode(
    sql: SqlRunner,
    n: NodeRef,
    plan: SettingsPlan,
    timeoutMs = 10_000,
): Promise<NodeOutcome> {
    const statements = alterSystemStatements(plan);
    let refused: string | undefined;
    if (statements.length > 0) {
        // Not "AS t": dockerSql aggregates the rows of a subquery aliased t.
        const [{ loaded }] = await sql.rows<{ loaded: string }>(n, "SELECT pg_conf_load_time()::text AS loaded");
        try {
            await sql.exec(n, [...statements, "SELECT pg_reload_conf()"]);
            await reloaded(sql, n, loaded, timeoutMs);
        } catch (err) {
            refused = (err as Error).message;
        }
    }
    const pending = (
        await sql.rows<{ name: string }>(n, "SELECT name FROM pg_settings WHERE pending_restart ORDER BY name")
    ).map((p) => p.name);
    const fileErrors = await sql.rows<{ name: string | null; error: string }>(
        n,
        "SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL",
    );
    return {
        node: n.node,
        errors: [
            ...(refused === undefined ? [] : [refused]),
            ...fileErrors
                .filter((e) => e.name === null || !pending.includes(e.name))
                .map((e) => `${e.name ?? "(file)"}: ${e.error}`),
        ],
        pendingRestart: pending,
    };
}
