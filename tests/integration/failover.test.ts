// Day-2 operations for real: failover under writes, a deployment after it, the guard, switchover
// and rejoin, on a cluster the live harness deploys. Own stack name, subnet and ports.
import { Client } from "pg";
import { run } from "../../harness/docker-api";
import { CommitWriter } from "../../ops/ack-writer";
import {
    containerIdentity,
    eventually,
    forceCleanup,
    live,
    liveOk,
    localSuperuser,
    runScript,
    sql,
} from "../support/live-client";

jest.setTimeout(420_000);

const STACK = `fo${process.pid}`;
const PORT = 31432;
const PW = "fo-super-pw-1";
const port = (node: number) => PORT + node - 1;
const CONFIG = [
    "image=pg-replication/postgres:17-local",
    "pullImage=false",
    "subnet=172.29.84.0/24",
    `hostPortBase=${PORT}`,
    `superuserPassword=${PW}`,
    "replicationPassword=fo-repl-pw-1",
    "replicas=2",
    "pooler=false",
];

interface CmdResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Runs one of the operational scripts (npm run failover/switchover/rejoin) on the test stack. */
function ops(script: "failover" | "switchover" | "rejoin", ...args: string[]): Promise<CmdResult> {
    return runScript(script, ["--stack", STACK, "--live", "--json", ...args]);
}

async function running(node: number): Promise<boolean> {
    const res = await run(["docker", "inspect", "-f", "{{.State.Running}}", `${STACK}-pg${node}`]);
    return res.stdout.trim() === "true";
}

async function inRecovery(node: number): Promise<boolean> {
    const [row] = await sql(port(node), PW, "SELECT pg_is_in_recovery() AS r");
    return row.r;
}

async function streamingFrom(primary: number): Promise<Record<string, string>> {
    const rows = await sql<{ application_name: string; state: string }>(
        port(primary),
        PW,
        "SELECT application_name, state FROM pg_stat_replication",
    );
    return Object.fromEntries(rows.map((r) => [r.application_name, r.state]));
}

async function count(node: number): Promise<number> {
    const [{ n }] = await sql(port(node), PW, "SELECT count(*)::int AS n FROM fo_data");
    return n;
}

/**
 * Inserts rows one by one into whichever port `portOf` names (read again at each connect: the test
 * re-points it after the failover) until stopped or at a bound; remembers what was acknowledged.
 */
function writerTo(portOf: () => number): CommitWriter<number> {
    return new CommitWriter({
        endpoint: portOf,
        client: (p) => new Client(localSuperuser(p, PW, { connectionTimeoutMillis: 2000 })),
        table: "fo_data",
        // Above the rows the suite inserts itself.
        firstId: 100_001,
        maxRows: 5000,
        maxMs: 60_000,
    });
}

