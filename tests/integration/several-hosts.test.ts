// Issue 19: one Patroni cluster over three simulated Docker hosts (scripts/sim-hosts.sh: a network
// namespace and its own dockerd each), deployed through the live harness with `hosts`. Each host runs
// one node, one etcd member and one HAProxy on its own network; replication crosses hosts over TLS.
// Then the leader's host is cut off under a writer that uses a surviving host's endpoint: a new
// leader takes the writes, the isolated old leader stops accepting writes, no acknowledged id is
// lost, and once the link is back the old leader follows as a replica. `destroy` leaves nothing on
// any host. With 2 ms added to every host's outgoing packets (sim-hosts.sh delay), sync commits still
// succeed and take the longer round trip. Only addresses inside the simulated hosts (10.99.0.0/24) are
// contacted.
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { Client, ClientConfig } from "pg";
import { SIM_HOSTS_SCRIPT, simHosts } from "../../bench/host";
import { DockerHost } from "../../model/hosts";
import { CommitWriter } from "../../ops/ack-writer";
import { pollUntil } from "../../ops/ops";
import { exec } from "../support/faults";
import { selfSignedCert } from "../support/tls";
import { live, liveOk, ROOT, runScript, stackOutputs, testStackArgs } from "../support/live-client";

jest.setTimeout(600_000);

const STACK = `mh${process.pid}`;
const PW = "mh-super-pw-1";
const PORT = 27432; // endpoints on every host: rw PORT + 10, ro PORT + 11
const RW = PORT + 10;
/** The three simulated hosts (h1 … h3, as sim-hosts.sh gives them), known once they are up (beforeAll). */
let HOSTS: DockerHost[] = [];
/** `live up` arguments of a Patroni stack named `stack` over {@link HOSTS}, with `extra` config. */
const hostsStackArgs = (stack: string, extra: string[]) =>
    testStackArgs({
        stack,
        subnet: "172.29.120.0/24",
        port: PORT,
        password: PW,
        replicas: 2,
        extra: ["failover=patroni", `hosts=${JSON.stringify(HOSTS)}`, ...extra],
    });
/** `live up` arguments of the suite's stack. */
const stackArgs = () =>
    hostsStackArgs(STACK, [
        "syncMode=sync",
        // The backup repository on h1, with the first leader: cutting h1 off loses both, and the
        // promotion's restore_command calls must not wait on a repository that cannot answer.
        'placement={"backup":"h1"}',
        "metrics=true",
        // Its repository outlives the destroy, for the restore across hosts at the end.
        "keepBackups=true",
    ]);
const TTL_MS = 20_000;
/** The stack restored across the hosts from {@link STACK}'s repository, once that one is destroyed. */
const RESTORED = `${STACK}r`;
/** What the restore must bring back, read from STACK before its destroy: its rows, its repository's passphrase. */
const SOURCE = { rows: -1, cipherPass: "" };

const sim = (...args: string[]) => exec(["bash", SIM_HOSTS_SCRIPT, ...args], 240_000);
/**
 * Host 3's engine is reached over tcp:// with TLS (sim-hosts.sh up --tcp-tls; its client material in
 * the secret engineTls) instead of its socket, so every step of this suite goes through it too. The
 * host, and the directory of the client's ca.pem, cert.pem, key.pem.
 */
const TCP_HOST = 3;
let CLIENT_TLS = "";
/** The docker CLI's options for `engine`: TLS verified both ways for tcp://, with `dir`'s files. */
const tlsOptions = (engine: string, dir = CLIENT_TLS) =>
    engine.startsWith("tcp://")
        ? ["--tlsverify", "--tlscacert", `${dir}/ca.pem`, "--tlscert", `${dir}/cert.pem`, "--tlskey", `${dir}/key.pem`]
        : [];
const docker = (host: number, ...args: string[]) =>
    exec(["docker", "-H", HOSTS[host - 1].engine, ...tlsOptions(HOSTS[host - 1].engine), ...args]);

/**
 * Host 3 on tcp:// from now on, its client material recorded as the secret engineTls (read from a
 * private file on standard input, as `config set --secret` takes it: never on a command line).
 */
