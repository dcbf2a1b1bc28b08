// Each named post-deploy check judged on its own with fake runners (no Docker): what passes it and
// what fails it, with the message the report then carries.
import { CheckEndpoint } from "../../model/check-spec";
import { fixedAddress } from "../../ops/checks/addresses";
import { archiving, backup, certificate, endpointRo, endpointRw } from "../../ops/checks/features";
import { etcdHealthy, patroniOneLeader, patroniRoles, PatroniTarget } from "../../ops/checks/patroni";
import {
    canaryReplicated,
    canaryWritten,
    primaryNotInRecovery,
    replicaInRecovery,
    replicaReadOnly,
    slotActive,
    streaming,
    syncState,
} from "../../ops/checks/replication";
import { PatroniCluster, PatroniResponse } from "../../ops/patroni";
import {
    ARCHIVER_OK,
    FULL_SPEC,
    inputs,
    member,
    PATRONI,
    PATRONI_SPEC,
    patroniCluster,
    pgError,
    queryFrom,
    rowsFor,
    SPEC,
} from "../support/check-fakes";

const [pg1, pg2, pg3] = [SPEC.primary, ...SPEC.replicas];
const DAY_MS = 86_400_000;

describe("fixed-address", () => {
    const [n1, n2] = fixedAddress.targets(FULL_SPEC);
    const on = (found: string | undefined) => inputs({ addressOn: () => Promise.resolve(found) });

    test("targets every node of spec.addresses, none without them", () => {
        expect(fixedAddress.targets(FULL_SPEC).map((t) => [t.node, t.container, t.network])).toEqual([
            ["pg1", "s-pg1", "s-net"],
            ["pg2", "s-pg2", "s-net"],
            ["pg3", "s-pg3", "s-net"],
        ]);
        expect(fixedAddress.targets(SPEC)).toEqual([]);
    });

    test("passes on the fixed address, and for a container that cannot be inspected (others judge it)", async () => {
        await expect(fixedAddress.judge(on("172.20.0.11"), n1)).resolves.toBe(true);
        await expect(fixedAddress.judge(on(undefined), n1)).resolves.toBe(true);
    });

    test("fails a node on another address, and one not connected, with the command that puts it back", async () => {
        const moved = await fixedAddress.judge(on("172.20.128.5"), n2);
        expect(moved).toMatch(/^s-pg2 is on 172\.20\.128\.5, not its fixed address 172\.20\.0\.12 on s-net/);
        expect(moved).toContain("docker network disconnect s-net s-pg2 && docker network connect --ip 172.20.0.12");
        await expect(fixedAddress.judge(on(""), n2)).resolves.toMatch(/^s-pg2 is not connected to s-net;/);
    });
});

describe("etcd-healthy", () => {
    const [target] = etcdHealthy.targets(PATRONI_SPEC);
    const health = (healthy: number) =>
        inputs({ etcdHealth: () => Promise.resolve({ healthy, answered: true, stderr: "pg: timeout\n" }) });

    test("runs under Patroni only, named by the etcd containers", () => {
        expect(target.node).toBe("s-etcd1,s-etcd2,s-etcd3");
        expect(etcdHealthy.targets(FULL_SPEC)).toEqual([]);
    });

    test("passes with every member healthy; fails naming how many are", async () => {
        await expect(etcdHealthy.judge(health(3), target)).resolves.toBe(true);
        await expect(etcdHealthy.judge(health(2), target)).resolves.toBe("2 of 3 etcd members healthy: pg: timeout");
    });
});

/** /cluster answers per container, in the order the nodes are asked. */
const answers = (...res: Array<PatroniResponse<PatroniCluster> | Error>) => {
    const byContainer = new Map(PATRONI.nodes.map((n, i) => [n.container, res[i]]));
    return (container: string) => {
        const r = byContainer.get(container);
        return r instanceof Error || r === undefined ? Promise.reject(r ?? new Error("no answer")) : Promise.resolve(r);
    };
};

