// Issue 7 item 11: `down` after a failover (the role/slot/sync deletes used to run DROP ROLE on the
// fenced old primary, now a read-only standby, and stop halfway), and a node volume holding another
// cluster's data (what an interrupted destroy left behind) noticed and re-cloned.
import { dockerNames, live } from "../support/live-client";
import {
    containerOf,
    deploy,
    docker,
    eventually,
    exec,
    expectOk,
    faultCluster,
    IMAGE,
    ops,
    q,
    streamingFrom,
    teardown,
    withDeadline,
} from "../support/faults";

jest.setTimeout(600_000);

const C = faultCluster({
    stack: `fd${process.pid}`,
    subnet: "172.29.89.0/24",
    base: 22432,
    password: "fd-super-pw-1",
    replPassword: "fd-repl-pw-1",
    replicas: 2,
    // The exporter's role adds a fourth DROP ROLE to the destroy; the pooler is not needed here.
    config: ["pooler=false", "metrics=true", "syncMode=sync"],
});

afterAll(() => teardown(C));

describe(`destroy and foreign data (stack ${C.stack})`, () => {
    test("down after a failover removes everything: no delete runs on the fenced old primary", async () => {
        await deploy(C);
        expectOk("failover", await ops(C, "failover", ["--to", "pg2"]));
        expect((await docker(["inspect", "-f", "{{.State.Running}}", containerOf(C, "pg1")])).trim()).toBe("false");

        const down = await withDeadline("live down", 180_000, live(["down", "--stack", C.stack]));
        expect(down.stderr).not.toContain("read-only transaction");
        expect(down.code).toBe(0);
        for (const kind of ["container", "volume", "network"] as const) {
            expect(await dockerNames(kind, `${C.stack}-`)).toEqual([]);
        }
    });

    test("a replica volume holding another cluster's data is re-cloned from the primary, and says why", async () => {
        // The failover above recorded primaryNode pg2 in the stack's config; start over from pg1.
        await deploy(C, ["primaryNode=pg1"]);
        const pg3 = containerOf(C, "pg3");
        await docker(["stop", "-t", "30", pg3]);
        // Another cluster's standby in pg3's volume: a fresh initdb with standby.signal.
        await docker(
            [
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                `${C.stack}-pg3-data:/var/lib/postgresql/data`,
                "--entrypoint",
                "sh",
                IMAGE,
                "-c",
                "set -e; find /var/lib/postgresql/data -mindepth 1 -delete; chown postgres:postgres /var/lib/postgresql/data; " +
                    "setpriv --reuid=postgres --regid=postgres --init-groups initdb -D /var/lib/postgresql/data >/dev/null; " +
                    "touch /var/lib/postgresql/data/standby.signal",
            ],
            120_000,
        );
        await docker(["start", pg3]);
        // pg3's own WAL receiver, not only a row on pg1: pg_basebackup streams as pg3 while it clones.
        await eventually("pg3 streams from pg1 again", 120_000, async () => {
            const rows = await streamingFrom(C, "pg1").catch((): Record<string, string> => ({}));
            const receiver = await q(C, "pg3", "SELECT status FROM pg_stat_wal_receiver").catch((err: Error) => [
                { status: err.message },
            ]);
            return (
                (rows.pg3 === "streaming" && receiver[0]?.status === "streaming") ||
                `${JSON.stringify(rows)} ${JSON.stringify(receiver)}`
            );
        });
        const logs = await exec(["docker", "logs", pg3]);
        expect(logs.stdout + logs.stderr).toMatch(
            /re-cloning pg1: this volume holds another cluster's data \(system identifier \d+, pg1 has \d+\)/,
        );
        const [{ a }] = await q(C, "pg1", "SELECT system_identifier::text AS a FROM pg_control_system()");
        const [{ b }] = await q(C, "pg3", "SELECT system_identifier::text AS b FROM pg_control_system()");
        expect(b).toBe(a);
    });
});
