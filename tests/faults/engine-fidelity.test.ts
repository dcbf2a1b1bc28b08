// The live harness against the real engine's order of steps (issue 8), on a real cluster:
// - `pulumi up` previews before it changes anything, so a refusal (the primary guard) leaves Docker
//   untouched (pulumi/pulumi: the preview is a DryRun deployment; harness/preview.ts);
// - a container whose create fails after it exists stays in state with an init error, and the next
//   `up` goes on with it as it is, starting it in place (pulumi-terraform-bridge provider.go Create
//   → initializationError; pulumi/pulumi step.go RefreshStep keeps only the Read's init errors;
//   terraform-provider-docker v4.5.0 Read/Update: must_run false → ContainerStart);
// - a node started in place makes the checks run again, and an untouched cluster changes nothing.
// Own stack, subnet 172.29.78.0/24, ports 21632+.
import * as fs from "fs";
import * as net from "net";
import { containerIdentity, dockerNames, live, LiveResult, ROOT, stackOutputs } from "../support/live-client";
import { statePath } from "../../harness/state";
import {
    containerOf,
    docker,
    faultCluster,
    IMAGE,
    nodePort,
    q,
    teardown,
    upArgs,
    withDeadline,
} from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `fe${process.pid}`,
    subnet: "172.29.78.0/24",
    base: 21632,
    password: `fe-super-${process.pid}-Kx2`,
    replPassword: `fe-repl-${process.pid}-Vb7`,
    replicas: 1,
    config: ["syncMode=async", "pooler=false", "metrics=false"],
});
const INTRUDER = `${C.stack}-intruder`;
const CONTAINER = "docker:index/container:Container";

function up(extra: string[] = []): Promise<LiveResult> {
    return withDeadline(`live up ${C.stack}`, 240_000, live(upArgs(C, extra)));
}

/** Lines that changed something: `updated pg-checks`, … */
function changed(res: LiveResult): string[] {
    return res.actions.filter(([a]) => a !== "unchanged").map(([a, , n]) => `${a} ${n}`);
}

interface Recorded {
    name: string;
    id: string;
    initErrors?: string[];
}

function recorded(): Recorded[] {
    const file = statePath(ROOT, C.stack);
    if (!fs.existsSync(file)) return [];
    return (JSON.parse(fs.readFileSync(file, "utf8")) as { resources: Recorded[] }).resources;
}

/** Docker objects of the stack other than the intruder. */
async function stackObjects(): Promise<string[]> {
    const names = await Promise.all(
        (["container", "volume", "network"] as const).map((k) => dockerNames(k, `${C.stack}-`)),
    );
    return names.flat().filter((n) => n !== INTRUDER);
}

/** Holds a TCP port where Docker would publish one, until closed. */
function holdPort(port: number): Promise<net.Server> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => resolve(server));
    });
}

