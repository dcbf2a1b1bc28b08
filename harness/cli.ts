// `npm run live -- up|down|rm|output [NAME]|config [set KEY VALUE|rm KEY] [--stack NAME] [--config key=value]...
//                  [--json] [--show-secrets]`   (--help: every option, with examples; see cli-lib.ts)
//
// NOT A REPLACEMENT FOR `pulumi up`: the offline route and what the Docker tests deploy with. The Pulumi
// CLI and its provider plugins cannot be downloaded on our build machines, so this runs the real program (infra/) with the real Pulumi
// SDK in mock mode and performs each docker and command resource for real against the local Docker
// engine, keeping its own state in .live-state/<stack>.json. Users deploy with `npm run up`.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import {
    checkOrExplain,
    downNote,
    configCommand,
    formatOutputs,
    LIVE,
    LiveArgs,
    parseLiveArgs,
    removeStackRefusal,
    secretFromStdin,
    secretOnCommandLineNote,
    upSummary,
    withValue,
} from "./cli-lib";
import { requireDocker } from "./docker-api";
import { runCommand } from "../ops/cli";
import { LiveEngine } from "./engine";
import { PreviewEngine } from "./preview";
import { runProgram } from "./run-program";
import { loadStackConfig } from "../ops/stack-config";
import { loadState, saveState, StackState, statePath } from "./state";

const ROOT = path.resolve(__dirname, "..");
const BANNER = "live harness (test support, not `pulumi up`): real Pulumi SDK in mock mode, real Docker resources";

type UpArgs = Extract<LiveArgs, { verb: "up" }>;

/**
 * All of standard input. Not readFileSync(0): when stdin is a pipe whose writer has not written yet
 * (`npm run -s live -- output … | npm run -s live -- config set --secret …`), a non-blocking read
 * fails with EAGAIN.
 */
function readStdin(): Promise<string> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        process.stdin.on("data", (c: Buffer) => chunks.push(c));
        process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        process.stdin.on("error", reject);
    });
}

/** Resolves an exported value (Output or plain) with its secretness. */
async function resolveExport(value: unknown): Promise<{ value: unknown; secret: boolean }> {
    if (!pulumi.Output.isInstance(value)) return { value, secret: false };
    const out = value;
    const secret = await pulumi.isSecret(out);
    const resolved = await new Promise<unknown>((resolve) => out.apply((v) => (resolve(v), v)));
    return { value: resolved, secret };
}

/** The config `up` runs with: the recorded values, then this run's --config values. */
function upConfig(args: UpArgs, state: StackState): string[] {
    let overrides = state.config;
    for (const pair of args.config) {
        const eq = pair.indexOf("=");
        overrides = withValue(overrides, pair.slice(0, eq), pair.slice(eq + 1));
    }
    return overrides;
}

async function up(
    args: UpArgs,
    state: StackState,
    file: string,
    engine: LiveEngine,
    log: (line: string) => void,
): Promise<void> {
    const overrides = upConfig(args, state);
    const { project, config } = loadStackConfig(ROOT, args.stack, overrides);
    state.config = overrides;
    saveState(file, state);
    await engine.refresh();

    // The preview pass first, as `pulumi up` previews before it changes anything: the guard and
    // any other refusal stop the deployment here, with Docker untouched.
    const preview = new PreviewEngine(state);
    const run = { project, stack: args.stack, config };
    await runProgram(ROOT, preview, { ...run, preview: true });
    log(preview.summary());
    if (preview.errors.length > 0) {
        engine.errors.push(...preview.errors.map((e) => `preview: ${e}`));
        log("the preview failed: nothing was changed");
        return;
    }

    const exported = await runProgram(ROOT, engine, { ...run, preview: false });
    if (engine.errors.length === 0) {
        state.outputs = {};
        for (const [k, v] of Object.entries(exported)) state.outputs[k] = await resolveExport(v);
        await engine.deleteUndeclared();
    }
    saveState(file, state);
}

/** `live rm`: forgets an empty stack (its state file, with the recorded config and secrets). */
function removeStack(stack: string, file: string, state: StackState): number {
    if (!fs.existsSync(file)) {
        process.stderr.write(`error: no live harness stack ${stack} (${file} does not exist)\n`);
        return 1;
    }
    const refusal = removeStackRefusal(stack, state.resources.length);
    if (refusal) {
        process.stderr.write(`error: ${refusal}\n`);
        return 1;
    }
    if (fs.existsSync(file)) fs.rmSync(file);
    process.stderr.write(`stack ${stack} removed: its recorded config and state are gone (${file})\n`);
    return 0;
}

