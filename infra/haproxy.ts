import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerReady } from "./container-ready";
import { HEALTH_INTERVAL, HEALTHCHECK_SET_AT_CREATION } from "./healthcheck";
import { dockerLabels } from "./labels";
import { renderFile } from "./render";
import { tcpListening } from "./probes";
import { PATHS, PATRONI_PORTS } from "./topology";

/** A node behind the endpoints: its name and fixed address. */
export interface HaproxyServer {
    name: string;
    address: string;
}

/** haproxy.cfg: read-write to the node whose /primary answers 200, read-only over /replica. */
export function renderHaproxyCfg(servers: HaproxyServer[]): string {
    const lines = servers
        .map((s) => `    server ${s.name} ${s.address}:5432 check port ${PATRONI_PORTS.rest}`)
        .join("\n");
    return renderFile("haproxy.cfg.tmpl", {
        rwPort: String(PATRONI_PORTS.haproxyRw),
        roPort: String(PATRONI_PORTS.haproxyRo),
        rwServers: lines,
        roServers: lines,
    });
}

/** Arguments of a {@link HaproxyEndpoints}. */
export interface HaproxyEndpointsArgs {
    /** Docker container name. */
    containerName: string;
    /** Image with haproxy (the local image carries Debian's haproxy 3.0). */
    image: pulumi.Input<string>;
    /** Name of the cluster's Docker network. */
    network: pulumi.Input<string>;
    /** The container's fixed address on that network (host number 8). */
    address: string;
    /** The PostgreSQL nodes the endpoints spread over. */
    servers: HaproxyServer[];
    /** Host address the ports are published on. @default "127.0.0.1" */
    bindAddress?: string;
    /** Host port of the read-write endpoint (hostPortBase+10). */
    rwPort: number;
    /** Host port of the read-only endpoint (hostPortBase+11). */
    roPort: number;
    /** Labels put on the container. @default none */
    labels?: Record<string, string>;
}

/**
 * The failover=patroni endpoints: one HAProxy whose read-write port reaches whichever node holds
 * Patroni's leader key and whose read-only port spreads over the running replicas, decided by
 * Patroni's REST health checks every second: nothing is re-pointed after a failover.
 */
export class HaproxyEndpoints extends pulumi.ComponentResource {
    /** The HAProxy container. */
    public readonly container: docker.Container;
    /** Done once both endpoints listen. */
    public readonly ready: command.local.Command;

    constructor(name: string, args: HaproxyEndpointsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:HaproxyEndpoints", name, {}, opts);
        const cfgPath = `${PATHS.confDir}/haproxy.cfg`;
        const ip = args.bindAddress ?? "127.0.0.1";
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: args.containerName,
                image: args.image,
                user: "haproxy",
                entrypoints: ["haproxy", "-W", "-db", "-f", cfgPath],
                uploads: [{ file: cfgPath, content: renderHaproxyCfg(args.servers) }],
                networksAdvanced: [{ name: args.network, ipv4Address: args.address }],
                ports: [
                    { internal: PATRONI_PORTS.haproxyRw, external: args.rwPort, ip, protocol: "tcp" },
                    { internal: PATRONI_PORTS.haproxyRo, external: args.roPort, ip, protocol: "tcp" },
                ],
                dnsOpts: ["timeout:1", "attempts:1"],
                // Healthy once both endpoints listen (python3 is in every image with Patroni); read
                // later (docker ps, monitoring): `ready` below decides when the endpoints are up.
                healthcheck: {
                    tests: [
                        "CMD",
                        "python3",
                        "-c",
                        `import socket\nfor p in (${PATRONI_PORTS.haproxyRw}, ${PATRONI_PORTS.haproxyRo}): socket.create_connection(("127.0.0.1", p), 1).close()`,
                    ],
                    interval: HEALTH_INTERVAL,
                    timeout: "5s",
                    retries: 5,
                    startPeriod: "30s",
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
                probe: `${tcpListening(PATRONI_PORTS.haproxyRw)} && ${tcpListening(PATRONI_PORTS.haproxyRo)}`,
                timeoutSeconds: 60,
            },
            { parent: this },
        );
        this.registerOutputs({});
    }
}
