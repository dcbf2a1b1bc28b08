// Fault suite, sync mode RPO (issue 7): three rounds of kill -9 of the primary under a writer that
// records every acknowledged id, failover to the most advanced standby, rejoin of the killed node.
// With synchronous commit (ANY 1 of 2 replicas) not one acknowledged commit may be lost, and there
// is never a second primary. Own stack, subnet 172.29.90.0/24, ports 23432+.
import {
    describeRun,
    faultCluster,
    figure,
    deploy,
    killFailoverRejoinRound,
    q,
    RoundResult,
    roundFigures,
    teardown,
} from "../support/faults";

jest.setTimeout(400_000);

const C = faultCluster({
    stack: `fa${process.pid}`,
    subnet: "172.29.90.0/24",
    base: 23432,
    password: `fa-rpo-super-${process.pid}-Qw7`,
    replPassword: `fa-rpo-repl-${process.pid}-Kp3`,
    replicas: 2,
    config: ["syncMode=sync", "syncMethod=any", "syncCount=1", "pooler=false"],
});
const TABLE = "fa_rpo";

describe(`fault: sync-mode RPO over kill -9 failovers (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
        await q(C, "pg1", `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, round int NOT NULL)`);
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    for (const round of [1, 2, 3]) {
        test(`round ${round}: kill -9 the primary, failover to the most advanced standby, rejoin: 0 acknowledged commits lost, never two primaries`, async () => {
            const r: RoundResult = await killFailoverRejoinRound(C, TABLE, round, round * 1_000_000);
            figure(roundFigures("sync-rpo", r, { syncMode: "sync ANY 1 (2 replicas)" }));
            if (r.failover.code !== 0) throw new Error(describeRun(`failover --to ${r.promoted}`, r.failover));
            expect(r.acked).toBeGreaterThan(0);
            expect({ lost: r.lost, lostIds: r.lostIds }).toEqual({ lost: 0, lostIds: [] });
            expect(r.splitBrain).toEqual([]);
            if (r.rejoin?.code !== 0) throw new Error(describeRun(`rejoin --node ${r.killed}`, r.rejoin!));
            expect(r.healthyAfter).toBe(r.promoted);
        });
    }
});
