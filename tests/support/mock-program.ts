// Runs the stack program (infra/) under Pulumi's mocks, recording every resource registration.
// Each call loads fresh copies of the SDK and the program, so runs do not share runtime state.
import * as path from "path";
import type * as PulumiModule from "@pulumi/pulumi";
import { Json, unwrapSecrets } from "../../harness/secrets";
import { urnKey } from "../../harness/run-program";

/** One registered resource. */
export interface Registered {
    type: string;
    name: string;
    /** Inputs as serialized by the SDK: secret values stay wrapped. */
    rawInputs: Json;
    /** Inputs with secrets unwrapped. */
    inputs: Json;
    /** Explicit dependsOn of the resource, as `type::name` keys. */
    dependsOn: string[];
    /**
     * Every dependency the SDK sent the engine with the registration (explicit dependsOn, a component's
     * children, every resource an input Output came from), as `type::name` keys: what `pulumi destroy`
     * orders its deletes by (harness/engine.ts deletionOrder).
     */
    dependencies: string[];
    deleteBeforeReplace: boolean;
    ignoreChanges: string[];
    /** The explicit provider's reference (`<urn>::<id>`), when the resource names one. */
    provider?: string;
}

export interface MockRun {
    resources: Registered[];
    /** `registered NAME` when a registration reaches the mocks, `resolved NAME` when it is answered. */
    events: string[];
    /** Every invoke the program made (command:local:run: the hooks), in order, with its inputs. */
    invokes: Array<{ token: string; inputs: Record<string, unknown> }>;
    outputs: Record<string, { value: unknown; secret: boolean }>;
    /** The first registered resource of a type whose name ends with `suffix`. */
    get(type: string, suffix: string): Registered;
}

const ROOT = path.resolve(__dirname, "..", "..");

// Every fresh copy of the SDK adds its own process exit listener.
process.setMaxListeners(100);

/** When the fake checks say they ran. */
export const FAKE_CHECKED_AT = "2026-01-02T03:04:05.000Z";

/**
 * What ops/hooks/check-cluster.ts would print for the spec the program gave it: the roles it was asked to
 * check, passed, at {@link FAKE_CHECKED_AT}; so a test sees the program's outputs derived from the report.
 */
function fakeCheckReport(inputs: Json): Record<string, unknown> {
    const env = (inputs.environment ?? {}) as Record<string, string>;
    const spec = JSON.parse(env.PGR_CHECK_SPEC ?? "{}") as {
        primary?: { node: string };
        replicas?: Array<{ node: string }>;
    };
    return {
        ok: true,
        primary: spec.primary?.node,
        replicas: (spec.replicas ?? []).map((r) => r.node),
        checks: [],
        checkedAt: FAKE_CHECKED_AT,
    };
}

/** What the fake providers answer for resources whose outputs the program reads. */
function fakeOutputs(type: string, name: string, inputs: Json): Record<string, unknown> {
    if (type === "command:local:Command") {
        if (name.endsWith("-image")) return { stdout: "sha256:0123456789abcdef" };
        if (name.endsWith("-checks")) return { stdout: JSON.stringify(fakeCheckReport(inputs)) };
        if (name.endsWith("-password") || name.endsWith("-pass")) return { stdout: `generated-${name}` };
        return { stdout: "" };
    }
    // @pulumi/tls: recognisable PEM stand-ins (harness/tls-double.ts makes real ones).
    if (type === "tls:index/privateKey:PrivateKey") return { privateKeyPem: `fake-key-of-${name}` };
    if (type === "tls:index/certRequest:CertRequest") return { certRequestPem: `fake-csr-of-${name}` };
    if (type === "tls:index/selfSignedCert:SelfSignedCert" || type === "tls:index/locallySignedCert:LocallySignedCert")
        return { certPem: `fake-cert-of-${name}` };
    if (type === "docker:index/remoteImage:RemoteImage") return { imageId: `sha256:image-of-${inputs.name}` };
    return {};
}

/** A registration as this SDK copy's mock monitor receives it (runtime/mocks.js). */
interface Registration {
    getType(): string;
    getName(): string;
    getDependenciesList(): string[];
}
type RegisterResource = (req: Registration, callback: unknown) => unknown;

/**
 * Wraps this SDK copy's MockMonitor.registerResource, which drops the dependencies the SDK sends with
 * a registration before calling the mocks (as harness/run-program.ts does for the live harness), and
 * returns where they are kept, by `type::name`. Call it inside the isolated module registry.
 */
async function captureSentDependencies(): Promise<Map<string, string[]>> {
    const sent = new Map<string, string[]>();
    const { MockMonitor } = await import("@pulumi/pulumi/runtime/mocks");
    const proto = MockMonitor.prototype as unknown as { registerResource: RegisterResource };
    const original = proto.registerResource;
    proto.registerResource = function (this: unknown, req, callback) {
        sent.set(`${req.getType()}::${req.getName()}`, req.getDependenciesList().map(urnKey));
        return original.call(this, req, callback);
    };
    return sent;
}

/**
 * Runs the program with `config` (keys without namespace); `resources` receives registrations as they
 * happen; `engineApi` is the Docker engine API version `docker version` answers (this machine's by default);
 * `holdReadyMs` delays the answer to every ready check (`*-ready`), so a test sees what waits for one;
 * `secretKeys` are the keys the stack holds as secrets (PULUMI_CONFIG_SECRET_KEYS), none by default.
 */
