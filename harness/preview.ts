// The preview pass the real `pulumi up` runs before it changes anything: the program runs to
// completion against the (refreshed) state, every resource is planned (create, update, replace or
// same) but nothing is performed, and only invokes run, as the engine runs them during a preview
// (the primary guard is one). A refusal here (the guard, a failed invoke, the program throwing)
// fails `up` with Docker untouched.
//
// Follows pulumi/pulumi pkg/resource/deploy: a preview is a deployment with DryRun set, whose steps
// call the providers with `preview: true` (step.go CreateStep/UpdateStep `Preview:
// s.deployment.opts.DryRun`); the bridge's Create and Update then return the planned state without
// calling Terraform's Apply (pulumi-terraform-bridge pkg/tfbridge/provider.go: `if
// !req.GetPreview() { … p.tf.Apply … } else { diff.ProposedState(…) }`), with the values only the
// apply would know left unknown, and the Node SDK resolves an output missing from a preview
// response as unknown (@pulumi/pulumi runtime/rpc.js resolveProperties), so `apply` callbacks
// that need it do not run.
import * as pulumi from "@pulumi/pulumi";
import { invokeLocalRun } from "./command-double";
import { defaultEngine } from "./docker-api";
import { Props } from "./docker-double";
import {
    DOCKER_PROVIDER,
    dockerProviderKey,
    engineChangeRefusal,
    providerEngine,
    recordedEngine,
} from "./docker-hosts";
import {
    CapturedOptions,
    canonical,
    effectiveInputs,
    InFlight,
    needsReplace,
    outputsFor,
    planReplaces,
    secretInputKeys,
} from "./engine";
import { Json } from "./secrets";
import { StackState } from "./state";

/** What the preview plans for a resource. */
export type PlannedStep = "create" | "update" | "replace" | "same";

/** Whether a value holds an unknown (a preview's not-yet-computed output) anywhere. */
export function hasUnknown(v: Json): boolean {
    if (pulumi.isUnknown(v)) return true;
    if (Array.isArray(v)) return v.some(hasUnknown);
    if (v !== null && typeof v === "object") return Object.values(v).some(hasUnknown);
    return false;
}

/** The top-level properties whose values are wholly known (the others stay unknown in a preview). */
export function knownProperties(inputs: Record<string, Json>): Record<string, Json> {
    return Object.fromEntries(Object.entries(inputs).filter(([, v]) => !hasUnknown(v)));
}

/**
 * Plans one registration against its previous record: what `pulumi preview` would show for it.
 * `previousOutputs` lets the provider's own plan replace it whatever its inputs (a tls certificate
 * due for renewal, the provider's ModifyPlan).
 */
export function planStep(
    type: string,
    previousInputs: Props | undefined,
    inputs: Props,
    unknownInputs: boolean,
    previousOutputs?: Props,
): PlannedStep {
    if (previousInputs === undefined) return "create";
    if (previousOutputs && planReplaces(type, previousOutputs, inputs)) return "replace";
    if (!unknownInputs && canonical(previousInputs) === canonical(inputs)) return "same";
    return needsReplace(type, previousInputs, inputs) ? "replace" : "update";
}

/** Answers the SDK's registrations in preview (dry-run) mode: plans, performs nothing but invokes. */
export class PreviewEngine implements pulumi.runtime.Mocks {
    readonly options = new Map<string, CapturedOptions>();
    readonly errors: string[] = [];
    readonly planned: Record<PlannedStep, number> = { create: 0, update: 0, replace: 0, same: 0 };
    /** The docker providers this run declares, with their planned inputs. */
    private readonly providers = new Map<string, Props>();
    private readonly inFlight = new InFlight();

    constructor(private readonly state: StackState) {}

    get busy(): boolean {
        return this.inFlight.busy;
    }

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, unknown> } {
        if (!args.custom) return { id: undefined, state: {} };
        const key = `${args.type}::${args.name}`;
        const previous = this.state.resources.find((r) => r.key === key);
        const opts = this.options.get(key) ?? {};
        const unknownInputs = hasUnknown(args.inputs);
        const known = knownProperties(args.inputs ?? {});
        const inputs = effectiveInputs({ ...args, inputs: known }, previous, opts);
        this.checkPlacement(args, key, inputs, previous);
        const step = planStep(
            args.type,
            previous?.inputs as Props | undefined,
            inputs,
            unknownInputs,
            previous?.outputs,
        );
        this.planned[step]++;
        const secret = [...secretInputKeys(args.inputs), ...(opts.additionalSecretOutputs ?? [])];
        if (previous && step === "same") return { id: previous.id, state: outputsFor(previous.outputs, secret) };
        if (previous && step === "update") {
            // The planned state: the prior outputs with the declared inputs over them; a command's
            // stdout and stderr are only known once it has run.
            const outputs: Props = { ...previous.outputs, ...inputs };
            if (args.type === "command:local:Command") {
                delete outputs.stdout;
                delete outputs.stderr;
            }
            return { id: previous.id, state: outputsFor(outputs, secret) };
        }
        // Create or replace: the id and every computed output are unknown until the apply.
        return { id: undefined, state: outputsFor(inputs, secret) };
    }

    /**
     * A docker provider's host must be one the harness implements, and a recorded docker resource
     * must stay on its engine (docker-hosts.ts engineChangeRefusal): refused here, before anything
     * changes, as an error of the preview.
     */
    private checkPlacement(
        args: pulumi.runtime.MockResourceArgs,
        key: string,
        inputs: Props,
        previous: StackState["resources"][number] | undefined,
    ): void {
        try {
            if (args.type === DOCKER_PROVIDER) {
                providerEngine(inputs);
                this.providers.set(key, inputs);
                return;
            }
            if (!args.type.startsWith("docker:")) return;
            const provider = dockerProviderKey(args.provider);
            const planned = provider === undefined ? undefined : this.providers.get(provider);
            const engine = planned ? providerEngine(planned) : defaultEngine();
            const refusal = previous && engineChangeRefusal(args.name, recordedEngine(previous), engine);
            if (refusal) throw new Error(refusal);
        } catch (err) {
            this.errors.push(`${key}: ${(err as Error).message}`);
            throw err;
        }
    }

    /** Invokes run during a preview as during an update: the primary guard refuses here. */
    async call(args: pulumi.runtime.MockCallArgs): Promise<Record<string, unknown>> {
        return this.inFlight.around(() => invokeLocalRun(args, this.errors));
    }

    /** `pulumi up`'s preview summary line. */
    summary(): string {
        const p = this.planned;
        return `preview: ${p.create} to create, ${p.update} to update, ${p.replace} to replace, ${p.same} unchanged`;
    }
}
