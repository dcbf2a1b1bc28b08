import { DEFAULTS, validateConfig } from "../../infra/config";
import {
    primaryConninfo,
    renderBootstrapEnv,
    renderNodeEnv,
    renderPgHba,
    renderPgIdent,
    renderPgpass,
    renderPostgresqlConf,
    renderTemplate,
} from "../../infra/render";
import { clusterNodes } from "../../infra/topology";

const nodes = clusterNodes("dev", DEFAULTS);
const [primary, replica] = nodes;

/** Active (non-comment) lines of a config file. */
const active = (text: string) =>
    text
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"));

/** Parses `name = value` lines of postgresql.conf. */
const params = (text: string) =>
    Object.fromEntries(
        active(text).map((l) => {
            const [name, ...rest] = l.split("=");
            return [name.trim(), rest.join("=").trim()];
        }),
    );

describe("pg_hba.conf", () => {
    const lines = active(renderPgHba(DEFAULTS)).map((l) => l.split(/\s+/));

    test("no network line trusts anyone; every accepting network line uses scram-sha-256", () => {
        const network = lines.filter((f) => f[0].startsWith("host"));
        expect(network.length).toBeGreaterThan(0);
        for (const f of network) {
            expect(f).not.toContain("trust");
            expect(f).not.toContain("md5");
            expect(["scram-sha-256", "reject"]).toContain(f[4]);
        }
    });

    test("replication is allowed only for the replication role from the cluster subnet", () => {
        const accepting = lines.filter((f) => f[1] === "replication" && f[4] !== "reject");
        expect(accepting).toEqual([["host", "replication", "replicator", "172.20.0.0/16", "scram-sha-256"]]);
        const custom = active(renderPgHba(validateConfig({ replicationUser: "streamer", subnet: "10.1.0.0/24" })));
        expect(custom).toContain("host    replication  streamer  10.1.0.0/24  scram-sha-256");
    });

    test("the local socket uses peer auth mapped for root and postgres", () => {
        expect(lines.filter((f) => f[0] === "local")).toEqual([["local", "all", "all", "peer", "map=pgrepl"]]);
        expect(active(renderPgIdent())).toEqual(["pgrepl     root             postgres", "pgrepl     postgres         postgres"]);
    });
});

describe("postgresql.conf", () => {
    test("replication settings and the archive", () => {
        const p = params(renderPostgresqlConf(DEFAULTS, primary));
        expect(p).toMatchObject({
            wal_level: "replica",
            max_wal_senders: "16",
            max_replication_slots: "16",
            hot_standby: "on",
            hot_standby_feedback: "on",
            wal_log_hints: "on",
            archive_mode: "on",
            max_slot_wal_keep_size: "2GB",
            password_encryption: "'scram-sha-256'",
        });
        expect(p.archive_command).toContain("/var/lib/postgresql/wal_archive/%f");
    });

    test("one file per node, whatever its role: a failover changes no node's files", () => {
        const moved = validateConfig({ primaryNode: "pg2" });
        for (const node of clusterNodes("dev", DEFAULTS)) {
            const after = clusterNodes("dev", moved).find((n) => n.name === node.name)!;
            expect(renderPostgresqlConf(moved, after)).toBe(renderPostgresqlConf(DEFAULTS, node));
            expect(renderNodeEnv(moved, after)).toBe(renderNodeEnv(DEFAULTS, node));
        }
        expect(renderBootstrapEnv(moved)).toBe("PGR_INITDB_NODE='pg2'\n");
    });

    test("standby settings: its own slot and name; where to stream from is not in the file", () => {
        const p = params(renderPostgresqlConf(DEFAULTS, replica));
        expect(p.primary_slot_name).toBe("'pg2'");
        expect(p.cluster_name).toBe("'pg2'");
        expect(p.primary_conninfo).toBeUndefined();
        expect(primaryConninfo("replicator", "pg2", "pg1")).toBe(
            "host=pg1 port=5432 connect_timeout=3 passfile=/var/lib/postgresql/.pgpass user=replicator application_name=pg2",
        );
    });

    test("the file does not depend on the replica count or the sync settings", () => {
        const base = renderPostgresqlConf(DEFAULTS, replica);
        expect(base).not.toContain("role");
        const other = validateConfig({ replicas: "5", syncMode: "sync", syncMethod: "first", syncCount: "3", synchronousCommit: "remote_apply" });
        expect(renderPostgresqlConf(other, clusterNodes("dev", other)[1])).toBe(base);
    });

    test("slots off: no slot name, WAL kept instead; archive off", () => {
        const cfg = validateConfig({ slots: "false", walArchive: "false" });
        const p = params(renderPostgresqlConf(cfg, clusterNodes("dev", cfg)[1]));
        expect(p.primary_slot_name).toBe("''");
        expect(p.wal_keep_size).toBe("1GB");
        expect(p.archive_mode).toBe("off");
    });

    test("extra settings are rendered quoted, sorted, with quotes escaped", () => {
        const cfg = validateConfig({ settings: JSON.stringify({ work_mem: "64MB", application_name: "it's", max_connections: 200 }) });
        const p = params(renderPostgresqlConf(cfg, primary));
        expect(p.work_mem).toBe("'64MB'");
        expect(p.max_connections).toBe("'200'");
        expect(p.application_name).toBe("'it''s'");
    });
});

describe("other rendered files", () => {
    test("node.env tells the entrypoint who it is and how to find the primary", () => {
        expect(renderNodeEnv(DEFAULTS, replica)).toContain("PGR_NODE='pg2'");
        expect(renderNodeEnv(DEFAULTS, replica)).toContain("PGR_SLOT='pg2'");
        expect(renderNodeEnv(DEFAULTS, replica)).toContain("PGR_CLUSTER_ALIAS='pg-cluster'");
        expect(renderBootstrapEnv(DEFAULTS)).toBe("PGR_INITDB_NODE='pg1'\n");
    });

    test("pgpass has a line per role and escapes separators", () => {
        expect(renderPgpass([{ user: "replicator", password: "a:b\\c" }, { user: "postgres", password: "x" }])).toBe(
            "*:*:*:replicator:a\\:b\\\\c\n*:*:*:postgres:x\n",
        );
    });

    test("templates refuse missing and unused values", () => {
        expect(() => renderTemplate("{{a}} {{b}}", { a: "1" })).toThrow("{{b}} has no value");
        expect(() => renderTemplate("{{a}}", { a: "1", c: "2" })).toThrow("never used: c");
    });

    test("topology: names, ports, containers and slots", () => {
        const cfg = validateConfig({ replicas: "3", hostPortBase: "20000" });
        expect(clusterNodes("s", cfg).map((n) => [n.name, n.role, n.hostPort, n.containerName, n.slotName])).toEqual([
            ["pg1", "primary", 20000, "s-pg1", undefined],
            ["pg2", "replica", 20001, "s-pg2", "pg2"],
            ["pg3", "replica", 20002, "s-pg3", "pg3"],
            ["pg4", "replica", 20003, "s-pg4", "pg4"],
        ]);
        const moved = validateConfig({ replicas: "2", primaryNode: "pg3" });
        expect(clusterNodes("s", moved).map((n) => [n.name, n.role, n.slotName])).toEqual([
            ["pg1", "replica", "pg1"],
            ["pg2", "replica", "pg2"],
            ["pg3", "primary", undefined],
        ]);
    });
});
