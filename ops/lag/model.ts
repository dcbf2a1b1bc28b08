// What a lag report holds: per-replica positions, lags, slots, breaches. Pure.
import { parseLsn as parseLsnValue } from "../../client/lsn";

/** "0/5038F40" → its 64-bit position; null stays null. */
export function parseLsn(lsn: string | null): bigint | null {
    return lsn === null ? null : parseLsnValue(lsn);
}

/**
 * Lag in seconds for one stage (write, flush or replay) of a replica.
 *
 * Why not `now() - pg_last_xact_replay_timestamp()` (the usual tutorial answer)? It is NULL on the
 * primary and, on an idle replica, keeps growing although nothing is behind: it measures the age
 * of the last replayed commit, not lag. pg_stat_replication's write_lag/flush_lag/replay_lag
 * measure the time between the primary flushing WAL and the standby confirming that stage, and
 * keep growing (interpolated) while a stage is stuck. But PostgreSQL sets them to NULL once the
 * standby has confirmed everything sent twice in a row (walsender.c, "fully applied"), i.e. on an
 * idle caught-up replica. So: a measured value is reported as is; NULL with the stage's position at
 * or past sent_lsn (the very condition PostgreSQL clears them on) is 0; any other NULL (no position,
 * disconnected, lag not sampled yet) is genuinely unknown and stays null.
 */
export function normaliseLagSeconds(
    raw: number | null,
    stageLsn: string | null,
    sentLsn: string | null,
): number | null {
    if (raw !== null) return raw;
    const stage = parseLsn(stageLsn);
    const sent = parseLsn(sentLsn);
    if (stage === null || sent === null) return null;
    return stage >= sent ? 0 : null;
}

/** A replica's slot as pg_replication_slots shows it. */
export interface SlotInfo {
    name: string;
    active: boolean;
    /** reserved, extended, unreserved or lost; null for a slot that never reserved WAL. */
    walStatus: string | null;
    /**
     * pg_current_wal_lsn() - restart_lsn: WAL the slot keeps on the primary; null for a lost
     * (invalidated) slot, which keeps nothing any more, and for a slot that never reserved WAL.
     */
    retainedBytes: number | null;
    /** Why PostgreSQL invalidated the slot (wal_removed for a physical slot past max_slot_wal_keep_size); null while it is valid. */
    invalidationReason: string | null;
    /**
     * safe_wal_size: bytes of WAL that can still be written before the slot is in danger of being
     * lost (negative when unreserved); null when lost or when max_slot_wal_keep_size is -1.
     */
    safeWalSizeBytes: number | null;
}

/** Whether a slot can no longer serve its replica: invalidated, or its WAL already removed. */
export function slotLost(slot: Pick<SlotInfo, "walStatus" | "invalidationReason">): boolean {
    return slot.walStatus === "lost" || slot.invalidationReason !== null;
}

/** One replica's lag; the JSON shape of `replicas[]`. */
export interface ReplicaLag {
    node: string;
    /** The stack's container for the node; null for a walsender whose application_name is no container of the stack. */
    container: string | null;
    /** Whether that container runs; null when there is no such container. */
    running: boolean | null;
    /** pg_stat_replication.state (startup, catchup, streaming, backup, stopping), or "disconnected" without a row. */
    state: string;
    clientAddr: string | null;
    syncState: string | null;
    syncPriority: number | null;
    sentLsn: string | null;
    writeLsn: string | null;
    flushLsn: string | null;
    replayLsn: string | null;
    /** pg_current_wal_lsn() - replay_lsn: WAL the primary has that the replica has not replayed. */
    lagBytes: number | null;
    /** sent_lsn - replay_lsn: WAL on its way or waiting to be replayed on the replica. */
    sentToReplayBytes: number | null;
    writeLagSeconds: number | null;
    flushLagSeconds: number | null;
    replayLagSeconds: number | null;
    /**
     * now() - pg_stat_replication.reply_time: seconds since the standby's last status message.
     * It replies at least every wal_receiver_status_interval (1 s here), so a growing value means
     * it stopped answering (cut off, stopped, hung) while its walsender still waits for
     * wal_sender_timeout. Null when disconnected or it never replied.
     */
    replyAgeSeconds: number | null;
    slot: SlotInfo | null;
}

/** Commits waiting for synchronous standbys on the primary (pg_stat_activity, wait event SyncRep). */
export interface SyncRepWaiting {
    /** Backends waiting. */
    backends: number;
    /**
     * Seconds the oldest has waited, measured from its statement's start (the later of
     * query_start and state_change): an upper bound of the wait itself. Null when none waits.
     */
    oldestSeconds: number | null;
}

/** Something wrong: a replica outside a threshold, a stalled commit, an invalidated slot, failing archiving. */
export interface Breach {
    /** The replica, or for sync-rep-wait and archive-failing the primary. */
    node: string;
    reason:
        | "lag-bytes"
        | "lag-seconds"
        | "reply-age"
        | "disconnected"
        | "position-unknown"
        | "sync-rep-wait"
        | "slot-invalidated"
        | "slot-unreserved"
        | "archive-failing";
    /** warning: not broken yet (slot-unreserved); critical: everything else. Both are breaches (exit 1). */
    severity: "critical" | "warning";
    /** The measured value (bytes or seconds); null for disconnected / position-unknown / slot-*. */
    value: number | null;
    /** The limit crossed; null for disconnected / position-unknown / slot-*. */
    limit: number | null;
    message: string;
}

/** The whole check; the JSON document `--json` prints. */
export interface LagReport {
    stack: string;
    /** The primary's node name. */
    primary: string;
    /** pg_current_wal_lsn() on the primary. */
    currentLsn: string;
    /** The primary's current timeline. */
    timeline: number;
    /** ISO 8601 time of the check. */
    checkedAt: string;
    thresholds: { maxLagBytes: number | null; maxLagSeconds: number | null; maxReplyAgeSeconds: number | null };
    /** Commits waiting for synchronous standbys, now. */
    syncRepWaiting: SyncRepWaiting;
    replicas: ReplicaLag[];
    breaches: Breach[];
}
