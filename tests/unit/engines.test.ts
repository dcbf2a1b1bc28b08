// ops/engines.ts (which Docker engine a container is on) and discovery across engines
// (ops/cluster-discovery.ts listNodes / stackInventory) against a fake `docker ps`: the argv with and
// without a map, a malformed map, the merge of two engines' listings, and an engine that does not
// answer (its nodes reported unreachable, never "certainly stopped"). The real engines are the
// simulated hosts' (scripts/sim-hosts.sh).
import { backupReady, pgbackrestArgv } from "../../ops/backups";
import {
    certainlyStopped,
    DockerExec,
    ExecResult,
    listNodes,
    probeListed,
    PS_FORMAT,
    SqlRunner,
    stackInventory,
    unknownRoleHint,
    unknownRoles,
    unreachableRefusal,
    UNREACHABLE_STATE,
} from "../../ops/cluster-discovery";
import {
    DEFAULT_ENGINE,
    DOCKER_ENGINES_ENV,
    DOCKER_TLS_DIR_ENV,
    dockerArgv,
    dockerEngines,
    engineArgv,
    engineOf,
    parseDockerEngines,
    resetDockerEngines,
    setDockerEngines,
    stackEngines,
} from "../../ops/engines";

const H1 = "unix:///run/pgr-sim-hosts/h1/docker.sock";
const H2 = "unix:///run/pgr-sim-hosts/h2/docker.sock";
const H3 = "ssh://pg@10.77.0.3";

const saved = process.env[DOCKER_ENGINES_ENV];
afterEach(() => {
    resetDockerEngines();
    if (saved === undefined) delete process.env[DOCKER_ENGINES_ENV];
    else process.env[DOCKER_ENGINES_ENV] = saved;
});
beforeEach(() => {
    delete process.env[DOCKER_ENGINES_ENV];
});

