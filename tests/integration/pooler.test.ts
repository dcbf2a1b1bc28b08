// The PgBouncer endpoints for real: a cluster brought up by the live harness, the PgBouncerPool
// component performed by the harness's engine (unless infra/cluster.ts already declares it), then
// a failover by hand and repointPooler. Own stack name, subnet and ports.
import * as fs from "fs";
import * as path from "path";
import type * as PulumiModule from "@pulumi/pulumi";
import { Client } from "pg";
import { renderPgBouncerIni } from "../../model/pooler-config";
import { nodeAddressMap } from "../../model/topology";
import { repointPooler, RepointResult } from "../../ops/pooler";
import { run } from "../../harness/docker-api";
import { LiveEngine } from "../../harness/engine";
import { loadState } from "../../harness/state";
import {
    containerIdentity,
    eventually,
    forceCleanup,
    live,
    liveOk,
    localSuperuser,
    ROOT,
    sql,
} from "../support/live-client";

jest.setTimeout(600_000);

const STACK = `pb${process.pid}`;
const BASE = 30432;
const RW = BASE + 10;
const RO = BASE + 11;
const PW = "pb-super-pw-1";
/** The nodes' fixed addresses on this test's subnet: what PgBouncer connects to. */
const HOSTS = nodeAddressMap("172.29.83.0/24");
const IMAGE = "pg-replication/postgres:17-local";
const RW_C = `${STACK}-pgbouncer-rw`;
const RO_C = `${STACK}-pgbouncer-ro`;
/** Harness state of the pooler when this test declares it; git-ignored like the stack's. */
const POOLER_STATE = path.join(ROOT, ".live-state", `${STACK}-pooler.json`);
const ARGS = [
    "--stack",
    STACK,
    "--config",
    `image=${IMAGE}`,
    "--config",
    "pullImage=false",
    "--config",
    "subnet=172.29.83.0/24",
    "--config",
    `hostPortBase=${BASE}`,
    "--config",
    `superuserPassword=${PW}`,
    "--config",
    "replicationPassword=pb-repl-pw-1",
    "--config",
    "replicas=2",
];

/** Every client a test opened, closed in afterAll whatever happened. */
const opened: Client[] = [];
/** Node name by address on the cluster network, read before pg1 is stopped. */
let nodeByIp = new Map<string, string>();

async function connect(port: number, password = PW): Promise<Client> {
    const client = new Client(localSuperuser(port, password));
    client.on("error", () => undefined); // a session the pooler closes must not crash the test
    opened.push(client);
    await client.connect();
    return client;
}

/** Which node a session is on, and whether it is a standby. */
async function whereIs(client: Client): Promise<{ node: string; standby: boolean }> {
    const { rows } = await client.query("SELECT host(inet_server_addr()) AS ip, pg_is_in_recovery() AS standby");
    return { node: nodeByIp.get(rows[0].ip) ?? `unknown ${rows[0].ip}`, standby: rows[0].standby };
}

/** Opens `n` sessions at once (so the pooler needs n server connections) and says where each went. */
async function sessions(port: number, n: number): Promise<Array<{ client: Client; node: string; standby: boolean }>> {
    const clients = await Promise.all(Array.from({ length: n }, () => connect(port)));
    return Promise.all(clients.map(async (client) => ({ client, ...(await whereIs(client)) })));
}

async function docker(...argv: string[]): Promise<string> {
    const res = await run(["docker", ...argv]);
    if (res.code !== 0) throw new Error(`docker ${argv.join(" ")}: ${res.stderr}`);
    return res.stdout.trim();
}

