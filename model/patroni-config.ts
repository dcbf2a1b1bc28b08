// Pure renderers of failover=patroni: patroni.yml per node, the dynamic configuration applied
// with PATCH /config, and the postgresql parameters, from the same sources as manual mode
// (the cluster's settings, archive commands, pg_hba.conf and pg_ident.conf).
import { ClusterConfig } from "./config";
import { archiveCommands, confValue, renderFile, tlsParameters } from "./render";
import { etcdMemberAddress, NodeSpec, PATHS, PATRONI_PORTS, severalHosts, STANZA, TLS_PATHS } from "./topology";

/** The user Patroni's REST API authenticates changes (PATCH, POST) with. */
export const PATRONI_REST_USER = "patroni";

/** etcd key prefix of every pg-replication cluster; the scope (the stack) is below it. */
export const PATRONI_NAMESPACE = "/pg-replication/";

/** Where the postgres user's copy of patroni.yml lives in a node (the entrypoint installs it). */
export const PATRONI_CONFIG_PATH = "/var/lib/postgresql/patroni.yml";

/**
 * Parameters Patroni passes on postgres' command line and takes only from its dynamic
 * configuration (patroni/postgresql/config.py CMDLINE_OPTIONS): local values are ignored, so they
 * go into bootstrap.dcs.
 */
export const PATRONI_CMDLINE_PARAMETERS = new Set([
    "wal_level",
    "hot_standby",
    "max_connections",
    "max_wal_senders",
    "wal_keep_size",
    "max_prepared_transactions",
    "max_locks_per_transaction",
    "track_commit_timestamp",
    "max_replication_slots",
    "max_worker_processes",
    "wal_log_hints",
]);

/** Passwords patroni.yml carries (plain: Patroni logs in with them). */
export interface PatroniSecrets {
    superuser: string;
    replication: string;
    rest: string;
}

/**
 * The PostgreSQL parameters of a node: the values manual mode renders into postgresql.conf
 * (templates/postgresql.conf.tmpl), minus what Patroni owns (listen_addresses, port, cluster_name,
 * primary_conninfo, primary_slot_name, synchronous_*). The stack's `settings` are not here: they go to
 * Patroni's dynamic configuration online (ops/hooks/apply-settings.ts), so changing them re-creates no node.
 */
export function patroniParameters(cfg: ClusterConfig, node: NodeSpec): Record<string, string> {
    const { archiveCommand } = archiveCommands(cfg);
    const params: Record<string, string> = {
        hba_file: `${PATHS.confDir}/pg_hba.conf`,
        ident_file: `${PATHS.confDir}/pg_ident.conf`,
        password_encryption: "scram-sha-256",
        wal_level: "replica",
        max_wal_senders: "16",
        max_replication_slots: "16",
        max_slot_wal_keep_size: cfg.maxSlotWalKeepSize,
        wal_log_hints: "on",
        hot_standby: "on",
        hot_standby_feedback: "on",
        max_standby_streaming_delay: "30s",
        wal_receiver_status_interval: "1s",
        // As in manual mode: a stalled standby is dropped after 5 s, not 60 s.
        wal_sender_timeout: "5s",
        wal_receiver_timeout: "5s",
        archive_mode: cfg.backups ? "on" : "off",
        archive_command: archiveCommand,
        archive_timeout: `${cfg.archiveTimeout}s`,
        logging_collector: "off",
        log_line_prefix: `%m [%p] ${node.name} %q%u@%d `,
        log_replication_commands: "on",
        log_checkpoints: "on",
        ...tlsParameters(cfg),
    };
    // Without slots keep WAL for a briefly disconnected replica; with them Patroni's floor (128MB) applies.
    if (!cfg.slots) params.wal_keep_size = "1GB";
    return params;
}

