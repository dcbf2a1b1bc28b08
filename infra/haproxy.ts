import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerReady } from "./container-ready";
import { HEALTH_INTERVAL, HEALTHCHECK_SET_AT_CREATION } from "./healthcheck";
import { dockerLabels } from "../model/labels";
import { renderFile } from "../model/render";
import { tcpListening } from "../model/probes";
import { IssuedCertificate, tlsDockerUploads } from "./certificates";
import { tlsFilesCommand } from "./tls-files";
import { PATHS, PATRONI_PORTS, TLS_PATHS } from "../model/topology";
import { containerNetworking, Engine, onEngine } from "./engines";

/** HAProxy's client certificate and key in one file, as `crt` reads them (made by the entrypoint). */
const CLIENT_PEM = `${TLS_PATHS.dir}/haproxy-client.pem`;
const CONFIG = `${PATHS.confDir}/haproxy.cfg`;
const ENTRYPOINT = `${PATHS.confDir}/haproxy-entrypoint.sh`;
/** The worker's admin socket and where a reload saves the servers' states (`server-state-file`). */
const ADMIN_SOCKET = "/tmp/haproxy-admin.sock";
const STATE_FILE = "/tmp/haproxy-servers.state";

/**
 * Shell: a seamless reload. The servers' states are saved from the running worker (python3 is in
 * every image with Patroni; no socat), then the master (PID 1, master-worker mode) starts a new
 * worker from them; the old worker finishes its sessions.
 */
export function haproxyReloadCommand(): string {
    const py = [
        "import socket, sys",
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'show servers state\\n')",
        "data = b''",
        "while True:",
        "    chunk = s.recv(65536)",
        "    if not chunk: break",
        "    data += chunk",
        "open(sys.argv[2], 'wb').write(data)",
    ].join("\n");
    // The master re-reads the configuration as haproxy: the state file must be its to read.
    return `python3 -c "${py}" ${ADMIN_SOCKET} ${STATE_FILE}\nchown haproxy ${STATE_FILE}\nkill -USR2 1`;
}

/** Shell: HAProxy's client certificate and key in one file, for the haproxy user (the entrypoint and a rotation). */
function clientPemCommand(): string {
    return `(umask 077 && cat ${TLS_PATHS.cert} ${TLS_PATHS.key} > ${CLIENT_PEM}) && chown haproxy ${CLIENT_PEM}`;
}

/** The entrypoint: TLS files for the haproxy user, then HAProxy as that user. */
export function renderHaproxyEntrypoint(): string {
    return renderFile("haproxy-entrypoint.sh.tmpl", { clientPem: clientPemCommand(), config: CONFIG });
}

/** A node behind the endpoints: its name and fixed address. */
export interface HaproxyServer {
    name: string;
    address: string;
}

/**
 * haproxy.cfg: read-write to the node whose /primary answers 200, read-only over /replica. With
 * `tls`, the checks reach the REST API over HTTPS, verifying it against the stack's CA and
 * presenting HAProxy's certificate; the PostgreSQL traffic passes through as it is (the client's
 * TLS session ends at the node).
 */
