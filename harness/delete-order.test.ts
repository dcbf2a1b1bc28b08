// The harness deletes as the Pulumi engine schedules deletes: in antichains by the dependencies each
// registration sent (deletionOrder), which runProgram captures from the SDK's RegisterResource calls.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CapturedOptions, deletionOrder } from "./engine";
import { ProgramEngine, runProgram, urnKey } from "./run-program";
import { ResourceRecord } from "./state";

const record = (key: string, seq: number, dependsOn?: string[]): ResourceRecord => ({
    key,
    type: key.split("::")[0],
    name: key.split("::")[1],
    id: key,
    inputs: {},
    secretInputs: [],
    outputs: {},
    seq,
    secretOutputs: [],
    ...(dependsOn ? { dependsOn } : {}),
});

const keys = (order: ResourceRecord[][]) => order.map((chain) => chain.map((r) => r.key).sort());

describe("deletionOrder: the engine's antichains", () => {
    test("a resource goes only after everything that depends on it; unrelated ones go together", () => {
        const order = deletionOrder([
            record("t::net", 1, []),
            record("t::vol", 2, []),
            record("t::ctr", 3, ["t::net", "t::vol"]),
            record("t::sql", 4, ["t::ctr"]),
            record("t::cert", 5, []),
        ]);
        // Bottom-up layers, reversed (step_generator.go ScheduleDeletes): cert sits in the bottom layer.
        expect(keys(order)).toEqual([["t::sql"], ["t::ctr"], ["t::cert", "t::net", "t::vol"]]);
    });

    test("dependencies outside the doomed set (kept resources, components) do not hold a delete back", () => {
        const order = deletionOrder([record("t::a", 1, ["t::kept", "c::component"]), record("t::b", 2, ["t::a"])]);
        expect(keys(order)).toEqual([["t::b"], ["t::a"]]);
    });

    test("a state written before dependencies were recorded deletes one at a time, newest first", () => {
        const order = deletionOrder([record("t::a", 1, []), record("t::b", 2), record("t::c", 3, [])]);
        expect(keys(order)).toEqual([["t::c"], ["t::b"], ["t::a"]]);
    });

    test("a cycle (which the SDK cannot send) still deletes everything", () => {
        const order = deletionOrder([record("t::a", 1, ["t::b"]), record("t::b", 2, ["t::a"]), record("t::z", 3, [])]);
        expect(keys(order).flat().sort()).toEqual(["t::a", "t::b", "t::z"]);
        expect(keys(order).at(-1)).toEqual(["t::z"]);
    });
});

describe("runProgram captures each registration's dependencies", () => {
    test("urnKey reads type and name from a URN, parents included", () => {
        expect(
            urnKey(
                "urn:pulumi:dev::pg-replication::pg-replication:index:PostgresCluster$docker:index/container:Container::pg-pg1",
            ),
        ).toBe("docker:index/container:Container::pg-pg1");
    });

    test("an input Output and dependsOn (a component's children included) become dependencies", async () => {
        const engine: ProgramEngine & { dependencies: Map<string, string[]> } = {
            options: new Map<string, CapturedOptions>(),
            busy: false,
            dependencies: new Map<string, string[]>(),
            newResource: (args: pulumi.runtime.MockResourceArgs) =>
                Promise.resolve({ id: args.custom ? `${args.name}-id` : undefined, state: args.inputs as object }),
            call: () => Promise.resolve({}),
        };
        const root = path.resolve(__dirname, "..", "tests", "fixtures", "deps-program");
        await runProgram(root, engine, { project: "deps", stack: "t", config: {}, preview: false });
        const deps = (name: string) => (engine.dependencies.get(`test:index:Thing::${name}`) ?? []).sort();
        expect(deps("a")).toEqual([]);
        expect(deps("b")).toEqual(["test:index:Thing::a"]);
        expect(deps("c")).toEqual(["test:index:Thing::b"]);
        expect(deps("d")).toEqual(expect.arrayContaining(["test:index:Thing::g-e"]));
    });
});
