import * as fs from "fs";
import * as path from "path";
import { renderRestoreEnv } from "../../model/restore";
import { DEFAULTS, validateConfig } from "../../model/config";
import {
    primaryConninfo,
    renderBootstrapEnv,
    renderNodeEnv,
    renderPgHba,
    renderPgIdent,
    renderPgpass,
    renderPostgresqlConf,
    renderSettingsConf,
    renderTemplate,
    TEMPLATE_DIR,
} from "../../model/render";
import {
    ADDRESS_OFFSETS,
    allNodeAddresses,
    clusterNodes,
    dynamicAddressRange,
    PATHS,
    subnetAddress,
} from "../../model/topology";

const nodes = clusterNodes("dev", DEFAULTS);
const [primary, replica] = nodes;

/** The `NAME='value'` lines of an env file the entrypoint sources. */
const shellEnv = (text: string): Record<string, string> =>
    Object.fromEntries([...text.matchAll(/^(\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]));

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

    test("replication is allowed only for the replication role from the nodes' fixed addresses", () => {
        const accepting = lines.filter((f) => f[1] === "replication" && f[4] !== "reject");
        // pg1 … pg10 at host numbers 11 … 20, whatever `replicas` is: scaling never changes the file.
        expect(accepting).toEqual(
            Array.from({ length: 10 }, (_, i) => [
                "hostssl",
                "replication",
                "replicator",
                `172.20.0.${11 + i}/32`,
                "scram-sha-256",
            ]),
        );
        // Neither the gateway, where published ports arrive from, nor any address Docker hands out
        // (both in the upper half of the subnet) is among them.
        const upperHalf = (cidr: string) => Number(cidr.split(".")[2]) >= 128; // of 172.20.0.0/16
        expect(accepting.filter((f) => upperHalf(f[3]) || !f[3].endsWith("/32"))).toEqual([]);
        const custom = active(renderPgHba(validateConfig({ replicationUser: "streamer", subnet: "10.1.0.0/24" })));
        expect(custom).toContain("hostssl replication  streamer  10.1.0.11/32  scram-sha-256");
        expect(renderPgHba(validateConfig({ replicas: "5" }))).toBe(renderPgHba(DEFAULTS));
    });

    test("the replication role is refused on every ordinary database, before any line could accept it", () => {
        const firstFor = (type: string, user: string) =>
            lines.find((f) => f[0] === type && f[1] === "all" && (f[2] === user || f[2] === "all"));
        expect(firstFor("host", "replicator")).toEqual(["host", "all", "replicator", "0.0.0.0/0", "reject"]);
        expect(firstFor("local", "replicator")).toEqual(["local", "all", "replicator", "reject"]);
    });

    test("the local socket uses peer auth mapped for root and postgres", () => {
        expect(lines.filter((f) => f[0] === "local")).toEqual([
            ["local", "all", "replicator", "reject"],
            ["local", "all", "all", "peer", "map=pgrepl"],
        ]);
        expect(active(renderPgIdent())).toEqual([
            "pgrepl     root             postgres",
            "pgrepl     postgres         postgres",
        ]);
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
        expect(p.archive_command).toBe("'pgbackrest --stanza=main archive-push %p'");
        expect(p.restore_command).toBe(`'/usr/local/bin/pg-replication-archive-get %f "%p"'`);
        expect(p.archive_timeout).toBe("60s");
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
        expect(primaryConninfo(DEFAULTS, "pg2", "pg1")).toBe(
            "host=pg1 port=5432 connect_timeout=3 passfile=/var/lib/postgresql/.pgpass " +
                "sslmode=verify-full sslrootcert=/etc/ssl/pg-replication/ca.crt user=replicator application_name=pg2",
        );
        expect(primaryConninfo({ ...DEFAULTS, tls: "off" }, "pg2", "pg1")).toBe(
            "host=pg1 port=5432 connect_timeout=3 passfile=/var/lib/postgresql/.pgpass user=replicator application_name=pg2",
        );
    });

    test("the file does not depend on the replica count or the sync settings", () => {
        const base = renderPostgresqlConf(DEFAULTS, replica);
        expect(base).not.toContain("role");
        const other = validateConfig({
            replicas: "5",
            syncMode: "sync",
            syncMethod: "first",
            syncCount: "3",
            synchronousCommit: "remote_apply",
        });
        expect(renderPostgresqlConf(other, clusterNodes("dev", other)[1])).toBe(base);
    });

    test("slots off: no slot name, WAL kept instead; archive off", () => {
        const cfg = validateConfig({ slots: "false", backups: "false" });
        const p = params(renderPostgresqlConf(cfg, clusterNodes("dev", cfg)[1]));
        expect(p.primary_slot_name).toBe("''");
        expect(p.wal_keep_size).toBe("1GB");
        expect(p.archive_mode).toBe("off");
    });

    test("extra settings are not in postgresql.conf (changing them re-creates no node); settings.conf carries them quoted, sorted", () => {
        const cfg = validateConfig({
            settings: JSON.stringify({ work_mem: "64MB", application_name: "it's", max_connections: 200 }),
        });
        expect(renderPostgresqlConf(cfg, primary)).toBe(renderPostgresqlConf(DEFAULTS, primary));
        expect(renderSettingsConf(cfg)).toBe(
            "# The stack's settings at bootstrap (pg-replication).\n" +
                "application_name = 'it''s'\nmax_connections = '200'\nwork_mem = '64MB'\n",
        );
    });
});

