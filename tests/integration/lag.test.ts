// `npm run lag` against real clusters made by the live harness, each with its own stack, subnet and
// ports, so that it never touches a dev, local or other test cluster: an asynchronous one (lag<pid>,
// 172.29.81.0/24, 28432+), and a synchronous FIRST 1 one with max_slot_wal_keep_size = 64MB for the
// stalled-standby and lost-slot cases (lagsync<pid>, 172.29.86.0/24, 28632+).
import { Client } from "pg";
import { run } from "../../harness/docker-api";
import {
    eventually,
    forceCleanup,
    live,
    liveOk,
    localSuperuser,
    ROOT,
    sql,
    testStackArgs,
} from "../support/live-client";
import { psql } from "../../ops/cluster-discovery";
import { LagReport, parseLsn, SYNC_REP_STALL_SECONDS } from "../../ops/lag";

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
    return run([process.execPath, "-r", "./scripts/register-ts.js", "scripts/lag.ts", ...args], { cwd: ROOT });
}

/** `lag --stack STACK --json ARGS`: the exit status and the parsed report (exit 0 or 1 only). */
function lagJson(...args: string[]): Promise<{ code: number; report: LagReport; stderr: string }> {
    return lagJsonOf(STACK, ...args);
}

/** `lag --stack stack --json ARGS`, for any stack. */
async function lagJsonOf(
    stack: string,
    ...args: string[]
): Promise<{ code: number; report: LagReport; stderr: string }> {
    const res = await lag("--stack", stack, "--json", ...args);
    if (res.code !== 0 && res.code !== 1) throw new Error(`lag exited ${res.code}: ${res.stderr}`);
    return { code: res.code, report: JSON.parse(res.stdout) as LagReport, stderr: res.stderr };
}

