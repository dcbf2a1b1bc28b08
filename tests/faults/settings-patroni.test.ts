// Fault suite, `settings` under failover=patroni (issue 21 item 3): they used to be part of every
// node's patroni.yml, so a change re-created every node, the leader among them. Now:
// - a new cluster runs its settings on every member, restart-only ones included (Patroni restarted
//   the members of the cluster being created);
// - a reload-only change goes through Patroni's dynamic configuration: no container re-created or
//   restarted, every member runs it;
// - a restart-only change restarts the replica through Patroni, never the leader: `up` fails naming
//   the switchover that applies it, and the leader kept running;
// - a setting removed from `settings` is removed from every member.
// Own stack, subnet 172.29.103.0/24, ports 24632+.
import { containerIdentity, LiveResult, live } from "../support/live-client";
import { containerOf, deploy, faultCluster, psqlIn, teardown, upArgs, withDeadline } from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `fp${process.pid}`,
    subnet: "172.29.103.0/24",
    base: 24632,
    password: `fp-super-${process.pid}-Jd4`,
    replPassword: `fp-repl-${process.pid}-Tc9`,
    replicas: 1,
    config: ["failover=patroni", "etcdMembers=1", "syncMode=async", "pooler=false", "metrics=false"],
});
const NODES = ["pg1", "pg2"];

function up(settings: Record<string, string>): Promise<LiveResult> {
    return withDeadline(`live up ${C.stack}`, 280_000, live(upArgs(C, [`settings=${JSON.stringify(settings)}`])));
}

function show(node: string, name: string): Promise<string> {
    return psqlIn(containerOf(C, node), `SHOW ${name}`);
}

async function identities(): Promise<string[]> {
    return Promise.all(NODES.map((n) => containerIdentity(containerOf(C, n))));
}

/** The member that accepts writes now. */
async function leader(): Promise<string> {
    for (const n of NODES) if ((await psqlIn(containerOf(C, n), "SELECT pg_is_in_recovery()")) === "f") return n;
    throw new Error("no member accepts writes");
}

describe(`fault: settings under Patroni, online (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C, [`settings=${JSON.stringify({ work_mem: "8MB", max_connections: "150" })}`], 280_000);
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    test("a new cluster runs its settings on every member, restart-only ones included", async () => {
        for (const n of NODES) {
            expect(await show(n, "work_mem")).toBe("8MB");
            expect(await show(n, "max_connections")).toBe("150");
        }
    });

    test("a reload-only change and a removal: no container re-created or restarted, every member runs them", async () => {
        const before = await identities();
        const res = await up({ max_connections: "150", log_min_duration_statement: "250ms" });
        expect(res.stderr).not.toContain("error");
        expect(res.code).toBe(0);
        expect(res.actions.filter(([a, t]) => a !== "unchanged" && t.includes("Container"))).toEqual([]);
        expect(await identities()).toEqual(before);
        for (const n of NODES) {
            expect(await show(n, "log_min_duration_statement")).toBe("250ms");
            // Removed from settings: back to the built-in default.
            expect(await show(n, "work_mem")).toBe("4MB");
        }
    });

    test("a restart-only change restarts the replica through Patroni, never the leader, and names the switchover", async () => {
        const lead = await leader();
        const replica = NODES.find((n) => n !== lead) as string;
        const leaderBefore = await psqlIn(containerOf(C, lead), "SELECT pg_postmaster_start_time()");
        const res = await up({ max_connections: "160", log_min_duration_statement: "250ms" });
        expect(res.code).toBe(1);
        expect(res.stderr).toContain(
            `the leader ${lead} needs a restart for them, which a deployment never does to a leader: ` +
                `npm run switchover -- --stack ${C.stack} --to ${replica}`,
        );
        expect(await show(replica, "max_connections")).toBe("160");
        expect(await psqlIn(containerOf(C, lead), "SELECT pg_postmaster_start_time()")).toBe(leaderBefore);
        expect(await show(lead, "max_connections")).toBe("150");
    });
});
