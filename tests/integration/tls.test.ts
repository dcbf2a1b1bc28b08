// Encryption in transit for real (issue 18): a manual-mode stack with `tls` required (the default)
// and a control stack with `tls` off, both through the live harness. Every walsender and every
// client through both endpoints uses TLS 1.3; a plain-text client, and one that trusts another CA,
// is refused; the connection strings the stack prints connect as printed; and a capture on the
// cluster's bridge never holds a marker a client wrote, where the control stack's does.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client, ClientConfig } from "pg";
import { run } from "../../harness/docker-api";
import { RotationWriter, selfSignedCert, tlsSocket } from "../support/tls";
import {
    containerIdentity,
    eventually,
    forceCleanup,
    live,
    liveOk,
    localSuperuser,
    ROOT,
    runScript,
    sql,
    stackOutputs,
    testStackArgs,
} from "../support/live-client";

jest.setTimeout(600_000);

const STACK = `tl${process.pid}`;
const OFF = `to${process.pid}`;
const BASE = 25140;
const OFF_BASE = 25160;
const PW = "tl-super-pw-1";

/** `up` arguments of one of this file's stacks (no backups: pgBackRest's TLS is the backup tests' business). */
function upArgs(stack: string, subnet: string, port: number, extra: string[]): string[] {
    return ["up", ...testStackArgs({ stack, subnet, port, password: PW, extra: ["backups=false", ...extra] })];
}

/** {@link upArgs} that must succeed. */
function upStack(stack: string, subnet: string, port: number, extra: string[] = []) {
    return liveOk(upArgs(stack, subnet, port, extra));
}

/** Connects, runs one query and closes; the error message when the connection is refused. */
async function attempt(config: ClientConfig, text = "SELECT 1 AS one"): Promise<string> {
    const c = new Client(config);
    c.on("error", () => undefined);
    try {
        await c.connect();
        await c.query(text);
        return "connected";
    } catch (err) {
        return (err as Error).message;
    } finally {
        await c.end().catch(() => undefined);
    }
}

/** A CA of nobody's: a self-signed certificate made with openssl, which signs none of the stack's servers. */
function strangerCa(dir: string): string {
    selfSignedCert("stranger CA", path.join(dir, "stranger.crt"), path.join(dir, "stranger.key"));
    return fs.readFileSync(path.join(dir, "stranger.crt"), "utf8");
}

/** The serial of the certificate each published server presents now (nodes and both endpoints), by port. */
async function servedSerials(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const port of [BASE, BASE + 1, BASE + 2, BASE + 10, BASE + 11]) {
        const c = new Client(localSuperuser(port, PW));
        await c.connect();
        try {
            out[String(port)] = tlsSocket(c).getPeerCertificate().serialNumber;
        } finally {
            await c.end();
        }
    }
    return out;
}

/** The Linux bridge of a Docker network: `br-` and the first 12 characters of its id. */
async function bridgeOf(network: string): Promise<string> {
    const res = await run(["docker", "network", "inspect", "-f", "{{.Id}}", network]);
    if (res.code !== 0) throw new Error(`docker network inspect ${network}: ${res.stderr}`);
    return `br-${res.stdout.trim().slice(0, 12)}`;
}

/**
 * Captures every packet on the stack's bridge (client to endpoint, endpoint to node, primary to
 * replicas) while `write` inserts `marker` and it replicates; returns whether the capture holds it.
 */
async function markerOnTheWire(stack: string, port: number, marker: string): Promise<boolean> {
    const file = path.join(os.tmpdir(), `${stack}-capture.pcap`);
    const bridge = await bridgeOf(`${stack}-net`);
    // --immediate-mode: each packet reaches tcpdump as it arrives (not when the kernel's buffer
    // fills), -U: and is written at once. Stopped by the SIGINT below, or after 60 s whatever happens.
    const tcpdump = spawn("tcpdump", ["-i", bridge, "--immediate-mode", "-U", "-s", "0", "-w", file, "tcp"], {
        stdio: ["ignore", "ignore", "pipe"],
    });
    const bound = setTimeout(() => tcpdump.kill("SIGKILL"), 60_000);
    let stderr = "";
    tcpdump.stderr.on("data", (d) => (stderr += String(d)));
    const exited = new Promise<void>((resolve) => tcpdump.on("exit", () => resolve()));
    try {
        await eventually("tcpdump listening", 10_000, () => Promise.resolve(stderr.includes("listening on")));
        // Through the read-write endpoint: client -> PgBouncer -> primary -> WAL to both replicas.
        const c = new Client(localSuperuser(port + 10, PW));
        await c.connect();
        try {
            await c.query("CREATE TABLE IF NOT EXISTS wire (note text)");
            await c.query("INSERT INTO wire VALUES ($1)", [marker]);
        } finally {
            await c.end();
        }
        // Until both replicas have replayed it, so its WAL crossed the bridge.
        for (const replica of [2, 3]) {
            await eventually(`pg${replica} has the marker`, 30_000, async () => {
                const r = new Client(localSuperuser(port + replica - 1, PW));
                await r.connect();
                try {
                    return (await r.query("SELECT 1 FROM wire WHERE note = $1", [marker])).rowCount === 1;
                } finally {
                    await r.end();
                }
            });
        }
    } finally {
        tcpdump.kill("SIGINT");
        await exited;
        clearTimeout(bound);
    }
    const captured = fs.readFileSync(file);
    fs.rmSync(file, { force: true });
    if (captured.length < 1000) throw new Error(`the capture on ${bridge} is empty: ${stderr}`);
    return captured.includes(Buffer.from(marker));
}

