// Fault suite, bad input to every ops command (issue 7 item 10): unknown node or stack, missing
// value, repeated option, unknown option, stray argument, --help. Usage errors exit 2 and name the
// offending option; --help exits 0 with the usage on stdout. Most cases need no cluster (a stack
// that does not exist: a usage error must be found before anything is looked up); the ones that must
// "change nothing" run against a real cluster. Own stack, subnet 172.29.97.0/24, ports 24132+.
import * as fs from "fs";
import * as path from "path";
import { containerIdentity, ROOT } from "../support/live-client";
import {
    containerOf,
    deploy,
    ExecResult,
    faultCluster,
    figure,
    nodes,
    ops,
    script,
    Script,
    teardown,
    waitHealthy,
    writableNodes,
} from "../support/faults";

jest.setTimeout(240_000);

const C = faultCluster({
    stack: `fh${process.pid}`,
    subnet: "172.29.97.0/24",
    base: 24132,
    password: `fh-input-super-${process.pid}-Nw3`,
    replPassword: `fh-input-repl-${process.pid}-Rq8`,
    replicas: 2,
    config: ["syncMode=async", "pooler=false"],
});
/** A stack that does not exist: nothing can be changed through it. */
const NONE = `fh${process.pid}none`;
const REPEATED = /more than once|repeated|twice|duplicate/i;

const TOPOLOGY: Array<{ name: Exclude<Script, "lag">; opt: string }> = [
    { name: "failover", opt: "--to" },
    { name: "switchover", opt: "--to" },
    { name: "rejoin", opt: "--node" },
];

function brief(r: ExecResult): { code: number; stdout: string; stderr: string } {
    return { code: r.code, stdout: r.stdout.slice(0, 300), stderr: r.stderr.slice(0, 600) };
}

/** Exit 2 (usage error) with every pattern found on stderr. */
function expectUsageError(what: string, r: ExecResult, ...patterns: Array<string | RegExp>): void {
    expect({ what, code: r.code }).toEqual({ what, code: 2 });
    for (const p of patterns) {
        if (typeof p === "string")
            expect({ what, stderr: r.stderr }).toEqual({ what, stderr: expect.stringContaining(p) });
        else expect({ what, stderr: r.stderr }).toEqual({ what, stderr: expect.stringMatching(p) });
    }
}

function run(name: Script, argv: string[]): Promise<ExecResult> {
    return script(name, argv, 60_000);
}

describe("fault: bad input to the ops commands, no cluster needed", () => {
    for (const { name, opt } of TOPOLOGY) {
        const base = ["--stack", NONE, "--live"];
        test(`${name}: --help exits 0 with the usage on stdout`, async () => {
            const help = await run(name, ["--help"]);
            expect(brief(help)).toMatchObject({ code: 0 });
            expect(help.stdout).toContain(`usage: npm run ${name}`);
        });
        test(`${name}: a missing value for ${opt} exits 2 naming it`, async () => {
            const [atEnd, beforeOption, absent] = await Promise.all([
                run(name, [...base, opt]),
                run(name, [...base, opt, "--json"]),
                run(name, [...base]),
            ]);
            expectUsageError(`${opt} at the end`, atEnd, opt);
            expectUsageError(`${opt} followed by --json`, beforeOption, opt);
            expectUsageError(`no ${opt}`, absent, `usage: npm run ${name}`);
        });
        test(`${name}: a repeated option (${opt} pg1 ${opt} pg2) or an unknown option exits 2 naming it`, async () => {
            const [twice, unknown] = await Promise.all([
                run(name, [...base, opt, "pg1", opt, "pg2"]),
                run(name, [...base, opt, "pg2", "--bogus"]),
            ]);
            expectUsageError(`${opt} twice`, twice, opt, REPEATED);
            expectUsageError("--bogus", unknown, "--bogus");
        });
        test(`${name}: a stack that does not exist fails (exit 1) naming it`, async () => {
            const r = await run(name, [...base, opt, "pg2"]);
            expect(brief(r)).toMatchObject({ code: 1 });
            expect(r.stderr).toContain(NONE);
        });
    }

    test("failover: --stack given twice, or a stray argument, exits 2 naming it", async () => {
        const [stackTwice, stray] = await Promise.all([
            run("failover", ["--stack", NONE, "--stack", `${NONE}2`, "--live", "--to", "pg2"]),
            run("failover", ["--stack", NONE, "--live", "--to", "pg2", "pg3"]),
        ]);
        expectUsageError("--stack twice", stackTwice, "--stack", REPEATED);
        expectUsageError("stray pg3", stray, "pg3");
    });

    test("lag: --help exits 0 with the usage on stdout", async () => {
        const help = await run("lag", ["--help"]);
        expect(brief(help)).toMatchObject({ code: 0 });
        expect(help.stdout).toContain("usage: npm run lag");
    });
    test("lag: missing values, unknown option, repeated options exit 2 naming the option", async () => {
        const [stackAtEnd, bytesBeforeOption, unknown, stackTwice, bytesTwice] = await Promise.all([
            run("lag", ["--stack"]),
            run("lag", ["--stack", NONE, "--max-lag-bytes", "--json"]),
            run("lag", ["--stack", NONE, "--bogus"]),
            run("lag", ["--stack", NONE, "--stack", `${NONE}2`]),
            run("lag", ["--stack", NONE, "--max-lag-bytes", "1MB", "--max-lag-bytes", "2MB"]),
        ]);
        expectUsageError("lag --stack at the end", stackAtEnd, "--stack");
        expectUsageError("lag --max-lag-bytes followed by --json", bytesBeforeOption, "--max-lag-bytes");
        expectUsageError("lag --bogus", unknown, "--bogus");
        expectUsageError("lag --stack twice", stackTwice, "--stack", REPEATED);
        expectUsageError("lag --max-lag-bytes twice", bytesTwice, "--max-lag-bytes", REPEATED);
    });
    test("lag: a stack that does not exist exits 2 naming it", async () => {
        const r = await run("lag", ["--stack", NONE]);
        expect(brief(r)).toMatchObject({ code: 2 });
        expect(r.stderr).toContain(NONE);
    });
});

