import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerReady } from "./container-ready";
import { HEALTH_INTERVAL, HEALTHCHECK_SET_AT_CREATION } from "./healthcheck";
import { dockerLabels } from "../model/labels";
import { METRICS_AUTH_MODULE } from "../model/metrics-endpoint";
import { tcpListening } from "../model/probes";
import { renderFile } from "../model/render";
import { containerNetworking, Engine, onEngine } from "./engines";

/** Where the exporter's files go inside its container. */
export const METRICS_PATHS = {
    dir: "/etc/pg-replication/exporter",
    config: "/etc/pg-replication/exporter/postgres_exporter.yml",
    haproxyConfig: "/etc/pg-replication/exporter/haproxy.cfg",
    entrypoint: "/etc/pg-replication/exporter/entrypoint.sh",
    /** The stack's CA, which the exporter verifies each node with (tls required). */
    caCert: "/etc/pg-replication/exporter/ca.crt",
    /** The exporter's only listener (HAProxy is in front), in a directory only postgres may enter. */
    socketDir: "/run/pg-replication-exporter",
    socket: "/run/pg-replication-exporter/exporter.sock",
} as const;

/** The user Prometheus authenticates as (basic auth) on the exporter's port. */
export const METRICS_USER = "prometheus";

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
        socketDir: METRICS_PATHS.socketDir,
        socket: METRICS_PATHS.socket,
    });
}

/**
 * The only /probe query strings let through, decoded: the cluster's auth module and one of the
 * exporter's targets, in the order Prometheus sends them (url.Values.Encode sorts the keys).
 */
export function allowedProbeQueries(targets: string[]): string[] {
    return targets.map((t) => `auth_module=${METRICS_AUTH_MODULE}&target=${t}`);
}

/**
 * HAProxy in front of the exporter, listening on `port`: basic auth for everything, /metrics, and
 * /probe only for `targets` (the exporter connects to any target it is given and has no allow-list).
 * HAProxy reads `insecure-password` from a 0600 file only the container's postgres user reads.
 */
export function renderExporterHaproxy(targets: string[], user: string, password: string, port: number): string {
    if (!/^[A-Za-z0-9_.~-]+$/.test(password)) throw new Error("the metrics password must be URL-safe base64");
    return renderFile("metrics-haproxy.cfg.tmpl", {
        user,
        password,
        port: String(port),
        socket: METRICS_PATHS.socket,
        allowedQueries: allowedProbeQueries(targets).join(" "),
    });
}

/** Arguments of a {@link PostgresExporter}. */
export interface PostgresExporterArgs {
    /** Container name. */
    containerName: string;
    /** Image id with prometheus-postgres-exporter (or apt-get to install it). */
    image: pulumi.Input<string>;
    /** The cluster's Docker network. @default none: the host's network (with `engine`) */
    network?: pulumi.Input<string>;
    /** Fixed IPv4 address on that network. @default Docker assigns one */
    address?: string;
    /**
     * The host's engine it runs on (`hosts`): HAProxy then listens on `hostPort` of its host's network
     * itself, publishing nothing. @default the default engine and the cluster network
     */
    engine?: Engine;
    /** Host address the port is published on (on the cluster network). @default "127.0.0.1" */
    bindAddress?: string;
    /** Host port of the exporter's HAProxy. */
    hostPort: number;
    /**
     * Port HAProxy listens on: on the cluster network its own (published on `hostPort`), on its host's
     * network `hostPort` itself (ExporterPlacement.listenPort, model/metrics-endpoint.ts).
     */
    listenPort: number;
    /** Login role with pg_monitor the exporter connects as. */
    user: string;
    /** That role's password (secret). */
    password: pulumi.Input<string>;
    /** Labels on the container. @default none */
    labels?: Record<string, string>;
    /** The only /probe targets let through (`pg1:5432/postgres` …; model/metrics-endpoint.ts). */
    targets: string[];
    /** Password of {@link METRICS_USER}, who alone may read the exporter's port (secret). */
    scrapePassword: pulumi.Input<string>;
    /** The stack's CA certificate: the exporter then connects with TLS, verifying each node. @default undefined (plain text) */
    caCertPem?: pulumi.Input<string>;
}

/**
 * Probe: HAProxy listens on `port` and the exporter on its socket (a listening unix socket, flags
 * 00010000 in /proc/net/unix), read from /proc: the image may have no HTTP client.
 */
export function exporterListening(port: number): string {
    return `${tcpListening(port)} && grep -qE ' 00010000 0001 01 [0-9]+ ${METRICS_PATHS.socket}$' /proc/net/unix`;
}

/**
 * prometheus-postgres-exporter for the cluster's nodes (model/metrics-endpoint.ts says which),
 * through its multi-target /probe endpoint, behind HAProxy: basic auth, and only its targets.
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
        const port = args.listenPort;
        const front = pulumi.secret(
            pulumi
                .output(args.scrapePassword)
                .apply((pw) => renderExporterHaproxy(args.targets, METRICS_USER, pw, port)),
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
                ...containerNetworking(args.engine, args.network, { ipv4Address: args.address }),
                ...(args.engine
                    ? {}
                    : {
                          ports: [
                              {
                                  internal: port,
                                  external: args.hostPort,
                                  ip: args.bindAddress ?? "127.0.0.1",
                                  protocol: "tcp",
                              },
                          ],
                      }),
                // For health read later (docker ps, monitoring); `ready` below decides when it is up.
                healthcheck: {
                    tests: ["CMD-SHELL", exporterListening(port)],
                    interval: HEALTH_INTERVAL,
                    timeout: "3s",
                    retries: 5,
                    startPeriod: "3m0s",
                },
                restart: "unless-stopped",
                labels: dockerLabels(args.labels),
            },
            {
                parent: this,
                ...onEngine(args.engine),
                deleteBeforeReplace: true,
                ignoreChanges: [HEALTHCHECK_SET_AT_CREATION],
            },
        );
        this.ready = containerReady(
            `${name}-ready`,
            {
                containerName: this.container.name,
                containerId: this.container.id,
                probe: exporterListening(port),
                timeoutSeconds: 240,
                engine: args.engine,
            },
            { parent: this },
        );
        this.registerOutputs({ container: this.container.name });
    }
}