describe("tls required (manual mode)", () => {
    let tmp: string;

    beforeAll(async () => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tls-test-"));
        await forceCleanup(STACK);
        await upStack(STACK, "172.29.113.0/24", BASE);
    });
    afterAll(async () => {
        await forceCleanup(STACK);
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    test("every walsender streams over TLS 1.3", async () => {
        const c = new Client(localSuperuser(BASE, PW));
        await c.connect();
        try {
            const { rows } = await c.query(
                "SELECT application_name AS node, s.ssl, s.version FROM pg_stat_replication JOIN pg_stat_ssl s USING (pid) ORDER BY 1",
            );
            expect(rows).toEqual([
                { node: "pg2", ssl: true, version: "TLSv1.3" },
                { node: "pg3", ssl: true, version: "TLSv1.3" },
            ]);
        } finally {
            await c.end();
        }
    });

    test("clients through both endpoints: TLS 1.3 to PgBouncer with its certificate, TLS from PgBouncer to the node", async () => {
        for (const [role, port] of [
            ["rw", BASE + 10],
            ["ro", BASE + 11],
        ] as const) {
            const c = new Client(localSuperuser(port, PW));
            await c.connect();
            try {
                const socket = tlsSocket(c);
                expect(socket.getProtocol()).toBe("TLSv1.3");
                expect(socket.authorized).toBe(true);
                expect(socket.getPeerCertificate().subject.CN).toBe(`${STACK}-pgbouncer-${role}`);
                // The server session PgBouncer opened for this client.
                const { rows } = await c.query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
                expect(rows).toEqual([{ ssl: true, version: "TLSv1.3" }]);
            } finally {
                await c.end();
            }
        }
    });

    test("a plain-text client is refused by a node and by both endpoints", async () => {
        expect(await attempt(localSuperuser(BASE, PW, { ssl: false }))).toMatch(
            /pg_hba\.conf rejects connection .* no encryption/,
        );
        for (const port of [BASE + 10, BASE + 11]) {
            expect(await attempt(localSuperuser(port, PW, { ssl: false }))).toMatch(/SSL required/);
        }
    });

    test("a client that trusts another CA is refused; the stack's CA with name checks connects", async () => {
        const stranger = strangerCa(tmp);
        for (const port of [BASE, BASE + 10, BASE + 11]) {
            expect(
                await attempt(localSuperuser(port, PW, { ssl: { ca: stranger, rejectUnauthorized: true } })),
            ).toMatch(/self-signed certificate in certificate chain|unable to verify/);
        }
        // A name the certificate does not carry: verify-full checks it.
        const out = await stackOutputs(STACK);
        expect(
            await attempt(localSuperuser(BASE, PW, { ssl: { ca: out.caCert, servername: "elsewhere.example" } })),
        ).toMatch(/Hostname\/IP does not match certificate's altnames|not in the cert's altnames/);
    });

    test("the connection strings the stack prints connect as printed, verifying the server", async () => {
        const out = await stackOutputs(STACK);
        const caFile = path.join(ROOT, ".pg-replication", `${STACK}-ca.crt`);
        expect(out.tls).toBe("required");
        expect(out.caCertFile).toBe(caFile);
        expect(fs.readFileSync(caFile, "utf8")).toBe(out.caCert);
        expect(out.primaryConnectionString).toBe(
            `postgresql://postgres:${PW}@127.0.0.1:${BASE + 10}/postgres?sslmode=verify-full&sslrootcert=${caFile}`,
        );
        for (const url of [out.primaryConnectionString, out.roConnectionString, ...out.replicaConnectionStrings]) {
            const c = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
            await c.connect();
            try {
                expect(tlsSocket(c).authorized).toBe(true);
            } finally {
                await c.end();
            }
        }
    });

    test("status shows when the certificates end; the checks judged each node's certificate", async () => {
        const res = await runScript("status", ["--stack", STACK, "--live"]);
        expect(res.code).toBe(0);
        // 5 years from now, give or take the day the test runs on.
        const year = new Date().getUTCFullYear() + 5;
        expect(res.stdout).toMatch(
            new RegExp(
                `^tls: required \\(TLS 1\\.3\\); certificates valid until ${year}-\\d\\d-\\d\\d \\(earliest: pg\\d\\)$`,
                "m",
            ),
        );
        expect(res.stdout).not.toContain("PROBLEM");
        const out = await stackOutputs(STACK);
        const certificates = out.checkReport.checks.filter((c: { check: string }) => c.check === "certificate");
        expect(certificates.map((c: { node: string; ok: boolean }) => `${c.node}:${c.ok}`)).toEqual([
            "pg1:true",
            "pg2:true",
            "pg3:true",
        ]);
    });

    test("tlsRotation: new certificates in every server under a writer, no container restarted, no client failed", async () => {
        const containers = [1, 2, 3]
            .map((n) => `${STACK}-pg${n}`)
            .concat([`${STACK}-pgbouncer-rw`, `${STACK}-pgbouncer-ro`]);
        const identities = async () => Promise.all(containers.map((c) => containerIdentity(c)));
        const before = await identities();
        const serialsBefore = await servedSerials();
        // A session held open across the rotation, and a new connection (a new TLS handshake) for
        // every insert, through the read-write endpoint; every failure counted.
        const writer = new RotationWriter(localSuperuser(BASE + 10, PW));
        await writer.start();
        try {
            const res = await upStack(STACK, "172.29.113.0/24", BASE, ["tlsRotation=1"]);
            expect(
                res.actions.filter(([a, type]) => a !== "unchanged" && type === "docker:index/container:Container"),
            ).toEqual([]);
            await eventually("writes after the rotation", 20_000, () =>
                Promise.resolve(writer.writesAfter(Date.now() - 1000) > 5),
            );
        } finally {
            await writer.stop();
        }
        expect(writer.failures).toEqual([]);
        expect(writer.sessionWrites).toBeGreaterThan(10);
        expect(await identities()).toEqual(before);
        const serialsAfter = await servedSerials();
        for (const port of Object.keys(serialsBefore)) {
            expect(`${port}: ${serialsAfter[port]}`).not.toBe(`${port}: ${serialsBefore[port]}`);
        }
        // Replication reconnects with the new certificates whenever it does; it never stopped.
        const [rows] = await sql(
            BASE,
            PW,
            "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'",
        );
        expect(rows.n).toBe(2);
    });

    test("a marker a client writes never crosses the cluster's bridge in clear", async () => {
        expect(await markerOnTheWire(STACK, BASE, `tls-marker-${process.pid}-on`)).toBe(false);
    });
});

describe("tls off (control)", () => {
    beforeAll(async () => {
        await forceCleanup(OFF);
        await upStack(OFF, "172.29.114.0/24", OFF_BASE, ["tls=off"]);
    });
    afterAll(async () => {
        await forceCleanup(OFF);
    });

    test("plain text: the same marker is in the capture, and the stack prints no CA", async () => {
        expect(await markerOnTheWire(OFF, OFF_BASE, `tls-marker-${process.pid}-off`)).toBe(true);
        const out = await stackOutputs(OFF);
        expect(out.tls).toBe("off");
        expect(out.caCert).toBeUndefined();
        expect(out.primaryConnectionString).toBe(`postgresql://postgres:${PW}@127.0.0.1:${OFF_BASE + 10}/postgres`);
    });

    test("a node made by a version without TLS (no pg-replication.tls label) is refused, whatever tls says", async () => {
        // Labelled as an earlier version labelled its nodes; created, never started.
        const legacy = `${OFF}-pg9`;
        const created = await run([
            "docker",
            "create",
            "--name",
            legacy,
            "--label",
            `pg-replication.cluster=${OFF}`,
            "--label",
            "pg-replication.node=pg9",
            "--network",
            "none",
            "pg-replication/postgres:17-local",
            "true",
        ]);
        expect(created.code).toBe(0);
        let res;
        try {
            res = await live(upArgs(OFF, "172.29.114.0/24", OFF_BASE, ["tls=off"]));
        } finally {
            await run(["docker", "rm", "-f", legacy]);
        }
        expect(res.code).not.toBe(0);
        expect(res.stderr).toContain(`stack ${OFF}'s nodes were made by a version of pg-replication without TLS`);
        expect(res.actions.filter(([a]) => a !== "unchanged")).toEqual([]);
    });

    test("switching the deployed stack to tls required is refused before anything changes", async () => {
        const before = await containerIdentity(`${OFF}-pg1`);
        const res = await live(upArgs(OFF, "172.29.114.0/24", OFF_BASE, ["tls=required"]));
        expect(res.code).not.toBe(0);
        expect(res.stderr).toContain(
            `refusing to deploy: pg-replication:tls is required but stack ${OFF}'s nodes run with tls off`,
        );
        expect(res.stderr).toContain("Nothing was changed.");
        expect(res.actions.filter(([a]) => a !== "unchanged")).toEqual([]);
        expect(await containerIdentity(`${OFF}-pg1`)).toBe(before);
    });
});
