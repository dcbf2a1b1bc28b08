// A minimal Docker Engine API client over the local socket, for the live harness.
import { spawn } from "child_process";
import * as http from "http";

/** The Engine's socket: DOCKER_HOST when it is a unix:// address, else the default. */
export function dockerSocket(): string {
    const host = process.env.DOCKER_HOST;
    return host?.startsWith("unix://") ? host.slice("unix://".length) : "/var/run/docker.sock";
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

/** Calls the Engine API; JSON in and out. */
export function dockerApi<T = unknown>(method: string, path: string, body?: unknown, raw?: Buffer): Promise<T> {
    return new Promise((resolve, reject) => {
        const payload = raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
        const req = http.request(
            {
                socketPath: dockerSocket(),
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
        req.on("error", reject);
        if (payload) req.write(payload);
        req.end();
    });
}

/** Resolves when the Engine answers; otherwise fails with how to start one. */
export async function requireDocker(): Promise<void> {
    try {
        await dockerApi("GET", "/_ping");
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
