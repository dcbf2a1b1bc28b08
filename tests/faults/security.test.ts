// Fault suite, security probes on a running cluster (issue 7 items 2 and 3): scram-sha-256 or
// reject on every network line; replication refused through a published port but accepted between
// nodes; the replication role refused on ordinary databases, from the host and from a node; a wrong
// superuser password refused; and no password (distinctive test values) in `docker inspect`,
// `docker logs`, `ps` inside any container or the harness's plain outputs. Own stack, subnet
// 172.29.96.0/24, ports 24032+.
import { ClientConfig } from "pg";
import { dockerNames, live } from "../support/live-client";
import {
    containerOf,
    deploy,
    exec,
    faultCluster,
    figure,
    nodePort,
    nodes,
    psqlIn,
    query,
    teardown,
    waitHealthy,
} from "../support/faults";

jest.setTimeout(240_000);

const C = faultCluster({
    stack: `fg${process.pid}`,
    subnet: "172.29.96.0/24",
    base: 24032,
    password: `FgSuperPw${process.pid}xK93q`,
    replPassword: `FgReplPw${process.pid}mZ41v`,
    replicas: 2,
    config: ["syncMode=async", "pooler=true"],
});
const REFUSED_BY_HBA = /pg_hba\.conf/;
/** The replication role on an ordinary database: refused by pg_hba.conf or by privileges. */
const REFUSED_LOGIN = /pg_hba\.conf|permission denied|not permitted to log in|does not have CONNECT privilege/i;

/** Tries to connect (and run one statement); resolves with the error message, or "" when it worked. */
async function connectError(port: number, config: Partial<ClientConfig>, statement = "SELECT 1"): Promise<string> {
    try {
        await query(port, C.password, statement, [], { connectionTimeoutMillis: 5000, query_timeout: 5000, ...config });
        return "";
    } catch (err) {
        return (err as Error).message || String(err);
    }
}

/** psql from inside one node to another over the cluster network, with a password in the environment. */
function psqlFromNode(from: string, conninfo: string, password: string, statement: string) {
    return exec(
        [
            "docker",
            "exec",
            "-u",
            "postgres",
            "-e",
            `PGPASSWORD=${password}`,
            containerOf(C, from),
            "psql",
            conninfo,
            "-XAtc",
            statement,
        ],
        30_000,
    );
}

