// Fault suite, changing `settings` on a running manual-mode cluster (issue 21 item 3): it used to
// delete and re-create the primary first (a bad value then kept it down for six minutes).
// - A bad value is refused before anything is touched.
// - A new cluster starts with its settings on every node (the replica clones them).
// - A reload-only change is applied online: no container re-created or restarted, writes go on.
// - A restart-only change restarts the replica (streaming again before `up` ends), never the primary:
//   `up` fails naming the switchover that applies it there, the primary kept running throughout.
// Own stack, subnet 172.29.102.0/24, ports 24532+.
import { containerIdentity, LiveResult, live } from "../support/live-client";
import {
    containerOf,
    deploy,
    eventually,
    faultCluster,
    nodePort,
    psqlIn,
    teardown,
    upArgs,
    withDeadline,
    Writer,
} from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `fs${process.pid}`,
    subnet: "172.29.102.0/24",
    base: 24532,
    password: `fs-super-${process.pid}-Wq7`,
    replPassword: `fs-repl-${process.pid}-Ek2`,
    replicas: 1,
    config: ["syncMode=async", "pooler=false", "metrics=false"],
});

function up(settings: Record<string, string>): Promise<LiveResult> {
    return withDeadline(`live up ${C.stack}`, 280_000, live(upArgs(C, [`settings=${JSON.stringify(settings)}`])));
}

function show(node: string, name: string): Promise<string> {
    return psqlIn(containerOf(C, node), `SHOW ${name}`);
}

describe(`fault: settings change online (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C, [`settings=${JSON.stringify({ work_mem: "8MB" })}`]);
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    test("a new cluster starts with its settings on every node", async () => {
        expect(await show("pg1", "work_mem")).toBe("8MB");
        expect(await show("pg2", "work_mem")).toBe("8MB");
    });

    test("a value the server would refuse is refused before anything is touched", async () => {
        const before = await containerIdentity(containerOf(C, "pg1"));
        const res = await up({ work_mem: "8MB", shared_buffers: "lots" });
        expect(res.code).toBe(1);
        expect(res.stderr).toContain('pg-replication:settings.shared_buffers = "lots" is invalid: not a number');
        expect(res.actions).toEqual([]);
        expect(await containerIdentity(containerOf(C, "pg1"))).toBe(before);
    });

    test("a reload-only change is applied online: no node re-created or restarted, writes go on", async () => {
        const before = [await containerIdentity(containerOf(C, "pg1")), await containerIdentity(containerOf(C, "pg2"))];
        await psqlIn(
            containerOf(C, "pg1"),
            "CREATE TABLE IF NOT EXISTS settings_writes (id int PRIMARY KEY, round int)",
        );
        const writer = new Writer("settings_writes", C.password, 1, 1);
        writer.start(() => nodePort(C, "pg1"), 50_000, 120_000, 2);
        await eventually("the writer's first acknowledged insert", 30_000, () => writer.acked.length > 0);
        const res = await up({ work_mem: "16MB", log_min_duration_statement: "250ms" });
        const ackedDuringUp = writer.acked.length;
        await writer.stop();
        expect(res.stderr).not.toMatch(/error/i);
        expect(res.code).toBe(0);
        expect(res.actions.filter(([a, t]) => a !== "unchanged" && t.includes("Container"))).toEqual([]);
        expect([
            await containerIdentity(containerOf(C, "pg1")),
            await containerIdentity(containerOf(C, "pg2")),
        ]).toEqual(before);
        for (const node of ["pg1", "pg2"]) {
            expect(await show(node, "work_mem")).toBe("16MB");
            expect(await show(node, "log_min_duration_statement")).toBe("250ms");
        }
        // The primary took writes throughout: no failed session, and every acknowledged row is there.
        expect({ errors: writer.errors, lastError: writer.lastError }).toEqual({ errors: 0, lastError: "" });
        expect(ackedDuringUp).toBeGreaterThan(0);
        expect(Number(await psqlIn(containerOf(C, "pg1"), "SELECT count(*) FROM settings_writes"))).toBe(
            writer.acked.length,
        );
    });

    test("a restart-only change restarts the replica, never the primary, and names the switchover that applies it", async () => {
        const primaryBefore = await containerIdentity(containerOf(C, "pg1"));
        const replicaBefore = await containerIdentity(containerOf(C, "pg2"));
        const res = await up({ work_mem: "16MB", log_min_duration_statement: "250ms", max_connections: "120" });
        expect(res.code).toBe(1);
        expect(res.stderr).toContain(
            `max_connections takes effect on the primary pg1 only after a restart, which a deployment never does to a primary: ` +
                `npm run switchover -- --stack ${C.stack} --to pg2`,
        );
        // The replica runs it already, streaming; the primary was never restarted and waits for it.
        expect(await containerIdentity(containerOf(C, "pg2"))).not.toBe(replicaBefore);
        expect(await show("pg2", "max_connections")).toBe("120");
        expect(await psqlIn(containerOf(C, "pg2"), "SELECT status FROM pg_stat_wal_receiver")).toBe("streaming");
        expect(await containerIdentity(containerOf(C, "pg1"))).toBe(primaryBefore);
        expect(await show("pg1", "max_connections")).toBe("100");
        expect(
            await psqlIn(
                containerOf(C, "pg1"),
                "SELECT pending_restart FROM pg_settings WHERE name = 'max_connections'",
            ),
        ).toBe("t");
    });
});
