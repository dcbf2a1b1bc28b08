// `npm run lag`'s pure logic: argument parsing, lag-seconds normalisation, thresholds, formatting,
// and merging the primary's view with Docker's. No Docker needed.
import {
    ClusterNode,
    ClusterView,
    DiscoveryError,
    parseDockerPs,
    unknownRoles,
    pickPrimary,
} from "../../ops/cluster-discovery";
import {
    alignColumns,
    buildReport,
    evaluateReport,
    evaluateSlots,
    evaluateSyncRep,
    evaluateThresholds,
    formatBytes,
    formatSeconds,
    normaliseLagSeconds,
    parseByteSize,
    parseLagArgs,
    parseLsn,
    PrimaryLag,
    ReplicaLag,
    renderTable,
    SlotInfo,
    SlotRow,
    StatRow,
    SYNC_REP_STALL_SECONDS,
} from "../../ops/lag";
import { HelpRequest, UsageError } from "../../ops/cli";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const usageError = (argv: string[], ...parts: string[]) => {
    let error: unknown;
    try {
        parseLagArgs(argv);
    } catch (err) {
        error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    for (const p of parts) expect((error as Error).message).toContain(p);
};

describe("parseLagArgs", () => {
    test("defaults: stack dev, one table check, no thresholds", () => {
        expect(parseLagArgs([])).toEqual({
            stack: "dev",
            json: false,
            watch: false,
            intervalSeconds: 2,
            live: false,
            thresholds: {},
        });
    });

    test("every option, in both --flag value and --flag=value forms", () => {
        const opts = parseLagArgs([
            "--stack",
            "prod",
            "--json",
            "--watch",
            "--interval=0.5",
            "--count",
            "3",
            "--max-lag-bytes",
            "16MB",
            "--max-lag-seconds=2.5",
            "--max-reply-age",
            "5",
            "--live",
        ]);
        expect(opts).toEqual({
            stack: "prod",
            json: true,
            watch: true,
            intervalSeconds: 0.5,
            count: 3,
            live: true,
            thresholds: { maxLagBytes: 16 * 1024 * 1024, maxLagSeconds: 2.5, maxReplyAgeSeconds: 5 },
        });
    });

    test("--live is accepted: it changes only the repair hints, not how the cluster is read", () => {
        expect(parseLagArgs(["--live", "--stack", "demo"])).toEqual({
            stack: "demo",
            json: false,
            watch: false,
            intervalSeconds: 2,
            live: true,
            thresholds: {},
        });
    });

    test("-h and --help", () => {
        expect(() => parseLagArgs(["--json", "-h"])).toThrow(HelpRequest);
        expect(() => parseLagArgs(["--help"])).toThrow(HelpRequest);
    });

    test.each<[string[], ...string[]]>([
        [["--frobnicate"], "unknown option --frobnicate"],
        [["pg2"], 'unexpected argument "pg2"'],
        [["--stack"], "--stack needs a value"],
        [["--stack", "--json"], "--stack needs a value"],
        [["--stack", "a b"], "invalid --stack"],
        [["--max-lag-bytes", "lots"], 'invalid byte size "lots"'],
        [["--max-lag-bytes", "-5"], 'invalid byte size "-5"'],
        [["--max-lag-bytes", "5mb"], 'invalid byte size "5mb"'],
        [["--max-lag-seconds", "soon"], '--max-lag-seconds "soon" is invalid', "non-negative number"],
        [["--watch", "--interval", "0"], '--interval "0" is invalid', "positive number"],
        [["--watch", "--count", "1.5"], '--count "1.5" is invalid', "positive integer"],
        [["--interval", "5"], "--interval needs --watch"],
        [["--count", "2"], "--count needs --watch"],
        [["--json=yes"], "--json takes no value"],
        [["--live=yes"], "--live takes no value"],
        [["--max-reply-age", "later"], '--max-reply-age "later" is invalid', "non-negative number"],
        [["--max-reply-age"], "--max-reply-age needs a value"],
        [["--watch", "--interval", "1", "--interval", "2"], "--interval given more than once"],
        [["--watch", "--interval=1", "--interval=2"], "--interval given more than once"],
        [["--stack", "a", "--json", "--stack=b"], "--stack given more than once"],
        [["--json", "--json"], "--json given more than once"],
        [["--live", "--live"], "--live given more than once"],
        [["--max-lag-bytes", "1MB", "--max-lag-bytes", "2MB"], "--max-lag-bytes given more than once"],
        [["-x"], "unknown option -x"],
    ])("%j is a usage error", (argv, ...parts) => usageError(argv, ...parts));
});

describe("parseByteSize", () => {
    test.each([
        ["0", 0],
        ["1000000", 1_000_000],
        ["512B", 512],
        ["1kB", 1024],
        ["1.5 MB", 1.5 * 1024 * 1024],
        ["2GB", 2 * 1024 ** 3],
        ["1TB", 1024 ** 4],
    ])("%s is %d bytes", (text, bytes) => expect(parseByteSize(text)).toBe(bytes));
});

describe("LSNs", () => {
    test("parseLsn orders positions across the high word", () => {
        expect(parseLsn("0/5038F40")).toBe(0x5038f40n);
        expect(parseLsn("1/0")! > parseLsn("0/FFFFFFFF")!).toBe(true);
        expect(parseLsn(null)).toBeNull();
        expect(() => parseLsn("nope")).toThrow("invalid LSN");
    });
});

describe("normaliseLagSeconds", () => {
    test("a measured lag is reported as is", () => {
        expect(normaliseLagSeconds(3.25, "0/100", "0/200")).toBe(3.25);
        expect(normaliseLagSeconds(0.002, "0/200", "0/200")).toBe(0.002);
    });
    test("NULL on an idle caught-up replica (position at sent_lsn) is 0, not unknown", () => {
        expect(normaliseLagSeconds(null, "0/5662F50", "0/5662F50")).toBe(0);
        expect(normaliseLagSeconds(null, "1/0", "0/FFFFFFFF")).toBe(0);
    });
    test("NULL while behind, or without positions, stays unknown", () => {
        expect(normaliseLagSeconds(null, "0/100", "0/200")).toBeNull();
        expect(normaliseLagSeconds(null, null, "0/200")).toBeNull();
        expect(normaliseLagSeconds(null, "0/200", null)).toBeNull();
    });
});

describe("formatting", () => {
    test.each([
        [null, "-"],
        [0, "0 B"],
        [1023, "1023 B"],
        [1024, "1.0 kB"],
        [1_258_291, "1.2 MB"],
        [5 * 1024 ** 3, "5.0 GB"],
        [-2048, "-2.0 kB"],
    ])("formatBytes(%p) = %s", (bytes, text) => expect(formatBytes(bytes)).toBe(text));

    test.each([
        [null, "-"],
        [0, "0.000s"],
        [5.0318, "5.032s"],
        [725.4, "12m05s"],
        [3 * 3600 + 125, "3h02m"],
    ])("formatSeconds(%p) = %s", (seconds, text) => expect(formatSeconds(seconds)).toBe(text));
});

const node = (n: number, over: Partial<ClusterNode> = {}): ClusterNode => ({
    node: `pg${n}`,
    container: `s-pg${n}`,
    running: true,
    state: over.running === false ? "exited" : "running",
    inRecovery: n !== 1,
    ...over,
});

describe("discovery helpers", () => {
    test("parseDockerPs keeps labelled nodes in natural order", () => {
        const text = "s-pg10\trunning\tpg10\ns-pg2\texited\tpg2\ns-other\trunning\t\ns-pg1\trunning\tpg1\n";
        expect(parseDockerPs(text)).toEqual([
            { node: "pg1", container: "s-pg1", running: true, state: "running" },
            { node: "pg2", container: "s-pg2", running: false, state: "exited" },
            { node: "pg10", container: "s-pg10", running: true, state: "running" },
        ]);
    });

    test("pickPrimary: the one running node not in recovery", () => {
        expect(pickPrimary("s", [node(1), node(2), node(3)]).node).toBe("pg1");
        expect(
            pickPrimary("s", [node(1, { running: false, inRecovery: null }), node(2, { inRecovery: false }), node(3)])
                .node,
        ).toBe("pg2");
    });

    test("pickPrimary: split brain names both writers", () => {
        expect(() => pickPrimary("s", [node(1), node(2), node(3, { inRecovery: false })])).toThrow(
            new DiscoveryError("split brain: pg1 and pg3 both accept writes (stack s)"),
        );
        expect(() =>
            pickPrimary("s", [node(1), node(2, { inRecovery: false }), node(3, { inRecovery: false })]),
        ).toThrow("split brain: pg1, pg2 and pg3 all accept writes");
    });

    test("pickPrimary: none, with why each node is not it", () => {
        expect(() => pickPrimary("s", [node(1, { running: false, inRecovery: null }), node(2), node(3)])).toThrow(
            "no primary in stack s: pg1 not running, pg2 in recovery, pg3 in recovery",
        );
    });

    test("pickPrimary fails closed: a node that may run but does not answer is never read as not primary", () => {
        // A primary answers, pg3's server does not: pg3 could be a second primary.
        expect(() => pickPrimary("s", [node(1), node(2), node(3, { inRecovery: null, error: "starting up" })])).toThrow(
            "cannot tell which node of stack s is primary: pg3 (s-pg3) is running but does not answer " +
                "pg_is_in_recovery() (starting up): read docker logs --tail 50 s-pg3, and docker stop s-pg3 if it must stay out of the cluster",
        );
        // Paused: Docker does not call it running, yet it may hold writes the moment it is unpaused.
        expect(() =>
            pickPrimary("s", [node(1), node(2, { running: false, state: "paused", inRecovery: null })]),
        ).toThrow("pg2 (s-pg2) is paused: docker unpause s-pg2 lets it answer, docker stop s-pg2 takes it out");
        for (const state of ["restarting", "paused"])
            expect(unknownRoles([node(1), node(2, { running: false, state, inRecovery: null })])).toHaveLength(1);
        for (const state of ["exited", "created", "dead"])
            expect(unknownRoles([node(1), node(2, { running: false, state, inRecovery: null })])).toEqual([]);
    });
});

const statRow = (name: string, over: Partial<StatRow> = {}): StatRow => ({
    application_name: name,
    client_addr: "172.29.81.3",
    state: "streaming",
    sync_state: "async",
    sync_priority: 0,
    sent_lsn: "0/5000000",
    write_lsn: "0/5000000",
    flush_lsn: "0/5000000",
    replay_lsn: "0/5000000",
    lag_bytes: 0,
    sent_to_replay_bytes: 0,
    write_lag: null,
    flush_lag: null,
    replay_lag: null,
    reply_age: 0.25,
    ...over,
});

const slotRow = (name: string, over: Partial<SlotRow> = {}): SlotRow => ({
    slot_name: name,
    active: true,
    wal_status: "reserved",
    retained_bytes: 0,
    invalidation_reason: null,
    safe_wal_size: 2 * 1024 ** 3,
    ...over,
});

describe("buildReport", () => {
    const cluster: ClusterView = {
        stack: "s",
        nodes: [node(1), node(2), node(3, { running: false, inRecovery: null }), node(4)],
        primary: node(1),
    };
    const data: PrimaryLag = {
        current_lsn: "0/5200000",
        timeline: 2,
        replication: [
            statRow("pg2", {
                replay_lsn: "0/4E00000",
                lag_bytes: 4 * 1024 * 1024,
                sent_to_replay_bytes: 2 * 1024 * 1024,
                write_lag: 0.01,
                flush_lag: 0.02,
                replay_lag: 7.5,
            }),
            statRow("pg4", {
                sent_lsn: "0/5200000",
                write_lsn: "0/5200000",
                flush_lsn: "0/5200000",
                replay_lsn: "0/5200000",
            }),
        ],
        slots: [
            slotRow("pg2", { retained_bytes: 1024 }),
            slotRow("pg3", { active: false, wal_status: "extended", retained_bytes: 9_000_000 }),
            slotRow("pg4"),
        ],
        sync_rep: { backends: 0, oldest_seconds: null },
    };
    const report = buildReport(cluster, data, new Date("2025-01-02T03:04:05Z"));

    test("header fields", () => {
        expect(report).toMatchObject({
            stack: "s",
            primary: "pg1",
            currentLsn: "0/5200000",
            timeline: 2,
            checkedAt: "2025-01-02T03:04:05.000Z",
        });
        expect(report.replicas.map((r) => `${r.node}:${r.state}`)).toEqual([
            "pg2:streaming",
            "pg3:disconnected",
            "pg4:streaming",
        ]);
    });

    test("a lagging replica: measured values, its slot", () => {
        expect(report.replicas[0]).toMatchObject({
            container: "s-pg2",
            running: true,
            lagBytes: 4 * 1024 * 1024,
            sentToReplayBytes: 2 * 1024 * 1024,
            writeLagSeconds: 0.01,
            replayLagSeconds: 7.5,
            replyAgeSeconds: 0.25,
            slot: {
                name: "pg2",
                active: true,
                walStatus: "reserved",
                retainedBytes: 1024,
                invalidationReason: null,
                safeWalSizeBytes: 2 * 1024 ** 3,
            },
        });
        expect(report.syncRepWaiting).toEqual({ backends: 0, oldestSeconds: null });
        expect(report.thresholds).toEqual({ maxLagBytes: null, maxLagSeconds: null, maxReplyAgeSeconds: null });
    });

    test("a replica known to Docker without a row is disconnected, with its slot", () => {
        expect(report.replicas[1]).toMatchObject({
            node: "pg3",
            container: "s-pg3",
            running: false,
            state: "disconnected",
            lagBytes: null,
            replayLagSeconds: null,
            replyAgeSeconds: null,
            slot: { name: "pg3", active: false, walStatus: "extended", retainedBytes: 9_000_000 },
        });
    });

    test("an idle caught-up replica has 0 s lag, not NULL", () => {
        expect(report.replicas[2]).toMatchObject({
            lagBytes: 0,
            writeLagSeconds: 0,
            flushLagSeconds: 0,
            replayLagSeconds: 0,
        });
    });

    test("the table: aligned columns, human bytes, - for unknown", () => {
        const lines = renderTable(report).trimEnd().split("\n");
        expect(lines[0]).toBe("stack s  primary pg1  timeline 2  current LSN 0/5200000  at 2025-01-02T03:04:05.000Z");
        expect(lines[1]).toMatch(
            /^NODE\s+STATE\s+SYNC\s+CLIENT\s+REPLAY LSN\s+LAG\s+SENT-REPLAY\s+WRITE\s+FLUSH\s+REPLAY\s+REPLY\s+SLOT\s+ACTIVE\s+WAL\s+RETAINED$/,
        );
        expect(lines[2]).toMatch(
            /^pg2\s+streaming\s+async\s+172\.29\.81\.3\s+0\/4E00000\s+4\.0 MB\s+2\.0 MB\s+0\.010s\s+0\.020s\s+7\.500s\s+0\.250s\s+pg2\s+yes\s+reserved\s+1\.0 kB$/,
        );
        expect(lines[3]).toMatch(
            /^pg3\s+disconnected \(stopped\)\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+pg3\s+no\s+extended\s+8\.6 MB$/,
        );
        expect(lines).toHaveLength(5); // no commit waits for a synchronous standby: no footer
        // Aligned: the SLOT column starts at the same offset on every line.
        const slotAt = lines[1].indexOf("SLOT");
        expect(lines[2].search(/pg2 +yes/)).toBe(slotAt);
        expect(lines[3].search(/pg3 +no/)).toBe(slotAt);
        expect(lines[4].search(/pg4 +yes/)).toBe(slotAt);
    });

    test("alignColumns pads text left and numbers right", () => {
        expect(
            alignColumns(
                [
                    ["A", "NUM"],
                    ["long", "1"],
                    ["x", "22222"],
                ],
                new Set([1]),
            ),
        ).toEqual(["A       NUM", "long      1", "x     22222"]);
    });
});

const replica = (over: Partial<ReplicaLag>): ReplicaLag => ({
    node: "pg2",
    container: "s-pg2",
    running: true,
    state: "streaming",
    clientAddr: "172.29.81.3",
    syncState: "async",
    syncPriority: 0,
    sentLsn: "0/5000000",
    writeLsn: "0/5000000",
    flushLsn: "0/5000000",
    replayLsn: "0/5000000",
    lagBytes: 0,
    sentToReplayBytes: 0,
    writeLagSeconds: 0,
    flushLagSeconds: 0,
    replayLagSeconds: 0,
    replyAgeSeconds: 0.1,
    slot: null,
    ...over,
});

describe("evaluateThresholds", () => {
    test("no thresholds: nothing is a breach, not even a disconnected replica", () => {
        expect(evaluateThresholds([replica({ state: "disconnected", lagBytes: null })], {})).toEqual([]);
    });

    test("bytes: strictly over the limit", () => {
        const rs = [replica({ node: "pg2", lagBytes: 5_000_000 }), replica({ node: "pg3", lagBytes: 1_000_000 })];
        expect(evaluateThresholds(rs, { maxLagBytes: 1_000_000 })).toEqual([
            {
                node: "pg2",
                reason: "lag-bytes",
                severity: "critical",
                value: 5_000_000,
                limit: 1_000_000,
                message: "pg2 is 4.8 MB (5000000 bytes) behind, over --max-lag-bytes 1000000",
            },
        ]);
    });

    test("seconds: replay lag over the limit; unknown (NULL) seconds are not a breach", () => {
        const rs = [
            replica({ node: "pg2", replayLagSeconds: 3.2 }),
            replica({ node: "pg3", replayLagSeconds: null, lagBytes: 100 }),
        ];
        expect(evaluateThresholds(rs, { maxLagSeconds: 1 })).toEqual([
            {
                node: "pg2",
                reason: "lag-seconds",
                severity: "critical",
                value: 3.2,
                limit: 1,
                message: "pg2 replay lag is 3.200s, over --max-lag-seconds 1",
            },
        ]);
    });

    test("both limits crossed: two breaches", () => {
        const reasons = evaluateThresholds([replica({ lagBytes: 10, replayLagSeconds: 10 })], {
            maxLagBytes: 1,
            maxLagSeconds: 1,
        }).map((b) => b.reason);
        expect(reasons).toEqual(["lag-bytes", "lag-seconds"]);
    });

    test("with a threshold, disconnected and position-less replicas are breaches", () => {
        const rs = [
            replica({ node: "pg2", state: "disconnected", running: false, lagBytes: null }),
            replica({ node: "pg3", state: "disconnected", running: true, lagBytes: null }),
            replica({ node: "pg4", state: "startup", lagBytes: null, replayLsn: null }),
        ];
        expect(evaluateThresholds(rs, { maxLagSeconds: 60 }).map((b) => [b.reason, b.message])).toEqual([
            ["disconnected", "pg2 is disconnected (container not running)"],
            ["disconnected", "pg3 is disconnected (no pg_stat_replication row on the primary)"],
            ["position-unknown", "pg4 has no replay position yet (state startup)"],
        ]);
    });
});

const slot = (over: Partial<SlotInfo> = {}): SlotInfo => ({
    name: "pg2",
    active: false,
    walStatus: "reserved",
    retainedBytes: 0,
    invalidationReason: null,
    safeWalSizeBytes: 64 * 1024 ** 2,
    ...over,
});

describe("stalled synchronous standby (issue 7 item 4)", () => {
    test("--max-reply-age: a replica whose last reply is older is a breach; at the limit, or unknown, it is not", () => {
        const rs = [
            replica({ node: "pg2", syncState: "sync", replyAgeSeconds: 7.2 }),
            replica({ node: "pg3", syncState: "potential", replyAgeSeconds: 5 }),
            replica({ node: "pg4", replyAgeSeconds: null }),
        ];
        expect(evaluateThresholds(rs, { maxReplyAgeSeconds: 5 })).toEqual([
            {
                node: "pg2",
                reason: "reply-age",
                severity: "critical",
                value: 7.2,
                limit: 5,
                message: "pg2 has not replied for 7.2s, over --max-reply-age 5",
            },
        ]);
    });

    test("--max-reply-age alone makes a disconnected replica a breach, like the other thresholds", () => {
        const rs = [
            replica({ node: "pg2", state: "disconnected", running: true, lagBytes: null, replyAgeSeconds: null }),
        ];
        expect(evaluateThresholds(rs, { maxReplyAgeSeconds: 5 }).map((b) => b.message)).toEqual([
            "pg2 is disconnected (no pg_stat_replication row on the primary)",
        ]);
    });

    test("commits waiting in SyncRep longer than the bound are a breach without any option", () => {
        expect(evaluateSyncRep("pg1", { backends: 3, oldestSeconds: 4.1 })).toEqual([
            {
                node: "pg1",
                reason: "sync-rep-wait",
                severity: "critical",
                value: 4.1,
                limit: SYNC_REP_STALL_SECONDS,
                message: `3 commits waiting for synchronous standbys for 4.1s (over ${SYNC_REP_STALL_SECONDS}s): writes on pg1 are stalled`,
            },
        ]);
        expect(evaluateSyncRep("pg1", { backends: 1, oldestSeconds: 90 })[0].message).toMatch(
            /^1 commit waiting for synchronous standbys for 1m30s /,
        );
    });

    test("a commit waiting briefly, or none, is not a breach", () => {
        expect(evaluateSyncRep("pg1", { backends: 2, oldestSeconds: SYNC_REP_STALL_SECONDS })).toEqual([]);
        expect(evaluateSyncRep("pg1", { backends: 1, oldestSeconds: 0.01 })).toEqual([]);
        expect(evaluateSyncRep("pg1", { backends: 0, oldestSeconds: null })).toEqual([]);
    });

    // The case of the issue: FIRST 1 (pg2, pg3), pg2 cut off, its walsender not timed out yet:
    // pg_stat_replication still says "streaming sync", every position is caught up.
    const stalled = (): PrimaryLag => ({
        current_lsn: "0/6000000",
        timeline: 1,
        replication: [
            statRow("pg2", {
                sync_state: "sync",
                sync_priority: 1,
                sent_lsn: "0/6000000",
                write_lsn: "0/5FFFF00",
                flush_lsn: "0/5FFFF00",
                replay_lsn: "0/5FFFF00",
                lag_bytes: 256,
                sent_to_replay_bytes: 256,
                reply_age: 7.2,
            }),
            statRow("pg3", {
                sync_state: "potential",
                sync_priority: 2,
                sent_lsn: "0/6000000",
                write_lsn: "0/6000000",
                flush_lsn: "0/6000000",
                replay_lsn: "0/6000000",
            }),
        ],
        slots: [slotRow("pg2"), slotRow("pg3")],
        sync_rep: { backends: 3, oldest_seconds: 4.1 },
    });
    const cluster: ClusterView = { stack: "s", nodes: [node(1), node(2), node(3)], primary: node(1) };

    test("the report carries the reply age per replica and the SyncRep wait; the table shows both", () => {
        const report = buildReport(cluster, stalled(), new Date("2025-01-02T03:04:05Z"));
        expect(report.syncRepWaiting).toEqual({ backends: 3, oldestSeconds: 4.1 });
        expect(report.replicas.map((r) => [r.node, r.syncState, r.replyAgeSeconds])).toEqual([
            ["pg2", "sync", 7.2],
            ["pg3", "potential", 0.25],
        ]);
        const lines = renderTable(report).trimEnd().split("\n");
        // REPLY is right-aligned, after REPLAY: values end where its header ends.
        const replyEnd = lines[1].indexOf(" REPLY ") + " REPLY".length;
        expect(replyEnd).toBeGreaterThan(lines[1].indexOf("REPLAY "));
        expect(lines[2].slice(0, replyEnd)).toMatch(/\s7\.200s$/);
        expect(lines[3].slice(0, replyEnd)).toMatch(/\s0\.250s$/);
        expect(lines[4]).toBe("3 commits waiting for synchronous standbys (SyncRep), oldest 4.100s");
    });

    test("without any option the stall is a breach; with --max-reply-age 5 the silent standby is named too", () => {
        const report = buildReport(cluster, stalled(), new Date());
        expect(evaluateReport(report, {}, { stack: "s", live: false }).map((b) => [b.node, b.reason])).toEqual([
            ["pg1", "sync-rep-wait"],
        ]);
        expect(
            evaluateReport(report, { maxReplyAgeSeconds: 5 }, { stack: "s", live: false }).map((b) => b.message),
        ).toEqual([
            `3 commits waiting for synchronous standbys for 4.1s (over ${SYNC_REP_STALL_SECONDS}s): writes on pg1 are stalled`,
            "pg2 has not replied for 7.2s, over --max-reply-age 5",
        ]);
    });

    test("no commit waits: the SyncRep columns of the SQL's JSON map to 0 and null, and no breach", () => {
        const data = { ...stalled(), sync_rep: { backends: 0, oldest_seconds: null } };
        const report = buildReport(cluster, data, new Date());
        expect(report.syncRepWaiting).toEqual({ backends: 0, oldestSeconds: null });
        expect(evaluateReport(report, {}, { stack: "s", live: false })).toEqual([]);
    });
});

describe("slot health (issue 7 item 6)", () => {
    test("a lost slot retains nothing: RETAINED is null / -, WAL says lost (wal_removed)", () => {
        const data: PrimaryLag = {
            current_lsn: "0/A000000",
            timeline: 1,
            replication: [
                statRow("pg3", {
                    sent_lsn: "0/A000000",
                    write_lsn: "0/A000000",
                    flush_lsn: "0/A000000",
                    replay_lsn: "0/A000000",
                }),
            ],
            // PostgreSQL 17 clears restart_lsn on invalidation; a lost slot not yet invalidated by a
            // checkpoint still has one, pointing at removed WAL: neither is WAL retained.
            slots: [
                slotRow("pg2", {
                    active: false,
                    wal_status: "lost",
                    retained_bytes: 82_624_512,
                    invalidation_reason: "wal_removed",
                    safe_wal_size: null,
                }),
                slotRow("pg3"),
            ],
            sync_rep: { backends: 0, oldest_seconds: null },
        };
        const cluster: ClusterView = {
            stack: "s",
            nodes: [node(1), node(2, { running: false, inRecovery: null }), node(3)],
            primary: node(1),
        };
        const report = buildReport(cluster, data, new Date("2025-01-02T03:04:05Z"));
        expect(report.replicas[0].slot).toEqual({
            name: "pg2",
            active: false,
            walStatus: "lost",
            retainedBytes: null,
            invalidationReason: "wal_removed",
            safeWalSizeBytes: null,
        });
        const lines = renderTable(report).trimEnd().split("\n");
        expect(lines[2]).toMatch(/\spg2\s+no\s+lost \(wal_removed\)\s+-$/);
        expect(lines[3]).toMatch(/\spg3\s+yes\s+reserved\s+0 B$/);

        const lostNoReason = buildReport(
            cluster,
            {
                ...data,
                slots: [slotRow("pg2", { wal_status: "lost", retained_bytes: 82_624_512, safe_wal_size: null })],
            },
            new Date(),
        );
        expect(lostNoReason.replicas[0].slot).toMatchObject({
            walStatus: "lost",
            retainedBytes: null,
            invalidationReason: null,
        });
    });

    test("an invalidated slot is always a breach, with the exact repair command (--live when lag had it)", () => {
        const rs = [
            replica({
                node: "pg2",
                state: "disconnected",
                running: false,
                lagBytes: null,
                slot: slot({
                    walStatus: "lost",
                    invalidationReason: "wal_removed",
                    retainedBytes: null,
                    safeWalSizeBytes: null,
                }),
            }),
        ];
        expect(evaluateSlots(rs, { stack: "demo", live: false })).toEqual([
            {
                node: "pg2",
                reason: "slot-invalidated",
                severity: "critical",
                value: null,
                limit: null,
                message: "slot pg2 is invalidated (wal_removed): repair with npm run rejoin -- --node pg2 --stack demo",
            },
        ]);
        expect(evaluateSlots(rs, { stack: "demo", live: true })[0].message).toBe(
            "slot pg2 is invalidated (wal_removed): repair with npm run rejoin -- --node pg2 --stack demo --live",
        );
        const lostByStatus = [replica({ slot: slot({ walStatus: "lost", retainedBytes: null }) })];
        expect(evaluateSlots(lostByStatus, { stack: "demo", live: false })[0].message).toBe(
            "slot pg2 is invalidated (wal_status lost): repair with npm run rejoin -- --node pg2 --stack demo",
        );
    });

    test("without any option the lost slot is a breach, and with a threshold the disconnected replica too", () => {
        const report = buildReport(
            { stack: "demo", nodes: [node(1), node(2, { running: false, inRecovery: null })], primary: node(1) },
            {
                current_lsn: "0/A000000",
                timeline: 1,
                replication: [],
                slots: [
                    slotRow("pg2", {
                        active: false,
                        wal_status: "lost",
                        retained_bytes: null,
                        invalidation_reason: "wal_removed",
                        safe_wal_size: null,
                    }),
                ],
                sync_rep: { backends: 0, oldest_seconds: null },
            },
            new Date(),
        );
        expect(evaluateReport(report, {}, { stack: "demo", live: false }).map((b) => b.reason)).toEqual([
            "slot-invalidated",
        ]);
        expect(
            evaluateReport(report, { maxLagBytes: 1024 }, { stack: "demo", live: true }).map((b) => b.message),
        ).toEqual([
            "pg2 is disconnected (container not running)",
            "slot pg2 is invalidated (wal_removed): repair with npm run rejoin -- --node pg2 --stack demo --live",
        ]);
    });

    test("an unreserved slot is a warning-level breach; reserved and extended slots, and no slot, are fine", () => {
        const rs = [
            replica({ node: "pg2", slot: slot({ walStatus: "unreserved", safeWalSizeBytes: -1024 }) }),
            replica({ node: "pg3", slot: slot({ name: "pg3", walStatus: "extended" }) }),
            replica({ node: "pg4", slot: slot({ name: "pg4" }) }),
            replica({ node: "pg5", slot: null }),
        ];
        const breaches = evaluateSlots(rs, { stack: "demo", live: false });
        expect(breaches).toEqual([
            {
                node: "pg2",
                reason: "slot-unreserved",
                severity: "warning",
                value: null,
                limit: null,
                message: expect.stringMatching(/^slot pg2 is about to be invalidated: wal_status unreserved/),
            },
        ]);
    });
});

// evaluateThresholds' order of breaches: replica by replica, and within a replica the reply age first
// (a replica that stopped answering may still have positions), then position-unknown or the lag limits.
const allLimits = { maxLagBytes: 1, maxLagSeconds: 1, maxReplyAgeSeconds: 5 };

describe("evaluateThresholds: which breaches, in which order", () => {
    test("a silent replica without a position: reply age, then position-unknown (no lag limits checked)", () => {
        const breaches = evaluateThresholds(
            [replica({ state: "startup", lagBytes: null, replayLagSeconds: 9, replyAgeSeconds: 6 })],
            allLimits,
        );
        expect(breaches.map((b) => [b.node, b.reason, b.severity, b.value, b.limit])).toEqual([
            ["pg2", "reply-age", "critical", 6, 5],
            ["pg2", "position-unknown", "critical", null, null],
        ]);
    });

    test("a silent replica behind both limits: reply age, bytes, seconds; replicas in the order given", () => {
        const breaches = evaluateThresholds(
            [
                replica({ node: "pg3", lagBytes: 10, replayLagSeconds: 10, replyAgeSeconds: 60 }),
                replica({ node: "pg2", state: "disconnected", running: false, lagBytes: null }),
            ],
            allLimits,
        );
        expect(breaches.map((b) => `${b.node} ${b.reason}`)).toEqual([
            "pg3 reply-age",
            "pg3 lag-bytes",
            "pg3 lag-seconds",
            "pg2 disconnected",
        ]);
        expect(breaches[0].message).toBe("pg3 has not replied for 1m00s, over --max-reply-age 5");
        // Every breach carries the same six fields, severity third (JSON output keeps this order).
        expect(breaches.map((b) => Object.keys(b))).toEqual(
            Array(4).fill(["node", "reason", "severity", "value", "limit", "message"]),
        );
    });
});

describe("npm run lag with a stack whose configuration is there but wrong", () => {
    const root = path.resolve(__dirname, "..", "..");
    const stack = `lagcfg${process.pid}`;
    const stateFile = path.join(root, ".live-state", `${stack}.json`);
    afterEach(() => fs.rmSync(stateFile, { force: true }));

    test("names the key and exits 2 before looking for containers", () => {
        fs.mkdirSync(path.dirname(stateFile), { recursive: true });
        const state = {
            version: 1,
            stack,
            config: ["failover=patroni", 'hosts=[{"name":"h1"}]'],
            resources: [],
            outputs: {},
        };
        fs.writeFileSync(stateFile, JSON.stringify(state), { mode: 0o600 });
        const r = spawnSync(
            process.execPath,
            ["-r", "./scripts/register-ts.js", "scripts/lag.ts", "--stack", stack, "--live"],
            {
                cwd: root,
                encoding: "utf8",
            },
        );
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(/^lag: pg-replication:hosts/m);
        expect(r.stderr).not.toContain("no containers");
    });
});
