// The one command-line parser (ops/cli.ts): what every command's --help and usage errors
// are made of. The commands' own tests (ops-args, lag, bench, live-cli) pin their messages.
import { command, HelpRequest, integerOption, stackOption, UsageError } from "../../ops/cli";

const DEMO = command({
    name: "demo",
    synopsis: "[--stack S] [--tag T]... [--runs N] <thing>",
    description: "A command for this test.",
    options: {
        stack: stackOption("dev", "the stack"),
        tag: { type: "string", short: "t", value: "T", multiple: true, help: "a tag\n(repeatable)" },
        runs: integerOption("N", "runs", 1, 1, 5),
        dry: { type: "boolean", help: "change nothing" },
    },
    positionals: true,
    notes: "Exit status: 0 fine.",
    examples: ["npm run demo -- --tag a -t b thing"],
});

const error = (argv: string[]): string => {
    try {
        DEMO.parse(argv);
    } catch (err) {
        if (err instanceof UsageError) return err.message;
        throw err;
    }
    throw new Error(`${argv.join(" ")} was accepted`);
};

describe("command(): one declaration gives the parser and the usage", () => {
    test("defaults filled in, given options converted, repeatable options in order, positionals kept", () => {
        expect(DEMO.parse(["thing"])).toEqual({
            values: { stack: "dev", tag: [], runs: 1, dry: false },
            given: new Set(),
            positionals: ["thing"],
        });
        const line = DEMO.parse([
            "--tag",
            "a",
            "-t",
            "b",
            "--runs=3",
            "--dry",
            "--stack",
            "s1",
            "--",
            "--not-an-option",
        ]);
        expect(line.values).toEqual({ stack: "s1", tag: ["a", "b"], runs: 3, dry: true });
        expect([...line.given].sort()).toEqual(["dry", "runs", "stack", "tag"]);
        expect(line.positionals).toEqual(["--not-an-option"]);
    });

    test.each([
        [["--bogus"], "unknown option --bogus"],
        [["-x"], "unknown option -x"],
        [["--runs", "1", "--runs=2"], "--runs given more than once"],
        [["--dry", "--dry"], "--dry given more than once"],
        [["--runs"], "--runs needs a value"],
        [["--stack", "--dry"], "--stack needs a value"],
        [["--dry=yes"], "--dry takes no value"],
        [["--runs", "9"], '--runs "9" is invalid: expected an integer 1..5'],
        [["--stack", "a b"], 'invalid --stack "a b": letters, digits, _ . - only'],
    ])("%j: %s", (argv, message) => expect(error(argv)).toBe(message));

    test("positionals are refused unless declared", () => {
        const bare = command({ name: "bare", synopsis: "", description: "d", options: {}, examples: ["npm run bare"] });
        expect(() => bare.parse(["stray"])).toThrow(new UsageError('unexpected argument "stray"'));
        expect(bare.parse([]).positionals).toEqual([]);
    });

    test("--help and -h win over any mistake and carry the usage: synopsis, options with help and defaults, notes, example", () => {
        for (const argv of [["--help"], ["--bogus", "-h"], ["--runs", "0", "--help"]])
            expect(() => DEMO.parse(argv)).toThrow(HelpRequest);
        expect(DEMO.synopsis).toBe("usage: npm run demo -- [--stack S] [--tag T]... [--runs N] <thing>");
        expect(DEMO.usage).toBe(
            [
                "usage: npm run demo -- [--stack S] [--tag T]... [--runs N] <thing>",
                "",
                "A command for this test.",
                "",
                "options:",
                "  --stack S    the stack (default dev)",
                "  -t, --tag T  a tag",
                "               (repeatable)",
                "  --runs N     runs (default 1)",
                "  --dry        change nothing",
                "  -h, --help   this help",
                "",
                "Exit status: 0 fine.",
                "",
                "example:",
                "  npm run demo -- --tag a -t b thing",
            ].join("\n"),
        );
    });
});
