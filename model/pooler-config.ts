// Pure rendering of the PgBouncer endpoints' files. Shared by the component (infra/pooler.ts) and
// by ops/pooler.ts, which re-points a running pooler: both must produce identical files.
import { renderFile } from "./render";
import { tcpListening } from "./probes";
import { TLS_PATHS } from "./topology";

/** `rw` sends every session to the primary; `ro` spreads sessions over the replicas. */
export type PoolerRole = "rw" | "ro";

/** Both endpoints, read-write first (it matters most after a failover). */
export const POOLER_ROLES: readonly PoolerRole[] = ["rw", "ro"];

/** Port PgBouncer listens on inside its container. */
export const POOLER_PORT = 6432;

/** OS user PgBouncer runs as (it refuses to run as root); the image must have it. */
export const POOLER_OS_USER = "postgres";

/** Role the endpoints authenticate: the cluster's superuser. */
export const POOLER_ROLE_NAME = "postgres";

/** Paths inside a pooler container. */
export const POOLER_PATHS = {
    confDir: "/etc/pg-replication/pgbouncer",
    ini: "/etc/pg-replication/pgbouncer/pgbouncer.ini",
    userlist: "/etc/pg-replication/pgbouncer/userlist.txt",
    entrypoint: "/etc/pg-replication/pgbouncer/entrypoint.sh",
    /** The TLS settings, included by pgbouncer.ini: re-pointing rewrites pgbouncer.ini only. */
    tlsIni: "/etc/pg-replication/pgbouncer/tls.ini",
    /** unix_socket_dir: where the admin console listens. */
    socketDir: "/tmp",
} as const;

/** Docker container name of an endpoint. */
export function poolerContainerName(prefix: string, role: PoolerRole): string {
    return `${prefix}-pgbouncer-${role}`;
}

// Node names go into the ini unquoted; keep them to what a Docker network alias allows.
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The nodes an endpoint sends sessions to: the primary, or the replicas (the primary when there are none). */
export function poolerTargets(role: PoolerRole, primary: string, replicas: readonly string[]): string[] {
    for (const node of [primary, ...replicas]) {
        if (!NODE_NAME.test(node)) throw new Error(`pooler: invalid node name ${JSON.stringify(node)}`);
    }
    if (replicas.includes(primary)) throw new Error(`pooler: ${primary} cannot be both the primary and a replica`);
    if (new Set(replicas).size !== replicas.length)
        throw new Error(`pooler: duplicate replica in ${replicas.join(", ")}`);
    if (role === "rw" || replicas.length === 0) return [primary];
    return [...replicas];
}

/**
 * Node name → the address PgBouncer connects to. The cluster passes the nodes' fixed addresses
 * (model/topology.ts), so PgBouncer never depends on DNS, whose cached answers went stale when
 * restarts swapped addresses. Nodes missing from the map are connected to by name.
 */
export type NodeHosts = Readonly<Record<string, string>>;

/** The `[databases]` connection string of an endpoint. */
export function poolerConnstr(
    role: PoolerRole,
    primary: string,
    replicas: readonly string[],
    hosts: NodeHosts = {},
): string {
    const targets = poolerTargets(role, primary, replicas).map((n) => hosts[n] ?? n);
    // A host list is balanced per new server connection (PgBouncer 1.24+ names the default explicitly).
    return targets.length > 1
        ? `host=${targets.join(",")} port=5432 load_balance_hosts=round-robin`
        : `host=${targets[0]} port=5432`;
}

/** pgbouncer.ini of an endpoint. */
export function renderPgBouncerIni(
    role: PoolerRole,
    primary: string,
    replicas: readonly string[],
    hosts: NodeHosts = {},
): string {
    const targets = poolerTargets(role, primary, replicas);
    const targetDescription =
        role === "rw"
            ? `the primary (${primary})`
            : targets[0] === primary
              ? `the primary (${primary}): the cluster has no replicas`
              : `the replicas (${targets.join(", ")}), in turn`;
    return renderFile("pgbouncer.ini.tmpl", {
        role: role === "rw" ? "read-write" : "read-only",
        targetDescription,
        connstr: poolerConnstr(role, primary, replicas, hosts),
        port: String(POOLER_PORT),
        authFile: POOLER_PATHS.userlist,
        tlsIni: POOLER_PATHS.tlsIni,
    });
}

/**
 * tls.ini: with TLS, clients must use TLS 1.3 with the endpoint's certificate, and PgBouncer
 * verifies every node it connects to against the stack's CA (verify-ca: see the template).
 */
export function renderPoolerTlsIni(tls: boolean): string {
    if (!tls)
        return "; tls off: plain text on both sides\nclient_tls_sslmode = disable\nserver_tls_sslmode = disable\n";
    return renderFile("pgbouncer-tls.ini.tmpl", { ca: TLS_PATHS.ca, cert: TLS_PATHS.cert, key: TLS_PATHS.key });
}

/** A userlist.txt line per role. Only SCRAM verifiers are accepted: a plaintext password never lands in the file. */
export function renderUserlist(entries: ReadonlyArray<{ role: string; verifier: string }>): string {
    const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
    return entries
        .map(({ role, verifier }) => {
            if (!/^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/.test(verifier)) {
                throw new Error(`pooler: the auth file entry for ${role} must be a SCRAM-SHA-256 verifier`);
            }
            return `${quote(role)} ${quote(verifier)}\n`;
        })
        .join("");
}

/**
 * Shell probe run in the container: PgBouncer listens on its TCP port. Read from /proc rather than by
 * logging in, which would put a failed login in the log every probe and needs no client tools in the image.
 */
export const POOLER_LISTENING = tcpListening(POOLER_PORT);

/** Healthcheck: {@link POOLER_LISTENING}. */
export const POOLER_HEALTHCHECK = ["CMD-SHELL", POOLER_LISTENING];

/**
 * Entrypoint: uploads arrive owned by root, and PgBouncer refuses to run as root and re-reads the
 * auth file on every RELOAD, so the file is handed to the run-as user (mode 0600) first. PgBouncer
 * drops privileges itself (`-u`), so the image needs no gosu or setpriv; the container runs this as
 * root whatever the image's USER. exec keeps PgBouncer as PID 1, so `docker kill -s HUP` reaches it.
 */
export function renderPoolerEntrypoint(): string {
    return renderFile("pgbouncer-entrypoint.sh.tmpl", {
        osUser: POOLER_OS_USER,
        ini: POOLER_PATHS.ini,
        userlist: POOLER_PATHS.userlist,
    });
}