describe("other rendered files", () => {
    test("node.env tells the entrypoint who it is and how to find the primary", () => {
        expect(renderNodeEnv(DEFAULTS, replica)).toContain("PGR_NODE='pg2'");
        expect(renderNodeEnv(DEFAULTS, replica)).toContain("PGR_SLOT='pg2'");
        expect(renderNodeEnv(DEFAULTS, replica)).toContain("PGR_CLUSTER_ALIAS='pg-cluster'");
        expect(renderBootstrapEnv(DEFAULTS)).toBe("PGR_INITDB_NODE='pg1'\n");
    });

    test("node.env hands the entrypoint the day-2 commands' paths and the standby's connection options", () => {
        const env = shellEnv(renderNodeEnv(DEFAULTS, replica));
        expect(env.PGR_REJOIN_FLAG).toBe(PATHS.rejoinFlag);
        expect(env.PGR_LAST_REJOIN).toBe(PATHS.lastRejoin);
        expect(env.PGR_RECLONE_FLAG).toBe(PATHS.recloneFlag);
        expect(env.PGR_DATA_DIR).toBe("/var/lib/postgresql/data");
        expect(env.PGR_PGPASS).toBe("/var/lib/postgresql/.pgpass");
        // The entrypoint writes primary_conninfo as host=$PRIMARY $PGR_STANDBY_CONNECT: the same string failover sets.
        expect(`host=pg1 ${env.PGR_STANDBY_CONNECT}`).toBe(primaryConninfo(DEFAULTS, "pg2", "pg1"));
        expect(env.PGR_CONNECT).toBe(
            "port=5432 connect_timeout=3 passfile=/var/lib/postgresql/.pgpass sslmode=verify-full sslrootcert=/etc/ssl/pg-replication/ca.crt",
        );
    });

    test("the entrypoint spells no path or flag itself, and reads only variables its env files define", () => {
        const script = fs.readFileSync(path.join(TEMPLATE_DIR, "entrypoint.sh"), "utf8");
        const code = script
            .split("\n")
            .filter((l) => !l.trim().startsWith("#"))
            .join("\n");
        for (const literal of [
            "/var/lib/postgresql",
            "/etc/pg-replication",
            "pg-replication.rejoin",
            "pg-replication.reclone",
            "last-rejoin",
            "passfile=",
        ]) {
            expect(`${literal}: ${code.includes(literal)}`).toBe(`${literal}: false`);
        }
        const defined = new Set([
            ...Object.keys(shellEnv(renderNodeEnv(DEFAULTS, replica))),
            ...Object.keys(shellEnv(renderBootstrapEnv(DEFAULTS))),
            ...Object.keys(shellEnv(renderRestoreEnv("src", { type: "time", target: "2026-12-07T03:00:00Z" }))),
        ]);
        const used = new Set([...code.matchAll(/\$\{?(PGR_[A-Z_]+)/g)].map((m) => m[1]));
        expect([...used].filter((v) => !defined.has(v))).toEqual([]);
        expect([...defined].filter((v) => !used.has(v))).toEqual([]);
    });

    test("one way to make a file: only render.ts reads templates/, and no component writes a script in TypeScript", () => {
        const root = path.resolve(__dirname, "..", "..");
        const others = ["infra", "model"]
            .flatMap((dir) => fs.readdirSync(path.join(root, dir)).map((f) => path.join(dir, f)))
            .filter((f) => f.endsWith(".ts") && f !== path.join("model", "render.ts"));
        const reading = others.filter((f) =>
            /readFileSync|TEMPLATE_DIR/.test(fs.readFileSync(path.join(root, f), "utf8")),
        );
        const scripting = others.filter((f) => /#!\/bin\/(ba)?sh/.test(fs.readFileSync(path.join(root, f), "utf8")));
        expect({ reading, scripting }).toEqual({ reading: [], scripting: [] });
    });

    test("pgpass has a line per role and escapes separators", () => {
        expect(
            renderPgpass([
                { user: "replicator", password: "a:b\\c" },
                { user: "postgres", password: "x" },
            ]),
        ).toBe("*:*:*:replicator:a\\:b\\\\c\n*:*:*:postgres:x\n");
    });

    test("topology: fixed addresses in the lower half of the subnet, dynamic ones in the upper half", () => {
        const cfg = validateConfig({ replicas: "9", subnet: "10.7.3.0/24" });
        expect(clusterNodes("s", cfg).map((n) => n.address)).toEqual(
            Array.from({ length: 10 }, (_, i) => `10.7.3.${11 + i}`),
        );
        expect(dynamicAddressRange("10.7.3.0/24")).toBe("10.7.3.128/25");
        expect(dynamicAddressRange("172.20.0.0/16")).toBe("172.20.128.0/17");
        expect(subnetAddress("172.20.0.0/16", ADDRESS_OFFSETS.poolerRw)).toBe("172.20.0.5");
        // The smallest subnet allowed still holds every fixed address below its dynamic range.
        expect(allNodeAddresses("10.0.0.0/26").at(-1)).toBe("10.0.0.20");
        expect(() => validateConfig({ subnet: "10.0.0.0/27" })).toThrow("/8 to /26");
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
