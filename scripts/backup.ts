// npm run backup -- [--type full|diff|incr] [--stack S] [--live] [--json]
// Takes a backup now through the stack's pgBackRest repository. See BACKUP in lib/backup-commands.ts.
import { BACKUP } from "../ops/backup-commands";
import { BackupType, takeBackup } from "../ops/backups";
import { runCommand } from "../ops/cli";
import { parseArgs, stackConfig } from "../ops/topology-change";
import { backupsEnabled } from "../ops/backup-stack";

const TYPE_NAMES: Record<BackupType, string> = { full: "a full", diff: "a differential", incr: "an incremental" };

runCommand(BACKUP, async () => {
    const args = parseArgs(BACKUP, process.argv.slice(2));
    backupsEnabled(args, stackConfig(args));
    const type = (args.values.type ?? BACKUP.spec.options.type.default) as BackupType;
    const started = Date.now();
    process.stderr.write(`backup: taking ${TYPE_NAMES[type]} backup of stack ${args.stack} …\n`);
    const entry = await takeBackup(args.stack, type);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (args.json) {
        process.stdout.write(
            JSON.stringify({ stack: args.stack, seconds: Number(seconds), backup: entry }, null, 2) + "\n",
        );
        return;
    }
    process.stdout.write(
        `backup ${entry.label} (${entry.type}) of stack ${args.stack} done in ${seconds} s: ` +
            `${(entry.repositoryBytes / 1048576).toFixed(1)} MB added to the repository, WAL ${entry.walStart} … ${entry.walStop}\n` +
            `list every backup: npm run backups -- --stack ${args.stack}${args.live ? " --live" : ""}\n`,
    );
});