describe("the engine map", () => {
    test("without a map every command goes to the default engine, argv unchanged", () => {
        expect(dockerEngines()).toEqual({});
        expect(dockerArgv("t-pg1", ["exec", "t-pg1", "true"])).toEqual(["docker", "exec", "t-pg1", "true"]);
        expect(engineOf("t-pg1")).toBe(DEFAULT_ENGINE);
        expect(stackEngines()).toEqual([DEFAULT_ENGINE]);
        expect(engineArgv(DEFAULT_ENGINE, ["volume", "ls"])).toEqual(["docker", "volume", "ls"]);
        process.env[DOCKER_ENGINES_ENV] = "  ";
        expect(dockerArgv("t-pg1", ["stop", "t-pg1"])).toEqual(["docker", "stop", "t-pg1"]);
        process.env[DOCKER_ENGINES_ENV] = "{}";
        expect(stackEngines()).toEqual([DEFAULT_ENGINE]);
    });

    test("from PGR_DOCKER_ENGINES: a mapped container's commands carry -H <its engine>, others none", () => {
        process.env[DOCKER_ENGINES_ENV] = JSON.stringify({ "t-pg1": H1, "t-pg2": H2, "t-etcd1": H1, "t-pg3": H3 });
        expect(dockerArgv("t-pg2", ["exec", "t-pg2", "true"])).toEqual(["docker", "-H", H2, "exec", "t-pg2", "true"]);
        expect(dockerArgv("t-pg3", ["start", "t-pg3"])).toEqual(["docker", "-H", H3, "start", "t-pg3"]);
        expect(dockerArgv("other", ["start", "other"])).toEqual(["docker", "start", "other"]);
        expect(engineOf("t-etcd1")).toBe(H1);
        // Each engine once, the default one not (the map places every container of the stack).
        expect(stackEngines()).toEqual([H1, H2, H3]);
        expect(engineArgv(H2, ["volume", "inspect", "v"])).toEqual(["docker", "-H", H2, "volume", "inspect", "v"]);
    });

    test("setDockerEngines overrides the environment until reset", () => {
        process.env[DOCKER_ENGINES_ENV] = JSON.stringify({ "t-pg1": H1 });
        setDockerEngines({ "t-pg1": H2 });
        expect(dockerArgv("t-pg1", ["kill", "t-pg1"])).toEqual(["docker", "-H", H2, "kill", "t-pg1"]);
        resetDockerEngines();
        expect(dockerArgv("t-pg1", ["kill", "t-pg1"])).toEqual(["docker", "-H", H1, "kill", "t-pg1"]);
        expect(() => setDockerEngines({ "t-pg1": "h2" })).toThrow(/"h2" is not an address/);
    });

    test("a tcp:// engine: TLS verified with the files of its cert directory, from PGR_DOCKER_TLS_DIR or setDockerEngines", () => {
        const tcp = "tcp://10.99.0.13:2376";
        const tlsArgs = (root: string) => [
            "--tlsverify",
            "--tlscacert",
            `${root}/10.99.0.13:2376/ca.pem`,
            "--tlscert",
            `${root}/10.99.0.13:2376/cert.pem`,
            "--tlskey",
            `${root}/10.99.0.13:2376/key.pem`,
        ];
        const savedDir = process.env[DOCKER_TLS_DIR_ENV];
        try {
            delete process.env[DOCKER_TLS_DIR_ENV];
            expect(() => engineArgv(tcp, ["ps"])).toThrow(
                `engine ${tcp} is reached over tcp:// with TLS, but no cert directory is known (PGR_DOCKER_TLS_DIR is unset)`,
            );
            process.env[DOCKER_TLS_DIR_ENV] = "/p/.pg-replication/s-docker-tls";
            expect(engineArgv(tcp, ["ps"])).toEqual([
                "docker",
                "-H",
                tcp,
                ...tlsArgs("/p/.pg-replication/s-docker-tls"),
                "ps",
            ]);
            setDockerEngines({ "s-pg3": tcp }, "/q/tls");
            expect(dockerArgv("s-pg3", ["stop", "s-pg3"])).toEqual([
                "docker",
                "-H",
                tcp,
                ...tlsArgs("/q/tls"),
                "stop",
                "s-pg3",
            ]);
            // Other engines get no TLS options.
            expect(engineArgv(H1, ["ps"])).toEqual(["docker", "-H", H1, "ps"]);
        } finally {
            if (savedDir === undefined) delete process.env[DOCKER_TLS_DIR_ENV];
            else process.env[DOCKER_TLS_DIR_ENV] = savedDir;
        }
    });

    test.each([
        ["not JSON", "{t-pg1: unix:///x}"],
        ["an array", '["unix:///x"]'],
        ["a number as address", '{"t-pg1": 3}'],
        ["an address docker -H does not take", '{"t-pg1": "10.0.0.1"}'],
        ["an empty container name", '{"": "unix:///x"}'],
    ])("a malformed value (%s) is an error naming the variable and the value", (_, value) => {
        process.env[DOCKER_ENGINES_ENV] = value;
        expect(() => dockerArgv("t-pg1", ["ps"])).toThrow(DOCKER_ENGINES_ENV);
        expect(() => parseDockerEngines(value)).toThrow(JSON.stringify(value));
    });

    test("day-2 commands about a container reach its engine (pgBackRest in the repository, check on the primary)", async () => {
        setDockerEngines({ "s-backup": H2, "s-pg2": H1 });
        expect(pgbackrestArgv("s", ["info"]).slice(0, 4)).toEqual(["docker", "-H", H2, "exec"]);
        const seen: string[][] = [];
        const exec: DockerExec = (argv) => {
            seen.push(argv);
            return Promise.resolve({ code: 1, stdout: "", stderr: "stop here" });
        };
        await backupReady("s", "s-pg2", exec);
        expect(seen[0].slice(0, 3)).toEqual(["docker", "-H", H1]);
        expect(seen[0]).toContain("s-pg2");
    });
});