/**
 * The parameters pg-replication sets itself under Patroni: every one of {@link patroniParameters} and
 * synchronous_commit. The settings command (ops/hooks/apply-settings.ts) never removes these from
 * Patroni's dynamic configuration, only parameters that `settings` once set and no longer does.
 */
export function patroniOwnParameters(cfg: ClusterConfig, node: NodeSpec): string[] {
    return [...Object.keys(patroniParameters(cfg, node)), "synchronous_commit"].sort();
}

/** Patroni's dynamic configuration that decides roles: applied with PATCH /config, online. */
export function patroniDynamicConfig(cfg: ClusterConfig): Record<string, unknown> {
    const sync = cfg.syncMode === "sync";
    return {
        ttl: cfg.patroniTtl,
        loop_wait: cfg.patroniLoopWait,
        retry_timeout: cfg.patroniRetryTimeout,
        // any -> quorum commit (ANY n), first -> priority (FIRST n) (docs/replication_modes.rst).
        synchronous_mode: sync ? (cfg.syncMethod === "any" ? "quorum" : true) : false,
        synchronous_node_count: cfg.syncCount,
        // Not strict: with no synchronous standby left Patroni stops waiting (writes continue),
        // yet never promotes a node that was not synchronous, so no acknowledged commit is lost.
        synchronous_mode_strict: false,
        // A crashed postgres on the leader is failed over at once rather than restarted in place
        // (default 300 s); safe in sync mode, may lose the last async commits in async mode.
        primary_start_timeout: 0,
        postgresql: {
            use_slots: cfg.slots,
            use_pg_rewind: true,
            parameters: { synchronous_commit: cfg.synchronousCommit },
        },
    };
}

/** The parts of the dynamic configuration that must exist at bootstrap (they need a restart to change). */
function bootstrapDcs(cfg: ClusterConfig, params: Record<string, string>): Record<string, unknown> {
    const cmdline = Object.fromEntries(Object.entries(params).filter(([k]) => PATRONI_CMDLINE_PARAMETERS.has(k)));
    return {
        primary_start_timeout: 0,
        postgresql: { use_pg_rewind: true, use_slots: cfg.slots, parameters: cmdline },
    };
}

/**
 * etcd3 client endpoints of the etcd members, by fixed address. Across hosts, the member on the
 * node's own host comes first: Patroni's client talks to the first one until a request to it fails,
 * so when another host is cut off, no surviving node waits for a request to the lost member to time
 * out (retry_timeout / members, 1.7 s) before it sees the leader key expire and runs for leader.
 */
export function etcdHosts(cfg: ClusterConfig, node?: Pick<NodeSpec, "host">): string[] {
    const hosts = Array.from(
        { length: cfg.etcdMembers },
        (_, i) => `${etcdMemberAddress(cfg, i + 1)}:${PATRONI_PORTS.etcdClient}`,
    );
    const own = node?.host ? hosts.indexOf(`${node.host.address}:${PATRONI_PORTS.etcdClient}`) : -1;
    return own > 0 ? [hosts[own], ...hosts.filter((_, i) => i !== own)] : hosts;
}

const json = (v: unknown) => JSON.stringify(v);

/** YAML lines (two-space indent) that extend a section of patroni.yml, each value as JSON. */
const yamlLines = (fields: Record<string, unknown>) =>
    Object.entries(fields)
        .map(([k, v]) => `\n  ${k}: ${json(v)}`)
        .join("");

/**
 * patroni.yml's etcd3 fields besides hosts: across hosts `use_proxies`, which keeps Patroni's client
 * on the configured order (own host's member first) instead of the member list it would otherwise
 * fetch from etcd and shuffle (patroni/dcs/etcd.py _get_machines_list); the members are the
 * configured hosts either way.
 */
function etcdOrderFields(cfg: ClusterConfig): string {
    return severalHosts(cfg) ? yamlLines({ use_proxies: true }) : "";
}