describe(`the harness follows the real engine's steps (stack ${C.stack})`, () => {
    beforeAll(() => teardown(C), 180_000);
    afterAll(async () => {
        await docker(["rm", "-f", INTRUDER]).catch(() => undefined);
        await teardown(C);
    }, 180_000);

    test("the primary guard refuses in the preview: no network, volume or container is created", async () => {
        // A running server that accepts writes, labelled as this stack's pg2: the guard must refuse.
        await docker([
            "run",
            "-d",
            "--name",
            INTRUDER,
            "--network",
            "none",
            "--label",
            `pg-replication.cluster=${C.stack}`,
            "--label",
            "pg-replication.node=pg2",
            // As this version labels its nodes: one without the label would be refused as legacy first.
            "--label",
            "pg-replication.tls=required",
            "--entrypoint",
            "sh",
            IMAGE,
            "-c",
            "set -e; mkdir -p /tmp/d /var/run/postgresql; chown postgres /tmp/d /var/run/postgresql; " +
                'exec setpriv --reuid=postgres --regid=postgres --init-groups sh -c "initdb -D /tmp/d >/dev/null && exec postgres -D /tmp/d"',
        ]);
        const deadline = Date.now() + 60_000;
        for (;;) {
            const answer = await docker([
                "exec",
                "-u",
                "postgres",
                INTRUDER,
                "psql",
                "-XAtq",
                "-d",
                "postgres",
                "-c",
                "SELECT pg_is_in_recovery()",
            ]).catch(() => "");
            if (answer.trim() === "f") break;
            if (Date.now() > deadline) throw new Error(`the intruder did not accept writes within 60 s (${answer})`);
            await new Promise((r) => setTimeout(r, 500));
        }

        let res: LiveResult;
        try {
            res = await up();
        } finally {
            await docker(["rm", "-f", INTRUDER]);
        }
        expect(res.code).toBe(1);
        expect(res.stderr).toContain(
            "refusing to deploy: pg2 is the running primary but pg-replication:primaryNode is pg1",
        );
        expect(res.stderr).toContain("the preview failed: nothing was changed");
        expect(res.actions).toEqual([]);
        expect(await stackObjects()).toEqual([]);
        expect(recorded()).toEqual([]);
    });

    test("a container that cannot start stays in state with an init error; the next up starts it in place and goes on", async () => {
        const held = await holdPort(nodePort(C, "pg2"));
        let failed: LiveResult;
        try {
            failed = await up();
        } finally {
            await new Promise((r) => held.close(r));
        }
        expect(failed.code).toBe(1);
        expect(failed.actions).toContainEqual(["failed", CONTAINER, "pg-pg2-container"]);
        // Docker has it (created, never started), and so has the state, with the reason.
        expect(
            (
                await docker(["inspect", "-f", "{{.State.Status}}", containerOf(C, "pg2")]).catch(
                    (e: Error) => e.message,
                )
            ).trim(),
        ).toBe("created");
        const pg2 = recorded().find((r) => r.name === "pg-pg2-container");
        expect(pg2?.initErrors?.[0]).toMatch(
            /Unable to start container: .*(address already in use|port is already allocated)/,
        );
        const madeId = (await docker(["inspect", "-f", "{{.Id}}", containerOf(C, "pg2")])).trim();
        expect(pg2?.id).toBe(madeId);
        expect(failed.stderr).toContain(
            "pg-pg2-container was created but did not come up: it stays in the stack's state with an init error",
        );
        expect(failed.stderr).toContain(`docker rm -f ${containerOf(C, "pg2")}`);
        // What depends on pg2 was not run.
        expect(recorded().map((r) => r.name)).not.toContain("pg-checks");
        expect(recorded().map((r) => r.name)).not.toContain("pg-pg2-ready");

        const next = await up();
        expect({ code: next.code, tail: next.stderr.slice(-1500) }).toMatchObject({ code: 0 });
        expect(next.stderr).toContain("pg-pg2-container (init error cleared: kept as it is)");
        // (In async mode the sync policy does not wait for the replicas, so either up may have made it.)
        // Started in place, then waited for until it accepts connections (its ready check never ran).
        expect(changed(next)).toEqual(
            expect.arrayContaining(["updated pg-pg2-container", "created pg-pg2-ready", "created pg-checks"]),
        );
        expect((await docker(["inspect", "-f", "{{.Id}}", containerOf(C, "pg2")])).trim()).toBe(madeId);
        expect(recorded().find((r) => r.name === "pg-pg2-container")?.initErrors).toBeUndefined();
        expect((await stackOutputs(C.stack)).checkReport.ok).toBe(true);
        const rows = await q(C, "pg1", "SELECT application_name, state FROM pg_stat_replication");
        expect(rows).toEqual([{ application_name: "pg2", state: "streaming" }]);
    });

    test("a node stopped outside the deployment is started in place and the checks run again; then nothing changes", async () => {
        const before = (await containerIdentity(containerOf(C, "pg2"))).split(" ")[0];
        await docker(["stop", containerOf(C, "pg2")]);
        const res = await up();
        expect({ code: res.code, tail: res.stderr.slice(-1500) }).toMatchObject({ code: 0 });
        expect(changed(res).sort()).toEqual(["updated pg-checks", "updated pg-pg2-container"]);
        expect((await containerIdentity(containerOf(C, "pg2"))).split(" ")[0]).toBe(before);
        expect((await stackOutputs(C.stack)).checkReport.ok).toBe(true);

        const again = await up();
        expect(again.code).toBe(0);
        expect(changed(again)).toEqual([]);
        expect(again.stderr).toContain("preview: 0 to create, 0 to update, 0 to replace,");
    });

    test("teardown leaves nothing", async () => {
        const down = await withDeadline("live down", 180_000, live(["down", "--stack", C.stack]));
        expect(down.code).toBe(0);
        expect(await stackObjects()).toEqual([]);
    });
});
