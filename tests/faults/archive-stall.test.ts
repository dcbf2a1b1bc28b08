// Fault suite, WAL archiving through pgBackRest (issues 21 item 5 and 17), on a real manual-mode
// cluster:
// - PostgreSQL archives a segment again after a crash between the push and the status update
//   (reproduced by turning the newest archive_status/*.done back into .ready): archive-push
//   succeeds for what the repository already holds and the backlog drains (the first `cp` archive
//   failed for ever: failed_count 21 → 48, pg_wal growing, while everything exited 0);
// - the repository container stopped under a writer: every write still commits (pg_wal holds the
//   segments), `status` and `lag` exit 1 naming the failing archive and the commands that show why;
//   once it is started again the backlog drains into the repository, both exit 0 and pgBackRest's
//   own check passes;
// - a restore into a new stack to a time inside that outage: a marker committed while the repository
//   was away, the target recorded after it, a second marker after the target (still inside the outage);
//   the restored stack has the first and not the second, so the WAL written during the outage reached
//   the repository intact and in order.
// The outage lasts as long as the test needs (about 40-60 s: pgBackRest's 30 s archive-timeout must
// expire once before a failure is recorded), not the full minute: what matters is that the
// target's WAL was written while nothing could be archived.
// Own stacks, subnets 172.29.100.0/24 (source, ports 24332+) and 172.29.121.0/24 (restored, 25200-25212).
import {
    containerOf,
    deploy,
    docker,
    eventually,
    exec,
    faultCluster,
    psqlIn,
    script,
    teardown,
    waitHealthy,
} from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `fa${process.pid}`,
    subnet: "172.29.100.0/24",
    base: 24332,
    password: `fa-super-${process.pid}-Lp3`,
    replPassword: `fa-repl-${process.pid}-Hy6`,
    replicas: 1,
    config: ["syncMode=async", "pooler=false", "metrics=false"],
});
const PG1 = containerOf(C, "pg1");
const REPO = `${C.stack}-backup`;
/** The stack restored from C's repository: no replica (the restore is what is tested; restore.test.ts covers replicas). */
const RESTORED = faultCluster({
    stack: `fr${process.pid}`,
    subnet: "172.29.121.0/24",
    base: 25200,
    password: `fr-super-${process.pid}-Mn2`,
    replPassword: `fr-repl-${process.pid}-Bv4`,
    replicas: 0,
    config: ["syncMode=async", "pooler=false", "metrics=false"],
});

