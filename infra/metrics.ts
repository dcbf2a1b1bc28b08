import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerReady } from "./container-ready";
import { HEALTH_INTERVAL, HEALTHCHECK_SET_AT_CREATION } from "./healthcheck";
import { dockerLabels } from "../model/labels";
import { METRICS_AUTH_MODULE } from "../model/metrics-endpoint";
import { renderFile } from "../model/render";

/** Where the exporter's files go inside its container. */
export const METRICS_PATHS = {
    dir: "/etc/pg-replication/exporter",
    config: "/etc/pg-replication/exporter/postgres_exporter.yml",
    haproxyConfig: "/etc/pg-replication/exporter/haproxy.cfg",
    entrypoint: "/etc/pg-replication/exporter/entrypoint.sh",
    /** The stack's CA, which the exporter verifies each node with (tls required). */
    caCert: "/etc/pg-replication/exporter/ca.crt",
} as const;

/** The user Prometheus authenticates as (basic auth) on the exporter's port. */
export const METRICS_USER = "prometheus";

/** Port the exporter itself listens on, on the container's loopback only: HAProxy is in front. */
const EXPORTER_LOOPBACK_PORT = 9188;

/** Port HAProxy, in front of the exporter, listens on inside its container. */
export const METRICS_PORT = 9187;

/** A YAML double-quoted string. */
function yamlString(value: string): string {
    return JSON.stringify(value);
}

/**
 * postgres_exporter's configuration: one auth module with the monitoring role's credentials, so that
 * `/probe?target=pgN:5432/postgres&auth_module=pgreplication` scrapes any node without a password
 * in a URL, an environment variable or Prometheus' config.
 */
export function renderExporterConfig(user: string, password: string, tls: boolean): string {
    // lib/pq, which the exporter uses, reads these as libpq does: verify-full checks the node's
    // certificate names the target (pgN).
    const options = tls
        ? { sslmode: "verify-full", sslrootcert: METRICS_PATHS.caCert }
        : ({ sslmode: "disable" } as Record<string, string>);
    return renderFile("postgres_exporter.yml.tmpl", {
        authModule: METRICS_AUTH_MODULE,
        username: yamlString(user),
        password: yamlString(password),
        options: Object.entries(options)
            .map(([k, v]) => `      ${k}: ${yamlString(v)}`)
            .join("\n"),
    });
}

/**
 * Entrypoint: run the exporter as an unprivileged user. The official postgres image has no exporter
 * but has Debian's repositories, which do: install it on first start there.
 */
export function renderExporterEntrypoint(): string {
    return renderFile("exporter-entrypoint.sh.tmpl", {
        config: METRICS_PATHS.config,
        haproxyConfig: METRICS_PATHS.haproxyConfig,
        exporterPort: String(EXPORTER_LOOPBACK_PORT),
    });
}

/**
 * The only /probe query strings let through, decoded: the cluster's auth module and one of its
 * nodes, in the order Prometheus sends them (url.Values.Encode sorts the keys).
 */
export function allowedProbeQueries(nodes: string[]): string[] {
    return nodes.map((n) => `auth_module=${METRICS_AUTH_MODULE}&target=${n}:5432/postgres`);
}

/**
 * HAProxy in front of the exporter: basic auth for everything, /metrics, and /probe only for this
 * cluster's nodes (the exporter connects to any target it is given and has no allow-list).
 * HAProxy reads `insecure-password` from a 0600 file only the container's postgres user reads.
 */
export function renderExporterHaproxy(nodes: string[], user: string, password: string): string {
    if (!/^[A-Za-z0-9_.~-]+$/.test(password)) throw new Error("the metrics password must be URL-safe base64");
    return renderFile("metrics-haproxy.cfg.tmpl", {
        user,
        password,
        port: String(METRICS_PORT),
        exporterPort: String(EXPORTER_LOOPBACK_PORT),
        allowedQueries: allowedProbeQueries(nodes).join(" "),
    });
}

