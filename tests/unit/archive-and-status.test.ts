// WAL archiving (issue 21 item 5): the rendered archive_command, run by /bin/sh as PostgreSQL runs
// it, succeeds again for a segment already archived with the same contents (it used to fail for
// ever), refuses different contents without overwriting; and archiveTrouble / roleProblems /
// formatStatus flag failing archiving, split brain, no primary and nodes of unknown role.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULTS } from "../../infra/config";
import { archiveCommands } from "../../infra/render";
import { PATHS } from "../../infra/topology";
import { ArchiverState, archiveTrouble, READY_BACKLOG_LIMIT } from "../../scripts/lib/archive";
import { ClusterNode } from "../../scripts/lib/cluster-discovery";
import { ClusterStatus, etcdProblem, formatStatus, roleProblems } from "../../scripts/lib/status";

/** Runs the rendered archive_command for one segment (%p, %f substituted) in `dir`; its exit code. */
function archiveSegment(dir: string, segment: string): number {
    const cmd = archiveCommands(DEFAULTS)
        .archiveCommand.split(PATHS.archiveDir)
        .join(path.join(dir, "archive"))
        .replace(/%p/g, path.join("pg_wal", segment))
        .replace(/%f/g, segment);
    try {
        execFileSync("/bin/sh", ["-c", cmd], { cwd: dir, stdio: "pipe" });
        return 0;
    } catch (err) {
        return (err as { status: number }).status;
    }
}

describe("archive_command", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgr-archive-"));
        fs.mkdirSync(path.join(dir, "pg_wal"));
        fs.mkdirSync(path.join(dir, "archive"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const SEG = "000000010000000000000003";
    const write = (where: string, text: string) => fs.writeFileSync(path.join(dir, where, SEG), text);
    const archived = () => fs.readFileSync(path.join(dir, "archive", SEG), "utf8");

    test("archives a new segment, with no partial file left", () => {
        write("pg_wal", "segment contents");
        expect(archiveSegment(dir, SEG)).toBe(0);
        expect(archived()).toBe("segment contents");
        expect(fs.readdirSync(path.join(dir, "archive"))).toEqual([SEG]);
    });

    test("a segment archived again with identical contents succeeds (a crash between copy and status)", () => {
        write("pg_wal", "segment contents");
        expect(archiveSegment(dir, SEG)).toBe(0);
        expect(archiveSegment(dir, SEG)).toBe(0);
    });

    test("different contents under an archived name fail, and the archived copy is kept", () => {
        write("archive", "what was archived first");
        write("pg_wal", "something else");
        expect(archiveSegment(dir, SEG)).not.toBe(0);
        expect(archived()).toBe("what was archived first");
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
                "17 segments wait in pg_wal; the reason is in the log: docker logs --tail 50 s-pg1 2>&1 | grep -i archive; " +
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