/** The server's clock now, as a restoreTarget time (UTC, microseconds). */
function serverTime(): Promise<string> {
    return psqlIn(PG1, `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What happened during the outage, for the restore that follows it: the target and the markers around it. */
const outage = { target: "", before: 1, after: 2 };

interface Archiver {
    failed: number;
    archived: string;
    ready: number;
}

async function archiver(): Promise<Archiver> {
    const out = await psqlIn(
        PG1,
        "SELECT failed_count || '|' || coalesce(last_archived_wal, '') || '|' || " +
            "(SELECT count(*) FROM pg_ls_dir('pg_wal/archive_status') f WHERE f LIKE '%.ready') FROM pg_stat_archiver",
    );
    const [failed, archived, ready] = out.split("|");
    return { failed: Number(failed), archived, ready: Number(ready) };
}

/** Writes a little and finishes the current segment, so the archiver has one to archive. */
async function switchSegment(): Promise<void> {
    await psqlIn(
        PG1,
        "CREATE TABLE IF NOT EXISTS archive_probe (t timestamptz); INSERT INTO archive_probe VALUES (now())",
    );
    await psqlIn(PG1, "SELECT pg_switch_wal()");
}

function status() {
    return script("status", ["--stack", C.stack, "--live"], 60_000);
}

function lag() {
    return script("lag", ["--stack", C.stack, "--live"], 60_000);
}

describe(`fault: WAL archiving (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
        await waitHealthy(C, 60_000, "pg1");
    }, 300_000);
    afterAll(async () => {
        await teardown(RESTORED);
        await teardown(C);
    }, 300_000);

    test("a segment archived again after a crash between copy and status succeeds; the backlog drains", async () => {
        await switchSegment();
        let first = await archiver();
        await eventually("a segment archived", 60_000, async () => {
            first = await archiver();
            return first.archived !== "" && first.ready === 0 ? true : JSON.stringify(first);
        });
        // What a crash between the copy and the .done rename leaves: the segment ready again.
        await docker([
            "exec",
            "-u",
            "postgres",
            PG1,
            "sh",
            "-c",
            `cd /var/lib/postgresql/data/pg_wal/archive_status && mv ${first.archived}.done ${first.archived}.ready`,
        ]);
        await switchSegment();
        let after = first;
        await eventually("the re-archived segment and the next one done", 90_000, async () => {
            after = await archiver();
            return after.ready === 0 && after.archived !== first.archived ? true : JSON.stringify(after);
        });
        expect(after.failed).toBe(first.failed);
        const st = await status();
        expect(st.stdout).not.toContain("PROBLEM");
        expect(st.code).toBe(0);
    });

    test("the repository stopped under a writer: writes go on, status and lag exit 1 naming it; the backlog drains after", async () => {
        const before = await archiver();
        await psqlIn(PG1, "CREATE TABLE outage_markers (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
        await docker(["stop", REPO]);
        try {
            // Writes commit while nothing can be archived: pg_wal keeps every segment until it is.
            for (let i = 0; i < 3; i++) await switchSegment();
            // A marker, the target a moment after it on the server's clock, a marker after the target.
            await psqlIn(PG1, `INSERT INTO outage_markers (id) VALUES (${outage.before})`);
            await pause(300);
            outage.target = await serverTime();
            await pause(300);
            await psqlIn(PG1, `INSERT INTO outage_markers (id) VALUES (${outage.after})`);
            expect(Number(await psqlIn(PG1, "SELECT count(*) FROM archive_probe"))).toBeGreaterThanOrEqual(4);
            await eventually("an archive failure recorded", 90_000, async () =>
                (await archiver()).failed > before.failed ? true : "no failure yet",
            );
            const st = await status();
            expect(st.code).toBe(1);
            expect(st.stdout).toMatch(/PROBLEM: archiving fails on pg1: \d+ failed attempts/);
            expect(st.stdout).toContain(`docker logs --tail 50 ${PG1} 2>&1 | grep -i archive`);
            expect(st.stdout).toContain(
                `docker exec ${PG1} tail -n 20 /var/log/pgbackrest/main-archive-push-async.log`,
            );
            expect(st.stdout).toContain(`the repository container is not running: docker start ${REPO}`);
            const lg = await lag();
            expect(lg.code).toBe(1);
            expect(lg.stdout + lg.stderr).toContain("archiving fails on pg1");
        } finally {
            await docker(["start", REPO]);
        }
        const pending = await psqlIn(PG1, "SELECT pg_walfile_name(pg_current_wal_lsn())");
        await switchSegment();
        await eventually("archiving recovered", 120_000, async () =>
            (await status()).code === 0 ? true : "status still exits non-zero",
        );
        expect((await lag()).code).toBe(0);
        // Every segment written while the repository was away is in it now.
        const info = JSON.parse(
            await docker(["exec", "-u", "postgres", REPO, "pgbackrest", "--stanza=main", "info", "--output=json"]),
        ) as Array<{ archive: Array<{ max: string }> }>;
        expect(info[0].archive[0].max >= pending).toBe(true);
        await docker(["exec", "-u", "postgres", REPO, "pgbackrest", "--stanza=main", "check"]);
    });

    test("a restore into a new stack to a time inside the outage has the marker before it and not the one after", async () => {
        expect(outage.target).not.toBe(""); // set by the outage test above
        // Both markers were committed while the repository was stopped (its start is after them).
        const repoStarted = await docker(["inspect", "-f", "{{.State.StartedAt}}", REPO]);
        const committed = await psqlIn(
            PG1,
            "SELECT max(at) < $$" + repoStarted + "$$::timestamptz FROM outage_markers",
        );
        expect(committed).toBe("t");
        await teardown(RESTORED);
        const pass = await exec(
            [
                "sh",
                "-c",
                `npm run -s live -- output backupCipherPass --stack ${C.stack} --show-secrets | ` +
                    `npm run -s live -- config set --secret restoreCipherPass --stack ${RESTORED.stack}`,
            ],
            60_000,
        );
        expect(pass.code).toBe(0);
        await deploy(RESTORED, [`restoreFrom=${C.stack}`, `restoreTarget=time=${outage.target}`], 300_000);
        const ids = await psqlIn(
            containerOf(RESTORED, "pg1"),
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM outage_markers",
        );
        expect(ids).toBe(String(outage.before));
        await teardown(RESTORED);
    }, 420_000);
});