/** One container as `docker ps --format` prints it: name, state, node label, etcd label, tls label. */
const row = (name: string, state: string, node = "", etcd = "", tls = "") => [name, state, node, etcd, tls].join("\t");

/**
 * A fake `docker ps` per engine ("" = the default engine): the lines it prints, or an ExecResult for a
 * failure. Records the argv of every call; answers only once every engine has been asked, so a
 * discovery that asks the engines one after the other fails (it would wait for an answer forever).
 */
function fakeEngines(byEngine: Record<string, string[] | ExecResult>): { exec: DockerExec; calls: string[][] } {
    const calls: string[][] = [];
    const engines = Object.keys(byEngine).length;
    let release: () => void = () => undefined;
    const allAsked = new Promise<void>((r) => (release = r));
    const exec: DockerExec = async (argv) => {
        calls.push(argv);
        if (calls.length === engines) release();
        await Promise.race([allAsked, new Promise((_, no) => setTimeout(() => no(new Error("asked in turn")), 500))]);
        const engine = argv[1] === "-H" ? argv[2] : "";
        const answer = byEngine[engine];
        if (answer === undefined) throw new Error(`no engine ${engine}`);
        return Array.isArray(answer) ? { code: 0, stdout: answer.map((l) => `${l}\n`).join(""), stderr: "" } : answer;
    };
    return { exec, calls };
}

const DOWN: ExecResult = {
    code: 1,
    stdout: "",
    stderr: "Cannot connect to the Docker daemon at unix:///run/pgr-sim-hosts/h2/docker.sock. Is the docker daemon running?",
};

