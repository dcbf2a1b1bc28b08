// Fault suite, the deployment guard fails closed (issue 21 items 1 and 4), on a real manual-mode
// cluster through the live harness:
// - a node that may run but cannot say whether it accepts writes (a paused container) makes `up`
//   refuse, naming the node and the command that settles it; before, a paused node was read as "not
//   primary" and `up` reported success beside a possible second primary;
// - a change of `failover` on a deployed stack is refused before anything is touched (it used to
//   re-create the primary without the files its new mode needs, writes down for minutes);
// - once the paused node answers again, `up` goes on and changes nothing;
// - a missing local image (pullImage false) is refused before any network or volume exists (issue 22
//   item 8: a network and volumes used to be left behind).
// Own stack, subnet 172.29.99.0/24, ports 24232+.
import { containerIdentity, dockerNames, LiveResult, live } from "../support/live-client";
import { containerOf, deploy, docker, faultCluster, nodes, teardown, upArgs, withDeadline } from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `fd${process.pid}`,
    subnet: "172.29.99.0/24",
    base: 24232,
    password: `fd-super-${process.pid}-Qw4`,
    replPassword: `fd-repl-${process.pid}-Zt8`,
    replicas: 1,
    config: ["syncMode=async", "pooler=false", "metrics=false"],
});

function up(extra: string[] = []): Promise<LiveResult> {
    return withDeadline(`live up ${C.stack}`, 240_000, live(upArgs(C, extra)));
}

/** Container id and start time of every node: proof that nothing was re-created or restarted. */
async function identities(): Promise<string[]> {
    return Promise.all(nodes(C).map((n) => containerIdentity(containerOf(C, n))));
}

describe(`fault: the deployment guard fails closed (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
    }, 300_000);
    afterAll(async () => {
        await docker(["unpause", containerOf(C, "pg2")]).catch(() => undefined);
        await teardown(C);
    }, 180_000);

    test("a paused node makes up refuse, naming it and the command that settles it; nothing changes", async () => {
        const before = await identities();
        await docker(["pause", containerOf(C, "pg2")]);
        let res: LiveResult;
        try {
            res = await up();
        } finally {
            await docker(["unpause", containerOf(C, "pg2")]);
        }
        expect(res.code).toBe(1);
        expect(res.stderr).toContain("refusing to deploy: cannot tell whether pg2 accepts writes");
        expect(res.stderr).toContain(`docker unpause ${containerOf(C, "pg2")}`);
        expect(res.stderr).toContain("the preview failed: nothing was changed");
        expect(res.actions).toEqual([]);
        expect(await identities()).toEqual(before);
    });

    test("a change of failover on the deployed stack is refused before anything is touched", async () => {
        const before = await identities();
        const res = await up(["failover=patroni"]);
        expect(res.code).toBe(1);
        expect(res.stderr).toContain(
            `refusing to deploy: pg-replication:failover is patroni but stack ${C.stack} runs failover=manual`,
        );
        expect(res.stderr).toContain(`npm run live -- up --stack ${C.stack} --config failover=manual`);
        expect(res.actions).toEqual([]);
        expect(await identities()).toEqual(before);
        // No etcd member or HAProxy was created for the refused mode.
        expect(await docker(["ps", "-a", "--filter", `name=${C.stack}-etcd`, "--format", "{{.Names}}"])).toBe("");
    });

    test("the reverse: a stack with etcd members (patroni) refuses failover=manual", async () => {
        // An etcd member's container, labelled as the patroni strategy labels them (infra/etcd.ts):
        // what the guard reads to tell the deployed mode. Created, never started.
        const member = `${C.stack}-etcd9`;
        await docker([
            "create",
            "--name",
            member,
            "--label",
            `pg-replication.cluster=${C.stack}`,
            "--label",
            "pg-replication.etcd=member",
            "--network",
            "none",
            "pg-replication/postgres:17-local",
            "true",
        ]);
        let res: LiveResult;
        try {
            // The refused switch above stays recorded (as `pulumi config set` would): set it back, as its hint says.
            res = await up(["failover=manual"]);
        } finally {
            await docker(["rm", "-f", member]);
        }
        expect(res.code).toBe(1);
        expect(res.stderr).toContain(
            `refusing to deploy: pg-replication:failover is manual but stack ${C.stack} runs failover=patroni`,
        );
        expect(res.actions).toEqual([]);
    });

    test("once every node answers, up goes on and changes nothing", async () => {
        const before = await identities();
        const res = await up(["failover=manual"]);
        expect(res.stderr).not.toContain("refusing");
        expect(res.code).toBe(0);
        expect(await identities()).toEqual(before);
    });

    test("a new stack whose local image is missing is refused before anything is created, with the fix", async () => {
        const other = faultCluster({ ...C, stack: `${C.stack}img`, subnet: "172.29.106.0/24", base: 24932 });
        try {
            const res = await withDeadline(
                `live up ${other.stack}`,
                120_000,
                live(upArgs(other, ["image=pg-replication/does-not-exist:1"])),
            );
            expect(res.code).toBe(1);
            expect(res.stderr).toContain(
                "refusing to deploy: image pg-replication/does-not-exist:1 does not exist on this Docker engine and " +
                    "pg-replication:pullImage is false. Build the local image (npm run build-image) and deploy with " +
                    "--config image=pg-replication/postgres:17-local --config pullImage=false",
            );
            expect(res.actions).toEqual([]);
            const left = await Promise.all(
                (["container", "volume", "network"] as const).map((k) => dockerNames(k, `${other.stack}-`)),
            );
            expect(left.flat()).toEqual([]);
        } finally {
            await teardown(other);
        }
    });
});