/** Performs the PgBouncerPool component with the live harness's engine, as `npm run live` would. */
async function deployPooler(): Promise<void> {
    const imageId = await docker("image", "inspect", "-f", "{{.Id}}", IMAGE);
    const log: string[] = [];
    await jest.isolateModulesAsync(async () => {
        const pulumi: typeof PulumiModule = await import("@pulumi/pulumi");
        const engine = new LiveEngine(loadState(POOLER_STATE, STACK), POOLER_STATE, (line) => log.push(line));
        await pulumi.runtime.setMocks(engine, "pg-replication", STACK, false);
        let failure: unknown;
        await pulumi.runtime
            .runInPulumiStack(async () => {
                pulumi.runtime.registerStackTransformation((t) => {
                    const deleteBeforeReplace = (t.opts as PulumiModule.CustomResourceOptions).deleteBeforeReplace;
                    engine.options.set(`${t.type}::${t.name}`, { deleteBeforeReplace });
                    return undefined;
                });
                const { PgBouncerPool } = await import("../../infra/pooler");
                new PgBouncerPool("pg-pooler", {
                    namePrefix: STACK,
                    image: imageId,
                    network: `${STACK}-net`,
                    primaryNode: "pg1",
                    replicaNodes: ["pg2", "pg3"],
                    rwPort: RW,
                    roPort: RO,
                    superuserPassword: pulumi.secret(PW),
                });
                return {};
            })
            .catch((err: unknown) => (failure = err));
        // Registrations may finish after the program returns: wait for both containers, engine idle.
        const exists = async (c: string) => (await run(["docker", "inspect", c])).code === 0;
        await eventually("pooler containers created", 120_000, async () => {
            return (
                engine.errors.length > 0 ||
                failure !== undefined ||
                (!engine.busy && (await exists(RW_C)) && (await exists(RO_C)))
            );
        });
        if (failure !== undefined || engine.errors.length > 0) {
            throw new Error(`pooler deploy failed: ${engine.errors.join("; ") || String(failure)}\n${log.join("\n")}`);
        }
    });
}

async function removePooler(): Promise<void> {
    if (fs.existsSync(POOLER_STATE)) {
        const engine = new LiveEngine(loadState(POOLER_STATE, STACK), POOLER_STATE, () => undefined);
        await engine.deleteUndeclared(true).catch(() => undefined);
        fs.rmSync(POOLER_STATE, { force: true });
    }
    await run(["docker", "rm", "-f", RW_C, RO_C]);
}

