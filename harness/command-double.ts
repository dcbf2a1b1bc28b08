// @pulumi/command's local.Command, performed for real: create on creation, update (or create
// again) when inputs change, delete on deletion, with PULUMI_COMMAND_STDOUT/STDERR from the last run.
import * as pulumi from "@pulumi/pulumi";
import { run } from "./docker-api";
import { Props } from "./docker-double";
import { unwrapSecrets } from "./secrets";

/** Runs a script as local.Command and local.run do: interpreter, environment, stdin, dir. */
export function runLocal(p: Props, script: string): Promise<{ stdout: string; stderr: string }> {
    return runScript(p, script);
}

/**
 * The `command:local:run` invoke, which runs its command on every deployment, in the preview and in
 * the update alike (the only invoke the program makes); a failure is recorded in `errors` and rethrown.
 */
export async function invokeLocalRun(
    args: pulumi.runtime.MockCallArgs,
    errors: string[],
): Promise<Record<string, unknown>> {
    if (args.token !== "command:local:run") throw new Error(`the live harness does not implement invoke ${args.token}`);
    const inputs = unwrapSecrets(args.inputs) as Props;
    try {
        return { ...inputs, ...(await runLocal(inputs, inputs.command as string)) };
    } catch (err) {
        const message = `invoke ${args.token}: ${(err as Error).message}`;
        errors.push(message);
        throw new Error(message, { cause: err });
    }
}

async function runScript(p: Props, script: string, previous?: Props): Promise<{ stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...(p.environment ?? {}) };
    if (previous && (p.addPreviousOutputInEnv ?? true)) {
        env.PULUMI_COMMAND_STDOUT = previous.stdout ?? "";
        env.PULUMI_COMMAND_STDERR = previous.stderr ?? "";
    }
    const interpreter: string[] = p.interpreter ?? ["/bin/sh", "-c"];
    const res = await run([...interpreter, script], { stdin: p.stdin, env, cwd: p.dir });
    if (res.code !== 0) {
        throw new Error(
            `exit status ${res.code}: running ${JSON.stringify(script.split("\n")[0])}:\n${res.stderr.trimEnd()}`,
        );
    }
    // The provider trims the trailing newline of both streams.
    return { stdout: res.stdout.replace(/\r?\n$/, ""), stderr: res.stderr.replace(/\r?\n$/, "") };
}

export async function createCommand(p: Props): Promise<{ id: string; state: Props }> {
    const out = p.create === undefined ? { stdout: "", stderr: "" } : await runScript(p, p.create);
    return { id: `cmd-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`, state: { ...p, ...out } };
}

export async function updateCommand(id: string, p: Props, previous: Props): Promise<{ id: string; state: Props }> {
    const script = p.update ?? p.create;
    const out = script === undefined ? { stdout: "", stderr: "" } : await runScript(p, script, previous);
    return { id, state: { ...p, ...out } };
}

export async function deleteCommand(previous: Props): Promise<void> {
    if (previous.delete !== undefined) await runScript(previous, previous.delete, previous);
}

/**
 * A Command is replaced (delete, then create) when its triggers change, whether or not it has an
 * update script: @pulumi/command 1.2.1's SDK adds `replaceOnChanges: ["triggers[*]"]` to every
 * local.Command (node_modules/@pulumi/command/local/command.js), so the engine plans a replacement
 * although the property's doc says an `update` script would run. Other input changes run `update`,
 * or `create` again when there is none.
 */
export function commandNeedsReplace(oldInputs: Props, newInputs: Props): boolean {
    return JSON.stringify(oldInputs.triggers ?? null) !== JSON.stringify(newInputs.triggers ?? null);
}
