// A minimal Docker Engine API client over the local socket, for the live harness.
import { spawn } from "child_process";
import * as http from "http";

/** A Docker engine the harness talks to: the address as configured, and the unix socket that reaches it. */
export interface DockerEngine {
    /** As a provider's `host` says it (`unix:///run/…/docker.sock`). */
    host: string;
    socketPath: string;
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
 * The engine a `docker.Provider` reaches, from its `host` input. Unset: DOCKER_HOST, else
 * `unix:///var/run/docker.sock`, as the provider's schema default does (terraform-provider-docker
 * v4.5.0 internal/provider/provider.go, `"host"` DefaultFunc; @pulumi/docker 5.2.0 provider.js also
 * fills `host` from DOCKER_HOST). Only `unix://` addresses are implemented: `ssh://` and `tcp://`
 * (and a Docker `context`) fail, naming the host.
 */
export function engineFor(host: string | undefined, context?: string): DockerEngine {
    if (context)
        throw new Error(`docker provider context ${JSON.stringify(context)}: not implemented by the live harness`);
    const address = host || process.env.DOCKER_HOST || "unix:///var/run/docker.sock";
    if (!address.startsWith("unix://"))
        throw new Error(
            `docker provider host ${JSON.stringify(address)}: not implemented by the live harness (only unix:// sockets)`,
        );
    return { host: address, socketPath: address.slice("unix://".length) };
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
export function dockerApi<T = unknown>(
    engine: DockerEngine,
    method: string,
    path: string,
    body?: unknown,
    raw?: Buffer,
): Promise<T> {
    return new Promise((resolve, reject) => {
        const payload = raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
        const req = http.request(
            {
                socketPath: engine.socketPath,
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
                    const text = Buffer.concat(chunks).toString("utf8");
                    const status = res.statusCode ?? 0;
                    if (status >= 400) {
                        let message = text;
                        try {
                            message = (JSON.parse(text) as { message: string }).message;
                        } catch {
                            /* keep the raw text */
                        }
                        reject(new DockerApiError(status, `${method} ${path}: ${status} ${message.trim()}`));
                        return;
                    }
                    try {
                        resolve((text === "" ? undefined : JSON.parse(text)) as T);
                    } catch {
                        resolve(text as unknown as T);
                    }
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
