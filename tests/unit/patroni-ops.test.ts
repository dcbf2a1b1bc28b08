// The Patroni day-2 operations (ops/patroni-ops.ts) against a fake runner: which REST request a
// switchover, failover or rejoin sends, that it waits for Patroni's /cluster to show the result, and
// what it refuses or reports. The real REST calls, docker start and the checks are the integration
// tests' (tests/integration/patroni.test.ts).
import { validateConfig } from "../../model/config";
import { PatroniRequest } from "../../model/patroni-rest";
import { ExecResult, ListedNode } from "../../ops/cluster-discovery";
import { waitFor } from "../../ops/ops";
import { PatroniCluster, PatroniResponse } from "../../ops/patroni";
import { patroniRejoin, patroniRoleChange, PatroniRunner, roleChangeRequest } from "../../ops/patroni-ops";

const args = { stack: "nc1", live: true, json: false, values: {}, flags: new Set<string>() };
const cfg = validateConfig({ failover: "patroni" });

const member = (name: string, role: string, state: string) => ({ name, role, state });
const node = (n: string, running = true): ListedNode => ({
    node: n,
    container: `nc1-${n}`,
    running,
    state: running ? "running" : "exited",
});
/** pg1 leads, pg2 and pg3 stream. */
const LED_BY_PG1: PatroniCluster = {
    members: [
        member("pg1", "leader", "running"),
        member("pg2", "replica", "streaming"),
        member("pg3", "replica", "streaming"),
    ],
};
const LED_BY_PG2: PatroniCluster = {
    members: [
        member("pg1", "replica", "streaming"),
        member("pg2", "leader", "running"),
        member("pg3", "replica", "streaming"),
    ],
};

/** What the operation asked of the fake, in order. */
interface Calls {
    cluster: number;
    rest: Array<{ container: string; req: PatroniRequest; timeoutMs: number }>;
    exec: string[][];
    checks: Array<{ primary: string; replicas: string[] }>;
    waits: string[];
}

/**
 * A runner whose answers are functions of what was asked so far: /cluster from `cluster`, the node
 * list from `nodes` (by call number), REST answers from `rest`. Waiting is the real waitFor with its
 * timeout divided by 1000 and polls every millisecond, so a wait that never ends fails fast.
 */
function fakeRunner(answers: {
    cluster: (calls: Calls) => PatroniCluster;
    nodes?: (call: number) => ListedNode[];
    rest?: (req: PatroniRequest) => PatroniResponse;
    exec?: (argv: string[]) => ExecResult;
}): { run: PatroniRunner; calls: Calls } {
    const calls: Calls = { cluster: 0, rest: [], exec: [], checks: [], waits: [] };
    let listings = 0;
    const run: PatroniRunner = {
        cluster: (stack) => {
            expect(stack).toBe("nc1");
            calls.cluster++;
            return Promise.resolve({ container: "nc1-pg3", cluster: answers.cluster(calls) });
        },
        rest: (container, req, timeoutMs) => {
            calls.rest.push({ container, req, timeoutMs });
            return Promise.resolve(answers.rest ? answers.rest(req) : { status: 200, body: "Successfully done" });
        },
        listNodes: () =>
            Promise.resolve((answers.nodes ?? (() => [node("pg1"), node("pg2"), node("pg3")]))(listings++)),
        exec: (argv) => {
            calls.exec.push(argv);
            return Promise.resolve(answers.exec ? answers.exec(argv) : { code: 0, stdout: "", stderr: "" });
        },
        checks: (_args, _cfg, primary, replicas) => {
            calls.checks.push({ primary, replicas });
            return Promise.resolve({ checks: [] });
        },
        wait: (what, timeoutMs, probe) => {
            calls.waits.push(`${what} (${timeoutMs / 1000} s)`);
            return waitFor(what, timeoutMs / 1000, probe, 1);
        },
    };
    return { run, calls };
}

/** The log lines without their timing prefix. */
function logged(): { log: (line: string) => void; lines: string[] } {
    const lines: string[] = [];
    return { log: (line) => lines.push(line.replace(/^\[\d+\.\ds\] /, "")), lines };
}

describe("Patroni role-change requests", () => {
    test("a switchover names the leader it moves from, a failover only the candidate", () => {
        expect(roleChangeRequest("switchover", "pg1", "pg2")).toEqual({
            method: "POST",
            path: "/switchover",
            body: { leader: "pg1", candidate: "pg2" },
            timeoutSeconds: 60,
        });
        expect(roleChangeRequest("failover", undefined, "pg2")).toEqual({
            method: "POST",
            path: "/failover",
            body: { candidate: "pg2" },
            timeoutSeconds: 60,
        });
    });
});