export async function runProgramWithMocks(
    config: Record<string, string>,
    stack = "unit",
    resources: Registered[] = [],
    engineApi = "1.41",
    holdReadyMs = 0,
    secretKeys: string[] = [],
): Promise<MockRun> {
    const events: string[] = [];
    const invokes: MockRun["invokes"] = [];
    const outputs: MockRun["outputs"] = {};
    let exported: Record<string, unknown> = {};
    let programError: Error | undefined;
    await jest.isolateModulesAsync(async () => {
        const pulumi: typeof PulumiModule = await import("@pulumi/pulumi");
        const full = Object.fromEntries(Object.entries(config).map(([k, v]) => [`pg-replication:${k}`, v]));
        pulumi.runtime.setAllConfig(
            full,
            secretKeys.map((k) => `pg-replication:${k}`),
        );
        const deps = new Map<string, { dependsOn: string[]; deleteBeforeReplace: boolean; ignoreChanges: string[] }>();
        const sent = await captureSentDependencies();
        await pulumi.runtime.setMocks(
            {
                newResource(args) {
                    if (!args.custom) return { id: undefined, state: {} };
                    const inputs = unwrapSecrets(args.inputs);
                    const opts = deps.get(`${args.type}::${args.name}`);
                    resources.push({
                        type: args.type,
                        name: args.name,
                        rawInputs: args.inputs,
                        inputs,
                        dependsOn: opts?.dependsOn ?? [],
                        dependencies: sent.get(`${args.type}::${args.name}`) ?? [],
                        deleteBeforeReplace: opts?.deleteBeforeReplace ?? false,
                        ignoreChanges: opts?.ignoreChanges ?? [],
                        ...(args.provider ? { provider: args.provider } : {}),
                    });
                    events.push(`registered ${args.name}`);
                    const answer = {
                        id: `${args.name}-id`,
                        state: { ...inputs, ...fakeOutputs(args.type, args.name, inputs) },
                    };
                    if (!(holdReadyMs > 0 && args.name.endsWith("-ready"))) {
                        events.push(`resolved ${args.name}`);
                        return answer;
                    }
                    return new Promise((resolve) =>
                        setTimeout(() => {
                            events.push(`resolved ${args.name}`);
                            resolve(answer);
                        }, holdReadyMs),
                    );
                },
                call(args) {
                    invokes.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
                    // The node start times (infra/node-starts.ts): one line per container id given.
                    const ids: string | undefined = args.inputs.environment?.PGR_CONTAINER_IDS;
                    if (args.token === "command:local:run" && ids !== undefined) {
                        return {
                            stdout: ids
                                .split(" ")
                                .map((id: string) => `/${id} 2026-01-01T00:00:00Z`)
                                .join("\n"),
                            stderr: "",
                        };
                    }
                    // The primary guard: report the configured primary as the one running.
                    // The engine's API version (infra/healthcheck.ts).
                    if (args.token === "command:local:run" && /^docker version /.test(args.inputs.command))
                        return { stdout: engineApi, stderr: "" };
                    if (args.token === "command:local:run")
                        return { stdout: `ok ${args.inputs.environment.PGR_PRIMARY}`, stderr: "" };
                    throw new Error(`unexpected invoke ${args.token}`);
                },
            },
            "pg-replication",
            stack,
            false,
        );
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((t) => {
                const raw = t.opts.dependsOn;
                const list = (raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]) as PulumiModule.Resource[];
                const names = list.map(
                    (r) =>
                        `${(r as unknown as { __pulumiType: string }).__pulumiType}::${(r as unknown as { __name: string }).__name}`,
                );
                deps.set(`${t.type}::${t.name}`, {
                    dependsOn: names,
                    deleteBeforeReplace: (t.opts as PulumiModule.CustomResourceOptions).deleteBeforeReplace ?? false,
                    ignoreChanges: t.opts.ignoreChanges ?? [],
                });
                return undefined;
            });
            try {
                exported = { ...(await import(path.join(ROOT, "infra"))) };
            } catch (err) {
                // Rethrown below: an error escaping init would also reject the stack's own
                // registration, unhandled.
                programError = err as Error;
            }
            return {};
        });
        // The SDK keeps its runtime state in a process-wide global, shared by every fresh copy:
        // drain this run's RPCs so none of them reaches the next run's mocks.
        // waitForRPCs is internal (not in the typings), hence the cast.
        const settings = (await import("@pulumi/pulumi/runtime/settings")) as unknown as {
            waitForRPCs(): Promise<void>;
        };
        await settings.waitForRPCs();
        if (programError) throw programError;
        for (const [k, v] of Object.entries(exported)) {
            if (!pulumi.Output.isInstance(v)) {
                outputs[k] = { secret: false, value: v };
                continue;
            }
            const out = v;
            outputs[k] = {
                secret: await pulumi.isSecret(out),
                value: await new Promise((resolve) => out.apply((x) => (resolve(x), x))),
            };
        }
        await settings.waitForRPCs();
    });
    return {
        resources,
        events,
        invokes,
        outputs,
        get(type, suffix) {
            const found = resources.find((r) => r.type === type && r.name.endsWith(suffix));
            if (!found) throw new Error(`no ${type} named *${suffix}; have ${resources.map((r) => r.name).join(", ")}`);
            return found;
        },
    };
}
