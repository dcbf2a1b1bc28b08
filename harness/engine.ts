// The live harness's engine: answers the Pulumi SDK's resource registrations (mock mode) by
// diffing against the saved state and performing creates, updates and replacements for real,
// then deletes what the program no longer declares, in reverse order of creation.
import * as pulumi from "@pulumi/pulumi";
import { commandNeedsReplace, createCommand, deleteCommand, invokeLocalRun, updateCommand } from "./command-double";
import {
    containerNeedsReplace,
    createContainer,
    createNetwork,
    createRemoteImage,
    createVolume,
    deleteContainer,
    deleteNetwork,
    deleteRemoteImage,
    deleteVolume,
    normalHealthcheck,
    PartialCreateError,
    Props,
    refreshVerdict,
    updateContainer,
} from "./docker-double";
import { defaultEngine, DockerEngine } from "./docker-api";
import {
    DOCKER_PROVIDER,
    dockerProviderHandler,
    dockerProviderKey,
    engineChangeRefusal,
    Placement,
    providerEngine,
    recordedEngine,
} from "./docker-hosts";
import { containsSecret, Json, secretWrap, unwrapSecrets } from "./secrets";
import { ResourceRecord, StackState, saveState } from "./state";
import {
    createCertRequest,
    createLocallySignedCert,
    createPrivateKey,
    createSelfSignedCert,
    isTlsType,
    refreshTls,
    TLS_CERT_REQUEST,
    TLS_LOCALLY_SIGNED_CERT,
    TLS_PRIVATE_KEY,
    TLS_SELF_SIGNED_CERT,
    tlsNeedsReplace,
    tlsPlanReplaces,
    updateTls,
    withTlsDefaults,
} from "./tls-double";

/** Stable JSON for comparing inputs. */
export function canonical(v: Json): string {
    if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
    if (v !== null && typeof v === "object") {
        return `{${Object.keys(v)
            .filter((k) => v[k] !== undefined)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
            .join(",")}}`;
    }
    return JSON.stringify(v);
}

/** Resource options the harness honours, captured by a stack transformation. */
export interface CapturedOptions {
    deleteBeforeReplace?: boolean;
    additionalSecretOutputs?: string[];
    ignoreChanges?: string[];
    retainOnDelete?: boolean;
}

/** Splits a property path such as `uploads[2].content` into keys and indices. */
export function parsePath(path: string): Array<string | number> {
    const parts: Array<string | number> = [];
    for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) parts.push(m[2] !== undefined ? Number(m[2]) : m[1]);
    return parts;
}

/** Like Pulumi's ignoreChanges: the new inputs keep the old value at each ignored path. */
export function applyIgnoreChanges(oldInputs: Props, newInputs: Props, paths: string[]): Props {
    const result = JSON.parse(JSON.stringify(newInputs)) as Props;
    for (const path of paths) {
        const keys = parsePath(path);
        let from: Json = oldInputs;
        let to: Json = result;
        for (let i = 0; i < keys.length - 1 && from !== undefined && to !== undefined; i++) {
            from = from[keys[i]];
            to = to[keys[i]];
        }
        const last = keys[keys.length - 1];
        if (from !== undefined && to !== undefined && typeof to === "object") to[last] = from[last];
    }
    return result;
}

export type Action = "created" | "replaced" | "updated" | "deleted" | "unchanged" | "failed";

/** A provider double; docker resources are performed on `engine` (the others ignore it). */
export interface Handler {
    create(inputs: Props, engine: DockerEngine): Promise<{ id: string; state: Props }>;
    update?(id: string, inputs: Props, previous: Props, engine: DockerEngine): Promise<{ id: string; state: Props }>;
    remove(id: string, previous: Props, engine: DockerEngine): Promise<void>;
    needsReplace(oldInputs: Props, newInputs: Props): boolean;
    /** The provider's own plan asks for a replacement although no input changed (a tls certificate due for renewal). */
    planReplaces?(previousOutputs: Props, inputs: Props): boolean;
    /** Refresh of a resource whose provider reads nothing but the state (tls): new outputs and why, or undefined. */
    refresh?(outputs: Props): { outputs: Props; note: string } | undefined;
}

const always = () => true;

