// The live harness must behave as pulumi-docker 5.2.0 (terraform-provider-docker v4.5.0) does, and
// the program must be clean under it: durations as the provider reads them back, in-place updates
// for the properties the provider updates in place, replacements for ForceNew ones.
import {
    containerNeedsReplace,
    durationNs,
    goDuration,
    normalHealthcheck,
    splitReference,
    startIntervalRefusal,
} from "./docker-double";
import { apiAtLeast, healthTiming } from "../infra/healthcheck";
import { commandNeedsReplace } from "./command-double";
import { partialCreateHint } from "./engine";
import { hasUnknown, knownProperties, planStep } from "./preview";
import * as pulumi from "@pulumi/pulumi";
import { loadStackConfig } from "../ops/stack-config";
import * as path from "path";
import { runProgramWithMocks } from "../tests/support/mock-program";

describe("Go durations, as the provider writes healthchecks back into state", () => {
    test.each([
        [0, "0s"],
        [2e9, "2s"],
        [300e9, "5m0s"],
        [90e9, "1m30s"],
        [3600e9, "1h0m0s"],
        [1.5e9, "1.5s"],
        [500e6, "500ms"],
    ])("%d ns is %s", (ns, text) => {
        expect(goDuration(ns)).toBe(text);
        expect(durationNs(text)).toBe(ns);
    });
});

describe("container replace or update, per the provider's schema", () => {
    const base = {
        name: "c",
        image: "i",
        restart: "unless-stopped",
        healthcheck: { tests: ["CMD", "true"], interval: "2s" },
        wait: true,
    };
    test("healthcheck, restart, wait, mustRun and destroyGraceSeconds update in place", () => {
        for (const change of [
            { healthcheck: { tests: ["CMD", "true"], interval: "5s" } },
            { restart: "always" },
            { wait: false },
            { mustRun: false },
            { destroyGraceSeconds: 30 },
        ]) {
            expect(containerNeedsReplace(base, { ...base, ...change })).toBe(false);
        }
    });
    test("image, uploads, ports, labels, networksAdvanced and the like replace", () => {
        for (const change of [
            { image: "j" },
            { uploads: [{ file: "/x", content: "y" }] },
            { labels: [{ label: "a", value: "b" }] },
            { networksAdvanced: [{ name: "n" }] },
        ]) {
            expect(containerNeedsReplace(base, { ...base, ...change })).toBe(true);
        }
    });
    test("schema defaults make a declared healthcheck equal to the one read back", () => {
        expect(normalHealthcheck({ tests: ["CMD", "true"], interval: "2s", retries: 5 })).toEqual({
            tests: ["CMD", "true"],
            interval: "2s",
            timeout: "0s",
            startPeriod: "0s",
            startInterval: "0s",
            retries: 5,
        });
    });
});

describe("the program under the provider's read-back", () => {
    test("every container healthcheck duration is written the way Docker reads it back (no perpetual diff)", async () => {
        const run = await runProgramWithMocks(
            {
                replicas: "2",
                pooler: "true",
                metrics: "true",
                superuserPassword: "super-secret-pw",
                replicationPassword: "repl-secret-pw",
            },
            "unit",
        );
        const containers = run.resources.filter((r) => r.type === "docker:index/container:Container");
        expect(containers.length).toBeGreaterThanOrEqual(6);
        for (const c of containers) {
            const hc = c.inputs.healthcheck as Record<string, string> | undefined;
            expect(hc).toBeDefined();
            for (const key of ["interval", "timeout", "startPeriod", "startInterval"]) {
                const declared = hc?.[key];
                if (declared === undefined) continue;
                expect(`${c.name}.${key} = ${goDuration(durationNs(declared) as number)}`).toBe(
                    `${c.name}.${key} = ${declared}`,
                );
            }
        }
    });
});

describe("harness details the real CLI and providers have", () => {
    const root = path.resolve(__dirname, "..");
    test("declared config types are checked as the CLI does", () => {
        expect(() => loadStackConfig(root, "t", ["replicas=two"])).toThrow(
            "Stack 't' with configuration key 'pg-replication:replicas' must be of type 'integer' (got \"two\")",
        );
        expect(() => loadStackConfig(root, "t", ["pullImage=yes"])).toThrow("must be of type 'boolean'");
        expect(loadStackConfig(root, "t", ["replicas=3"]).config["pg-replication:replicas"]).toBe("3");
    });
    test("image references: tag, default tag, registry port, digest", () => {
        expect(splitReference("postgres:17")).toEqual(["postgres", "17"]);
        expect(splitReference("registry:5000/pg")).toEqual(["registry:5000/pg", "latest"]);
        expect(splitReference("postgres@sha256:abc")).toEqual(["postgres", "sha256:abc"]);
    });
    test("a command's triggers always replace it, even with an update script", () => {
        expect(commandNeedsReplace({ triggers: [1], update: "u" }, { triggers: [2], update: "u" })).toBe(true);
        expect(commandNeedsReplace({ create: "a" }, { create: "b" })).toBe(false);
    });
});

