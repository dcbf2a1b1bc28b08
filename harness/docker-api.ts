// A minimal Docker Engine API client over a unix socket or tcp:// (with TLS), for the live harness.
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as path from "path";

/** The client side of TLS to a tcp:// engine, as terraform-provider-docker builds it. */
export interface EngineTlsClient {
    /** PEM; undefined: the server's certificate is not verified (the provider's InsecureSkipVerify). */
    ca?: string;
    cert: string;
    key: string;
}

/**
 * A Docker engine the harness talks to: the address as configured, and how it is reached: the unix
 * socket, or the tcp:// host and port, over TLS when the provider has client material.
 */
export interface DockerEngine {
    /** As a provider's `host` says it (`unix:///run/…/docker.sock`, `tcp://10.0.0.5:2376`). */
    host: string;
    socketPath?: string;
    tcp?: { hostname: string; port: number; tls?: EngineTlsClient };
}

/** A provider's TLS inputs (pulumi-docker Provider args caMaterial, certMaterial, keyMaterial, certPath). */
export interface ProviderTlsInputs {
    caMaterial?: string;
    certMaterial?: string;
    keyMaterial?: string;
    certPath?: string;
}

/** The Engine's socket: DOCKER_HOST when it is a unix:// address, else the default. */
export function dockerSocket(): string {
    const host = process.env.DOCKER_HOST;
    return host?.startsWith("unix://") ? host.slice("unix://".length) : "/var/run/docker.sock";
}

/** The engine of resources declared without a provider (what the harness has always used). */
export function defaultEngine(): DockerEngine {
    const socketPath = dockerSocket();
    return { host: `unix://${socketPath}`, socketPath };
}

/**
 * The client TLS a provider's inputs give, as terraform-provider-docker v4.5.0 builds its client
 * (internal/provider/config.go, `ProviderConfig.MakeClient`): cert_material or key_material given ->
 * both required ("cert_material, and key_material must be specified") and cert_path refused ("cert_path
 * must not be specified"), the client from the bytes (`buildHTTPClientFromBytes`: the key pair as the
 * client certificate; no ca_material = InsecureSkipVerify, else the CA as the only root, "could not add
 * RootCA pem" when it holds no certificate); else cert_path -> ca.pem, cert.pem and key.pem read from
 * that directory (`client.WithTLSClientConfig`, the server verified against ca.pem); else no TLS.
 */
export function providerTls(inputs: ProviderTlsInputs): EngineTlsClient | undefined {
    const { caMaterial: ca, certMaterial: cert, keyMaterial: key, certPath } = inputs;
    if (cert || key) {
        if (!cert || !key) throw new Error("cert_material, and key_material must be specified");
        if (certPath) throw new Error("cert_path must not be specified");
        if (ca && !/-----BEGIN CERTIFICATE-----/.test(ca)) throw new Error("could not add RootCA pem");
        return { ...(ca ? { ca } : {}), cert, key };
    }
    if (certPath) {
        const read = (name: string) => fs.readFileSync(path.join(certPath, name), "utf8");
        return { ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") };
    }
    return undefined;
}

/**
 * The engine a `docker.Provider` reaches, from its `host` input. Unset: DOCKER_HOST, else
 * `unix:///var/run/docker.sock`, as the provider's schema default does (terraform-provider-docker
 * v4.5.0 internal/provider/provider.go, `"host"` DefaultFunc; @pulumi/docker 5.2.0 provider.js also
 * fills `host` from DOCKER_HOST). `unix://` sockets and `tcp://host:port` (TLS from `tls`,
 * {@link providerTls}; plain HTTP without, as the provider's direct client) are implemented;
 * `ssh://`, TLS over a unix socket and a Docker `context` fail, naming what.
 */
export function engineFor(host: string | undefined, context?: string, tls: ProviderTlsInputs = {}): DockerEngine {
    if (context)
        throw new Error(`docker provider context ${JSON.stringify(context)}: not implemented by the live harness`);
    const address = host || process.env.DOCKER_HOST || "unix:///var/run/docker.sock";
    const client = providerTls(tls);
    if (address.startsWith("unix://") && !client) return { host: address, socketPath: address.slice("unix://".length) };
    const tcp = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(address);
    if (tcp)
        return { host: address, tcp: { hostname: tcp[1], port: Number(tcp[2]), ...(client ? { tls: client } : {}) } };
    throw new Error(
        `docker provider host ${JSON.stringify(address)}${client ? " with TLS material" : ""}: not implemented by the live harness ` +
            "(only unix:// sockets and tcp://host:port)",
    );
}

/** Where a request to `engine` goes: its socket, or its host and port (with the client's TLS). */
function requestTarget(engine: DockerEngine): { request: typeof http.request; options: https.RequestOptions } {
    if (engine.socketPath) return { request: http.request, options: { socketPath: engine.socketPath } };
    const { hostname, port, tls } = engine.tcp ?? { hostname: "", port: 0 };
    if (!tls) return { request: http.request, options: { hostname, port } };
    return {
        request: https.request,
        options: {
            hostname,
            port,
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca ? { ca: tls.ca, rejectUnauthorized: true } : { rejectUnauthorized: false }),
            // One connection per request: the provider's transport disables keep-alives (config.go defaultTransport).
            agent: false,
        },
    };
}

