// Point-in-time recovery into new stacks (issue 17), through the live harness: a manual-mode source
// stack commits marker rows around a recorded time, a recorded LSN and a named restore point
// (`npm run restore-point`), then drops the table; new stacks restored from its repository to each
// target hold exactly the markers before it, the table intact, a streaming replica, green checks and
// a backup chain of their own, and the source's repository is untouched. The restore-point stack runs
// failover=patroni (Patroni's custom bootstrap; the repository's format is the same in both modes),
// with passwords of its own that Patroni's post_bootstrap sets. Targets outside the restore
// window, a missing source, a wrong passphrase and a restore onto itself are refused before anything
// is created. Own stacks, subnets 172.29.109.0/24 (source) and 172.29.110-111.0/24; each stack uses 13
// ports from its base: 25060 (source), 25080 and 25100 (restored).
import {
    backupListing,
    deploy,
    docker,
    eventually,
    exec,
    faultCluster,
    FaultCluster,
    IMAGE,
    jsonOf,
    psqlIn,
    q,
    script,
    teardown,
    upArgs,
    waitHealthy,
} from "../support/faults";
import { dockerNames, live, stackOutputs } from "../support/live-client";
import { patroniCluster } from "../../ops/patroni";

jest.setTimeout(600_000);

const cluster = (
    stack: string,
    subnet: string,
    base: number,
    config: string[] = [],
    passwords = { password: `rs-super-${process.pid}-Zx4`, replPassword: `rs-repl-${process.pid}-Cv5` },
): FaultCluster =>
    faultCluster({
        stack,
        subnet,
        base,
        ...passwords,
        replicas: 1,
        config: ["syncMode=async", "metrics=false", ...config],
    });

/** The restored stack under Patroni: one etcd member, and passwords that are not the source's. */
const PATRONI_RESTORED = {
    config: ["failover=patroni", "etcdMembers=1"],
    passwords: { password: `rp-super-${process.pid}-Qw7`, replPassword: `rp-repl-${process.pid}-Er8` },
};

/**
 * Under Patroni: pg1 leads and pg2 streams from it (Patroni's view), the new stack's superuser password
 * logs in over TCP (Patroni's post_bootstrap set it; the source's no longer does), and no recovery
 * setting is left on either node (pg2 cloned pg1's postgresql.auto.conf).
 */
async function expectPatroniRestored(c: FaultCluster): Promise<void> {
    await eventually("pg2 streams from the leader pg1 (Patroni)", 90_000, async () => {
        const members = (await patroniCluster(c.stack)).cluster.members;
        const roles = Object.fromEntries(members.map((m) => [m.name, `${m.role} ${m.state}`]));
        return roles.pg1 === "leader running" && roles.pg2 === "replica streaming" ? true : JSON.stringify(roles);
    });
    expect(await q(c, "pg1", "SELECT current_user AS u")).toEqual([{ u: "postgres" }]);
    await expect(q({ ...c, password: `rs-super-${process.pid}-Zx4` }, "pg1", "SELECT 1")).rejects.toThrow(
        /password authentication failed/,
    );
    for (const node of ["pg1", "pg2"]) {
        const sql = (text: string) => psqlIn(`${c.stack}-${node}`, text);
        expect(await sql("SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf'")).toBe(
            "0",
        );
        expect(await sql("SHOW recovery_target_name")).toBe("");
    }
}

const SRC = cluster(`rs${process.pid}`, "172.29.109.0/24", 25060);
const SRC_PG1 = `${SRC.stack}-pg1`;
const SRC_REPO = `${SRC.stack}-backup-repo`;

/** Every file in the source's repository volume, read through a throw-away read-only mount. */
function sourceFiles(): Promise<string> {
    return docker([
        "run",
        "--rm",
        "-v",
        `${SRC_REPO}:/r:ro`,
        "--entrypoint",
        "sh",
        IMAGE,
        "-c",
        "cd /r && find . -type f | sort",
    ]);
}

/** Markers committed in phases around the targets: which ids each target must bring back. */
const PHASES = { beforeTime: [1, 2, 3], beforeLsn: [4, 5, 6], beforeName: [7, 8, 9], after: [10, 11, 12] };

async function insert(ids: number[]): Promise<void> {
    for (const id of ids) await psqlIn(SRC_PG1, `INSERT INTO markers VALUES (${id})`);
}

