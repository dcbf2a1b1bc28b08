// examples/: importing one runs nothing; the router example names the nodes after the stack's
// outputs. With PGR_EXAMPLE_STACK=<live-harness stack> it also runs against that cluster.
import { ordersExample, stackNodes } from "../../examples/router";
import { readOutputs } from "../../scripts/lib/stack-backends";

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

    const stack = process.env.PGR_EXAMPLE_STACK;
    (stack ? test : test.skip)(
        "runs against a live-harness stack (PGR_EXAMPLE_STACK)",
        async () => {
            const nodes = stackNodes(readOutputs({ stack: stack as string, live: true }));
            const lines = await ordersExample(nodes.primary, nodes.replicas);
            expect(lines[0]).toMatch(
                /^order 42 \(total 9.5\) written at [0-9A-F]+\/[0-9A-F]+, read back from (replica|primary) pg\d+$/,
            );
            expect(lines[1]).toMatch(/^\d+ order\(s\), counted on (replica|primary) pg\d+$/);
            expect(lines.slice(2).every((l) => /^replica pg\d+: in rotation \(ok\)/.test(l))).toBe(true);
        },
        60_000,
    );
});
