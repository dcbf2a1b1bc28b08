// npm run restore-point -- --name NAME [--stack S] [--live] [--json]
// A named restore point on the primary, archived at once. See RESTORE_POINT in lib/backup-commands.ts.
import { backupsEnabled } from "../ops/backup-stack";
import { RESTORE_POINT, RESTORE_POINT_NAME } from "../ops/backup-commands";
import { runCommand, UsageError } from "../ops/cli";
import { pickPrimary, probeNodes, psql } from "../ops/cluster-discovery";
import { parseArgs, stackConfig } from "../ops/topology-change";

runCommand(RESTORE_POINT, async () => {
    const args = parseArgs(RESTORE_POINT, process.argv.slice(2));
    const name = args.values.name;
    if (!name) throw new UsageError("--name is required");
    if (!RESTORE_POINT_NAME.test(name))
        throw new UsageError(
            `--name ${JSON.stringify(name)} is invalid: letters, digits, _ . : - only, 1 to 63 of them`,
        );
    backupsEnabled(args, stackConfig(args));
    const primary = pickPrimary(args.stack, await probeNodes(args.stack));
    // The name was checked against RESTORE_POINT_NAME: no quote can reach the SQL.
    const lsn = await psql(primary.container, `SELECT pg_create_restore_point('${name}')`);
    // The segment holding the point is archived now, not when it fills or archive_timeout passes.
    const segment = await psql(primary.container, "SELECT pg_walfile_name(pg_switch_wal())");
    if (args.json) {
        process.stdout.write(
            JSON.stringify({ stack: args.stack, name, node: primary.node, lsn, segment }, null, 2) + "\n",
        );
        return;
    }
    process.stdout.write(
        `restore point ${name} created on ${primary.node} at ${lsn} (WAL ${segment}, being archived)\n` +
            `restore to it in a new stack: restoreFrom ${args.stack}, restoreTarget name=${name} (docs/backups.md#restore)\n`,
    );
});
