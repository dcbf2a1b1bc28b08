// Fault suite, a slot past its cap (issue 7 items 4 and 5): a stopped replica's slot goes past
// maxSlotWalKeepSize (64MB) and is invalidated (wal_status 'lost'). With backups (the archive), `rejoin`
// repairs the slot and the replica restores what it missed and streams again; without it the WAL the
// replica needs is gone, so `rejoin` must re-clone promptly (within 120 s, not the 300 s streaming
// wait) and say so. Either way pg2 ends streaming through a healthy, active slot with every row.
// One cluster per case: subnets 172.29.92.0/24 and 172.29.93.0/24, ports 23632+ and 23732+.
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

const TABLE = "fa_slot";
const CASES = [
    { archive: true, stack: "fc", subnet: "172.29.92.0/24", base: 23632 },
    { archive: false, stack: "fn", subnet: "172.29.93.0/24", base: 23732 },
];

describe.each(CASES)("fault: slot past its cap, backups $archive", ({ archive, stack, subnet, base }) => {
    const C = faultCluster({
        stack: `${stack}${process.pid}`,
        subnet,
        base,
        password: `${stack}-slot-super-${process.pid}-Vb2`,
        replPassword: `${stack}-slot-repl-${process.pid}-Mx5`,
        replicas: 1,
        config: ["maxSlotWalKeepSize=64MB", `backups=${archive}`, "pooler=false"],
    });

    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
        await q(C, "pg1", `CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, payload text NOT NULL)`);
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    test(`slot invalidated while pg2 is stopped; rejoin --node pg2 ${archive ? "repairs the slot" : "re-clones within 120 s and says so"}; pg2 streams with every row`, async () => {
        await waitHealthy(C, 60_000, "pg1");
        const [{ archive_mode: archiveMode }] = await q(C, "pg1", "SHOW archive_mode");
        expect(archiveMode).toBe(archive ? "on" : "off");
        await docker(["stop", "-t", "30", containerOf(C, "pg2")]);
        await eventually("slot pg2 inactive", 30_000, async () => (await slotRow(C, "pg1", "pg2"))?.active === false);
        const driven = await driveSlotLost(C, "pg1", "pg2", TABLE);
        expect(driven.slot).toMatchObject({ slot_name: "pg2", wal_status: "lost", active: false });
        const rows = await count(C, "pg1", TABLE);

        // Killed at 125 s: the assertion below is about 120 s.
        const rejoin = await ops(C, "rejoin", ["--node", "pg2"], 125_000);
        const after = await slotRow(C, "pg1", "pg2").catch(() => undefined);
        figure({
            case: archive ? "slot-cap-archive" : "slot-cap-no-archive",
            walGeneratedSwitches: driven.switches,
            driveMs: driven.ms,
            slotBefore: driven.slot,
            rejoinExit: rejoin.code,
            rejoinMs: rejoin.ms,
            rejoinMethod: jsonOf(rejoin)?.rejoin?.method ?? null,
            slotRepaired: jsonOf(rejoin)?.slotRepaired ?? null,
            rejoinTimedOut: rejoin.timedOut,
            saysReclone: /re-clon/i.test(rejoin.stderr),
            slotAfterRejoin: after ?? null,
        });
        if (rejoin.code !== 0) throw new Error(describeRun("rejoin --node pg2", rejoin));
        expect(rejoin.ms).toBeLessThan(120_000);
        expect(jsonOf(rejoin)?.slotRepaired).toBe(true);
        // Streaming for real (not a walsender that fails on removed WAL): a healthy, active slot.
        await eventually("pg2 streaming through a healthy, active slot", 30_000, async () => {
            const [state, s] = [(await streamingFrom(C, "pg1")).pg2, await slotRow(C, "pg1", "pg2")];
            const healthy = s?.active === true && (s.wal_status === "reserved" || s.wal_status === "extended");
            return (state === "streaming" && healthy) || `pg2 ${state ?? "not connected"}, slot ${JSON.stringify(s)}`;
        });
        await eventually(
            "pg2 has every row",
            30_000,
            async () => (await count(C, "pg2", TABLE)) === rows || `pg2 has ${await count(C, "pg2", TABLE)} of ${rows}`,
        );
        if (archive) expect(jsonOf(rejoin)?.rejoin?.method).toBe("pg_rewind");
        else
            expect(rejoin.stderr).toMatch(
                /re-cloned because it needs WAL segment [0-9A-F]{16}, which pg1 \(oldest [0-9A-F]{16}\) and the archive no longer have/,
            );
    });
});