/** The new stack `dst` gets the source's passphrase the way the docs say: output piped into config set --secret. */
async function givePassphrase(dst: string): Promise<void> {
    const r = await exec(
        [
            "sh",
            "-c",
            `npm run -s live -- output backupCipherPass --stack ${SRC.stack} --show-secrets | ` +
                `npm run -s live -- config set --secret restoreCipherPass --stack ${dst}`,
        ],
        60_000,
    );
    if (r.code !== 0) throw new Error(`passphrase: ${r.stderr}`);
    expect(r.stdout + r.stderr).toContain("restoreCipherPass = [secret]");
}

/** A deployment of `c` that must be refused; returns its error output after checking nothing was made. */
async function refused(c: FaultCluster, extra: string[]): Promise<string> {
    const r = await live(upArgs(c, extra));
    expect(r.code).not.toBe(0);
    expect(await dockerNames("container", `${c.stack}-`)).toEqual([]);
    expect(await dockerNames("volume", `${c.stack}-`)).toEqual([]);
    return r.stderr;
}

describe(`restore into a new stack (source ${SRC.stack})`, () => {
    let time = "";
    let lsn = "";
    const point = `before-phase-d-${process.pid}`;
    let sourceInfo = "";
    const targets: FaultCluster[] = [];

    beforeAll(async () => {
        await teardown(SRC);
        await deploy(SRC);
        await waitHealthy(SRC, 60_000, "pg1");
        await psqlIn(SRC_PG1, "CREATE TABLE markers (id int PRIMARY KEY)");
        await insert(PHASES.beforeTime);
        // The time between two commits, on the server's clock.
        await new Promise((r) => setTimeout(r, 300));
        time = await psqlIn(
            SRC_PG1,
            `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
        );
        await new Promise((r) => setTimeout(r, 300));
        await insert(PHASES.beforeLsn);
        lsn = await psqlIn(SRC_PG1, "SELECT pg_current_wal_lsn()");
        await insert(PHASES.beforeName);
        const rp = await script("restore-point", ["--stack", SRC.stack, "--live", "--json", "--name", point], 60_000);
        expect(rp.code).toBe(0);
        expect(jsonOf(rp)).toMatchObject({ name: point, node: "pg1" });
        await insert(PHASES.after);
        await psqlIn(SRC_PG1, "DROP TABLE markers");
        const last = await psqlIn(SRC_PG1, "SELECT pg_walfile_name(pg_switch_wal())");
        await eventually("the source's last segment archived", 90_000, async () => {
            const max = (await backupListing(SRC.stack)).archive?.max ?? "";
            return max >= last ? true : `archive ends at ${max}`;
        });
        sourceInfo = await sourceFiles();
    }, 300_000);
    afterAll(async () => {
        for (const c of targets) await teardown(c);
        await teardown(SRC);
    }, 300_000);

    test.each([
        ["time", () => `time=${time}`, PHASES.beforeTime],
        ["lsn", () => `lsn=${lsn}`, [...PHASES.beforeTime, ...PHASES.beforeLsn]],
        ["name", () => `name=${point}`, [...PHASES.beforeTime, ...PHASES.beforeLsn, ...PHASES.beforeName]],
    ])(
        "restoreTarget %s: every marker before it, none after, the table intact, a replica streaming, checks green",
        async (kind, target, expected) => {
            const underPatroni = kind === "name";
            const c = cluster(
                `rd${kind}${process.pid}`,
                kind === "lsn" ? "172.29.111.0/24" : "172.29.110.0/24",
                kind === "lsn" ? 25080 : 25100,
                underPatroni ? PATRONI_RESTORED.config : [],
                underPatroni ? PATRONI_RESTORED.passwords : undefined,
            );
            targets.push(c);
            await teardown(c);
            await givePassphrase(c.stack);
            await deploy(c, [`restoreFrom=${SRC.stack}`, `restoreTarget=${target()}`], 300_000);
            const ids = (await psqlIn(`${c.stack}-pg1`, "SELECT string_agg(id::text, ',' ORDER BY id) FROM markers"))
                .split(",")
                .map(Number);
            expect(ids).toEqual(expected);
            await eventually("the replica has the markers", 60_000, async () =>
                (await psqlIn(`${c.stack}-pg2`, "SELECT count(*) FROM markers")) === String(expected.length)
                    ? true
                    : "not yet",
            );
            if (underPatroni) await expectPatroniRestored(c);
            const out = await stackOutputs(c.stack);
            expect(out.checkReport.ok).toBe(true);
            // The new stack's own chain: a backup of its new timeline in its own repository.
            const own = await backupListing(c.stack);
            expect(own.backups).toHaveLength(1);
            expect(own.backups[0].walStart.slice(0, 8)).not.toBe("00000001");
            await teardown(c);
        },
    );

    test("under Patroni, a target the WAL never reaches fails the deployment at once with the reason, without a restart loop", async () => {
        const c = cluster(
            `rf${process.pid}`,
            "172.29.110.0/24",
            25100,
            PATRONI_RESTORED.config,
            PATRONI_RESTORED.passwords,
        );
        targets.push(c);
        await teardown(c);
        await givePassphrase(c.stack);
        const started = Date.now();
        const r = await live(upArgs(c, [`restoreFrom=${SRC.stack}`, "restoreTarget=name=no-such-restore-point"]));
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(`restore from ${SRC.stack} failed: recovery`);
        expect(r.stderr).toContain("recovery ended before configured recovery target was reached");
        expect(Date.now() - started).toBeLessThan(150_000);
        // It waits with the reason (Patroni's bootstrap never returns): not restarted, its volume empty.
        expect(await docker(["inspect", "-f", "{{.RestartCount}} {{.State.Running}}", `${c.stack}-pg1`])).toBe(
            "0 true",
        );
        expect(await docker(["exec", `${c.stack}-pg1`, "ls", "-A", "/var/lib/postgresql/data"])).toBe("");
        await teardown(c);
    });

    test("nothing of the restored stacks reached the source's repository (mounted read-only)", async () => {
        const now = await sourceFiles();
        // The source goes on archiving its own WAL (timeline 1); the restored stacks promoted to
        // timeline 2 and wrote only into their own repositories: no timeline-2 file, no history file,
        // the same backups.
        expect(now.split("\n").filter((f) => /\/00000002|\/[0-9A-F]{8}\.history/.test(f))).toEqual([]);
        const backups = (list: string) => list.split("\n").filter((f) => f.startsWith("./backup/"));
        expect(backups(now)).toEqual(backups(sourceInfo));
    });

    test("refused before anything is created: targets outside the window, a missing source, a wrong passphrase, itself", async () => {
        const c = cluster(`rn${process.pid}`, "172.29.110.0/24", 25100);
        targets.push(c);
        await teardown(c);
        await givePassphrase(c.stack);
        const src = `restoreFrom=${SRC.stack}`;
        expect(await refused(c, [src, "restoreTarget=time=2020-01-01T00:00:00Z"])).toContain(
            `pg-replication:restoreTarget = "time=2020-01-01T00:00:00Z" is invalid: it is before the end of the earliest backup; the restore window is`,
        );
        expect(await refused(c, [src, "restoreTarget=lsn=FF/0"])).toContain(
            "is invalid: it is after the latest archived WAL",
        );
        expect(await refused(c, [src, "restoreTarget=time=2099-01-01T00:00:00Z"])).toContain("is in the future");
        expect(await refused(c, [src, "restoreTarget=yesterday"])).toContain(
            'pg-replication:restoreTarget = "yesterday" is invalid: expected latest, time=',
        );
        expect(await refused(c, ["restoreFrom=no-such-stack"])).toContain(
            'pg-replication:restoreFrom = "no-such-stack" is invalid: there is no backup repository volume no-such-stack-backup-repo',
        );
        const wrong = await exec(
            [
                "sh",
                "-c",
                `printf wrong-passphrase | npm run -s live -- config set --secret restoreCipherPass --stack ${c.stack}`,
            ],
            60_000,
        );
        expect(wrong.code).toBe(0);
        expect(await refused(c, [src])).toContain(
            'pg-replication:restoreCipherPass = "[secret]" is invalid: it does not open',
        );
        const self = await live(upArgs(SRC, [`restoreFrom=${SRC.stack}`]));
        expect(self.code).not.toBe(0);
        expect(self.stderr).toContain(
            `pg-replication:restoreFrom = "${SRC.stack}" is invalid: a stack never restores onto itself`,
        );
    });
});
