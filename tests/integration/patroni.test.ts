// failover=patroni for real: Patroni + etcd + HAProxy from the local image, through the live
// harness. Its own stack name, subnet and ports.
import { Client } from "pg";
import { AckWriter } from "../../ops/ack-writer";
import { patroniCluster } from "../../ops/patroni";
import { run } from "../../harness/docker-api";
import {
    caForPort,
    containerIdentity,
    dockerNames,
    eventually,
    forceCleanup,
    live,
    liveOk,
    LiveResult,
    localSuperuser,
    runScript,
    sql,
    stackOutputs,
    testStackArgs,
} from "../support/live-client";
import { RotationWriter } from "../support/tls";

jest.setTimeout(360_000);

const STACK = `pt${process.pid}`;
const PORT = 25432; // pg1; pgN is PORT + N - 1; rw endpoint PORT + 10, ro PORT + 11
const PW = "pt-super-pw-1";
const RW = PORT + 10;
const RO = PORT + 11;
const ARGS = testStackArgs({
    stack: STACK,
    subnet: "172.29.98.0/24",
    port: PORT,
    password: PW,
    replicas: 2,
    extra: ["failover=patroni"],
});
const NODES = ["pg1", "pg2", "pg3"];

const up = (...config: string[]) => liveOk(["up", ...ARGS, ...config.flatMap((c) => ["--config", c])]);
const changed = (res: LiveResult) => res.actions.filter(([a]) => a !== "unchanged").map(([a, , n]) => `${a} ${n}`);

interface Member {
    name: string;
    role: string;
    state: string;
}

/** Python run in pg2 as postgres (REST API and etcd listen on the cluster network only): its stdout, trimmed. */
async function pythonInPg2(code: string, ...args: string[]): Promise<string> {
    const res = await run(["docker", "exec", "-u", "postgres", `${STACK}-pg2`, "python3", "-c", code, ...args]);
    return res.stdout.trim();
}

/** GET /cluster through any running node (the REST API is not published), as the day-2 commands ask it (HTTPS with the node's certificate). */
async function members(): Promise<Member[]> {
    return (await patroniCluster(STACK)).cluster.members;
}

const leader = async () => (await members()).find((m) => m.role === "leader")?.name;

/** Nodes that accept writes right now (pg_is_in_recovery() = false), asked over their published ports. */
async function writableNodes(): Promise<string[]> {
    const out: string[] = [];
    await Promise.all(
        NODES.map(async (n, i) => {
            const c = new Client(localSuperuser(PORT + i, PW, { connectionTimeoutMillis: 1000, query_timeout: 1000 }));
            c.on("error", () => undefined);
            try {
                await c.connect();
                const { rows } = await c.query("SELECT pg_is_in_recovery() AS r");
                if (rows[0].r === false) out.push(n);
            } catch {
                // down or unreachable: not writable
            } finally {
                await c.end().catch(() => undefined);
            }
        }),
    );
    return out.sort();
}

/** An {@link AckWriter} through the read-write endpoint, and a watch of how many nodes accept writes (every 100 ms). */
class Writer extends AckWriter {
    maxWritable = 0;
    private watching = true;
    private watch?: Promise<void>;

    /** `firstId`: ids already used by an earlier writer would fail on the primary key, never be acknowledged. */
    constructor(firstId = 1) {
        super({ host: "127.0.0.1", port: RW, password: PW, ca: caForPort(RW), table: "pt_writes" }, firstId);
    }

    start(): void {
        super.start();
        this.watch = (async () => {
            while (this.watching) {
                this.maxWritable = Math.max(this.maxWritable, (await writableNodes()).length);
                await new Promise((r) => setTimeout(r, 100));
            }
        })();
    }

    async stop(): Promise<void> {
        this.watching = false;
        await super.stop();
        await this.watch;
    }
}