async function reachHostOverTcp(stack = STACK): Promise<void> {
    CLIENT_TLS = (await sim("tls-dir")).stdout.trim();
    const tcp = (await sim("tcp", String(TCP_HOST))).stdout.trim();
    HOSTS[TCP_HOST - 1] = { ...HOSTS[TCP_HOST - 1], engine: tcp };
    const read = (f: string) => fs.readFileSync(path.join(CLIENT_TLS, f), "utf8");
    const material = { ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "engine-tls-"));
    try {
        const file = path.join(dir, "engine-tls.json");
        fs.writeFileSync(file, JSON.stringify({ [`h${TCP_HOST}`]: material }), { mode: 0o600 });
        const set = await exec([
            "bash",
            "-c",
            'exec node -r ./scripts/register-ts.js harness/cli.ts config set --secret engineTls --stack "$1" < "$2"',
            "-",
            stack,
            file,
        ]);
        if (set.code !== 0) throw new Error(`config set --secret engineTls failed: ${set.stderr}`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** The names of the stack's containers and volumes on host `n`'s engine. */
async function objectsOn(n: number, stack = STACK): Promise<string[]> {
    const ps = await docker(n, "ps", "-a", "--format", "{{.Names}}");
    const vols = await docker(n, "volume", "ls", "--format", "{{.Name}}");
    return [...ps.stdout.split("\n"), ...vols.stdout.split("\n")].filter((x) => x.startsWith(`${stack}-`)).sort();
}

/** A superuser session to `host:port`, verifying the server against the stack's CA by address. */
function client(host: string, port: number, stack = STACK): Client {
    const ca = fs.readFileSync(path.join(ROOT, ".pg-replication", `${stack}-ca.crt`), "utf8");
    const cfg: ClientConfig = {
        host,
        port,
        user: "postgres",
        password: PW,
        database: "postgres",
        ssl: { ca, rejectUnauthorized: true },
        connectionTimeoutMillis: 3000,
        query_timeout: 5000,
    };
    return new Client(cfg);
}

async function query<T>(host: string, port: number, text: string, stack = STACK): Promise<T[]> {
    const c = client(host, port, stack);
    await c.connect();
    try {
        return (await c.query(text)).rows as T[];
    } finally {
        await c.end();
    }
}

/** The address of the node the read-write endpoint on `host` reaches, or an error text. */
async function leaderVia(host: string): Promise<string> {
    try {
        const rows = await query<{ a: string }>(host, RW, "SELECT host(inet_server_addr()) AS a");
        return rows[0].a;
    } catch (err) {
        return `unreachable: ${(err as Error).message}`;
    }
}

/** Commits per measurement in the 2 ms test (each measurement at most 20 s). */
const DELAY_COMMITS = 60;

/** {@link DELAY_COMMITS} autocommit inserts into `table` through `host`'s read-write endpoint, one at a time. */
async function commitsVia(host: string, table: string, firstId: number): Promise<CommitWriter<string>> {
    const writer = new CommitWriter<string>({
        endpoint: () => host,
        client: (h) => client(h, RW),
        table,
        firstId,
        maxRows: DELAY_COMMITS,
        maxMs: 20_000,
        now: () => performance.now(),
    });
    writer.start();
    await writer.finished();
    return writer;
}

/** The median time from sending an insert to its acknowledgement, in ms. */
function medianCommitMs(writer: CommitWriter<string>): number {
    const ms = writer.acks.map((a) => a.at - a.begunAt).sort((a, b) => a - b);
    return ms[Math.floor(ms.length / 2)];
}

/** psql inside node `n`'s container on its own host (the unix socket: no network needed). */
function psqlOnHost(n: number, sql: string) {
    return docker(n, "exec", "-u", "postgres", `${STACK}-pg${n}`, "psql", "-XAtqc", sql);
}

/** GET `url` as the exporter's `prometheus` user (the password in a header, never on a command line). */
function scrape(url: string, password: string): Promise<{ status: number; body: string }> {
    const auth = `Basic ${Buffer.from(`prometheus:${password}`).toString("base64")}`;
    return new Promise((resolve) => {
        const req = http.get(url, { headers: { Authorization: auth }, timeout: 10_000 }, (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("timeout", () => req.destroy(new Error("no answer within 10 s")));
        req.on("error", (err) => resolve({ status: 0, body: err.message }));
    });
}

/**
 * Shell, run in an exporter's container as postgres (the exporter's user): the TCP listening sockets the
 * exporter process holds (the container shares its host's network: /proc/net/tcp is the host's), then
 * whether its unix socket listens.
 */
const EXPORTER_LISTENERS =
    "pid=$(pgrep -o -x prometheus-post); " +
    "for i in $(ls -l /proc/$pid/fd | sed -n 's/.*socket:\\[\\([0-9]*\\)\\]$/\\1/p'); do " +
    'awk -v i=$i \'$4 == "0A" && $10 == i { print "tcp listener", $2 }\' /proc/net/tcp /proc/net/tcp6; done; ' +
    "grep -c ' 00010000 0001 01 .* /run/pg-replication-exporter/exporter.sock$' /proc/net/unix";

describe(`a Patroni cluster over three simulated hosts (stack ${STACK})`, () => {
    beforeAll(async () => {
        await sim("down");
        const up = await sim("up", "3", "--tcp-tls");
        if (up.code !== 0) throw new Error(`sim-hosts up 3 failed: ${up.stderr}`);
        HOSTS = await simHosts(3);
        await reachHostOverTcp();
        await liveOk(["up", ...stackArgs()]);
    });
    afterAll(async () => {
        await sim("heal", "1");
        await live(["down", "--stack", RESTORED]);
        await live(["down", "--stack", STACK]);
        await sim("down");
    });

    test("each host runs one node, one etcd member and one HAProxy on its own engine; the default engine runs none", async () => {
        for (const n of [1, 2, 3]) {
            const ps = await docker(n, "ps", "--format", "{{.Names}}");
            const names = ps.stdout.split("\n").filter((x) => x.startsWith(`${STACK}-`));
            expect(names).toEqual(
                expect.arrayContaining([`${STACK}-pg${n}`, `${STACK}-etcd${n}`, `${STACK}-haproxy-h${n}`]),
            );
            expect(names.filter((x) => /-(pg|etcd)\d+$/.test(x))).toHaveLength(2);
            const mode = await docker(n, "inspect", "-f", "{{.HostConfig.NetworkMode}}", `${STACK}-pg${n}`);
            expect(mode.stdout.trim()).toBe("host");
        }
        expect((await docker(1, "ps", "--format", "{{.Names}}")).stdout).toContain(`${STACK}-backup`);
        const local = await exec(["docker", "ps", "-a", "--format", "{{.Names}}"]);
        expect(local.stdout.split("\n").filter((x) => x.startsWith(`${STACK}-`))).toEqual([]);
    });

    test("host 3's engine is reached over tcp:// with TLS only: its client material in a private directory, status through it, a client without a certificate from its CA refused", async () => {
        const tcp = HOSTS[TCP_HOST - 1].engine;
        const certDir = path.join(ROOT, ".pg-replication", `${STACK}-docker-tls`, tcp.slice("tcp://".length));
        expect(fs.statSync(certDir).mode & 0o777).toBe(0o700);
        expect(fs.statSync(path.join(certDir, "key.pem")).mode & 0o777).toBe(0o600);
        const status = await runScript("status", ["--stack", STACK, "--live", "--json"]);
        const members = (
            JSON.parse(status.stdout) as { members: Array<{ node: string; host?: string; state: string }> }
        ).members;
        expect(members.find((m) => m.node === `pg${TCP_HOST}`)).toMatchObject({
            host: `h${TCP_HOST}`,
            state: "streaming",
        });
        const plain = await exec(["docker", "-H", tcp, "ps"]);
        expect(plain.code).not.toBe(0);
        expect(plain.stderr).toContain("Client sent an HTTP request to an HTTPS server");
        // A client certificate the engine's CA did not sign: the TLS handshake fails.
        const intruder = fs.mkdtempSync(path.join(os.tmpdir(), "intruder-"));
        try {
            fs.copyFileSync(path.join(CLIENT_TLS, "ca.pem"), path.join(intruder, "ca.pem"));
            selfSignedCert("intruder", path.join(intruder, "cert.pem"), path.join(intruder, "key.pem"));
            const refused = await exec(["docker", "-H", tcp, ...tlsOptions(tcp, intruder), "ps"]);
            expect(refused.code).not.toBe(0);
            expect(refused.stderr).toMatch(/tls: bad certificate/);
        } finally {
            fs.rmSync(intruder, { recursive: true, force: true });
        }
    });

    test("lag reads the leader on its host's engine: both standbys streaming from their hosts, no breach", async () => {
        const res = await runScript("lag", ["--stack", STACK, "--live", "--json"]);
        expect(res.stderr).toBe("");
        const report = JSON.parse(res.stdout) as {
            primary: string;
            replicas: Array<{ node: string; state: string; clientAddr: string | null }>;
            breaches: unknown[];
        };
        expect(report.primary).toBe("pg1");
        expect(report.replicas.map((r) => [r.node, r.state, r.clientAddr])).toEqual([
            ["pg2", "streaming", HOSTS[1].address],
            ["pg3", "streaming", HOSTS[2].address],
        ]);
        expect(report.breaches).toEqual([]);
        expect(res.code).toBe(0);
    });

    test("replication crosses hosts over TLS, from the hosts' addresses, and every host's endpoint reaches the leader", async () => {
        const rows = await query<{ application_name: string; client_addr: string; sync_state: string; ssl: boolean }>(
            HOSTS[0].address,
            RW,
            "SELECT application_name, host(client_addr) AS client_addr, sync_state, ssl FROM pg_stat_replication " +
                "JOIN pg_stat_ssl USING (pid) ORDER BY application_name",
        );
        expect(rows).toEqual([
            { application_name: "pg2", client_addr: HOSTS[1].address, sync_state: "quorum", ssl: true },
            { application_name: "pg3", client_addr: HOSTS[2].address, sync_state: "quorum", ssl: true },
        ]);
        expect(await Promise.all(HOSTS.map((h) => leaderVia(h.address)))).toEqual(HOSTS.map(() => HOSTS[0].address));
        const plain = await exec([
            "docker",
            "run",
            "--rm",
            "--network",
            "host",
            "pg-replication/postgres:17-local",
            "psql",
            `postgresql://postgres:${PW}@${HOSTS[1].address}:5432/postgres?sslmode=disable&connect_timeout=3`,
            "-XAtc",
            "SELECT 1",
        ]);
        expect(plain.code).not.toBe(0);
        expect(plain.stderr).toMatch(/pg_hba.conf rejects connection .*no encryption/);
    });

    test("2 ms between hosts: sync commits still succeed, each waiting for a standby across the delayed links", async () => {
        await query(HOSTS[0].address, RW, "CREATE TABLE IF NOT EXISTS mh_delay (id bigint PRIMARY KEY)");
        const before = await commitsVia(HOSTS[0].address, "mh_delay", 1);
        expect(before.acked.length).toBeGreaterThanOrEqual(DELAY_COMMITS);
        expect((await sim("delay", "2")).code).toBe(0);
        try {
            const status = (await sim("status")).stdout.trim().split("\n");
            expect(status.filter((l) => /delay=2ms\((netem|nfqueue)\)$/.test(l))).toHaveLength(3);
            const during = await commitsVia(HOSTS[0].address, "mh_delay", 1_000_000);
            expect(during.errors).toBe(0);
            expect(during.acked.length).toBeGreaterThanOrEqual(DELAY_COMMITS);
            // A commit now waits for a standby's flush (h1 -> h2 or h3 and back: 2 ms each way) and its
            // answer to this machine leaves h1 2 ms late: 6 ms more; at least 4 allows for noise.
            expect(medianCommitMs(during) - medianCommitMs(before)).toBeGreaterThanOrEqual(4);
            const rows = await query<{ application_name: string; state: string; sync_state: string }>(
                HOSTS[0].address,
                RW,
                "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY application_name",
            );
            expect(rows).toEqual([
                { application_name: "pg2", state: "streaming", sync_state: "quorum" },
                { application_name: "pg3", state: "streaming", sync_state: "quorum" },
            ]);
            const stored = await query<{ id: string }>(HOSTS[0].address, RW, "SELECT id FROM mh_delay");
            const have = new Set(stored.map((r) => Number(r.id)));
            expect(during.acked.filter((id) => !have.has(id))).toEqual([]);
        } finally {
            await sim("delay", "0");
        }
        expect(
            (await sim("status")).stdout
                .trim()
                .split("\n")
                .map((l) => l.split(" ").pop()),
        ).toEqual(["delay=none", "delay=none", "delay=none"]);
    });

    test("the leader's host cut off: a new leader on another host takes writes through a surviving endpoint, the old one stops accepting writes, nothing acknowledged is lost, and it rejoins once the link is back", async () => {
        await query(HOSTS[1].address, RW, "CREATE TABLE IF NOT EXISTS mh_acks (id bigint PRIMARY KEY)");
        const writer = new CommitWriter<string>({
            endpoint: () => HOSTS[1].address,
            client: (host) => client(host, RW),
            table: "mh_acks",
            maxMs: 120_000,
            retryMs: 100,
        });
        writer.start();
        expect(
            await pollUntil(Date.now() + 15_000, () =>
                Promise.resolve(writer.acked.length >= 20 || "fewer than 20 acks"),
            ),
        ).toBe(true);

        const cut = await sim("cut", "1");
        expect(cut.code).toBe(0);
        const cutAt = Date.now();
        // A new leader on h2 or h3, reached through h2's endpoint, and writes acknowledged after the cut.
        const failedOver = await pollUntil(
            cutAt + TTL_MS + 25_000,
            async () => {
                const via = await leaderVia(HOSTS[1].address);
                const fresh = writer.acked.filter((id, i) => writer.acks[i].begunAt > cutAt + 1000).length;
                return (
                    ([HOSTS[1].address, HOSTS[2].address].includes(via) && fresh >= 5) ||
                    `leader via h2: ${via}; ${fresh} writes since the cut`
                );
            },
            500,
        );
        expect(failedOver).toBe(true);
        // The first write begun after the cut and acknowledged: the key's ttl, etcd's lease extension
        // when its leader was on h1 too (about 2 s), Patroni's 2 s check of the old leader, the
        // promotion (its restore_command calls fail at once once the repository on h1 is known not to
        // answer: about 20 s more when each call waited for it), HAProxy's checks; room for CI's load.
        const firstAck = writer.acks.find((a) => a.begunAt > cutAt);
        expect(firstAck).toBeDefined();
        process.stderr.write(
            `several hosts: first write acknowledged ${(firstAck?.at ?? NaN) - cutAt} ms after cutting h1 off\n`,
        );
        expect((firstAck?.at ?? Infinity) - cutAt).toBeLessThan(TTL_MS + 14_000);
        // The isolated old leader, asked from inside its own host, no longer accepts writes (Patroni
        // demotes it when it cannot renew its key in etcd, within the ttl).
        const demoted = await pollUntil(
            cutAt + TTL_MS + 10_000,
            async () => {
                const r = await psqlOnHost(1, "SELECT pg_is_in_recovery()");
                return (
                    r.stdout.trim() === "t" ||
                    (r.code !== 0 && /Is the server running|starting up|shutting down/.test(r.stderr)) ||
                    `pg1 says ${r.stdout.trim()} ${r.stderr.trim()}`
                );
            },
            500,
        );
        expect(demoted).toBe(true);

        await writer.stop();
        const stored = await query<{ id: string }>(HOSTS[1].address, RW, "SELECT id FROM mh_acks");
        const have = new Set(stored.map((r) => Number(r.id)));
        expect(writer.acked.filter((id) => !have.has(id))).toEqual([]);

        expect((await sim("heal", "1")).code).toBe(0);
        const rejoined = await pollUntil(
            Date.now() + 120_000,
            async () => {
                const rows = await query<{ application_name: string; state: string }>(
                    HOSTS[1].address,
                    RW,
                    "SELECT application_name, state FROM pg_stat_replication",
                ).catch(() => []);
                return (
                    rows.some((r) => r.application_name === "pg1" && r.state === "streaming") || JSON.stringify(rows)
                );
            },
            1000,
        );
        expect(rejoined).toBe(true);
    });

    test("metrics: each host's exporter, through its host's address, scrapes its own node (pg_up 1, the role Patroni gave it) and exposes no password", async () => {
        const out = await stackOutputs(STACK);
        const endpoints = out.metricsEndpoints as Record<string, string>;
        expect(endpoints).toEqual(
            Object.fromEntries(
                HOSTS.map((h, i) => [
                    `pg${i + 1}`,
                    `http://${h.address}:${PORT + 12}/probe?auth_module=pgreplication&target=${h.address}:5432/postgres`,
                ]),
            ),
        );
        const scrapePw = out.metricsPassword as string;
        // Patroni's leader (after the failover above, not the configured pg1), as HAProxy's checks of its REST API find it.
        const leader = await leaderVia(HOSTS[1].address);
        expect(HOSTS.map((h) => h.address)).toContain(leader);
        const bodies: string[] = [];
        for (const [i, h] of HOSTS.entries()) {
            const replica = h.address === leader ? 0 : 1;
            const scraped = await pollUntil(
                Date.now() + 30_000,
                async () => {
                    const res = await scrape(endpoints[`pg${i + 1}`], scrapePw);
                    bodies.push(res.body);
                    return (
                        (res.status === 200 &&
                            /^pg_up 1$/m.test(res.body) &&
                            new RegExp(`^pg_replication_is_replica ${replica}$`, "m").test(res.body)) ||
                        `${res.status} ${res.body
                            .split("\n")
                            .filter((l) => /^pg_(up|replication_is_replica) /.test(l))
                            .join(", ")}`
                    );
                },
                500,
            );
            expect({ host: h.name, scraped }).toEqual({ host: h.name, scraped: true });
            bodies.push((await scrape(`http://${h.address}:${PORT + 12}/metrics`, scrapePw)).body);
            // Another node's target through this host's exporter, and no password: refused.
            const other = HOSTS[(i + 1) % HOSTS.length].address;
            const foreign = endpoints[`pg${i + 1}`].replace(/target=.*$/, `target=${other}:5432/postgres`);
            expect((await scrape(foreign, scrapePw)).status).toBe(403);
            expect((await scrape(endpoints[`pg${i + 1}`], "wrong")).status).toBe(401);
        }
        // The exporter holds no TCP port on its host's network (only HAProxy does), just its unix socket.
        for (const n of [1, 2, 3]) {
            const held = await docker(
                n,
                "exec",
                "-u",
                "postgres",
                `${STACK}-metrics-h${n}`,
                "bash",
                "-c",
                EXPORTER_LISTENERS,
            );
            expect({ host: n, out: held.stdout.trim() }).toEqual({ host: n, out: "1" });
        }
        // No password in what it exposes: neither pgr_monitor's (read from the exporter's 0600 config),
        // nor the superuser's, nor the scrape password, in any scrape, its container's settings or its processes.
        const config = await docker(
            1,
            "exec",
            `${STACK}-metrics-h1`,
            "cat",
            "/etc/pg-replication/exporter/postgres_exporter.yml",
        );
        const monitorPw = /password: "([^"]+)"/.exec(config.stdout)?.[1] ?? "";
        expect(monitorPw.length).toBeGreaterThan(10);
        const inspect = await docker(1, "inspect", `${STACK}-metrics-h1`);
        const top = await docker(1, "top", `${STACK}-metrics-h1`, "-eo", "pid,args");
        expect(top.stdout).toContain("--web.systemd-socket");
        const exposed = [...bodies, inspect.stdout, top.stdout].join("\n");
        for (const secret of [monitorPw, PW, scrapePw]) expect(exposed.includes(secret)).toBe(false);
    });

    test("a second up changes nothing", async () => {
        const res = await liveOk(["up", ...stackArgs()]);
        expect(res.actions.filter(([a]) => a !== "unchanged")).toEqual([]);
    });

    test("the host of a replica and an etcd member cut off: no failover, writes go on", async () => {
        const leader = await leaderVia(HOSTS[1].address);
        const leaderHost = HOSTS.findIndex((h) => h.address === leader) + 1;
        expect(leaderHost).toBeGreaterThan(0);
        const other = [1, 2, 3].find((n) => n !== leaderHost) as number;
        const writer = new CommitWriter<string>({
            endpoint: () => leader,
            client: (host) => client(host, RW),
            table: "mh_acks",
            firstId: 1_000_000,
            maxMs: 120_000,
            retryMs: 100,
        });
        writer.start();
        expect((await sim("cut", String(other))).code).toBe(0);
        const cutAt = Date.now();
        // Watched for longer than the ttl: had the leader lost its key, it would have demoted itself
        // and the endpoint would reach another node (or none).
        const moved = await pollUntil(
            cutAt + TTL_MS + 5_000,
            async () => {
                const now = await leaderVia(leader);
                return now !== leader || "the same leader";
            },
            1000,
        );
        expect(moved).toBe("the same leader");
        const afterTtl = writer.acks.filter((a) => a.begunAt > cutAt + TTL_MS).length;
        await writer.stop();
        expect((await sim("heal", String(other))).code).toBe(0);
        expect(afterTtl).toBeGreaterThan(0);
        expect(await leaderVia(leader)).toBe(leader);
        // The healed host's HAProxy marks the leader up again at its next check (every second).
        const healed = await pollUntil(
            Date.now() + 15_000,
            async () => {
                const via = await leaderVia(HOSTS[other - 1].address);
                return via === leader || via;
            },
            500,
        );
        expect(healed).toBe(true);
    });

    test("a host's engine stopped: up fails naming the host's provider and engine and changes nothing; started again, the cluster converges by itself", async () => {
        const leader = await leaderVia(HOSTS[0].address);
        const n = [1, 2, 3].find((k) => HOSTS[k - 1].address !== leader) as number;
        expect((await sim("engine-stop", String(n))).code).toBe(0);
        const refused = await live(["up", ...stackArgs()]);
        expect(refused.code).not.toBe(0);
        // Refresh reads every resource first, as `pulumi up` does (refresh: always): the first one on
        // the stopped engine fails, naming its provider (one per host, named after it) and the engine.
        const stopped = HOSTS[n - 1];
        expect(refused.stderr).toContain(
            `through provider pg-${stopped.name}: cannot reach the Docker engine at ${stopped.engine}:`,
        );
        expect(refused.actions.filter(([a]) => a !== "unchanged")).toEqual([]);
        expect((await sim("engine-start", String(n))).code).toBe(0);
        // Docker's restart policy starts the node again; Patroni makes it follow the leader.
        const back = await pollUntil(
            Date.now() + 120_000,
            async () => {
                const rows = await query<{ application_name: string; state: string }>(
                    leader,
                    RW,
                    "SELECT application_name, state FROM pg_stat_replication",
                ).catch(() => []);
                return (
                    rows.some((r) => r.application_name === `pg${n}` && r.state === "streaming") || JSON.stringify(rows)
                );
            },
            1000,
        );
        expect(back).toBe(true);
        await liveOk(["up", ...stackArgs()]);
    });

    test("destroy removes everything on every host but the repository keepBackups keeps (its WAL archived first)", async () => {
        const leader = await leaderVia(HOSTS[0].address);
        SOURCE.rows = Number((await query<{ n: string }>(leader, RW, "SELECT count(*) AS n FROM mh_acks"))[0].n);
        // The segment holding the last rows goes to the repository before the destroy: a write makes
        // sure the current segment holds something, so the switch closes it (and not an empty one).
        await query(leader, RW, "CREATE TABLE mh_switch AS SELECT 1 AS x");
        const [{ wal }] = await query<{ wal: string }>(
            leader,
            RW,
            "SELECT pg_walfile_name(pg_current_wal_lsn()) AS wal",
        );
        await query(leader, RW, "SELECT pg_switch_wal()");
        const archived = await pollUntil(
            Date.now() + 60_000,
            async () => {
                const [a] = await query<{ last: string | null }>(
                    leader,
                    RW,
                    "SELECT last_archived_wal AS last FROM pg_stat_archiver",
                );
                return (a.last !== null && a.last.slice(8) >= wal.slice(8)) || `archived ${a.last}, want ${wal}`;
            },
            500,
        );
        expect(archived).toBe(true);
        const pass = await exec([
            "bash",
            "-c",
            'exec node -r ./scripts/register-ts.js harness/cli.ts output backupCipherPass --stack "$1" --show-secrets',
            "-",
            STACK,
        ]);
        expect(pass.code).toBe(0);
        SOURCE.cipherPass = pass.stdout.trim();

        const res = await live(["down", "--stack", STACK]);
        expect(res.code).toBe(0);
        expect(await objectsOn(1)).toEqual([`${STACK}-backup-repo`]);
        for (const n of [2, 3]) expect(await objectsOn(n)).toEqual([]);
        // The tcp:// engine's cert directory went with the stack (its cleanup resource, deleted last).
        expect(fs.existsSync(path.join(ROOT, ".pg-replication", `${STACK}-docker-tls`))).toBe(false);
    });

    test("restoreFrom across hosts: refused by name when the bootstrap node is not on the repository's host; placed there, the cluster comes back with every row, then nothing is left", async () => {
        const restoredArgs = (placement: string) =>
            hostsStackArgs(RESTORED, [`placement=${placement}`, `restoreFrom=${STACK}`]);
        await reachHostOverTcp(RESTORED);
        const set = await exec([
            "bash",
            "-c",
            'printf %s "$2" | exec node -r ./scripts/register-ts.js harness/cli.ts config set --secret restoreCipherPass --stack "$1"',
            "-",
            RESTORED,
            SOURCE.cipherPass,
        ]);
        expect(set.code).toBe(0);

        // The source's repository volume is on h1: pg1 on h2 cannot mount it.
        const refused = await live(["up", ...restoredArgs('{"pg1":"h2","pg2":"h1"}')]);
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toContain(
            `there is no backup repository volume ${STACK}-backup-repo on host h2's engine, where pg1 (the bootstrap node, which restores from it) runs: place pg1 on the host that holds it`,
        );
        for (const n of [1, 2, 3]) expect(await objectsOn(n, RESTORED)).toEqual([]);

        await liveOk(["up", ...restoredArgs("{}")]);
        const [{ leader }] = await query<{ leader: string }>(
            HOSTS[1].address,
            RW,
            "SELECT host(inet_server_addr()) AS leader",
            RESTORED,
        );
        expect(leader).toBe(HOSTS[0].address);
        const [{ n }] = await query<{ n: string }>(leader, RW, "SELECT count(*) AS n FROM mh_acks", RESTORED);
        expect(Number(n)).toBe(SOURCE.rows);
        const standbys = await query<{ application_name: string; state: string }>(
            leader,
            RW,
            "SELECT application_name, state FROM pg_stat_replication ORDER BY 1",
            RESTORED,
        );
        expect(standbys).toEqual([
            { application_name: "pg2", state: "streaming" },
            { application_name: "pg3", state: "streaming" },
        ]);
        // Only the bootstrap node mounted the source's volume.
        for (const k of [2, 3]) {
            const mounts = await docker(k, "inspect", "-f", "{{range .Mounts}}{{.Name}} {{end}}", `${RESTORED}-pg${k}`);
            expect(mounts.stdout).not.toContain(`${STACK}-backup-repo`);
        }

        expect((await live(["down", "--stack", RESTORED])).code).toBe(0);
        expect((await docker(1, "volume", "rm", `${STACK}-backup-repo`)).code).toBe(0);
        for (const k of [1, 2, 3]) expect([...(await objectsOn(k)), ...(await objectsOn(k, RESTORED))]).toEqual([]);
    });
});