describe("patroni-one-leader", () => {
    const target: PatroniTarget = { node: "s", patroni: PATRONI };

    test("passes on one leader with every configured node registered, and keeps the /cluster it read", async () => {
        const cluster = patroniCluster("pg2");
        const i = inputs({ patroniCluster: answers({ status: 200, body: cluster }) }, PATRONI_SPEC);
        await expect(patroniOneLeader.judge(i, target)).resolves.toBe(true);
        expect(i.observed.cluster).toBe(cluster);
    });

    test("fails with no leader, saying why the nodes asked before did not answer", async () => {
        const noLeader = { members: [member("pg1", "replica"), member("pg2", "replica"), member("pg3", "replica")] };
        const i = inputs(
            {
                patroniCluster: answers({ status: 503, body: { members: [] } }, new Error("pg2 REST down"), {
                    status: 200,
                    body: noLeader,
                }),
            },
            PATRONI_SPEC,
        );
        await expect(patroniOneLeader.judge(i, target)).resolves.toBe(
            "expected one leader, found none (pg2 REST down)",
        );
    });

    test("fails with two leaders, or a configured node missing from the members", async () => {
        const two = { members: [member("pg1", "leader"), member("pg2", "leader"), member("pg3", "replica")] };
        const twoLeaders = inputs({ patroniCluster: answers({ status: 200, body: two }) }, PATRONI_SPEC);
        await expect(patroniOneLeader.judge(twoLeaders, target)).resolves.toBe(
            "expected one leader, found pg1, pg2 (no node answered)",
        );
        const partial = { status: 200, body: patroniCluster("pg1", ["pg1", "pg2"]) };
        const missing = inputs({ patroniCluster: answers(partial) }, PATRONI_SPEC);
        await expect(patroniOneLeader.judge(missing, target)).resolves.toBe("2 of 3 members registered (missing: pg3)");
    });

    test("fails with every node unreachable", async () => {
        const i = inputs({ patroniCluster: answers(new Error("a"), new Error("b"), new Error("c")) }, PATRONI_SPEC);
        await expect(patroniOneLeader.judge(i, target)).resolves.toBe("expected one leader, found none (c)");
    });
});

describe("patroni-roles", () => {
    const target: PatroniTarget = { node: "s", patroni: PATRONI };
    const judge = (cluster: PatroniCluster, spec = PATRONI_SPEC) =>
        patroniRoles.judge(inputs({ patroniCluster: answers({ status: 200, body: cluster }) }, spec), target);

    test("passes with every other node streaming in the roles sync first 1 expects", async () => {
        await expect(judge(patroniCluster("pg2"))).resolves.toBe(true);
    });

    test("fails a wrong sync policy: quorum standbys where priority standbys are configured", async () => {
        const quorum = {
            members: [
                member("pg1", "leader", "running"),
                member("pg2", "quorum_standby"),
                member("pg3", "quorum_standby"),
            ],
        };
        await expect(judge(quorum)).resolves.toBe(
            "replica roles are quorum_standby, quorum_standby, expected replica, sync_standby",
        );
        await expect(judge(quorum, { ...PATRONI_SPEC, syncMethod: "any" })).resolves.toBe(true);
    });

    test("fails a replica that does not stream", async () => {
        const cluster = patroniCluster("pg1");
        cluster.members[2] = member("pg3", "replica", "starting");
        await expect(judge(cluster)).resolves.toBe("not streaming: pg3 (starting)");
    });

    test("passes while a member this deployment removes still holds a synchronous role", async () => {
        const scaleDown = {
            members: [
                member("pg1", "leader"),
                member("pg2", "replica"),
                member("pg3", "replica"),
                member("pg4", "sync_standby"),
            ],
        };
        await expect(judge(scaleDown)).resolves.toBe(true);
    });

    test("judges the /cluster read before when the node cannot be asked", async () => {
        const i = inputs({ patroniCluster: answers(new Error("down")) }, PATRONI_SPEC, {
            observed: { cluster: patroniCluster("pg3") },
        });
        await expect(patroniRoles.judge(i, target)).resolves.toBe(true);
    });
});

describe("primary-not-in-recovery and replica-in-recovery", () => {
    const recovering = (r: boolean) => inputs({ query: rowsFor({ pg_is_in_recovery: [{ r }] }) });

    test("target the primary and the replicas", () => {
        expect(primaryNotInRecovery.targets(SPEC)).toEqual([pg1]);
        expect(replicaInRecovery.targets(SPEC)).toEqual([pg2, pg3]);
    });

    test("the primary passes out of recovery and fails in it", async () => {
        await expect(primaryNotInRecovery.judge(recovering(false), pg1)).resolves.toBe(true);
        await expect(primaryNotInRecovery.judge(recovering(true), pg1)).resolves.toBe(
            "pg_is_in_recovery() is true on the primary",
        );
    });

    test("a replica passes in recovery and fails out of it", async () => {
        await expect(replicaInRecovery.judge(recovering(true), pg2)).resolves.toBe(true);
        await expect(replicaInRecovery.judge(recovering(false), pg2)).resolves.toBe(
            "pg_is_in_recovery() is false: this node is not a standby",
        );
    });
});

