// Fault suite, restarts in odd orders (issue 7 item 1): with the PgBouncer endpoints on, nodes are
// killed, failed over, stopped and started in the order the issue reports ("kill pg2 (primary),
// failover to pg1, stop pg1, start pg2, start pg1, then switchover"). There must never be a second
// primary, every node must keep its IPv4 address on the cluster network, and both endpoints must
// answer within seconds: rw on the primary, ro on a standby. Own stack, subnet 172.29.95.0/24,
// ports 23932+.
import {
    containerOf,
    deploy,
    describeRun,
    docker,
    eventually,
    expectOk,
    faultCluster,
    figure,
    nodeAddresses,
    ops,
    q,
    query,
    SplitBrainMonitor,
    teardown,
    waitHealthy,
    writableNodes,
} from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `ff${process.pid}`,
    subnet: "172.29.95.0/24",
    base: 23932,
    password: `ff-order-super-${process.pid}-Jh4`,
    replPassword: `ff-order-repl-${process.pid}-Pc7`,
    replicas: 2,
    config: ["syncMode=async", "pooler=true"],
});
const RW = C.base + 10;
const RO = C.base + 11;

/** Addresses before anything was restarted. */
let initial: Record<string, string> = {};

interface EndpointAnswer {
    node: string;
    ip: string;
    standby: boolean;
}

async function ask(port: number): Promise<EndpointAnswer> {
    const [row] = await query(
        port,
        C.password,
        "SELECT current_setting('cluster_name') AS node, host(inet_server_addr()) AS ip, pg_is_in_recovery() AS standby",
        [],
        { connectionTimeoutMillis: 3000, query_timeout: 5000 },
    );
    return row as EndpointAnswer;
}

/** Both endpoints answer within `withinMs`: rw on `primary` (not in recovery), ro on a standby. */
async function endpointsAnswer(primary: string, step: string, withinMs = 10_000): Promise<void> {
    const started = Date.now();
    let rw: EndpointAnswer | undefined;
    let ro: EndpointAnswer | undefined;
    await eventually(`endpoints after ${step}: rw on ${primary}, ro on a standby`, withinMs, async () => {
        rw = await ask(RW);
        ro = await ask(RO);
        return (
            (rw.node === primary && !rw.standby && ro.standby) || `rw ${JSON.stringify(rw)}, ro ${JSON.stringify(ro)}`
        );
    });
    figure({ case: "restart-orders-endpoints", step, answeredMs: Date.now() - started, rw, ro });
}

async function expectSameAddresses(step: string): Promise<void> {
    const now = await nodeAddresses(C);
    figure({ case: "restart-orders-addresses", step, initial, now });
    expect(now).toEqual(initial);
}

describe(`fault: restart orders with the PgBouncer endpoints (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
        await q(C, "pg1", "CREATE TABLE fa_order (id serial PRIMARY KEY, at text NOT NULL)");
        initial = await nodeAddresses(C);
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    test("setup: kill -9 pg1, failover to pg2, rejoin pg1: pg2 primary, endpoints follow, addresses unchanged", async () => {
        expect(Object.values(initial).every((ip) => ip.startsWith("172.29.95."))).toBe(true);
        await waitHealthy(C, 60_000, "pg1");
        await endpointsAnswer("pg1", "deploy");
        await docker(["kill", containerOf(C, "pg1")]);
        expectOk("failover --to pg2", await ops(C, "failover", ["--to", "pg2"], 90_000));
        expectOk("rejoin --node pg1", await ops(C, "rejoin", ["--node", "pg1"], 120_000));
        await waitHealthy(C, 60_000, "pg2");
        await endpointsAnswer("pg2", "failover to pg2 and rejoin of pg1");
        await expectSameAddresses("failover to pg2 and rejoin of pg1");
    });

    test("kill pg2 (primary), failover to pg1, stop pg1, start pg2, start pg1: never two primaries, pg1 primary again, all stream, same addresses", async () => {
        await waitHealthy(C, 60_000, "pg2");
        const monitor = new SplitBrainMonitor(C);
        monitor.start(240_000);
        const observed: string[] = [];
        try {
            await q(C, "pg2", "INSERT INTO fa_order (at) VALUES ('before kill of pg2')");
            await docker(["kill", containerOf(C, "pg2")]);
            const failover = await ops(C, "failover", ["--to", "pg1"], 90_000);
            expectOk("failover --to pg1", failover);
            await q(C, "pg1", "INSERT INTO fa_order (at) VALUES ('pg1 primary')");
            await docker(["stop", "-t", "30", containerOf(C, "pg1")]);
            await docker(["start", containerOf(C, "pg2")]);
            // pg2 was fenced and the only primary (pg1) is stopped: pg2 must wait, never take writes.
            const watchUntil = Date.now() + 8000;
            while (Date.now() < watchUntil) {
                const w = await writableNodes(C);
                if (w.length > 0) observed.push(`${new Date().toISOString()} writable: ${w.join(", ")}`);
                await new Promise((r) => setTimeout(r, 500));
            }
            await docker(["start", containerOf(C, "pg1")]);
            await waitHealthy(C, 120_000, "pg1");
        } finally {
            await monitor.stop();
        }
        figure({
            case: "restart-orders-sequence",
            writableWhilePg1Stopped: observed,
            secondPrimarySeen: monitor.violations,
            monitorSamples: monitor.samples,
        });
        expect(observed).toEqual([]);
        expect(monitor.violations).toEqual([]);
        const rows = await q<{ at: string }>(C, "pg1", "SELECT at FROM fa_order ORDER BY id");
        expect(rows.map((r) => r.at)).toEqual(["before kill of pg2", "pg1 primary"]);
        await expectSameAddresses("kill pg2, failover to pg1, stop pg1, start pg2, start pg1");
    });

    test("after those restarts both endpoints answer within seconds: rw on the primary pg1, ro on a standby", async () => {
        await endpointsAnswer("pg1", "the restart sequence");
    });

    test("then switchover to pg2 and back to pg1: both succeed, endpoints follow each time, addresses unchanged", async () => {
        await waitHealthy(C, 60_000, "pg1");
        const to2 = await ops(C, "switchover", ["--to", "pg2"], 120_000);
        if (to2.code !== 0) throw new Error(describeRun("switchover --to pg2", to2));
        await endpointsAnswer("pg2", "switchover to pg2");
        const to1 = await ops(C, "switchover", ["--to", "pg1"], 120_000);
        figure({ case: "restart-orders-switchover", toPg2Ms: to2.ms, toPg1Ms: to1.ms, toPg1Exit: to1.code });
        if (to1.code !== 0) throw new Error(describeRun("switchover --to pg1", to1));
        await endpointsAnswer("pg1", "switchover back to pg1");
        await waitHealthy(C, 60_000, "pg1");
        await expectSameAddresses("switchovers");
        expect((await q(C, "pg1", "SELECT count(*)::int AS n FROM fa_order"))[0].n).toBe(2);
    });
});
