// `npm run lag` against a real cluster made by the live harness: its own stack (lag<pid>), subnet
// (172.29.81.0/24) and ports (28432+), so that it never touches a dev, local or other test cluster.
import { run } from "../support/live/docker-api";
import { eventually, forceCleanup, live, liveOk, ROOT, sql, testStackArgs } from "../support/live-client";
import { LagReport, parseLsn } from "../../scripts/lib/lag";

jest.setTimeout(300_000);

const STACK = `lag${process.pid}`;
const PORT = 28432; // pg1; pgN is PORT + N - 1
const PW = "lag-super-pw-1";
const ARGS = testStackArgs({ stack: STACK, subnet: "172.29.81.0/24", port: PORT, password: PW });
const port = (node: number) => PORT + node - 1;

interface LagRun {
    code: number;
    stdout: string;
    stderr: string;
}

/** Runs the CLI as `npm run lag -- ARGS` would (without npm, to keep the output clean). */
function lag(...args: string[]): Promise<LagRun> {
    return run([process.execPath, "-r", "ts-node/register/transpile-only", "scripts/lag.ts", ...args], { cwd: ROOT });
}

/** `lag --stack STACK --json ARGS`: the exit status and the parsed report (exit 0 or 1 only). */
async function lagJson(...args: string[]): Promise<{ code: number; report: LagReport; stderr: string }> {
    const res = await lag("--stack", STACK, "--json", ...args);
    if (res.code !== 0 && res.code !== 1) throw new Error(`lag exited ${res.code}: ${res.stderr}`);
    return { code: res.code, report: JSON.parse(res.stdout) as LagReport, stderr: res.stderr };
}

/** A short account of a report, for "last:" in eventually()'s failure message. */
const summary = (code: number, r: LagReport) =>
    `exit ${code} ` +
    JSON.stringify({
        replicas: r.replicas.map((x) => [x.node, x.state, x.lagBytes, x.replayLagSeconds]),
        breaches: r.breaches.map((b) => [b.node, b.reason]),
    });

const lsn = (text: string | null): bigint => {
    const v = parseLsn(text);
    if (v === null) throw new Error("missing LSN");
    return v;
};

describe("npm run lag without a cluster", () => {
    test("a stack with no containers: exit 2 and a clear message", async () => {
        for (const extra of [[], ["--json"], ["--max-lag-bytes", "1"]]) {
            const res = await lag("--stack", `lagnone${process.pid}`, ...extra);
            expect(res.code).toBe(2);
            expect(res.stdout).toBe("");
            expect(res.stderr).toBe(
                `lag: cannot read stack lagnone${process.pid}: no containers labelled pg-replication.cluster=lagnone${process.pid}: ` +
                    `is stack lagnone${process.pid} up?\n`,
            );
        }
    });

    test("usage errors exit 2 with the usage; --help exits 0", async () => {
        const bad = await lag("--max-lag-bytes", "lots");
        expect(bad.code).toBe(2);
        expect(bad.stderr).toContain('lag: invalid byte size "lots"');
        expect(bad.stderr).toContain("usage: npm run lag --");
        const help = await lag("--help");
        expect(help.code).toBe(0);
        expect(help.stdout).toContain("--count N");
        expect(help.stdout).toContain("Exit status: 0");
    });
});

