// Pure renderers of the backup wiring: pgbackrest.conf for the repository container and for each
// node, and the repository's crontab. No Pulumi: the program and the day-2 commands share them.
import { BackupStandby, ClusterConfig } from "./config";
import { renderFile } from "./render";
import {
    BACKUP_CLIENT_CN,
    BACKUP_PATHS,
    BACKUP_TLS_PORT,
    NodeSpec,
    PATHS,
    repositoryPort,
    STANZA,
    TLS_PATHS,
} from "./topology";

/** pgBackRest's word for each `backupStandby` value. */
const STANDBY_OPTION: Record<BackupStandby, string> = { prefer: "prefer", always: "y", never: "n" };

/** The TLS files both pgbackrest.conf templates name. */
const TLS_FILE_VARS = { tlsCa: TLS_PATHS.ca, tlsCert: TLS_PATHS.cert, tlsKey: TLS_PATHS.key };

/** The backup types a schedule may start, with their config keys. */
export const SCHEDULED_TYPES = [
    { type: "full", key: "backupFullSchedule" },
    { type: "diff", key: "backupDiffSchedule" },
    { type: "incr", key: "backupIncrSchedule" },
] as const;

/** One `pgN-host` block per node: the repository takes backups through the nodes' TLS servers. */
function pgHostLines(nodes: Array<Pick<NodeSpec, "address">>): string {
    return nodes
        .flatMap((n, i) => {
            const k = `pg${i + 1}`;
            return [
                `${k}-host=${n.address}`,
                `${k}-host-type=tls`,
                `${k}-host-port=${BACKUP_TLS_PORT}`,
                `${k}-host-ca-file=${TLS_PATHS.ca}`,
                `${k}-host-cert-file=${TLS_PATHS.cert}`,
                `${k}-host-key-file=${TLS_PATHS.key}`,
                `${k}-path=${PATHS.dataDir}`,
                `${k}-socket-path=/var/run/postgresql`,
            ];
        })
        .join("\n");
}

/** pgbackrest.conf of the repository container; `cipherPass` makes it a secret. */
export function renderRepoConf(
    cfg: ClusterConfig,
    nodes: Array<Pick<NodeSpec, "address">>,
    cipherPass: string,
): string {
    return renderFile("pgbackrest-repo.conf.tmpl", {
        repoPath: BACKUP_PATHS.repo,
        cipherPass,
        retentionFull: String(cfg.backupRetentionFull),
        backupStandby: STANDBY_OPTION[cfg.backupStandby],
        logPath: BACKUP_PATHS.repoLog,
        tlsPort: String(repositoryPort(cfg)),
        clientCn: BACKUP_CLIENT_CN,
        stanza: STANZA,
        ...TLS_FILE_VARS,
        pgHosts: pgHostLines(nodes),
    });
}

/** pgbackrest.conf of a node: where the repository is and how this node's TLS server answers it. */
export function renderNodeBackupConf(
    node: Pick<NodeSpec, "name">,
    repoHost: string,
    repoPort = BACKUP_TLS_PORT,
): string {
    return renderFile("pgbackrest-node.conf.tmpl", {
        node: node.name,
        repoHost,
        repoPort: String(repoPort),
        tlsPort: String(BACKUP_TLS_PORT),
        ...TLS_FILE_VARS,
        spoolPath: BACKUP_PATHS.spool,
        clientCn: BACKUP_CLIENT_CN,
        stanza: STANZA,
        dataDir: PATHS.dataDir,
    });
}

/** The shell command a scheduled backup of `type` runs in the repository container (as postgres). */
export function backupCommand(type: "full" | "diff" | "incr"): string {
    return `pgbackrest --stanza=${STANZA} backup --type=${type}`;
}

/**
 * The postgres user's crontab in the repository container: one line per scheduled type, each
 * appending to a log in the repository volume (busybox crond mails nothing here).
 */
export function renderCrontab(cfg: ClusterConfig): string {
    const lines = SCHEDULED_TYPES.filter((s) => cfg[s.key] !== "").map(
        (s) => `${cfg[s.key]} ${backupCommand(s.type)} >> ${BACKUP_PATHS.repoLog}/scheduled.log 2>&1`,
    );
    return `# Backups of this stack (UTC), rendered by pg-replication (model/backup-config.ts).\n${lines.join("\n")}\n`;
}
