// npm run backups -- [--stack S] [--live] [--json]
// The stack's backups and the window a restore can reach. See BACKUPS in lib/backup-commands.ts.
import { BACKUPS } from "../ops/backup-commands";
import { earliestRestorePoint, formatBackups, lastBackup, readRepository, RepositoryInfo } from "../ops/backups";
import { runCommand } from "../ops/cli";
import { parseArgs, stackConfig } from "../ops/topology-change";
import { backupsEnabled, latestArchivedAt } from "../ops/backup-stack";

const EXIT_NO_BACKUP = 1;
const EXIT_UNREADABLE = 2;

runCommand(BACKUPS, async () => {
    const args = parseArgs(BACKUPS, process.argv.slice(2));
    backupsEnabled(args, stackConfig(args));
    let info: RepositoryInfo;
    try {
        info = await readRepository(args.stack);
    } catch (err) {
        process.stderr.write(`backups: ${(err as Error).message}\n`);
        return EXIT_UNREADABLE;
    }
    const latest = await latestArchivedAt(args.stack);
    if (args.json) {
        const window = { earliest: earliestRestorePoint(info) ?? null, latest: latest ?? null };
        process.stdout.write(JSON.stringify({ stack: args.stack, ...info, restoreWindow: window }, null, 2) + "\n");
    } else {
        process.stdout.write(formatBackups(args.stack, info, latest) + "\n");
    }
    return lastBackup(info) ? 0 : EXIT_NO_BACKUP;
});
