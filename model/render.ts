import * as fs from "fs";
import * as path from "path";
import { ClusterConfig } from "./config";
import {
    replicationSources,
    severalHosts,
    CLUSTER_ALIAS,
    NodeSpec,
    PATHS,
    STANZA,
    ARCHIVE_GET_COMMAND,
    TLS_APPLIED,
    TLS_PATHS,
} from "./topology";

/**
 * Where every file the cluster's containers receive is written down: configuration and entrypoints,
 * rendered by {@link renderFile} (`.tmpl` marks the ones with `{{placeholders}}`).
 */
export const TEMPLATE_DIR = path.resolve(__dirname, "..", "templates");

/** Seconds a new replica keeps retrying pg_basebackup while its primary comes up. */
export const BASEBACKUP_TIMEOUT_SECONDS = 300;

/**
 * The one way a file is made: `templates/<name>` with its `{{placeholders}}` replaced by `vars`
 * (a file without placeholders is rendered as it is written).
 */
export function renderFile(name: string, vars: Record<string, string> = {}): string {
    return renderTemplate(fs.readFileSync(path.join(TEMPLATE_DIR, name), "utf8"), vars);
}

/** Replaces every `{{key}}`; a placeholder without a value (or a value without a use) is an error. */
export function renderTemplate(text: string, vars: Record<string, string>): string {
    const used = new Set<string>();
    const out = text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
        if (!(key in vars)) throw new Error(`template placeholder {{${key}}} has no value`);
        used.add(key);
        return vars[key];
    });
    const unused = Object.keys(vars).filter((k) => !used.has(k));
    if (unused.length > 0) throw new Error(`template values never used: ${unused.join(", ")}`);
    return out;
}

