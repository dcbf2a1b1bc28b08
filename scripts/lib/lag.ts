// Replication lag: what the primary's pg_stat_replication, pg_replication_slots and pg_stat_activity
// say about each replica and about commits waiting for synchronous standbys, normalised, checked
// against thresholds and rendered. Everything but collectLag() is pure.
import { parseArgs } from "node:util";
import { parseLsn as parseLsnValue } from "../../client/lsn";
import { ClusterView, compareNodes, discoverCluster, psqlJson } from "./cluster-discovery";

/** A bad command line: exit 2 with the message and a usage hint. */
export class UsageError extends Error {}

/**
 * A commit waiting for synchronous standbys longer than this (seconds) is always a breach: a
 * synchronous commit normally waits milliseconds, so this long means writes are stalled (the
 * standbys it waits for are gone, stopped or cut off, and their walsenders have not timed out).
 */
export const SYNC_REP_STALL_SECONDS = 1;

export const USAGE = `usage: npm run lag -- [--stack S] [--live] [--watch [--interval SECONDS] [--count N]] [--json]
                      [--max-lag-bytes B] [--max-lag-seconds S] [--max-reply-age S]

Shows how far each replica of the stack's cluster is behind its primary, as the primary sees it
(pg_stat_replication joined with pg_replication_slots), and the commits waiting for synchronous
standbys (pg_stat_activity). The cluster is found through Docker (containers labelled
pg-replication.cluster=STACK); queries run over docker exec, no password.

  --stack S             stack (container name prefix) to inspect (default: dev)
  --live                the stack was made by the live harness: repair hints say --live too
                        (the cluster is read the same way)
  --json                print JSON instead of a table: {stack, primary, currentLsn, timeline,
                        checkedAt, thresholds, syncRepWaiting, replicas: [...], breaches: [...]};
                        with --watch, one compact JSON document per line
  --max-lag-bytes B     breach when a replica's replay position is more than B bytes behind the
                        primary's current WAL position; B may end in kB, MB, GB or TB (x1024)
  --max-lag-seconds S   breach when a replica's replay_lag is more than S seconds
  --max-reply-age S     breach when a replica's last reply (pg_stat_replication.reply_time) is
                        more than S seconds old: it stopped answering but its walsender has not
                        timed out yet (with any threshold, a disconnected replica is a breach too)
  --watch               re-check every interval until Ctrl-C
  --interval SECONDS    seconds between checks with --watch (default: 2)
  --count N             with --watch, stop after N checks (for scripts and tests)
  -h, --help            show this help

Always breaches, without any option: a commit waiting for synchronous standbys (wait event
SyncRep) for more than ${SYNC_REP_STALL_SECONDS} s (writes are stalled); a replica's slot that is invalidated
(wal_status lost: the replica cannot stream again until it is rejoined); and, as a warning, a slot
with wal_status unreserved (about to be invalidated).

Exit status: 0 no breach; 1 a breach (listed on stderr, and in the JSON "breaches" array); 2 usage
error, or the cluster could not be read (no containers, no primary, split brain, Docker
unavailable). With --watch, the status of the last check.`;

/** The parsed command line. */
export interface LagOptions {
    stack: string;
    json: boolean;
    watch: boolean;
    intervalSeconds: number;
    /** Checks to run with --watch before stopping; undefined: until interrupted. */
    count?: number;
    /** --live: the stack was made by the live harness. Only the repair hints change (they say --live too). */
    live: boolean;
    thresholds: Thresholds;
}

/** Limits a replica must stay within; an absent limit is not checked. */
export interface Thresholds {
    maxLagBytes?: number;
    maxLagSeconds?: number;
    maxReplyAgeSeconds?: number;
}

