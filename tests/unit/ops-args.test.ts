import { HelpRequest, UsageError } from "../../ops/cli";
import { commandLine, parseArgs } from "../../ops/topology-change";
import { FAILOVER, REJOIN, SWITCHOVER } from "../../ops/topology-commands";
import { configuredNode, describeRejoin, parseRejoinRecord } from "../../ops/ops";
import { DEFAULTS } from "../../model/config";
import { clusterNodes } from "../../model/topology";

const parse = (...argv: string[]) => parseArgs(FAILOVER, argv);
const usageError = (argv: string[]): string => {
    try {
        parse(...argv);
    } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        return (err as Error).message;
    }
    throw new Error(`${argv.join(" ")} was accepted`);
};

describe("day-2 command lines", () => {
    test("values, flags and defaults", () => {
        const a = parse("--to", "pg2", "--stack", "s1", "--live", "--force", "--json");
        expect(a).toMatchObject({ stack: "s1", live: true, json: true, values: { to: "pg2" } });
        expect([...a.flags]).toEqual(["force"]);
        expect(parse("--to=pg3")).toMatchObject({ stack: "dev", live: false, json: false, values: { to: "pg3" } });
    });

    test.each([
        [["--to", "pg1", "--to", "pg2"], "--to given more than once"],
        [["--to=pg1", "--to", "pg2"], "--to given more than once"],
        [["--to", "pg1", "--live", "--live"], "--live given more than once"],
        [["--to"], "--to needs a value"],
        [["--to", "--json"], "--to needs a value"],
        [["--to", "pg1", "--bogus"], "unknown option --bogus"],
        [["--to", "pg1", "stray"], 'unexpected argument "stray"'],
        [["--to", "pg1", "--stack", "a b"], 'invalid --stack "a b"'],
        [["--to", "pg1", "--force=yes"], "--force takes no value"],
    ])("%j is refused: %s", (argv, message) => {
        expect(usageError(argv)).toBe(
            message + (message.startsWith("invalid --stack") ? ": letters, digits, _ . - only" : ""),
        );
    });

    test("--help asks for the usage (exit 0), not an error: every option with its help, the default, an example", () => {
        expect(() => parse("--help")).toThrow(HelpRequest);
        expect(() => parse("-h", "--to", "pg1")).toThrow(HelpRequest);
        for (const cmd of [FAILOVER, SWITCHOVER, REJOIN]) {
            let help: unknown;
            try {
                cmd.parse(["--bogus", "--help"]);
            } catch (err) {
                help = err;
            }
            expect(help).toBeInstanceOf(HelpRequest);
            const text = (help as Error).message;
            expect(text.split("\n")[0]).toBe(`usage: npm run ${cmd.spec.name} -- ${cmd.spec.synopsis}`);
            for (const want of [
                "--stack S",
                "the stack (default dev)",
                "--live",
                "--json",
                "-h, --help",
                `example:\n  npm run ${cmd.spec.name} -- `,
            ])
                expect(text).toContain(want);
        }
        expect(FAILOVER.usage).toMatch(/\n {2}--force +promote pgN even if another replica/);
    });

    test("hints print the exact next command, with --stack and --live", () => {
        expect(commandLine({ stack: "s1", live: true }, "rejoin", "--node", "pg1")).toBe(
            "npm run rejoin -- --node pg1 --stack s1 --live",
        );
        expect(commandLine({ stack: "dev", live: false }, "rejoin", "--node", "pg3")).toBe(
            "npm run rejoin -- --node pg3 --stack dev",
        );
    });
});

describe("node names and ports come from the configured layout", () => {
    test("container and host port of a node; a node the configuration lacks is named in the error", () => {
        const layout = clusterNodes("s1", { ...DEFAULTS, replicas: 2, hostPortBase: 27300 });
        expect(configuredNode(layout, "pg3")).toMatchObject({ containerName: "s1-pg3", hostPort: 27302 });
        expect(() => configuredNode(layout, "pg4")).toThrow(
            "no node pg4 in this stack's configuration (nodes: pg1, pg2, pg3)",
        );
    });
});

describe("the entrypoint's rejoin record", () => {
    test("a rewind that discarded an async failover's commits", () => {
        const r = parseRejoinRecord("pg_rewind 2026-11-30T05:00:00Z 2s 0/5000A28 0/5023F10 36\n");
        expect(r).toEqual({
            method: "pg_rewind",
            at: "2026-11-30T05:00:00Z",
            seconds: "2s",
            discarded: { fromLsn: "0/5000A28", toLsn: "0/5023F10", transactions: 36 },
        });
        expect(describeRejoin("pg1", r)).toBe(
            "pg1 rejoined with pg_rewind in 2s; pg_rewind discarded WAL 0/5000A28..0/5023F10 (36 committed transaction(s)) that the new primary never had",
        );
    });

    test("a re-clone says why; an old two-field record still parses", () => {
        const r = parseRejoinRecord(
            "pg_basebackup 2026-11-30T05:00:00Z 3s - - - it needs WAL segment 000000000000001A, which pg1 (oldest 0000000000000031) and the archive no longer have",
        );
        expect(r.discarded).toBeUndefined();
        expect(describeRejoin("pg2", r)).toBe(
            "pg2 rejoined with pg_basebackup in 3s; re-cloned because it needs WAL segment 000000000000001A, which pg1 (oldest 0000000000000031) and the archive no longer have",
        );
        expect(parseRejoinRecord("pg_rewind 2026-11-30T05:00:00Z 1s")).toEqual({
            method: "pg_rewind",
            at: "2026-11-30T05:00:00Z",
            seconds: "1s",
        });
        expect(describeRejoin("pg3", parseRejoinRecord("pg_rewind t 1s 0/3000060 0/3000060 0"))).toContain(
            "nothing it wrote after the fork at 0/3000060 was lost",
        );
    });
});
