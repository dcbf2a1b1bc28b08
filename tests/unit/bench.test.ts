// `npm run bench`'s pure parts: percentiles, medians, spreads, ratios to the lower bound, argument
// parsing, pgbench output parsing, the table and the plot spec. No Docker needed.
import { DEFAULTS, parseBenchArgs } from "../../bench/args";
import { HelpRequest, UsageError } from "../../ops/cli";
import { segmentNumber } from "../../bench/cases/backup";
import { archiveFigures, DAYS, DaySizes, largestRepository, scheduledType } from "../../bench/cases/backup-archive";
import { isPortClash, slowestResources } from "../../bench/clusters";
import { alternate, rotate } from "../../bench/context";
import { minusNoop } from "../../bench/cases/provision";
import { mergeConcurrent, parseTps, parseTransactionLog, splitClients } from "../../bench/pgbench";
import { haproxyTcpConfig } from "../../bench/cases/reads";
import { killNotes } from "../../bench/cases/failover-patroni";
import {
    etcdArgv,
    haproxyArgv,
    haproxyCfg,
    patroniArgv,
    patroniYml,
    RAW_DEFAULTS,
    rawContainers,
    rawVolumes,
} from "../../bench/raw-patroni";
import { DEFAULTS as CLUSTER_DEFAULTS } from "../../model/config";
import { LeaderLossRound } from "../../ops/patroni-leader-loss";
import { lagSpec } from "../../bench/plot";
import { figureLine, table } from "../../bench/report";
import { Machine } from "../../bench/host";
import { compare, lsnToBytes, median, percentile, ratio, round, summarize } from "../../bench/stats";

const usage = (argv: string[]): string => {
    try {
        parseBenchArgs(argv);
    } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        return (err as Error).message;
    }
    throw new Error(`no usage error for ${argv.join(" ")}`);
};

describe("percentile", () => {
    test("interpolates between closest ranks (numpy's default)", () => {
        expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
        expect(percentile([4, 1, 3, 2], 25)).toBe(1.75);
        expect(percentile([10, 20, 30, 40, 50], 99)).toBeCloseTo(49.6, 10);
        expect(percentile([7], 99)).toBe(7);
    });
    test("0 and 100 are the extremes; the input is not reordered", () => {
        const v = [5, 3, 9, 1];
        expect(percentile(v, 0)).toBe(1);
        expect(percentile(v, 100)).toBe(9);
        expect(v).toEqual([5, 3, 9, 1]);
    });
    test("p99 of 1..1000 is 990.01, not the maximum", () => {
        const v = Array.from({ length: 1000 }, (_, i) => i + 1);
        expect(percentile(v, 99)).toBeCloseTo(990.01, 6);
    });
    test("refuses an empty list and a p outside 0..100", () => {
        expect(() => percentile([], 50)).toThrow("empty");
        expect(() => percentile([1], 101)).toThrow("outside 0..100");
        expect(() => percentile([1], NaN)).toThrow("outside 0..100");
    });
});

describe("median, spread and ratio", () => {
    test("median of odd and even counts", () => {
        expect(median([3, 1, 2])).toBe(2);
        expect(median([4, 1, 3, 2])).toBe(2.5);
    });
    test("summarize gives median, min/max and p25/p75", () => {
        expect(summarize([10, 40, 20, 30, 50])).toEqual({
            n: 5,
            median: 30,
            min: 10,
            max: 50,
            p25: 20,
            p75: 40,
            values: [10, 40, 20, 30, 50],
        });
        expect(() => summarize([])).toThrow("no measurements");
    });
    test("ratio is null when it means nothing", () => {
        expect(ratio(3, 2)).toBe(1.5);
        expect(ratio(0, 0)).toBeNull();
        expect(ratio(1, 0)).toBeNull();
        expect(ratio(Infinity, 1)).toBeNull();
    });
    test("compare: ratio of medians, spread of the per-run (interleaved) ratios", () => {
        const c = compare([10, 12, 30], [5, 4, 10]);
        expect(c.perRun).toEqual([2, 3, 3]);
        expect(c.median).toBe(12 / 5);
        expect(c.min).toBe(2);
        expect(c.max).toBe(3);
    });
    test("compare skips runs whose lower bound is 0 in the spread", () => {
        const c = compare([1, 0, 2], [0, 0, 4]);
        expect(c.perRun).toEqual([null, null, 0.5]);
        expect(c.min).toBe(0.5);
        expect(c.median).toBeNull();
    });
    test("round", () => {
        expect(round(1.23456)).toBe(1.235);
        expect(round(null)).toBeNull();
        expect(round(NaN)).toBeNull();
    });
    test("lsnToBytes", () => {
        expect(lsnToBytes("0/3000060")).toBe(0x3000060);
        expect(lsnToBytes("1/0")).toBe(2 ** 32);
        expect(() => lsnToBytes("nope")).toThrow("invalid LSN");
    });
    test("alternate puts ours first on odd runs", () => {
        expect(alternate(1, "o", "b")).toEqual(["o", "b"]);
        expect(alternate(2, "o", "b")).toEqual(["b", "o"]);
    });
});

