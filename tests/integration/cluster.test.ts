// The cluster for real: the stack program run by the live harness against the local Docker engine.
// Its own stack name, subnet and ports, so that it never touches a dev or local cluster.
import { POOLER_PATHS, renderPgBouncerIni } from "../../model/pooler-config";
import { nodeAddressMap } from "../../model/topology";
import { run } from "../../harness/docker-api";
import {
    containerIdentity,
    dockerNames,
    eventually,
    forceCleanup,
    live,
    liveOk,
    LiveResult,
    ROOT,
    sql,
    stackOutputs,
} from "../support/live-client";

jest.setTimeout(420_000);

const STACK = `it${process.pid}`;
const SUBNET = "172.29.77.0/24";
const PORT = 26432; // pg1; pgN is PORT + N - 1
const ARGS = [
    "--stack",
    STACK,
    "--config",
    "image=pg-replication/postgres:17-local",
    "--config",
    "pullImage=false",
    "--config",
    `subnet=${SUBNET}`,
    "--config",
    `hostPortBase=${PORT}`,
    "--config",
    "superuserPassword=it-super-pw-1",
    "--config",
    "replicationPassword=it-repl-pw-1",
    "--config",
    "metrics=true",
];
const PW = "it-super-pw-1";
const port = (node: number) => PORT + node - 1;

const up = (...config: string[]) => liveOk(["up", ...ARGS, ...config.flatMap((c) => ["--config", c])]);
const changed = (res: LiveResult) => res.actions.filter(([a]) => a !== "unchanged").map(([a, , n]) => `${a} ${n}`);

async function replicationRows(): Promise<Record<string, { state: string; sync_state: string }>> {
    const rows = await sql<{ application_name: string; state: string; sync_state: string }>(
        port(1),
        PW,
        "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY application_name",
    );
    return Object.fromEntries(rows.map((r) => [r.application_name, { state: r.state, sync_state: r.sync_state }]));
}

async function identities(nodes: number[]): Promise<string[]> {
    return Promise.all(nodes.map((n) => containerIdentity(`${STACK}-pg${n}`)));
}

/** The two PgBouncer containers' id and start time: a re-created or restarted one differs. */
async function poolerIdentities(): Promise<string[]> {
    return Promise.all(["rw", "ro"].map((role) => containerIdentity(`${STACK}-pgbouncer-${role}`)));
}

/** The read-only endpoint's pgbouncer.ini as PgBouncer reads it. */
async function roIni(): Promise<string> {
    const res = await run(["docker", "exec", `${STACK}-pgbouncer-ro`, "cat", POOLER_PATHS.ini]);
    return res.stdout;
}