/** A postgresql.conf value, always quoted (PostgreSQL accepts quotes for every type). */
export function confValue(value: string): string {
    return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/**
 * settings.conf: the stack's `settings` as a new cluster starts with them. The entrypoint appends it
 * to postgresql.auto.conf right after initdb (a replica clones that file), so the first start runs
 * with them; later changes are applied online with ALTER SYSTEM (ops/hooks/apply-settings.ts), never
 * by re-creating a node (the file's changes are ignored).
 */
export function renderSettingsConf(cfg: ClusterConfig): string {
    const names = Object.keys(cfg.settings).sort();
    return [
        "# The stack's settings at bootstrap (pg-replication).",
        ...names.map((n) => `${n} = ${confValue(cfg.settings[n])}`),
    ]
        .join("\n")
        .concat("\n");
}

/**
 * libpq options of every connection a node opens to another node; `host=` comes first, per target.
 * With TLS the server must prove it is that node (verify-full against the stack's CA).
 */
export function nodeConnectOptions(cfg: Pick<ClusterConfig, "tls">): string {
    const tls = cfg.tls === "required" ? ` sslmode=verify-full sslrootcert=${TLS_PATHS.ca}` : "";
    return `port=5432 connect_timeout=3 passfile=${PATHS.pgpass}${tls}`;
}

/** What follows `host=<primary>` in the connection string a standby clones and streams with. */
export function standbyConnectOptions(cfg: Pick<ClusterConfig, "tls" | "replicationUser">, node: string): string {
    return `${nodeConnectOptions(cfg)} user=${cfg.replicationUser} application_name=${node}`;
}

/**
 * libpq connection string a standby streams from `primary` with: failover and rejoin set it; the
 * entrypoint builds the same from node.env's PGR_STANDBY_CONNECT.
 */
export function primaryConninfo(
    cfg: Pick<ClusterConfig, "tls" | "replicationUser">,
    node: string,
    primary: string,
): string {
    return `host=${primary} ${standbyConnectOptions(cfg, node)}`;
}

/**
 * PostgreSQL's TLS parameters under the stack's policy, in both failover modes: TLS 1.3 only,
 * with the node's certificate; `ssl_ca_file` lets a client certificate be checked.
 */
export function tlsParameters(cfg: Pick<ClusterConfig, "tls">): Record<string, string> {
    if (cfg.tls === "off") return { ssl: "off" };
    return {
        ssl: "on",
        ssl_cert_file: TLS_PATHS.cert,
        ssl_key_file: TLS_PATHS.key,
        ssl_ca_file: TLS_PATHS.ca,
        ssl_min_protocol_version: "TLSv1.3",
    };
}

/**
 * archive_command and restore_command through pgBackRest (empty when `backups` is off); one
 * builder for both failover modes.
 */
export function archiveCommands(cfg: ClusterConfig): { archiveCommand: string; restoreCommand: string } {
    if (!cfg.backups) return { archiveCommand: "", restoreCommand: "" };
    return {
        // archive-push succeeds for a segment the repository already holds with the same checksum
        // (PostgreSQL archives a segment again after a crash between the push and its status
        // update) and fails for different contents: nothing archived is ever overwritten.
        archiveCommand: `pgbackrest --stanza=${STANZA} archive-push %p`,
        // pgbackrest archive-get, failing at once for a few seconds once the repository is found not to
        // answer (templates/archive-get.sh): a promotion's calls must not each wait for it.
        restoreCommand: `${ARCHIVE_GET_COMMAND} %f "%p"`,
    };
}

/** postgresql.conf for a node: the same whether the node is primary or standby. */
export function renderPostgresqlConf(cfg: ClusterConfig, node: NodeSpec): string {
    const { archiveCommand, restoreCommand } = archiveCommands(cfg);
    return renderFile("postgresql.conf.tmpl", {
        node: node.name,
        maxSlotWalKeepSize: cfg.maxSlotWalKeepSize,
        // Without slots, keep some WAL so that a briefly disconnected replica can still catch up.
        walKeepSize: cfg.slots ? "0" : "1GB",
        archiveMode: cfg.backups ? "on" : "off",
        archiveCommand,
        restoreCommand,
        archiveTimeout: `${cfg.archiveTimeout}s`,
        // The node's own slot name: used on the primary by whichever node streams as this one.
        slotName: cfg.slots ? node.name : "",
        tlsSettings: Object.entries(tlsParameters(cfg))
            .map(([k, v]) => `${k} = '${v}'`)
            .join("\n"),
    });
}

/**
 * pg_hba.conf: scram-sha-256 only; replication only for the replication role and only from the
 * nodes' fixed addresses (all ten possible ones, so scaling changes no node's file), or across
 * hosts from the hosts' addresses; the
 * replication role refused on every ordinary database.
 */
export function renderPgHba(cfg: ClusterConfig): string {
    // failover=patroni: Patroni also opens a replication connection to its own server over
    // loopback, to read a replica's timeline (patroni/postgresql/__init__.py get_replica_timeline).
    const loopback = cfg.failover === "patroni" ? ["127.0.0.1"] : [];
    // tls required: only TLS connections match an accepting line; a plain one falls through to the
    // `host … reject` lines below them.
    const accept = cfg.tls === "required" ? "hostssl" : "host   ";
    const sources = [...replicationSources(cfg), ...loopback]
        .map((ip) => `${accept} replication  ${cfg.replicationUser}  ${ip}/32  scram-sha-256`)
        .join("\n");
    return renderFile("pg_hba.conf.tmpl", {
        replicationUser: cfg.replicationUser,
        // Across hosts clients arrive from anywhere (HAProxy on each host, applications): over TLS
        // with SCRAM only, as tls=required is a condition of several hosts (model/config.ts).
        subnet: severalHosts(cfg) ? "0.0.0.0/0" : cfg.subnet,
        replicationSources: sources,
        accept,
    });
}

/** The TLS setup every entrypoint with a certificate sources (templates/tls-setup.sh.tmpl). */
export function renderTlsSetup(): string {
    return renderFile("tls-setup.sh.tmpl", { ...TLS_PATHS, applied: TLS_APPLIED });
}

/** pg_ident.conf: root and postgres may use the postgres role over the local socket. */
export function renderPgIdent(): string {
    return renderFile("pg_ident.conf");
}

/** The entrypoint script shared by every node. */
export function renderEntrypoint(): string {
    return renderFile("entrypoint.sh");
}

function shellVars(vars: Record<string, string>): string {
    return Object.entries(vars)
        .map(([k, v]) => `${k}='${v}'`)
        .join("\n")
        .concat("\n");
}

/**
 * Shell variables the entrypoint reads: which node this is, how it reaches the primary, and the
 * paths it shares with the day-2 commands (so that neither side spells them on its own).
 */
export function renderNodeEnv(cfg: ClusterConfig, node: NodeSpec): string {
    return shellVars({
        PGR_NODE: node.name,
        PGR_CLUSTER_ALIAS: CLUSTER_ALIAS,
        PGR_SLOT: cfg.slots ? node.name : "",
        PGR_STANZA: cfg.backups ? STANZA : "",
        PGR_BASEBACKUP_TIMEOUT: String(BASEBACKUP_TIMEOUT_SECONDS),
        PGR_DATA_DIR: PATHS.dataDir,
        PGR_PGPASS: PATHS.pgpass,
        PGR_HOME: PATHS.home,
        PGR_CONNECT: nodeConnectOptions(cfg),
        PGR_STANDBY_CONNECT: standbyConnectOptions(cfg, node.name),
        PGR_REJOIN_FLAG: PATHS.rejoinFlag,
        PGR_RECLONE_FLAG: PATHS.recloneFlag,
        PGR_LAST_REJOIN: PATHS.lastRejoin,
    });
}

/**
 * Which node initialises a new cluster when its data volume is empty and no primary answers. Read
 * only on an empty volume, so the container ignores later changes of it (see PostgresNode).
 */
export function renderBootstrapEnv(cfg: ClusterConfig): string {
    return shellVars({ PGR_INITDB_NODE: cfg.primaryNode });
}

/**
 * bootstrap.env of a failover=patroni node: the node and the one node that may initialise a new cluster
 * (templates/patroni-entrypoint.sh gives the others a patroni.yml without its bootstrap section). Read
 * only on an empty volume, so the container ignores later changes of it, as in manual mode.
 */
export function renderPatroniBootstrapEnv(cfg: ClusterConfig, node: Pick<NodeSpec, "name">): string {
    return shellVars({ PGR_NODE: node.name, PGR_INITDB_NODE: cfg.primaryNode });
}

/** libpq password file: the replication role and the superuser (for pg_rewind), any host. */
export function renderPgpass(entries: Array<{ user: string; password: string }>): string {
    const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/:/g, "\\:");
    return entries.map((e) => `*:*:*:${esc(e.user)}:${esc(e.password)}\n`).join("");
}
