// Fault suite, a slot past its cap WITH the WAL archive (issue 7 item 4): a stopped replica's slot
// goes past maxSlotWalKeepSize (64MB) and is invalidated (wal_status 'lost'); `rejoin` must make the
// replica stream again and leave a healthy slot (reserved/extended, active). Own stack, subnet
// 172.29.92.0/24, ports 40632+.
import {
    containerOf,
    count,
    describeRun,
    docker,
    driveSlotLost,
    eventually,
    faultCluster,
    figure,
    jsonOf,
    deploy,
    ops,
    q,
    slotRow,
    streamingFrom,
    teardown,
    waitHealthy,
} from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `fc${process.pid}`,
    subnet: "172.29.92.0/24",
    base: 40632,
    password: `fc-slot-super-${process.pid}-Vb2`,
    replPassword: `fc-slot-repl-${process.pid}-Mx5`,
    replicas: 1,
    config: ["maxSlotWalKeepSize=64MB", "walArchive=true", "pooler=false"],
});
const TABLE = "fa_slot";

describe(`fault: slot past its cap, WAL archive on (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
        await q(C, "pg1", `CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, payload text NOT NULL)`);
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    test("slot invalidated while pg2 is stopped; rejoin --node pg2 makes it stream again with a healthy slot", async () => {
        await waitHealthy(C, 60_000, "pg1");
        const [{ archive_mode: archiveMode }] = await q(C, "pg1", "SHOW archive_mode");
        expect(archiveMode).toBe("on");
        await docker(["stop", "-t", "30", containerOf(C, "pg2")]);
        await eventually("slot pg2 inactive", 30_000, async () => (await slotRow(C, "pg1", "pg2"))?.active === false);
        const driven = await driveSlotLost(C, "pg1", "pg2", TABLE);
        expect(driven.slot).toMatchObject({ slot_name: "pg2", wal_status: "lost", active: false });
        const rows = await count(C, "pg1", TABLE);

        const rejoin = await ops(C, "rejoin", ["--node", "pg2"], 90_000);
        const after = await slotRow(C, "pg1", "pg2").catch(() => undefined);
        figure({
            case: "slot-cap-archive",
            walGeneratedSwitches: driven.switches,
            driveMs: driven.ms,
            slotBefore: driven.slot,
            rejoinExit: rejoin.code,
            rejoinMs: rejoin.ms,
            rejoinMethod: jsonOf(rejoin)?.rejoin?.method ?? null,
            slotRepaired: jsonOf(rejoin)?.slotRepaired ?? null,
            slotAfterRejoin: after ?? null,
        });
        if (rejoin.code !== 0) throw new Error(describeRun("rejoin --node pg2", rejoin));
        expect((await streamingFrom(C, "pg1")).pg2).toBe("streaming");
        await eventually("slot pg2 healthy: active, reserved or extended", 30_000, async () => {
            const s = await slotRow(C, "pg1", "pg2");
            return (s?.active === true && (s.wal_status === "reserved" || s.wal_status === "extended")) || `slot pg2: ${JSON.stringify(s)}`;
        });
        await eventually("pg2 has every row", 30_000, async () => (await count(C, "pg2", TABLE)) === rows || `pg2 has ${await count(C, "pg2", TABLE)} of ${rows}`);
    });
});
