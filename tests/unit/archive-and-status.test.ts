// WAL archiving: the rendered archive_command and restore_command go through pgBackRest (what a
// re-archived segment does is proven against the real repository in
// tests/faults/archive-stall.test.ts); archiveTrouble / roleProblems / formatStatus flag failing
// archiving, split brain, no primary and nodes of unknown role.
import { DEFAULTS } from "../../model/config";
import { archiveCommands } from "../../model/render";
import { STANZA } from "../../model/topology";
import { ArchiverState, archiveTrouble, READY_BACKLOG_LIMIT } from "../../ops/archive";
import { ClusterNode } from "../../ops/cluster-discovery";
import { etcdProblem } from "../../ops/patroni-status";
import { ClusterStatus, formatStatus, roleProblems } from "../../ops/status";

describe("archive_command", () => {
    test("pushes through pgBackRest's stanza and fetches with archive-get; nothing with backups off", () => {
        expect(archiveCommands(DEFAULTS)).toEqual({
            archiveCommand: `pgbackrest --stanza=${STANZA} archive-push %p`,
            restoreCommand: `/usr/local/bin/pg-replication-archive-get %f "%p"`,
        });
        expect(archiveCommands({ ...DEFAULTS, backups: false })).toEqual({ archiveCommand: "", restoreCommand: "" });
    });
});

const at = { node: "pg1", container: "s-pg1" };
const healthy: ArchiverState = {
    archive_mode: "on",
    failed_count: 0,
    last_failed_wal: null,
    failed_age: null,
    archived_age: 3,
    ready: 0,
};

describe("archiveTrouble", () => {
    test("nothing when archiving keeps up, or is off", () => {
        expect(archiveTrouble(healthy, at)).toBeNull();
        expect(archiveTrouble({ ...healthy, archived_age: null }, at)).toBeNull();
        expect(archiveTrouble({ ...healthy, archive_mode: "off", failed_age: 1, ready: 99 }, at)).toBeNull();
    });

    test("a failure repaired by a later success is no trouble", () => {
        expect(archiveTrouble({ ...healthy, failed_count: 3, failed_age: 30, archived_age: 2 }, at)).toBeNull();
    });

    test("the last attempt failed: counts, segment, backlog and the command that shows why", () => {
        const msg = archiveTrouble(
            {
                ...healthy,
                failed_count: 48,
                last_failed_wal: "00000001000000000000000F",
                failed_age: 2,
                archived_age: 90,
                ready: 17,
            },
            at,
        );
        expect(msg).toBe(
            "archiving fails on pg1: 48 failed attempts, the last for 00000001000000000000000F 2 s ago (last success 90 s ago); " +
                "17 segments wait in pg_wal; the reason is in the log: docker logs --tail 50 s-pg1 2>&1 | grep -i archive " +
                "(pgBackRest's: docker exec s-pg1 tail -n 20 /var/log/pgbackrest/main-archive-push-async.log); " +
                "PostgreSQL retries by itself once the archive accepts the segment, and pg_wal shrinks again",
        );
        expect(archiveTrouble({ ...healthy, failed_count: 1, failed_age: 1, archived_age: null }, at)).toContain(
            "nothing archived yet",
        );
    });

    test("a backlog over the limit is trouble even with no failure recorded", () => {
        expect(archiveTrouble({ ...healthy, ready: READY_BACKLOG_LIMIT }, at)).toBeNull();
        expect(archiveTrouble({ ...healthy, ready: READY_BACKLOG_LIMIT + 1 }, at)).toContain(
            `archiving lags on pg1: ${READY_BACKLOG_LIMIT + 1} segments wait`,
        );
    });
});

const member = (n: number, over: Partial<ClusterNode> = {}): ClusterNode => ({
    node: `pg${n}`,
    container: `s-pg${n}`,
    running: true,
    state: "running",
    inRecovery: n !== 1,
    ...over,
});

describe("status problems", () => {
    test("a sound cluster has none; a stopped replica is no problem", () => {
        expect(roleProblems("s", [member(1), member(2), member(3)])).toEqual([]);
        expect(
            roleProblems("s", [member(1), member(2, { running: false, state: "exited", inRecovery: null })]),
        ).toEqual([]);
    });

    test("split brain, no primary and a paused node are problems with their next step", () => {
        expect(roleProblems("s", [member(1), member(2, { inRecovery: false })])).toEqual([
            "split brain: pg1 and pg2 accept writes; npm run lag -- --stack s shows both, and npm run rejoin -- --stack s --node NODE turns the one to give up back into a replica",
        ]);
        expect(roleProblems("s", [member(1, { inRecovery: true }), member(2)])[0]).toMatch(
            /^no primary: no node accepts writes; npm run failover -- --stack s --to pgN/,
        );
        expect(
            roleProblems("s", [member(1), member(2, { running: false, state: "paused", inRecovery: null })]),
        ).toEqual([
            "role unknown: pg2 (s-pg2) is paused: docker unpause s-pg2 lets it answer, docker stop s-pg2 takes it out of the cluster",
        ]);
    });

    test("formatStatus ends with one PROBLEM line each", () => {
        const s: ClusterStatus = {
            stack: "s",
            failover: "manual",
            members: [{ node: "pg1", container: "s-pg1", role: "primary", state: "running", timeline: 1, lagBytes: 0 }],
            problems: ["archiving fails on pg1: …"],
        };
        expect(formatStatus(s).split("\n")).toEqual([
            "stack s (failover=manual)",
            "MEMBER  CONTAINER  ROLE     STATE    TL  LAG",
            "pg1     s-pg1      primary  running  1   0 B",
            "PROBLEM: archiving fails on pg1: …",
        ]);
    });

    test("Patroni: an etcd line, and a problem once a majority of members does not answer", () => {
        expect(etcdProblem("s", { healthy: 2, members: 3 })).toBeUndefined();
        expect(etcdProblem("s", { healthy: 1, members: 1 })).toBeUndefined();
        expect(etcdProblem("s", { healthy: 1, members: 3 })).toBe(
            "etcd has no quorum (1 of 3 members healthy, 2 needed): Patroni holds no leader key, so every node is " +
                "read-only; start the stopped members: docker start s-etcd1 s-etcd2 s-etcd3",
        );
        const s: ClusterStatus = {
            stack: "s",
            failover: "patroni",
            members: [],
            etcd: { healthy: 1, members: 3 },
            problems: [etcdProblem("s", { healthy: 1, members: 3 }) as string],
        };
        expect(formatStatus(s).split("\n").slice(-2)).toEqual([
            "etcd: 1 of 3 members healthy",
            `PROBLEM: ${s.problems[0]}`,
        ]);
    });
});
