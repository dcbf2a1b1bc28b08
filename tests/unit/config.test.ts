import { configFromValues, ConfigError, DEFAULTS, validateConfig } from "../../model/config";

const expectError = (raw: Record<string, string>, ...parts: string[]) => {
    let error: unknown;
    try {
        validateConfig(raw);
    } catch (err) {
        error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    for (const part of parts) expect((error as Error).message).toContain(part);
};

describe("validateConfig", () => {
    test("typed values are parsed", () => {
        const cfg = validateConfig({
            replicas: "3",
            syncMode: "sync",
            syncMethod: "first",
            syncCount: "2",
            synchronousCommit: "remote_apply",
            pullImage: "false",
            slots: "false",
            backups: "false",
            backupFullSchedule: "30 2 * * 0",
            backupDiffSchedule: "",
            backupIncrSchedule: "*/15  0  * * 1-6",
            backupRetentionFull: "4",
            archiveTimeout: "0",
            backupStandby: "never",
            keepBackups: "true",
            checks: "false",
            subnet: "10.9.0.0/24",
            bindAddress: "0.0.0.0",
            hostPortBase: "25432",
            replicationUser: "repl_user",
            maxSlotWalKeepSize: "-1",
            settings: JSON.stringify({
                work_mem: "64MB",
                max_connections: 200,
                jit: false,
                "pg_stat_statements.max": 1000,
            }),
        });
        expect(cfg).toMatchObject({
            replicas: 3,
            syncMode: "sync",
            syncMethod: "first",
            syncCount: 2,
            synchronousCommit: "remote_apply",
            pullImage: false,
            slots: false,
            backups: false,
            backupFullSchedule: "30 2 * * 0",
            backupDiffSchedule: "",
            backupIncrSchedule: "*/15 0 * * 1-6",
            backupRetentionFull: 4,
            archiveTimeout: 0,
            backupStandby: "never",
            keepBackups: true,
            checks: false,
            hostPortBase: 25432,
            maxSlotWalKeepSize: "-1",
            settings: { work_mem: "64MB", max_connections: "200", jit: "false", "pg_stat_statements.max": "1000" },
        });
    });

    test.each([
        [{ replicas: "10" }, "pg-replication:replicas", '"10"', "0 to 9"],
        [{ replicas: "-1" }, "replicas", "0 to 9"],
        [{ replicas: "two" }, "replicas", '"two"', "integer"],
        [{ replicas: "1.5" }, "replicas", "integer"],
        [{ syncMode: "semi" }, "syncMode", '"semi"', "async, sync"],
        [{ syncMode: "sync", replicas: "0" }, "syncMode", "at least one replica"],
        [{ syncMethod: "all" }, "syncMethod", "any, first"],
        [{ syncCount: "0" }, "syncCount", "1 to 9"],
        [{ syncMode: "sync", replicas: "2", syncCount: "3" }, "syncCount", '"3"', "replicas is 2"],
        [{ synchronousCommit: "off" }, "synchronousCommit", "on, remote_write, remote_apply"],
        [{ synchronousCommit: "local" }, "synchronousCommit", '"local"'],
        [{ image: "bad image!" }, "image", "image reference"],
        [{ pullImage: "yes" }, "pullImage", "true or false"],
        [{ slots: "1" }, "slots", "true or false"],
        [{ walArchive: "false" }, "pg-replication:walArchive", "replaced by backups", "set backups false"],
        [{ backups: "on" }, "backups", "true or false"],
        [{ keepBackups: "yes" }, "keepBackups", "true or false"],
        [{ backupFullSchedule: "daily" }, "backupFullSchedule", '"daily"', "expected 5 fields"],
        [{ backupFullSchedule: "0 25 * * *" }, "backupFullSchedule", 'hour "25" is outside 0-23'],
        [{ backupDiffSchedule: "0 1 * * mon" }, "backupDiffSchedule", "day of week", "not a number"],
        [{ backupIncrSchedule: "60 * * * *" }, "backupIncrSchedule", "minute", "outside 0-59"],
        [
            { backupIncrSchedule: "0 * * * *" },
            "backupIncrSchedule",
            "same minute as backupFullSchedule",
            "2027-01-03T01:00Z",
        ],
        [{ backupDiffSchedule: "0 1 * * 0" }, "backupDiffSchedule", "same minute as backupFullSchedule"],
        [{ backupRetentionFull: "0" }, "backupRetentionFull", '"0"', "1 to 99"],
        [{ archiveTimeout: "5" }, "archiveTimeout", "0 (off) or 10..86400"],
        [{ archiveTimeout: "-1" }, "archiveTimeout", "0 to 86400"],
        [{ backupStandby: "yes" }, "backupStandby", "prefer, always, never"],
        [{ checks: "no" }, "checks", "true or false"],
        [{ subnet: "172.20.0.0" }, "subnet", "CIDR"],
        [{ subnet: "172.20.0.0/30" }, "subnet", "/8 to /26"],
        [{ subnet: "300.1.0.0/16" }, "subnet", "CIDR"],
        [{ subnet: "172.20.5.0/16" }, "subnet", "did you mean 172.20.0.0/16"],
        [{ bindAddress: "localhost" }, "bindAddress", "IPv4 address"],
        [{ bindAddress: "127.0.0.256" }, "bindAddress", "IPv4"],
        [{ hostPortBase: "80" }, "hostPortBase", "1024"],
        [{ hostPortBase: "65535" }, "hostPortBase", "65523"],
        [{ metrics: "yes" }, "metrics", "true or false"],
        [{ primaryNode: "pg4" }, "primaryNode", '"pg4"', "pg1..pg3"],
        [{ primaryNode: "node1" }, "primaryNode", "pg1..pg3"],
        [{ primaryNode: "pg0" }, "primaryNode", "pg1..pg3"],
        [{ pooler: "on" }, "pooler", "true or false"],
        [{ poolerImage: "bad image" }, "poolerImage", "image reference"],
        [{ replicationUser: "Repl" }, "replicationUser", "lowercase identifier"],
        [{ replicationUser: "postgres" }, "replicationUser", "not postgres"],
        [{ replicationUser: "pg_repl" }, "replicationUser", "pg_"],
        [{ maxSlotWalKeepSize: "2G" }, "maxSlotWalKeepSize", "kB, MB, GB, TB"],
        [{ settings: "[1]" }, "settings", "object"],
        [{ settings: "not json" }, "settings", "object"],
        [{ settings: '{"work_mme":"4MB"}' }, "settings.work_mme", "not a PostgreSQL 17 parameter"],
        [{ settings: '{"wal_level":"logical"}' }, "settings.wal_level", "managed by pg-replication"],
        [{ settings: '{"synchronous_commit":"off"}' }, "settings.synchronous_commit", "managed"],
        [{ settings: '{"server_version":"99"}' }, "settings.server_version", "read-only"],
        [{ settings: '{"work_mem":""}' }, "settings.work_mem", "non-empty single-line"],
        [{ settings: '{"work_mem":"4MB\\nfsync = off"}' }, "settings.work_mem", "single-line"],
        [{ settings: '{"work_mem":null}' }, "settings.work_mem", "a number or a boolean"],
        // Judged as the image's PostgreSQL would (type, unit, range, enum values): a value the server
        // refuses kept the primary from starting for six minutes.
        [
            { settings: '{"shared_buffers":"lots"}' },
            'pg-replication:settings.shared_buffers = "lots" is invalid: not a number; shared_buffers takes an integer in 8kB, or with a unit (B, kB, MB, GB, TB) from 16 to 1073741823 (8kB)',
        ],
        [{ settings: '{"shared_buffers":"8kB"}' }, "settings.shared_buffers", "1 × 8kB is out of range"],
        [{ settings: '{"work_mem":"4mb"}' }, "settings.work_mem", '"mb" is not a unit of this parameter'],
        [{ settings: '{"checkpoint_timeout":"10"}' }, "settings.checkpoint_timeout", "from 30 to 86400 (s)"],
        [{ settings: '{"jit":"maybe"}' }, "settings.jit", "jit is a boolean: on or off"],
        [{ settings: '{"log_min_messages":"loud"}' }, "settings.log_min_messages", "takes one of debug5, debug4"],
        [{ settings: '{"random_page_cost":-1}' }, "settings.random_page_cost", "-1 is out of range"],
        [{ replica: "3" }, "pg-replication:replica", "not a known key", "did you mean replicas?"],
        [{ superuserPassword: "short" }, "superuserPassword", "[secret]", "at least 8"],
        [{ failover: "auto" }, "pg-replication:failover", '"auto"', "manual, patroni"],
        [{ etcdMembers: "2" }, "etcdMembers", '"2"', "1 or 3"],
        [{ etcdMembers: "5" }, "etcdMembers", '"5"', "1 to 3"],
        [{ etcdMembers: "0" }, "etcdMembers", "1 to 3"],
        [{ patroniTtl: "19" }, "patroniTtl", '"19"', "from 20"],
        [{ patroniTtl: "ten" }, "patroniTtl", "integer"],
        [{ patroniLoopWait: "0" }, "patroniLoopWait", "from 1"],
        [{ patroniRetryTimeout: "2" }, "patroniRetryTimeout", "from 3"],
        [{ patroniLoopWait: "12" }, "patroniTtl", '"20"', "12 + 2 * 5 = 22 > 20"],
        [{ patroniTtl: "20", patroniRetryTimeout: "10" }, "patroniTtl", "2 + 2 * 10 = 22 > 20", "raise patroniTtl"],
    ])("rejects %j", (raw, ...parts) => {
        expectError(raw, ...(parts as string[]));
    });

    test("a misspelt key never echoes its value (it may be a password)", () => {
        const call = () => validateConfig({ superUserPassword: "hunter2-secret-value" });
        expect(call).toThrow(
            "pg-replication:superUserPassword is not a known key (its value is not shown): did you mean superuserPassword?",
        );
        expect(call).not.toThrow(/hunter2/);
    });

    test("a rejected password is never echoed", () => {
        expect(() => validateConfig({ replicationPassword: "abc" })).toThrow(/replicationPassword = "\[secret\]"/);
        expect(() => validateConfig({ replicationPassword: "abc" })).not.toThrow(/abc/);
    });

    test("syncCount above replicas is fine in async mode", () => {
        expect(validateConfig({ replicas: "0", syncCount: "1" }).replicas).toBe(0);
    });

    test("failover defaults to manual; patroni keys default to 3 etcd members and 20 / 2 / 5", () => {
        expect(validateConfig({})).toMatchObject({
            failover: "manual",
            etcdMembers: 3,
            patroniTtl: 20,
            patroniLoopWait: 2,
            patroniRetryTimeout: 5,
        });
        expect(DEFAULTS.patroniLoopWait + 2 * DEFAULTS.patroniRetryTimeout).toBeLessThanOrEqual(DEFAULTS.patroniTtl);
    });

    test("patroni mode with its keys is accepted, at the edge of Patroni's rule too", () => {
        expect(
            validateConfig({
                failover: "patroni",
                etcdMembers: "1",
                patroniTtl: "30",
                patroniLoopWait: "10",
                patroniRetryTimeout: "10",
            }),
        ).toMatchObject({
            failover: "patroni",
            etcdMembers: 1,
            patroniTtl: 30,
            patroniLoopWait: 10,
            patroniRetryTimeout: 10,
        });
        expect(
            validateConfig({ failover: "patroni", patroniTtl: "20", patroniLoopWait: "10", patroniRetryTimeout: "5" })
                .patroniTtl,
        ).toBe(20);
    });
});

describe("configFromValues (the component's typed arguments)", () => {
    test("absent values take the defaults; given ones are kept, objects included", () => {
        const cfg = configFromValues({
            replicas: 3,
            syncMode: "sync",
            syncCount: 2,
            pullImage: false,
            settings: { work_mem: "8MB" },
            poolerImage: "",
        });
        expect(cfg).toMatchObject({
            replicas: 3,
            syncMode: "sync",
            syncCount: 2,
            pullImage: false,
            settings: { work_mem: "8MB" },
            poolerImage: "",
        });
        expect(cfg.hostPortBase).toBe(15432);
        expect(cfg.primaryNode).toBe("pg1");
    });

    test("a validated configuration passes through unchanged", () => {
        const cfg = validateConfig({
            replicas: "4",
            primaryNode: "pg3",
            failover: "patroni",
            etcdMembers: "1",
            settings: '{"work_mem":"8MB"}',
        });
        expect(configFromValues(cfg)).toEqual(cfg);
    });

    test("typed values obey the stack config's rules", () => {
        expect(() => configFromValues({ replicas: 12 })).toThrow(ConfigError);
        expect(() => configFromValues({ syncMode: "sync", replicas: 1, syncCount: 2 })).toThrow(/syncCount/);
        expect(() => configFromValues({ settings: { wal_level: "minimal" } })).toThrow(/managed by pg-replication/);
        expect(() => configFromValues({ primaryNode: "pg4" })).toThrow(/pg1..pg3/);
    });
});
