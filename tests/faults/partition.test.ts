// Fault suite, partition of a standby (issue 7 item 6): a standby cut off the cluster network with
// `docker network disconnect`. Under ANY 1 (2 replicas) commits keep succeeding, the other standby
// confirms them; under FIRST 1 a commit waits for the partitioned sync standby only until the
// primary gives up on it (wal_sender_timeout), then the next standby confirms. The standby is
// reconnected with its original address and aliases and streams again. Own stack, subnet
// 172.29.94.0/24, ports 23832+.
import { Client } from "pg";
import {
    clientFor,
    containerOf,
    deploy,
    docker,
    endQuietly,
    eventually,
    faultCluster,
    figure,
    networkEndpoint,
    networkOf,
    nodePort,
    q,
    streamingFrom,
    teardown,
    waitHealthy,
} from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `fe${process.pid}`,
    subnet: "172.29.94.0/24",
    base: 23832,
    password: `fe-part-super-${process.pid}-Yd9`,
    replPassword: `fe-part-repl-${process.pid}-Gs2`,
    replicas: 2,
    config: ["syncMode=sync", "syncMethod=any", "syncCount=1", "pooler=false"],
});
const TABLE = "fa_part";

/** A node's place on the cluster network, read from Docker before it is cut off. */
interface Attachment {
    node: string;
    ip: string;
    aliases: string[];
}

async function attachment(node: string): Promise<Attachment> {
    const container = containerOf(C, node);
    const ep = await networkEndpoint(container, networkOf(C));
    const id = await docker(["inspect", "-f", "{{.Id}}", container]);
    // Docker adds the short container id as an alias by itself.
    return { node, ip: ep.ip, aliases: ep.aliases.filter((a) => !id.startsWith(a)) };
}

async function disconnect(a: Attachment): Promise<void> {
    await docker(["network", "disconnect", networkOf(C), containerOf(C, a.node)]);
}

/** Reconnects with the original IPv4 address and aliases (nodes have fixed addresses). */
async function reconnect(a: Attachment): Promise<void> {
    const attached = await networkEndpoint(containerOf(C, a.node), networkOf(C)).then(
        () => true,
        () => false,
    );
    if (attached) return;
    await docker([
        "network",
        "connect",
        "--ip",
        a.ip,
        ...a.aliases.flatMap((al) => ["--alias", al]),
        networkOf(C),
        containerOf(C, a.node),
    ]);
}

/** Runs one autocommit INSERT on an open session and says how long it took (bounded by the client's query_timeout). */
async function timedInsert(client: Client, id: number): Promise<number> {
    const started = Date.now();
    await client.query(`INSERT INTO ${TABLE} (id) VALUES ($1)`, [id]);
    return Date.now() - started;
}