/** A tls resource: created in process, deleted by forgetting it (every tls Delete is a no-op). */
function tlsHandler(type: string, create: Handler["create"]): Handler {
    return {
        create,
        update: (id, inputs, previous) => updateTls(type, id, inputs, previous),
        remove: () => Promise.resolve(),
        needsReplace: (oldInputs, newInputs) => tlsNeedsReplace(type, oldInputs, newInputs),
        planReplaces: (previousOutputs, inputs) => tlsPlanReplaces(type, previousOutputs, inputs),
        refresh: (outputs) => refreshTls(type, outputs),
    };
}

const HANDLERS: Record<string, Handler> = {
    [DOCKER_PROVIDER]: dockerProviderHandler,
    "docker:index/network:Network": {
        create: createNetwork,
        remove: (id, _, engine) => deleteNetwork(id, engine),
        needsReplace: always,
    },
    "docker:index/volume:Volume": {
        create: createVolume,
        remove: (id, _, engine) => deleteVolume(id, engine),
        needsReplace: always,
    },
    "docker:index/container:Container": {
        create: createContainer,
        update: updateContainer,
        remove: deleteContainer,
        needsReplace: containerNeedsReplace,
    },
    "docker:index/remoteImage:RemoteImage": {
        create: createRemoteImage,
        remove: (_, p, engine) => deleteRemoteImage(p, engine),
        needsReplace: always,
    },
    "command:local:Command": {
        create: createCommand,
        update: updateCommand,
        remove: (_, p) => deleteCommand(p),
        needsReplace: commandNeedsReplace,
    },
    [TLS_PRIVATE_KEY]: tlsHandler(TLS_PRIVATE_KEY, createPrivateKey),
    [TLS_SELF_SIGNED_CERT]: tlsHandler(TLS_SELF_SIGNED_CERT, createSelfSignedCert),
    [TLS_CERT_REQUEST]: tlsHandler(TLS_CERT_REQUEST, createCertRequest),
    [TLS_LOCALLY_SIGNED_CERT]: tlsHandler(TLS_LOCALLY_SIGNED_CERT, createLocallySignedCert),
};

/**
 * What a failed create that left its object behind means, and how to recover: the next `up`
 * refreshes it and goes on with it as it is (starting it if it is stopped, without waiting for it
 * to be healthy); to have it created afresh, remove it first.
 */
export function partialCreateHint(type: string, name: string, docker: string | undefined): string {
    const object = docker ?? name;
    return (
        `${name} was created but did not come up: it stays in the stack's state with an init error. The next up keeps it as it is ` +
        `(starts it if it is stopped) and goes on; to have it created afresh fix the cause, then remove it (docker rm -f ${object}) ` +
        `and run up again (with the Pulumi CLI: pulumi up --replace <urn of ${name}>, see pulumi stack --show-urns).` +
        (type === "docker:index/container:Container" ? ` Why it failed: docker logs ${object}` : "")
    );
}

/** Whether a declared change of a resource of `type` replaces it (else it updates in place). */
export function needsReplace(type: string, oldInputs: Props, newInputs: Props): boolean {
    const handler = HANDLERS[type];
    return !handler?.update || handler.needsReplace(oldInputs, newInputs);
}

/** Whether the provider's plan replaces a resource whatever its inputs (a tls certificate due for renewal). */
export function planReplaces(type: string, previousOutputs: Props, inputs: Props): boolean {
    return HANDLERS[type]?.planReplaces?.(previousOutputs, inputs) ?? false;
}

/**
 * The inputs a registration declares, as the engine compares them with the state: secrets
 * unwrapped, the provider's schema defaults filled in (so that the state read back from Docker
 * compares equal, and an unset tls input equals its default, as the provider plans it), and
 * ignoreChanges applied against the previous inputs.
 */
export function effectiveInputs(
    args: pulumi.runtime.MockResourceArgs,
    previous: ResourceRecord | undefined,
    opts: CapturedOptions,
): Props {
    const unwrapped = unwrapSecrets(args.inputs) as Props;
    const declared = isTlsType(args.type) ? withTlsDefaults(args.type, unwrapped) : unwrapped;
    if (args.type === "docker:index/container:Container" && declared.healthcheck)
        declared.healthcheck = normalHealthcheck(declared.healthcheck);
    return previous && opts.ignoreChanges
        ? applyIgnoreChanges(previous.inputs as Props, declared, opts.ignoreChanges)
        : declared;
}

