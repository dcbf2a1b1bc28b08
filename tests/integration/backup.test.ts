// Backups with pgBackRest (issue 17), on a real manual-mode cluster through the live harness:
// - `up` ends with a full backup in a repository container of its own (encrypted; its passphrase
//   in no environment, command line or log), and the checks prove archiving through it;
// - retention: after four full backups two are kept, and no WAL older than the oldest kept one;
// - after a failover the new primary archives on its new timeline and the next backup succeeds;
// - scheduled backups run without a person (crond in the repository container);
// - the commands' usage errors; destroy removes the repository unless keepBackups says otherwise.
// Own stack, subnet 172.29.108.0/24, ports 25040+.
import {
    backupListing,
    containerOf,
    deploy,
    docker,
    eventually,
    exec,
    faultCluster,
    jsonOf,
    ops,
    psqlIn,
    script,
    teardown,
    waitHealthy,
} from "../support/faults";
import { live, stackOutputs } from "../support/live-client";

jest.setTimeout(600_000);

const C = faultCluster({
    stack: `bk${process.pid}`,
    subnet: "172.29.108.0/24",
    base: 25040,
    password: `bk-super-${process.pid}-Qw7`,
    replPassword: `bk-repl-${process.pid}-Er8`,
    replicas: 1,
    config: ["syncMode=async", "metrics=false"],
});
const REPO = `${C.stack}-backup`;
const REPO_VOLUME = `${REPO}-repo`;

const listing = () => backupListing(C.stack);

/** Writes a little on `node` and finishes the segment, so the archive moves on. */
async function writeAndSwitch(node: string): Promise<string> {
    const pg = containerOf(C, node);
    await psqlIn(
        pg,
        "CREATE TABLE IF NOT EXISTS backup_probe (t timestamptz); INSERT INTO backup_probe VALUES (now())",
    );
    return psqlIn(pg, "SELECT pg_walfile_name(pg_switch_wal())");
}

