// The driver that walks the check table (ops/checks/run.ts), against a fake cluster (no Docker): the
// report lists the table's checks in its order, stops at the first failure with CheckFailure, waits
// for a check until the deadline, and under Patroni checks the leader it found.
import { CheckFailure, CheckReport, checkNames, walkChecks } from "../../ops/checks";
import { FakeCluster, FULL_SPEC, member, PATRONI_SPEC, SPEC } from "../support/check-fakes";

/** The CheckFailure `walkChecks` throws (the test fails if it returns). */
async function failure(p: Promise<CheckReport>): Promise<CheckFailure> {
    const err = await p.then(
        (report) => new Error(`expected a failure, got ${JSON.stringify(report.checks.map((c) => c.check))}`),
        (e: unknown) => e,
    );
    if (!(err instanceof CheckFailure)) throw err;
    return err;
}

const names = (report: CheckReport) => report.checks.map((c) => `${c.check} ${c.node}`);
const distinct = (xs: string[]) => xs.filter((x, i) => xs.indexOf(x) === i);

describe("walkChecks on a healthy cluster", () => {
    test("reports every check of the table in table order, replica by replica, all ok", async () => {
        const fake = new FakeCluster(FULL_SPEC);
        const report = await walkChecks(FULL_SPEC, fake.runners());
        expect(names(report)).toEqual([
            "fixed-address pg1",
            "fixed-address pg2",
            "fixed-address pg3",
            "primary-not-in-recovery pg1",
            "replica-in-recovery pg2",
            "replica-in-recovery pg3",
            "streaming pg2",
            "sync-state pg2",
            "streaming pg3",
            "sync-state pg3",
            "canary-written pg1",
            "canary-replicated pg2",
            "canary-replicated pg3",
            "archiving pg1",
            "backup pg1",
            "certificate pg1",
            "certificate pg2",
            "certificate pg3",
            "replica-read-only pg2",
            "replica-read-only pg3",
            "slot-active pg2",
            "slot-active pg3",
            "endpoint-rw endpoint-rw",
            "endpoint-ro endpoint-ro",
        ]);
        expect(report.checks.every((c) => c.ok && c.detail === "ok" && c.ms >= 0)).toBe(true);
        expect(report).toMatchObject({ ok: true, primary: "pg1", replicas: ["pg2", "pg3"], syncMode: "sync" });
        expect(Object.keys(report)).toEqual([
            "ok",
            "primary",
            "replicas",
            "syncMode",
            "checks",
            "durationMs",
            "checkedAt",
        ]);
        expect(Date.parse(report.checkedAt)).toBeLessThanOrEqual(Date.now());
    });

    test("the table's names, in order, are the report's (Patroni's without sync-state, the others without Patroni's)", async () => {
        const plain = await walkChecks(FULL_SPEC, new FakeCluster(FULL_SPEC).runners());
        const patroni = await walkChecks(PATRONI_SPEC, new FakeCluster(PATRONI_SPEC).runners());
        const patroniOnly = ["etcd-healthy", "patroni-one-leader", "patroni-roles"];
        expect(distinct(plain.checks.map((c) => c.check))).toEqual(
            checkNames().filter((n) => !patroniOnly.includes(n)),
        );
        expect(distinct(patroni.checks.map((c) => c.check))).toEqual(checkNames().filter((n) => n !== "sync-state"));
        expect(checkNames()).toHaveLength(new Set(checkNames()).size);
    });

    test("skips what the spec does not ask for", async () => {
        const report = await walkChecks({ ...SPEC, tls: false, slots: false }, new FakeCluster(SPEC).runners());
        expect(distinct(report.checks.map((c) => c.check))).toEqual([
            "primary-not-in-recovery",
            "replica-in-recovery",
            "streaming",
            "sync-state",
            "canary-written",
            "canary-replicated",
            "archiving",
            "replica-read-only",
        ]);
    });
});

describe("walkChecks stops at the first failure", () => {
    test("a walsender without TLS fails streaming: CheckFailure names check and node, the report ends there", async () => {
        const fake = new FakeCluster(FULL_SPEC);
        fake.walsenders.pg3 = { state: "streaming", ssl: false, sync_state: "potential" };
        const err = await failure(walkChecks(FULL_SPEC, fake.runners()));
        expect(err.message).toBe("check streaming failed on pg3: streams without TLS (tls is required)");
        expect(err.result).toMatchObject({ check: "streaming", node: "pg3", ok: false });
        expect(err.report.ok).toBe(false);
        expect(err.report.checks.at(-1)).toBe(err.result);
        expect(names(err.report).slice(-3)).toEqual(["streaming pg2", "sync-state pg2", "streaming pg3"]);
        expect(fake.asked.some((q) => q.includes("canary"))).toBe(false);
    });

    test("every address is judged (at once) and reported before the first one off its address fails", async () => {
        const fake = new FakeCluster(PATRONI_SPEC);
        fake.addresses["s-pg2"] = "";
        fake.addresses["s-pg3"] = "172.20.200.1";
        let askedPatroni = false;
        const run = fake.runners({
            patroniCluster: () => {
                askedPatroni = true;
                return Promise.reject(new Error("unexpected"));
            },
        });
        const err = await failure(walkChecks(PATRONI_SPEC, run));
        expect(names(err.report)).toEqual(["fixed-address pg1", "fixed-address pg2", "fixed-address pg3"]);
        expect(err.result.node).toBe("pg2");
        expect(err.result.detail).toMatch(/^s-pg2 is not connected to s-net/);
        expect(err.report.primary).toBe("pg1");
        expect(askedPatroni).toBe(false);
    });

    test("a check judged once that cannot run rejects with its error, not a CheckFailure", async () => {
        const fake = new FakeCluster(SPEC);
        const run = fake.runners({
            certificateEnd: () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:15433")),
        });
        await expect(walkChecks(SPEC, run)).rejects.toThrow(/^connect ECONNREFUSED/);
        await expect(walkChecks(SPEC, run)).rejects.not.toBeInstanceOf(CheckFailure);
    });

    test("a check that waits turns an error into its detail", async () => {
        const fake = new FakeCluster(SPEC);
        fake.down.pg2 = new Error("connect ECONNREFUSED 127.0.0.1:15433");
        const err = await failure(walkChecks(SPEC, fake.runners()));
        expect(err.message).toBe("check replica-in-recovery failed on pg2: connect ECONNREFUSED 127.0.0.1:15433");
    });
});