/** Top-level inputs that hold a secret: their outputs stay secret. */
export function secretInputKeys(inputs: Record<string, unknown> | undefined): string[] {
    return Object.keys(inputs ?? {}).filter((k) => containsSecret(inputs?.[k]));
}

/** Output state as the SDK expects it: secret inputs and additionalSecretOutputs stay secret. */
export function outputsFor(outputs: Props, secretKeys: string[]): Record<string, unknown> {
    const state: Record<string, unknown> = { ...outputs };
    for (const k of secretKeys) if (k in state) state[k] = secretWrap(state[k]);
    return state;
}

/** How often a step still running says so; PGR_LIVE_HEARTBEAT_MS overrides it (tests). */
const HEARTBEAT_MS = Number(process.env.PGR_LIVE_HEARTBEAT_MS ?? "") || 15_000;

/** The name Docker shows for a docker resource (container, volume, network, image), from its inputs. */
export function dockerObjectName(type: string, inputs: unknown): string | undefined {
    if (!type.startsWith("docker:")) return undefined;
    const name = (unwrapSecrets(inputs) as Props | undefined)?.name;
    return typeof name === "string" && name !== "" ? name : undefined;
}

/**
 * One resource's line: action, type, logical name (the third field, which tests parse), then the
 * Docker object users see in `docker ps` / `docker volume ls` when it differs, and the time taken.
 */
export function progressLine(
    action: Action,
    type: string,
    name: string,
    docker: string | undefined,
    secs: number,
): string {
    const shown = docker && docker !== name ? ` -> ${docker}` : "";
    return `  ${action.padEnd(9)} ${type.padEnd(38)} ${name}${shown}${action === "unchanged" ? "" : ` (${secs.toFixed(1)}s)`}`;
}

/** A tls certificate due for renewal is replaced whatever its inputs (the provider's ModifyPlan). */
function renewalDue(handler: Handler, previous: ResourceRecord | undefined, inputs: Props): boolean {
    return previous !== undefined && (handler.planReplaces?.(previous.outputs, inputs) ?? false);
}

/**
 * The new object of a create-before-delete replacement. Not modelled: the engine would keep the old
 * one as pending delete beside a half-made new one; here the half-made one is removed (every
 * container of the program is replaced delete-first, so the program never takes this path).
 */
export async function createBeforeDelete(
    handler: Handler,
    inputs: Props,
    engine: DockerEngine,
): Promise<{ id: string; state: Props }> {
    try {
        return await handler.create(inputs, engine);
    } catch (err) {
        if (err instanceof PartialCreateError) await handler.remove(err.id, err.state, engine).catch(() => undefined);
        throw err;
    }
}

/** Registrations and invokes still being performed: an engine is busy while any is (harness/run-program.ts). */
export class InFlight {
    private count = 0;

    get busy(): boolean {
        return this.count > 0;
    }

    /** Counts `work` as in flight until it settles. */
    async around<T>(work: () => Promise<T>): Promise<T> {
        this.count++;
        try {
            return await work();
        } finally {
            this.count--;
        }
    }
}

/** Runs one `up` or `down` against a stack's state, printing a line per resource. */
export class LiveEngine implements pulumi.runtime.Mocks {
    readonly options = new Map<string, CapturedOptions>();
    readonly dependencies = new Map<string, string[]>();
    readonly errors: string[] = [];
    readonly counts: Record<Action, number> = {
        created: 0,
        replaced: 0,
        updated: 0,
        deleted: 0,
        unchanged: 0,
        failed: 0,
    };
    private readonly seen = new Set<string>();
    private readonly inFlight = new InFlight();
    private nextSeq: number;

    constructor(
        private readonly state: StackState,
        private readonly statePath: string,
        private readonly log: (line: string) => void,
    ) {
        this.nextSeq = Math.max(0, ...state.resources.map((r) => r.seq)) + 1;
    }

    /** Resource registrations still being performed. */
    get busy(): boolean {
        return this.inFlight.busy;
    }