/**
 * The TLS fields of patroni.yml's restapi, ctl and etcd3 sections (empty with tls off): the REST
 * API on HTTPS with the node's certificate, requiring a client certificate of the stack's CA; the
 * node's certificate as the client one when it calls another member or etcd.
 */
export function patroniTlsSections(cfg: ClusterConfig): { restTls: string; ctlTls: string; etcdTls: string } {
    if (cfg.tls === "off") return { restTls: "", ctlTls: "", etcdTls: "" };
    return {
        restTls: yamlLines({
            certfile: TLS_PATHS.cert,
            keyfile: TLS_PATHS.key,
            cafile: TLS_PATHS.ca,
            verify_client: "required",
        }),
        ctlTls: yamlLines({ certfile: TLS_PATHS.cert, keyfile: TLS_PATHS.key, cacert: TLS_PATHS.ca }),
        etcdTls: yamlLines({ protocol: "https", cacert: TLS_PATHS.ca, cert: TLS_PATHS.cert, key: TLS_PATHS.key }),
    };
}

/** Where a node across hosts holds its Patroni callback that keeps etcd's leader off its host. */
export const ETCD_LEADER_AWAY_SCRIPT = `${PATHS.confDir}/etcd-leader-away.py`;

/**
 * patroni.yml's postgresql.callbacks: across hosts, {@link ETCD_LEADER_AWAY_SCRIPT} when the node
 * starts as primary or is promoted; none on one engine, where a lost node never takes an etcd member
 * with it.
 */
function patroniCallbacks(cfg: ClusterConfig): Record<string, string> {
    if (!severalHosts(cfg)) return {};
    const command = `python3 ${ETCD_LEADER_AWAY_SCRIPT}`;
    return { on_start: command, on_role_change: command };
}

/**
 * The callback of {@link patroniCallbacks} for `node` (templates/etcd-leader-away.py.tmpl says why):
 * its host's address, every etcd member's client URL, and the node's certificate as etcd's client one.
 */
export function renderEtcdLeaderAway(cfg: ClusterConfig, node: NodeSpec): string {
    const scheme = cfg.tls === "required" ? "https" : "http";
    const tlsArgs =
        cfg.tls === "required"
            ? [`--cacert=${TLS_PATHS.ca}`, `--cert=${TLS_PATHS.cert}`, `--key=${TLS_PATHS.key}`]
            : [];
    return renderFile("etcd-leader-away.py.tmpl", {
        node: node.name,
        ownAddress: json(node.host?.address ?? node.address),
        endpoints: json(etcdHosts(cfg).map((h) => `${scheme}://${h}`)),
        tlsArgs: json(tlsArgs),
    });
}

/** The custom bootstrap method of a stack restored from another stack's backup (restoreFrom). */
export const PATRONI_RESTORE_METHOD = "pg_replication_restore";

/** Where a node holds the command of {@link PATRONI_RESTORE_METHOD} (uploaded with restoreFrom). */
export const PATRONI_RESTORE_SCRIPT = `${PATHS.confDir}/patroni-restore.sh`;

/**
 * The command Patroni's custom bootstrap runs to restore the source's backup and replay it to the
 * target (templates/patroni-restore.sh.tmpl says why it replays itself); with this stack's archiving,
 * so that the promotion's history file and last segment reach this stack's repository.
 */
export function renderPatroniRestoreScript(cfg: ClusterConfig): string {
    const { archiveCommand } = archiveCommands(cfg);
    return renderFile("patroni-restore.sh.tmpl", {
        confDir: PATHS.confDir,
        dataDir: PATHS.dataDir,
        stanza: STANZA,
        replaySettings: [
            `archive_mode = ${cfg.backups ? "on" : "off"}`,
            `archive_command = ${confValue(archiveCommand)}`,
        ].join("\n"),
    });
}