/** Ids in `acked` missing from the table on the current leader (through the rw endpoint). */
async function missing(acked: number[]): Promise<number[]> {
    // Right after a role change HAProxy may still be moving the endpoint (health checks every
    // second): retry the read until the endpoint answers, within a deadline.
    let rows: Array<{ id: number }> = [];
    await eventually("the read-write endpoint answers", 30_000, async () => {
        try {
            rows = await sql<{ id: number }>(RW, PW, "SELECT id FROM pt_writes");
            return true;
        } catch (err) {
            return (err as Error).message;
        }
    });
    const have = new Set(rows.map((r) => Number(r.id)));
    return acked.filter((id) => !have.has(id));
}

describe(`failover=patroni (stack ${STACK})`, () => {
    let killed = "";
    beforeAll(async () => {
        await forceCleanup(STACK);
    });
    afterAll(async () => {
        await live(["down", "--stack", STACK]);
        await forceCleanup(STACK);
    });

    test("up: Patroni + 3 etcd members + HAProxy, pg1 bootstraps as leader, checks pass", async () => {
        const res = await up();
        expect(res.stderr).toMatch(/0 failed/);
        const out = await stackOutputs(STACK);
        expect(out.checkReport.ok).toBe(true);
        const checks = out.checkReport.checks.map((c: { check: string; node: string }) => `${c.check}@${c.node}`);
        expect(checks).toEqual(
            expect.arrayContaining([
                "patroni-one-leader@" + STACK,
                "patroni-roles@" + STACK,
                "canary-replicated@pg3",
                "replica-read-only@pg2",
                "endpoint-rw@endpoint-rw",
                "endpoint-ro@endpoint-ro",
            ]),
        );
        expect(checks.some((c: string) => c.startsWith("etcd-healthy@"))).toBe(true);
        expect(await leader()).toBe("pg1");
        expect((await dockerNames("container", `${STACK}-`)).sort()).toEqual(
            ["backup", "etcd1", "etcd2", "etcd3", "haproxy", "pg1", "pg2", "pg3"].map((n) => `${STACK}-${n}`),
        );
        // Nothing of Patroni's or etcd's is published; only PostgreSQL and the two endpoints are.
        const ports = await run([
            "docker",
            "ps",
            "--filter",
            `label=pg-replication.cluster=${STACK}`,
            "--format",
            "{{.Names}} {{.Ports}}",
        ]);
        expect(ports.stdout).not.toMatch(/8008|2379|2380/);
        for (const c of await dockerNames("container", `${STACK}-`)) {
            const inspect = await run([
                "docker",
                "inspect",
                "-f",
                "{{json .Config.Env}} {{json .Config.Cmd}} {{json .Config.Entrypoint}}",
                c,
            ]);
            expect(inspect.stdout).not.toContain(PW);
            const logs = await run(["docker", "logs", c]);
            expect(logs.stdout + logs.stderr).not.toContain(PW);
        }
        const perms = await run([
            "docker",
            "exec",
            `${STACK}-pg2`,
            "stat",
            "-c",
            "%a %U",
            "/etc/pg-replication/patroni.yml",
            "/var/lib/postgresql/patroni.yml",
        ]);
        expect(perms.stdout.trim().split("\n")).toEqual(["600 root", "600 postgres"]);
        // Only pg1 (primaryNode) may bootstrap: the others started beside it without the section.
        for (const [node, sections] of [
            ["pg1", "1"],
            ["pg2", "0"],
            ["pg3", "0"],
        ]) {
            const yml = await run([
                "docker",
                "exec",
                `${STACK}-${node}`,
                "grep",
                "-c",
                "^bootstrap:",
                "/var/lib/postgresql/patroni.yml",
            ]);
            expect(`${node} ${yml.stdout.trim()}`).toBe(`${node} ${sections}`);
        }
        await sql(RW, PW, "CREATE TABLE pt_writes (id bigint PRIMARY KEY)");
        const [ro] = await sql(RO, PW, "SELECT pg_is_in_recovery() AS r");
        expect(ro.r).toBe(true);
    });

    test("tls required: the REST API and etcd refuse plain HTTP and a client without a certificate; walsenders and clients through HAProxy on TLS", async () => {
        // Asked from inside pg2 (both listen on the cluster network only), with Python's urllib.
        const ask = async (url: string, withCert: boolean) => {
            const py = [
                "import ssl, sys, urllib.request",
                "ctx = ssl.create_default_context(cafile='/etc/ssl/pg-replication/ca.crt')",
                "ctx.load_cert_chain('/etc/ssl/pg-replication/server.crt', '/etc/ssl/pg-replication/server.key') if sys.argv[2] == 'cert' else None",
                "try:",
                "    print(urllib.request.urlopen(sys.argv[1], timeout=3, context=ctx).status)",
                "except Exception as e:",
                "    print(type(e).__name__, e)",
            ].join("\n");
            return pythonInPg2(py, url, withCert ? "cert" : "none");
        };
        const rest = "172.29.98.11:8008"; // pg1's REST API
        const etcd = "172.29.98.21:2379"; // etcd1's client port
        expect(await ask(`https://${rest}/cluster`, true)).toBe("200");
        expect(await ask(`http://${rest}/cluster`, false)).toMatch(/Connection reset|RemoteDisconnected|BadStatusLine/);
        // TLS 1.3 checks the client's certificate after the client has finished its handshake: the
        // refusal arrives as the certificate_required alert or, when the request crosses the server's
        // close, as a reset (seen in CI). Either is a refusal; the same request with a certificate got 200.
        expect(await ask(`https://${rest}/cluster`, false)).toMatch(
            /CERTIFICATE_REQUIRED|certificate required|Connection reset by peer/,
        );
        expect(await ask(`https://${etcd}/health`, true)).toBe("200");
        expect(await ask(`http://${etcd}/health`, false)).toMatch(
            /RemoteDisconnected|BadStatusLine|Connection reset|HTTP Error 400/,
        );
        expect(await ask(`https://${etcd}/health`, false)).toMatch(
            /CERTIFICATE_REQUIRED|certificate required|bad certificate|Connection reset by peer/,
        );
        const leaderNode = await leader();
        const [walsenders] = await sql(
            Number(leaderNode?.slice(2)) + PORT - 1,
            PW,
            "SELECT count(*)::int AS n, bool_and(s.ssl) AS ssl FROM pg_stat_replication JOIN pg_stat_ssl s USING (pid)",
        );
        expect(walsenders).toEqual({ n: 2, ssl: true });
        for (const port of [RW, RO]) {
            const [mine] = await sql(port, PW, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
            expect(mine).toEqual({ ssl: true, version: "TLSv1.3" });
        }
    });

    test("tlsRotation under a writer through HAProxy: Patroni's REST API, etcd and PostgreSQL serve new certificates, no client failed, no node, etcd member or HAProxy restarted", async () => {
        const kept = [
            ...NODES.map((n) => `${STACK}-${n}`),
            `${STACK}-etcd1`,
            `${STACK}-etcd2`,
            `${STACK}-etcd3`,
            `${STACK}-haproxy`,
        ];
        const identities = () => Promise.all(kept.map((c) => containerIdentity(c)));
        const before = await identities();
        const serial = (hostPort: string) =>
            pythonInPg2(
                [
                    "import socket, ssl, sys",
                    "ctx = ssl.create_default_context(cafile='/etc/ssl/pg-replication/ca.crt')",
                    "ctx.load_cert_chain('/etc/ssl/pg-replication/server.crt', '/etc/ssl/pg-replication/server.key')",
                    "h, p = sys.argv[1].split(':')",
                    "with ctx.wrap_socket(socket.create_connection((h, int(p)), 3), server_hostname=h) as t: print(t.getpeercert()['serialNumber'])",
                ].join("\n"),
                hostPort,
            );
        const ends = ["172.29.98.11:8008", "172.29.98.21:2379", "172.29.98.22:2380"];
        const serialsBefore = await Promise.all(ends.map(serial));
        const writer = new RotationWriter(localSuperuser(RW, PW));
        await writer.start();
        try {
            const res = await up("tlsRotation=1");
            // Only the backup repository restarts (its pgBackRest TLS server reads certificates at start only).
            expect(
                res.actions.filter(([a, type]) => a !== "unchanged" && type === "docker:index/container:Container"),
            ).toEqual([]);
            // Patroni takes its REST certificate on its next loop after the SIGHUP.
            await eventually("new certificates served", 20_000, async () => {
                const now = await Promise.all(ends.map(serial));
                return now.every((s, i) => s !== "" && s !== serialsBefore[i]);
            });
            await eventually("writes after the rotation", 20_000, () =>
                Promise.resolve(writer.writesAfter(Date.now() - 1000) > 5),
            );
        } finally {
            await writer.stop();
        }
        expect(writer.failures).toEqual([]);
        expect(await identities()).toEqual(before);
    });

    test("a second up changes nothing", async () => {
        expect(changed(await up())).toEqual([]);
    });

    test("sync on (quorum), first, then off: online, no container restarted", async () => {
        const before = await Promise.all(NODES.map((n) => containerIdentity(`${STACK}-${n}`)));
        const quorum = await up("syncMode=sync", "syncMethod=any");
        expect(changed(quorum).sort()).toEqual(["updated pg-checks", "updated pg-patroni-config"]);
        expect((await stackOutputs(STACK)).checkReport.ok).toBe(true);
        const states = await sql<{ application_name: string; sync_state: string }>(
            RW,
            PW,
            "SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1",
        );
        expect(states.map((s) => s.sync_state)).toEqual(["quorum", "quorum"]);
        expect((await members()).filter((m) => m.role === "quorum_standby").length).toBe(2);

        await up("syncMode=sync", "syncMethod=first");
        expect((await members()).filter((m) => m.role === "sync_standby").length).toBe(1);
        await up("syncMode=async");
        expect((await members()).filter((m) => m.role === "replica").length).toBe(2);
        expect(await Promise.all(NODES.map((n) => containerIdentity(`${STACK}-${n}`)))).toEqual(before);
        // Three deployments, each a preview pass and an update pass (the guard runs in both).
    }, 600_000);

    test("docker kill of the leader in sync mode, the backup repository frozen: a new leader behind the same endpoint, no acknowledged write lost, never two writable", async () => {
        await up("syncMode=sync", "syncMethod=any");
        const writer = new Writer();
        writer.start();
        try {
            await eventually("writes acknowledged", 20_000, () => writer.acked.length > 50);
            killed = (await leader()) as string;
            // A killed container with restart unless-stopped is restarted by Docker within a second, and
            // Patroni, finding its own leader key still valid, simply stays leader. To model a node that
            // is gone, it keeps no restart policy until the next test starts it again.
            await run(["docker", "update", "--restart=no", `${STACK}-${killed}`]);
            // The backup repository frozen too (its host lost with the leader's, say): a promotion asks
            // restore_command for timeline history files and waits for each answer, which must come
            // within seconds (io-timeout for archive-get), not pgBackRest's default minute per call.
            await run(["docker", "pause", `${STACK}-backup`]);
            const killStart = Date.now();
            await run(["docker", "kill", `${STACK}-${killed}`]);
            writer.markKill(killStart, Date.now());
            // Within the key's ttl (20 s) status tells the truth: the container exited, Patroni still
            // names it leader, and when the key runs out; no node takes writes, so it exits 1.
            const status = await runScript("status", ["--stack", STACK, "--live"]);
            const line = status.stdout.split("\n").find((l) => l.startsWith(`${killed} `)) ?? status.stdout;
            expect(line).toMatch(/exited \(patroni still lists it as leader; its leader key expires in \d+ s\)/);
            expect(status.code).toBe(1);
            await eventually(
                "a write acknowledged through the rw endpoint after the kill",
                120_000,
                () => writer.firstAckAfter !== undefined,
            );
        } finally {
            await writer.stop();
            await run(["docker", "unpause", `${STACK}-backup`]);
        }
        const newLeader = await leader();
        expect(newLeader).toBeDefined();
        expect(newLeader).not.toBe(killed);
        expect(await missing(writer.acked)).toEqual([]);
        expect(writer.maxWritable).toBe(1);
        process.stderr.write(
            `patroni failover: first acknowledged write ${writer.firstAckAfter} ms after docker kill of ${killed}; ${writer.acked.length} acknowledged\n`,
        );
        // ttl 20 + Patroni's 2 s check of the old leader + the promotion's restore_command calls
        // against the frozen repository (the first gives up within about 6 s; the wrapper fails the
        // rest at once) + HAProxy's checks, with room for a loaded 2-core machine. With pgBackRest's
        // default timeouts no write came for minutes; with a 6 s wait in every call, after 61.7 s.
        expect(writer.firstAckAfter).toBeLessThan(45_000);
    });

    test("the killed leader, started again, comes back as a replica", async () => {
        await run(["docker", "update", "--restart=unless-stopped", `${STACK}-${killed}`]);
        await run(["docker", "start", `${STACK}-${killed}`]);
        await eventually(`${killed} streaming`, 90_000, async () => {
            const m = (await members()).find((x) => x.name === killed);
            return m?.state === "streaming" && m.role !== "leader" ? true : JSON.stringify(m);
        });
        expect(await writableNodes()).toHaveLength(1);
    });

    test("up after the automatic failover changes no container: the checks run again (a node was started), then nothing changes", async () => {
        // The killed leader was started again, so its start time moved (infra/node-starts.ts).
        const res = await up("syncMode=sync", "syncMethod=any");
        expect(changed(res)).toEqual(["updated pg-checks"]);
        const out = await stackOutputs(STACK);
        expect(out.checkReport.ok).toBe(true);
        // Outputs and hints tell the truth after the failover: the leader Patroni elected, when it was
        // read, the others as replicas, and a primaryConnectionString that takes writes (it used to
        // name the old leader, read-only now).
        const now = await leader();
        expect(now).not.toBe(killed);
        expect(out.primary).toMatchObject({ node: now, container: `${STACK}-${now}` });
        expect(Date.parse(out.primary.roleReadAt)).toBeGreaterThan(Date.now() - 120_000);
        expect(out.replicas.map((r: { node: string }) => r.node).sort()).toEqual(NODES.filter((n) => n !== now));
        expect(res.stderr).toContain(`primary: ${now} (${STACK}-${now}, 127.0.0.1:`);
        expect(res.stderr).toContain("as the checks found it at");
        expect(res.stderr).toContain(`connect: psql "$(npm run -s live -- output rwConnectionString --stack ${STACK}`);
        const c = new Client({ connectionString: out.primaryConnectionString, connectionTimeoutMillis: 5000 });
        await c.connect();
        try {
            await c.query("CREATE TABLE IF NOT EXISTS outputs_tell_truth (id int)");
            await c.query("INSERT INTO outputs_tell_truth VALUES (1)");
        } finally {
            await c.end();
        }
        expect(changed(await up("syncMode=sync", "syncMethod=any"))).toEqual([]);
    });

    test("backups follow the election: the new leader archives on its timeline, a backup succeeds, a lost member is restored from it", async () => {
        const now = (await leader()) as string;
        const walFile = await run([
            "docker",
            "exec",
            "-u",
            "postgres",
            `${STACK}-${now}`,
            "psql",
            "-XAtqc",
            "CREATE TABLE IF NOT EXISTS backup_probe (t timestamptz); INSERT INTO backup_probe VALUES (now()); SELECT pg_walfile_name(pg_switch_wal())",
        ]);
        const timeline = walFile.stdout.trim().slice(0, 8);
        expect(timeline).not.toBe("00000001");
        const b = await runScript("backup", ["--stack", STACK, "--live", "--json", "--type", "incr"]);
        expect(b.code).toBe(0);
        expect(JSON.parse(b.stdout).backup.walStart.slice(0, 8)).toBe(timeline);

        // A replica whose volume is lost: Patroni creates it again from the repository's backup
        // (create_replica_methods: pgbackrest first) and it streams the rest from the leader.
        const victim = NODES.find((n) => n !== now) as string;
        await run(["docker", "rm", "-f", `${STACK}-${victim}`]);
        await run(["docker", "volume", "rm", "-f", `${STACK}-${victim}-data`]);
        await up("syncMode=sync", "syncMethod=any");
        await eventually(`${victim} streaming again`, 120_000, async () => {
            const m = (await members()).find((x) => x.name === victim);
            return m?.state === "streaming" ? true : JSON.stringify(m);
        });
        const logs = await run(["docker", "logs", `${STACK}-${victim}`]);
        expect(logs.stdout + logs.stderr).toContain("replica has been created using pgbackrest");
        expect(
            Number(
                (
                    await sql<{ n: string }>(PORT + NODES.indexOf(victim), PW, "SELECT count(*) AS n FROM backup_probe")
                )[0].n,
            ),
        ).toBeGreaterThan(0);
    });

    test("one etcd member of three stopped: leader and writes unchanged", async () => {
        const before = await leader();
        await run(["docker", "stop", `${STACK}-etcd2`]);
        try {
            await new Promise((r) => setTimeout(r, 8_000));
            expect(await leader()).toBe(before);
            await sql(RW, PW, "INSERT INTO pt_writes (id) VALUES (-1)");
            expect(await writableNodes()).toEqual([before]);
        } finally {
            await run(["docker", "start", `${STACK}-etcd2`]);
        }
    });

    test("postgres crash in the leader (Patroni alive): another node takes writes within seconds, nothing acknowledged lost", async () => {
        const crashed = (await leader()) as string;
        const writer = new Writer(1_000_000);
        writer.start();
        try {
            await eventually("writes acknowledged", 20_000, () => writer.acked.length > 20);
            const started = Date.now();
            await run(["docker", "exec", `${STACK}-${crashed}`, "pkill", "-9", "-x", "postgres"]);
            writer.markKill(started, Date.now());
            await eventually("a write acknowledged after the crash", 60_000, () => writer.firstAckAfter !== undefined);
        } finally {
            await writer.stop();
        }
        process.stderr.write(
            `patroni crash failover: first acknowledged write ${writer.firstAckAfter} ms after pkill -9 postgres on ${crashed}\n`,
        );
        expect(await missing(writer.acked)).toEqual([]);
        expect(writer.maxWritable).toBe(1);
        // primary_start_timeout 0: Patroni fails over rather than restarting postgres in place.
        expect(writer.firstAckAfter).toBeLessThan(15_000);
        await eventually(`${crashed} back as a streaming replica`, 90_000, async () => {
            const m = (await members()).find((x) => x.name === crashed);
            return m?.state === "streaming" ? true : JSON.stringify(m);
        });
    });

    test("down removes everything, etcd data included", async () => {
        await liveOk(["down", "--stack", STACK]);
        expect(await dockerNames("container", `${STACK}-`)).toEqual([]);
        expect(await dockerNames("volume", `${STACK}-`)).toEqual([]);
        expect(await dockerNames("network", `${STACK}-`)).toEqual([]);
    });

    test("a new up of the same stack bootstraps cleanly: pg1 leads an empty cluster", async () => {
        await up();
        expect((await stackOutputs(STACK)).checkReport.ok).toBe(true);
        expect(await leader()).toBe("pg1");
        const [t] = await sql(RW, PW, "SELECT to_regclass('pt_writes') AS t");
        expect(t.t).toBeNull();
    });
});