export function renderHaproxyCfg(
    servers: HaproxyServer[],
    tls = false,
    listen: { rw: number; ro: number } = { rw: PATRONI_PORTS.haproxyRw, ro: PATRONI_PORTS.haproxyRo },
): string {
    const checkTls = tls ? ` check-ssl verify required ca-file ${TLS_PATHS.ca} crt ${CLIENT_PEM}` : "";
    const lines = servers
        .map((s) => `    server ${s.name} ${s.address}:5432 check port ${PATRONI_PORTS.rest}${checkTls}`)
        .join("\n");
    return renderFile("haproxy.cfg.tmpl", {
        adminSocket: ADMIN_SOCKET,
        stateFile: STATE_FILE,
        rwPort: String(listen.rw),
        roPort: String(listen.ro),
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
    /** Name of the cluster's Docker network. @default none: the host's network (with `engine`) */
    network?: pulumi.Input<string>;
    /** The container's fixed address on that network (host number 8), or its host's. */
    address: string;
    /**
     * The host's engine it runs on (`hosts`): HAProxy then listens on rwPort and roPort of its host's
     * network itself, publishing nothing. @default the default engine and the cluster network
     */
    engine?: Engine;
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
    /** The stack's CA and HAProxy's certificate: the health checks then use HTTPS with it. @default undefined (HTTP) */
    tls?: { caCertPem: pulumi.Input<string>; certificate: IssuedCertificate };
}

/**
 * Where HAProxy listens: on its host's network the endpoint ports themselves; on the cluster network
 * its own ports, published on the endpoint ports.
 */
function listenPorts(args: HaproxyEndpointsArgs): { rw: number; ro: number } {
    return args.engine
        ? { rw: args.rwPort, ro: args.roPort }
        : { rw: PATRONI_PORTS.haproxyRw, ro: PATRONI_PORTS.haproxyRo };
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
        const ip = args.bindAddress ?? "127.0.0.1";
        const listen = listenPorts(args);
        const tlsFiles = args.tls
            ? tlsDockerUploads(PATHS.confDir, args.tls.caCertPem, args.tls.certificate, 2)
            : { uploads: [], ignore: [] };
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: args.containerName,
                image: args.image,
                // Root to hand the TLS files over; the entrypoint runs HAProxy as haproxy.
                user: "root",
                entrypoints: ["/bin/sh", ENTRYPOINT],
                uploads: [
                    { file: ENTRYPOINT, content: renderHaproxyEntrypoint(), executable: true },
                    { file: CONFIG, content: renderHaproxyCfg(args.servers, args.tls !== undefined, listen) },
                    ...tlsFiles.uploads,
                ],
                ...containerNetworking(args.engine, args.network, { ipv4Address: args.address }),
                ...(args.engine
                    ? {}
                    : {
                          ports: [
                              { internal: listen.rw, external: args.rwPort, ip, protocol: "tcp" },
                              { internal: listen.ro, external: args.roPort, ip, protocol: "tcp" },
                          ],
                          dnsOpts: ["timeout:1", "attempts:1"],
                      }),
                // Healthy once both endpoints listen (python3 is in every image with Patroni); read
                // later (docker ps, monitoring): `ready` below decides when the endpoints are up.
                healthcheck: {
                    tests: [
                        "CMD",
                        "python3",
                        "-c",
                        `import socket\nfor p in (${listen.rw}, ${listen.ro}): socket.create_connection(("127.0.0.1", p), 1).close()`,
                    ],
                    interval: HEALTH_INTERVAL,
                    timeout: "5s",
                    retries: 5,
                    startPeriod: "30s",
                },
                restart: "unless-stopped",
                labels: dockerLabels(args.labels),
            },
            {
                parent: this,
                ...onEngine(args.engine),
                deleteBeforeReplace: true,
                ignoreChanges: [HEALTHCHECK_SET_AT_CREATION, ...tlsFiles.ignore],
            },
        );
        this.ready = containerReady(
            `${name}-ready`,
            {
                containerName: this.container.name,
                containerId: this.container.id,
                probe: `${tcpListening(listen.rw)} && ${tcpListening(listen.ro)}`,
                timeoutSeconds: 60,
                engine: args.engine,
            },
            { parent: this },
        );
        if (args.tls) {
            // The check certificate file again, then a reload of the master process (PID 1,
            // master-worker mode): new workers read it; the old ones finish their sessions.
            tlsFilesCommand(
                `${name}-tls-files`,
                {
                    containerName: this.container.name,
                    containerId: this.container.id,
                    caCertPem: args.tls.caCertPem,
                    certificate: args.tls.certificate,
                    owner: "haproxy",
                    reload: `${clientPemCommand()}\n${haproxyReloadCommand()}`,
                    engine: args.engine,
                },
                { parent: this, dependsOn: [this.ready] },
            );
        }
        this.registerOutputs({});
    }
}