describe(`backups with pgBackRest (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await docker(["volume", "rm", "-f", REPO_VOLUME]).catch(() => undefined);
        await deploy(C);
        await waitHealthy(C, 60_000, "pg1");
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
        await docker(["volume", "rm", "-f", REPO_VOLUME]).catch(() => undefined);
    }, 180_000);

    test("up ends with a full backup in an encrypted repository of its own; the checks prove archiving through it", async () => {
        const list = await listing();
        expect(list.backups.map((b) => b.type)).toEqual(["full"]);
        expect(list.restoreWindow.earliest).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        const report = (await stackOutputs(C.stack)).checkReport as { checks: Array<{ check: string; ok: boolean }> };
        expect(report.checks.filter((c) => c.check === "backup")).toEqual([expect.objectContaining({ ok: true })]);

        // The repository lives in its own volume, mounted by the repository container only.
        const mounts = async (container: string) =>
            JSON.parse(await docker(["inspect", "-f", "{{json .Mounts}}", container])) as Array<{ Name?: string }>;
        expect((await mounts(REPO)).map((m) => m.Name)).toEqual([REPO_VOLUME]);
        for (const node of ["pg1", "pg2"]) {
            expect((await mounts(containerOf(C, node))).map((m) => m.Name)).toEqual([`${containerOf(C, node)}-data`]);
        }
        // Encrypted, with a passphrase that appears in no environment, command line or log.
        const info = JSON.parse(
            await docker(["exec", "-u", "postgres", REPO, "pgbackrest", "--stanza=main", "info", "--output=json"]),
        ) as Array<{ cipher: string }>;
        expect(info[0].cipher).toBe("aes-256-cbc");
        const pass = (
            await docker([
                "exec",
                REPO,
                "sh",
                "-c",
                "sed -n 's/^repo1-cipher-pass=//p' /etc/pgbackrest/pgbackrest.conf",
            ])
        ).trim();
        expect(pass.length).toBeGreaterThanOrEqual(24);
        for (const container of [REPO, containerOf(C, "pg1"), containerOf(C, "pg2")]) {
            const inspected = await docker(["inspect", container]);
            expect(inspected).not.toContain(pass);
            const logs = await exec(["docker", "logs", container], 30_000);
            expect(logs.stdout + logs.stderr).not.toContain(pass);
            const processes = await docker(["exec", container, "ps", "-eo", "args"]);
            expect(processes).not.toContain(pass);
        }
    });

    test("retention: after four full backups two are kept, and no WAL older than the oldest kept backup", async () => {
        const first = (await listing()).backups[0];
        for (let i = 0; i < 3; i++) {
            await writeAndSwitch("pg1");
            const r = await script("backup", ["--stack", C.stack, "--live", "--json", "--type", "full"], 300_000);
            expect(r.code).toBe(0);
            expect(jsonOf(r)?.backup.type).toBe("full");
        }
        const after = await listing();
        const fulls = after.backups.filter((b) => b.type === "full");
        expect(fulls).toHaveLength(2);
        expect(fulls.map((b) => b.label)).not.toContain(first.label);
        // WAL names of one timeline sort as positions: the oldest archived one is the oldest kept
        // backup's first segment, and the first backup's WAL is gone.
        expect(after.archive?.min).toBe(fulls[0].walStart);
        expect(after.archive!.min > first.walStop).toBe(true);
    });

    test("after a failover the new primary archives on its new timeline and the next backup succeeds", async () => {
        const r = await ops(C, "failover", ["--to", "pg2"]);
        expect(r.code).toBe(0);
        const segment = await writeAndSwitch("pg2");
        expect(segment.slice(0, 8)).toBe("00000002");
        await eventually("pg2's segment archived", 90_000, async () => {
            const max = (await listing()).archive?.max ?? "";
            return max >= segment ? true : `archive ends at ${max}, waiting for ${segment}`;
        });
        const b = await script("backup", ["--stack", C.stack, "--live", "--json", "--type", "incr"], 300_000);
        expect(b.code).toBe(0);
        expect(jsonOf(b)?.backup.walStart.slice(0, 8)).toBe("00000002");
    });

    test("usage errors: an unknown type is refused before anything runs", async () => {
        const r = await script("backup", ["--stack", C.stack, "--live", "--type", "weekly"], 30_000);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain('backup: --type "weekly" is invalid: expected full, diff or incr');
        const help = await script("backups", ["--help"], 30_000);
        expect(help.code).toBe(0);
        expect(help.stdout).toContain("usage: npm run backups -- [--stack S] [--live] [--json]");
    });

    test("scheduled backups run without a person; keepBackups leaves the repository after down", async () => {
        const before = new Set((await listing()).backups.map((b) => b.label));
        await deploy(C, [
            "primaryNode=pg2",
            "backupFullSchedule=",
            "backupDiffSchedule=",
            "backupIncrSchedule=* * * * *",
            "keepBackups=true",
        ]);
        // Earlier backups survive the repository container's re-creation (its volume stays).
        const kept = (await listing()).backups.map((b) => b.label);
        for (const label of before) expect(kept).toContain(label);
        await eventually("a scheduled incremental backup", 150_000, async () => {
            const added = (await listing()).backups.filter((b) => !before.has(b.label) && b.type === "incr");
            return added.length > 0 ? true : "none yet";
        });
        const scheduled = await docker(["exec", REPO, "cat", "/var/lib/pgbackrest/log/scheduled.log"]);
        expect(scheduled).toContain("backup command end: completed successfully");

        const down = await live(["down", "--stack", C.stack]);
        expect(down.code).toBe(0);
        expect(await docker(["volume", "inspect", "-f", "{{.Name}}", REPO_VOLUME])).toBe(REPO_VOLUME);
        await expect(docker(["inspect", REPO])).rejects.toThrow(/No such object/);
    });
});
