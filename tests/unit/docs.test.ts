// The README as a newcomer follows it (issue 9): the first screen shows both routes, how to tell it
// worked and how to connect; every harness and day-2 command line it shows parses; the router example
// is the runnable file's own text; decisions it documents are in force.
import * as fs from "fs";
import * as path from "path";
import { parseLiveArgs } from "../../harness/cli-lib";
import { HelpRequest } from "../../ops/cli";
import { parseLagArgs } from "../../ops/lag";
import { FAILOVER, REJOIN, SWITCHOVER } from "../../ops/topology-commands";

const ROOT = path.resolve(__dirname, "..", "..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
/** README.md and every page under docs/, and the harness's README: file (from the root) → text. */
const PAGES: Record<string, string> = Object.fromEntries(
    ["README.md", "harness/README.md", ...fs.readdirSync(path.join(ROOT, "docs")).map((f) => `docs/${f}`)]
        .filter((f) => f.endsWith(".md"))
        .map((f) => [f, fs.readFileSync(path.join(ROOT, f), "utf8")]),
);
const DOCS = Object.values(PAGES).join("\n");
const page = (name: string) => PAGES[`docs/${name}.md`];

/** GitHub's anchor of a heading. */
const slug = (heading: string) =>
    heading
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, "")
        .replace(/ /g, "-");

/** Command lines `npm run [-s] SCRIPT -- ARGS` in README and docs (code blocks and inline code), ARGS split on spaces. */
function commandLines(script: string): string[][] {
    const found: string[][] = [];
    const re = new RegExp(`npm run (?:-s )?${script}(?: -- ([^\`\\n#)"|]*))?`, "g");
    for (const m of DOCS.matchAll(re)) {
        const args = (m[1] ?? "").trim();
        // Placeholders ([--json], …) are syntax summaries, not commands to copy.
        if (/[[…<]/.test(args)) continue;
        found.push(args === "" ? [] : args.split(/\s+/));
    }
    return found;
}

describe("README first screen", () => {
    const firstScreen = README.slice(0, README.indexOf("\n## What you get"));

    test("README is short: what it is, the routes, how to tell it worked, connect, features, links", () => {
        expect(README.split("\n").length).toBeLessThanOrEqual(250);
    });

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
});

describe("links in README and docs", () => {
    test("every relative link leads to a file that exists, and its #anchor to a heading there", () => {
        let checked = 0;
        for (const [file, text] of Object.entries(PAGES)) {
            for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
                const target = m[1];
                if (/^[a-z]+:/.test(target)) continue; // http(s): not followed here
                const [rel, anchor] = target.split("#");
                const dest = rel === "" ? file : path.normalize(path.join(path.dirname(file), rel));
                expect([file, target, fs.existsSync(path.join(ROOT, dest))]).toEqual([file, target, true]);
                if (anchor && dest.endsWith(".md")) {
                    const headings = [...fs.readFileSync(path.join(ROOT, dest), "utf8").matchAll(/^#{1,4} (.+)$/gm)];
                    expect([file, target, headings.some((h) => slug(h[1]) === anchor)]).toEqual([file, target, true]);
                }
                checked++;
            }
        }
        expect(checked).toBeGreaterThan(30);
    });
});

describe("README and docs command lines parse", () => {
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
        expect(page("operations")).toContain(region);
        expect(page("operations")).toContain("examples/router.ts");
        expect(region).toContain("CREATE TABLE IF NOT EXISTS orders");
    });

    test("examples/ is type-checked by npm test's tsc", () => {
        const tsconfig = JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8")) as { include: string[] };
        expect(tsconfig.include).toContain("examples/**/*.ts");
    });

    test("the read-only endpoint's spreading is explained where users look", () => {
        const ops = page("operations");
        const section = ops.slice(ops.indexOf("### Stable endpoints"), ops.indexOf("### Lag monitoring"));
        expect(section).toMatch(/\*\*concurrent\*\* sessions over the\s+replicas, not \*\*sequential\*\* ones/);
        expect(section).toContain("that is not a bug");
    });

    test("npm ci's install-script warnings are decided (allowScripts) and documented", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
            allowScripts?: Record<string, boolean>;
        };
        expect(pkg.allowScripts).toEqual({ "@pulumi/command": false, protobufjs: false });
        expect(DOCS).toContain("`package.json`'s `allowScripts`");
    });

    test("the stale outputs after a failover are said where failover is described", () => {
        expect(page("operations")).toContain("the next deployment records them: npm run live -- up --stack speedfo1\n");
    });
});