/** A short account of a report, for "last:" in eventually()'s failure message. */
const summary = (code: number, r: LagReport) =>
    `exit ${code} ` +
    JSON.stringify({
        replicas: r.replicas.map((x) => [
            x.node,
            x.state,
            x.syncState,
            x.lagBytes,
            x.replayLagSeconds,
            x.replyAgeSeconds,
            x.slot?.walStatus,
        ]),
        syncRepWaiting: r.syncRepWaiting,
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
        expect(help.stdout).toContain("--max-reply-age S");
    });

    test("--live is accepted (the cluster is read the same way); a repeated option is a usage error", async () => {
        const withLive = await lag("--stack", `lagnone${process.pid}`, "--live");
        expect(withLive.code).toBe(2);
        expect(withLive.stderr).toBe(
            `lag: cannot read stack lagnone${process.pid}: no containers labelled pg-replication.cluster=lagnone${process.pid}: ` +
                `is stack lagnone${process.pid} up?\n`,
        );
        const twice = await lag("--watch", "--interval", "1", "--interval", "2");
        expect(twice.code).toBe(2);
        expect(twice.stdout).toBe("");
        expect(twice.stderr).toContain("lag: --interval given more than once\n");
        expect(twice.stderr).toContain("usage: npm run lag --");
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
        expect(report).toMatchObject({
            stack: STACK,
            primary: "pg1",
            timeline: 1,
            breaches: [],
            thresholds: { maxLagBytes: null, maxLagSeconds: null },
        });
        expect(report.syncRepWaiting).toEqual({ backends: 0, oldestSeconds: null });
        expect(Date.now() - Date.parse(report.checkedAt)).toBeLessThan(60_000);

        // The same cluster read independently, over TCP with the superuser's password.
        const rows = await sql<{
            application_name: string;
            state: string;
            sync_state: string;
            client_addr: string;
            replay_lsn: string;
            current: string;
        }>(
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
            expect(r.slot).toEqual({
                name: r.node,
                active: true,
                walStatus: "reserved",
                retainedBytes: expect.any(Number),
                invalidationReason: null,
                safeWalSizeBytes: expect.any(Number),
            });
            // A streaming standby replies at least every wal_receiver_status_interval (1 s).
            expect(r.replyAgeSeconds).toEqual(expect.any(Number));
            expect(r.replyAgeSeconds).toBeGreaterThanOrEqual(0);
            // current ≥ sent ≥ write ≥ flush ≥ replay, and positions only move forward.
            expect(lsn(report.currentLsn) >= lsn(r.sentLsn)).toBe(true);
            expect(lsn(r.sentLsn) >= lsn(r.writeLsn)).toBe(true);
            expect(lsn(r.writeLsn) >= lsn(r.flushLsn)).toBe(true);
            expect(lsn(r.flushLsn) >= lsn(r.replayLsn)).toBe(true);
            const later = rows.find((x) => x.application_name === r.node);
            expect(lsn(later?.replay_lsn ?? null) >= lsn(r.replayLsn)).toBe(true);
            expect(lsn(later?.current ?? null) >= lsn(report.currentLsn)).toBe(true);
        }
        const [{ timeline_id: timeline }] = await sql<{ timeline_id: number }>(
            port(1),
            PW,
            "SELECT timeline_id FROM pg_control_checkpoint()",
        );
        expect(report.timeline).toBe(timeline);
    });

    test("the table, and --watch --count", async () => {
        const table = await lag("--stack", STACK);
        expect(table.code).toBe(0);
        const lines = table.stdout.trimEnd().split("\n");
        expect(lines[0]).toMatch(
            new RegExp(`^stack ${STACK}  primary pg1  timeline 1  current LSN [0-9A-F]+/[0-9A-F]+  at \\S+Z$`),
        );
        expect(lines[1]).toMatch(
            /^NODE\s+STATE\s+SYNC\s+CLIENT\s+REPLAY LSN\s+LAG\s+SENT-REPLAY\s+WRITE\s+FLUSH\s+REPLAY\s+REPLY\s+SLOT\s+ACTIVE\s+WAL\s+RETAINED$/,
        );
        expect(lines.slice(2).map((l) => l.split(/\s+/).slice(0, 3).join(" "))).toEqual([
            "pg2 streaming async",
            "pg3 streaming async",
        ]);

        const watch = await lag("--stack", STACK, "--json", "--watch", "--interval", "0.2", "--count", "3");
        expect(watch.code).toBe(0);
        const docs = watch.stdout
            .trimEnd()
            .split("\n")
            .map((l) => JSON.parse(l) as LagReport);
        expect(docs.map((d) => d.primary)).toEqual(["pg1", "pg1", "pg1"]);
    });

    test("replay paused on pg2: the byte and seconds thresholds trip on pg2 only, and clear after resume", async () => {
        await sql(port(2), PW, "SELECT pg_wal_replay_pause()");
        await eventually("replay paused on pg2", 30_000, async () => {
            const [{ s }] = await sql<{ s: string }>(port(2), PW, "SELECT pg_get_wal_replay_pause_state() AS s");
            return s === "paused" || s;
        });
        // About 5 MB of WAL.
        await sql(
            port(1),
            PW,
            "CREATE TABLE lag_fill AS SELECT g AS id, repeat('x', 1000) AS pad FROM generate_series(1, 5000) g",
        );

        let last: { code: number; report: LagReport; stderr: string } | undefined;
        await eventually("--max-lag-bytes 1000000 breached by pg2 alone", 30_000, async () => {
            last = await lagJson("--max-lag-bytes", "1000000");
            return (
                (last.code === 1 && last.report.breaches.map((b) => b.node).join() === "pg2") ||
                summary(last.code, last.report)
            );
        });
        if (!last) throw new Error("no report");
        const [pg2, pg3] = last.report.replicas;
        expect(pg2.lagBytes).toBeGreaterThan(5_000_000);
        expect(pg3.lagBytes).toBeLessThanOrEqual(1_000_000);
        expect(last.report.breaches).toEqual([
            expect.objectContaining({ node: "pg2", reason: "lag-bytes", value: pg2.lagBytes, limit: 1_000_000 }),
        ]);
        expect(last.report.thresholds).toEqual({
            maxLagBytes: 1_000_000,
            maxLagSeconds: null,
            maxReplyAgeSeconds: null,
        });

        const table = await lag("--stack", STACK, "--max-lag-bytes", "1000000");
        expect(table.code).toBe(1);
        expect(table.stderr).toMatch(
            /^lag: breach: pg2 is \d+\.\d MB \(\d+ bytes\) behind, over --max-lag-bytes 1000000\n$/,
        );

        // replay_lag of a stuck replay position grows by interpolation each time the standby reports
        // (wal_receiver_status_interval = 1s), as long as WAL newer than it has been sent: small
        // writes between polls keep that true. Bounded by the deadline, no fixed sleeps.
        let seconds: { code: number; report: LagReport; stderr: string } | undefined;
        await eventually("--max-lag-seconds 1 breached by pg2 alone", 30_000, async () => {
            await sql(port(1), PW, "INSERT INTO lag_fill VALUES (0, 'tick')");
            seconds = await lagJson("--max-lag-seconds", "1");
            return (
                (seconds.code === 1 &&
                    seconds.report.breaches.map((b) => `${b.node}:${b.reason}`).join() === "pg2:lag-seconds") ||
                summary(seconds.code, seconds.report)
            );
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
        expect(res.stderr).toBe(
            `lag: cannot read stack ${STACK}: split brain: pg1 and pg2 both accept writes (stack ${STACK})\n`,
        );
    });
});