/** An error answer from the Engine, with its HTTP status. */
export class DockerApiError extends Error {
    constructor(
        public readonly status: number,
        message: string,
    ) {
        super(message);
    }
}

/** Calls the Engine API of `engine`; JSON in and out. */
export async function dockerApi<T = unknown>(
    engine: DockerEngine,
    method: string,
    path: string,
    body?: unknown,
    raw?: Buffer,
): Promise<T> {
    const text = (await dockerApiBytes(engine, method, path, body, raw)).toString("utf8");
    try {
        return (text === "" ? undefined : JSON.parse(text)) as T;
    } catch {
        return text as unknown as T;
    }
}

/** Calls the Engine API of `engine` with a JSON (or tar) body; the answer's bytes as they came. */
export function dockerApiBytes(
    engine: DockerEngine,
    method: string,
    path: string,
    body?: unknown,
    raw?: Buffer,
): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const payload = raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
        const target = requestTarget(engine);
        const req = target.request(
            {
                ...target.options,
                method,
                path,
                headers: payload
                    ? {
                          "Content-Type": raw ? "application/x-tar" : "application/json",
                          "Content-Length": payload.length,
                      }
                    : {},
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => {
                    const bytes = Buffer.concat(chunks);
                    const status = res.statusCode ?? 0;
                    if (status >= 400) {
                        let message = bytes.toString("utf8");
                        try {
                            message = (JSON.parse(message) as { message: string }).message;
                        } catch {
                            /* keep the raw text */
                        }
                        reject(new DockerApiError(status, `${method} ${path}: ${status} ${message.trim()}`));
                        return;
                    }
                    resolve(bytes);
                });
            },
        );
        // The provider's client fails the same way when it cannot reach its host (config.go MakeClient:
        // "Error pinging Docker server, please make sure that %s is reachable").
        req.on("error", (err) =>
            reject(new Error(`cannot reach the Docker engine at ${engine.host}: ${err.message}`, { cause: err })),
        );
        if (payload) req.write(payload);
        req.end();
    });
}

/** Resolves when the Engine answers; otherwise fails with how to start one. */
export async function requireDocker(): Promise<void> {
    try {
        await dockerApi(defaultEngine(), "GET", "/_ping");
    } catch (err) {
        throw new Error(
            `no Docker engine answers at ${dockerSocket()} (${(err as Error).message}). ` +
                "Start one with `bash scripts/start-docker.sh` (installs docker.io if needed and runs dockerd), " +
                "or point DOCKER_HOST at a running engine.",
            { cause: err },
        );
    }
}

/** Runs a program and returns its stdout; rejects with its stderr on a non-zero exit. */
export function run(
    argv: string[],
    opts: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
    return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { env: opts.env ?? process.env, cwd: opts.cwd });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (c: Buffer) => out.push(c));
        child.stderr.on("data", (c: Buffer) => err.push(c));
        child.on("error", reject);
        child.on("close", (code) =>
            resolve({
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: Buffer.concat(err).toString("utf8"),
                code: code ?? 1,
            }),
        );
        child.stdin.on("error", () => undefined);
        child.stdin.end(opts.stdin ?? "");
    });
}
