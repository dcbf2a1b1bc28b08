// Error classification (pure) and the router's own errors.
import type { ReplicaStatus } from "./health";

/**
 * What an error says about the server it came from:
 * - `connection`: the server is unreachable or the session died (refused, reset, shut down,
 *   connect timeout), or it is not what the node's target_session_attrs asks for
 *   ({@link HostRejectedError}). The node is taken out of rotation and a read is retried elsewhere.
 * - `busy`: the node is fine but has no capacity now (local pool exhausted, too many
 *   connections). A read is retried elsewhere; the node stays in rotation.
 * - `other`: anything else (syntax error, permission, a constraint). Retrying elsewhere would
 *   fail the same way, so it is thrown to the caller.
 */
export type ErrorKind = "connection" | "busy" | "other";

// Node socket errors that mean "no usable connection to that address".
const SOCKET_CODES = new Set([
    "ECONNREFUSED",
    "ECONNRESET",
    "ECONNABORTED",
    "EPIPE",
    "ETIMEDOUT",
    "EHOSTUNREACH",
    "EHOSTDOWN",
    "ENETUNREACH",
    "ENETDOWN",
    "ENOTFOUND",
    "EAI_AGAIN",
]);

// SQLSTATEs outside class 08 that end or refuse the session because of the server's state:
// admin_shutdown (also a fast shutdown), crash_shutdown, cannot_connect_now (starting up or
// shutting down), idle_session_timeout.
const SESSION_LOST_STATES = new Set(["57P01", "57P02", "57P03", "57P05"]);

// Errors pg and pg-pool raise themselves, without a code.
const CONNECTION_MESSAGES = [
    /^Connection terminated/, // "… unexpectedly", "… due to connection timeout"
    /is not queryable$/, // "Client has encountered a connection error and is not queryable", "Client was closed …"
];
const BUSY_MESSAGES = [/^timeout exceeded when trying to connect$/]; // pg-pool: waited for a free client

function classifyOne(err: unknown, depth: number): ErrorKind {
    if (typeof err !== "object" || err === null || depth > 4) return "other";
    const { code, message, errors, cause } = err as {
        code?: unknown;
        message?: unknown;
        errors?: unknown;
        cause?: unknown;
    };
    if (err instanceof HostRejectedError) return "connection";
    const kind = kindOfCode(code) ?? kindOfMessage(message) ?? kindOfAggregate(errors, depth);
    if (kind !== undefined) return kind;
    return cause === undefined ? "other" : classifyOne(cause, depth + 1);
}

/** What a socket error code or SQLSTATE says, if it says anything. */
function kindOfCode(code: unknown): ErrorKind | undefined {
    if (typeof code !== "string") return undefined;
    if (SOCKET_CODES.has(code) || code.startsWith("08") || SESSION_LOST_STATES.has(code)) return "connection";
    if (code === "53300") return "busy"; // too_many_connections
    return undefined;
}

/** What one of pg's or pg-pool's own (code-less) messages says, if it is one. */
function kindOfMessage(message: unknown): ErrorKind | undefined {
    if (typeof message !== "string") return undefined;
    if (CONNECTION_MESSAGES.some((re) => re.test(message))) return "connection";
    if (BUSY_MESSAGES.some((re) => re.test(message))) return "busy";
    return undefined;
}

/**
 * Node's happy-eyeballs connect reports an AggregateError of per-address failures: it is a
 * connection error when every address failed to connect.
 */
function kindOfAggregate(errors: unknown, depth: number): ErrorKind | undefined {
    if (!Array.isArray(errors)) return undefined;
    const kinds = errors.map((e) => classifyOne(e, depth + 1));
    return kinds.length > 0 && kinds.every((k) => k === "connection") ? "connection" : undefined;
}

/** Classifies an error thrown by pg / pg-pool (see {@link ErrorKind}). */
export function classifyError(err: unknown): ErrorKind {
    return classifyOne(err, 0);
}

/**
 * True for PostgreSQL's read_only_sql_transaction (25006: "cannot execute INSERT in a read-only
 * transaction"): the server took the statement but does not accept writes (a demoted primary, a standby).
 */
export function isReadOnlyError(err: unknown): boolean {
    return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "25006";
}

/** The message of anything thrown, for status reasons. */
export function errorMessage(err: unknown): string {
    if (err instanceof Error) return err.message || err.name;
    // An Error from another realm (a vm context, a test runner's sandbox) is not instanceof Error.
    const message = typeof err === "object" && err !== null ? (err as { message?: unknown }).message : undefined;
    if (typeof message === "string" && message !== "") return message;
    return String(err);
}

/** An `Error` for pg's `release(err)`, which destroys the connection instead of pooling it. */
export function asError(err: unknown): Error {
    return err instanceof Error ? err : new Error(String(err));
}

/** Thrown by a read when no replica is healthy and `fallbackToPrimary` is false. */
export class NoHealthyReplicaError extends Error {
    override readonly name = "NoHealthyReplicaError";
    /** Every replica's status when the read gave up. */
    readonly replicas: ReplicaStatus[];

    constructor(replicas: ReplicaStatus[], cause?: unknown) {
        const why =
            replicas.length === 0
                ? "no replicas are configured"
                : replicas.map((r) => `${r.name}: ${r.reason}`).join("; ");
        super(
            `no healthy replica to read from, and fallbackToPrimary is false (${why})`,
            cause === undefined ? undefined : { cause },
        );
        this.replicas = replicas;
    }
}

/** Thrown by any call on a router after `close()`. */
export class RouterClosedError extends Error {
    override readonly name = "RouterClosedError";

    constructor() {
        super("the ReplicaRouter is closed");
    }
}

/**
 * A host that answered but whose session is not what target_session_attrs asks for (libpq's
 * words: "session is read-only", "server is in hot standby mode", …); the next host is tried.
 */
export class HostRejectedError extends Error {
    override readonly name = "HostRejectedError";
}

/** Why one host of a node was not used. */
export interface HostFailure {
    /** `host:port`. */
    host: string;
    reason: string;
}

/**
 * Thrown when no host of a multi-host node could be used: every host was tried in order and each
 * was unreachable, timed out or was rejected. The message names each host and why; `errors` holds
 * the original errors (classifyError calls it a connection error when each of them is one).
 */
export class NoUsableHostError extends Error {
    override readonly name = "NoUsableHostError";
    readonly failures: HostFailure[];
    readonly errors: unknown[];

    constructor(targetSessionAttrs: string, failures: Array<HostFailure & { error: unknown }>) {
        const wanted = targetSessionAttrs === "any" ? "" : ` with target_session_attrs=${targetSessionAttrs}`;
        super(`no usable host${wanted}: ${failures.map((f) => `${f.host}: ${f.reason}`).join("; ")}`);
        this.failures = failures.map(({ host, reason }) => ({ host, reason }));
        this.errors = failures.map((f) => f.error);
    }
}
