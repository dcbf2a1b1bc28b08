// Sampling: the one query on the primary and the report built from its answer.
import { ARCHIVER_SQL, archiveTrouble, ArchiverState } from "../archive";
import { ClusterView, compareNodes, discoverCluster, psqlJson, psqlRows } from "../cluster-discovery";
import { Thresholds } from "./args";
import { evaluateReport } from "./evaluate";
import { LagReport, normaliseLagSeconds, ReplicaLag, SlotInfo, slotLost } from "./model";

/** One pg_stat_replication row as LAG_SQL returns it. */
export interface StatRow {
    application_name: string;
    client_addr: string | null;
    state: string;
    sync_state: string | null;
    sync_priority: number | null;
    sent_lsn: string | null;
    write_lsn: string | null;
    flush_lsn: string | null;
    replay_lsn: string | null;
    lag_bytes: number | null;
    sent_to_replay_bytes: number | null;
    write_lag: number | null;
    flush_lag: number | null;
    replay_lag: number | null;
    /** Seconds since reply_time. */
    reply_age: number | null;
}

/** One physical slot row as LAG_SQL returns it. */
export interface SlotRow {
    slot_name: string;
    active: boolean;
    wal_status: string | null;
    retained_bytes: number | null;
    invalidation_reason: string | null;
    safe_wal_size: number | null;
}

/** What LAG_SQL returns: one JSON object. */
export interface PrimaryLag {
    current_lsn: string;
    timeline: number;
    replication: StatRow[];
    slots: SlotRow[];
    sync_rep: { backends: number; oldest_seconds: number | null };
}

/**
 * Read on the primary in one statement, so every row is measured against the same current LSN (the
 * CTE is evaluated once). The timeline comes from the current WAL file name, which follows a
 * promotion at once (pg_control_checkpoint() waits for the next checkpoint). Ages (reply_age,
 * the SyncRep wait) are measured against clock_timestamp() and never negative: reply_time is the
 * standby's clock, and a backend may start waiting after this statement started.
 */
export const LAG_SQL = `WITH cur AS MATERIALIZED (SELECT pg_current_wal_lsn() AS lsn)
SELECT json_build_object(
  'current_lsn', cur.lsn::text,
  'timeline', ('x' || substr(pg_walfile_name(cur.lsn), 1, 8))::bit(32)::int,
  'replication', (SELECT coalesce(json_agg(r ORDER BY r.application_name), '[]') FROM (
      SELECT application_name, host(client_addr) AS client_addr, state, sync_state, sync_priority,
             sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text,
             pg_wal_lsn_diff(cur.lsn, replay_lsn) AS lag_bytes,
             pg_wal_lsn_diff(sent_lsn, replay_lsn) AS sent_to_replay_bytes,
             EXTRACT(epoch FROM write_lag) AS write_lag,
             EXTRACT(epoch FROM flush_lag) AS flush_lag,
             EXTRACT(epoch FROM replay_lag) AS replay_lag,
             greatest(0, EXTRACT(epoch FROM clock_timestamp() - reply_time)) AS reply_age
      FROM pg_stat_replication) r),
  'slots', (SELECT coalesce(json_agg(s ORDER BY s.slot_name), '[]') FROM (
      SELECT slot_name, active, wal_status, pg_wal_lsn_diff(cur.lsn, restart_lsn) AS retained_bytes,
             invalidation_reason, safe_wal_size
      FROM pg_replication_slots WHERE slot_type = 'physical') s),
  'sync_rep', (SELECT json_build_object(
      'backends', count(*),
      'oldest_seconds', greatest(0, EXTRACT(epoch FROM clock_timestamp() - min(greatest(query_start, state_change)))))
      FROM pg_stat_activity WHERE wait_event_type = 'IPC' AND wait_event = 'SyncRep'))
FROM cur`;

/**
 * Merges what the primary says with what Docker knows: one entry per pg_stat_replication row
 * (slot joined on slot_name = application_name), plus a "disconnected" entry for each non-primary
 * node of the stack that has no row (with its slot, which shows the WAL it holds back).
 */