describe("argument parsing", () => {
    test("defaults", () => {
        expect(parseBenchArgs(["lag"])).toEqual({
            case: "lag",
            runs: DEFAULTS.runs,
            duration: DEFAULTS.duration,
            mode: "manual",
            out: "bench/results",
            json: false,
            keep: false,
        });
    });
    test("every option", () => {
        expect(
            parseBenchArgs([
                "provision",
                "--runs",
                "3",
                "--json",
                "--mode",
                "patroni",
                "--out",
                "/tmp/x",
                "--keep",
                "--duration",
                "5",
            ]),
        ).toEqual({
            case: "provision",
            runs: 3,
            duration: 5,
            mode: "patroni",
            out: "/tmp/x",
            json: true,
            keep: true,
        });
        expect(parseBenchArgs(["--runs=2", "reads"])).toMatchObject({ case: "reads", runs: 2 });
    });
    test("--help wins", () => {
        expect(() => parseBenchArgs(["--help"])).toThrow(HelpRequest);
        expect(() => parseBenchArgs(["-h", "lag", "--runs", "x"])).toThrow(HelpRequest);
    });
    test("usage errors name the argument", () => {
        expect(usage([])).toBe(
            "missing case: one of provision, sync-cost, lag, failover, reads, tls-cost, backup, restore, hosts",
        );
        expect(usage(["lagg"])).toContain('unknown case "lagg"');
        expect(usage(["lag", "reads"])).toContain('unexpected argument "reads"');
        expect(usage(["lag", "--runs", "0"])).toBe('--runs "0" is invalid: expected an integer 1..50');
        expect(usage(["lag", "--runs", "2.5"])).toContain("--runs");
        expect(usage(["lag", "--runs", "-1"])).toContain("--runs");
        expect(usage(["lag", "--duration", "121"])).toContain("--duration");
        expect(usage(["lag", "--runs"])).toContain("--runs");
        expect(usage(["lag", "--bogus"])).toBe("unknown option --bogus");
        expect(usage(["lag", "--runs", "1", "--runs", "2"])).toBe("--runs given more than once");
        expect(usage(["provision", "--mode", "auto"])).toContain('--mode "auto" is invalid');
        expect(usage(["reads", "--mode", "patroni"])).toBe("--mode applies to provision and failover only, not reads");
        expect(parseBenchArgs(["failover", "--mode", "patroni"])).toMatchObject({ case: "failover", mode: "patroni" });
        expect(usage(["lag", "--out", " "])).toBe("--out is empty");
    });
});

describe("pgbench output", () => {
    test("tps without initial connection time", () => {
        const out =
            "latency average = 3.1 ms\ninitial connection time = 12.3 ms\ntps = 1283.914567 (without initial connection time)\n";
        expect(parseTps(out)).toBeCloseTo(1283.914567, 6);
        expect(() => parseTps("tps = 12 (including connections establishing)")).toThrow("no tps line");
    });
    test("per-transaction log: latency is the third field; failed transactions counted apart", () => {
        const log = [
            "0 0 1520 0 1732950000 123456",
            "1 0 2210 0 1732950000 124000",
            "2 5 failed 0 1732950001 1",
            "",
            "garbage",
        ].join("\n");
        expect(parseTransactionLog(log)).toEqual({ latenciesUs: [1520, 2210], failed: 1 });
    });
});