describe("the preview pass plans without performing", () => {
    const container = "docker:index/container:Container";
    test("a resource not in state is created; equal inputs are the same; ForceNew changes replace; others update", () => {
        const old = { name: "c", image: "i", restart: "unless-stopped" };
        expect(planStep(container, undefined, old, false)).toBe("create");
        expect(planStep(container, old, { ...old }, false)).toBe("same");
        expect(planStep(container, old, { ...old, image: "j" }, false)).toBe("replace");
        expect(planStep(container, old, { ...old, restart: "always" }, false)).toBe("update");
        expect(
            planStep("command:local:Command", { create: "a", triggers: [1] }, { create: "a", triggers: [2] }, false),
        ).toBe("replace");
    });
    test("an input still unknown in the preview (an output of a resource to be created) is a change, not the same", () => {
        const old = { name: "c", image: "i" };
        expect(planStep(container, old, { ...old }, true)).toBe("update");
    });
    test("unknown values are found anywhere in the inputs, and only wholly known properties are kept", () => {
        const inputs = { a: "x", b: { c: [1, pulumi.unknown] }, d: pulumi.unknown };
        expect(hasUnknown(inputs)).toBe(true);
        expect(hasUnknown({ a: "x", b: { c: [1] } })).toBe(false);
        expect(knownProperties(inputs)).toEqual({ a: "x" });
    });
});

describe("a create that fails after the container exists", () => {
    test("the hint says the container stays, what the next up does, and how to have it created afresh", () => {
        const hint = partialCreateHint("docker:index/container:Container", "pg-pg2-container", "dev-pg2");
        expect(hint).toContain("it stays in the stack's state with an init error");
        expect(hint).toContain("The next up keeps it as it is (starts it if it is stopped)");
        expect(hint).toContain("docker rm -f dev-pg2");
        expect(hint).toContain("pulumi up --replace <urn of pg-pg2-container>");
        expect(hint).toContain("docker logs dev-pg2");
    });
});

describe("the checks run again when a node was started in place", () => {
    test("each node container's last start time, read by an invoke, is part of the checks' inputs", async () => {
        const run = await runProgramWithMocks(
            { replicas: "2", superuserPassword: "super-secret-pw", replicationPassword: "repl-secret-pw" },
            "unit",
        );
        const checks = run.get("command:local:Command", "-checks");
        const env = checks.inputs.environment as Record<string, string>;
        const ids = run.resources
            .filter((r) => r.type === "docker:index/container:Container" && /-pg\d-container$/.test(r.name))
            .map((r) => `${r.name}-id`);
        expect(ids).toHaveLength(3);
        expect(env.PGR_NODE_STARTS).toBe(ids.map((id) => `/${id} 2026-01-01T00:00:00Z`).join("\n"));
    });
});

describe("healthcheck start interval, by engine API version", () => {
    test("the provider's client refuses a start interval below API 1.44, and sends it from 1.44", () => {
        const hc = { tests: ["CMD", "true"], interval: "2s", startInterval: "250ms" };
        expect(startIntervalRefusal(hc, "1.41")).toBe(
            'Unable to create container: "specify health-check start interval" requires API version 1.44, but the Docker daemon API version is 1.41',
        );
        expect(startIntervalRefusal(hc, "1.44")).toBeUndefined();
        expect(startIntervalRefusal(hc, "1.51")).toBeUndefined();
        // Unset or "0s" (the schema default) is no start interval at all.
        expect(startIntervalRefusal({ ...hc, startInterval: "0s" }, "1.41")).toBeUndefined();
        expect(startIntervalRefusal({ tests: ["CMD", "true"] }, "1.41")).toBeUndefined();
    });

    test("the program sends a start interval only to engines that take one", () => {
        expect(healthTiming("1.41")).toEqual({ interval: "5s" });
        expect(healthTiming("1.43")).toEqual({ interval: "5s" });
        expect(healthTiming("1.44")).toEqual({ interval: "5s", startInterval: "250ms" });
        expect(healthTiming("1.100")).toEqual({ interval: "5s", startInterval: "250ms" });
        expect(apiAtLeast("2.0", "1.44")).toBe(true);
        expect(apiAtLeast("garbage", "1.44")).toBe(false);
        for (const api of ["1.41", "1.44"])
            expect(startIntervalRefusal({ tests: ["CMD", "true"], ...healthTiming(api) }, api)).toBeUndefined();
    });
});