describe(`fault: security probes (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
        await waitHealthy(C, 60_000, "pg1");
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    test("every host line of pg_hba.conf uses scram-sha-256 or reject; password_encryption is scram-sha-256; stored passwords are SCRAM", async () => {
        for (const node of nodes(C)) {
            const container = containerOf(C, node);
            expect(await psqlIn(container, "SHOW hba_file")).toBe("/etc/pg-replication/pg_hba.conf");
            const file = (await exec(["docker", "exec", container, "cat", "/etc/pg-replication/pg_hba.conf"], 20_000))
                .stdout;
            const hostLines = file
                .split("\n")
                .map((l) => l.replace(/#.*/, "").trim())
                .filter((l) => /^host/.test(l));
            expect(hostLines.length).toBeGreaterThan(0);
            const badLines = hostLines.filter((l) => {
                const f = l.split(/\s+/);
                // TYPE DATABASE USER ADDRESS [MASK] METHOD [OPTIONS]: a bare IP address is followed by a mask.
                const method = /^\d+\.\d+\.\d+\.\d+$/.test(f[3]) ? f[5] : f[4];
                return method !== "scram-sha-256" && method !== "reject";
            });
            expect({ node, badLines }).toEqual({ node, badLines: [] });
            // The server's own reading of the active file agrees, with no parse errors.
            const rules = JSON.parse(
                await psqlIn(
                    container,
                    "SELECT coalesce(json_agg(json_build_object('type', type, 'method', auth_method, 'error', error)), '[]') FROM pg_hba_file_rules",
                ),
            ) as Array<{ type: string; method: string; error: string | null }>;
            expect(rules.filter((r) => r.error !== null)).toEqual([]);
            expect(
                rules.filter((r) => r.type.startsWith("host") && !["scram-sha-256", "reject"].includes(r.method)),
            ).toEqual([]);
            expect(await psqlIn(container, "SHOW password_encryption")).toBe("scram-sha-256");
        }
        const stored = await psqlIn(
            containerOf(C, "pg1"),
            "SELECT string_agg(rolname || '=' || left(rolpassword, 14), ',' ORDER BY rolname) FROM pg_authid WHERE rolpassword IS NOT NULL",
        );
        for (const entry of stored.split(",")) expect(entry).toMatch(/=SCRAM-SHA-256\$$/);
    });

    test("a physical replication connection through a published port is refused by pg_hba.conf (primary and standby)", async () => {
        const messages: Record<string, string> = {};
        for (const node of ["pg1", "pg2"]) {
            messages[node] = await connectError(
                nodePort(C, node),
                { user: "replicator", password: C.replPassword, replication: "true" } as Partial<ClientConfig>,
                "IDENTIFY_SYSTEM",
            );
        }
        figure({ case: "security-replication-from-host", messages });
        expect(messages.pg1).toMatch(REFUSED_BY_HBA);
        expect(messages.pg2).toMatch(REFUSED_BY_HBA);
    });

    test("a physical replication connection from another node (pg3 to pg1) with the replicator's password succeeds", async () => {
        const res = await psqlFromNode(
            "pg3",
            "host=pg1 port=5432 user=replicator replication=true dbname=postgres connect_timeout=5",
            C.replPassword,
            "IDENTIFY_SYSTEM",
        );
        expect({ code: res.code, stderr: res.stderr.trim() }).toEqual({ code: 0, stderr: "" });
        expect(res.stdout.trim()).toMatch(/^\d+\|\d+\|[0-9A-F]+\/[0-9A-F]+\|/);
    });

    test("the replication role is refused on ordinary databases: from the host (postgres, template1) and from another node", async () => {
        const fromHost = {
            postgres: await connectError(nodePort(C, "pg1"), {
                user: "replicator",
                password: C.replPassword,
                database: "postgres",
            }),
            template1: await connectError(nodePort(C, "pg1"), {
                user: "replicator",
                password: C.replPassword,
                database: "template1",
            }),
            standby: await connectError(nodePort(C, "pg2"), {
                user: "replicator",
                password: C.replPassword,
                database: "postgres",
            }),
        };
        const fromNode = await psqlFromNode(
            "pg3",
            "host=pg1 port=5432 user=replicator dbname=postgres connect_timeout=5",
            C.replPassword,
            "SELECT count(*) FROM pg_class",
        );
        figure({
            case: "security-replicator-ordinary-db",
            fromHost,
            fromNode: { code: fromNode.code, stdout: fromNode.stdout.trim(), stderr: fromNode.stderr.trim() },
        });
        expect(fromHost.postgres).toMatch(REFUSED_LOGIN);
        expect(fromHost.template1).toMatch(REFUSED_LOGIN);
        expect(fromHost.standby).toMatch(REFUSED_LOGIN);
        expect(fromNode.code).not.toBe(0);
        expect(fromNode.stdout.trim()).toBe("");
        expect(fromNode.stderr).toMatch(REFUSED_LOGIN);
    });

    test("the superuser with a wrong password is refused (node port and read-write endpoint); the right one works", async () => {
        const wrong = `${C.password}-wrong`;
        const node = await connectError(nodePort(C, "pg1"), { password: wrong });
        const endpoint = await connectError(C.base + 10, { password: wrong });
        figure({ case: "security-wrong-password", node, endpoint });
        expect(node).toMatch(/password authentication failed for user "postgres"/);
        expect(endpoint).not.toBe("");
        expect(await connectError(nodePort(C, "pg1"), {})).toBe("");
    });

    test("no password in docker inspect, docker logs, ps inside any container, or the harness's plain outputs", async () => {
        const secrets = { superuserPassword: C.password, replicationPassword: C.replPassword };
        const containers = await dockerNames("container", `${C.stack}-`);
        expect(containers.length).toBeGreaterThanOrEqual(5); // 3 nodes, 2 PgBouncer endpoints
        const leaks: string[] = [];
        const scan = (where: string, text: string) => {
            for (const [name, value] of Object.entries(secrets))
                if (text.includes(value)) leaks.push(`${name} in ${where}`);
        };
        for (const c of containers) {
            const inspect = await exec(["docker", "inspect", c], 20_000);
            expect(inspect.code).toBe(0);
            scan(`docker inspect ${c}`, inspect.stdout);
            const logs = await exec(["docker", "logs", c], 20_000);
            expect(logs.code).toBe(0);
            scan(`docker logs ${c}`, logs.stdout + logs.stderr);
            const ps = await exec(["docker", "exec", c, "ps", "auxww"], 20_000);
            expect({ c, code: ps.code, stderr: ps.stderr.trim() }).toEqual({ c, code: 0, stderr: "" });
            scan(`ps auxww in ${c}`, ps.stdout);
        }
        const outputs = await live(["output", "--stack", C.stack, "--json"]);
        expect(outputs.code).toBe(0);
        scan("live output --json (no --show-secrets)", outputs.stdout + outputs.stderr);
        const plain = await live(["output", "--stack", C.stack]);
        scan("live output (no --show-secrets)", plain.stdout + plain.stderr);
        figure({ case: "security-leaks", containers: containers.length, leaks });
        expect(leaks).toEqual([]);
    });
});
