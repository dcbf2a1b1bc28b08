// What the backup commands read from a stack besides its repository: whether backups are on, and
// when the primary last archived WAL (the latest point a restore can reach).
import { ClusterConfig } from "../model/config";
import { probeNodes, psqlRows } from "./cluster-discovery";
import { StackRef } from "./stack-backends";

/** Fails with the config command that turns backups on when the stack has them off. */
export function backupsEnabled(ref: StackRef, cfg: ClusterConfig): void {
    if (cfg.backups) return;
    const set = ref.live
        ? `npm run live -- config set backups true --stack ${ref.stack}`
        : `pulumi config set --stack ${ref.stack} pg-replication:backups true`;
    throw new Error(
        `stack ${ref.stack} has backups off (pg-replication:backups false); turn them on with ${set}, then npm run up`,
    );
}

/** When the running primary last archived a segment (ISO 8601), or undefined when no primary answers. */
export async function latestArchivedAt(stack: string): Promise<string | undefined> {
    const primary = (await probeNodes(stack).catch(() => [])).find((n) => n.running && n.inRecovery === false);
    if (!primary) return undefined;
    const rows = await psqlRows<{ at: string | null }>(
        primary.container,
        "SELECT to_char(last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS at FROM pg_stat_archiver",
    ).catch(() => []);
    return rows[0]?.at ?? undefined;
}