describe("walkChecks waits with a deadline", () => {
    test("a check that waits passes once the condition holds within the deadline", async () => {
        const fake = new FakeCluster({ ...SPEC, deadlineSeconds: 5 });
        fake.inRecovery.pg1 = true;
        setTimeout(() => (fake.inRecovery.pg1 = false), 600);
        const report = await walkChecks({ ...SPEC, deadlineSeconds: 5 }, fake.runners());
        expect(report.checks[0]).toMatchObject({ check: "primary-not-in-recovery", ok: true });
        expect(report.checks[0].ms).toBeGreaterThanOrEqual(500);
        const polls = fake.asked.filter((q) => q === "pg1: SELECT pg_is_in_recovery() AS r").length;
        expect(polls).toBeGreaterThanOrEqual(3);
    });

    test("fails with the last judgement once the deadline passes, polled meanwhile", async () => {
        const fake = new FakeCluster(SPEC);
        fake.inRecovery.pg1 = true;
        const t0 = Date.now();
        const err = await failure(walkChecks({ ...SPEC, deadlineSeconds: 1 }, fake.runners()));
        expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
        expect(err.message).toBe(
            "check primary-not-in-recovery failed on pg1: pg_is_in_recovery() is true on the primary",
        );
        expect(fake.asked.length).toBeGreaterThanOrEqual(3);
        expect(err.report.durationMs).toBeGreaterThanOrEqual(1000);
    });

    test("with no time left a failing check is judged once", async () => {
        const fake = new FakeCluster(SPEC);
        fake.inRecovery.pg1 = true;
        await failure(walkChecks(SPEC, fake.runners()));
        expect(fake.asked).toEqual(["pg1: SELECT pg_is_in_recovery() AS r"]);
    });
});

describe("walkChecks under Patroni", () => {
    test("checks the leader Patroni elected as the primary and the others as replicas", async () => {
        const fake = new FakeCluster(PATRONI_SPEC, "pg2");
        const report = await walkChecks(PATRONI_SPEC, fake.runners());
        expect(report).toMatchObject({ ok: true, primary: "pg2", replicas: ["pg1", "pg3"] });
        expect(names(report).slice(3, 7)).toEqual([
            "etcd-healthy s-etcd1,s-etcd2,s-etcd3",
            "patroni-one-leader s",
            "patroni-roles s",
            "primary-not-in-recovery pg2",
        ]);
        expect(fake.asked).toContain(
            "pg2: INSERT INTO replication_check.canary VALUES (1, $1, now()) ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, written_at = EXCLUDED.written_at",
        );
    });

    test("Patroni topology with no leader fails patroni-one-leader, the report on the configured roles", async () => {
        const fake = new FakeCluster(PATRONI_SPEC);
        fake.cluster = { members: ["pg1", "pg2", "pg3"].map((n) => member(n, "replica")) };
        const err = await failure(walkChecks(PATRONI_SPEC, fake.runners()));
        expect(err.message).toBe(
            "check patroni-one-leader failed on s: expected one leader, found none (no node answered)",
        );
        expect(err.report).toMatchObject({ primary: "pg1", replicas: ["pg2", "pg3"] });
        expect(err.report.checks.map((c) => c.check).slice(-2)).toEqual(["etcd-healthy", "patroni-one-leader"]);
    });

    test("unhealthy etcd fails first; Patroni is not asked", async () => {
        const fake = new FakeCluster(PATRONI_SPEC);
        fake.etcdHealthy = 1;
        const err = await failure(walkChecks(PATRONI_SPEC, fake.runners()));
        expect(err.message).toBe("check etcd-healthy failed on s-etcd1,s-etcd2,s-etcd3: 1 of 3 etcd members healthy: ");
        expect(err.report.checks).toHaveLength(4);
    });

    test("wrong roles fail patroni-roles, and the report names the leader found", async () => {
        const fake = new FakeCluster(PATRONI_SPEC, "pg3");
        fake.cluster.members = fake.cluster.members.map((m) =>
            m.role === "sync_standby" ? { ...m, role: "replica" } : m,
        );
        const err = await failure(walkChecks(PATRONI_SPEC, fake.runners()));
        expect(err.message).toBe(
            "check patroni-roles failed on s: replica roles are replica, replica, expected replica, sync_standby",
        );
        expect(err.report).toMatchObject({ primary: "pg3", replicas: ["pg1", "pg2"] });
    });
});