/** Arguments of a {@link PostgresExporter}. */
export interface PostgresExporterArgs {
    /** Container name. */
    containerName: string;
    /** Image id with prometheus-postgres-exporter (or apt-get to install it). */
    image: pulumi.Input<string>;
    /** The cluster's Docker network. */
    network: pulumi.Input<string>;
    /** Fixed IPv4 address on that network. @default Docker assigns one */
    address?: string;
    /** Host address the port is published on. @default "127.0.0.1" */
    bindAddress?: string;
    /** Host port published for the exporter. */
    hostPort: number;
    /** Login role with pg_monitor the exporter connects as. */
    user: string;
    /** That role's password (secret). */
    password: pulumi.Input<string>;
    /** Labels on the container. @default none */
    labels?: Record<string, string>;
    /** The names the cluster's nodes may have (pg1 …): the only /probe targets let through. */
    nodes: string[];
    /** Password of {@link METRICS_USER}, who alone may read the exporter's port (secret). */
    scrapePassword: pulumi.Input<string>;
    /** The stack's CA certificate: the exporter then connects with TLS, verifying each node. @default undefined (plain text) */
    caCertPem?: pulumi.Input<string>;
}

/**
 * Probe: HAProxy listens on 9187 (0x23E3) and the exporter on the loopback's 9188 (0x23E4), read
 * from /proc: the image may have no HTTP client.
 */
export const EXPORTER_LISTENING =
    "grep -qE ':23E3 0+:0000 0A' /proc/net/tcp /proc/net/tcp6 && grep -qE '0100007F:23E4 0+:0000 0A' /proc/net/tcp";

/**
 * prometheus-postgres-exporter for every node of the cluster, through its multi-target /probe
 * endpoint, behind HAProxy: basic auth, and only this cluster's nodes as targets.
 */
export class PostgresExporter extends pulumi.ComponentResource {
    /** The exporter's container. */
    public readonly container: docker.Container;
    /** Done once the exporter listens. */
    public readonly ready: command.local.Command;

    constructor(name: string, args: PostgresExporterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:PostgresExporter", name, {}, opts);
        const config = pulumi.secret(
            pulumi
                .output(args.password)
                .apply((pw) => renderExporterConfig(args.user, pw, args.caCertPem !== undefined)),
        );
        const front = pulumi.secret(
            pulumi.output(args.scrapePassword).apply((pw) => renderExporterHaproxy(args.nodes, METRICS_USER, pw)),
        );
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: args.containerName,
                image: args.image,
                entrypoints: ["/bin/bash", METRICS_PATHS.entrypoint],
                uploads: [
                    { file: METRICS_PATHS.entrypoint, content: renderExporterEntrypoint(), executable: true },
                    { file: METRICS_PATHS.config, content: config, permissions: "0600" },
                    { file: METRICS_PATHS.haproxyConfig, content: front, permissions: "0600" },
                    ...(args.caCertPem ? [{ file: METRICS_PATHS.caCert, content: args.caCertPem }] : []),
                ],
                networksAdvanced: [{ name: args.network, ipv4Address: args.address }],
                ports: [
                    {
                        internal: METRICS_PORT,
                        external: args.hostPort,
                        ip: args.bindAddress ?? "127.0.0.1",
                        protocol: "tcp",
                    },
                ],
                // For health read later (docker ps, monitoring); `ready` below decides when it is up.
                healthcheck: {
                    tests: ["CMD-SHELL", EXPORTER_LISTENING],
                    interval: HEALTH_INTERVAL,
                    timeout: "3s",
                    retries: 5,
                    startPeriod: "3m0s",
                },
                restart: "unless-stopped",
                labels: dockerLabels(args.labels),
            },
            { parent: this, deleteBeforeReplace: true, ignoreChanges: [HEALTHCHECK_SET_AT_CREATION] },
        );
        this.ready = containerReady(
            `${name}-ready`,
            {
                containerName: this.container.name,
                containerId: this.container.id,
                probe: EXPORTER_LISTENING,
                timeoutSeconds: 240,
            },
            { parent: this },
        );
        this.registerOutputs({ container: this.container.name });
    }
}
