// examples/: importing one runs nothing; the router example names the nodes after the stack's
// outputs. tests/integration/router.test.ts runs it against a live cluster.
import { stackNodes } from "../../examples/router";

describe("examples/router.ts", () => {
    test("nodes are named pg1, pg2 … from the outputs, so servedBy.name is not host:port", () => {
        const nodes = stackNodes({
            primary: { node: "pg2" },
            primaryConnectionString: "postgresql://postgres:pw@127.0.0.1:15433/postgres",
            replicas: [{ node: "pg1" }, { node: "pg3" }],
            replicaConnectionStrings: [
                "postgresql://postgres:pw@127.0.0.1:15432/postgres",
                "postgresql://postgres:pw@127.0.0.1:15434/postgres",
            ],
        });
        expect(nodes).toEqual({
            primary: { connectionString: "postgresql://postgres:pw@127.0.0.1:15433/postgres", name: "pg2" },
            replicas: [
                { connectionString: "postgresql://postgres:pw@127.0.0.1:15432/postgres", name: "pg1" },
                { connectionString: "postgresql://postgres:pw@127.0.0.1:15434/postgres", name: "pg3" },
            ],
        });
        expect(() => stackNodes({})).toThrow(/deploy it first/);
    });
});
