/** The auth module Prometheus names in its /probe requests. */
export const METRICS_AUTH_MODULE = "pgreplication";

/** The monitoring role the exporter logs in as (pg_monitor, nothing else). */
export const MONITOR_ROLE_DEFAULT = "pgr_monitor";

/**
 * Base of the exporter's probe URL; append a node: `<base>pg2:5432/postgres`. Prometheus sets
 * `target` per node with relabelling (see docs/operations.md, Metrics).
 */
export function metricsProbeUrl(host: string, port: number): string {
    return `http://${host}:${port}/probe?auth_module=${METRICS_AUTH_MODULE}&target=`;
}