describe(`npm run lag on a live cluster (stack ${STACK})`, () => {
    beforeAll(async () => {
        await forceCleanup(STACK);
        await liveOk(["up", ...ARGS]);
    });
    afterAll(async () => {
        await live(["down", "--stack", STACK]);
        await forceCleanup(STACK);
    });

    test("--json matches pg_stat_replication; idle caught-up replicas lag 0 s and 0 bytes", async () => {
        let report: LagReport | undefined;
        // Background WAL (running-xacts records, checkpoints) makes a replica briefly non-zero: wait for idle.
        await eventually("both replicas idle and caught up", 60_000, async () => {
            const res = await lagJson();
            report = res.report;
            const idle = report.replicas.every(
                (r) =>
                    r.state === "streaming" &&
                    r.lagBytes === 0 &&
                    r.sentToReplayBytes === 0 &&
                    r.writeLagSeconds === 0 &&
                    r.flushLagSeconds === 0 &&
                    r.replayLagSeconds === 0,
            );
            return (res.code === 0 && report.replicas.length === 2 && idle) || summary(res.code, report);
        });
        if (!report) throw new Error("no report");
        expect(report).toMatchObject({ stack: STACK, primary: "pg1", timeline: 1, breaches: [], thresholds: { maxLagBytes: null, maxLagSeconds: null } });
        expect(Date.now() - Date.parse(report.checkedAt)).toBeLessThan(60_000);

        // The same cluster read independently, over TCP with the superuser's password.
        const rows = await sql<{ application_name: string; state: string; sync_state: string; client_addr: string; replay_lsn: string; current: string }>(
            port(1),
            PW,
            "SELECT application_name, state, sync_state, host(client_addr) AS client_addr, replay_lsn::text, " +
                "pg_current_wal_lsn()::text AS current FROM pg_stat_replication ORDER BY application_name",
        );
        expect(report.replicas.map((r) => [r.node, r.state, r.syncState, r.clientAddr])).toEqual(
            rows.map((r) => [r.application_name, r.state, r.sync_state, r.client_addr]),
        );
        expect(rows.map((r) => r.application_name)).toEqual(["pg2", "pg3"]);
        for (const r of report.replicas) {
            expect(r.container).toBe(`${STACK}-${r.node}`);
            expect(r.running).toBe(true);
            expect(r.slot).toEqual({ name: r.node, active: true, walStatus: "reserved", retainedBytes: expect.any(Number) });
            // current ≥ sent ≥ write ≥ flush ≥ replay, and positions only move forward.
            expect(lsn(report.currentLsn) >= lsn(r.sentLsn)).toBe(true);
            expect(lsn(r.sentLsn) >= lsn(r.writeLsn)).toBe(true);
            expect(lsn(r.writeLsn) >= lsn(r.flushLsn)).toBe(true);
            expect(lsn(r.flushLsn) >= lsn(r.replayLsn)).toBe(true);
            const later = rows.find((x) => x.application_name === r.node);
            expect(lsn(later?.replay_lsn ?? null) >= lsn(r.replayLsn)).toBe(true);
            expect(lsn(later?.current ?? null) >= lsn(report.currentLsn)).toBe(true);
        }
        const [{ timeline_id: timeline }] = await sql<{ timeline_id: number }>(port(1), PW, "SELECT timeline_id FROM pg_control_checkpoint()");
        expect(report.timeline).toBe(timeline);
    });

    test("the table, and --watch --count", async () => {
        const table = await lag("--stack", STACK);
        expect(table.code).toBe(0);
        const lines = table.stdout.trimEnd().split("\n");
        expect(lines[0]).toMatch(new RegExp(`^stack ${STACK}  primary pg1  timeline 1  current LSN [0-9A-F]+/[0-9A-F]+  at \\S+Z$`));
        expect(lines[1]).toMatch(/^NODE\s+STATE\s+SYNC\s+CLIENT\s+REPLAY LSN\s+LAG\s+SENT-REPLAY\s+WRITE\s+FLUSH\s+REPLAY\s+SLOT\s+ACTIVE\s+WAL\s+RETAINED$/);
        expect(lines.slice(2).map((l) => l.split(/\s+/).slice(0, 3).join(" "))).toEqual(["pg2 streaming async", "pg3 streaming async"]);

        const watch = await lag("--stack", STACK, "--json", "--watch", "--interval", "0.2", "--count", "3");
        expect(watch.code).toBe(0);
        const docs = watch.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as LagReport);
        expect(docs.map((d) => d.primary)).toEqual(["pg1", "pg1", "pg1"]);
    });

    test("replay paused on pg2: the byte and seconds thresholds trip on pg2 only, and clear after resume", async () => {
        await sql(port(2), PW, "SELECT pg_wal_replay_pause()");
        await eventually("replay paused on pg2", 30_000, async () => {
            const [{ s }] = await sql<{ s: string }>(port(2), PW, "SELECT pg_get_wal_replay_pause_state() AS s");
            return s === "paused" || s;
        });
        // About 5 MB of WAL.
        await sql(port(1), PW, "CREATE TABLE lag_fill AS SELECT g AS id, repeat('x', 1000) AS pad FROM generate_series(1, 5000) g");

        let last: { code: number; report: LagReport; stderr: string } | undefined;
        await eventually("--max-lag-bytes 1000000 breached by pg2 alone", 30_000, async () => {
            last = await lagJson("--max-lag-bytes", "1000000");
            return (last.code === 1 && last.report.breaches.map((b) => b.node).join() === "pg2") || summary(last.code, last.report);
        });
        if (!last) throw new Error("no report");
        const [pg2, pg3] = last.report.replicas;
        expect(pg2.lagBytes).toBeGreaterThan(5_000_000);
        expect(pg3.lagBytes).toBeLessThanOrEqual(1_000_000);
        expect(last.report.breaches).toEqual([
            expect.objectContaining({ node: "pg2", reason: "lag-bytes", value: pg2.lagBytes, limit: 1_000_000 }),
        ]);
        expect(last.report.thresholds).toEqual({ maxLagBytes: 1_000_000, maxLagSeconds: null });

        const table = await lag("--stack", STACK, "--max-lag-bytes", "1000000");
        expect(table.code).toBe(1);
        expect(table.stderr).toMatch(/^lag: breach: pg2 is \d+\.\d MB \(\d+ bytes\) behind, over --max-lag-bytes 1000000\n$/);

        // replay_lag of a stuck replay position grows by interpolation each time the standby reports
        // (wal_receiver_status_interval = 1s), as long as WAL newer than it has been sent: small
        // writes between polls keep that true. Bounded by the deadline, no fixed sleeps.
        let seconds: { code: number; report: LagReport; stderr: string } | undefined;
        await eventually("--max-lag-seconds 1 breached by pg2 alone", 30_000, async () => {
            await sql(port(1), PW, "INSERT INTO lag_fill VALUES (0, 'tick')");
            seconds = await lagJson("--max-lag-seconds", "1");
            return (seconds.code === 1 && seconds.report.breaches.map((b) => `${b.node}:${b.reason}`).join() === "pg2:lag-seconds") ||
                summary(seconds.code, seconds.report);
        });
        if (!seconds) throw new Error("no report");
        expect(seconds.report.replicas[0].replayLagSeconds).toBeGreaterThan(1);
        expect(seconds.report.replicas[1].replayLagSeconds).toBeLessThanOrEqual(1);

        await sql(port(2), PW, "SELECT pg_wal_replay_resume()");
        await eventually("--max-lag-bytes 1000000 passes after resume", 60_000, async () => {
            const res = await lagJson("--max-lag-bytes", "1000000");
            return res.code === 0 || summary(res.code, res.report);
        });
        // Right after the resume replay_lag shows how old the WAL replayed last was; it drops
        // once the standby has caught up and reported it.
        await eventually("both thresholds pass once caught up", 60_000, async () => {
            const res = await lagJson("--max-lag-bytes", "1000000", "--max-lag-seconds", "1");
            return res.code === 0 || summary(res.code, res.report);
        });
        const [{ n }] = await sql<{ n: number }>(port(2), PW, "SELECT count(*)::int AS n FROM lag_fill");
        expect(n).toBeGreaterThan(5000);
    });

    test("a stopped replica is disconnected: reported with its slot, and a breach when a threshold is given", async () => {
        await run(["docker", "stop", `${STACK}-pg3`]);
        let last: { code: number; report: LagReport; stderr: string } | undefined;
        await eventually("pg3 reported disconnected", 30_000, async () => {
            last = await lagJson();
            const pg3 = last.report.replicas.find((r) => r.node === "pg3");
            return (pg3?.state === "disconnected" && pg3.slot?.active === false) || summary(last.code, last.report);
        });
        if (!last) throw new Error("no report");
        expect(last.code).toBe(0);
        expect(last.report.replicas.find((r) => r.node === "pg3")).toMatchObject({
            container: `${STACK}-pg3`,
            running: false,
            lagBytes: null,
            replayLagSeconds: null,
            slot: { name: "pg3", active: false, walStatus: "reserved" },
        });
        const res = await lag("--stack", STACK, "--max-lag-bytes", "1GB");
        expect(res.code).toBe(1);
        expect(res.stderr).toBe("lag: breach: pg3 is disconnected (container not running)\n");
        expect(res.stdout).toMatch(/\npg3\s+disconnected \(stopped\)\s/);
    });

    test("two writable nodes: exit 2, split brain", async () => {
        await sql(port(2), PW, "SELECT pg_promote()");
        await eventually("pg2 promoted", 30_000, async () => {
            const [{ r }] = await sql<{ r: boolean }>(port(2), PW, "SELECT pg_is_in_recovery() AS r");
            return r === false;
        });
        const res = await lag("--stack", STACK, "--json");
        expect(res.code).toBe(2);
        expect(res.stdout).toBe("");
        expect(res.stderr).toBe(`lag: cannot read stack ${STACK}: split brain: pg1 and pg2 both accept writes (stack ${STACK})\n`);
    });
});
