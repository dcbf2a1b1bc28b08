// `npm run lag`'s pure logic: argument parsing, lag-seconds normalisation, thresholds, formatting,
// and merging the primary's view with Docker's. No Docker needed.
import { ClusterNode, ClusterView, DiscoveryError, parseDockerPs, pickPrimary } from "../../scripts/lib/cluster-discovery";
import {
    alignColumns,
    buildReport,
    evaluateThresholds,
    formatBytes,
    formatSeconds,
    LagOptions,
    normaliseLagSeconds,
    parseByteSize,
    parseLagArgs,
    parseLsn,
    PrimaryLag,
    ReplicaLag,
    renderTable,
    StatRow,
    UsageError,
} from "../../scripts/lib/lag";

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
        expect(parseLagArgs([])).toEqual({ stack: "dev", json: false, watch: false, intervalSeconds: 2, thresholds: {} });
    });

    test("every option, in both --flag value and --flag=value forms", () => {
        const opts = parseLagArgs([
            "--stack", "prod",
            "--json",
            "--watch",
            "--interval=0.5",
            "--count", "3",
            "--max-lag-bytes", "16MB",
            "--max-lag-seconds=2.5",
        ]) as LagOptions;
        expect(opts).toEqual({
            stack: "prod",
            json: true,
            watch: true,
            intervalSeconds: 0.5,
            count: 3,
            thresholds: { maxLagBytes: 16 * 1024 * 1024, maxLagSeconds: 2.5 },
        });
    });

    test("-h and --help", () => {
        expect(parseLagArgs(["--json", "-h"])).toBe("help");
        expect(parseLagArgs(["--help"])).toBe("help");
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
    inRecovery: n !== 1,
    ...over,
});

