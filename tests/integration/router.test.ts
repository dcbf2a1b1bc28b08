// The read-scaling library (client/) against a real cluster made by the live harness: its own
// stack name, subnet and ports, so that it never touches another test's or a developer's cluster.
// Which server answered is proven with inet_server_addr(): connections arrive through published
// ports, but the server sees its own address on the cluster network, which is unique per node.
import { isLsn, NoHealthyReplicaError, ReplicaRouter, ReplicaRouterOptions } from "../../client/index";
import { ordersExample, stackNodes } from "../../examples/router";
import { readOutputs } from "../../ops/stack-backends";
import { run } from "../../harness/docker-api";
import { eventually, forceCleanup, live, liveOk, sql, stackOutputs, testStackArgs } from "../support/live-client";

jest.setTimeout(420_000);

const STACK = `rt${process.pid}`;
const PORT = 29432; // pg1; pgN is PORT + N - 1
const PW = "rt-super-pw-1";
const ARGS = testStackArgs({ stack: STACK, subnet: "172.29.82.0/24", port: PORT, password: PW });
const port = (node: number) => PORT + node - 1;
const container = (node: number) => `${STACK}-pg${node}`;

const HEALTH_INTERVAL_MS = 500;
const CONNECT_TIMEOUT_MS = 1000;
// A dead replica leaves rotation at the latest when the round in progress ends (≤ one connect
// timeout), the next starts (one interval) and its probe fails (≤ one connect timeout); a read
// that hits it first takes it out at once.
const OUT_OF_ROTATION_BOUND_MS = HEALTH_INTERVAL_MS + 2 * CONNECT_TIMEOUT_MS;

const WHO = "SELECT host(inet_server_addr()) AS addr, pg_is_in_recovery() AS recovery";
type Who = { addr: string; recovery: boolean };

let outputs: { primaryConnectionString: string; replicaConnectionStrings: string[]; rwConnectionString: string };
let router: ReplicaRouter | undefined;
const others: ReplicaRouter[] = [];

/**
 * A router on the test cluster with the test's fast health settings; `overrides` change what a test
 * is about. Routers beyond the main one are closed in afterAll.
 */
function testRouter(overrides: Partial<ReplicaRouterOptions> = {}, extra = true): ReplicaRouter {
    const r = new ReplicaRouter({
        primary: outputs.primaryConnectionString,
        replicas: outputs.replicaConnectionStrings,
        healthIntervalMs: HEALTH_INTERVAL_MS,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        ...overrides,
    });
    if (extra) others.push(r);
    return r;
}
let nodeByAddr = new Map<string, string>();

/** Container addresses on the cluster network (read when an address is new, or after a start). */
async function nodeOfAddr(addr: string): Promise<string> {
    if (!nodeByAddr.has(addr)) {
        const next = new Map<string, string>();
        for (const n of [1, 2, 3]) {
            const res = await run([
                "docker",
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                container(n),
            ]);
            for (const ip of res.stdout.trim().split(/\s+/).filter(Boolean)) next.set(ip, `pg${n}`);
        }
        nodeByAddr = next;
    }
    return nodeByAddr.get(addr) ?? `unknown(${addr})`;
}

function theRouter(): ReplicaRouter {
    if (!router) throw new Error("the router was not created (see beforeAll)");
    return router;
}

/** A read through `r`: the node that answered according to the server itself, and according to the router. */
async function whoRead(
    r: ReplicaRouter = theRouter(),
): Promise<{ node: string; role: string; name: string; recovery: boolean }> {
    const res = await r.read<Who>(WHO);
    return {
        node: await nodeOfAddr(res.rows[0].addr),
        role: res.servedBy.role,
        name: res.servedBy.name,
        recovery: res.rows[0].recovery,
    };
}

/** The router's name for node N's replica: host:port from its connection string. */
const nameOf = (node: number) => `127.0.0.1:${port(node)}`;
// primaryConnectionString is the read-write endpoint (the pooler is on): it follows failovers.
const RW_NAME = `127.0.0.1:${PORT + 10}`;
const replicaStatus = (node: number, r: ReplicaRouter = theRouter()) => {
    const s = r.status().replicas.find((x) => x.name === nameOf(node));
    if (!s) throw new Error(`no status for pg${node}`);
    return s;
};

