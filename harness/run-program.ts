// Runs the stack program (infra/) once under the Pulumi SDK's mock mode: the preview pass and the
// update pass of one `up` each run it, as the real `pulumi up` runs the program once to preview and
// once to update.
import * as path from "path";
import { setTimeout as sleep } from "node:timers/promises";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { SECRET_CONFIG_KEYS } from "../model/config";
import { CapturedOptions } from "./engine";

/** A mock-mode engine that also captures resource options and reports whether it is still working. */
export interface ProgramEngine extends pulumi.runtime.Mocks {
    readonly options: Map<string, CapturedOptions>;
    readonly busy: boolean;
    /** Each registration's dependencies (`type::name` keys), as the SDK sent them; kept when given. */
    readonly dependencies?: Map<string, string[]>;
}

/** The `type::name` key of a resource URN (`urn:pulumi:<stack>::<project>::<parent$…$type>::<name>`). */
export function urnKey(urn: string): string {
    const [, , qualified = "", ...name] = urn.split("::");
    return `${qualified.split("$").pop()}::${name.join("::")}`;
}

/** What the patch below reads of a RegisterResourceRequest and of the mock monitor. */
interface Registration {
    getType(): string;
    getName(): string;
    getDependenciesList(): string[];
}
type RegisterResource = (this: { mocks: pulumi.runtime.Mocks }, req: Registration, callback: unknown) => unknown;

let dependenciesCaptured = false;

/**
 * Gives the engine the dependencies of every registration. The SDK sends them to the engine with the
 * RegisterResource call (runtime/resource.js: setDependenciesList(allDirectDependencyURNs): explicit
 * dependsOn, with a component's children, and every resource an input Output came from); mock mode's
 * monitor drops them before calling newResource (runtime/mocks.js MockMonitor.registerResource), so
 * this wraps that method, once per process.
 */
function captureDependencies(): void {
    if (dependenciesCaptured) return;
    dependenciesCaptured = true;
    const proto = MockMonitor.prototype as unknown as { registerResource: RegisterResource };
    const original = proto.registerResource;
    proto.registerResource = function (req, callback) {
        const deps = (this.mocks as Partial<ProgramEngine>).dependencies;
        deps?.set(`${req.getType()}::${req.getName()}`, req.getDependenciesList().map(urnKey));
        return original.call(this, req, callback);
    };
}

// The SDK's own count of registrations and invokes in flight (@pulumi/pulumi runtime/settings.js
// rpcKeepAlive / waitForRPCs, what the language host drains before it disconnects). Not in the
// typings (@internal), hence the cast.
const sdkSettings = pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> };

/** Resolves once no registration has been running for `turns` turns of `ms` each. */
async function idleFor(engine: ProgramEngine, turns: number, ms: number): Promise<void> {
    let idle = 0;
    while (idle < turns) {
        await sleep(ms);
        idle = engine.busy ? 0 : idle + 1;
    }
}

/**
 * Waits until every registration the program started is done. Normally the SDK's RPC queue drains;
 * after a failure (a refused invoke) registrations waiting on it never end, and then five quiet
 * turns of 50 ms decide. Either way a few quiet turns follow: a dependent registers once its inputs
 * resolve, which can be a turn after its dependency's registration ended.
 */
export async function settle(engine: ProgramEngine): Promise<void> {
    const drained = sdkSettings.waitForRPCs ? sdkSettings.waitForRPCs() : new Promise<void>(() => undefined);
    await Promise.race([drained, idleFor(engine, 5, 50)]);
    await idleFor(engine, 3, 10);
}

/**
 * Forgets the program's modules (everything of the project outside node_modules but this harness),
 * so that a second pass evaluates the program afresh against the new runtime settings.
 */
function forgetProgram(root: string): void {
    const harness = path.join(root, "harness") + path.sep;
    for (const file of Object.keys(require.cache)) {
        if (
            file.startsWith(root + path.sep) &&
            !file.includes(`${path.sep}node_modules${path.sep}`) &&
            !file.startsWith(harness)
        ) {
            delete require.cache[file];
        }
    }
}

/**
 * Records, for each resource the program declares, the options the engine honours, as a stack
 * transformation sees them: after the resource's own constructor merged in its defaults (the
 * additionalSecretOutputs an SDK class such as @pulumi/tls's PrivateKey adds). Call it inside the stack.
 */
export function captureOptions(engine: ProgramEngine): void {
    pulumi.runtime.registerStackTransformation((t) => {
        const opts = t.opts as pulumi.CustomResourceOptions;
        engine.options.set(`${t.type}::${t.name}`, {
            deleteBeforeReplace: opts.deleteBeforeReplace,
            additionalSecretOutputs: opts.additionalSecretOutputs,
            ignoreChanges: opts.ignoreChanges,
            retainOnDelete: opts.retainOnDelete,
        });
        return undefined;
    });
}

/** Runs the program against `engine` (preview = dry run); returns its exports, or throws the program's error. */
export async function runProgram(
    root: string,
    engine: ProgramEngine,
    run: { project: string; stack: string; config: Record<string, string>; preview: boolean },
): Promise<Record<string, unknown>> {
    forgetProgram(root);
    captureDependencies();
    // The secret keys go as secrets, as the language host lists them (PULUMI_CONFIG_SECRET_KEYS): the
    // harness records them only as secrets (`config set --secret`, shown as [secret], state 0600).
    const secretKeys = SECRET_CONFIG_KEYS.map((k) => `${run.project}:${k}`).filter((k) => k in run.config);
    pulumi.runtime.setAllConfig(run.config, secretKeys);
    await pulumi.runtime.setMocks(engine, run.project, run.stack, run.preview);
    let exported: Record<string, unknown> = {};
    let programError: Error | undefined;
    await pulumi.runtime
        .runInPulumiStack(async () => {
            captureOptions(engine);
            try {
                exported = { ...(await import(path.join(root, "infra"))) };
            } catch (err) {
                programError = err as Error;
            }
            return {};
        })
        .catch((err: Error) => {
            programError = programError ?? err;
        });
    if (programError) throw programError;
    await settle(engine);
    return exported;
}
