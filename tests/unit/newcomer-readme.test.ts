// The README as a newcomer follows it (issue 9): the first screen shows both routes, how to tell it
// worked and how to connect; every harness and day-2 command line it shows parses; the router example
// is the runnable file's own text; decisions it documents are in force.
import * as fs from "fs";
import * as path from "path";
import { parseLiveArgs } from "../../harness/cli-lib";
import { HelpRequest } from "../../scripts/lib/cli";
import { parseLagArgs } from "../../scripts/lib/lag";
import { FAILOVER, REJOIN, SWITCHOVER } from "../../scripts/lib/topology-commands";

const ROOT = path.resolve(__dirname, "..", "..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

/** Command lines `npm run [-s] SCRIPT -- ARGS` in the README (code blocks and inline code), ARGS split on spaces. */
function commandLines(script: string): string[][] {
    const found: string[][] = [];
    const re = new RegExp(`npm run (?:-s )?${script}(?: -- ([^\`\\n#)"|]*))?`, "g");
    for (const m of README.matchAll(re)) {
        const args = (m[1] ?? "").trim();
        // Placeholders ([--json], …) are syntax summaries, not commands to copy.
        if (/[[…<]/.test(args)) continue;
        found.push(args === "" ? [] : args.split(/\s+/));
    }
    return found;
}

describe("README first screen", () => {
    const firstScreen = README.slice(0, README.indexOf("\n## What it creates"));

    test("comes first, with both routes, how to tell it worked and how to connect", () => {
        expect(firstScreen.split("\n").length).toBeLessThan(60);
        for (const want of [
            "npm ci",
            "npm run up",
            "npm run build-image",
            "npm run live -- up --stack local",
            "pulumi: fetch failed",
            "checkReport",
            "checkReport.ok: true",
            "Resources: 19 created, 0 replaced, 0 updated, 0 deleted, 0 unchanged, 0 failed",
            "docker exec -it dev-pg1 psql -U postgres",
            'psql "$(npm run -s live -- output primaryConnectionString --stack local --show-secrets)"',
            "--help",
        ]) {
            expect(firstScreen).toContain(want);
        }
    });

    test("its links lead to sections that exist", () => {
        const slugs = new Set(
            [...README.matchAll(/^#{2,3} (.+)$/gm)].map((m) =>
                m[1]
                    .toLowerCase()
                    .replace(/[^a-z0-9 -]/g, "")
                    .replace(/ /g, "-"),
            ),
        );
        for (const m of firstScreen.matchAll(/\]\(#([^)]+)\)/g)) expect(slugs).toContain(m[1]);
    });
});

describe("README command lines parse", () => {
    test("every npm run live line", () => {
        const lines = commandLines("live");
        expect(lines.length).toBeGreaterThan(15);
        for (const argv of lines) {
            try {
                parseLiveArgs(argv);
            } catch (err) {
                if (!(err instanceof HelpRequest))
                    throw new Error(`npm run live -- ${argv.join(" ")}: ${(err as Error).message}`, { cause: err });
            }
        }
    });

    test("every failover, switchover, rejoin and lag line", () => {
        let n = 0;
        for (const cmd of [FAILOVER, SWITCHOVER, REJOIN]) {
            for (const argv of commandLines(cmd.spec.name)) {
                n++;
                try {
                    cmd.parse(argv);
                } catch (err) {
                    if (!(err instanceof HelpRequest))
                        throw new Error(`npm run ${cmd.spec.name} -- ${argv.join(" ")}: ${(err as Error).message}`, {
                            cause: err,
                        });
                }
            }
        }
        for (const argv of commandLines("lag")) {
            n++;
            expect(() => parseLagArgs(argv)).not.toThrow();
        }
        expect(n).toBeGreaterThan(8);
    });
});

describe("README examples and decisions", () => {
    test("the router example is examples/router.ts's own text", () => {
        const file = fs.readFileSync(path.join(ROOT, "examples", "router.ts"), "utf8");
        const region = file.slice(
            file.indexOf("// README:begin\n") + "// README:begin\n".length,
            file.indexOf("// README:end"),
        );
        expect(region.length).toBeGreaterThan(500);
        expect(README).toContain(region);
        expect(README).toContain("examples/router.ts");
        expect(region).toContain("CREATE TABLE IF NOT EXISTS orders");
    });

    test("examples/ is type-checked by npm test's tsc", () => {
        const tsconfig = JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8")) as { include: string[] };
        expect(tsconfig.include).toContain("examples/**/*.ts");
    });

    test("the read-only endpoint's spreading is explained where users look", () => {
        const section = README.slice(README.indexOf("### Stable endpoints"), README.indexOf("### Lag monitoring"));
        expect(section).toMatch(/\*\*concurrent\*\* sessions over the\s+replicas, not \*\*sequential\*\* ones/);
        expect(section).toContain("that is not a bug");
    });

    test("npm ci's install-script warnings are decided (allowScripts) and documented", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
            allowScripts?: Record<string, boolean>;
        };
        expect(pkg.allowScripts).toEqual({ "@pulumi/command": false, protobufjs: false });
        expect(README).toContain("`package.json`'s `allowScripts`");
    });

    test("the stale outputs after a failover are said in the README", () => {
        expect(README).toContain("the next deployment records them: npm run live -- up --stack speedfo1\n");
    });
});