const UNITS: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** "1000000", "16MB", "1.5 GB" → bytes. Units are PostgreSQL's (kB = 1024 B), case-sensitive like its GUCs. */
export function parseByteSize(text: string): number {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(B|kB|MB|GB|TB)?\s*$/.exec(text);
    if (!m) throw new UsageError(`invalid byte size ${JSON.stringify(text)}: expected a number of bytes, optionally with kB, MB, GB or TB`);
    return Math.round(Number(m[1]) * UNITS[m[2] ?? "B"]);
}

function parseNumber(flag: string, text: string, opts: { integer?: boolean; positive?: boolean }): number {
    const ok = opts.integer ? /^\d+$/.test(text) : /^\d+(\.\d+)?$/.test(text);
    const value = Number(text);
    if (!ok || (opts.positive && value <= 0)) {
        const what = `${opts.positive ? "a positive" : "a non-negative"} ${opts.integer ? "integer" : "number"}`;
        throw new UsageError(`${flag} ${JSON.stringify(text)} is invalid: expected ${what}`);
    }
    return value;
}

/** The options `npm run lag` accepts, for node:util parseArgs. */
const LAG_OPTIONS = {
    stack: { type: "string" },
    live: { type: "boolean" },
    json: { type: "boolean" },
    watch: { type: "boolean" },
    interval: { type: "string" },
    count: { type: "string" },
    "max-lag-bytes": { type: "string" },
    "max-lag-seconds": { type: "string" },
    "max-reply-age": { type: "string" },
    help: { type: "boolean", short: "h" },
} as const;

/**
 * Parses the arguments after `npm run lag --`; "help" for -h/--help. Throws {@link UsageError}.
 * Both `--flag value` and `--flag=value`. node:util parseArgs splits the command line into tokens
 * (non-strict, so that every mistake gets this command's own message); the checks are here, in
 * argument order: unknown options, positional arguments, missing or unexpected values, and an
 * option given twice (`--interval 1 --interval 2` is refused rather than silently taking the last).
 */
