// Fault suite, what a manual-mode stack says after a switchover (issue 22 items 1 and 5). Before:
// `primaryConnectionString` still reached the old primary, now read-only (`cannot execute INSERT in a
// read-only transaction`), until the next `up`; and that `up` re-created both PgBouncer containers
// (their pgbouncer.ini changed), dropping every session through them for a few seconds.
// Now: with the pooler, `primaryConnectionString` is the read-write endpoint, which the switchover
// re-points; `primary` / `replicas` carry when the checks read them; the next `up` re-points the
// endpoints in place, and a session held open through the read-write endpoint keeps writing across
// the `up` (a switchover itself ends the sessions on the old primary: PgBouncer's session pooling
// closes a client whose server connection the shutdown terminated).
// Own stack, subnet 172.29.107.0/24, ports 25032+.
import { Client } from "pg";
import { containerIdentity, eventually, stackOutputs } from "../support/live-client";
import {
    clientFor,
    containerOf,
    deploy,
    docker,
    expectOk,
    faultCluster,
    ops,
    psqlIn,
    script,
    teardown,
} from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `ft${process.pid}`,
    subnet: "172.29.107.0/24",
    base: 25032,
    password: `ft-super-${process.pid}-Qm2`,
    replPassword: `ft-repl-${process.pid}-Lx7`,
    replicas: 2,
    config: ["syncMode=async", "pooler=true", "metrics=false"],
});
const RW = C.base + 10;

/** The PgBouncer containers' id and start time: a re-created or restarted one differs. */
function poolerIdentities(): Promise<string[]> {
    return Promise.all(["rw", "ro"].map((role) => containerIdentity(`${C.stack}-pgbouncer-${role}`)));
}

/** Which node a connection string reaches, and whether it takes a write there. */
async function reach(url: string): Promise<{ node: string; wrote: boolean; error?: string }> {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000, query_timeout: 10_000 });
    await client.connect();
    try {
        const [{ addr }] = (await client.query<{ addr: string }>("SELECT host(inet_server_addr()) AS addr")).rows;
        const node = `pg${Number(addr.split(".")[3]) - 10}`; // fixed addresses: host number 10 + k
        try {
            await client.query("INSERT INTO truth_rows VALUES (-1) ON CONFLICT DO NOTHING");
            return { node, wrote: true };
        } catch (err) {
            return { node, wrote: false, error: (err as Error).message };
        }
    } finally {
        await client.end().catch(() => undefined);
    }
}

describe(`fault: what a manual stack says after a switchover (stack ${C.stack})`, () => {
    let session: Client;
    let written = 0;
    const write = async () => {
        await session.query("INSERT INTO truth_rows VALUES ($1)", [++written]);
    };

    /** A session through the read-write endpoint; errors of a dropped one surface on its next query. */
    async function openSession(): Promise<void> {
        session = clientFor(RW, C.password, { connectionTimeoutMillis: 5000, query_timeout: 10_000 });
        await session.connect();
    }

    beforeAll(async () => {
        await teardown(C);
        await deploy(C, [], 280_000);
        await openSession();
        await session.query("CREATE TABLE truth_rows (id int PRIMARY KEY)");
        await write();
    }, 300_000);
    afterAll(async () => {
        await session?.end().catch(() => undefined);
        await teardown(C);
    }, 180_000);

    test("after switchover --to pg2, primaryConnectionString reaches pg2 and takes writes", async () => {
        const res = await ops(C, "switchover", ["--to", "pg2"]);
        expectOk("switchover --to pg2", res);
        expect(res.stderr).toContain(
            "primaryConnectionString and rwConnectionString (the read-write endpoint) reach pg2 now",
        );
        const out = await stackOutputs(C.stack);
        expect(await reach(out.primaryConnectionString)).toEqual({ node: "pg2", wrote: true });
        // The outputs that describe the deployment say when they were read.
        expect(out.primary.node).toBe("pg1");
        expect(Date.parse(out.primary.roleReadAt)).toBeGreaterThan(Date.now() - 300_000);
        await session.end().catch(() => undefined);
        await openSession();
        await write();
    });

    test("the next up records pg2 in the outputs and re-points the endpoints in place: the session keeps writing", async () => {
        const before = await poolerIdentities();
        await deploy(C, [], 280_000);
        expect(await poolerIdentities()).toEqual(before);
        await write();
        const out = await stackOutputs(C.stack);
        expect(out.primary.node).toBe("pg2");
        expect(out.replicas.map((r: { node: string }) => r.node)).toEqual(["pg1", "pg3"]);
        expect(await reach(out.primaryConnectionString)).toEqual({ node: "pg2", wrote: true });
        expect(Number(await psqlIn(containerOf(C, "pg3"), "SELECT count(*) FROM truth_rows WHERE id > 0"))).toBe(
            written,
        );
    });

    test("a node reconnected without its fixed address: status names the cause and the fix, which works", async () => {
        const net = `${C.stack}-net`;
        const pg3 = containerOf(C, "pg3");
        await docker(["network", "disconnect", net, pg3]);
        await docker(["network", "connect", net, pg3]);
        const status = await script("status", ["--stack", C.stack, "--live"], 60_000);
        expect(status.code).toBe(1);
        expect(status.stdout).toContain(`PROBLEM: ${pg3} is on `);
        expect(status.stdout).toContain("not its fixed address 172.29.107.13");
        const fix = /Put it back: (docker network disconnect .*? && docker network connect .*?)(?:\n|$)/.exec(
            status.stdout,
        );
        expect(fix?.[1]).toBe(
            `docker network disconnect ${net} ${pg3} && docker network connect --ip 172.29.107.13 --alias pg3 --alias pg-cluster ${net} ${pg3}`,
        );
        for (const cmd of (fix?.[1] ?? "").split(" && ")) await docker(cmd.split(" ").slice(1));
        await eventually("pg3 has every row again", 60_000, async () => {
            const n = Number(await psqlIn(pg3, "SELECT count(*) FROM truth_rows WHERE id > 0"));
            return n === written ? true : `${n} of ${written} rows`;
        });
        const after = await script("status", ["--stack", C.stack, "--live"], 60_000);
        expect(after.stdout).not.toContain("PROBLEM");
        expect(after.code).toBe(0);
    });
});
