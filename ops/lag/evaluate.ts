// Evaluation: which replicas breach the thresholds, and the breaches that need none (a stalled
// synchronous commit, an invalidated slot). Pure.
import { SYNC_REP_STALL_SECONDS, Thresholds } from "./args";
import { Breach, LagReport, ReplicaLag, slotLost, SyncRepWaiting } from "./model";
import { formatBytes, formatSeconds } from "./render";

/** Seconds in breach messages: "7.2s", "12m05s". */
function formatAge(seconds: number): string {
    return seconds < 60 ? `${seconds.toFixed(1)}s` : formatSeconds(seconds);
}

/**
 * The replicas outside the thresholds. With any threshold given, a replica that is disconnected or
 * has no replay position (startup) is a breach: it cannot be shown to be within it. A NULL
 * replay_lag on a connected replica is not: PostgreSQL leaves it NULL until the standby first
 * answers new WAL, so it would raise false alarms; the byte threshold covers that replica. A NULL
 * reply age (no reply yet) is not either: the walsender is new.
 */
export function evaluateThresholds(replicas: ReplicaLag[], t: Thresholds): Breach[] {
    if (t.maxLagBytes === undefined && t.maxLagSeconds === undefined && t.maxReplyAgeSeconds === undefined) return [];
    return replicas.flatMap((r) => replicaBreaches(r, t).map(critical));
}

/** A threshold breach: always critical. */
function critical(b: Omit<Breach, "severity">): Breach {
    return { node: b.node, reason: b.reason, severity: "critical", value: b.value, limit: b.limit, message: b.message };
}

/** One replica's breaches of the thresholds, in the order {@link evaluateThresholds} reports them. */
function replicaBreaches(r: ReplicaLag, t: Thresholds): Array<Omit<Breach, "severity">> {
    if (r.state === "disconnected") {
        const why = r.running === false ? "container not running" : "no pg_stat_replication row on the primary";
        return [
            {
                node: r.node,
                reason: "disconnected",
                value: null,
                limit: null,
                message: `${r.node} is disconnected (${why})`,
            },
        ];
    }
    // A replica that stopped answering: checked before its positions, which it may still have.
    const found = replyAgeBreach(r, t);
    if (r.lagBytes === null) {
        found.push({
            node: r.node,
            reason: "position-unknown",
            value: null,
            limit: null,
            message: `${r.node} has no replay position yet (state ${r.state})`,
        });
        return found;
    }
    if (t.maxLagBytes !== undefined && r.lagBytes > t.maxLagBytes) {
        found.push({
            node: r.node,
            reason: "lag-bytes",
            value: r.lagBytes,
            limit: t.maxLagBytes,
            message: `${r.node} is ${formatBytes(r.lagBytes)} (${r.lagBytes} bytes) behind, over --max-lag-bytes ${t.maxLagBytes}`,
        });
    }
    if (t.maxLagSeconds !== undefined && r.replayLagSeconds !== null && r.replayLagSeconds > t.maxLagSeconds) {
        found.push({
            node: r.node,
            reason: "lag-seconds",
            value: r.replayLagSeconds,
            limit: t.maxLagSeconds,
            message: `${r.node} replay lag is ${formatSeconds(r.replayLagSeconds)}, over --max-lag-seconds ${t.maxLagSeconds}`,
        });
    }
    return found;
}

/** The reply-age breach of a connected replica, if it has one (a list, for the breaches that follow). */
function replyAgeBreach(r: ReplicaLag, t: Thresholds): Array<Omit<Breach, "severity">> {
    if (t.maxReplyAgeSeconds !== undefined && r.replyAgeSeconds !== null && r.replyAgeSeconds > t.maxReplyAgeSeconds) {
        return [
            {
                node: r.node,
                reason: "reply-age",
                value: r.replyAgeSeconds,
                limit: t.maxReplyAgeSeconds,
                message: `${r.node} has not replied for ${formatAge(r.replyAgeSeconds)}, over --max-reply-age ${t.maxReplyAgeSeconds}`,
            },
        ];
    }
    return [];
}

/** Where the repair hints point: the stack, and whether it is a live-harness stack (--live). */
export interface RepairContext {
    stack: string;
    live: boolean;
}

/**
 * Slot health, checked whatever the thresholds: a replica whose slot is invalidated (lost) cannot
 * stream again, since the WAL it needs is gone from the primary: a critical breach, with the
 * command that repairs it. A slot that is unreserved holds more WAL than max_slot_wal_keep_size
 * and is lost at the next checkpoint unless the replica catches up: a warning.
 */
export function evaluateSlots(replicas: ReplicaLag[], repair: RepairContext): Breach[] {
    const breaches: Breach[] = [];
    for (const r of replicas) {
        const slot = r.slot;
        if (!slot) continue;
        if (slotLost(slot)) {
            const why = slot.invalidationReason ?? `wal_status ${slot.walStatus ?? "lost"}`;
            const command = `npm run rejoin -- --node ${r.node} --stack ${repair.stack}${repair.live ? " --live" : ""}`;
            breaches.push({
                node: r.node,
                reason: "slot-invalidated",
                severity: "critical",
                value: null,
                limit: null,
                message: `slot ${slot.name} is invalidated (${why}): repair with ${command}`,
            });
        } else if (slot.walStatus === "unreserved") {
            breaches.push({
                node: r.node,
                reason: "slot-unreserved",
                severity: "warning",
                value: null,
                limit: null,
                message:
                    `slot ${slot.name} is about to be invalidated: wal_status unreserved, it holds more WAL than ` +
                    `max_slot_wal_keep_size; the next checkpoint removes it unless ${r.node} catches up`,
            });
        }
    }
    return breaches;
}

/**
 * Commits waiting for synchronous standbys, checked whatever the thresholds: waiting longer than
 * {@link SYNC_REP_STALL_SECONDS} means writes on the primary are stalled (e.g. its synchronous
 * standby was cut off and its walsender has not timed out yet, or no standby can confirm at all).
 */
export function evaluateSyncRep(primary: string, waiting: SyncRepWaiting): Breach[] {
    if (waiting.backends === 0 || waiting.oldestSeconds === null || waiting.oldestSeconds <= SYNC_REP_STALL_SECONDS)
        return [];
    const n = waiting.backends;
    return [
        {
            node: primary,
            reason: "sync-rep-wait",
            severity: "critical",
            value: waiting.oldestSeconds,
            limit: SYNC_REP_STALL_SECONDS,
            message:
                `${n} commit${n === 1 ? "" : "s"} waiting for synchronous standbys for ${formatAge(waiting.oldestSeconds)}` +
                ` (over ${SYNC_REP_STALL_SECONDS}s): writes on ${primary} are stalled`,
        },
    ];
}

/** Every breach of a report: stalled commits first, then each replica's thresholds, then slot health. */
export function evaluateReport(report: LagReport, t: Thresholds, repair: RepairContext): Breach[] {
    return [
        ...evaluateSyncRep(report.primary, report.syncRepWaiting),
        ...evaluateThresholds(report.replicas, t),
        ...evaluateSlots(report.replicas, repair),
    ];
}