    async newResource(
        args: pulumi.runtime.MockResourceArgs,
    ): Promise<{ id: string | undefined; state: Record<string, unknown> }> {
        const handler = HANDLERS[args.type];
        if (!args.custom) return { id: undefined, state: {} };
        if (!handler) throw new Error(`the live harness does not implement resource type ${args.type}`);
        const key = `${args.type}::${args.name}`;
        this.seen.add(key);
        return this.inFlight.around(async () => {
            const started = Date.now();
            const docker = dockerObjectName(args.type, args.inputs);
            // A long step (a replica cloning a large primary, a ready check waiting for it) says it is still going.
            const heartbeat = setInterval(
                () =>
                    this.log(
                        `  ...       ${args.type.padEnd(38)} ${args.name}${docker ? ` -> ${docker}` : ""} still in progress (${Math.round((Date.now() - started) / 1000)}s)`,
                    ),
                HEARTBEAT_MS,
            );
            heartbeat.unref();
            try {
                const result = await this.apply(key, args, handler);
                this.print(result.action, key, started, docker);
                return result;
            } catch (err) {
                const message = `${key}${docker ? ` (${docker})` : ""}: ${(err as Error).message}`;
                this.errors.push(message);
                this.print("failed", key, started, docker);
                throw new Error(message, { cause: err });
            } finally {
                clearInterval(heartbeat);
            }
        });
    }

    private async apply(
        key: string,
        args: pulumi.runtime.MockResourceArgs,
        handler: Handler,
    ): Promise<{ id: string; state: Record<string, unknown>; action: Action }> {
        const previous = this.state.resources.find((r) => r.key === key);
        const opts = this.options.get(key) ?? {};
        const inputs = effectiveInputs(args, previous, opts);
        const secretInputs = secretInputKeys(args.inputs);
        const { provider, engine } = this.placement(args, previous);
        const finish = (action: Action, id: string, outputs: Props, seq: number, initErrors?: string[]) => {
            const record: ResourceRecord = {
                key,
                type: args.type,
                name: args.name,
                id,
                inputs,
                secretInputs,
                outputs,
                seq,
                // The engine's graph also links a resource to its provider (graph/dependency_graph.go
                // DependenciesOf), so the provider goes after everything it serves.
                dependsOn: [...(this.dependencies.get(key) ?? []), ...(provider ? [provider] : [])],
                secretOutputs: opts.additionalSecretOutputs ?? [],
                ...(provider ? { provider, host: engine.host } : {}),
                ...(opts.retainOnDelete ? { retainOnDelete: true } : {}),
                ...(initErrors ? { initErrors } : {}),
            };
            this.state.resources = this.state.resources.filter((r) => r.key !== key).concat(record);
            saveState(this.statePath, this.state);
            return { id, state: outputsFor(outputs, [...secretInputs, ...record.secretOutputs]), action };
        };

        const renew = renewalDue(handler, previous, inputs);
        if (previous && !renew && canonical(previous.inputs) === canonical(inputs)) {
            return finish("unchanged", previous.id, previous.outputs, previous.seq);
        }
        if (previous && !renew && handler.update && !handler.needsReplace(previous.inputs as Props, inputs)) {
            const res = await handler.update(previous.id, inputs, previous.outputs, engine);
            return finish("updated", res.id, res.state, previous.seq);
        }
        // A create that fails after the object exists keeps it in state with an init error and fails.
        const create = async (action: Action) => {
            try {
                const res = await handler.create(inputs, engine);
                return finish(action, res.id, res.state, this.nextSeq++);
            } catch (err) {
                if (!(err instanceof PartialCreateError)) throw err;
                finish(action, err.id, err.state, this.nextSeq++, [err.message]);
                throw new Error(
                    `${err.message}\n${partialCreateHint(args.type, args.name, dockerObjectName(args.type, inputs))}`,
                    { cause: err },
                );
            }
        };
        if (previous) {
            // Replacement: delete first only when asked to (deleteBeforeReplace), as Pulumi does.
            // The old one is deleted by the same DeleteStep as in a destroy: retainOnDelete leaves it.
            const removeOld = () =>
                previous.retainOnDelete
                    ? Promise.resolve()
                    : handler.remove(previous.id, previous.outputs, this.engineOf(previous));
            if (opts.deleteBeforeReplace) {
                await removeOld();
                this.state.resources = this.state.resources.filter((r) => r.key !== key);
                saveState(this.statePath, this.state);
                return create("replaced");
            }
            const res = await createBeforeDelete(handler, inputs, engine);
            await removeOld();
            return finish("replaced", res.id, res.state, this.nextSeq++);
        }
        return create("created");
    }

