// The one builder of what the post-deploy checks expect: the deployment (infra/cluster.ts) and the
// day-2 commands after a role change (scripts/lib/topology-change.ts) both ask through it.
import * as fs from "fs";
import * as path from "path";
import { checkSpec } from "../../infra/check-spec";
import { validateConfig } from "../../infra/config";

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
            endpoints: { rw: { host: "127.0.0.1", port: 20010 }, ro: { host: "127.0.0.1", port: 20011 } },
            patroni: undefined,
        });
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
            etcdEndpoints: ["http://10.9.0.21:2379", "http://10.9.0.22:2379", "http://10.9.0.23:2379"],
        });
    });

    test("a name that is not a node is refused, not given a made-up port", () => {
        expect(() => checkSpec("s1", validateConfig({}), "db1", [])).toThrow(/not a node name/);
    });

    test("dependencies point down: nothing in infra/ imports from scripts/", () => {
        const infra = path.join(ROOT, "infra");
        const offenders = fs
            .readdirSync(infra)
            .filter((f) => f.endsWith(".ts"))
            .filter((f) => /from "\.\.\/scripts\//.test(fs.readFileSync(path.join(infra, f), "utf8")));
        expect(offenders).toEqual([]);
    });
});
