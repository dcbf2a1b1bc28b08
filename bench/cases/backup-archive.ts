// The `backup` case's archive figure: the repository's size over scaled days with the default schedule and
// retention, against what today's `cp` archive would hold after the same WAL. A real day (about 80 GB of
// WAL at this machine's pgbench rate) cannot run here, so a "day" is DAY_WAL_MIB of WAL written by pgbench,
// and the default schedule (model/config.ts: a full backup on Sundays, a differential Monday to Saturday,
// backupRetentionFull 2) runs one backup at each day's start, as the repository's crond would at 01:00.
// Retention expires the oldest full backup (and the WAL before the oldest kept one) from the third full
// backup on: day 15. So three weeks are simulated, and week 3's largest size against week 2's shows whether
// the repository stays bounded; the `cp` archive keeps every segment, uncompressed, for ever.
import { setTimeout as sleep } from "node:timers/promises";
import { CaseContext } from "../context";
import { Cluster } from "../clusters";
import { Figure } from "../report";
import { execOrFail, psql } from "../../ops/cluster-discovery";
import { BackupType, repositoryContainer, takeBackup } from "../../ops/backups";
import { BACKUP_PATHS, STANZA } from "../../model/topology";

/** WAL written per scaled day (MiB): small enough that three weeks fit in a few minutes. */
export const DAY_WAL_MIB = 48;
/** Three weeks: retention (2 full) first expires a full backup on day 15, so week 3 repeats week 2's shape. */
export const DAYS = 21;
const MIB = 1024 * 1024;
const SEGMENT_BYTES = 16 * MIB;

/** A WAL file name's segment number (16 MB segments: 256 per log file). */
export function segmentNumber(walFile: string): number {
    return parseInt(walFile.slice(8, 16), 16) * 256 + parseInt(walFile.slice(16, 24), 16);
}

/** The backup the default schedule starts on day `day` (1-based; day 1 a Sunday): full on Sundays, else diff. */
export function scheduledType(day: number): BackupType {
    return (day - 1) % 7 === 0 ? "full" : "diff";
}

/** One simulated day's end: sizes in MiB. */
export interface DaySizes {
    day: number;
    type: BackupType;
    /** The stanza's backup and archive directories in the repository. */
    repository: number;
    archive: number;
    /** Every segment the primary archived since the stack began, uncompressed: what the `cp` archive held. */
    cpArchive: number;
}

/** Largest repository size over days first..last (inclusive). */
export function largestRepository(days: DaySizes[], first: number, last: number): number {
    return Math.max(...days.filter((d) => d.day >= first && d.day <= last).map((d) => d.repository));
}

/** Bytes of the stanza's backup and archive directories in the repository container. */
async function repositorySizes(stack: string): Promise<{ repository: number; archive: number }> {
    const dirs = ["backup", "archive"].map((d) => `${BACKUP_PATHS.repo}/${d}/${STANZA}`);
    const res = await execOrFail(["docker", "exec", repositoryContainer(stack), "du", "-sb", ...dirs], 60_000);
    const [backup, archive] = res.stdout
        .trim()
        .split("\n")
        .map((l) => Number(l.split(/\s+/)[0]));
    return { repository: (backup + archive) / MIB, archive: archive / MIB };
}

/** The primary's current WAL position in bytes. */
async function walBytes(c: Cluster): Promise<number> {
    return Number(await psql(c.container(1), "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"));
}

/** Writes at least `mib` of WAL with pgbench in the primary's container, one second at a time (a day overshoots by at most that). */
async function writeWal(c: Cluster, mib: number): Promise<void> {
    const start = await walBytes(c);
    while ((await walBytes(c)) - start < mib * MIB)
        await execOrFail(
            ["docker", "exec", "-u", "postgres", c.container(1), "pgbench", "-n", "-c4", "-j2", "-T1", "postgres"],
            120_000,
        );
}

/** Waits until the archive holds every completed segment (all but the one being written). */
async function archiveCaughtUp(c: Cluster): Promise<void> {
    const sql =
        "SELECT pg_walfile_name(pg_current_wal_lsn()) || ' ' || coalesce(last_archived_wal, '') FROM pg_stat_archiver";
    const deadline = Date.now() + 120_000;
    for (;;) {
        const [current, archived] = (await psql(c.container(1), sql)).split(" ");
        if (archived && segmentNumber(current) - segmentNumber(archived) <= 1) return;
        if (Date.now() > deadline) throw new Error("the archive did not catch up within 120 s");
        await sleep(500);
    }
}

/** Every segment the primary archived, as MiB the `cp` archive would hold. */
async function cpArchiveMib(c: Cluster): Promise<number> {
    const archived = Number(await psql(c.container(1), "SELECT archived_count FROM pg_stat_archiver"));
    return (archived * SEGMENT_BYTES) / MIB;
}

/** Runs the scaled days on stack `c` and returns each day's sizes. */
export async function simulateDays(ctx: CaseContext, c: Cluster): Promise<DaySizes[]> {
    const days: DaySizes[] = [];
    for (let day = 1; day <= DAYS; day++) {
        const type = scheduledType(day);
        const sizes = await ctx.phases.time(`day ${day}: ${type} backup, ${DAY_WAL_MIB} MiB of WAL`, async () => {
            await takeBackup(c.name, type);
            await writeWal(c, DAY_WAL_MIB);
            await archiveCaughtUp(c);
            return { ...(await repositorySizes(c.name)), cpArchive: await cpArchiveMib(c) };
        });
        days.push({ day, type, ...sizes });
        ctx.log(
            `    day ${day} (${type}): repository ${sizes.repository.toFixed(0)} MiB (archive ${sizes.archive.toFixed(0)}), cp archive ${sizes.cpArchive.toFixed(0)} MiB`,
        );
    }
    return days;
}

/** The archive figures: the repository against the `cp` archive on the last day, and week 3's peak against week 2's. */
export function archiveFigures(days: DaySizes[]): Figure[] {
    const last = days[days.length - 1];
    const perDay = days.map((d) => `${d.day}${d.type[0]} ${d.repository.toFixed(0)}/${d.cpArchive.toFixed(0)}`);
    const scaled = `${DAYS} scaled days of ${DAY_WAL_MIB} MiB of WAL, default schedule (full Sundays, diff otherwise) and retention (2 full)`;
    return [
        {
            figure: `backup: repository size after ${scaled}`,
            unit: "MiB",
            better: "lower",
            ours: [last.repository],
            bound: [last.cpArchive],
            boundIs:
                "today's cp archive: every segment archived since the stack began, 16 MiB each, never pruned (it holds no backup)",
            note: `repository = the stanza's backup + archive directories (du -sb); per day (day+type repository/cp MiB): ${perDay.join(", ")}`,
        },
        {
            figure: "backup: repository's largest size in week 3 against week 2 (at most 1: bounded)",
            unit: "MiB",
            better: "lower",
            ours: [largestRepository(days, 15, 21)],
            bound: [largestRepository(days, 8, 14)],
            boundIs:
                "the same repository's largest size in week 2 (days 8-14), before retention first expires a full backup",
        },
    ];
}
