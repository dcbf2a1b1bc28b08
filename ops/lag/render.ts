// Rendering: bytes, seconds and the table `npm run lag` prints. Pure.
import { LagReport, SlotInfo } from "./model";

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
        [
            "NODE",
            "STATE",
            "SYNC",
            "CLIENT",
            "REPLAY LSN",
            "LAG",
            "SENT-REPLAY",
            "WRITE",
            "FLUSH",
            "REPLAY",
            "REPLY",
            "SLOT",
            "ACTIVE",
            "WAL",
            "RETAINED",
        ],
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
    const body =
        report.replicas.length === 0 ? ["(no replicas)"] : alignColumns(rows, new Set([5, 6, 7, 8, 9, 10, 14]));
    const { backends, oldestSeconds } = report.syncRepWaiting;
    const footer =
        backends > 0
            ? [
                  `${backends} commit${backends === 1 ? "" : "s"} waiting for synchronous standbys (SyncRep), oldest ${formatSeconds(oldestSeconds)}`,
              ]
            : [];
    return [header, ...body, ...footer].join("\n") + "\n";
}