describe(`PgBouncer endpoints (stack ${STACK})`, () => {
    beforeAll(async () => {
        await removePooler();
        await forceCleanup(STACK);
        await liveOk(["up", ...ARGS]);
        // Once infra/cluster.ts declares the pooler, the harness has made the containers already.
        if ((await run(["docker", "inspect", RW_C])).code !== 0) await deployPooler();
        for (const n of [1, 2, 3]) {
            const ip = await docker(
                "inspect",
                "-f",
                `{{(index .NetworkSettings.Networks "${STACK}-net").IPAddress}}`,
                `${STACK}-pg${n}`,
            );
            nodeByIp.set(ip, `pg${n}`);
        }
    });
    afterAll(async () => {
        await Promise.all(opened.map((c) => c.end().catch(() => undefined)));
        // The poolers first: the network cannot go while they are attached to it.
        await removePooler();
        await live(["down", "--stack", STACK]);
        await forceCleanup(STACK);
        nodeByIp = new Map();
    });

    test("both endpoints are healthy, run PgBouncer as postgres, with uploaded files and no password", async () => {
        for (const [c, role] of [
            [RW_C, "rw"],
            [RO_C, "ro"],
        ] as const) {
            // Up by its ready check; Docker's own health follows at the first probe (every 5 s here).
            await eventually(`${c} healthy`, 20_000, async () => {
                const health = await docker("inspect", "-f", "{{.State.Health.Status}}", c);
                return health === "healthy" || health;
            });
            expect(await docker("inspect", "-f", "{{.State.Health.Status}} {{.RestartCount}}", c)).toBe("healthy 0");
            expect(await docker("exec", c, "stat", "-c", "%U", "/proc/1")).toBe("postgres");
            expect(await docker("exec", c, "stat", "-c", "%U %a", "/etc/pg-replication/pgbouncer/userlist.txt")).toBe(
                "postgres 600",
            );
            const userlist = await docker("exec", c, "cat", "/etc/pg-replication/pgbouncer/userlist.txt");
            expect(userlist).toMatch(/^"postgres" "SCRAM-SHA-256\$4096:/);
            expect(userlist).not.toContain(PW);
            expect(await docker("inspect", "-f", "{{json .Config.Env}}", c)).not.toContain(PW);
            expect(await docker("inspect", "-f", '{{index .Config.Labels "pg-replication.pooler"}}', c)).toBe(role);
            const ini = await docker("exec", c, "cat", "/etc/pg-replication/pgbouncer/pgbouncer.ini");
            expect(ini + "\n").toBe(renderPgBouncerIni(role, "pg1", ["pg2", "pg3"], HOSTS));
        }
    });

    test("rw reaches the primary; PgBouncer logs in to it with the client's SCRAM keys", async () => {
        expect(await whereIs(await connect(RW))).toEqual({ node: "pg1", standby: false });
    });

    test("ro reaches the replicas and spreads concurrent sessions over pg2 and pg3", async () => {
        const found = await sessions(RO, 6);
        expect(found.every((s) => s.standby)).toBe(true);
        expect([...new Set(found.map((s) => s.node))].sort()).toEqual(["pg2", "pg3"]);
        await Promise.all(found.map((s) => s.client.end()));
    });

    test("a wrong password is refused on both endpoints", async () => {
        await expect(sql(RW, "not-the-password", "SELECT 1")).rejects.toThrow(/authentication failed/);
        await expect(sql(RO, "not-the-password", "SELECT 1")).rejects.toThrow(/authentication failed/);
    });

    test("failover: pg2 promoted by hand, repointPooler; rw writes to pg2, nothing restarted", async () => {
        const survivors = [`${STACK}-pg2`, `${STACK}-pg3`, RW_C, RO_C];
        const before = await Promise.all(survivors.map(containerIdentity));
        // Sessions on the read-only endpoint: two idle, two inside a transaction.
        const held = await sessions(RO, 4);
        await held[0].client.query("BEGIN; SELECT 1");
        await held[1].client.query("BEGIN; SELECT 1");

        await docker("stop", `${STACK}-pg1`);
        expect(
            await docker("exec", "-u", "postgres", `${STACK}-pg2`, "psql", "-X", "-At", "-c", "SELECT pg_promote()"),
        ).toBe("t");
        const results: RepointResult[] = await repointPooler(STACK, "pg2", ["pg3"], {
            drainTimeoutMs: 1500,
            hosts: HOSTS,
        });
        expect(results).toEqual([
            { role: "rw", container: RW_C, targets: ["pg2"], reload: "console", killedClients: 0 },
            // Idle sessions closed at the reload; the two inside a transaction at the drain deadline.
            { role: "ro", container: RO_C, targets: ["pg3"], reload: "console", killedClients: 2 },
        ]);
        for (const s of held) await expect(s.client.query("SELECT 1")).rejects.toThrow();

        await eventually("rw reaches the new primary", 30_000, async () => {
            const where = await whereIs(await connect(RW));
            return (where.node === "pg2" && !where.standby) || JSON.stringify(where);
        });
        await sql(RW, PW, "CREATE TABLE pb_after_failover (id int)");
        await sql(RW, PW, "INSERT INTO pb_after_failover VALUES (1), (2)");
        expect(await sql(RW, PW, "SELECT count(*)::int AS n FROM pb_after_failover")).toEqual([{ n: 2 }]);

        const ro = await sessions(RO, 3);
        expect(ro.map((s) => `${s.node}:${s.standby}`)).toEqual(["pg3:true", "pg3:true", "pg3:true"]);
        expect((await docker("exec", RW_C, "cat", "/etc/pg-replication/pgbouncer/pgbouncer.ini")) + "\n").toBe(
            renderPgBouncerIni("rw", "pg2", ["pg3"], HOSTS),
        );
        expect(await Promise.all(survivors.map(containerIdentity))).toEqual(before);
        for (const c of [RW_C, RO_C]) expect(await docker("inspect", "-f", "{{.RestartCount}}", c)).toBe("0");
    });
});