/**
 * How the node that takes the initialize key creates the cluster (bootstrap.method): initdb, or with
 * restoreFrom Patroni's custom bootstrap (docs/replica_bootstrap.rst, "Bootstrap";
 * patroni/postgresql/bootstrap.py Bootstrap.bootstrap and _custom_bootstrap). The command gets no
 * --scope/--datadir (no_params); keep_existing_recovery_conf false and no recovery_conf: the command
 * hands over a promoted server, and Patroni removes any recovery file and recovery setting left
 * (remove_recovery_conf, write_postgresql_conf's _sanitize_auto_conf) before its post_bootstrap.
 */
function bootstrapMethod(cfg: ClusterConfig): Record<string, unknown> {
    // As manual mode's initdb (templates/entrypoint.sh); checksums let pg_rewind work.
    const initdb = [
        { encoding: "UTF8" },
        { locale: "C.UTF-8" },
        "data-checksums",
        { "auth-local": "peer" },
        { "auth-host": "scram-sha-256" },
    ];
    if (cfg.restoreFrom === "") return { initdb };
    return {
        method: PATRONI_RESTORE_METHOD,
        [PATRONI_RESTORE_METHOD]: {
            command: PATRONI_RESTORE_SCRIPT,
            no_params: true,
            keep_existing_recovery_conf: false,
        },
    };
}

/** patroni.yml of a node; `scope` is the cluster's name prefix (the stack). */
export function renderPatroniYml(cfg: ClusterConfig, node: NodeSpec, scope: string, secrets: PatroniSecrets): string {
    const params = patroniParameters(cfg, node);
    const local = Object.fromEntries(Object.entries(params).filter(([k]) => !PATRONI_CMDLINE_PARAMETERS.has(k)));
    const restAuth = { username: PATRONI_REST_USER, password: secrets.rest };
    const { restoreCommand } = archiveCommands(cfg);
    // Patroni hands these to libpq for every connection to another member (clone, stream, rewind);
    // libpq ignores them on the unix socket it uses locally.
    const verifyServer = cfg.tls === "required" ? { sslmode: "verify-full", sslrootcert: TLS_PATHS.ca } : {};
    return renderFile("patroni.yml.tmpl", {
        scope: json(scope),
        namespace: json(PATRONI_NAMESPACE),
        node: json(node.name),
        restListen: json(`${node.address}:${PATRONI_PORTS.rest}`),
        restAuth: json(restAuth),
        etcdHosts: json(etcdHosts(cfg, node)) + etcdOrderFields(cfg),
        ...patroniTlsSections(cfg),
        bootstrapDcs: json(bootstrapDcs(cfg, params)),
        bootstrapMethod: yamlLines(bootstrapMethod(cfg)),
        pgListen: json(node.host ? `${node.address},127.0.0.1:5432` : "0.0.0.0:5432"),
        pgConnect: json(`${node.address}:5432`),
        dataDir: json(PATHS.dataDir),
        pgpass: json("/var/lib/postgresql/.pgpass.patroni"),
        authentication: json({
            superuser: { username: "postgres", password: secrets.superuser, ...verifyServer },
            replication: { username: cfg.replicationUser, password: secrets.replication, ...verifyServer },
            rewind: { username: "postgres", password: secrets.superuser, ...verifyServer },
        }),
        parameters: json(local),
        recoveryConf: json(cfg.backups ? { restore_command: restoreCommand } : {}),
        callbacks: json(patroniCallbacks(cfg)),
        // A new member restores the latest backup from the repository and streams the rest (the
        // leader only serves WAL since that backup); pg_basebackup from the leader when there is no
        // backup yet or the restore fails (docs/replica_bootstrap.rst).
        createReplicaMethods: json(cfg.backups ? ["pgbackrest", "basebackup"] : ["basebackup"]),
        pgbackrestMethod: json(
            cfg.backups
                ? { command: `pgbackrest --stanza=${STANZA} --delta restore`, keep_data: true, no_params: true }
                : {},
        ),
        basebackup: json([{ checkpoint: "fast" }]),
    });
}