const SYNC_STACK = `lagsync${process.pid}`;
const SYNC_PORT = 28632; // pg1; pgN is SYNC_PORT + N - 1
const SYNC_ARGS = testStackArgs({
    stack: SYNC_STACK,
    subnet: "172.29.86.0/24",
    port: SYNC_PORT,
    password: PW,
    extra: ["syncMode=sync", "syncMethod=first", "maxSlotWalKeepSize=64MB", "pooler=false"],
});

/** SQL on the sync stack's primary over TCP. */
const syncSql = <T = Record<string, unknown>>(text: string) => sql<T>(SYNC_PORT, PW, text);

/** Bounds a promise: rejects with `what` after `ms`. */
function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe(`npm run lag on a synchronous cluster: stalled standby, lost slot (stack ${SYNC_STACK})`, () => {
    beforeAll(async () => {
        await forceCleanup(SYNC_STACK);
        await liveOk(["up", ...SYNC_ARGS]);
        await syncSql("CREATE TABLE lag_sync (id int, pad text)");
    });
    afterAll(async () => {
        await live(["down", "--stack", SYNC_STACK]);
        await forceCleanup(SYNC_STACK);
    });

    test("FIRST 1 with its sync standby cut off: reply age and commits waiting in SyncRep are breaches; it recovers when reconnected", async () => {
        await eventually("pg2 sync and pg3 potential, no breach", 60_000, async () => {
            const res = await lagJsonOf(SYNC_STACK, "--max-reply-age", "5");
            const states = res.report.replicas.map((r) => `${r.node}:${r.state}:${r.syncState}`).join();
            return (
                (res.code === 0 && states === "pg2:streaming:sync,pg3:streaming:potential") ||
                summary(res.code, res.report)
            );
        });

        // The walsender of a cut-off standby lives until wal_sender_timeout; all that time
        // pg_stat_replication shows it "streaming sync" while commits wait for it. Make that
        // window longer than the test needs, whatever the template's timeout is.
        await syncSql("ALTER SYSTEM SET wal_sender_timeout = '10min'");
        await syncSql("SELECT pg_reload_conf()");
        await eventually("wal_sender_timeout 10min on pg1", 30_000, async () => {
            const [{ wal_sender_timeout: t }] = await syncSql<{ wal_sender_timeout: string }>(
                "SHOW wal_sender_timeout",
            );
            return t === "10min" || t;
        });

        // Where pg2 sits on the cluster network, to put it back the same way.
        const container = `${SYNC_STACK}-pg2`;
        const network = `${SYNC_STACK}-net`;
        const inspect = await run(["docker", "inspect", "-f", "{{.Id}} {{json .NetworkSettings.Networks}}", container]);
        expect(inspect.code).toBe(0);
        const [id, json] = [
            inspect.stdout.slice(0, inspect.stdout.indexOf(" ")),
            inspect.stdout.slice(inspect.stdout.indexOf(" ") + 1),
        ];
        const endpoint = (JSON.parse(json) as Record<string, { IPAddress: string; Aliases: string[] | null }>)[network];
        const aliases = (endpoint.Aliases ?? []).filter((a) => !id.startsWith(a)); // docker adds the short id itself
        expect(aliases).toContain("pg2");

        const writer = new Client(
            localSuperuser(SYNC_PORT, PW, {
                application_name: "lag-test-writer",
                query_timeout: 180_000, // the client never waits forever either
            }),
        );
        const notices: string[] = [];
        writer.on("notice", (n) => notices.push(n.message ?? ""));
        writer.on("error", () => undefined);
        await writer.connect();
        try {
            // If the stall outlived this, the server would stop waiting, commit locally and warn.
            await writer.query("SET statement_timeout = '150s'");
            const disconnect = await run(["docker", "network", "disconnect", network, container]);
            expect(disconnect).toMatchObject({ code: 0 });
            const outcome = writer.query("INSERT INTO lag_sync VALUES (1, 'written while pg2 was cut off')").then(
                () => "committed",
                (err: Error) => `failed: ${err.message}`,
            );

            // The case: pg2 still "streaming sync", nothing behind by bytes, and yet writes stall.
            let stalled: { code: number; report: LagReport; stderr: string } | undefined;
            await eventually("the stall reported: SyncRep wait and pg2's reply age", 60_000, async () => {
                stalled = await lagJsonOf(SYNC_STACK, "--max-reply-age", "2");
                const reasons = stalled.report.breaches.map((b) => `${b.node}:${b.reason}`);
                const pg2 = stalled.report.replicas.find((r) => r.node === "pg2");
                return (
                    (stalled.code === 1 &&
                        reasons.includes("pg1:sync-rep-wait") &&
                        reasons.includes("pg2:reply-age") &&
                        pg2?.state === "streaming" &&
                        pg2.syncState === "sync") ||
                    summary(stalled.code, stalled.report)
                );
            });
            if (!stalled) throw new Error("no report");
            const { syncRepWaiting, replicas, breaches } = stalled.report;
            expect(syncRepWaiting.backends).toBeGreaterThanOrEqual(1);
            expect(syncRepWaiting.oldestSeconds).toBeGreaterThan(SYNC_REP_STALL_SECONDS);
            const pg2 = replicas.find((r) => r.node === "pg2");
            expect(pg2?.replyAgeSeconds).toBeGreaterThan(2);
            expect(breaches.find((b) => b.reason === "sync-rep-wait")).toMatchObject({
                node: "pg1",
                severity: "critical",
                limit: SYNC_REP_STALL_SECONDS,
                message: expect.stringMatching(/^\d+ commits? waiting for synchronous standbys for \d+\.\ds /),
            });
            expect(breaches.find((b) => b.reason === "reply-age")).toMatchObject({
                node: "pg2",
                limit: 2,
                message: expect.stringMatching(/^pg2 has not replied for \d+\.\ds, over --max-reply-age 2$/),
            });
            // What lag counted is what pg_stat_activity says, read independently.
            const [{ n }] = await syncSql<{ n: number }>(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND application_name = 'lag-test-writer'",
            );
            expect(n).toBe(1);

            // Without any option: still a breach, and the table says so.
            const table = await lag("--stack", SYNC_STACK);
            expect(table.code).toBe(1);
            expect(table.stderr).toMatch(
                /^lag: breach: \d+ commits? waiting for synchronous standbys for \d+\.\ds \(over \d+s\): writes on pg1 are stalled\n$/,
            );
            expect(table.stdout).toMatch(
                /\n\d+ commits? waiting for synchronous standbys \(SyncRep\), oldest \d+\.\d{3}s\n$/,
            );
            expect(table.stdout).toMatch(/\npg2\s+streaming\s+sync\s/);

            // Reconnect pg2 as it was, and give wal_sender_timeout back to the template.
            const reconnect = await run([
                "docker",
                "network",
                "connect",
                "--ip",
                endpoint.IPAddress,
                ...aliases.flatMap((a) => ["--alias", a]),
                network,
                container,
            ]);
            expect(reconnect).toMatchObject({ code: 0 });
            await syncSql("ALTER SYSTEM RESET wal_sender_timeout");
            await syncSql("SELECT pg_reload_conf()");

            // The blocked commit completes because pg2 confirmed it, not because the wait was cancelled.
            expect(await within("the blocked INSERT", 150_000, outcome)).toBe("committed");
            expect(notices.filter((m) => /synchronous replication/.test(m))).toEqual([]);
            await eventually("recovered: no commit waiting, pg2 streaming sync, no breach", 120_000, async () => {
                const res = await lagJsonOf(SYNC_STACK, "--max-reply-age", "5");
                const pg2now = res.report.replicas.find((r) => r.node === "pg2");
                return (
                    (res.code === 0 &&
                        res.report.syncRepWaiting.backends === 0 &&
                        res.report.syncRepWaiting.oldestSeconds === null &&
                        pg2now?.state === "streaming" &&
                        pg2now.syncState === "sync") ||
                    summary(res.code, res.report)
                );
            });
            await eventually("the row written during the stall replayed on pg2", 30_000, async () => {
                const n = await psql(container, "SELECT count(*) FROM lag_sync WHERE id = 1");
                return n === "1" || `count ${n}`;
            });
        } finally {
            await writer.end().catch(() => undefined);
        }
    });

    test("a slot past max_slot_wal_keep_size: unreserved is a warning, lost is a breach naming the repair, and the repair works", async () => {
        // No timed checkpoint may invalidate the slot before the test looks at it "unreserved".
        await syncSql("ALTER SYSTEM SET checkpoint_timeout = '1d'");
        await syncSql("SELECT pg_reload_conf()");
        await run(["docker", "stop", `${SYNC_STACK}-pg3`]);
        await eventually("pg3 reported disconnected, its slot inactive", 30_000, async () => {
            const res = await lagJsonOf(SYNC_STACK);
            const pg3 = res.report.replicas.find((r) => r.node === "pg3");
            return (
                (pg3?.state === "disconnected" && pg3.slot?.active === false && pg3.slot.walStatus === "reserved") ||
                summary(res.code, res.report)
            );
        });

        // One WAL segment (16 MB) per round: a little data, then a switch. Until pg3's slot holds
        // more than max_slot_wal_keep_size (64MB).
        let rounds = 0;
        await eventually("pg3's slot past max_slot_wal_keep_size", 120_000, async () => {
            rounds++;
            await syncSql(
                `INSERT INTO lag_sync SELECT ${1000 + rounds}, repeat('x', 1000) FROM generate_series(1, 100)`,
            );
            await syncSql("SELECT pg_switch_wal()");
            const [{ wal_status: status }] = await syncSql<{ wal_status: string }>(
                "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'pg3'",
            );
            return status === "unreserved" || status;
        });

        const warned = await lagJsonOf(SYNC_STACK);
        const pg3Warned = warned.report.replicas.find((r) => r.node === "pg3");
        expect(pg3Warned?.slot).toMatchObject({ walStatus: "unreserved", invalidationReason: null });
        expect(warned.code).toBe(1);
        expect(warned.report.breaches).toEqual([
            {
                node: "pg3",
                reason: "slot-unreserved",
                severity: "warning",
                value: null,
                limit: null,
                message: expect.stringMatching(/^slot pg3 is about to be invalidated/),
            },
        ]);
        const warnedTable = await lag("--stack", SYNC_STACK);
        expect(warnedTable.code).toBe(1);
        expect(warnedTable.stderr).toMatch(/^lag: warning: slot pg3 is about to be invalidated/);

        // The checkpoint removes the WAL and invalidates the slot.
        await syncSql("CHECKPOINT");
        let lost: { code: number; report: LagReport; stderr: string } | undefined;
        await eventually("pg3's slot lost", 60_000, async () => {
            lost = await lagJsonOf(SYNC_STACK);
            return (
                lost.report.replicas.find((r) => r.node === "pg3")?.slot?.walStatus === "lost" ||
                summary(lost.code, lost.report)
            );
        });
        if (!lost) throw new Error("no report");
        expect(lost.code).toBe(1);
        expect(lost.report.replicas.find((r) => r.node === "pg3")?.slot).toEqual({
            name: "pg3",
            active: false,
            walStatus: "lost",
            retainedBytes: null,
            invalidationReason: "wal_removed",
            safeWalSizeBytes: null,
        });
        const repair = `npm run rejoin -- --node pg3 --stack ${SYNC_STACK}`;
        expect(lost.report.breaches).toEqual([
            {
                node: "pg3",
                reason: "slot-invalidated",
                severity: "critical",
                value: null,
                limit: null,
                message: `slot pg3 is invalidated (wal_removed): repair with ${repair}`,
            },
        ]);

        const table = await lag("--stack", SYNC_STACK, "--live");
        expect(table.code).toBe(1);
        expect(table.stderr).toBe(`lag: breach: slot pg3 is invalidated (wal_removed): repair with ${repair} --live\n`);
        expect(table.stdout).toMatch(/\npg3\s+disconnected \(stopped\)\s.*\spg3\s+no\s+lost \(wal_removed\)\s+-\n/);

        // The command the message names repairs it (as `npm run rejoin -- ARGS` would run it).
        const args = (table.stderr.trim().split("repair with npm run rejoin -- ")[1] ?? "").split(" ");
        const rejoin = await run([process.execPath, "-r", "./scripts/register-ts.js", "scripts/rejoin.ts", ...args], {
            cwd: ROOT,
        });
        expect(rejoin).toMatchObject({ code: 0 });
        await eventually("pg3 streaming again on a reserved slot, no breach", 120_000, async () => {
            const res = await lagJsonOf(SYNC_STACK);
            const pg3 = res.report.replicas.find((r) => r.node === "pg3");
            return (
                (res.code === 0 && pg3?.state === "streaming" && pg3.slot?.walStatus === "reserved") ||
                summary(res.code, res.report)
            );
        });
        await syncSql("ALTER SYSTEM RESET checkpoint_timeout");
        await syncSql("SELECT pg_reload_conf()");
    });
});
