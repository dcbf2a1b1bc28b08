import { derivedSalt, roleVerifier, scramVerifier } from "../../model/scram";
import {
    createSlotSql,
    dropSlotSql,
    quoteIdent,
    quoteLiteral,
    replicationRoleSql,
    synchronousStandbyNames,
    syncPolicySql,
} from "../../model/sql";
import { psqlOnDelete } from "../../infra/psql";
import { DEFAULTS } from "../../model/config";

describe("SCRAM verifiers", () => {
    test("matches the verifier PostgreSQL 17 stores for the same password and salt", () => {
        // From the local image: SET password_encryption = 'scram-sha-256'; CREATE ROLE t PASSWORD 'pencil';
        // SELECT rolpassword FROM pg_authid WHERE rolname = 't';
        const stored = PG_VERIFIER;
        const [, params] = stored.split("$");
        const [iterations, salt] = params.split(":");
        expect(scramVerifier("pencil", Buffer.from(salt, "base64"), Number(iterations))).toBe(stored);
    });

    test("derived salts are stable per password and role, and differ otherwise", () => {
        expect(roleVerifier("secret-1", "replicator")).toBe(roleVerifier("secret-1", "replicator"));
        expect(derivedSalt("secret-1", "replicator")).not.toEqual(derivedSalt("secret-1", "postgres"));
        expect(derivedSalt("secret-1", "replicator")).not.toEqual(derivedSalt("secret-2", "replicator"));
        expect(roleVerifier("secret-1", "replicator")).not.toContain("secret-1");
    });
});

describe("SQL builders", () => {
    test("quoting", () => {
        expect(quoteLiteral("it's")).toBe("'it''s'");
        expect(quoteIdent('a"b')).toBe('"a""b"');
    });

    test("synchronous_standby_names for async, first and any", () => {
        const names = ["pg2", "pg3"];
        expect(synchronousStandbyNames({ ...DEFAULTS, syncMode: "async" }, names)).toBe("");
        expect(synchronousStandbyNames({ ...DEFAULTS, syncMode: "sync", syncMethod: "any", syncCount: 1 }, names)).toBe(
            'ANY 1 ("pg2", "pg3")',
        );
        expect(
            synchronousStandbyNames({ ...DEFAULTS, syncMode: "sync", syncMethod: "first", syncCount: 2 }, names),
        ).toBe('FIRST 2 ("pg2", "pg3")');
    });

    test("the sync policy is applied with ALTER SYSTEM and a reload, never a restart", () => {
        const sql = syncPolicySql(
            { ...DEFAULTS, syncMode: "sync", syncMethod: "first", syncCount: 1, synchronousCommit: "remote_apply" },
            ["pg2"],
        );
        expect(sql).toContain(`ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 ("pg2")';`);
        expect(sql).toContain("ALTER SYSTEM SET synchronous_commit = 'remote_apply';");
        expect(sql).toContain("SELECT pg_reload_conf();");
    });

    test("role SQL is idempotent and carries only the verifier", () => {
        const sql = replicationRoleSql("replicator", "SCRAM-SHA-256$4096:abc$def:ghi");
        expect(sql).toContain("IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'replicator')");
        expect(sql).toContain("LOGIN REPLICATION NOSUPERUSER");
        expect(sql).toContain("PASSWORD 'SCRAM-SHA-256$4096:abc$def:ghi'");
    });

    test("slots are created reserving WAL, only when missing, and dropped with retries", () => {
        expect(createSlotSql("pg2")).toContain("pg_create_physical_replication_slot('pg2', true) WHERE NOT EXISTS");
        const drop = dropSlotSql("pg2", 5);
        expect(drop).toContain("pg_terminate_backend(active_pid)");
        expect(drop).toContain("interval '5 seconds'");
        expect(drop).toContain("EXCEPTION WHEN object_in_use");
    });
});

const PG_VERIFIER =
    "SCRAM-SHA-256$4096:OYudXlK2lHFTANwV2PhHFQ==$AklnmpihLrulds/3mVJMaAAPqJaP8G/J2UV9Qmcji9Q=:TEADfifpNP5t18Q2LGh410AG6BlRVjNgLy1AFVmyWFQ=";

describe("undo scripts", () => {
    test("an undo commits locally: teardown may already have removed the synchronous standbys", () => {
        const script = psqlOnDelete('DROP ROLE IF EXISTS "replicator";');
        const body = script.slice(script.indexOf("<<'PGR_SQL'"));
        expect(body.indexOf("SET synchronous_commit = local;")).toBeGreaterThan(0);
        expect(body.indexOf("SET synchronous_commit = local;")).toBeLessThan(body.indexOf("DROP ROLE"));
    });
});