describe("reads: direct bound and bench HAProxy", () => {
    test("concurrent pgbench processes: tps summed, latencies merged, failures summed, longest wall time", () => {
        const a = { tps: 1000.5, latenciesUs: [100, 300], failed: 1, wallMs: 10_200 };
        const b = { tps: 2000.25, latenciesUs: [200], failed: 0, wallMs: 10_900 };
        expect(mergeConcurrent([a, b])).toEqual({
            tps: 3000.75,
            latenciesUs: [100, 300, 200],
            failed: 1,
            wallMs: 10_900,
        });
        expect(() => mergeConcurrent([])).toThrow("no pgbench results");
    });
    test("the endpoint's 4 clients and 2 threads split over 2 replicas: -c2 -j1 each", () => {
        expect(splitClients(4, 2, 2)).toEqual([
            { clients: 2, threads: 1 },
            { clients: 2, threads: 1 },
        ]);
        expect(splitClients(4, 2, 1)).toEqual([{ clients: 4, threads: 2 }]);
        expect(splitClients(5, 1, 2)).toEqual([
            { clients: 3, threads: 1 },
            { clients: 2, threads: 1 },
        ]);
        expect(() => splitClients(1, 1, 2)).toThrow("cannot split 1 clients over 2 servers");
    });
    test("the bench HAProxy balances the replicas round-robin in TCP mode (TLS passes through)", () => {
        const cfg = haproxyTcpConfig(5433, [
            { host: "172.29.70.12", port: 5432 },
            { host: "172.29.70.13", port: 5432 },
        ]);
        expect(cfg).toMatch(/^ {4}mode tcp$/m);
        expect(cfg).toMatch(/^ {4}bind \*:5433$/m);
        expect(cfg).toMatch(/^ {4}balance roundrobin$/m);
        expect(cfg.match(/^ {4}server .*$/gm)).toEqual([
            "    server s1 172.29.70.12:5432",
            "    server s2 172.29.70.13:5432",
        ]);
    });
});

describe("report", () => {
    const machine: Machine = {
        cores: 2,
        cpuModel: "x",
        memoryGiB: 24,
        loadAvg1m: 1,
        kernel: "k",
        versions: { node: "v20", dockerServer: "28", postgres: "17.12", image: "img" },
    };
    test("figureLine carries machine, medians, spreads and the ratio", () => {
        const l = figureLine(
            "provision",
            { figure: "up", unit: "s", better: "lower", ours: [10, 12], bound: [2, 3], boundIs: "bare" },
            2,
            machine,
            new Date(0),
        );
        expect(l).toMatchObject({
            case: "provision",
            figure: "up",
            runs: 2,
            machine: { cores: 2 },
            ours: { median: 11, min: 10, max: 12 },
            lowerBound: { is: "bare", median: 2.5 },
        });
        expect(l.ratio).toEqual({ median: 4.4, min: 4, max: 5, perRun: [5, 4] });
        expect(JSON.parse(JSON.stringify(l)).date).toBe("1970-01-01T00:00:00.000Z");
    });
    test("table shows medians with [min..max] when there are several runs", () => {
        const l = figureLine(
            "provision",
            { figure: "up", unit: "s", better: "lower", ours: [10, 12], bound: [2, 3], boundIs: "bare" },
            2,
            machine,
            new Date(0),
        );
        const t = table([l]).split("\n");
        expect(t[0]).toMatch(/^FIGURE\s+UNIT\s+OURS\s+LOWER BOUND\s+RATIO\s+BETTER$/);
        expect(t[1]).toContain("11.0 [10.0..12.0]");
        expect(t[1]).toContain("2.500 [2.000..3.000]");
        expect(t[1]).toContain("4.400 [4.000..5.000]");
    });
});

describe("lag plot spec", () => {
    test("one column per cluster, one line per replica, bytes in KiB and seconds in two rows with titled axes", () => {
        const spec = lagSpec(
            [
                { t: 0.1, series: "ours pg2", bytes: 2048, seconds: 0.01 },
                { t: 0.1, series: "bare pg3", bytes: 0, seconds: 0 },
            ],
            "t",
        ) as any; // eslint-disable-line @typescript-eslint/no-explicit-any -- a JSON spec
        expect(spec.data.values[0]).toEqual({
            t: 0.1,
            series: "ours pg2",
            cluster: "ours",
            replica: "pg2",
            kib: 2,
            seconds: 0.01,
        });
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON spec
        expect(spec.vconcat.map((p: any) => p.spec.encoding.y.title)).toEqual([
            "replay lag (KiB of WAL)",
            "replay_lag (s)",
        ]);
        expect(spec.vconcat[0].facet.column.field).toBe("cluster");
        expect(spec.vconcat[0].spec.encoding.color.field).toBe("replica");
        expect(spec.vconcat[0].spec.encoding.x.title).toContain("(s)");
    });
});

