// Replica health: lag measurement and the in/out-of-rotation decision. Pure functions; the
// router feeds them probe results and the clock.
//
// Lag is measured against the primary, not on the replica alone: a replica only knows the WAL
// it has received, so a replica whose stream is stuck or disconnected would look "caught up".
// Each health round reads the primary's pg_current_wal_lsn() once and every replica's
// pg_last_wal_replay_lsn().
//
// Lag in seconds is NOT now() - pg_last_xact_replay_timestamp(): on an idle cluster that grows
// forever although nothing is behind (and after an idle hour, one fresh write would make a replica
// look an hour behind). Instead the router keeps a short history of the primary's WAL position
// with the time it first saw each one; a replica that has not replayed up to position P, which
// the primary had reached at time t, is at least now - t behind. A replica that has replayed
// everything the primary had is 0 s behind however old its last transaction is, so the seconds
// bound only ever counts while the replica is behind in bytes.
import { compareLsn, Lsn, lsnDiff } from "./lsn";

/** The primary's WAL position and when the router first saw the primary at (or past) it. */
export interface LsnSample {
    lsn: Lsn;
    /** Milliseconds since the epoch. */
    at: number;
}

/** Observability: one replica as the router sees it. */
export interface ReplicaStatus {
    /** The replica's name: `name` from its config, else `host:port`. */
    name: string;
    /** In rotation for reads. */
    healthy: boolean;
    /** Why it is (not) in rotation, e.g. `ok`, `unreachable: connect ECONNREFUSED …`, `behind by 20971520 bytes (maxLagBytes 16777216)`. */
    reason: string;
    /** Bytes of WAL the primary had (at its last successful probe) that this replica had not replayed; null while unknown. */
    lagBytes: number | null;
    /** How long the replica has been missing WAL the primary had (a lower bound, health-interval resolution); null while unknown. */
    lagSeconds: number | null;
    /** The replica's pg_last_wal_replay_lsn() at its last probe. */
    replayLsn: Lsn | null;
    /** When the router last decided this replica's health (probe or failed read); null before the first probe. */
    lastCheckedAt: Date | null;
}

/** Observability: the primary as the health loop sees it. */
export interface PrimaryStatus {
    name: string;
    /** Reachable and not in recovery at the last probe. */
    healthy: boolean;
    reason: string;
    /** pg_current_wal_lsn() at the last successful probe. */
    lsn: Lsn | null;
    lastCheckedAt: Date | null;
}

/** The result of probing one replica. */
export type ReplicaProbe = { ok: false; error: string } | { ok: true; inRecovery: boolean; replayLsn: Lsn | null };

/** The bounds a replica must stay within. */
export interface LagBounds {
    maxLagBytes: number;
    /** No time bound when undefined. */
    maxLagSeconds?: number;
}

/** The verdict on one replica. */
export interface HealthDecision {
    healthy: boolean;
    reason: string;
    lagBytes: number | null;
    lagSeconds: number | null;
}

/**
 * Adds the primary's current position to the history. Only advances are recorded, so each
 * sample's time is when the primary was first seen at that position. A position before the
 * newest sample means a different primary (or a re-created one): the old history is dropped.
 * Samples older than `retentionMs` are dropped, except that the newest sample before the cutoff
 * is kept, so a replica stuck behind it still shows a lag of at least `retentionMs`.
 */
export function recordPrimaryLsn(
    history: readonly LsnSample[],
    lsn: Lsn,
    at: number,
    retentionMs: number,
): LsnSample[] {
    const last = history[history.length - 1];
    let next: LsnSample[];
    if (last === undefined || compareLsn(lsn, last.lsn) < 0) next = [{ lsn, at }];
    else if (compareLsn(lsn, last.lsn) === 0) next = [...history];
    else next = [...history, { lsn, at }];
    const cutoff = at - retentionMs;
    let start = 0;
    while (start < next.length - 1 && next[start + 1].at <= cutoff) start++;
    return next.slice(start);
}

/** A replica's lag against the history (null when the primary has never been seen). */
export function replicaLag(
    history: readonly LsnSample[],
    replayLsn: Lsn,
    now: number,
): { lagBytes: number | null; lagSeconds: number | null } {
    const newest = history[history.length - 1];
    if (newest === undefined) return { lagBytes: null, lagSeconds: null };
    // The replica may be probed a moment after the primary and be past that sample: not behind.
    const bytes = lsnDiff(newest.lsn, replayLsn);
    const firstAhead = history.find((s) => compareLsn(s.lsn, replayLsn) > 0);
    return {
        lagBytes: bytes > 0n ? Number(bytes) : 0,
        lagSeconds: firstAhead === undefined ? 0 : Math.max(0, now - firstAhead.at) / 1000,
    };
}

/** In or out of rotation, and why. */
export function decideReplicaHealth(
    probe: ReplicaProbe,
    history: readonly LsnSample[],
    bounds: LagBounds,
    now: number,
): HealthDecision {
    if (!probe.ok) return { healthy: false, reason: `unreachable: ${probe.error}`, lagBytes: null, lagSeconds: null };
    if (!probe.inRecovery) {
        return {
            healthy: false,
            reason: "not in recovery (promoted, or not a standby)",
            lagBytes: null,
            lagSeconds: null,
        };
    }
    if (probe.replayLsn === null)
        return { healthy: false, reason: "in recovery but has replayed no WAL yet", lagBytes: null, lagSeconds: null };
    const { lagBytes, lagSeconds } = replicaLag(history, probe.replayLsn, now);
    const lag = { lagBytes, lagSeconds };
    if (lagBytes !== null && lagBytes > bounds.maxLagBytes) {
        return { healthy: false, reason: `behind by ${lagBytes} bytes (maxLagBytes ${bounds.maxLagBytes})`, ...lag };
    }
    if (bounds.maxLagSeconds !== undefined && lagSeconds !== null && lagSeconds > bounds.maxLagSeconds) {
        return {
            healthy: false,
            reason: `behind for ${lagSeconds.toFixed(1)} s (maxLagSeconds ${bounds.maxLagSeconds})`,
            ...lag,
        };
    }
    // Without a primary position the lag cannot be bounded; the replica stays usable so that
    // reads survive a primary outage (documented in docs/operations.md).
    const reason = lagBytes === null ? "ok (lag unknown: the primary has not been reachable yet)" : "ok";
    return { healthy: true, reason, ...lag };
}