export function buildReport(cluster: ClusterView, data: PrimaryLag, checkedAt: Date): LagReport {
    const slots = new Map(data.slots.map((s) => [s.slot_name, s]));
    const containers = new Map(cluster.nodes.map((n) => [n.node, n]));
    const slotOf = (name: string): SlotInfo | null => {
        const s = slots.get(name);
        if (!s) return null;
        const slot: SlotInfo = {
            name: s.slot_name,
            active: s.active,
            walStatus: s.wal_status,
            retainedBytes: s.retained_bytes,
            invalidationReason: s.invalidation_reason,
            safeWalSizeBytes: s.safe_wal_size,
        };
        // An invalidated slot keeps no WAL: its restart_lsn is cleared, or (lost but not yet
        // invalidated by a checkpoint) points at WAL that is already gone. Its distance to the
        // current position is not WAL it retains.
        if (slotLost(slot)) slot.retainedBytes = null;
        return slot;
    };
    const replicas: ReplicaLag[] = data.replication.map((r) => ({
        node: r.application_name,
        container: containers.get(r.application_name)?.container ?? null,
        running: containers.get(r.application_name)?.running ?? null,
        state: r.state,
        clientAddr: r.client_addr,
        syncState: r.sync_state,
        syncPriority: r.sync_priority,
        sentLsn: r.sent_lsn,
        writeLsn: r.write_lsn,
        flushLsn: r.flush_lsn,
        replayLsn: r.replay_lsn,
        lagBytes: r.lag_bytes,
        sentToReplayBytes: r.sent_to_replay_bytes,
        writeLagSeconds: normaliseLagSeconds(r.write_lag, r.write_lsn, r.sent_lsn),
        flushLagSeconds: normaliseLagSeconds(r.flush_lag, r.flush_lsn, r.sent_lsn),
        replayLagSeconds: normaliseLagSeconds(r.replay_lag, r.replay_lsn, r.sent_lsn),
        replyAgeSeconds: r.reply_age,
        slot: slotOf(r.application_name),
    }));
    const connected = new Set(replicas.map((r) => r.node));
    for (const n of cluster.nodes) {
        if (n.node === cluster.primary.node || connected.has(n.node)) continue;
        replicas.push({
            node: n.node,
            container: n.container,
            running: n.running,
            state: "disconnected",
            clientAddr: null,
            syncState: null,
            syncPriority: null,
            sentLsn: null,
            writeLsn: null,
            flushLsn: null,
            replayLsn: null,
            lagBytes: null,
            sentToReplayBytes: null,
            writeLagSeconds: null,
            flushLagSeconds: null,
            replayLagSeconds: null,
            replyAgeSeconds: null,
            slot: slotOf(n.node),
        });
    }
    replicas.sort((a, b) => compareNodes(a.node, b.node) || a.state.localeCompare(b.state));
    return {
        stack: cluster.stack,
        primary: cluster.primary.node,
        currentLsn: data.current_lsn,
        timeline: data.timeline,
        checkedAt: checkedAt.toISOString(),
        thresholds: { maxLagBytes: null, maxLagSeconds: null, maxReplyAgeSeconds: null },
        syncRepWaiting: {
            backends: data.sync_rep.backends,
            oldestSeconds: data.sync_rep.backends > 0 ? data.sync_rep.oldest_seconds : null,
        },
        replicas,
        breaches: [],
    };
}

/**
 * Reads the stack's cluster: discovery through Docker, then one query on the primary. `live` (the
 * stack is a live-harness one) changes only the repair hints in the breaches.
 */
export async function collectLag(stack: string, thresholds: Thresholds, live = false): Promise<LagReport> {
    const cluster = await discoverCluster(stack);
    const data = await psqlJson<PrimaryLag>(cluster.primary.container, LAG_SQL);
    const report = buildReport(cluster, data, new Date());
    report.thresholds = {
        maxLagBytes: thresholds.maxLagBytes ?? null,
        maxLagSeconds: thresholds.maxLagSeconds ?? null,
        maxReplyAgeSeconds: thresholds.maxReplyAgeSeconds ?? null,
    };
    report.breaches = evaluateReport(report, thresholds, { stack, live });
    const [archiver] = await psqlRows<ArchiverState>(cluster.primary.container, ARCHIVER_SQL);
    const trouble = archiveTrouble(archiver, cluster.primary);
    if (trouble !== null)
        report.breaches.push({
            node: cluster.primary.node,
            reason: "archive-failing",
            severity: "critical",
            value: archiver.ready,
            limit: null,
            message: trouble,
        });
    return report;
}
