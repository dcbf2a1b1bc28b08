// The live harness's state file: what exists for a stack, so that the next run can diff.
import * as fs from "fs";
import * as path from "path";

/** One resource the harness created. */
export interface ResourceRecord {
    /** `<type>::<name>`. */
    key: string;
    type: string;
    name: string;
    id: string;
    /** Inputs in effect (plain values; ignoreChanges applied). */
    inputs: unknown;
    /** Top-level inputs that held secrets; their outputs stay secret. */
    secretInputs: string[];
    /** Provider outputs (plain values). */
    outputs: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- provider state is untyped JSON
    /** Creation order; the deletion order of a state written before `dependsOn` was recorded. */
    seq: number;
    /**
     * Keys of the resources it depends on, from its latest registration (the engine's state keeps the
     * latest step's dependencies): a delete waits until everything that depends on it is gone.
     */
    dependsOn?: string[];
    secretOutputs: string[];
    /**
     * A docker resource created through an explicit `docker.Provider`: that provider's key and the
     * engine address it reached (its `host`), so refresh and delete use the same engine. Absent: the
     * default engine.
     */
    provider?: string;
    host?: string;
    /** The resource option retainOnDelete: a delete forgets it and leaves the object. */
    retainOnDelete?: boolean;
    /**
     * Why its create failed after it existed (the engine's `initErrors`): the deployment failed, the
     * object stays. The next refresh clears them when it can read the object, as the engine's
     * RefreshStep keeps only the init errors the provider's Read returns.
     */
    initErrors?: string[];
}

/** A stack output and whether it is secret. */
export interface StackOutput {
    value: unknown;
    secret: boolean;
}

export interface StackState {
    version: 1;
    stack: string;
    /** `key=value` config set with --config, kept like `pulumi config set` keeps it. */
    config: string[];
    resources: ResourceRecord[];
    outputs: Record<string, StackOutput>;
}

export const STATE_DIR = ".live-state";

export function statePath(root: string, stack: string): string {
    return path.join(root, STATE_DIR, `${stack}.json`);
}

export function loadState(file: string, stack: string): StackState {
    if (!fs.existsSync(file)) return { version: 1, stack, config: [], resources: [], outputs: {} };
    return JSON.parse(fs.readFileSync(file, "utf8")) as StackState;
}

/** Written after every action, so an interrupted run still knows what it made. Holds secrets: 0600. */
export function saveState(file: string, state: StackState): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
    fs.renameSync(tmp, file);
}
