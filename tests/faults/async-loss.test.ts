// Fault suite, async mode (issue 7): a stopped replica catches up through its slot; then kill -9
// failovers under a writer, where acknowledged commits may be lost (async allows it): the loss is
// counted and printed, failover must warn that acknowledged commits may be lost, and rejoin must
// report what pg_rewind discarded. Own stack, subnet 172.29.91.0/24, ports 23532+.
import {
    containerOf,
    count,
    describeRun,
    docker,
    eventually,
    faultCluster,
    figure,
    deploy,
    killFailoverRejoinRound,
    LSN,
    lsnValue,
    q,
    roundFigures,
    streamingFrom,
    teardown,
    waitHealthy,
} from "../support/faults";

jest.setTimeout(400_000);

const C = faultCluster({
    stack: `fb${process.pid}`,
    subnet: "172.29.91.0/24",
    base: 23532,
    password: `fb-async-super-${process.pid}-Zr4`,
    replPassword: `fb-async-repl-${process.pid}-Hn8`,
    replicas: 2,
    config: ["syncMode=async", "pooler=false"],
});
const TABLE = "fa_loss";

interface Discarded {
    fromLsn: string;
    toLsn: string;
    transactions: number | null;
}

describe(`fault: async failover loss counted, replica catch-up through its slot (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
        await q(C, "pg1", `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, round int NOT NULL)`);
        await q(C, "pg1", "CREATE TABLE fa_catchup (id int PRIMARY KEY, payload text NOT NULL)");
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    test("a stopped replica catches up through its slot: replay LSN reaches the primary's, 10k rows, slot active again", async () => {
        await waitHealthy(C, 60_000, "pg1");
        await docker(["stop", "-t", "30", containerOf(C, "pg3")]);
        await eventually("slot pg3 inactive", 30_000, async () => {
            const [s] = await q(C, "pg1", "SELECT active FROM pg_replication_slots WHERE slot_name = 'pg3'");
            return s?.active === false || `slot pg3: ${JSON.stringify(s)}`;
        });
        await q(C, "pg1", "INSERT INTO fa_catchup SELECT g, md5(g::text) FROM generate_series(1, 10000) g");
        const [retained] = await q(
            C,
            "pg1",
            "SELECT wal_status, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained FROM pg_replication_slots WHERE slot_name = 'pg3'",
        );
        expect(retained).toMatchObject({ wal_status: "reserved", active: false });
        const [{ lsn: target }] = await q(C, "pg1", "SELECT pg_current_wal_lsn()::text AS lsn");
        const started = Date.now();
        await docker(["start", containerOf(C, "pg3")]);
        let replay = "";
        await eventually("pg3 replayed up to the primary's LSN", 90_000, async () => {
            const [r] = await q(C, "pg3", "SELECT pg_last_wal_replay_lsn()::text AS lsn");
            replay = r.lsn;
            return (r.lsn !== null && lsnValue(r.lsn) >= lsnValue(target)) || `replayed ${r.lsn}, primary at ${target}`;
        });
        const caughtUpMs = Date.now() - started;
        expect(await count(C, "pg3", "fa_catchup")).toBe(10_000);
        await eventually("slot pg3 active again", 30_000, async () => {
            const [s] = await q(
                C,
                "pg1",
                "SELECT active, wal_status FROM pg_replication_slots WHERE slot_name = 'pg3'",
            );
            return (s?.active === true && s.wal_status === "reserved") || `slot pg3: ${JSON.stringify(s)}`;
        });
        expect((await streamingFrom(C, "pg1")).pg3).toBe("streaming");
        figure({
            case: "replica-catch-up",
            rows: 10_000,
            retainedBytes: Number(retained.retained),
            primaryLsn: target,
            replayLsn: replay,
            caughtUpMs,
        });
    });

    for (const round of [1, 2]) {
        test(`async round ${round}: kill -9, failover warns that acknowledged commits may be lost, loss counted, rejoin reports what pg_rewind discarded`, async () => {
            const r = await killFailoverRejoinRound(C, TABLE, round, round * 1_000_000);
            let rejoinJson: Record<string, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any -- the command's JSON
            try {
                rejoinJson = r.rejoin?.code === 0 ? JSON.parse(r.rejoin.stdout) : undefined;
            } catch {
                rejoinJson = undefined;
            }
            const discarded: Discarded | undefined = rejoinJson?.discarded ?? rejoinJson?.rejoin?.discarded;
            figure(
                roundFigures("async-loss", r, {
                    syncMode: "async (2 replicas)",
                    rejoinMethod: rejoinJson?.rejoin?.method ?? null,
                    discarded: discarded ?? null,
                }),
            );
            if (r.failover.code !== 0) throw new Error(describeRun(`failover --to ${r.promoted}`, r.failover));
            // Async mode may lose what the old primary acknowledged just before it died, nothing else:
            // no commit the new primary acknowledged is missing, and every lost one was acknowledged
            // within the last seconds before the kill (the promoted standby had the most WAL).
            expect(r.acked).toBeGreaterThan(1000);
            expect(r.lostAckedAfterKill).toEqual([]);
            if (r.lostWindowMs !== null) expect(r.lostWindowMs).toBeLessThan(10_000);
            expect(r.splitBrain).toEqual([]);

            // Failover in async mode says that acknowledged commits may be lost: on stderr and in --json.
            expect(r.failover.stderr).toMatch(/may be lost/);
            const failoverJson = JSON.parse(r.failover.stdout);
            expect(Array.isArray(failoverJson.warnings)).toBe(true);
            expect(
                (failoverJson.warnings as unknown[]).some((w) =>
                    /may be lost/.test(typeof w === "string" ? w : JSON.stringify(w)),
                ),
            ).toBe(true);

            // Rejoin says what pg_rewind discarded from the old primary.
            if (r.rejoin?.code !== 0) throw new Error(describeRun(`rejoin --node ${r.killed}`, r.rejoin!));
            expect(r.healthyAfter).toBe(r.promoted);
            expect(rejoinJson).toBeDefined();
            // A killed primary rewinds; a re-clone is allowed only with the reason the entrypoint recorded.
            if (rejoinJson?.rejoin?.method !== "pg_rewind")
                expect(rejoinJson?.rejoin?.recloneReason).toEqual(expect.stringMatching(/\S/));
            if (rejoinJson?.rejoin?.method === "pg_rewind") {
                expect(discarded).toBeDefined();
                expect(discarded!.fromLsn).toMatch(LSN);
                expect(discarded!.toLsn).toMatch(LSN);
                expect(lsnValue(discarded!.toLsn) >= lsnValue(discarded!.fromLsn)).toBe(true);
                expect(
                    discarded!.transactions === null ||
                        (Number.isInteger(discarded!.transactions) && discarded!.transactions >= 0),
                ).toBe(true);
            }
        });
    }
});