describe("streaming", () => {
    /** pg_stat_replication on the primary, as the primary alone answers it. */
    const walsenders = (rows: Array<{ state: string; ssl: boolean | null }>) =>
        queryFrom((at, sql, params) => {
            expect([at.node, params]).toEqual(["pg1", ["pg2"]]);
            expect(sql).toContain("FROM pg_stat_replication r LEFT JOIN pg_stat_ssl");
            return rows;
        });

    test("passes a walsender streaming over TLS", async () => {
        const i = inputs({ query: walsenders([{ state: "streaming", ssl: true }]) });
        await expect(streaming.judge(i, pg2)).resolves.toBe(true);
    });

    test("fails a walsender without TLS when tls is required, passes it when not", async () => {
        const query = walsenders([{ state: "streaming", ssl: false }]);
        await expect(streaming.judge(inputs({ query }), pg2)).resolves.toBe("streams without TLS (tls is required)");
        await expect(streaming.judge(inputs({ query }, { ...SPEC, tls: false }), pg2)).resolves.toBe(true);
    });

    test("fails a replica missing from pg_stat_replication, or not yet streaming", async () => {
        await expect(streaming.judge(inputs({ query: walsenders([]) }), pg2)).resolves.toBe(
            "expected one pg_stat_replication row for pg2, found 0",
        );
        const catchup = inputs({ query: walsenders([{ state: "catchup", ssl: true }]) });
        await expect(streaming.judge(catchup, pg2)).resolves.toBe("state is catchup");
    });
});

describe("sync-state", () => {
    const state = (sync_state?: string) =>
        inputs({
            query: rowsFor({ "SELECT sync_state FROM pg_stat_replication": sync_state ? [{ sync_state }] : [] }),
        });

    test("targets the replicas, none under Patroni (patroni-roles checks the roles)", () => {
        expect(syncState.targets(SPEC)).toEqual([pg2, pg3]);
        expect(syncState.targets(PATRONI_SPEC)).toEqual([]);
    });

    test("passes the state the sync keys give each replica (first 1: pg2 sync, pg3 potential)", async () => {
        await expect(syncState.judge(state("sync"), pg2)).resolves.toBe(true);
        await expect(syncState.judge(state("potential"), pg3)).resolves.toBe(true);
    });

    test("fails a wrong sync policy, and a replica with no row", async () => {
        await expect(syncState.judge(state("async"), pg2)).resolves.toBe("sync_state is async, expected sync");
        await expect(syncState.judge(state("quorum"), pg3)).resolves.toBe("sync_state is quorum, expected potential");
        await expect(syncState.judge(state(undefined), pg2)).resolves.toBe("sync_state is undefined, expected sync");
    });
});

describe("canary-written", () => {
    /** The primary: stores what is inserted; reads back `readBack` when given. */
    const primary = (readBack?: string) => {
        const statements: string[] = [];
        let stored: unknown;
        const query = queryFrom((at, sql, params) => {
            statements.push(sql.split(" ").slice(0, 2).join(" "));
            if (sql.startsWith("INSERT")) stored = params[0];
            return sql.startsWith("SELECT token") ? [{ token: readBack ?? stored }] : [];
        });
        return { statements, query };
    };

    test("writes the run's token without waiting for standbys and reads it back on the primary", async () => {
        const p = primary();
        await expect(canaryWritten.judge(inputs({ query: p.query }), pg1)).resolves.toBe(true);
        expect(p.statements).toEqual([
            "SET synchronous_commit",
            "CREATE SCHEMA",
            "CREATE TABLE",
            "INSERT INTO",
            "SELECT token",
        ]);
    });

    test("fails when the row reads another token", async () => {
        await expect(canaryWritten.judge(inputs({ query: primary("old").query }), pg1)).resolves.toBe(
            'canary row reads "old", not tok-1',
        );
    });

    test("is judged once: a failing statement rejects (the checks could not run)", async () => {
        expect(canaryWritten.waits).toBe(false);
        const query = queryFrom(() => {
            throw pgError("42501", "permission denied for database");
        });
        await expect(canaryWritten.judge(inputs({ query }), pg1)).rejects.toThrow("permission denied for database");
    });
});

