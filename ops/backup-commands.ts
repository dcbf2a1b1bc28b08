// The command lines of backup and backups, declared once: the scripts parse with them and the tests
// check the command lines in README.md and docs/ against the same declarations.
import { checkedOption, command, UsageError } from "./cli";
import { BACKUP_TYPES, BackupType } from "./backups";
import { COMMON_OPTIONS } from "./topology-change";

export const BACKUP = command({
    name: "backup",
    synopsis: "[--type full|diff|incr] [--stack S] [--live] [--json]",
    description:
        "Takes a backup now with pgBackRest, in the stack's repository container: from a standby when\n" +
        "backupStandby allows it (pgBackRest finds the primary itself, so it follows failovers). After it, the\n" +
        "full backups beyond backupRetentionFull expire, with the WAL older than the oldest kept backup.",
    options: {
        type: checkedOption<BackupType>("full|diff|incr", "backup type", "incr", (raw, flag) => {
            if (!(BACKUP_TYPES as readonly string[]).includes(raw))
                throw new UsageError(`${flag} ${JSON.stringify(raw)} is invalid: expected full, diff or incr`);
            return raw as BackupType;
        }),
        ...COMMON_OPTIONS,
    },
    notes: "An incremental or differential backup with no full one before it is taken as a full backup.",
    examples: ["npm run backup -- --stack local --live --type full"],
});

export const BACKUPS = command({
    name: "backups",
    synopsis: "[--stack S] [--live] [--json]",
    description:
        "Lists the stack's backups (type, times, sizes, the WAL each needs) and the window a restore can\n" +
        "reach: from the end of the oldest backup to the last archived WAL.",
    options: { ...COMMON_OPTIONS },
    notes: "Exit status: 0 listed, 1 the repository holds no usable backup, 2 it cannot be read.",
    examples: ["npm run backups -- --stack local --live"],
});

/** A restore point name: what recovery_target_name can name and a shell passes unquoted. */
export const RESTORE_POINT_NAME = /^[A-Za-z0-9_.:-]{1,63}$/;

export const RESTORE_POINT = command({
    name: "restore-point",
    synopsis: "--name NAME [--stack S] [--live] [--json]",
    description:
        "Creates a named restore point on the primary (pg_create_restore_point) and switches to a new WAL\n" +
        "segment, so the point reaches the backup repository at once: a restore can stop exactly there.",
    options: {
        name: {
            type: "string",
            value: "NAME",
            help: "the restore point's name (required; letters, digits, _ . : -, at most 63)",
        },
        ...COMMON_OPTIONS,
    },
    examples: ["npm run restore-point -- --name before-migration --stack local --live"],
});