    /**
     * The engine a registration is performed on: its explicit docker provider's (recorded in this
     * run before it, as the SDK registers a provider before the resources that name it), else the
     * default engine. A recorded docker resource that would move to another engine is refused.
     */
    private placement(args: pulumi.runtime.MockResourceArgs, previous: ResourceRecord | undefined): Placement {
        if (!args.type.startsWith("docker:")) return { engine: defaultEngine() };
        const provider = dockerProviderKey(args.provider);
        const engine = provider ? providerEngine(this.providerInputs(provider)) : defaultEngine();
        const refusal = previous && engineChangeRefusal(args.name, recordedEngine(previous), engine);
        if (refusal) throw new Error(refusal);
        return { provider, engine };
    }

    /** The recorded inputs of a docker provider this run declared (secrets unwrapped: its TLS material). */
    private providerInputs(key: string): Props {
        const record = this.state.resources.find((r) => r.key === key);
        if (!record) throw new Error(`docker provider ${key} is not known to the live harness`);
        return unwrapSecrets(record.inputs) as Props;
    }

    /**
     * The engine a recorded docker resource is refreshed and deleted on: reached through its provider's
     * recorded inputs (a tcp:// engine's client TLS), which stay in the state until after everything the
     * provider serves is deleted, as the engine's dependency graph orders it.
     */
    private engineOf(record: ResourceRecord): DockerEngine {
        const provider = record.provider && this.state.resources.find((r) => r.key === record.provider);
        return recordedEngine(record, provider ? (unwrapSecrets(provider.inputs) as Props) : undefined);
    }

    /** Invokes: `command:local:run` runs its command on every deployment, as the provider does. */
    async call(args: pulumi.runtime.MockCallArgs): Promise<Record<string, unknown>> {
        return this.inFlight.around(() => invokeLocalRun(args, this.errors));
    }

    /**
     * Refresh, as `refresh: always` in Pulumi.yaml asks: a container that is gone, or stopped while
     * mustRun (the provider's default), leaves the state (the provider removes a stopped one), so
     * this deployment creates it again. Volumes and networks that are gone leave the state too.
     */
    async refresh(): Promise<void> {
        for (const record of [...this.state.resources]) {
            const handler = HANDLERS[record.type];
            if (handler?.refresh) {
                this.refreshFromState(record, handler);
                continue;
            }
            const { verdict, healthcheck, image } = await refreshVerdict(
                record.type,
                record.id,
                record.outputs as Props,
                this.engineOf(record),
            ).catch((err: Error) => {
                // As the engine reports a failed Read: the resource, and here the provider whose
                // engine did not answer (named after its host by infra/engines.ts).
                const via = record.provider ? ` through provider ${record.provider.split("::").pop()}` : "";
                throw new Error(`refreshing ${record.type} ${record.name}${via}: ${err.message}`, { cause: err });
            });
            if (verdict !== "gone" && record.initErrors) {
                // pulumi/pulumi step.go RefreshStep.Apply: the refreshed state keeps only the init
                // errors the provider's Read returns, and the bridge's Read of a container it can
                // inspect returns none; so the deployment goes on with the container as it is.
                delete record.initErrors;
                saveState(this.statePath, this.state);
                this.log(`  refreshed ${record.type.padEnd(38)} ${record.name} (init error cleared: kept as it is)`);
            }
            if (verdict === "keep" && image && image.id !== record.id) {
                record.id = image.id;
                record.outputs = { ...(record.outputs as Props), imageId: image.imageId, repoDigest: image.repoDigest };
                saveState(this.statePath, this.state);
                this.log(`  refreshed ${record.type.padEnd(38)} ${record.name} (now ${image.imageId.slice(0, 19)})`);
            }
            if (verdict === "keep") {
                // Refresh records what Docker says, as the provider's Read does: a healthcheck
                // written as "300s" reads back as "5m0s", and the next deployment sees the change.
                const inputs = record.inputs as Props;
                if (healthcheck && inputs.healthcheck !== undefined) {
                    record.inputs = { ...inputs, healthcheck };
                    record.outputs = { ...(record.outputs as Props), healthcheck };
                    saveState(this.statePath, this.state);
                }
                continue;
            }
            if (verdict === "stopped") {
                // terraform-provider-docker v4.5.0 resourceDockerContainerRead: a stopped container
                // whose config says must_run stays in Docker and in state with must_run = false, so
                // the deployment plans an in-place update that starts it again (Update: ContainerStart).
                record.inputs = { ...(record.inputs as Props), mustRun: false };
                record.outputs = { ...(record.outputs as Props), mustRun: false };
                saveState(this.statePath, this.state);
                this.log(
                    `  refreshed ${record.type.padEnd(38)} ${record.name} (stopped: must_run false in state, to be started)`,
                );
                continue;
            }
            this.state.resources = this.state.resources.filter((r) => r.key !== record.key);
            saveState(this.statePath, this.state);
            this.log(`  refreshed ${record.type.padEnd(38)} ${record.name} (gone)`);
        }
    }