/** `live output [NAME]`. */
function printOutputs(args: Extract<LiveArgs, { verb: "output" }>, state: StackState): number {
    if (args.name === undefined && Object.keys(state.outputs).length === 0) {
        process.stderr.write(
            `stack ${args.stack} has no outputs (not deployed: npm run live -- up --stack ${args.stack})\n`,
        );
    }
    process.stdout.write(formatOutputs(args.stack, state.outputs, args));
    return 0;
}

/** `live config`, `config set`, `config rm`: the state file is written only when the config changed. */
async function runConfig(
    args: Extract<LiveArgs, { verb: "config" | "config-set" | "config-rm" }>,
    file: string,
    state: StackState,
): Promise<number> {
    if (args.verb === "config-set" && args.fromStdin) args.value = secretFromStdin(await readStdin(), args.key);
    const res = configCommand(ROOT, args, state);
    if (res.save) saveState(file, state);
    process.stdout.write(res.stdout);
    process.stderr.write(res.stderr);
    return res.code;
}

/**
 * Refuses a config `up` would fail on before Docker is touched or anything recorded (a misspelt
 * --config key never reaches the state), and notes secrets given on the command line.
 */
function checkUpConfig(args: UpArgs, state: StackState): void {
    checkOrExplain(ROOT, args.stack, upConfig(args, state), state.config, "nothing was recorded or deployed");
    process.stderr.write(
        secretOnCommandLineNote(
            args.stack,
            args.config.map((p) => p.slice(0, p.indexOf("="))),
        ),
    );
}

/** `live down`: deletes everything the stack made, as pulumi destroy with `refresh: always`. */
async function down(state: StackState, file: string, engine: LiveEngine): Promise<void> {
    // `refresh: always` holds for destroy too: what is gone leaves the state first.
    await engine.refresh();
    await engine.deleteUndeclared(true);
    if (engine.errors.length === 0) {
        state.outputs = {};
        saveState(file, state);
    }
}

/** The counts line every `up` and `down` ends its progress with. */
function resourcesLine(c: LiveEngine["counts"], started: number): string {
    return (
        `Resources: ${c.created} created, ${c.replaced} replaced, ${c.updated} updated, ${c.deleted} deleted, ` +
        `${c.unchanged} unchanged, ${c.failed} failed; ${((Date.now() - started) / 1000).toFixed(1)}s`
    );
}

/** `live up` and `live down` against Docker: progress and the summary on stderr, `up --json`'s outputs on stdout. */
async function deploy(
    args: Extract<LiveArgs, { verb: "up" | "down" }>,
    file: string,
    state: StackState,
): Promise<number> {
    const log = (line: string) => process.stderr.write(line + "\n");
    // A failed resource rejects the outputs of everything that depends on it; the engine has
    // already recorded the failure, so keep running until the rest settles.
    process.on("unhandledRejection", () => undefined);
    log(`${BANNER}\n${args.verb} stack ${args.stack}`);
    await requireDocker();
    const started = Date.now();
    const engine = new LiveEngine(state, file, log);
    if (args.verb === "up") await up(args, state, file, engine, log);
    else await down(state, file, engine);
    log(resourcesLine(engine.counts, started));
    if (engine.errors.length > 0) {
        log(`error: ${args.verb} failed:\n${engine.errors.map((e) => `  ${e}`).join("\n")}`);
        return 1;
    }
    if (args.verb === "down") log(downNote(args.stack));
    if (args.verb === "up") {
        for (const line of upSummary(args.stack, state.outputs)) log(line);
        if (args.json)
            process.stdout.write(
                formatOutputs(args.stack, state.outputs, { json: true, showSecrets: args.showSecrets }),
            );
    }
    return 0;
}

async function main(): Promise<number> {
    const args = parseLiveArgs(process.argv.slice(2));
    const file = statePath(ROOT, args.stack);
    const state = loadState(file, args.stack);
    switch (args.verb) {
        case "rm":
            return removeStack(args.stack, file, state);
        case "output":
            return printOutputs(args, state);
        case "config":
        case "config-set":
        case "config-rm":
            return runConfig(args, file, state);
    }
    if (args.verb === "up") checkUpConfig(args, state);
    return deploy(args, file, state);
}

runCommand(LIVE, main);