async function readsFrom(count: number, r?: ReplicaRouter): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (let i = 0; i < count; i++) {
        const who = await whoRead(r);
        counts[who.node] = (counts[who.node] ?? 0) + 1;
    }
    return counts;
}

async function setReplay(node: number, state: "pause" | "resume"): Promise<void> {
    await sql(port(node), PW, `SELECT pg_wal_replay_${state}()`);
    await eventually(`replay ${state}d on pg${node}`, 10_000, async () => {
        const [{ s }] = await sql(port(node), PW, "SELECT pg_get_wal_replay_pause_state() AS s");
        return (state === "pause" ? s === "paused" : s === "not paused") || `state ${s}`;
    });
}

async function dockerOk(...argv: string[]): Promise<void> {
    const res = await run(["docker", ...argv]);
    if (res.code !== 0) throw new Error(`docker ${argv.join(" ")}: ${res.stderr}`);
    // Containers restarted together may swap addresses: forget them.
    if (argv[0] === "start") nodeByAddr = new Map();
}

describe(`ReplicaRouter on a live cluster (stack ${STACK})`, () => {
    beforeAll(async () => {
        await forceCleanup(STACK);
        await liveOk(["up", ...ARGS]);
        outputs = (await stackOutputs(STACK)) as typeof outputs;
        expect(outputs.replicaConnectionStrings).toHaveLength(2);
        router = testRouter({}, false);
        await router.ready();
        await eventually("both replicas in rotation", 30_000, () => {
            const status = theRouter().status();
            return status.replicas.every((r) => r.healthy) || JSON.stringify(status);
        });
    });

    afterAll(async () => {
        try {
            // close() waits for checked-out connections; after a failed test one may never come back.
            const closed = Promise.all([router, ...others].flatMap((r) => (r ? [r.close()] : [])));
            await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
        } finally {
            await live(["down", "--stack", STACK]);
            await forceCleanup(STACK);
        }
    });

    test("reads are spread round-robin over both replicas, none go to the primary; writes go to the primary", async () => {
        const reads = [];
        for (let i = 0; i < 20; i++) reads.push(await whoRead());
        const counts: Record<string, number> = {};
        for (const r of reads) counts[r.node] = (counts[r.node] ?? 0) + 1;
        expect(Object.keys(counts).sort()).toEqual(["pg2", "pg3"]);
        expect(counts.pg2 + counts.pg3).toBe(20);
        expect(Math.abs(counts.pg2 - counts.pg3)).toBeLessThanOrEqual(2);
        for (const r of reads) {
            expect(r.recovery).toBe(true);
            expect(r.role).toBe("replica");
            expect(r.name).toBe(nameOf(Number(r.node.slice(2)))); // servedBy tells the truth
        }
        const w = await theRouter().write<Who>(WHO);
        expect(await nodeOfAddr(w.rows[0].addr)).toBe("pg1");
        expect(w.rows[0].recovery).toBe(false);
        expect(isLsn(w.lsn)).toBe(true);

        const status = theRouter().status();
        expect(status.primary).toMatchObject({ name: RW_NAME, healthy: true, reason: "ok" });
        for (const r of status.replicas) {
            expect(r).toMatchObject({ healthy: true, reason: "ok" });
            expect(r.lagBytes).toBeLessThan(16 * 1024 * 1024);
            expect(r.lastCheckedAt).toBeInstanceOf(Date);
        }
        expect(JSON.stringify(status)).not.toContain(PW);
    });

    test(`a stopped replica leaves rotation within ${OUT_OF_ROTATION_BOUND_MS} ms without a failed read, and comes back after a start`, async () => {
        const served: string[] = [];
        const failures: string[] = [];
        let running = true;
        const load = (async () => {
            while (running) {
                try {
                    served.push((await whoRead()).node);
                } catch (err) {
                    failures.push((err as Error).message);
                }
            }
        })();
        try {
            await eventually("reads under load", 10_000, () => served.length >= 20);
            await dockerOk("stop", container(2));
            const stoppedAt = Date.now();
            await eventually("pg2 out of rotation", OUT_OF_ROTATION_BOUND_MS, () => !replicaStatus(2).healthy);
            expect(Date.now() - stoppedAt).toBeLessThanOrEqual(OUT_OF_ROTATION_BOUND_MS);
            expect(replicaStatus(2).reason).toMatch(
                /^(unreachable|connect failed during a read|connection lost during a read): /,
            );
            const from = served.length;
            await eventually("50 reads after pg2 left rotation", 30_000, () => served.length >= from + 50);
            expect(new Set(served.slice(from))).toEqual(new Set(["pg3"]));

            await dockerOk("start", container(2));
            await eventually("pg2 back in rotation", 90_000, () => replicaStatus(2).healthy || replicaStatus(2).reason);
            const back = served.length;
            await eventually("reads reach pg2 again", 10_000, () => served.slice(back).includes("pg2"));
        } finally {
            running = false;
            await load;
        }
        expect(failures).toEqual([]);
        expect(served).not.toContain("pg1");
    });

    test("read-your-writes: served by the primary while replicas have not replayed the write, by a replica once they have", async () => {
        const r = theRouter();
        await r.write("CREATE TABLE rt_items (id int PRIMARY KEY, note text)");
        for (const n of [2, 3]) {
            await eventually(`rt_items on pg${n}`, 30_000, async () => {
                const [{ ok }] = await sql(port(n), PW, "SELECT to_regclass('rt_items') IS NOT NULL AS ok");
                return ok === true;
            });
        }
        await setReplay(2, "pause");
        await setReplay(3, "pause");

        const w = await r.write("INSERT INTO rt_items VALUES (1, 'new')");
        expect(w.rowCount).toBe(1);
        expect(isLsn(w.lsn)).toBe(true);
        expect(r.status().lastWriteLsn).toBe(w.lsn);
        const COUNT = "SELECT count(*)::int AS n, host(inet_server_addr()) AS addr FROM rt_items WHERE id = 1";

        const ryw = await r.read<{ n: number; addr: string }>(COUNT, [], { consistency: "read-your-writes" });
        expect(ryw.servedBy.role).toBe("primary");
        expect(await nodeOfAddr(ryw.rows[0].addr)).toBe("pg1");
        expect(ryw.rows[0].n).toBe(1);
        const token = await r.read<{ n: number }>(COUNT, [], { consistency: "read-your-writes", minLsn: w.lsn });
        expect([token.servedBy.role, token.rows[0].n]).toEqual(["primary", 1]);

        for (let i = 0; i < 2; i++) {
            const plain = await r.read<{ n: number; addr: string }>(COUNT);
            expect(plain.servedBy.role).toBe("replica");
            expect(["pg2", "pg3"]).toContain(await nodeOfAddr(plain.rows[0].addr));
            expect(plain.rows[0].n).toBe(0); // paused: the replica has not replayed the insert
        }
        await eventually("paused replicas report byte lag", 10_000, () =>
            r.status().replicas.every((s) => (s.lagBytes ?? 0) > 0),
        );
        expect(r.status().replicas.every((s) => s.healthy)).toBe(true); // a few bytes are within 16 MiB

        await setReplay(2, "resume");
        await setReplay(3, "resume");
        await eventually("a read-your-writes read served by a replica that has the row", 30_000, async () => {
            const res = await r.read<{ n: number; addr: string }>(COUNT, [], { consistency: "read-your-writes" });
            return (
                (res.servedBy.role === "replica" && res.rows[0].n === 1) || `${res.servedBy.name}: n=${res.rows[0].n}`
            );
        });
        const after = await r.read<{ n: number; addr: string }>(COUNT, [], { consistency: "read-your-writes" });
        expect(after.servedBy.role).toBe("replica");
        expect(["pg2", "pg3"]).toContain(await nodeOfAddr(after.rows[0].addr));
        expect(after.rows[0].n).toBe(1);
    });

    test("read-your-writes with readYourWritesWaitMs waits for a replica to replay instead of going to the primary", async () => {
        // Its own application_name, to find its read's session on the replicas.
        const waiting = testRouter({
            replicas: outputs.replicaConnectionStrings.map((connectionString) => ({
                connectionString,
                application_name: "rt-waiting",
            })),
            readYourWritesWaitMs: 20_000,
        });
        await waiting.ready();
        await setReplay(2, "pause");
        await setReplay(3, "pause");
        try {
            await waiting.write("INSERT INTO rt_items VALUES (2, 'waited for')");
            let settled = false;
            const started = Date.now();
            const read = waiting
                .read<{ n: number }>("SELECT count(*)::int AS n FROM rt_items WHERE id = 2", [], {
                    consistency: "read-your-writes",
                })
                .finally(() => (settled = true));
            // The read is polling a paused replica on its own connection (not the health probe's).
            await eventually("the read checking a replica's replay position", 10_000, async () => {
                for (const n of [2, 3]) {
                    const [{ c }] = await sql(
                        port(n),
                        PW,
                        "SELECT count(*)::int AS c FROM pg_stat_activity" +
                            " WHERE application_name = 'rt-waiting' AND query LIKE '%pg_last_wal_replay_lsn%'",
                    );
                    if (c > 0) return true;
                }
                return false;
            });
            expect(settled).toBe(false);
            await setReplay(2, "resume");
            await setReplay(3, "resume");
            const res = await read;
            expect(res.servedBy.role).toBe("replica");
            expect(res.rows[0].n).toBe(1);
            expect(Date.now() - started).toBeLessThan(20_000);
        } finally {
            await setReplay(2, "resume");
            await setReplay(3, "resume");
        }
    });

    test("the primary can be the PgBouncer read-write endpoint, which follows failovers", async () => {
        const viaPooler = testRouter({ primary: { connectionString: outputs.rwConnectionString, name: "rw" } });
        await viaPooler.ready();
        expect(viaPooler.status().primary).toMatchObject({ name: "rw", healthy: true, reason: "ok" });
        const w = await viaPooler.write<Who>(
            "INSERT INTO rt_items VALUES (4, 'via rw') RETURNING host(inet_server_addr()) AS addr, false AS recovery",
        );
        expect(await nodeOfAddr(w.rows[0].addr)).toBe("pg1");
        expect(isLsn(w.lsn)).toBe(true);
        await eventually("the row read back from a replica with read-your-writes", 10_000, async () => {
            const res = await viaPooler.read<{ n: number }>(
                "SELECT count(*)::int AS n FROM rt_items WHERE id = 4",
                [],
                {
                    consistency: "read-your-writes",
                },
            );
            return (res.servedBy.role === "replica" && res.rows[0].n === 1) || res.servedBy.name;
        });
    });

    test("a connection killed while checked out between two queries fails that call, not the process", async () => {
        const r = theRouter();
        // pg emits 'error' on a client that loses its server between queries; unhandled, it would
        // crash this test process before 'end'.
        const tx = r.transaction(async (client) => {
            const [{ pid }] = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows;
            const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
            await sql(port(1), PW, "SELECT pg_terminate_backend($1)", [pid]);
            await ended;
            await client.query("INSERT INTO rt_items VALUES (3, 'never')");
        });
        await expect(tx).rejects.toThrow(/not queryable|Connection terminated|terminating connection/);
        // The commit's fate was unknown, so read-your-writes asks the primary for a fresh position first.
        const after = await r.read<{ n: number }>("SELECT count(*)::int AS n FROM rt_items WHERE id = 3", [], {
            consistency: "read-your-writes",
        });
        expect(after.rows[0].n).toBe(0);
        const w = await r.write("INSERT INTO rt_items VALUES (3, 'now')");
        expect(isLsn(w.lsn)).toBe(true);
    });

    test("a replica beyond maxLagBytes leaves rotation and returns when it has caught up", async () => {
        const strict = testRouter({ maxLagBytes: 256 * 1024 });
        await eventually("strict router: both replicas in rotation", 10_000, () =>
            strict.status().replicas.every((s) => s.healthy),
        );
        await setReplay(3, "pause");
        try {
            // About 2 MB of WAL that pg3 does not replay.
            await strict.write("INSERT INTO rt_items SELECT g, repeat('x', 1000) FROM generate_series(1000, 2999) g");
            await eventually("pg3 out for lag", 10_000, () => !replicaStatus(3, strict).healthy);
            expect(replicaStatus(3, strict).reason).toMatch(/^behind by \d+ bytes \(maxLagBytes 262144\)$/);
            expect(replicaStatus(3, strict).lagBytes).toBeGreaterThan(256 * 1024);
            await eventually("pg2 (replaying) in rotation", 10_000, () => replicaStatus(2, strict).healthy);
            expect(await readsFrom(10, strict)).toEqual({ pg2: 10 });
            // The default 16 MiB bound keeps pg3 in the main router's rotation.
            expect(replicaStatus(3).healthy).toBe(true);
        } finally {
            await setReplay(3, "resume");
        }
        await eventually("pg3 back in rotation once it has replayed", 30_000, () => replicaStatus(3, strict).healthy);
        expect(replicaStatus(3, strict).lagBytes).toBeLessThanOrEqual(256 * 1024);
    });

    test("with both replicas stopped, reads fall back to the primary (or throw with fallbackToPrimary false)", async () => {
        const strictFallback = testRouter({ fallbackToPrimary: false });
        await strictFallback.ready();
        await Promise.all([dockerOk("stop", container(2)), dockerOk("stop", container(3))]);
        await eventually(
            "both replicas out",
            OUT_OF_ROTATION_BOUND_MS,
            () =>
                theRouter()
                    .status()
                    .replicas.every((s) => !s.healthy) && strictFallback.status().replicas.every((s) => !s.healthy),
        );
        for (let i = 0; i < 5; i++) {
            const who = await whoRead();
            expect(who).toMatchObject({ node: "pg1", role: "primary", name: RW_NAME, recovery: false });
        }
        const ryw = await theRouter().read<{ n: number }>("SELECT count(*)::int AS n FROM rt_items", [], {
            consistency: "read-your-writes",
        });
        expect(ryw.servedBy.role).toBe("primary");
        const err = await strictFallback.read(WHO).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NoHealthyReplicaError);
        expect((err as Error).message).toContain("fallbackToPrimary is false");
        expect((err as NoHealthyReplicaError).replicas.map((s) => s.name)).toEqual([nameOf(2), nameOf(3)]);

        await Promise.all([dockerOk("start", container(2)), dockerOk("start", container(3))]);
        await eventually("both replicas back", 90_000, () =>
            theRouter()
                .status()
                .replicas.every((s) => s.healthy),
        );
        expect(Object.keys(await readsFrom(10)).sort()).toEqual(["pg2", "pg3"]);
    });

    test("examples/router.ts runs against this stack, as docs/operations.md shows it", async () => {
        const nodes = stackNodes(readOutputs({ stack: STACK, live: true }));
        // The pooler is on: the example writes through the read-write endpoint.
        expect(nodes.primary).toEqual({ connectionString: outputs.rwConnectionString, name: "rw" });
        const lines = await ordersExample(nodes.primary, nodes.replicas);
        expect(lines[0]).toMatch(
            /^order 42 \(total 9.5\) written at [0-9A-F]+\/[0-9A-F]+, read back from (replica pg\d+|primary rw)$/,
        );
        expect(lines[1]).toMatch(/^\d+ order\(s\), counted on (replica pg\d+|primary rw)$/);
        expect(lines.slice(2).map((l) => l.replace(/, \d+ bytes behind$/, ""))).toEqual([
            "replica pg2: in rotation (ok)",
            "replica pg3: in rotation (ok)",
        ]);
    });

    test("a promoted replica leaves rotation (not in recovery)", async () => {
        await sql(port(3), PW, "SELECT pg_promote()");
        await eventually("pg3 out: promoted", 30_000, () => !replicaStatus(3).healthy);
        expect(replicaStatus(3).reason).toBe("not in recovery (promoted, or not a standby)");
        expect(await readsFrom(10)).toEqual({ pg2: 10 });
    });
});
