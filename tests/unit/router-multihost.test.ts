// client/ with several read-write hosts, libpq-style (issue 19): the host list of a URL or config
// (pure), and the router's choice of host against fake servers (tests/support/fake-pg.ts): order,
// unreachable and silent hosts skipped, read-only hosts skipped with target_session_attrs=read-write,
// an error naming every host, and a new choice after a write fails on a demoted host.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse } from "pg-connection-string";
import { classifyError, isReadOnlyError, NoUsableHostError, ReplicaRouter } from "../../client/index";
import { multiHostNode } from "../../client/hosts";
import { nodeNames } from "../../client/options";
import { FakePg, silentPort } from "../support/fake-pg";

const REFUSED = "127.0.0.1:1"; // port 1 on loopback refuses at once

describe("host lists (pure)", () => {
    const url =
        "postgresql://postgres:pw%40x@10.99.0.11:15442,10.99.0.12:15442,10.99.0.13/postgres" +
        "?connect_timeout=3&target_session_attrs=read-write&sslmode=verify-full&sslrootcert=CA";

    test("a multi-host URL: one URL per host, in order, each parsed by pg as a single-host URL with every other parameter", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgr-mh-"));
        const ca = path.join(dir, "ca.crt");
        fs.writeFileSync(ca, "FAKE CA PEM");
        try {
            const node = multiHostNode({ connectionString: url.replace("CA", ca), max: 4 }, 2000);
            expect(node?.target).toBe("read-write");
            expect(node?.hosts.map((h) => h.label)).toEqual([
                "10.99.0.11:15442",
                "10.99.0.12:15442",
                "10.99.0.13:5432",
            ]);
            for (const [i, host] of (node?.hosts ?? []).entries()) {
                expect(host.config).toMatchObject({ max: 4, connectionTimeoutMillis: 3000 });
                const parsed = parse(host.config.connectionString ?? "");
                expect(parsed).toMatchObject({
                    host: `10.99.0.1${i + 1}`,
                    port: i < 2 ? "15442" : "",
                    user: "postgres",
                    password: "pw@x",
                    database: "postgres",
                    sslmode: "verify-full",
                    ssl: { ca: "FAKE CA PEM" },
                });
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("connect timeout: the node's connectionTimeoutMillis, else connect_timeout, else connectTimeoutMs", () => {
        const two = "postgresql://u@a:1,b:2/db";
        expect(multiHostNode({ connectionString: two }, 1234)?.hosts[1].config.connectionTimeoutMillis).toBe(1234);
        expect(multiHostNode({ connectionString: `${two}?connect_timeout=5` }, 1234)?.hosts[0].config).toMatchObject({
            connectionTimeoutMillis: 5000,
        });
        const own = multiHostNode({ connectionString: `${two}?connect_timeout=5`, connectionTimeoutMillis: 700 }, 1234);
        expect(own?.hosts[0].config.connectionTimeoutMillis).toBe(700);
        expect(multiHostNode({ connectionString: two }, 1234)?.target).toBe("any");
    });

    test("one host and no target_session_attrs is left to pg as it is; with target_session_attrs it is checked", () => {
        expect(multiHostNode({ connectionString: "postgresql://u:p@h:5432/db?connect_timeout=3" }, 2000)).toBeNull();
        expect(multiHostNode({ connectionString: "postgresql:///db?host=/var/run/postgresql" }, 2000)).toBeNull();
        expect(multiHostNode({ host: "h", port: 5433 }, 2000)).toBeNull();
        expect(
            multiHostNode({ connectionString: "postgresql://u@h:5433/db?target_session_attrs=read-write" }, 2000),
        ).toMatchObject({ target: "read-write", hosts: [{ label: "h:5433" }] });
    });

    test("an explicit hosts list shares the rest of the config", () => {
        const node = multiHostNode(
            {
                hosts: [{ host: "a", port: 1 }, { host: "b" }],
                port: 6432,
                user: "app",
                targetSessionAttrs: "read-write",
            },
            2000,
        );
        expect(node?.target).toBe("read-write");
        expect(node?.hosts).toEqual([
            { label: "a:1", config: { host: "a", port: 1, user: "app", connectionTimeoutMillis: 2000 } },
            { label: "b:6432", config: { host: "b", port: 6432, user: "app", connectionTimeoutMillis: 2000 } },
        ]);
    });

    test("refuses what it cannot honour, naming it", () => {
        const bad = (cfg: Parameters<typeof multiHostNode>[0]) => () => multiHostNode(cfg, 2000);
        expect(bad({ connectionString: "postgresql://h1,h2/db?target_session_attrs=prefer-standby" })).toThrow(
            /target_session_attrs "prefer-standby" is not supported \(one of any, read-write, read-only, primary, standby\)/,
        );
        expect(bad({ connectionString: "postgresql://h1,h2/db?port=1,2" })).toThrow(/not with \?host= or \?port=/);
        expect(bad({ connectionString: "postgresql://h1,,h2/db" })).toThrow(/empty host/);
        expect(bad({ connectionString: "postgresql://h1,h2/db?connect_timeout=soon" })).toThrow(
            /connect_timeout "soon"/,
        );
        expect(bad({ hosts: [] })).toThrow(/at least one host/);
        expect(bad({ hosts: [{ host: "a" }], connectionString: "postgresql://b/db" })).toThrow(/not both/);
        expect(
            () => new ReplicaRouter({ primary: "postgresql://h1,h2/db?target_session_attrs=nope", replicas: [] }),
        ).toThrow(/target_session_attrs "nope"/);
    });

    test("a multi-host node is named by its hosts, never the password", () => {
        expect(nodeNames([url, "postgresql://u:s3cret@h:5433/db"])).toEqual([
            "10.99.0.11:15442,10.99.0.12:15442,10.99.0.13:5432",
            "h:5433",
        ]);
    });
});

describe("ReplicaRouter with several primary hosts (fake servers)", () => {
    let a: FakePg;
    let b: FakePg;
    const routers: ReplicaRouter[] = [];
    const urlOf = (hosts: string[], query = "target_session_attrs=read-write") =>
        `postgresql://app:pw@${hosts.join(",")}/app?${query}`;
    const router = (primary: string, connectTimeoutMs = 2000) => {
        const r = new ReplicaRouter({ primary, replicas: [], connectTimeoutMs, healthIntervalMs: 60_000 });
        routers.push(r);
        return r;
    };

    beforeEach(async () => {
        a = await new FakePg().start();
        b = await new FakePg().start();
    });
    afterEach(async () => {
        await Promise.all(routers.splice(0).map((r) => r.close()));
        await Promise.all([a.stop(), b.stop()]);
    });

    test("hosts are tried in order: the first read-write host takes the writes", async () => {
        const db = router(urlOf([a.label, b.label]));
        await db.write("INSERT INTO t VALUES (1)");
        await db.write("INSERT INTO t VALUES (2)");
        expect(a.writes).toEqual(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"]);
        expect(b.writes).toEqual([]);
        expect(b.statements).toEqual([]); // not even checked: the first host qualified
    });

    test("an unreachable first host is skipped", async () => {
        const db = router(urlOf([REFUSED, b.label]));
        const res = await db.write("INSERT INTO t VALUES (1)");
        expect(res.lsn).toBe("0/3000148");
        expect(b.writes).toEqual(["INSERT INTO t VALUES (1)"]);
    });

    test("a first host that never answers is skipped after the URL's connect_timeout, not connectTimeoutMs", async () => {
        const silent = await silentPort();
        try {
            const db = router(urlOf([`127.0.0.1:${silent.port}`, b.label], "connect_timeout=1"), 60_000);
            const started = Date.now();
            await db.write("INSERT INTO t VALUES (1)");
            const elapsed = Date.now() - started;
            expect(b.writes).toEqual(["INSERT INTO t VALUES (1)"]);
            expect(elapsed).toBeGreaterThanOrEqual(900);
            expect(elapsed).toBeLessThan(5000);
        } finally {
            await closeAll(routers);
            await silent.close();
        }
    });

    test("with target_session_attrs=read-write a read-only host is skipped; with any (libpq's default) it is used", async () => {
        a.readOnly = true;
        const rw = router(urlOf([a.label, b.label]));
        await rw.write("INSERT INTO t VALUES (1)");
        expect(b.writes).toEqual(["INSERT INTO t VALUES (1)"]);
        expect(a.statements).toContain("SHOW transaction_read_only");
        expect(a.writes).toEqual([]);

        const any = router(urlOf([a.label, b.label], "connect_timeout=2"));
        const err = await any.write("INSERT INTO t VALUES (2)").catch((e: unknown) => e);
        expect(isReadOnlyError(err)).toBe(true);
        expect(a.writes).toEqual(["INSERT INTO t VALUES (2)"]);
    });

    test("when no host qualifies, the error names every host and why", async () => {
        a.readOnly = true;
        const db = router(urlOf([REFUSED, a.label]));
        const err = await db.write("INSERT INTO t VALUES (1)").catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NoUsableHostError);
        const message = (err as Error).message;
        expect(message).toMatch(/^no usable host with target_session_attrs=read-write: /);
        expect(message).toMatch(new RegExp(`${REFUSED}: connect ECONNREFUSED .*; ${a.label}: session is read-only$`));
        expect((err as NoUsableHostError).failures.map((f) => f.host)).toEqual([REFUSED, a.label]);
        expect(classifyError(err)).toBe("connection"); // every host unreachable or rejected
        expect(a.writes).toEqual([]);
        await db.ready();
        expect(db.status().primary).toMatchObject({ name: `${REFUSED},${a.label}`, healthy: false });
        expect(db.status().primary.reason).toMatch(/^unreachable: no usable host .*session is read-only$/);
    });

    test("after a write fails as read-only (failover), it is not retried, and the next write goes to the new read-write host", async () => {
        const db = router(urlOf([a.label, b.label]));
        await db.write("INSERT INTO t VALUES (1)");
        // Failover: a is demoted, b promoted. a's pooled connection still works, but refuses writes.
        a.readOnly = true;
        const err = await db.write("INSERT INTO t VALUES (2)").catch((e: unknown) => e);
        expect(isReadOnlyError(err)).toBe(true);
        expect((err as Error).message).toBe("cannot execute INSERT in a read-only transaction");
        expect(b.writes).toEqual([]); // surfaced, never retried elsewhere
        await db.write("INSERT INTO t VALUES (3)");
        expect(a.writes).toEqual(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"]);
        expect(b.writes).toEqual(["INSERT INTO t VALUES (3)"]);
    });

    test("a failed write in a transaction also makes the next one choose again", async () => {
        const db = router(urlOf([a.label, b.label]));
        await db.write("INSERT INTO t VALUES (1)");
        a.readOnly = true;
        const fn = (n: number) => async (c: { query(sql: string): Promise<unknown> }) =>
            c.query(`INSERT INTO t VALUES (${n})`);
        await expect(db.transaction(fn(2))).rejects.toMatchObject({ code: "25006" });
        await db.transaction(fn(3));
        expect(b.writes).toEqual(["INSERT INTO t VALUES (3)"]);
    });

    test("a host that crashes under a write: that write fails (not retried), the next one goes to the next host", async () => {
        const db = router(urlOf([a.label, b.label]));
        await db.write("INSERT INTO t VALUES (1)");
        a.crashOnNextStatement();
        const err = await db.write("INSERT INTO t VALUES (2)").catch((e: unknown) => e);
        expect(classifyError(err)).toBe("connection");
        expect(a.writes).toEqual(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"]);
        expect(b.writes).toEqual([]);
        await db.write("INSERT INTO t VALUES (3)");
        expect(b.writes).toEqual(["INSERT INTO t VALUES (3)"]);
    });

    test("a host gone while its connections were idle: the next write connects to the next host (nothing ran yet)", async () => {
        const db = router(urlOf([a.label, b.label]));
        await db.write("INSERT INTO t VALUES (1)");
        await a.stop();
        await new Promise((resolve) => setTimeout(resolve, 100)); // pg sees its idle connection end
        await db.write("INSERT INTO t VALUES (2)");
        expect(b.writes).toEqual(["INSERT INTO t VALUES (2)"]);
    });

    test("the health probe reports the primary on the host that qualifies", async () => {
        a.readOnly = true;
        const db = router(urlOf([a.label, b.label]));
        await db.ready();
        expect(db.status().primary).toMatchObject({ name: `${a.label},${b.label}`, healthy: true, lsn: "0/3000148" });
    });

    test("the health probe moves to the new read-write host when its host is demoted under an open session", async () => {
        const db = new ReplicaRouter({ primary: urlOf([a.label, b.label]), replicas: [], healthIntervalMs: 20 });
        routers.push(db);
        await db.ready();
        expect(b.statements).toEqual([]); // the probe's session is on a
        a.readOnly = true;
        const probedOnB = () => b.statements.some((s) => /pg_current_wal_lsn/.test(s)) && db.status().primary.healthy;
        for (const deadline = Date.now() + 3000; !probedOnB() && Date.now() < deadline;) {
            await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(probedOnB()).toBe(true);
    });
});

/** Closes every router made so far (before the servers they use go away). */
async function closeAll(routers: ReplicaRouter[]): Promise<void> {
    await Promise.all(routers.splice(0).map((r) => r.close()));
}
