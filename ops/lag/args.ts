// `npm run lag` command line: options, thresholds and their parsing. Pure.
import { command, stackOption, UsageError } from "../cli";

/**
 * A commit waiting for synchronous standbys longer than this (seconds) is always a breach: a
 * synchronous commit normally waits milliseconds, so this long means writes are stalled (the
 * standbys it waits for are gone, stopped or cut off, and their walsenders have not timed out).
 */
export const SYNC_REP_STALL_SECONDS = 1;

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
    if (!m)
        throw new UsageError(
            `invalid byte size ${JSON.stringify(text)}: expected a number of bytes, optionally with kB, MB, GB or TB`,
        );
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

const seconds = (raw: string, flag: string) => parseNumber(flag, raw, {});

/** `npm run lag`'s command line, declared once (ops/cli.ts): its --help and its parser. */
export const LAG = command({
    name: "lag",
    synopsis:
        "[--stack S] [--live] [--watch [--interval SECONDS] [--count N]] [--json]\n" +
        "                      [--max-lag-bytes B] [--max-lag-seconds S] [--max-reply-age S]",
    description: `Shows how far each replica of the stack's cluster is behind its primary, as the primary sees it
(pg_stat_replication joined with pg_replication_slots), and the commits waiting for synchronous
standbys (pg_stat_activity). The cluster is found through Docker (containers labelled
pg-replication.cluster=STACK); queries run over docker exec, no password.`,
    options: {
        stack: stackOption("dev", "stack (container name prefix) to inspect"),
        live: {
            type: "boolean",
            help: "the stack was made by the live harness: repair hints say --live too\n(the cluster is read the same way)",
        },
        json: {
            type: "boolean",
            help:
                "print JSON instead of a table: {stack, primary, currentLsn, timeline,\n" +
                "checkedAt, thresholds, syncRepWaiting, replicas: [...], breaches: [...]};\n" +
                "with --watch, one compact JSON document per line",
        },
        "max-lag-bytes": {
            type: "string",
            value: "B",
            help: "breach when a replica's replay position is more than B bytes behind the\nprimary's current WAL position; B may end in kB, MB, GB or TB (x1024)",
            parse: (raw: string) => parseByteSize(raw),
        },
        "max-lag-seconds": {
            type: "string",
            value: "S",
            help: "breach when a replica's replay_lag is more than S seconds",
            parse: seconds,
        },
        "max-reply-age": {
            type: "string",
            value: "S",
            help:
                "breach when a replica's last reply (pg_stat_replication.reply_time) is\n" +
                "more than S seconds old: it stopped answering but its walsender has not\n" +
                "timed out yet (with any threshold, a disconnected replica is a breach too)",
            parse: seconds,
        },
        watch: { type: "boolean", help: "re-check every interval until Ctrl-C" },
        interval: {
            type: "string",
            value: "SECONDS",
            help: "seconds between checks with --watch",
            default: 2,
            parse: (raw: string, flag: string) => parseNumber(flag, raw, { positive: true }),
        },
        count: {
            type: "string",
            value: "N",
            help: "with --watch, stop after N checks (for scripts and tests)",
            parse: (raw: string, flag: string) => parseNumber(flag, raw, { integer: true, positive: true }),
        },
    },
    notes: `Always breaches, without any option: a commit waiting for synchronous standbys (wait event
SyncRep) for more than ${SYNC_REP_STALL_SECONDS} s (writes are stalled); a replica's slot that is invalidated
(wal_status lost: the replica cannot stream again until it is rejoined); and, as a warning, a slot
with wal_status unreserved (about to be invalidated).

Exit status: 0 no breach; 1 a breach (listed on stderr, and in the JSON "breaches" array); 2 usage
error, or the cluster could not be read (no containers, no primary, split brain, Docker
unavailable). With --watch, the status of the last check.`,
    examples: [
        "npm run lag -- --stack local --max-lag-bytes 16MB --max-lag-seconds 5 --max-reply-age 5",
        "npm run lag -- --watch --interval 5",
    ],
});

/**
 * Parses the arguments after `npm run lag --` (`--flag value` and `--flag=value`). Throws
 * {@link UsageError} naming the argument, or HelpRequest for -h/--help.
 */
export function parseLagArgs(argv: string[]): LagOptions {
    const { values: v, given } = LAG.parse(argv);
    if (!v.watch && (given.has("interval") || given.has("count")))
        throw new UsageError(`${given.has("interval") ? "--interval" : "--count"} needs --watch`);
    const thresholds: Thresholds = {};
    if (v["max-lag-bytes"] !== undefined) thresholds.maxLagBytes = v["max-lag-bytes"];
    if (v["max-lag-seconds"] !== undefined) thresholds.maxLagSeconds = v["max-lag-seconds"];
    if (v["max-reply-age"] !== undefined) thresholds.maxReplyAgeSeconds = v["max-reply-age"];
    const opts: LagOptions = {
        stack: v.stack,
        json: v.json,
        watch: v.watch,
        intervalSeconds: v.interval,
        live: v.live,
        thresholds,
    };
    if (v.count !== undefined) opts.count = v.count;
    return opts;
}