describe(`fault: bad input against a running cluster changes nothing (stack ${C.stack})`, () => {
    let identities: string[] = [];

    /** The primary is still pg1, no container was stopped, restarted or replaced, primaryNode not moved. */
    async function expectUnchanged(after: string): Promise<void> {
        expect({ after, writable: await writableNodes(C) }).toEqual({ after, writable: ["pg1"] });
        expect({
            after,
            identities: await Promise.all(nodes(C).map((n) => containerIdentity(containerOf(C, n)))),
        }).toEqual({ after, identities });
        const state = JSON.parse(fs.readFileSync(path.join(ROOT, ".live-state", `${C.stack}.json`), "utf8")) as {
            config: string[];
        };
        const recorded = state.config.filter((kv) => kv.startsWith("primaryNode="));
        expect({ after, recorded }).toEqual({ after, recorded: recorded.length ? ["primaryNode=pg1"] : [] });
    }

    beforeAll(async () => {
        await teardown(C);
        await deploy(C);
        await waitHealthy(C, 60_000, "pg1");
        identities = await Promise.all(nodes(C).map((n) => containerIdentity(containerOf(C, n))));
    }, 300_000);
    afterAll(async () => {
        await teardown(C);
    }, 180_000);

    test("failover --to pg1 --to pg2 exits 2 naming --to; the primary is unchanged", async () => {
        const r = await ops(C, "failover", ["--to", "pg1", "--to", "pg2"], 90_000);
        figure({ case: "bad-input-repeated", command: "failover --to pg1 --to pg2", ...brief(r) });
        expectUsageError("failover --to pg1 --to pg2", r, "--to", REPEATED);
        await expectUnchanged("failover --to pg1 --to pg2");
    });

    test("switchover --to pg2 --to pg3 and rejoin --node pg2 --node pg3 exit 2; nothing changes", async () => {
        const sw = await ops(C, "switchover", ["--to", "pg2", "--to", "pg3"], 90_000);
        expectUsageError("switchover --to pg2 --to pg3", sw, "--to", REPEATED);
        const rj = await ops(C, "rejoin", ["--node", "pg2", "--node", "pg3"], 90_000);
        expectUsageError("rejoin --node pg2 --node pg3", rj, "--node", REPEATED);
        await expectUnchanged("repeated --to / --node");
    });

    test("an unknown option with a valid target (failover --to pg2 --bogus) exits 2; nothing changes", async () => {
        const r = await ops(C, "failover", ["--to", "pg2", "--bogus"], 90_000);
        expectUsageError("failover --to pg2 --bogus", r, "--bogus");
        await expectUnchanged("failover --to pg2 --bogus");
    });

    test("an unknown node (pg9) is refused by failover, switchover and rejoin, naming it; nothing changes", async () => {
        const results = {
            failover: await ops(C, "failover", ["--to", "pg9"], 90_000),
            switchover: await ops(C, "switchover", ["--to", "pg9"], 90_000),
            rejoin: await ops(C, "rejoin", ["--node", "pg9"], 90_000),
        };
        figure({
            case: "bad-input-unknown-node",
            ...Object.fromEntries(
                Object.entries(results).map(([k, r]) => [k, { code: r.code, stderr: r.stderr.trim().split("\n")[0] }]),
            ),
        });
        for (const [name, r] of Object.entries(results)) {
            expect({ name, failed: r.code === 1 || r.code === 2 }).toEqual({ name, failed: true });
            expect({ name, stderr: r.stderr }).toEqual({ name, stderr: expect.stringContaining("pg9") });
        }
        await expectUnchanged("unknown node pg9");
    });
});
