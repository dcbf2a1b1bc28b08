// Restoring a new stack from another stack's backup repository (CloudNativePG's model: recovery
// never happens in place): the target's grammar and the files the bootstrap node receives. Pure.
import { renderFile } from "./render";
import { pgbackrestTime, RestoreTarget } from "./restore-target";
import { BACKUP_PATHS, PATHS, STANZA } from "./topology";

/** Where the source stack's repository volume is mounted (read-only) in the bootstrap node. */
export const RESTORE_SOURCE_PATH = "/var/lib/pgbackrest-source";

/**
 * Written by the entrypoint when a restore fails (its reason): the node then waits instead of
 * restarting in a loop, and the deployment fails at once (the ready check's fail probe).
 */
export const RESTORE_FAILED_FILE = "/var/lib/postgresql/pg-replication.restore-failed";

/** The source repository's configuration for the bootstrap node; `cipherPass` makes it a secret. */
export function renderRestoreSourceConf(cipherPass: string): string {
    return renderFile("pgbackrest-restore-source.conf.tmpl", {
        sourcePath: RESTORE_SOURCE_PATH,
        cipherPass,
        stanza: STANZA,
        dataDir: PATHS.dataDir,
    });
}

/** restore.env: which stack the bootstrap node restores from and where recovery stops. */
export function renderRestoreEnv(from: string, target: RestoreTarget): string {
    const vars: Record<string, string> = {
        PGR_RESTORE_FROM: from,
        PGR_RESTORE_TYPE: target.type,
        PGR_RESTORE_TARGET:
            target.type === "default" ? "" : target.type === "time" ? pgbackrestTime(target.target) : target.target,
        PGR_RESTORE_CONFIG: BACKUP_PATHS.restoreConfig,
        PGR_RESTORE_FAILED: RESTORE_FAILED_FILE,
    };
    return Object.entries(vars)
        .map(([k, v]) => `${k}='${v}'`)
        .join("\n")
        .concat("\n");
}