    /** Refresh of a resource whose Read reads only its state (tls): records what that Read returns. */
    private refreshFromState(record: ResourceRecord, handler: Handler): void {
        const changed = handler.refresh?.(record.outputs as Props);
        if (!changed) return;
        record.outputs = changed.outputs;
        saveState(this.statePath, this.state);
        this.log(`  refreshed ${record.type.padEnd(38)} ${record.name} (${changed.note})`);
    }

    /**
     * Deletes resources not declared in this run (all of them for `down`) as the engine schedules them:
     * in antichains ({@link deletionOrder}), each one's deletes at once, the next only when it is done.
     * A failure ends the deletes after its antichain (the engine goes on with what the failed one does
     * not depend on: not modelled).
     */
    async deleteUndeclared(all = false): Promise<void> {
        const doomed = this.state.resources.filter((r) => all || !this.seen.has(r.key));
        for (const antichain of deletionOrder(doomed)) {
            const deleted = await Promise.all(antichain.map((record) => this.deleteOne(record)));
            if (deleted.includes(false)) return;
        }
    }

    /** One delete step; false when it failed (recorded in `errors`). */
    private async deleteOne(record: ResourceRecord): Promise<boolean> {
        const started = Date.now();
        try {
            // retainOnDelete: forgotten, never deleted (pulumi/pulumi pkg/resource/deploy/step.go,
            // DeleteStep.Apply: "Deleting a 'drop on delete' is a no-op").
            if (!record.retainOnDelete)
                await HANDLERS[record.type].remove(record.id, unwrapSecrets(record.outputs), this.engineOf(record));
            this.state.resources = this.state.resources.filter((r) => r.key !== record.key);
            saveState(this.statePath, this.state);
            this.print("deleted", record.key, started, dockerObjectName(record.type, record.inputs));
            return true;
        } catch (err) {
            this.errors.push(`${record.key}: ${(err as Error).message}`);
            this.print("failed", record.key, started, dockerObjectName(record.type, record.inputs));
            return false;
        }
    }

    private print(action: Action, key: string, started: number, docker?: string): void {
        this.counts[action]++;
        const [type, name] = key.split("::");
        this.log(progressLine(action, type, name, docker, (Date.now() - started) / 1000));
    }
}

/**
 * The engine's schedule of deletes (pulumi/pulumi pkg/resource/deploy/step_generator.go ScheduleDeletes,
 * run by deployment_executor.go one antichain after another, each in parallel): repeatedly take every
 * condemned resource none of whose dependencies is still condemned, then reverse the list, so that a
 * resource goes only after everything that depends on it. A state written before dependencies were
 * recorded is deleted as it was then: one at a time, newest first.
 */
export function deletionOrder(doomed: ResourceRecord[]): ResourceRecord[][] {
    const newestFirst = [...doomed].sort((a, b) => b.seq - a.seq);
    if (doomed.some((r) => r.dependsOn === undefined)) return newestFirst.map((r) => [r]);
    const condemned = new Set(doomed.map((r) => r.key));
    const antichains: ResourceRecord[][] = [];
    while (condemned.size > 0) {
        const free = newestFirst.filter(
            (r) => condemned.has(r.key) && !(r.dependsOn ?? []).some((d) => d !== r.key && condemned.has(d)),
        );
        // A cycle cannot come from the SDK; if one did, what is left goes first, newest first, rather than never.
        if (free.length === 0)
            return [...newestFirst.filter((r) => condemned.has(r.key)).map((r) => [r]), ...antichains.reverse()];
        for (const r of free) condemned.delete(r.key);
        antichains.push(free);
    }
    return antichains.reverse();
}