describe(`live cluster (stack ${STACK})`, () => {
    beforeAll(async () => {
        await forceCleanup(STACK);
    });
    afterAll(async () => {
        await live(["down", "--stack", STACK]);
        await forceCleanup(STACK);
    });

    test("up: primary + 2 async replicas, and the post-deploy checks pass", async () => {
        const res = await up("replicas=2");
        expect(res.stderr).toContain("test support, not `pulumi up`");
        expect(res.stderr).toMatch(
            /Resources: \d+ created, 0 replaced, 0 updated, 0 deleted, 0 unchanged, 0 failed; [\d.]+s/,
        );
        const out = await stackOutputs(STACK);
        expect(out.primary).toEqual({
            node: "pg1",
            container: `${STACK}-pg1`,
            host: "127.0.0.1",
            port: port(1),
            roleReadAt: out.checkReport.checkedAt,
        });
        expect(out.replicas.map((r: { node: string }) => r.node)).toEqual(["pg2", "pg3"]);
        expect(out.replicationMode).toBe("async");
        expect(out.checkReport.ok).toBe(true);
        const checks = out.checkReport.checks.map((c: { check: string; node: string }) => `${c.check}@${c.node}`);
        expect(checks).toEqual(
            expect.arrayContaining([
                "streaming@pg2",
                "streaming@pg3",
                "canary-replicated@pg3",
                "replica-read-only@pg2",
                "slot-active@pg3",
                "endpoint-rw@endpoint-rw",
                "endpoint-ro@endpoint-ro",
            ]),
        );
        expect(await replicationRows()).toEqual({
            pg2: { state: "streaming", sync_state: "async" },
            pg3: { state: "streaming", sync_state: "async" },
        });
        const hidden = await live(["output", "--stack", STACK, "--json"]);
        expect(JSON.parse(hidden.stdout).primaryConnectionString).toBe("[secret]");
        // The pooler is on: the read-write endpoint, which every failover and switchover re-points.
        // tls required (the default): it verifies the server against the CA file `up` wrote.
        expect(out.primaryConnectionString).toBe(
            `postgresql://postgres:${PW}@127.0.0.1:${PORT + 10}/postgres?sslmode=verify-full&sslrootcert=${ROOT}/.pg-replication/${STACK}-ca.crt`,
        );
    });

    test("the metrics exporter scrapes every node through /probe", async () => {
        const out = await stackOutputs(STACK);
        const base = out.metricsEndpoint;
        expect(base).toBe(`http://127.0.0.1:${PORT + 12}/probe?auth_module=pgreplication&target=`);
        const auth = { Authorization: `Basic ${Buffer.from(`prometheus:${out.metricsPassword}`).toString("base64")}` };
        for (const [node, replica] of [
            ["pg1", 0],
            ["pg2", 1],
            ["pg3", 1],
        ] as const) {
            const body = await (await fetch(`${base}${node}:5432/postgres`, { headers: auth })).text();
            expect(body).toMatch(/^pg_up 1$/m);
            expect(body).toMatch(new RegExp(`^pg_replication_is_replica ${replica}$`, "m"));
        }
        const [role] = await sql(
            port(1),
            PW,
            "SELECT rolsuper, pg_has_role('pgr_monitor', 'pg_monitor', 'MEMBER') AS monitor FROM pg_roles WHERE rolname = 'pgr_monitor'",
        );
        expect(role).toEqual({ rolsuper: false, monitor: true });
    });

    test("passwords are nowhere in the containers' environment", async () => {
        for (const container of ["pg1", "pg2", "pg3", "pgbouncer-rw", "pgbouncer-ro", "metrics"].map(
            (c) => `${STACK}-${c}`,
        )) {
            const inspect = await run(["docker", "inspect", "-f", "{{json .Config.Env}}", container]);
            expect(inspect.stdout).not.toContain("it-repl-pw-1");
            expect(inspect.stdout).not.toContain(PW);
        }
    });

    test("data written on the primary appears on both replicas, which refuse writes", async () => {
        await sql(port(1), PW, "CREATE TABLE IF NOT EXISTS it_data (id int PRIMARY KEY, note text)");
        await sql(port(1), PW, "INSERT INTO it_data SELECT g, 'row ' || g FROM generate_series(1, 500) g");
        for (const n of [2, 3]) {
            await eventually(`500 rows on pg${n}`, 30_000, async () => {
                const [{ count }] = await sql(port(n), PW, "SELECT count(*)::int AS count FROM it_data");
                return count === 500 || `count ${count}`;
            });
            await expect(sql(port(n), PW, "INSERT INTO it_data VALUES (9999, 'nope')")).rejects.toMatchObject({
                code: "25006",
            });
            await expect(sql(port(n), PW, "INSERT INTO it_data VALUES (9999, 'nope')")).rejects.toThrow(
                "cannot execute INSERT in a read-only transaction",
            );
        }
    });

    test("a second up with nothing changed touches nothing", async () => {
        const before = await identities([1, 2, 3]);
        const res = await up();
        expect(changed(res)).toEqual([]);
        expect(res.actions.length).toBeGreaterThan(10);
        expect(res.stderr).toMatch(/0 created, 0 replaced, 0 updated, 0 deleted/);
        expect(await identities([1, 2, 3])).toEqual(before);
    });

    test("sync any 1, then first 1, then async: applied online, no container restarted", async () => {
        const before = await identities([1, 2, 3]);

        let res = await up("syncMode=sync", "syncMethod=any", "syncCount=1");
        expect(changed(res).sort()).toEqual(["updated pg-checks", "updated pg-sync-policy"]);
        expect(await replicationRows()).toEqual({
            pg2: { state: "streaming", sync_state: "quorum" },
            pg3: { state: "streaming", sync_state: "quorum" },
        });
        expect((await stackOutputs(STACK)).replicationMode).toBe('sync: ANY 1 ("pg2", "pg3"), synchronous_commit=on');

        res = await up("syncMethod=first");
        expect(changed(res).sort()).toEqual(["updated pg-checks", "updated pg-sync-policy"]);
        expect(await replicationRows()).toEqual({
            pg2: { state: "streaming", sync_state: "sync" },
            pg3: { state: "streaming", sync_state: "potential" },
        });
        const [{ synchronous_standby_names: names }] = await sql(port(1), PW, "SHOW synchronous_standby_names");
        expect(names).toBe('FIRST 1 ("pg2", "pg3")');

        res = await up("syncMode=async");
        expect(changed(res).sort()).toEqual(["updated pg-checks", "updated pg-sync-policy"]);
        expect(await replicationRows()).toEqual({
            pg2: { state: "streaming", sync_state: "async" },
            pg3: { state: "streaming", sync_state: "async" },
        });
        expect(await identities([1, 2, 3])).toEqual(before);
    });

    test("a stopped replica catches up through its slot after a restart", async () => {
        await run(["docker", "stop", `${STACK}-pg3`]);
        await eventually("slot pg3 inactive", 30_000, async () => {
            const [slot] = await sql(port(1), PW, "SELECT active FROM pg_replication_slots WHERE slot_name = 'pg3'");
            return slot.active === false;
        });
        await sql(port(1), PW, "INSERT INTO it_data SELECT g, 'while pg3 was down' FROM generate_series(1001, 3000) g");
        await sql(port(1), PW, "SELECT pg_switch_wal()");
        const [retained] = await sql(
            port(1),
            PW,
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS bytes, wal_status FROM pg_replication_slots WHERE slot_name = 'pg3'",
        );
        expect(Number(retained.bytes)).toBeGreaterThan(0);
        expect(retained.wal_status).toBe("reserved");
        await run(["docker", "start", `${STACK}-pg3`]);
        await eventually("pg3 has the rows written while it was down", 60_000, async () => {
            const [{ count }] = await sql(port(3), PW, "SELECT count(*)::int AS count FROM it_data WHERE id > 1000");
            return count === 2000 || `count ${count}`;
        });
        await eventually("slot pg3 active again", 30_000, async () => {
            const [slot] = await sql(port(1), PW, "SELECT active FROM pg_replication_slots WHERE slot_name = 'pg3'");
            return slot.active === true;
        });
    });

    // Async mode: synchronous_standby_names stays '', so the sync policy has nothing to change. The
    // read-only endpoint's server list changes: its pgbouncer.ini is rewritten and reloaded in place
    // (pg-pooler-targets), neither PgBouncer container is re-created.
    test("scale 2 → 3 → 1: new replica streams, removed replicas' slots are dropped, survivors untouched", async () => {
        const before = await identities([1, 2, 3]);
        const poolersBefore = await poolerIdentities();
        let res = await up("replicas=3");
        // The backup repository names every node it backs up through: its host list is rewritten in
        // the running container (pg-backup-config), nothing is re-created.
        const backupRepo = ["updated pg-backup-config"];
        expect(changed(res).sort()).toEqual([
            "created pg-pg4-container",
            "created pg-pg4-data",
            "created pg-pg4-ready",
            "created pg-pg4-tls-cert",
            "created pg-pg4-tls-csr",
            "created pg-pg4-tls-files",
            "created pg-pg4-tls-key",
            "created pg-slot-pg4",
            ...backupRepo,
            "updated pg-checks",
            // Runs on every node set (a new node gets the settings); with none it asks no node anything.
            "updated pg-pooler-targets",
            "updated pg-settings",
        ]);
        expect(await identities([1, 2, 3])).toEqual(before);
        expect(await poolerIdentities()).toEqual(poolersBefore);
        expect(await roIni()).toBe(renderPgBouncerIni("ro", "pg1", ["pg2", "pg3", "pg4"], nodeAddressMap(SUBNET)));
        expect(Object.keys(await replicationRows())).toEqual(["pg2", "pg3", "pg4"]);
        const [{ count }] = await sql(port(4), PW, "SELECT count(*)::int AS count FROM it_data");
        expect(count).toBe(2500);

        res = await up("replicas=1");
        expect(changed(res).sort()).toEqual([
            "deleted pg-pg3-container",
            "deleted pg-pg3-data",
            "deleted pg-pg3-ready",
            "deleted pg-pg3-tls-cert",
            "deleted pg-pg3-tls-csr",
            "deleted pg-pg3-tls-files",
            "deleted pg-pg3-tls-key",
            "deleted pg-pg4-container",
            "deleted pg-pg4-data",
            "deleted pg-pg4-ready",
            "deleted pg-pg4-tls-cert",
            "deleted pg-pg4-tls-csr",
            "deleted pg-pg4-tls-files",
            "deleted pg-pg4-tls-key",
            "deleted pg-slot-pg3",
            "deleted pg-slot-pg4",
            ...backupRepo,
            "updated pg-checks",
            // Runs on every node set (a new node gets the settings); with none it asks no node anything.
            "updated pg-pooler-targets",
            "updated pg-settings",
        ]);
        expect(await identities([1, 2])).toEqual(before.slice(0, 2));
        expect(await poolerIdentities()).toEqual(poolersBefore);
        expect(await roIni()).toBe(renderPgBouncerIni("ro", "pg1", ["pg2"], nodeAddressMap(SUBNET)));
        const slots = await sql<{ slot_name: string }>(
            port(1),
            PW,
            "SELECT slot_name FROM pg_replication_slots ORDER BY 1",
        );
        expect(slots.map((s) => s.slot_name)).toEqual(["pg2"]);
        expect(await replicationRows()).toEqual({ pg2: { state: "streaming", sync_state: "async" } });
        expect((await dockerNames("container", `${STACK}-`)).sort()).toEqual([
            `${STACK}-backup`,
            `${STACK}-metrics`,
            `${STACK}-pg1`,
            `${STACK}-pg2`,
            `${STACK}-pgbouncer-ro`,
            `${STACK}-pgbouncer-rw`,
        ]);
        expect((await dockerNames("volume", `${STACK}-`)).sort()).toEqual([
            `${STACK}-backup-repo`,
            `${STACK}-pg1-data`,
            `${STACK}-pg2-data`,
        ]);
    });

    test("down removes every container, volume and network it made", async () => {
        const res = await liveOk(["down", "--stack", STACK]);
        expect(res.actions.every(([a]) => a === "deleted")).toBe(true);
        expect(res.stderr).toMatch(/0 created, 0 replaced, 0 updated, \d+ deleted/);
        expect(await dockerNames("container", `${STACK}-`)).toEqual([]);
        expect(await dockerNames("volume", `${STACK}-`)).toEqual([]);
        expect(await dockerNames("network", `${STACK}-`)).toEqual([]);
    });
});

describe("live harness without a Docker engine", () => {
    test("fails at once and says how to start one", async () => {
        const started = Date.now();
        const res = await live(["up", "--stack", `${STACK}-nodocker`], {
            ...process.env,
            DOCKER_HOST: "unix:///nonexistent/docker.sock",
        });
        expect(res.code).toBe(1);
        expect(res.stderr).toContain("no Docker engine answers at /nonexistent/docker.sock");
        expect(res.stderr).toContain("scripts/start-docker.sh");
        expect(Date.now() - started).toBeLessThan(30_000);
    });
});
