// The live harness honours explicit docker providers (harness/docker-hosts.ts): a program with one
// docker.Provider per simulated host (scripts/sim-hosts.sh up 2) gets each network and container on
// its own host's engine, and on no other engine nor the default one; a second `up` changes nothing;
// `down` removes everything from both hosts. The program is tests/fixtures/two-hosts/infra, run as
// `npm run live -- up` runs infra/: refresh, the preview pass, the update pass, then deletes.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LiveEngine } from "../../harness/engine";
import { StackState, loadState } from "../../harness/state";
import { exec } from "../support/faults";

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, "..", "..");
const SCRIPT = path.join(ROOT, "scripts", "sim-hosts.sh");
const PROGRAM = path.join(ROOT, "tests", "fixtures", "two-hosts");
const name = (n: number) => `pgr-hosts-test-h${n}`;
const socket = (n: number) => `unix:///run/pgr-sim-hosts/h${n}/docker.sock`;

function sim(...args: string[]): { code: number; stderr: string } {
    const r = spawnSync("bash", [SCRIPT, ...args], { encoding: "utf8", timeout: 240_000 });
    return { code: r.status ?? -1, stderr: r.stderr };
}

/** The containers and networks called `pgr-hosts-test-*` on an engine (the default one without a host). */
async function objectsOn(host?: string): Promise<string[]> {
    const h = host ? ["-H", host] : [];
    const listed = await Promise.all([
        exec(["docker", ...h, "ps", "-a", "--filter", "name=pgr-hosts-test-", "--format", "container {{.Names}}"]),
        exec(["docker", ...h, "network", "ls", "--filter", "name=pgr-hosts-test-", "--format", "network {{.Name}}"]),
    ]);
    for (const r of listed) if (r.code !== 0) throw new Error(`docker ${h.join(" ")}: ${r.stderr}`);
    return listed.flatMap((r) => r.stdout.split("\n").filter((l) => l !== ""));
}

/** One pass of the program under fresh copies of the SDK and the program (jest keeps its own module registry). */
async function pass(engine: "preview" | LiveEngine, state: StackState): Promise<string[]> {
    let errors: string[] = [];
    await jest.isolateModulesAsync(async () => {
        const { runProgram } = await import("../../harness/run-program");
        const { PreviewEngine } = await import("../../harness/preview");
        const mocks = engine === "preview" ? new PreviewEngine(state) : engine;
        const run = { project: "pg-replication", stack: "hosts", config: {} };
        await runProgram(PROGRAM, mocks, { ...run, preview: engine === "preview" });
        errors = mocks.errors;
    });
    return errors;
}

/** `live up` (refresh, preview, update, deletes) or `live down` against the state file; the progress lines. */
async function deploy(verb: "up" | "down", file: string): Promise<{ lines: string[]; errors: string[] }> {
    const state = loadState(file, "hosts");
    const lines: string[] = [];
    const engine = new LiveEngine(state, file, (l) => lines.push(l));
    await engine.refresh();
    if (verb === "down") {
        await engine.deleteUndeclared(true);
        return { lines, errors: engine.errors };
    }
    const previewErrors = await pass("preview", state);
    if (previewErrors.length > 0) return { lines, errors: previewErrors };
    await pass(engine, state);
    if (engine.errors.length === 0) await engine.deleteUndeclared();
    return { lines, errors: engine.errors };
}

describe("explicit docker providers, one per simulated host", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hosts-harness-"));
    const file = path.join(dir, "hosts.json");
    const unhandled = () => undefined;

    beforeAll(() => {
        // A failed registration rejects its dependents' outputs, as in `live up` (harness/cli.ts).
        process.on("unhandledRejection", unhandled);
        sim("down");
        const up = sim("up", "2");
        expect(up.stderr).toContain("host 2: 10.99.0.12");
        expect(up.code).toBe(0);
    }, 240_000);
    afterAll(async () => {
        if (fs.existsSync(file)) await deploy("down", file).catch(() => undefined);
        sim("down");
        fs.rmSync(dir, { recursive: true, force: true });
        process.off("unhandledRejection", unhandled);
    });

    test("each host's network and container are on that host's engine only; each record keeps its host", async () => {
        const { lines, errors } = await deploy("up", file);
        expect(errors).toEqual([]);
        expect(lines.filter((l) => /^ {2}created /.test(l))).toHaveLength(6);
        expect(await objectsOn(socket(1))).toEqual([`container ${name(1)}`, `network ${name(1)}`]);
        expect(await objectsOn(socket(2))).toEqual([`container ${name(2)}`, `network ${name(2)}`]);
        expect(await objectsOn()).toEqual([]);
        const records = loadState(file, "hosts").resources.filter((r) => r.type.startsWith("docker:"));
        expect(records.map((r) => `${r.name} ${r.provider} ${r.host}`).sort()).toEqual([
            `h1-box pulumi:providers:docker::h1 ${socket(1)}`,
            `h1-net pulumi:providers:docker::h1 ${socket(1)}`,
            `h2-box pulumi:providers:docker::h2 ${socket(2)}`,
            `h2-net pulumi:providers:docker::h2 ${socket(2)}`,
        ]);
    });

    test("a second up refreshes each resource on its own engine and changes nothing", async () => {
        const { lines, errors } = await deploy("up", file);
        expect(errors).toEqual([]);
        expect(lines.filter((l) => /^ {2}unchanged /.test(l))).toHaveLength(6);
        expect(lines.filter((l) => /^ {2}(created|replaced|updated|deleted|refreshed) /.test(l))).toEqual([]);
    });

    test("down removes everything from both hosts", async () => {
        const { lines, errors } = await deploy("down", file);
        expect(errors).toEqual([]);
        expect(lines.filter((l) => /^ {2}deleted /.test(l))).toHaveLength(6);
        expect(await objectsOn(socket(1))).toEqual([]);
        expect(await objectsOn(socket(2))).toEqual([]);
        expect(loadState(file, "hosts").resources).toEqual([]);
    });
});