describe("canary-replicated", () => {
    const replica = (table: boolean, token?: string) =>
        rowsFor({ to_regclass: [{ e: table }], "SELECT token": token ? [{ token }] : [] });

    test("passes when the replica shows the run's token", async () => {
        await expect(canaryReplicated.judge(inputs({ query: replica(true, "tok-1") }), pg2)).resolves.toBe(true);
    });

    test("fails while the table or the token has not replicated, saying how long it waited", async () => {
        await expect(canaryReplicated.judge(inputs({ query: replica(false) }), pg2)).resolves.toBe(
            "the canary table has not replicated yet",
        );
        const i = inputs({ query: replica(true, "old") }, SPEC, { started: Date.now() - 1500 });
        await expect(canaryReplicated.judge(i, pg2)).resolves.toMatch(/^canary tok-1 not visible after 1[5-9]\d\d ms$/);
    });
});

describe("archiving", () => {
    const archiver = (row: object) => inputs({ query: rowsFor({ pg_stat_archiver: [{ ...ARCHIVER_OK, ...row }] }) });

    test("passes an archiver without failures or backlog", async () => {
        await expect(archiving.judge(archiver({}), pg1)).resolves.toBe(true);
        await expect(archiving.judge(archiver({ archive_mode: "off", failed_age: 1 }), pg1)).resolves.toBe(true);
    });

    test("fails failing archiving on the primary, naming its container's log", async () => {
        const failing = archiver({
            failed_count: 2,
            last_failed_wal: "00000001000000000000000A",
            failed_age: 5,
            archived_age: 60,
        });
        const verdict = await archiving.judge(failing, pg1);
        expect(verdict).toMatch(
            /^archiving fails on pg1: 2 failed attempts, the last for 00000001000000000000000A 5 s ago/,
        );
        expect(verdict).toContain("docker logs --tail 50 s-pg1");
    });
});

describe("backup", () => {
    test("runs with backups on and a stack, on the primary's container", async () => {
        expect(backup.targets(SPEC)).toEqual([]);
        expect(backup.targets({ ...FULL_SPEC, stack: undefined })).toEqual([]);
        const [target] = backup.targets(FULL_SPEC);
        const asked: string[][] = [];
        const backupReady = (stack: string, container: string) => {
            asked.push([stack, container]);
            return Promise.resolve(stack === "s" ? (true as const) : "no");
        };
        await expect(backup.judge(inputs({ backupReady }, FULL_SPEC), target)).resolves.toBe(true);
        expect(asked).toEqual([["s", "s-pg1"]]);
    });

    test("fails with pgBackRest's verdict", async () => {
        const [target] = backup.targets(FULL_SPEC);
        const backupReady = () => Promise.resolve("pgbackrest check on s-pg1 failed: no backup");
        await expect(backup.judge(inputs({ backupReady }, FULL_SPEC), target)).resolves.toBe(
            "pgbackrest check on s-pg1 failed: no backup",
        );
    });
});

describe("certificate", () => {
    const ending = (inDays: number | undefined) =>
        inputs({
            certificateEnd: () =>
                Promise.resolve(inDays === undefined ? undefined : new Date(Date.now() + inDays * DAY_MS)),
        });

    test("runs on every node with tls required only", () => {
        expect(certificate.targets(SPEC)).toEqual([pg1, pg2, pg3]);
        expect(certificate.targets({ ...SPEC, tls: false })).toEqual([]);
    });

    test("passes a certificate far from its end", async () => {
        await expect(certificate.judge(ending(365), pg2)).resolves.toBe(true);
    });

    test("fails one about to expire with the command that re-issues it, and a session without TLS", async () => {
        const verdict = await certificate.judge(ending(2), pg2);
        expect(verdict).toMatch(/^the TLS certificate of pg2 expires on .* \(in [12] days\)/);
        expect(verdict).toContain("bash scripts/pulumi.sh s up; the live harness: npm run live -- up --stack s");
        await expect(certificate.judge(ending(undefined), pg2)).resolves.toBe("the connection is not TLS");
    });
});