describe("discovery helpers", () => {
    test("parseDockerPs keeps labelled nodes in natural order", () => {
        const text = "s-pg10\trunning\tpg10\ns-pg2\texited\tpg2\ns-other\trunning\t\ns-pg1\trunning\tpg1\n";
        expect(parseDockerPs(text)).toEqual([
            { node: "pg1", container: "s-pg1", running: true },
            { node: "pg2", container: "s-pg2", running: false },
            { node: "pg10", container: "s-pg10", running: true },
        ]);
    });

    test("pickPrimary: the one running node not in recovery", () => {
        expect(pickPrimary("s", [node(1), node(2), node(3)]).node).toBe("pg1");
        expect(pickPrimary("s", [node(1, { running: false, inRecovery: null }), node(2, { inRecovery: false }), node(3)]).node).toBe("pg2");
    });

    test("pickPrimary: split brain names both writers", () => {
        expect(() => pickPrimary("s", [node(1), node(2), node(3, { inRecovery: false })])).toThrow(
            new DiscoveryError("split brain: pg1 and pg3 both accept writes (stack s)"),
        );
        expect(() => pickPrimary("s", [node(1), node(2, { inRecovery: false }), node(3, { inRecovery: false })])).toThrow(
            "split brain: pg1, pg2 and pg3 all accept writes",
        );
    });

    test("pickPrimary: none, with why each node is not it", () => {
        expect(() =>
            pickPrimary("s", [node(1, { running: false, inRecovery: null }), node(2), node(3, { inRecovery: null, error: "starting up" })]),
        ).toThrow("no primary in stack s: pg1 not running, pg2 in recovery, pg3 unreachable (starting up)");
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
            statRow("pg4", { sent_lsn: "0/5200000", write_lsn: "0/5200000", flush_lsn: "0/5200000", replay_lsn: "0/5200000" }),
        ],
        slots: [
            { slot_name: "pg2", active: true, wal_status: "reserved", retained_bytes: 1024 },
            { slot_name: "pg3", active: false, wal_status: "extended", retained_bytes: 9_000_000 },
            { slot_name: "pg4", active: true, wal_status: "reserved", retained_bytes: 0 },
        ],
    };
    const report = buildReport(cluster, data, new Date("2025-01-02T03:04:05Z"));

    test("header fields", () => {
        expect(report).toMatchObject({ stack: "s", primary: "pg1", currentLsn: "0/5200000", timeline: 2, checkedAt: "2025-01-02T03:04:05.000Z" });
        expect(report.replicas.map((r) => `${r.node}:${r.state}`)).toEqual(["pg2:streaming", "pg3:disconnected", "pg4:streaming"]);
    });

    test("a lagging replica: measured values, its slot", () => {
        expect(report.replicas[0]).toMatchObject({
            container: "s-pg2",
            running: true,
            lagBytes: 4 * 1024 * 1024,
            sentToReplayBytes: 2 * 1024 * 1024,
            writeLagSeconds: 0.01,
            replayLagSeconds: 7.5,
            slot: { name: "pg2", active: true, walStatus: "reserved", retainedBytes: 1024 },
        });
    });

    test("a replica known to Docker without a row is disconnected, with its slot", () => {
        expect(report.replicas[1]).toMatchObject({
            node: "pg3",
            container: "s-pg3",
            running: false,
            state: "disconnected",
            lagBytes: null,
            replayLagSeconds: null,
            slot: { name: "pg3", active: false, walStatus: "extended", retainedBytes: 9_000_000 },
        });
    });

    test("an idle caught-up replica has 0 s lag, not NULL", () => {
        expect(report.replicas[2]).toMatchObject({ lagBytes: 0, writeLagSeconds: 0, flushLagSeconds: 0, replayLagSeconds: 0 });
    });

    test("the table: aligned columns, human bytes, - for unknown", () => {
        const lines = renderTable(report).trimEnd().split("\n");
        expect(lines[0]).toBe("stack s  primary pg1  timeline 2  current LSN 0/5200000  at 2025-01-02T03:04:05.000Z");
        expect(lines[1]).toMatch(/^NODE\s+STATE\s+SYNC\s+CLIENT\s+REPLAY LSN\s+LAG\s+SENT-REPLAY\s+WRITE\s+FLUSH\s+REPLAY\s+SLOT\s+ACTIVE\s+WAL\s+RETAINED$/);
        expect(lines[2]).toMatch(/^pg2\s+streaming\s+async\s+172\.29\.81\.3\s+0\/4E00000\s+4\.0 MB\s+2\.0 MB\s+0\.010s\s+0\.020s\s+7\.500s\s+pg2\s+yes\s+reserved\s+1\.0 kB$/);
        expect(lines[3]).toMatch(/^pg3\s+disconnected \(stopped\)\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+pg3\s+no\s+extended\s+8\.6 MB$/);
        // Aligned: the SLOT column starts at the same offset on every line.
        const slotAt = lines[1].indexOf("SLOT");
        expect(lines[2].search(/pg2 +yes/)).toBe(slotAt);
        expect(lines[3].search(/pg3 +no/)).toBe(slotAt);
        expect(lines[4].search(/pg4 +yes/)).toBe(slotAt);
    });

    test("alignColumns pads text left and numbers right", () => {
        expect(alignColumns([["A", "NUM"], ["long", "1"], ["x", "22222"]], new Set([1]))).toEqual(["A       NUM", "long      1", "x     22222"]);
    });
});

describe("evaluateThresholds", () => {
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
        slot: null,
        ...over,
    });

    test("no thresholds: nothing is a breach, not even a disconnected replica", () => {
        expect(evaluateThresholds([replica({ state: "disconnected", lagBytes: null })], {})).toEqual([]);
    });

    test("bytes: strictly over the limit", () => {
        const rs = [replica({ node: "pg2", lagBytes: 5_000_000 }), replica({ node: "pg3", lagBytes: 1_000_000 })];
        expect(evaluateThresholds(rs, { maxLagBytes: 1_000_000 })).toEqual([
            {
                node: "pg2",
                reason: "lag-bytes",
                value: 5_000_000,
                limit: 1_000_000,
                message: "pg2 is 4.8 MB (5000000 bytes) behind, over --max-lag-bytes 1000000",
            },
        ]);
    });

    test("seconds: replay lag over the limit; unknown (NULL) seconds are not a breach", () => {
        const rs = [replica({ node: "pg2", replayLagSeconds: 3.2 }), replica({ node: "pg3", replayLagSeconds: null, lagBytes: 100 })];
        expect(evaluateThresholds(rs, { maxLagSeconds: 1 })).toEqual([
            { node: "pg2", reason: "lag-seconds", value: 3.2, limit: 1, message: "pg2 replay lag is 3.200s, over --max-lag-seconds 1" },
        ]);
    });

    test("both limits crossed: two breaches", () => {
        const reasons = evaluateThresholds([replica({ lagBytes: 10, replayLagSeconds: 10 })], { maxLagBytes: 1, maxLagSeconds: 1 }).map((b) => b.reason);
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
