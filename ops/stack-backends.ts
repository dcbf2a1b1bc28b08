// Where a stack's config and outputs live, and how it is deployed: a stack deployed with the Pulumi
// CLI (scripts/pulumi.sh: pulumi config, pulumi stack output, pulumi up) or one made by the live
// harness (its state file .live-state/STACK.json, `npm run live -- up`). The day-2 commands take
// --live to say which; every branch between the two is here.
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { harnessArgv } from "../harness";
import { execProgram } from "./cluster-discovery";
import { ConfigMap, loadStackConfig } from "./stack-config";

/** Where a stack lives: deployed with the Pulumi CLI, or by the live harness (tests, offline). */
export interface StackRef {
    stack: string;
    /** The live harness's stack (.live-state/STACK.json) rather than a Pulumi stack. */
    live: boolean;
}

export const PROJECT_ROOT = path.resolve(__dirname, "..");

function harnessStateFile(stack: string): string {
    return path.join(PROJECT_ROOT, ".live-state", `${stack}.json`);
}

interface HarnessState {
    config: string[];
    outputs: Record<string, { value: unknown; secret: boolean }>;
}

function readHarnessState(stack: string): HarnessState {
    const file = harnessStateFile(stack);
    if (!fs.existsSync(file))
        throw new Error(
            `no live harness stack ${stack} (${file} does not exist): name the stack with --stack NAME ` +
                `(ls .live-state lists them), or deploy this one: npm run live -- up --stack ${stack}`,
        );
    return JSON.parse(fs.readFileSync(file, "utf8")) as HarnessState;
}

function pulumiCli(stack: string, args: string[]): string {
    const res = spawnSync("bash", [path.join(PROJECT_ROOT, "scripts", "pulumi.sh"), stack, ...args], {
        encoding: "utf8",
    });
    if (res.status !== 0) throw new Error(`pulumi ${args.join(" ")} failed: ${res.stderr.trim()}`);
    return res.stdout;
}

/** The stack's raw config values (without the project namespace), as the program would see them. */
export function readRawConfig(ref: StackRef): Record<string, string> {
    let full: ConfigMap;
    if (ref.live) {
        full = loadStackConfig(PROJECT_ROOT, ref.stack, readHarnessState(ref.stack).config).config;
    } else {
        const json = JSON.parse(pulumiCli(ref.stack, ["config", "--json", "--show-secrets"])) as Record<
            string,
            { value?: string }
        >;
        full = Object.fromEntries(Object.entries(json).map(([k, v]) => [k, String(v.value ?? "")]));
    }
    const prefix = "pg-replication:";
    return Object.fromEntries(
        Object.entries(full)
            .filter(([k]) => k.startsWith(prefix))
            .map(([k, v]) => [k.slice(prefix.length), v]),
    );
}

/** Records a config value, as `pulumi config set` does (for the harness: in its state file). */
export function setConfigValue(ref: StackRef, key: string, value: string): void {
    if (!ref.live) {
        pulumiCli(ref.stack, ["config", "set", key, value]);
        return;
    }
    const file = harnessStateFile(ref.stack);
    const state = JSON.parse(fs.readFileSync(file, "utf8")) as HarnessState & Record<string, unknown>;
    state.config = [...state.config.filter((p) => p.split("=")[0] !== key), `${key}=${value}`];
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
    fs.renameSync(tmp, file);
}

/** The stack's outputs with secrets shown. */
export function readOutputs(ref: StackRef): Record<string, unknown> {
    if (ref.live) {
        return Object.fromEntries(Object.entries(readHarnessState(ref.stack).outputs).map(([k, o]) => [k, o.value]));
    }
    return JSON.parse(pulumiCli(ref.stack, ["stack", "output", "--json", "--show-secrets"])) as Record<string, unknown>;
}

/**
 * Deploys the stack as it is configured: `pulumi up --yes --skip-preview` (refresh first, as
 * Pulumi.yaml asks), or the live harness's `up`. Fails with the deployment's output.
 */
export async function deployStack(ref: StackRef, log: (line: string) => void): Promise<void> {
    const argv = ref.live
        ? harnessArgv(["up", "--stack", ref.stack])
        : ["bash", path.join(PROJECT_ROOT, "scripts", "pulumi.sh"), ref.stack, "up", "--yes", "--skip-preview"];
    const res = await execProgram(argv, 900_000, { cwd: PROJECT_ROOT });
    const summary = res.stderr.split("\n").find((l) => l.startsWith("Resources:"));
    if (summary) log(`    ${summary}`);
    if (res.code !== 0)
        throw new Error(
            `deploying stack ${ref.stack} failed (exit ${res.code}):\n${res.stderr.trim()}\n${res.stdout.trim()}`,
        );
}

/** The command that deploys the stack again: the live harness's `up`, `npm run up` (dev) or scripts/pulumi.sh. */
export function upCommand(ref: StackRef): string {
    if (ref.live) return `npm run live -- up --stack ${ref.stack}`;
    return ref.stack === "dev" ? "npm run up" : `bash scripts/pulumi.sh ${ref.stack} up`;
}
