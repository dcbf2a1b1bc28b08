// Drives the live harness CLI from integration tests, and reads what Docker and PostgreSQL say.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Client, ClientConfig } from "pg";
import { ConnectionOptions } from "tls";
import { run } from "../../harness/docker-api";
import { STATE_DIR, StackState } from "../../harness/state";
import { TLS_SELF_SIGNED_CERT } from "../../harness/tls-double";
import { pollUntil, Probe } from "../../ops/ops";

export const ROOT = path.resolve(__dirname, "..", "..");

export interface LiveResult {
    code: number;
    stdout: string;
    stderr: string;
    /** Resource lines: [action, type, name]. */
    actions: Array<[string, string, string]>;
}

/** `--stack` and `--config` arguments of an integration test's own cluster on the local image. */
export function testStackArgs(opts: {
    stack: string;
    subnet: string;
    port: number;
    password: string;
    replicas?: number;
    extra?: string[];
}): string[] {
    const config = [
        `subnet=${opts.subnet}`,
        `hostPortBase=${opts.port}`,
        "image=pg-replication/postgres:17-local",
        "pullImage=false",
        `superuserPassword=${opts.password}`,
        `replicationPassword=${opts.password}-repl`,
        `replicas=${opts.replicas ?? 2}`,
        ...(opts.extra ?? []),
    ];
    return ["--stack", opts.stack, ...config.flatMap((c) => ["--config", c])];
}

/** Runs `npm run live -- <args>` as npm does, through the transpile cache (without npm, to keep output clean). */
export function live(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<LiveResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["-r", "./scripts/register-ts.js", "harness/cli.ts", ...args], {
            cwd: ROOT,
            env,
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.on("error", reject);
        child.on("close", (code) => {
            const actions = stderr
                .split("\n")
                .map((l) => /^ {2}(created|replaced|updated|deleted|unchanged|failed)\s+(\S+)\s+(\S+)/.exec(l))
                .filter((m): m is RegExpExecArray => m !== null)
                .map((m) => [m[1], m[2], m[3]] as [string, string, string]);
            resolve({ code: code ?? 1, stdout, stderr, actions });
        });
    });
}

/** Runs scripts/<script>.ts (an operational command) with `args`, as `npm run -s <script> -- …` would. */
export function runScript(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["-r", "./scripts/register-ts.js", `scripts/${script}.ts`, ...args], {
            cwd: ROOT,
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
}

/** Like {@link live}, but fails with the harness's output when it exits non-zero. */
export async function liveOk(args: string[]): Promise<LiveResult> {
    const res = await live(args);
    if (res.code !== 0) throw new Error(`live ${args.join(" ")} exited ${res.code}:\n${res.stderr}`);
    return res;
}

/** The stack outputs, secrets shown. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- outputs are JSON
export async function stackOutputs(stack: string): Promise<Record<string, any>> {
    const res = await liveOk(["output", "--stack", stack, "--json", "--show-secrets"]);
    return JSON.parse(res.stdout);
}

/** Container id and start time, to prove a container was not restarted or replaced. */
export async function containerIdentity(name: string): Promise<string> {
    const res = await run(["docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name]);
    if (res.code !== 0) throw new Error(`docker inspect ${name}: ${res.stderr}`);
    return res.stdout.trim();
}

/** Names of Docker objects of a kind whose names start with `prefix`. */
export async function dockerNames(kind: "container" | "volume" | "network", prefix: string): Promise<string[]> {
    const argv =
        kind === "container"
            ? ["docker", "ps", "-a", "--format", "{{.Names}}"]
            : ["docker", kind, "ls", "--format", "{{.Name}}"];
    const res = await run(argv);
    return res.stdout
        .split("\n")
        .map((s) => s.trim())
        .filter((s) => s.startsWith(prefix));
}

/** Removes everything a test stack may have left behind, whatever state it is in. */
export async function forceCleanup(stack: string): Promise<void> {
    for (const c of await dockerNames("container", `${stack}-`)) await run(["docker", "rm", "-f", c]);
    for (const v of await dockerNames("volume", `${stack}-`)) await run(["docker", "volume", "rm", "-f", v]);
    for (const n of await dockerNames("network", `${stack}-`)) await run(["docker", "network", "rm", n]);
    await run(["rm", "-f", path.join(ROOT, ".live-state", `${stack}.json`)]);
    // The CA file `up` writes for the connection strings (infra/cluster.ts writeCaCertFile).
    await run(["rm", "-f", path.join(ROOT, ".pg-replication", `${stack}-ca.crt`)]);
}

/** A `--config` value of a stack's harness state, or `fallback` when the stack does not set it. */
function configValue(state: StackState, key: string, fallback: string): string {
    const pair = state.config.find((p) => p.startsWith(`${key}=`));
    return pair === undefined ? fallback : pair.slice(key.length + 1);
}

/**
 * How a test connects to 127.0.0.1:port: verifying the server against the CA of the stack that
 * publishes the port (read from the harness's state, so a re-created stack's new CA is used), as a
 * user would with sslmode=verify-full; plain text when that stack runs with tls off or none does.
 */
export function tlsForPort(port: number): ConnectionOptions | false {
    const ca = caForPort(port);
    return ca === undefined ? false : { ca, rejectUnauthorized: true };
}

/** The CA certificate of the stack that publishes 127.0.0.1:port; undefined with tls off or no such stack. */
export function caForPort(port: number): string | undefined {
    const dir = path.join(ROOT, STATE_DIR);
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")) : [];
    for (const file of files) {
        const state = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as StackState;
        const base = Number(configValue(state, "hostPortBase", "15432"));
        if (port < base || port > base + 12 || state.resources.length === 0) continue;
        if (configValue(state, "tls", "required") === "off") return undefined;
        const ca = state.resources.find((r) => r.type === TLS_SELF_SIGNED_CERT);
        if (typeof ca?.outputs.certPem === "string") return ca.outputs.certPem;
    }
    return undefined;
}

/**
 * The postgres superuser on a node or endpoint published at 127.0.0.1:port, database postgres, with a
 * 5 s connect deadline and the TLS its stack asks for ({@link tlsForPort}); `extra` adds or
 * overrides settings (deadlines, application_name, ssl).
 */
export function localSuperuser(port: number, password: string, extra: Partial<ClientConfig> = {}): ClientConfig {
    return {
        host: "127.0.0.1",
        port,
        user: "postgres",
        password,
        database: "postgres",
        connectionTimeoutMillis: 5000,
        ssl: tlsForPort(port),
        ...extra,
    };
}

/** Runs one query on a node published at 127.0.0.1:port as the postgres superuser. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows are JSON
export async function sql<T = any>(port: number, password: string, text: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client(localSuperuser(port, password));
    await client.connect();
    try {
        return (await client.query(text, params)).rows as T[];
    } finally {
        await client.end();
    }
}

/** Polls `probe` every 200 ms until it returns true (ops/ops.ts pollUntil), failing with its last answer at the deadline. */
export async function eventually(what: string, timeoutMs: number, probe: Probe): Promise<void> {
    const last = await pollUntil(Date.now() + timeoutMs, probe, 200);
    if (last !== true) throw new Error(`${what} did not happen within ${timeoutMs} ms (last: ${last})`);
}
