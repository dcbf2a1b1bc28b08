// Where the metrics exporters run and what they may scrape (`metrics`): the program, the outputs and
// the tests share it. No Pulumi.
import { ClusterConfig } from "./config";
import { DockerHost, resolvePlacement } from "./hosts";
import { clientHost, MAX_NODES, POSTGRES_PORT, publishedPorts } from "./topology";

/** The auth module Prometheus names in its /probe requests. */
export const METRICS_AUTH_MODULE = "pgreplication";

/** The monitoring role the exporter logs in as (pg_monitor, nothing else). */
export const MONITOR_ROLE_DEFAULT = "pgr_monitor";

/** Port HAProxy, in front of the exporter, listens on inside its container on one engine (published on hostPortBase+12). */
export const METRICS_CONTAINER_PORT = 9187;

/**
 * Base of the exporter's probe URL; append a target: `<base>pg2:5432/postgres`. Prometheus sets
 * `target` per node with relabelling (see docs/operations.md, Metrics).
 */
export function metricsProbeUrl(host: string, port: number): string {
    return `http://${host}:${port}/probe?auth_module=${METRICS_AUTH_MODULE}&target=`;
}

/** One exporter container: where it runs, where HAProxy in front of it listens, what it may scrape. */
export interface ExporterPlacement {
    /** Its container's name. */
    containerName: string;
    /** The host whose engine and network it uses (`hosts`); undefined on one engine (the cluster network). */
    host?: DockerHost;
    /** Port HAProxy listens on: inside the container on one engine, on the host's network across hosts. */
    listenPort: number;
    /** The only `target` values /probe lets through (`pgN:5432/postgres`, or across hosts `address:5432/postgres`). */
    targets: string[];
    /** The full scrape URL of each node it scrapes today, by node name. */
    endpoints: Record<string, string>;
}

type MetricsConfig = Pick<
    ClusterConfig,
    "hosts" | "placement" | "replicas" | "etcdMembers" | "hostPortBase" | "bindAddress"
>;

/**
 * The exporters of stack `prefix`. On one engine, one (`<prefix>-metrics`) for every node, reached on
 * the cluster network by name; it lets through every name a node can have (pg1 … pg10), so a change of
 * `replicas` leaves it untouched (a name with no node scrapes as pg_up 0). Across hosts, one per node on
 * the node's host (`<prefix>-metrics-<host>`), on the host's network at hostPortBase+12, scraping that
 * node alone at its host's address: a host lost takes its own node's metrics and nothing else's.
 */
export function metricsExporters(prefix: string, cfg: MetricsConfig): ExporterPlacement[] {
    const port = publishedPorts(cfg).metrics;
    const placement = resolvePlacement(cfg);
    if (!placement) {
        const target = (node: string) => `${node}:${POSTGRES_PORT}/postgres`;
        const base = metricsProbeUrl(clientHost(cfg), port);
        const nodes = Array.from({ length: cfg.replicas + 1 }, (_, i) => `pg${i + 1}`);
        return [
            {
                containerName: `${prefix}-metrics`,
                listenPort: METRICS_CONTAINER_PORT,
                targets: Array.from({ length: MAX_NODES }, (_, i) => target(`pg${i + 1}`)),
                endpoints: Object.fromEntries(nodes.map((n) => [n, base + target(n)])),
            },
        ];
    }
    return Object.entries(placement.nodes).map(([node, host]) => {
        const target = `${host.address}:${POSTGRES_PORT}/postgres`;
        return {
            containerName: `${prefix}-metrics-${host.name}`,
            host,
            listenPort: port,
            targets: [target],
            endpoints: { [node]: metricsProbeUrl(host.address, port) + target },
        };
    });
}

/** Every node's scrape URL, by node name, over all exporters. */
export function metricsEndpoints(exporters: ExporterPlacement[]): Record<string, string> {
    return Object.assign({}, ...exporters.map((e) => e.endpoints)) as Record<string, string>;
}