describe("discovery across engines", () => {
    test("without a map: one docker ps on the default engine, exactly as before, and its error", async () => {
        const { exec, calls } = fakeEngines({ "": [row("t-pg2", "running", "pg2"), row("t-pg1", "exited", "pg1")] });
        expect((await listNodes("t", exec)).map((n) => [n.node, n.state])).toEqual([
            ["pg1", "exited"],
            ["pg2", "running"],
        ]);
        expect(calls).toEqual([
            ["docker", "ps", "-a", "--filter", "label=pg-replication.cluster=t", "--format", PS_FORMAT],
        ]);
        await expect(listNodes("t", fakeEngines({ "": DOWN }).exec)).rejects.toThrow(
            /^cannot list containers: docker ps exited 1: Cannot connect/,
        );
    });

    test("two engines: both asked (at once), their listings merged in node order", async () => {
        setDockerEngines({ "t-pg1": H1, "t-pg2": H2, "t-pg3": H1 });
        const { exec, calls } = fakeEngines({
            [H1]: [row("t-pg3", "running", "pg3"), row("t-pg1", "running", "pg1")],
            [H2]: [row("t-pg2", "paused", "pg2")],
        });
        const nodes = await listNodes("t", exec);
        expect(nodes).toEqual([
            { node: "pg1", container: "t-pg1", running: true, state: "running" },
            { node: "pg2", container: "t-pg2", running: false, state: "paused" },
            { node: "pg3", container: "t-pg3", running: true, state: "running" },
        ]);
        expect(calls.map((c) => c.slice(0, 4)).sort()).toEqual([
            ["docker", "-H", H1, "ps"],
            ["docker", "-H", H2, "ps"],
        ]);
    });

    test("an engine that does not answer: its nodes are unreachable (not certainly stopped), the others listed", async () => {
        setDockerEngines({ "t-pg1": H1, "t-pg2": H2, "t-etcd2": H2, "t-pg3": H1, "u-pg4": H2 });
        const { exec } = fakeEngines({
            [H1]: [row("t-pg1", "running", "pg1"), row("t-pg3", "exited", "pg3")],
            [H2]: DOWN,
        });
        const nodes = await listNodes("t", exec);
        // u-pg4 is another stack's: not reported for t.
        expect(nodes.map((n) => [n.node, n.state])).toEqual([
            ["pg1", "running"],
            ["pg2", UNREACHABLE_STATE],
            ["pg3", "exited"],
        ]);
        const pg2 = nodes[1];
        expect(pg2.running).toBe(false);
        expect(certainlyStopped(pg2)).toBe(false);
        expect(pg2.error).toContain(`engine ${H2} does not answer`);
        expect(pg2.error).toContain("Cannot connect to the Docker daemon");

        // Probed, it is a node of unknown role: no decision reads it as "not primary".
        const sql: SqlRunner = {
            rows: <T>() => Promise.resolve([{ r: true, receive: "0/1", replay: "0/1", wr: "streaming" }] as T[]),
            exec: () => Promise.resolve(""),
        };
        const probed = await probeListed(nodes, sql);
        expect(unknownRoles(probed).map((n) => n.node)).toEqual(["pg2"]);
        expect(unknownRoleHint(probed[1])).toMatch(new RegExp(`^pg2 \\(t-pg2\\) cannot be reached: engine ${H2}`));
    });

    test("no engine answers: an error naming each engine", async () => {
        setDockerEngines({ "t-pg1": H1, "t-pg2": H2 });
        const { exec } = fakeEngines({ [H1]: DOWN, [H2]: { code: 255, stdout: "", stderr: "ssh: timeout" } });
        await expect(listNodes("t", exec)).rejects.toThrow(
            new RegExp(
                `cannot list containers on any Docker engine of stack t: engine ${H1}: .*; engine ${H2}: .*ssh: timeout`,
            ),
        );
    });

    test("the inventory: etcd members and tls over every engine; an unreachable engine's etcd member counts", async () => {
        setDockerEngines({ "t-pg1": H1, "t-pg2": H2, "t-etcd1": H1, "t-etcd2": H2 });
        const listed = fakeEngines({
            [H1]: [row("t-pg1", "running", "pg1", "", "required")],
            [H2]: [row("t-pg2", "running", "pg2", "", "required"), row("t-etcd2", "running", "", "1")],
        });
        expect(await stackInventory("t", listed.exec)).toMatchObject({ failover: "patroni", tls: "required" });
        const h2Down = fakeEngines({ [H1]: [row("t-pg1", "running", "pg1", "", "required")], [H2]: DOWN });
        const inv = await stackInventory("t", h2Down.exec);
        expect(inv.failover).toBe("patroni");
        expect(inv.tls).toBe("required");
        expect(inv.nodes.map((n) => [n.node, n.state])).toEqual([
            ["pg1", "running"],
            ["pg2", UNREACHABLE_STATE],
        ]);
    });
});

describe("the deployment guard across hosts", () => {
    test("a node whose host's engine does not answer stops the deployment, naming the host", () => {
        setDockerEngines({ "s-pg1": H1, "s-pg2": H2 });
        const nodes = [
            { node: "pg1", container: "s-pg1", state: "running" },
            { node: "pg2", container: "s-pg2", state: UNREACHABLE_STATE, error: `engine ${H2} does not answer` },
        ];
        expect(unreachableRefusal("s", nodes, { [H1]: "h1", [H2]: "h2" })).toBe(
            "pg-replication: refusing to deploy: the Docker engine of host h2 does not answer " +
                `(pg2: engine ${H2} does not answer). Nothing was changed on any host. Bring the host's engine back and ` +
                "deploy again (npm run live -- up --stack s), or take the host out of pg-replication:hosts.\n",
        );
    });

    test("every engine answering (stopped nodes included): no refusal", () => {
        setDockerEngines({ "s-pg1": H1, "s-pg2": H2 });
        const nodes = [
            { node: "pg1", container: "s-pg1", state: "running" },
            { node: "pg2", container: "s-pg2", state: "exited" },
        ];
        expect(unreachableRefusal("s", nodes, { [H1]: "h1", [H2]: "h2" })).toBeUndefined();
    });
});