describe(`failover, switchover and rejoin (stack ${STACK})`, () => {
    beforeAll(async () => {
        await forceCleanup(STACK);
        await liveOk(["up", "--stack", STACK, ...CONFIG.flatMap((c) => ["--config", c])]);
        await sql(port(1), PW, "CREATE TABLE fo_data (id int PRIMARY KEY)");
        await sql(port(1), PW, "INSERT INTO fo_data SELECT generate_series(1, 1000)");
    });
    afterAll(async () => {
        await live(["down", "--stack", STACK]);
        await forceCleanup(STACK);
    });

    test("refuses to promote the primary, a stopped node, or a replica behind another one", async () => {
        let res = await ops("failover", "--to", "pg1");
        expect(res.code).toBe(1);
        expect(res.stderr).toContain("refusing to fail over to pg1: pg1 is not a replica: it already accepts writes");

        // Cut pg2 off from the primary, then write: pg3 receives WAL that pg2 has not.
        await sql(port(2), PW, "ALTER SYSTEM SET primary_conninfo = 'host=nowhere'");
        await sql(port(2), PW, "SELECT pg_reload_conf()");
        await eventually("pg2 disconnected", 30_000, async () => !(await streamingFrom(1)).pg2);
        await sql(port(1), PW, "INSERT INTO fo_data SELECT generate_series(1001, 1100)");
        await eventually("pg3 has the new rows", 30_000, async () => (await count(3)) === 1100);
        res = await ops("failover", "--to", "pg2");
        expect(res.code).toBe(1);
        expect(res.stderr).toMatch(/refusing to fail over to pg2: pg2 is behind pg3 \(.+ < .+\): .*pass --force/);
        await sql(port(2), PW, "ALTER SYSTEM RESET primary_conninfo");
        await run([
            "docker",
            "exec",
            "-u",
            "postgres",
            `${STACK}-pg2`,
            "sh",
            "-c",
            `psql -Xqc "ALTER SYSTEM SET primary_conninfo = 'host=pg1 port=5432 connect_timeout=3 passfile=/var/lib/postgresql/.pgpass user=replicator application_name=pg2'" -c "SELECT pg_reload_conf()"`,
        ]);
        await eventually("pg2 streaming again", 30_000, async () => (await streamingFrom(1)).pg2 === "streaming");

        await run(["docker", "stop", `${STACK}-pg3`]);
        res = await ops("failover", "--to", "pg3");
        expect(res.code).toBe(1);
        expect(res.stderr).toContain("pg3 is not running");
        await run(["docker", "start", `${STACK}-pg3`]);
        await eventually("pg3 streaming again", 60_000, async () => (await streamingFrom(1)).pg3 === "streaming");
    });

    test("failover with writes running: pg2 takes writes, pg3 follows on the new timeline, pg1 is fenced", async () => {
        let target = port(1);
        const writer = writerTo(() => target);
        writer.start();
        await eventually("writes flowing", 30_000, () => writer.acked.length > 50);
        const res = await ops("failover", "--to", "pg2");
        target = port(2);
        expect(res.stderr).toContain("checks passed");
        expect(res.code).toBe(0);
        const report = JSON.parse(res.stdout);
        expect(report).toMatchObject({ primary: "pg2", fenced: ["pg1"] });
        expect(report.timings.map((s: { step: string }) => s.step)).toEqual([
            "loaded",
            "3 nodes probed",
            "fenced pg1",
            "replicas settled: no WAL in flight",
            "promoted pg2 (synchronous policy and slots for pg1, pg3 set first)",
            "first write accepted on pg2",
            "all replicas streaming from pg2: pg3",
            "stack config: primaryNode = pg2",
            "checks passed (14)", // with tls required, a certificate check on pg2 and pg3
        ]);
        await eventually("pg2 accepts writes", 30_000, async () => (await inRecovery(2)) === false);
        // Writes acknowledged after the failover went to pg2: the only node that accepts them now.
        const before = writer.acked.length;
        await eventually("more writes after the failover", 30_000, () => writer.acked.length > before + 20);
        await writer.stop();

        expect(await running(1)).toBe(false);
        expect(await inRecovery(2)).toBe(false);
        expect(await streamingFrom(2)).toEqual({ pg3: "streaming" });
        const [wal] = await sql(port(3), PW, "SELECT received_tli FROM pg_stat_wal_receiver");
        expect(wal.received_tli).toBe(2);
        // Every acknowledged write is on the new primary and reaches pg3.
        const rows = await sql<{ id: number }>(port(2), PW, "SELECT id FROM fo_data WHERE id > 100000");
        const present = new Set(rows.map((r) => r.id));
        expect(writer.acked.filter((id) => !present.has(id))).toEqual([]);
        const total = await count(2);
        await eventually("pg3 caught up", 30_000, async () => (await count(3)) === total);
    });

    test("a deployment without recording the new primary is refused, and changes nothing", async () => {
        const before = await Promise.all([2, 3].map((n) => containerIdentity(`${STACK}-pg${n}`)));
        const res = await live(["up", "--stack", STACK, "--config", "primaryNode=pg1"]);
        expect(res.code).toBe(1);
        expect(res.stderr).toContain(
            "refusing to deploy: pg2 is the running primary but pg-replication:primaryNode is pg1",
        );
        expect(res.actions.filter(([a]) => a !== "unchanged")).toEqual([]);
        // The refresh records what the provider's Read does for a stopped container (must_run false
        // in state), which changes nothing in Docker: the container stays, stopped.
        expect(res.stderr).toContain("pg-pg1-container (stopped: must_run false in state, to be started)");
        expect(await Promise.all([2, 3].map((n) => containerIdentity(`${STACK}-pg${n}`)))).toEqual(before);
        expect(await running(1)).toBe(false);
    });

    test("the next deployment converges: pg1 comes back as a replica of pg2 through pg_rewind, one primary, no data lost", async () => {
        const total = await count(2);
        const res = await liveOk(["up", "--stack", STACK, "--config", "primaryNode=pg2"]);
        // The provider starts the stopped container in place (must_run false -> true), on its files.
        expect(res.actions).toContainEqual(["updated", "docker:index/container:Container", "pg-pg1-container"]);
        const logs = await run(["docker", "logs", `${STACK}-pg1`]);
        expect(logs.stderr).toContain("rejoined as a standby of pg2 with pg_rewind");
        expect(await streamingFrom(2)).toEqual({ pg1: "streaming", pg3: "streaming" });
        expect(await Promise.all([1, 2, 3].map(inRecovery))).toEqual([true, false, true]);
        await eventually("pg1 has every row", 30_000, async () => (await count(1)) === total);
        const outputs = JSON.parse((await liveOk(["output", "--stack", STACK, "--json"])).stdout);
        expect(outputs.primary).toMatchObject({ node: "pg2", port: port(2) });
        expect(outputs.checkReport.ok).toBe(true);
    });

    test("switchover back to pg1 loses no committed transaction; pg2 becomes a streaming replica", async () => {
        await sql(port(2), PW, "INSERT INTO fo_data SELECT generate_series(200001, 202000)");
        const committed = await count(2);
        const res = await ops("switchover", "--to", "pg1");
        expect(res.stderr).toContain("checks passed");
        expect(res.code).toBe(0);
        const report = JSON.parse(res.stdout);
        expect(report).toMatchObject({ from: "pg2", to: "pg1", rejoin: { method: "pg_rewind" } });
        expect(await count(1)).toBe(committed);
        expect(await inRecovery(1)).toBe(false);
        expect(await streamingFrom(1)).toEqual({ pg2: "streaming", pg3: "streaming" });
        const up = await liveOk(["up", "--stack", STACK]);
        expect(up.actions.filter(([a, type]) => a !== "unchanged" && type.includes("Container"))).toEqual([]);
    });

    test("rejoin after a failover brings the old primary back with pg_rewind", async () => {
        let res = await ops("failover", "--to", "pg3");
        expect(res.code).toBe(0);
        expect(await running(1)).toBe(false);
        res = await ops("rejoin", "--node", "pg1");
        expect(res.stderr).toMatch(
            /pg1 streaming from pg3\n.*pg1 rejoined with pg_rewind in \d+s; nothing it wrote after the fork at [0-9A-F]+\/[0-9A-F]+ was lost/,
        );
        expect(res.code).toBe(0);
        expect(JSON.parse(res.stdout).rejoin.method).toBe("pg_rewind");
        expect(await streamingFrom(3)).toEqual({ pg1: "streaming", pg2: "streaming" });
    });

    test("failover in sync mode with too few standbys left: warns, never hangs, commits resume after rejoin", async () => {
        await liveOk([
            "up",
            "--stack",
            STACK,
            "--config",
            "syncMode=sync",
            "--config",
            "syncMethod=any",
            "--config",
            "syncCount=2",
        ]);
        const res = await ops("failover", "--to", "pg1");
        expect(res.code).toBe(0);
        expect(res.stderr).toContain(
            "warning: synchronous commits need 2 standby(s) but only 1 stream (pg2); commits wait until pg3 rejoins",
        );
        const [{ synchronous_standby_names: names }] = await sql(port(1), PW, "SHOW synchronous_standby_names");
        expect(names).toBe('ANY 2 ("pg2", "pg3")');
        // A normal commit waits for the second standby: it completes once pg3 is back.
        const pending = sql(port(1), PW, "INSERT INTO fo_data VALUES (300001)");
        await eventually("the commit waiting for a synchronous standby", 30_000, async () => {
            const rows = await sql(port(1), PW, "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
            return rows.length === 1;
        });
        const rejoin = await ops("rejoin", "--node", "pg3");
        expect(rejoin.code).toBe(0);
        await expect(pending).resolves.toEqual([]);
        expect(await streamingFrom(1)).toEqual({ pg2: "streaming", pg3: "streaming" });
    });
});
