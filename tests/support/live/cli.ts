// `npm run live -- up|down|output [--stack NAME] [--config key=value]... [--json] [--show-secrets]`
//
// TEST SUPPORT, NOT A REPLACEMENT FOR `pulumi up`. The Pulumi CLI and its provider plugins cannot
// be downloaded on our build machines, so this runs the real program (infra/) with the real Pulumi
// SDK in mock mode and performs each docker and command resource for real against the local Docker
// engine, keeping its own state in .live-state/<stack>.json. Users deploy with `npm run up`.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { requireDocker } from "./docker-api";
import { CapturedOptions, LiveEngine } from "./engine";
import { loadStackConfig } from "../../../scripts/lib/stack-config";
import { loadState, saveState, StackState, statePath } from "./state";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const BANNER = "live harness (test support, not `pulumi up`): real Pulumi SDK in mock mode, real Docker resources";

interface Args {
    verb: "up" | "down" | "output";
    stack: string;
    config: string[];
    json: boolean;
    showSecrets: boolean;
}

function parseArgs(argv: string[]): Args {
    const args: Args = { verb: "up", stack: "local", config: [], json: false, showSecrets: false };
    const verb = argv[0];
    if (verb !== "up" && verb !== "down" && verb !== "output") {
        throw new Error("usage: npm run live -- up|down|output [--stack NAME] [--config key=value]... [--json] [--show-secrets]");
    }
    args.verb = verb;
    for (let i = 1; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--stack") args.stack = argv[++i];
        else if (a === "--config" || a === "-c") args.config.push(argv[++i]);
        else if (a === "--json") args.json = true;
        else if (a === "--show-secrets") args.showSecrets = true;
        else throw new Error(`unknown argument ${a}`);
    }
    if (!args.stack || !/^[a-zA-Z0-9_.-]+$/.test(args.stack)) throw new Error(`invalid --stack ${JSON.stringify(args.stack)}`);
    return args;
}

function printOutputs(state: StackState, json: boolean, showSecrets: boolean): void {
    const shown = Object.fromEntries(
        Object.entries(state.outputs).map(([k, o]) => [k, o.secret && !showSecrets ? "[secret]" : o.value]),
    );
    if (json) {
        process.stdout.write(JSON.stringify(shown, null, 2) + "\n");
        return;
    }
    for (const [k, v] of Object.entries(shown)) process.stdout.write(`${k}: ${typeof v === "string" ? v : JSON.stringify(v)}\n`);
}

/** Resolves an exported value (Output or plain) with its secretness. */
async function resolveExport(value: unknown): Promise<{ value: unknown; secret: boolean }> {
    if (!pulumi.Output.isInstance(value)) return { value, secret: false };
    const out = value as pulumi.Output<unknown>;
    const secret = await pulumi.isSecret(out);
    const resolved = await new Promise<unknown>((resolve) => out.apply((v) => (resolve(v), v)));
    return { value: resolved, secret };
}

/** Waits until no registration is running and none starts for a few turns of the event loop. */
async function settle(engine: LiveEngine): Promise<void> {
    let idle = 0;
    while (idle < 5) {
        await new Promise((r) => setTimeout(r, 50));
        idle = engine.busy ? 0 : idle + 1;
    }
}

async function up(args: Args, state: StackState, file: string, engine: LiveEngine): Promise<void> {
    const keyOf = (pair: string) => pair.split("=")[0];
    const overrides = [...state.config.filter((p) => !args.config.some((c) => keyOf(c) === keyOf(p))), ...args.config];
    const { project, config } = loadStackConfig(ROOT, args.stack, overrides);
    state.config = overrides;
    saveState(file, state);
    await engine.refresh();

    pulumi.runtime.setAllConfig(config);
    await pulumi.runtime.setMocks(engine, project, args.stack, false);
    let exported: Record<string, unknown> = {};
    let programError: Error | undefined;
    const done = pulumi.runtime
        .runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((t) => {
                const opts = t.opts as pulumi.CustomResourceOptions;
                const captured: CapturedOptions = {
                    deleteBeforeReplace: opts.deleteBeforeReplace,
                    additionalSecretOutputs: opts.additionalSecretOutputs,
                    ignoreChanges: opts.ignoreChanges,
                };
                engine.options.set(`${t.type}::${t.name}`, captured);
                return undefined;
            });
            try {
                exported = { ...(await import(path.join(ROOT, "infra"))) };
            } catch (err) {
                programError = err as Error;
            }
            return {};
        })
        .catch((err: Error) => {
            programError = programError ?? err;
        });
    await done;
    if (programError) throw programError;
    await settle(engine);
    if (engine.errors.length === 0) {
        state.outputs = {};
        for (const [k, v] of Object.entries(exported)) state.outputs[k] = await resolveExport(v);
        await engine.deleteUndeclared();
    }
    saveState(file, state);
}

async function main(): Promise<number> {
    const args = parseArgs(process.argv.slice(2));
    const file = statePath(ROOT, args.stack);
    const state = loadState(file, args.stack);
    if (args.verb === "output") {
        printOutputs(state, args.json, args.showSecrets);
        return 0;
    }
    const log = (line: string) => process.stderr.write(line + "\n");
    // A failed resource rejects the outputs of everything that depends on it; the engine has
    // already recorded the failure, so keep running until the rest settles.
    process.on("unhandledRejection", () => undefined);
    log(`${BANNER}\n${args.verb} stack ${args.stack}`);
    await requireDocker();
    const started = Date.now();
    const engine = new LiveEngine(state, file, log);
    if (args.verb === "up") {
        await up(args, state, file, engine);
    } else {
        // `refresh: always` holds for destroy too: what is gone leaves the state first.
        await engine.refresh();
        await engine.deleteUndeclared(true);
        if (engine.errors.length === 0) {
            state.outputs = {};
            saveState(file, state);
        }
    }
    const c = engine.counts;
    log(
        `Resources: ${c.created} created, ${c.replaced} replaced, ${c.updated} updated, ${c.deleted} deleted, ` +
            `${c.unchanged} unchanged, ${c.failed} failed; ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    if (engine.errors.length > 0) {
        log(`error: ${args.verb} failed:\n${engine.errors.map((e) => `  ${e}`).join("\n")}`);
        return 1;
    }
    if (args.verb === "up" && args.json) printOutputs(state, true, args.showSecrets);
    return 0;
}

main().then(
    (code) => process.exit(code),
    (err: Error) => {
        process.stderr.write(`error: ${err.message}\n`);
        process.exit(1);
    },
);