describe("live harness timings", () => {
    test("slowestResources picks the resource lines, slowest first", () => {
        const stderr = [
            "live harness (test support, not `pulumi up`)",
            "  created   docker:index/volume:Volume             pg-pg3-data (0.0s)",
            "  created   docker:index/container:Container       pg-pg2-container -> s-pg2 (6.2s)",
            "  created   command:local:Command                  pg-checks (2.5s)",
            "  deleted   docker:index/container:Container       pg-pg1-container (10.5s)",
            "Resources: 12 created, 0 replaced; 15.4s",
        ].join("\n");
        expect(slowestResources(stderr, 2)).toEqual([
            { action: "deleted", name: "pg-pg1-container", seconds: 10.5 },
            { action: "created", name: "pg-pg2-container -> s-pg2", seconds: 6.2 },
        ]);
        expect(slowestResources("nothing", 3)).toEqual([]);
    });
});

test("isPortClash recognises Docker's userland-proxy bind failure only", () => {
    expect(
        isPortClash("Error starting userland proxy: listen tcp4 127.0.0.1:50434: bind: address already in use"),
    ).toBe(true);
    expect(isPortClash("error: summarize is not defined")).toBe(false);
});

test("the backup case counts WAL segments across log files (256 segments of 16 MB each)", () => {
    expect(segmentNumber("000000010000000A000000FF")).toBe(10 * 256 + 255);
    expect(segmentNumber("000000010000000B00000000") - segmentNumber("000000010000000A000000FF")).toBe(1);
    expect(segmentNumber("000000020000000B00000003") - segmentNumber("000000020000000B00000001")).toBe(2);
});

test("the backup case's scaled days follow the default schedule: a full backup every 7th day from day 1, diff otherwise", () => {
    const types = Array.from({ length: DAYS }, (_, i) => scheduledType(i + 1));
    expect(types.filter((t) => t === "full")).toHaveLength(3);
    expect([1, 8, 15].map(scheduledType)).toEqual(["full", "full", "full"]);
    expect([2, 7, 9, 14, 21].map(scheduledType)).toEqual(["diff", "diff", "diff", "diff", "diff"]);
});

test("the backup case's archive figures compare the last day with the cp archive and week 3's peak with week 2's", () => {
    const days: DaySizes[] = Array.from({ length: DAYS }, (_, i) => ({
        day: i + 1,
        type: scheduledType(i + 1),
        repository: i < 14 ? 100 + i : 90 + (i - 14),
        archive: 10,
        cpArchive: 16 * (i + 1),
    }));
    expect(largestRepository(days, 8, 14)).toBe(113);
    expect(largestRepository(days, 15, 21)).toBe(96);
    const [size, bounded] = archiveFigures(days);
    expect(size.ours).toEqual([96]);
    expect(size.bound).toEqual([16 * DAYS]);
    expect(size.note).toContain("1f 100/16");
    expect(bounded.ours).toEqual([96]);
    expect(bounded.bound).toEqual([113]);
});

describe("rotate: three or more sides in turn", () => {
    test("run 1 keeps the order; each later run starts one further on and wraps", () => {
        const sides = ["ours", "fair", "raw"];
        expect(rotate(1, sides)).toEqual(["ours", "fair", "raw"]);
        expect(rotate(2, sides)).toEqual(["fair", "raw", "ours"]);
        expect(rotate(3, sides)).toEqual(["raw", "ours", "fair"]);
        expect(rotate(4, sides)).toEqual(["ours", "fair", "raw"]);
        expect(sides).toEqual(["ours", "fair", "raw"]);
    });
});