export function parseLagArgs(argv: string[]): LagOptions | "help" {
    const opts: LagOptions = { stack: "dev", json: false, watch: false, intervalSeconds: 2, live: false, thresholds: {} };
    const { tokens } = parseArgs({ args: argv, options: LAG_OPTIONS, strict: false, allowPositionals: true, tokens: true });
    const seen = new Set<string>();
    let interval: number | undefined;
    for (const token of tokens) {
        if (token.kind === "option-terminator") continue;
        if (token.kind === "positional") throw new UsageError(`unexpected argument ${JSON.stringify(token.value)}`);
        const name = token.name;
        const flag = token.rawName;
        if (!Object.prototype.hasOwnProperty.call(LAG_OPTIONS, name)) throw new UsageError(`unknown option ${flag}`);
        if (name === "help") return "help";
        if (seen.has(name)) throw new UsageError(`--${name} given more than once`);
        seen.add(name);
        const spec = LAG_OPTIONS[name as keyof typeof LAG_OPTIONS];
        let value = "";
        if (spec.type === "boolean") {
            if (token.inlineValue) throw new UsageError(`${flag} takes no value`);
        } else {
            // `--stack --json`: parseArgs takes "--json" as the value; it is a forgotten value.
            if (token.value === undefined || (!token.inlineValue && token.value.startsWith("--"))) throw new UsageError(`${flag} needs a value`);
            value = token.value;
        }
        switch (name) {
            case "stack":
                if (!/^[a-zA-Z0-9_.-]+$/.test(value)) throw new UsageError(`invalid --stack ${JSON.stringify(value)}`);
                opts.stack = value;
                break;
            case "live":
                opts.live = true;
                break;
            case "json":
                opts.json = true;
                break;
            case "watch":
                opts.watch = true;
                break;
            case "interval":
                interval = parseNumber(flag, value, { positive: true });
                break;
            case "count":
                opts.count = parseNumber(flag, value, { integer: true, positive: true });
                break;
            case "max-lag-bytes":
                opts.thresholds.maxLagBytes = parseByteSize(value);
                break;
            case "max-lag-seconds":
                opts.thresholds.maxLagSeconds = parseNumber(flag, value, {});
                break;
            case "max-reply-age":
                opts.thresholds.maxReplyAgeSeconds = parseNumber(flag, value, {});
                break;
        }
    }
    if (!opts.watch && (interval !== undefined || opts.count !== undefined)) {
        throw new UsageError(`${interval !== undefined ? "--interval" : "--count"} needs --watch`);
    }
    if (interval !== undefined) opts.intervalSeconds = interval;
    return opts;
}

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
export function normaliseLagSeconds(raw: number | null, stageLsn: string | null, sentLsn: string | null): number | null {
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

/** Something wrong: a replica outside a threshold, a stalled commit, an invalidated slot. */
export interface Breach {
    /** The replica, or for sync-rep-wait the primary (where the commits wait). */
    node: string;
    reason:
        | "lag-bytes"
        | "lag-seconds"
        | "reply-age"
        | "disconnected"
        | "position-unknown"
        | "sync-rep-wait"
        | "slot-invalidated"
        | "slot-unreserved";
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
        syncRepWaiting: { backends: data.sync_rep.backends, oldestSeconds: data.sync_rep.backends > 0 ? data.sync_rep.oldest_seconds : null },
        replicas,
        breaches: [],
    };
}

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
    const breaches: Breach[] = [];
    const critical = (b: Omit<Breach, "severity">): void => {
        breaches.push({ node: b.node, reason: b.reason, severity: "critical", value: b.value, limit: b.limit, message: b.message });
    };
    for (const r of replicas) {
        if (r.state === "disconnected") {
            const why = r.running === false ? "container not running" : "no pg_stat_replication row on the primary";
            critical({ node: r.node, reason: "disconnected", value: null, limit: null, message: `${r.node} is disconnected (${why})` });
            continue;
        }
        // A replica that stopped answering: checked before its positions, which it may still have.
        if (t.maxReplyAgeSeconds !== undefined && r.replyAgeSeconds !== null && r.replyAgeSeconds > t.maxReplyAgeSeconds) {
            critical({
                node: r.node,
                reason: "reply-age",
                value: r.replyAgeSeconds,
                limit: t.maxReplyAgeSeconds,
                message: `${r.node} has not replied for ${formatAge(r.replyAgeSeconds)}, over --max-reply-age ${t.maxReplyAgeSeconds}`,
            });
        }
        if (r.lagBytes === null) {
            critical({
                node: r.node,
                reason: "position-unknown",
                value: null,
                limit: null,
                message: `${r.node} has no replay position yet (state ${r.state})`,
            });
            continue;
        }
        if (t.maxLagBytes !== undefined && r.lagBytes > t.maxLagBytes) {
            critical({
                node: r.node,
                reason: "lag-bytes",
                value: r.lagBytes,
                limit: t.maxLagBytes,
                message: `${r.node} is ${formatBytes(r.lagBytes)} (${r.lagBytes} bytes) behind, over --max-lag-bytes ${t.maxLagBytes}`,
            });
        }
        if (t.maxLagSeconds !== undefined && r.replayLagSeconds !== null && r.replayLagSeconds > t.maxLagSeconds) {
            critical({
                node: r.node,
                reason: "lag-seconds",
                value: r.replayLagSeconds,
                limit: t.maxLagSeconds,
                message: `${r.node} replay lag is ${formatSeconds(r.replayLagSeconds)}, over --max-lag-seconds ${t.maxLagSeconds}`,
            });
        }
    }
    return breaches;
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
    if (waiting.backends === 0 || waiting.oldestSeconds === null || waiting.oldestSeconds <= SYNC_REP_STALL_SECONDS) return [];
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
    return [...evaluateSyncRep(report.primary, report.syncRepWaiting), ...evaluateThresholds(report.replicas, t), ...evaluateSlots(report.replicas, repair)];
}

