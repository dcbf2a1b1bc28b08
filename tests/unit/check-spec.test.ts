// The one builder of what the post-deploy checks expect: the deployment (infra/cluster.ts) and the
// day-2 commands after a role change (ops/topology-change.ts) both ask through it.
import * as fs from "fs";
import * as path from "path";
import { checkSpec } from "../../model/check-spec";
import { validateConfig } from "../../model/config";
import { addressProblem } from "../../ops/checks";

const ROOT = path.resolve(__dirname, "..", "..");

describe("checkSpec", () => {
    test("a role change: the new primary and replicas at their own published ports, the endpoints after the nodes", () => {
        const cfg = validateConfig({
            replicas: "2",
            hostPortBase: "20000",
            syncMode: "sync",
            syncMethod: "first",
            syncCount: "2",
            bindAddress: "0.0.0.0",
        });
        expect(checkSpec("s1", cfg, "pg2", ["pg1", "pg3"])).toEqual({
            stack: "s1",
            backups: true,
            tls: true,
            primary: { node: "pg2", host: "127.0.0.1", port: 20001 },
            replicas: [
                { node: "pg1", host: "127.0.0.1", port: 20000 },
                { node: "pg3", host: "127.0.0.1", port: 20002 },
            ],
            syncMode: "sync",
            syncMethod: "first",
            syncCount: 2,
            slots: true,
            deadlineSeconds: 60,
            addresses: {
                network: "s1-net",
                nodes: [
                    { node: "pg2", container: "s1-pg2", address: "172.20.0.12" },
                    { node: "pg1", container: "s1-pg1", address: "172.20.0.11" },
                    { node: "pg3", container: "s1-pg3", address: "172.20.0.13" },
                ],
            },
            endpoints: { rw: { host: "127.0.0.1", port: 20010 }, ro: { host: "127.0.0.1", port: 20011 } },
            patroni: undefined,
        });
    });

    test("a node off its fixed address is named with the commands that put it back", () => {
        const n = { node: "pg3", container: "s1-pg3", address: "172.20.0.13" };
        expect(addressProblem(n, "s1-net", "172.20.0.13")).toBeUndefined();
        expect(addressProblem(n, "s1-net", undefined)).toBeUndefined(); // gone: the other checks judge it
        expect(addressProblem(n, "s1-net", "172.20.0.2")).toBe(
            "s1-pg3 is on 172.20.0.2, not its fixed address 172.20.0.13 on s1-net (reconnected without --ip?): the " +
                "nodes' pg_hba.conf admit replication only from the fixed addresses, so it cannot stream. Put it back: " +
                "docker network disconnect s1-net s1-pg3 && docker network connect --ip 172.20.0.13 --alias pg3 --alias pg-cluster s1-net s1-pg3",
        );
        expect(addressProblem(n, "s1-net", "")).toBe(
            "s1-pg3 is not connected to s1-net; connect it at its fixed address: " +
                "docker network connect --ip 172.20.0.13 --alias pg3 --alias pg-cluster s1-net s1-pg3",
        );
    });

    test("no pooler: no endpoints; failover=patroni: every node, etcd members and their client URLs", () => {
        const cfg = validateConfig({
            replicas: "1",
            pooler: "false",
            failover: "patroni",
            etcdMembers: "3",
            subnet: "10.9.0.0/24",
            hostPortBase: "30000",
        });
        const spec = checkSpec("p1", cfg, "pg1", ["pg2"]);
        expect(spec.endpoints).toBeUndefined();
        expect(spec.patroni).toEqual({
            cluster: "p1",
            nodes: [
                { node: "pg1", host: "127.0.0.1", port: 30000, address: "10.9.0.11", container: "p1-pg1" },
                { node: "pg2", host: "127.0.0.1", port: 30001, address: "10.9.0.12", container: "p1-pg2" },
            ],
            etcdContainers: ["p1-etcd1", "p1-etcd2", "p1-etcd3"],
            // tls required: etcd's client URLs are HTTPS.
            etcdEndpoints: ["https://10.9.0.21:2379", "https://10.9.0.22:2379", "https://10.9.0.23:2379"],
        });
    });

    test("a name that is not a node is refused, not given a made-up port", () => {
        expect(() => checkSpec("s1", validateConfig({}), "db1", [])).toThrow(/not a node name/);
    });

    test("nothing in the program, the operations, the commands, the bench or the harness reaches into tests/", () => {
        const offenders = sourcesUnder(["model", "infra", "ops", "scripts", "bench", "harness", "client"]).filter((f) =>
            /from "(\.\.\/)+tests\/|"tests", "support"|tests\/support\//.test(
                fs.readFileSync(path.join(ROOT, f), "utf8"),
            ),
        );
        expect(offenders).toEqual([]);
    });

    test("dependencies point down: the model, the program and the operations use no command, bench or test", () => {
        // ESLint's import-x/no-restricted-paths holds this for imports; this also catches a path in a string
        // (the program runs its hooks by path: they must live in ops/hooks/, never in scripts/).
        const offenders = sourcesUnder(["model", "infra", "ops"]).filter((f) =>
            /from "(\.\.\/)+(scripts|bench|tests)\/|"(scripts|bench)\/[\w/-]+\.ts"/.test(
                fs.readFileSync(path.join(ROOT, f), "utf8"),
            ),
        );
        expect(offenders).toEqual([]);
    });
});

describe("the project root as each layer computes it", () => {
    // A file moved between layers keeps its own `path.resolve(__dirname, …)`: each must still name the root.
    test("ops, bench, harness and the model's templates all point into this project", async () => {
        const roots = {
            ops: (await import("../../ops/stack-backends")).PROJECT_ROOT,
            bench: (await import("../../bench/host")).ROOT,
            harness: (await import("../../harness")).PROJECT_ROOT,
            templates: path.dirname((await import("../../model/render")).TEMPLATE_DIR),
        };
        expect(roots).toEqual({ ops: ROOT, bench: ROOT, harness: ROOT, templates: ROOT });
    });
});

/** Every non-test TypeScript file under the given top-level folders, relative to the project root. */
function sourcesUnder(dirs: string[]): string[] {
    const found: string[] = [];
    const walk = (dir: string): void => {
        for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
            const rel = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(rel);
            else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) found.push(rel);
        }
    };
    for (const dir of dirs) walk(dir);
    return found;
}
