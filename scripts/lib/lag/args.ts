// `npm run lag` command line: options, thresholds and their parsing. Pure.
import { parseArgs } from "node:util";

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