describe("replica-read-only", () => {
    const write = (fail?: Error) =>
        inputs({
            query: queryFrom(() => {
                if (fail) throw fail;
                return [];
            }),
        });

    test("passes when a write fails as read-only (25006)", async () => {
        await expect(replicaReadOnly.judge(write(pgError("25006", "read-only")), pg2)).resolves.toBe(true);
    });

    test("fails when the write succeeds, or fails otherwise", async () => {
        await expect(replicaReadOnly.judge(write(), pg2)).resolves.toBe("a write on the replica succeeded");
        await expect(replicaReadOnly.judge(write(pgError("42P01", "no canary")), pg2)).resolves.toBe(
            "unexpected error 42P01: no canary",
        );
    });
});

describe("slot-active", () => {
    const slot = (row?: object) =>
        inputs({
            query: queryFrom((at, sql, params) => {
                expect([at.node, params]).toEqual(["pg1", ["pg2"]]);
                return row ? [{ active: true, wal_status: "reserved", invalidation_reason: null, ...row }] : [];
            }),
        });

    test("runs with slots on only", () => {
        expect(slotActive.targets(SPEC)).toEqual([pg2, pg3]);
        expect(slotActive.targets({ ...SPEC, slots: false })).toEqual([]);
    });

    test("passes an active slot", async () => {
        await expect(slotActive.judge(slot({}), pg2)).resolves.toBe(true);
    });

    test("fails a missing slot, an inactive one and an invalidated one (with the repair)", async () => {
        await expect(slotActive.judge(slot(), pg2)).resolves.toBe("slot pg2 does not exist");
        await expect(slotActive.judge(slot({ active: false }), pg2)).resolves.toBe("slot pg2 is not active");
        const lost = await slotActive.judge(slot({ wal_status: "lost", invalidation_reason: "wal_removed" }), pg2);
        expect(lost).toMatch(/^slot pg2 is invalidated \(wal_removed\): it retains no WAL for pg2/);
        expect(lost).toContain("npm run rejoin -- --node pg2 --stack s");
    });
});

describe("endpoint-rw and endpoint-ro", () => {
    const reaches = (r: boolean, node: string, addr = "172.20.0.99") =>
        queryFrom((at: CheckEndpoint) => {
            expect(at.port).toBe(at.node === "endpoint-rw" ? 15442 : 15443);
            return [{ r, node, addr }];
        });
    const [rw] = endpointRw.targets(FULL_SPEC);
    const [ro] = endpointRo.targets(FULL_SPEC);

    test("run with the pooler only", () => {
        expect(rw).toEqual({ node: "endpoint-rw", host: "127.0.0.1", port: 15442 });
        expect(endpointRw.targets(SPEC)).toEqual([]);
        expect(endpointRo.targets(SPEC)).toEqual([]);
    });

    test("rw passes reaching the primary; fails reaching another node", async () => {
        await expect(endpointRw.judge(inputs({ queryFresh: reaches(false, "pg1") }, FULL_SPEC), rw)).resolves.toBe(
            true,
        );
        await expect(endpointRw.judge(inputs({ queryFresh: reaches(true, "pg2") }, FULL_SPEC), rw)).resolves.toBe(
            "reaches pg2, not the primary pg1",
        );
    });

    test("ro passes reaching a standby; fails reaching the primary (unless there are no replicas)", async () => {
        await expect(endpointRo.judge(inputs({ queryFresh: reaches(true, "pg3") }, FULL_SPEC), ro)).resolves.toBe(true);
        await expect(endpointRo.judge(inputs({ queryFresh: reaches(false, "pg1") }, FULL_SPEC), ro)).resolves.toBe(
            "reaches pg1, which is the primary",
        );
        const alone = { ...FULL_SPEC, replicas: [] };
        await expect(endpointRo.judge(inputs({ queryFresh: reaches(false, "pg1") }, alone), ro)).resolves.toBe(true);
    });

    test("under Patroni names the node by its fixed address (cluster_name is the scope)", async () => {
        const spec = { ...PATRONI_SPEC, primary: PATRONI.nodes[1] };
        await expect(
            endpointRw.judge(inputs({ queryFresh: reaches(false, "s", "172.20.0.12") }, spec), rw),
        ).resolves.toBe(true);
        await expect(
            endpointRw.judge(inputs({ queryFresh: reaches(false, "s", "172.20.0.11") }, spec), rw),
        ).resolves.toBe("reaches pg1, not the primary pg2");
    });
});