/** Bytes for people, in PostgreSQL's units (1 kB = 1024 B): "0 B", "512 B", "1.2 MB". */
export function formatBytes(bytes: number | null): string {
    if (bytes === null) return "-";
    const sign = bytes < 0 ? "-" : "";
    let value = Math.abs(bytes);
    if (value < 1024) return `${sign}${value} B`;
    const units = ["kB", "MB", "GB", "TB", "PB"];
    let unit = -1;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return `${sign}${value.toFixed(1)} ${units[unit]}`;
}

/** Seconds for people: "0.000s", "5.032s", "12m05s", "3h02m"; "-" when unknown. */
export function formatSeconds(seconds: number | null): string {
    if (seconds === null) return "-";
    if (seconds < 60) return `${seconds.toFixed(3)}s`;
    const whole = Math.floor(seconds);
    const pad = (n: number) => String(n).padStart(2, "0");
    if (whole < 3600) return `${Math.floor(whole / 60)}m${pad(whole % 60)}s`;
    return `${Math.floor(whole / 3600)}h${pad(Math.floor((whole % 3600) / 60))}m`;
}

/** Left-aligned text columns, two spaces apart; numbers are right-aligned. */
export function alignColumns(rows: string[][], rightAligned: Set<number>): string[] {
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    return rows.map((r) =>
        r
            .map((cell, c) => (rightAligned.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
            .join("  ")
            .trimEnd(),
    );
}

/** The WAL column: wal_status, with the invalidation reason of an invalidated slot ("lost (wal_removed)"). */
export function slotWalText(slot: SlotInfo | null): string {
    if (!slot) return "-";
    if (slot.invalidationReason !== null) return `${slot.walStatus ?? "invalidated"} (${slot.invalidationReason})`;
    return slot.walStatus ?? "-";
}

/**
 * The human report: a header line, one aligned row per replica, and, when commits wait for
 * synchronous standbys, a line saying how many and for how long.
 */
export function renderTable(report: LagReport): string {
    const header =
        `stack ${report.stack}  primary ${report.primary}  timeline ${report.timeline}  ` +
        `current LSN ${report.currentLsn}  at ${report.checkedAt}`;
    const yesNo = (b: boolean | undefined) => (b === undefined ? "-" : b ? "yes" : "no");
    const rows = [
        ["NODE", "STATE", "SYNC", "CLIENT", "REPLAY LSN", "LAG", "SENT-REPLAY", "WRITE", "FLUSH", "REPLAY", "REPLY", "SLOT", "ACTIVE", "WAL", "RETAINED"],
        ...report.replicas.map((r) => [
            r.node,
            r.state === "disconnected" && r.running === false ? "disconnected (stopped)" : r.state,
            r.syncState ?? "-",
            r.clientAddr ?? "-",
            r.replayLsn ?? "-",
            formatBytes(r.lagBytes),
            formatBytes(r.sentToReplayBytes),
            formatSeconds(r.writeLagSeconds),
            formatSeconds(r.flushLagSeconds),
            formatSeconds(r.replayLagSeconds),
            formatSeconds(r.replyAgeSeconds),
            r.slot?.name ?? "-",
            yesNo(r.slot?.active),
            slotWalText(r.slot),
            formatBytes(r.slot?.retainedBytes ?? null),
        ]),
    ];
    const body = report.replicas.length === 0 ? ["(no replicas)"] : alignColumns(rows, new Set([5, 6, 7, 8, 9, 10, 14]));
    const { backends, oldestSeconds } = report.syncRepWaiting;
    const footer =
        backends > 0
            ? [`${backends} commit${backends === 1 ? "" : "s"} waiting for synchronous standbys (SyncRep), oldest ${formatSeconds(oldestSeconds)}`]
            : [];
    return [header, ...body, ...footer].join("\n") + "\n";
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
    return report;
}
