// WAL archiving as the primary reports it (pg_stat_archiver and the .ready files in
// pg_wal/archive_status), and when it is in trouble: the one home of that judgement for the checks,
// `status` and `lag`. A failing archive_command is retried for ever while pg_wal grows (no slot cap
// bounds it), so it must be seen before the disk fills. Pure but for the SQL text.

import { STANZA } from "../model/topology";

/** The archiver's state on the primary, as {@link ARCHIVER_SQL} returns it. */
export interface ArchiverState {
    /** archive_mode: off, on or always. */
    archive_mode: string;
    /** Attempts that failed since the statistics were reset. */
    failed_count: number;
    /** The segment the last failed attempt was for. */
    last_failed_wal: string | null;
    /** Seconds since the last failure; null when there was none. */
    failed_age: number | null;
    /** Seconds since the last success; null when nothing was archived yet. */
    archived_age: number | null;
    /** Segments waiting to be archived (archive_status/*.ready). */
    ready: number;
}

/**
 * One row: the archiver's counters with ages measured on the server's clock, and the backlog.
 * pg_ls_dir needs a superuser or its grant: the day-2 commands and the checks connect as postgres.
 */
export const ARCHIVER_SQL = `SELECT current_setting('archive_mode') AS archive_mode,
       failed_count::int AS failed_count,
       last_failed_wal,
       EXTRACT(epoch FROM clock_timestamp() - last_failed_time)::float8 AS failed_age,
       EXTRACT(epoch FROM clock_timestamp() - last_archived_time)::float8 AS archived_age,
       (SELECT count(*) FROM pg_ls_dir('pg_wal/archive_status') f WHERE f LIKE '%.ready')::int AS ready
FROM pg_stat_archiver`;

/**
 * Segments that may wait for the archiver before that alone is trouble: PostgreSQL marks each
 * finished segment .ready and archives it within moments; 16 (256 MB) waiting means the archive does
 * not keep up, even with no failure recorded yet.
 */
export const READY_BACKLOG_LIMIT = 16;

/** Where the archive's trouble is read and repaired: the primary's container. */
export interface ArchiveContext {
    node: string;
    container: string;
}

/**
 * What is wrong with archiving, with the exact next step, or null when nothing is: the last attempt
 * failed (no success since), or more than {@link READY_BACKLOG_LIMIT} segments wait.
 */
export function archiveTrouble(a: ArchiverState, where: ArchiveContext): string | null {
    if (a.archive_mode === "off") return null;
    const failing = a.failed_age !== null && (a.archived_age === null || a.failed_age < a.archived_age);
    const next =
        `the reason is in the log: docker logs --tail 50 ${where.container} 2>&1 | grep -i archive ` +
        `(pgBackRest's: docker exec ${where.container} tail -n 20 /var/log/pgbackrest/${STANZA}-archive-push-async.log); ` +
        "PostgreSQL retries by itself once the archive accepts the segment, and pg_wal shrinks again";
    if (failing) {
        const since =
            a.archived_age === null ? "nothing archived yet" : `last success ${Math.round(a.archived_age)} s ago`;
        return (
            `archiving fails on ${where.node}: ${a.failed_count} failed attempts, the last for ${a.last_failed_wal ?? "?"} ` +
            `${Math.round(a.failed_age ?? 0)} s ago (${since}); ${a.ready} segments wait in pg_wal; ${next}`
        );
    }
    if (a.ready > READY_BACKLOG_LIMIT)
        return `archiving lags on ${where.node}: ${a.ready} segments wait in pg_wal (over ${READY_BACKLOG_LIMIT}); ${next}`;
    return null;
}
