import { commandLine, HelpRequest, parseArgs, UsageError } from "../../scripts/lib/topology-change";
import { describeRejoin, parseRejoinRecord } from "../../scripts/lib/ops";

const USAGE = "usage: test";
const parse = (...argv: string[]) => parseArgs(argv, ["to"], USAGE, ["force"]);
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
        [["--to", "pg1", "--to", "pg2"], "option --to is given more than once"],
        [["--to=pg1", "--to", "pg2"], "option --to is given more than once"],
        [["--to", "pg1", "--live", "--live"], "option --live is given more than once"],
        [["--to"], "argument missing"],
        [["--to", "pg1", "--bogus"], "Unknown option '--bogus'"],
        [["--to", "pg1", "stray"], "Unexpected argument 'stray'"],
        [["--to", "pg1", "--stack", "a b"], 'invalid --stack "a b"'],
    ])("%j is refused: %s", (argv, message) => {
        const text = usageError(argv);
        expect(text).toContain(message);
        expect(text).toContain(USAGE);
    });

    test("--help asks for the usage (exit 0), not an error", () => {
        expect(() => parse("--help")).toThrow(HelpRequest);
        expect(() => parse("-h", "--to", "pg1")).toThrow(HelpRequest);
    });

    test("hints print the exact next command, with --stack and --live", () => {
        expect(commandLine({ stack: "s1", live: true }, "rejoin", "--node", "pg1")).toBe("npm run rejoin -- --node pg1 --stack s1 --live");
        expect(commandLine({ stack: "dev", live: false }, "rejoin", "--node", "pg3")).toBe("npm run rejoin -- --node pg3 --stack dev");
    });
});

describe("the entrypoint's rejoin record", () => {
    test("a rewind that discarded an async failover's commits", () => {
        const r = parseRejoinRecord("pg_rewind 2026-11-30T05:00:00Z 2s 0/5000A28 0/5023F10 36\n");
        expect(r).toEqual({ method: "pg_rewind", at: "2026-11-30T05:00:00Z", seconds: "2s", discarded: { fromLsn: "0/5000A28", toLsn: "0/5023F10", transactions: 36 } });
        expect(describeRejoin("pg1", r)).toBe(
            "pg1 rejoined with pg_rewind in 2s; pg_rewind discarded WAL 0/5000A28..0/5023F10 (36 committed transaction(s)) that the new primary never had",
        );
    });

    test("a re-clone says why; an old two-field record still parses", () => {
        const r = parseRejoinRecord("pg_basebackup 2026-11-30T05:00:00Z 3s - - - it needs WAL segment 000000000000001A, which pg1 (oldest 0000000000000031) and the archive no longer have");
        expect(r.discarded).toBeUndefined();
        expect(describeRejoin("pg2", r)).toBe(
            "pg2 rejoined with pg_basebackup in 3s; re-cloned because it needs WAL segment 000000000000001A, which pg1 (oldest 0000000000000031) and the archive no longer have",
        );
        expect(parseRejoinRecord("pg_rewind 2026-11-30T05:00:00Z 1s")).toEqual({ method: "pg_rewind", at: "2026-11-30T05:00:00Z", seconds: "1s" });
        expect(describeRejoin("pg3", parseRejoinRecord("pg_rewind t 1s 0/3000060 0/3000060 0"))).toContain("nothing it wrote after the fork at 0/3000060 was lost");
    });
});