describe("patroniRoleChange", () => {
    test("a switchover asks the node that answered /cluster, waits until the target leads, then runs the checks", async () => {
        // /cluster: before the request, then twice more the old leader, then the new one.
        const { run, calls } = fakeRunner({ cluster: (c) => (c.cluster <= 3 ? LED_BY_PG1 : LED_BY_PG2) });
        const { log, lines } = logged();
        await patroniRoleChange("switchover", args, cfg, "pg2", log, run);
        expect(calls.rest).toEqual([
            {
                container: "nc1-pg3",
                req: {
                    method: "POST",
                    path: "/switchover",
                    body: { leader: "pg1", candidate: "pg2" },
                    timeoutSeconds: 60,
                },
                timeoutMs: 90_000,
            },
        ]);
        expect(calls.waits).toEqual(["pg2 leading with every other member streaming (120 s)"]);
        expect(calls.cluster).toBe(4);
        expect(calls.checks).toEqual([{ primary: "pg2", replicas: ["pg1", "pg3"] }]);
        expect(lines).toEqual([
            "switchover of stack nc1 (failover=patroni): pg1 -> pg2",
            "Patroni: Successfully done",
            "pg2 is the leader; every other member streams",
            "checks passed (0)",
        ]);
    });

    test("a leader that is running but whose replicas do not stream yet is not done", async () => {
        const catchingUp: PatroniCluster = {
            members: [
                member("pg1", "replica", "starting"),
                member("pg2", "leader", "running"),
                member("pg3", "replica", "streaming"),
            ],
        };
        const { run, calls } = fakeRunner({
            cluster: (c) => (c.cluster === 1 ? LED_BY_PG1 : c.cluster <= 3 ? catchingUp : LED_BY_PG2),
        });
        await patroniRoleChange("switchover", args, cfg, "pg2", () => undefined, run);
        expect(calls.cluster).toBe(4);
    });

    test("a failover with no leader sends only the candidate", async () => {
        const leaderless: PatroniCluster = {
            members: [member("pg2", "replica", "running"), member("pg3", "replica", "running")],
        };
        const { run, calls } = fakeRunner({
            cluster: (c) => (c.cluster === 1 ? leaderless : LED_BY_PG2),
            nodes: () => [node("pg1", false), node("pg2"), node("pg3")],
        });
        const { log, lines } = logged();
        await patroniRoleChange("failover", args, cfg, "pg2", log, run);
        expect(calls.rest.map((r) => r.req)).toEqual([
            { method: "POST", path: "/failover", body: { candidate: "pg2" }, timeoutSeconds: 60 },
        ]);
        expect(lines[0]).toBe("failover of stack nc1 (failover=patroni): no leader -> pg2");
        // The members as /cluster listed them before the change, less the target.
        expect(calls.checks).toEqual([{ primary: "pg2", replicas: ["pg3"] }]);
    });

    test("the leader itself, or a refused candidate, is refused before Patroni is asked", async () => {
        const { run, calls } = fakeRunner({ cluster: () => LED_BY_PG1 });
        await expect(patroniRoleChange("switchover", args, cfg, "pg1", () => undefined, run)).rejects.toThrow(
            "refusing to switchover to pg1: it is already the leader",
        );
        await expect(patroniRoleChange("failover", args, cfg, "pg9", () => undefined, run)).rejects.toThrow(
            "refusing to failover to pg9: it is not a member of Patroni's cluster nc1 (members: pg1, pg2, pg3)",
        );
        expect(calls.rest).toEqual([]);
    });

    test("Patroni's refusal is the error, and nothing is waited for or checked", async () => {
        const { run, calls } = fakeRunner({
            cluster: () => LED_BY_PG1,
            rest: () => ({ status: 412, body: "candidate name does not match with sync_standby" }),
        });
        await expect(patroniRoleChange("switchover", args, cfg, "pg2", () => undefined, run)).rejects.toThrow(
            'Patroni refused the switchover to pg2 (HTTP 412): "candidate name does not match with sync_standby"',
        );
        expect(calls.waits).toEqual([]);
        expect(calls.checks).toEqual([]);
    });

    test("a cluster that never shows the target leading fails the wait with /cluster's last answer", async () => {
        const { run, calls } = fakeRunner({ cluster: () => LED_BY_PG1 });
        await expect(patroniRoleChange("switchover", args, cfg, "pg2", () => undefined, run)).rejects.toThrow(
            "pg2 leading with every other member streaming: not done within 0.12s " +
                "(pg1 leader running, pg2 replica streaming, pg3 replica streaming)",
        );
        expect(calls.checks).toEqual([]);
    });

    test("a member that stopped during the change is named with its rejoin", async () => {
        const { run, calls } = fakeRunner({
            cluster: (c) => (c.cluster === 1 ? LED_BY_PG1 : { members: LED_BY_PG2.members.slice(0, 2) }),
            nodes: (call) =>
                call === 0 ? [node("pg1"), node("pg2"), node("pg3")] : [node("pg1"), node("pg2"), node("pg3", false)],
        });
        await expect(patroniRoleChange("switchover", args, cfg, "pg2", () => undefined, run)).rejects.toThrow(
            "pg2 leads and every running member streams, but pg3 (nc1-pg3, exited) stopped during the switchover; " +
                "bring it back as a replica: npm run rejoin -- --node pg3 --stack nc1 --live",
        );
        expect(calls.checks).toEqual([]);
    });
});