describe(`fault: partition of a standby under ANY 1 and FIRST 1 (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
        await q(C, "pg1", `CREATE TABLE ${TABLE} (id int PRIMARY KEY)`);
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    test("ANY 1: with pg3 cut off, commits keep succeeding (pg2 confirms); pg3 reconnected with its address streams again", async () => {
        await waitHealthy(C, 60_000, "pg1");
        const [{ synchronous_standby_names: names }] = await q(C, "pg1", "SHOW synchronous_standby_names");
        expect(names).toBe('ANY 1 ("pg2", "pg3")');
        const pg3 = await attachment("pg3");
        const client = clientFor(nodePort(C, "pg1"), C.password, { query_timeout: 10_000 });
        const latencies: number[] = [];
        let failure = "";
        try {
            await client.connect();
            await disconnect(pg3);
            for (let i = 1; i <= 20; i++) {
                try {
                    latencies.push(await timedInsert(client, i));
                } catch (err) {
                    failure = `commit ${i} failed: ${(err as Error).message}`;
                    break;
                }
                await new Promise((r) => setTimeout(r, 100));
            }
        } finally {
            await endQuietly(client);
            await reconnect(pg3);
        }
        figure({
            case: "partition-any",
            commits: latencies.length,
            maxCommitMs: Math.max(0, ...latencies),
            partitioned: "pg3",
        });
        expect(failure).toBe("");
        expect(latencies).toHaveLength(20);
        expect(Math.max(...latencies)).toBeLessThan(5000);
        await eventually(
            "pg3 streaming again after reconnecting",
            90_000,
            async () => (await streamingFrom(C, "pg1")).pg3 === "streaming",
        );
        expect((await networkEndpoint(containerOf(C, "pg3"), networkOf(C))).ip).toBe(pg3.ip);
        const [{ n }] = await q(C, "pg1", `SELECT count(*)::int AS n FROM ${TABLE}`);
        await eventually(
            "pg3 has every row",
            30_000,
            async () => (await q(C, "pg3", `SELECT count(*)::int AS n FROM ${TABLE}`))[0].n === n,
        );
    });

    test("FIRST 1: with the sync standby pg2 cut off, a commit blocks less than 15 s, then pg3 confirms; pg2 reconnected streams again", async () => {
        await deploy(C, ["syncMethod=first"]);
        await waitHealthy(C, 60_000, "pg1");
        const [{ synchronous_standby_names: names }] = await q(C, "pg1", "SHOW synchronous_standby_names");
        expect(names).toBe('FIRST 1 ("pg2", "pg3")');
        await eventually("pg2 sync, pg3 potential", 30_000, async () => {
            const rows = await q<{ application_name: string; sync_state: string }>(
                C,
                "pg1",
                "SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1",
            );
            const states = Object.fromEntries(rows.map((r) => [r.application_name, r.sync_state]));
            return (states.pg2 === "sync" && states.pg3 === "potential") || JSON.stringify(states);
        });
        const [{ setting: senderTimeout }] = await q(
            C,
            "pg1",
            "SELECT setting || unit AS setting FROM pg_settings WHERE name = 'wal_sender_timeout'",
        );
        const pg2 = await attachment("pg2");
        const client = clientFor(nodePort(C, "pg1"), C.password, { query_timeout: 120_000 });
        const CAP_MS = 20_000;
        let blockedMs: number | null;
        const afterwards: number[] = [];
        let pendingError = "";
        let pending: Promise<number> | undefined;
        try {
            await client.connect();
            await timedInsert(client, 1000); // the session is warm: the measured commit is only the commit
            await disconnect(pg2);
            pending = timedInsert(client, 1001);
            pending.catch((err: Error) => (pendingError = err.message));
            const capped = await Promise.race([
                pending.then((ms) => ms).catch(() => null),
                new Promise<null>((r) => setTimeout(() => r(null), CAP_MS)),
            ]);
            blockedMs = capped;
            if (blockedMs !== null) {
                for (let i = 0; i < 5; i++) afterwards.push(await timedInsert(client, 1002 + i));
            }
        } finally {
            await reconnect(pg2);
        }
        // Reconnected: a commit still waiting completes now (pg2 confirms again).
        if (pending !== undefined)
            await Promise.race([pending.catch(() => undefined), new Promise((r) => setTimeout(r, 90_000))]);
        await endQuietly(client);
        figure({
            case: "partition-first",
            walSenderTimeout: senderTimeout,
            commitBlockedMs: blockedMs ?? `>= ${CAP_MS}`,
            laterCommitsMaxMs: afterwards.length ? Math.max(...afterwards) : null,
            partitioned: "pg2",
        });
        expect(pendingError).toBe("");
        expect(blockedMs).not.toBeNull();
        expect(blockedMs!).toBeLessThan(15_000);
        expect(Math.max(...afterwards)).toBeLessThan(5000);
        await eventually(
            "pg2 streaming again after reconnecting",
            90_000,
            async () => (await streamingFrom(C, "pg1")).pg2 === "streaming",
        );
        expect((await networkEndpoint(containerOf(C, "pg2"), networkOf(C))).ip).toBe(pg2.ip);
        const ids = await q<{ id: number }>(C, "pg1", `SELECT id FROM ${TABLE} WHERE id >= 1000 ORDER BY id`);
        expect(ids.map((r) => r.id)).toEqual([1000, 1001, 1002, 1003, 1004, 1005, 1006]);
    });
});