describe("raw Patroni bound (bench/raw-patroni.ts)", () => {
    const o = { prefix: "bench-x-r", subnet: "172.29.72.0/24", portBase: 50472 };
    test("runs with our default timings and sync mode", () => {
        expect(RAW_DEFAULTS).toEqual({
            ttl: CLUSTER_DEFAULTS.patroniTtl,
            loopWait: CLUSTER_DEFAULTS.patroniLoopWait,
            retryTimeout: CLUSTER_DEFAULTS.patroniRetryTimeout,
            synchronousMode: false,
            syncCount: CLUSTER_DEFAULTS.syncCount,
        });
        const yml = patroniYml(o, 2);
        expect(yml).toContain("\n    ttl: 20\n    loop_wait: 2\n    retry_timeout: 5\n    synchronous_mode: false\n");
        expect(yml).toContain("name: pg2\n");
        expect(yml).toContain("connect_address: 172.29.72.12:5432");
        expect(yml).toContain("hosts: 172.29.72.21:2379,172.29.72.22:2379,172.29.72.23:2379");
        const quorum = patroniYml({ ...o, settings: { ...RAW_DEFAULTS, synchronousMode: "quorum" } }, 1);
        expect(quorum).toContain("synchronous_mode: quorum\n");
    });
    test("3 etcd members bootstrap one cluster at fixed addresses; nodes carry the labels the kill round finds", () => {
        const etcd = etcdArgv(o, 3);
        expect(etcd).toContain(
            "--initial-cluster=etcd1=http://172.29.72.21:2380,etcd2=http://172.29.72.22:2380,etcd3=http://172.29.72.23:2380",
        );
        expect(etcd.slice(etcd.indexOf("--ip"), etcd.indexOf("--ip") + 2)).toEqual(["--ip", "172.29.72.23"]);
        const pg = patroniArgv(o, 1);
        expect(pg).toEqual(expect.arrayContaining(["pg-replication.cluster=bench-x-r", "pg-replication.node=pg1"]));
        expect(pg).toContain("bench-x-r-pg1-data:/var/lib/postgresql");
        expect(pg[pg.length - 1]).toMatch(/exec patroni \/var\/lib\/postgresql\/patroni.yml$/);
    });
    test("HAProxy routes rw by /primary and ro by /replica over the 3 nodes, published on portBase+10/+11", () => {
        const cfg = haproxyCfg(o);
        expect(cfg).toContain("option httpchk OPTIONS /primary");
        expect(cfg).toContain("option httpchk OPTIONS /replica");
        expect(cfg.match(/server pg\d 172\.29\.72\.1\d:5432 check port 8008/g)).toHaveLength(6);
        expect(haproxyArgv(o)).toEqual(expect.arrayContaining(["127.0.0.1:50482:5000", "127.0.0.1:50483:5001"]));
    });
    test("teardown names all 7 containers and 6 volumes", () => {
        expect(rawContainers("p")).toEqual(["p-etcd1", "p-etcd2", "p-etcd3", "p-pg1", "p-pg2", "p-pg3", "p-haproxy"]);
        expect(rawVolumes("p")).toHaveLength(6);
        expect(rawVolumes("p")).toContain("p-pg3-data");
    });
});

test("killNotes prints every kill and counts those over patroniTtl + 5 s", () => {
    const round = (ms: number): LeaderLossRound => ({
        kind: "kill",
        leader: "pg1",
        newLeader: "pg2",
        firstAckMs: ms,
        allStreamingMs: ms,
        acked: 1,
        lost: 0,
    });
    const [, ours, raw] = killNotes([round(21_000), round(25_400), round(24_900)], [round(22_000)]);
    expect(ours).toBe("ours kill -> first write per kill (s): 21.0, 25.4, 24.9; 1 of 3 over patroniTtl + 5 = 25 s");
    expect(raw).toBe("raw kill -> first write per kill (s): 22.0; 0 of 1 over patroniTtl + 5 = 25 s");
});

describe("provision: ours minus the no-op deployment", () => {
    test("each run's deployment less the same run's no-op", () => {
        const diff = minusNoop([9.5, 10.25], [2, 2.25]);
        expect(diff).toEqual([7.5, 8]);
    });
    test("runs without a no-op measurement are refused, not paired with another run's", () => {
        expect(() => minusNoop([9.5, 10], [2])).toThrow("2 deployments but 1 no-op deployments");
    });
});