describe("patroniRejoin", () => {
    const streamingPg3 = LED_BY_PG1;
    const withoutPg3: PatroniCluster = { members: LED_BY_PG1.members.slice(0, 2) };

    test("a stopped member is started and, once it streams, rewound by Patroni: no REST request", async () => {
        const { run, calls } = fakeRunner({
            cluster: (c) => (c.exec.length > 0 && c.cluster >= 2 ? streamingPg3 : withoutPg3),
            nodes: () => [node("pg1"), node("pg2"), node("pg3", false)],
        });
        const { log, lines } = logged();
        await patroniRejoin(args, "pg3", log, run);
        expect(calls.exec).toEqual([["docker", "start", "nc1-pg3"]]);
        expect(calls.waits).toEqual(["pg3 streaming (60 s)"]);
        expect(calls.rest).toEqual([]);
        expect(lines).toEqual([
            "pg3 started; Patroni rewinds it onto the leader",
            "pg3 streaming from the leader (rewind)",
        ]);
    });

    test("a started member that does not stream within the minute is reinitialised", async () => {
        const { run, calls } = fakeRunner({
            cluster: (c) => (c.rest.length > 0 ? streamingPg3 : withoutPg3),
            nodes: () => [node("pg1"), node("pg2"), node("pg3", false)],
        });
        const { log, lines } = logged();
        await patroniRejoin(args, "pg3", log, run);
        expect(calls.rest).toEqual([
            {
                container: "nc1-pg3",
                req: { method: "POST", path: "/reinitialize", body: { force: true }, timeoutSeconds: 30 },
                timeoutMs: 60_000,
            },
        ]);
        expect(calls.waits).toEqual(["pg3 streaming (60 s)", "pg3 streaming (300 s)"]);
        expect(lines).toEqual([
            "pg3 started; Patroni rewinds it onto the leader",
            "pg3 reinitialising (cloned from the leader)",
            "pg3 streaming from the leader (reinitialize)",
        ]);
    });

    test("a running member is reinitialised at once; the leader is not", async () => {
        const { run, calls } = fakeRunner({ cluster: () => streamingPg3 });
        await patroniRejoin(args, "pg3", () => undefined, run);
        expect(calls.exec).toEqual([]);
        expect(calls.rest.map((r) => `${r.container} ${r.req.path}`)).toEqual(["nc1-pg3 /reinitialize"]);

        await expect(patroniRejoin(args, "pg1", () => undefined, run)).rejects.toThrow(
            "refusing to reinitialise pg1: it is the leader",
        );
        expect(calls.rest).toHaveLength(1);
    });

    test("docker start failing, Patroni refusing, and an unknown node are errors", async () => {
        const stopped = fakeRunner({
            cluster: () => withoutPg3,
            nodes: () => [node("pg1"), node("pg2"), node("pg3", false)],
            exec: () => ({ code: 1, stdout: "", stderr: "Error: No such container: nc1-pg3\n" }),
        });
        await expect(patroniRejoin(args, "pg3", () => undefined, stopped.run)).rejects.toThrow(
            "docker start nc1-pg3: Error: No such container: nc1-pg3",
        );
        const refused = fakeRunner({
            cluster: () => streamingPg3,
            rest: () => ({ status: 503, body: { error: "busy" } }),
        });
        await expect(patroniRejoin(args, "pg3", () => undefined, refused.run)).rejects.toThrow(
            'Patroni refused to reinitialise pg3 (HTTP 503): {"error":"busy"}',
        );
        await expect(patroniRejoin(args, "pg7", () => undefined, refused.run)).rejects.toThrow(
            "pg7 is not a node of stack nc1",
        );
    });
});
