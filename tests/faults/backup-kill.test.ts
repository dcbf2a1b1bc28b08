// Fault suite, a backup killed half way (issue 17): `kill -9` of pgBackRest while a full backup of a
// pgbench database copies files. The command fails; the repository never lists the broken backup as
// usable; the next backup succeeds; `pgbackrest verify` passes over everything the repository holds.
// Own stack, subnet 172.29.112.0/24, ports 25120+.
import {
    backupListing,
    containerOf,
    deploy,
    docker,
    eventually,
    exec,
    faultCluster,
    script,
    teardown,
    waitHealthy,
} from "../support/faults";

jest.setTimeout(600_000);

const C = faultCluster({
    stack: `fk${process.pid}`,
    subnet: "172.29.112.0/24",
    base: 25120,
    password: `fk-super-${process.pid}-Nm3`,
    replPassword: `fk-repl-${process.pid}-Bv4`,
    replicas: 0,
    config: ["syncMode=async", "pooler=false", "metrics=false"],
});
const REPO = `${C.stack}-backup`;

async function labels(): Promise<string[]> {
    return (await backupListing(C.stack)).backups.map((b) => b.label);
}

/** The backup directories in the repository (a backup in progress has one before info lists it). */
async function backupDirs(): Promise<string[]> {
    const out = await docker([
        "exec",
        REPO,
        "sh",
        "-c",
        "ls /var/lib/pgbackrest/backup/main | grep -E '^[0-9]{8}-[0-9]{6}F'",
    ]);
    return out.split("\n").filter((l) => l !== "");
}

describe(`fault: a backup killed half way (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
        await waitHealthy(C, 60_000, "pg1");
        // Big enough that a full backup copies for seconds (about 450 MB).
        await docker(
            ["exec", "-u", "postgres", containerOf(C, "pg1"), "pgbench", "-i", "-q", "-s", "30", "postgres"],
            300_000,
        );
    }, 420_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    test("kill -9 mid-copy: the command fails, the broken backup is never listed as usable, the next one succeeds, verify passes", async () => {
        const before = await labels();
        expect(before).toHaveLength(1);
        const dirsBefore = await backupDirs();
        const running = script("backup", ["--stack", C.stack, "--live", "--json", "--type", "full"], 300_000);
        // Its directory appears when copying starts: kill every pgBackRest process of the backup then
        // (the TLS server, `pgbackrest server`, stays).
        await eventually("the backup copying", 60_000, async () =>
            (await backupDirs()).length > dirsBefore.length ? true : "not started",
        );
        await exec(["docker", "exec", REPO, "pkill", "-9", "-f", "pgbackrest.*backup"], 30_000);
        const killed = await running;
        expect(killed.code).not.toBe(0);
        expect(await labels()).toEqual(before);

        const next = await script("backup", ["--stack", C.stack, "--live", "--json", "--type", "full"], 300_000);
        expect(next.code).toBe(0);
        const after = await labels();
        expect(after).toHaveLength(2);
        expect(after[0]).toBe(before[0]);
        const verify = await exec(
            [
                "docker",
                "exec",
                "-u",
                "postgres",
                REPO,
                "pgbackrest",
                "--stanza=main",
                "verify",
                "--log-level-console=warn",
            ],
            300_000,
        );
        expect(verify.stdout + verify.stderr).not.toMatch(/ERROR|invalid/i);
        expect(verify.code).toBe(0);
    });
});
