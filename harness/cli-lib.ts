// The live harness CLI's pure parts: arguments (the shared parser, ops/cli.ts), output and config formatting,
// and the config checks that `config set` and `up --config` make before anything is stored.
// cli.ts does the I/O; tests/unit/live-cli.test.ts tests these.
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { SECRET_CONFIG_KEYS, validateConfig } from "../model/config";
import { command, HelpRequest, stackOption, UsageError, Values } from "../ops/cli";
import { loadStackConfig } from "../ops/stack-config";
import type { StackOutput } from "./state";

export const PROJECT = "pg-replication";

/** The harness's command line, declared once (ops/cli.ts): its --help and its parser. */
export const LIVE = command({
    name: "live",
    synopsis: "<command> [--stack NAME] [options]",
    description: `Runs the program in infra/ with the real Pulumi SDK in mock mode and performs every Docker and command
resource for real against the local Docker engine (test support and the offline route; with internet,
deploy with npm run up). State: .live-state/NAME.json (holds secrets, mode 0600).

commands:
  up                      refresh, preview (changes nothing), then apply: as pulumi up with refresh: always
  down                    delete everything the stack made (containers, volumes: data!, network); the
                          recorded config stays, as pulumi destroy keeps Pulumi.NAME.yaml
  rm                      forget a stack that down emptied: its recorded config and secrets (pulumi stack rm)
  output [NAME]           the stack's outputs, or only NAME's value (like pulumi stack output)
  config                  every config key with its value and where it comes from
  config set KEY VALUE    record a value for later runs (checked against Pulumi.yaml and model/config.ts)
  config set --secret KEY record a value read from standard input: a password given on a command line
                          stays in the shell history, npm's banner and the process list
  config rm KEY           remove a recorded value (also one that is misspelt or invalid)`,
    options: {
        stack: stackOption("local", "the stack; Pulumi.NAME.yaml is read when it exists", "NAME"),
        config: {
            type: "string",
            short: "c",
            value: "KEY=VALUE",
            multiple: true,
            help: "up: set a value first, like config set (repeatable; checked before anything runs)",
        },
        json: { type: "boolean", help: "output, config: JSON on stdout; up: the outputs as JSON on stdout at the end" },
        "show-secrets": { type: "boolean", help: "output, config: show secret values instead of [secret]" },
        secret: {
            type: "boolean",
            help: "config set: read the value from standard input (one line), as pulumi config set --secret does",
        },
    },
    positionals: true,
    notes: "Config comes from Pulumi.yaml's defaults, then Pulumi.NAME.yaml, then the values recorded here.",
    examples: [
        "npm run live -- up --stack local",
        "npm run live -- up --stack nc1 --config subnet=172.29.75.0/24 --config hostPortBase=52432",
        "npm run live -- output primaryConnectionString --stack local --show-secrets",
        "npm run live -- config set syncMode sync --stack local",
        "npm run -s live -- config set --secret superuserPassword --stack local < password-file",
        "npm run live -- config rm replica --stack local",
        "npm run live -- down --stack local",
        "npm run live -- rm --stack local",
    ],
});

export type LiveArgs =
    | { verb: "up"; stack: string; config: string[]; json: boolean; showSecrets: boolean }
    | { verb: "down"; stack: string }
    | { verb: "rm"; stack: string }
    | { verb: "output"; stack: string; name?: string; json: boolean; showSecrets: boolean }
    | { verb: "config"; stack: string; json: boolean; showSecrets: boolean }
    | { verb: "config-set"; stack: string; key: string; value: string; fromStdin?: boolean }
    | { verb: "config-rm"; stack: string; key: string };

/** A command line after the verb: what each verb's parser checks. */
interface VerbLine {
    verb: string;
    rest: string[];
    values: Values<typeof LIVE.spec.options>;
}

/** Parses the harness's command line; throws {@link UsageError} naming the wrong argument, or {@link HelpRequest}. */
export function parseLiveArgs(argv: string[]): LiveArgs {
    const { values, positionals } = LIVE.parse(argv);
    const [verb, ...rest] = positionals;
    if (verb === undefined) throw new UsageError("a command is required: up, down, rm, output, config");
    if (verb === "help") throw new HelpRequest(LIVE.usage);
    const line: VerbLine = { verb, rest, values };
    const { stack, json } = values;
    const showSecrets = values["show-secrets"];
    switch (verb) {
        case "up":
            return parseUp(line);
        case "down":
        case "rm":
            refuseMoreArguments(verb, rest);
            refuseOptionsExcept(line, []);
            return { verb, stack };
        case "output":
            refuseMoreArguments(verb, rest.slice(1));
            refuseOptionsExcept(line, ["--json", "--show-secrets"]);
            return rest[0] === undefined
                ? { verb, stack, json, showSecrets }
                : { verb, stack, name: rest[0], json, showSecrets };
        case "config":
            return parseConfig(line);
        default:
            throw new UsageError(`unknown command ${JSON.stringify(verb)}: expected up, down, rm, output or config`);
    }
}

/** Refuses the options given that the command does not take (`allowed`), naming the first. */
function refuseOptionsExcept({ verb, rest, values }: VerbLine, allowed: string[]): void {
    const given = [
        ...(values.config.length > 0 ? ["--config"] : []),
        ...(values.json ? ["--json"] : []),
        ...(values["show-secrets"] ? ["--show-secrets"] : []),
        ...(values.secret ? ["--secret"] : []),
    ].filter((o) => !allowed.includes(o));
    if (given.length === 0) return;
    const hint =
        given[0] === "--config"
            ? ` (record a value with: npm run live -- config set KEY VALUE --stack ${values.stack})`
            : "";
    throw new UsageError(
        `${given[0]} does not apply to ${verb === "config" ? ["config", ...rest.slice(0, 1)].join(" ") : verb}${hint}`,
    );
}

/** Refuses arguments after the ones the command takes. */
function refuseMoreArguments(verb: string, args: string[]): void {
    if (args.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])} after ${verb}`);
}

/** `up [--config KEY=VALUE]... [--json] [--show-secrets]`. */
function parseUp(line: VerbLine): LiveArgs {
    refuseMoreArguments(line.verb, line.rest);
    refuseOptionsExcept(line, ["--config", "--json", "--show-secrets"]);
    const { stack, config, json } = line.values;
    for (const pair of config) {
        const eq = pair.indexOf("=");
        if (eq <= 0) throw new UsageError(`--config expects KEY=VALUE, got ${JSON.stringify(pair)}`);
    }
    return { verb: "up", stack, config, json, showSecrets: line.values["show-secrets"] };
}

/** `config [list]`, `config set …`, `config rm KEY`. */
function parseConfig(line: VerbLine): LiveArgs {
    const { stack, json } = line.values;
    const [sub, ...args] = line.rest;
    if (sub === undefined || sub === "list" || sub === "ls") {
        refuseMoreArguments(line.verb, args);
        refuseOptionsExcept(line, ["--json", "--show-secrets"]);
        return { verb: "config", stack, json, showSecrets: line.values["show-secrets"] };
    }
    if (sub === "set") return parseConfigSet(line, args);
    if (sub === "rm" || sub === "remove" || sub === "unset") {
        refuseOptionsExcept(line, []);
        if (args.length !== 1)
            throw new UsageError(`config rm takes one KEY (got ${args.length}), e.g. config rm replicas`);
        return { verb: "config-rm", stack, key: bareKey(args[0]) };
    }
    throw new UsageError(
        `unknown config command ${JSON.stringify(sub)}: expected config, config set KEY VALUE or config rm KEY`,
    );
}

/** `config set KEY VALUE`, or `config set --secret KEY` with the value on standard input. */
function parseConfigSet(line: VerbLine, args: string[]): LiveArgs {
    const stack = line.values.stack;
    refuseOptionsExcept(line, ["--secret"]);
    if (line.values.secret) {
        if (args.length !== 1)
            throw new UsageError(
                `config set --secret takes one KEY and reads the value from standard input (got ${args.length} arguments), ` +
                    `e.g. npm run -s live -- config set --secret superuserPassword --stack ${stack} < password-file`,
            );
        return { verb: "config-set", stack, key: bareKey(args[0]), value: "", fromStdin: true };
    }
    if (args.length !== 2) {
        throw new UsageError(
            `config set takes KEY VALUE (got ${args.length} argument${args.length === 1 ? "" : "s"}), e.g. config set replicas 3`,
        );
    }
    return { verb: "config-set", stack, key: bareKey(args[0]), value: args[1] };
}

/** `pg-replication:replicas` → `replicas`. */
function bareKey(key: string): string {
    return key.startsWith(`${PROJECT}:`) ? key.slice(PROJECT.length + 1) : key;
}

/** Outputs as shown: secrets masked unless asked, and absent ones (metricsEndpoint with metrics off) left out. */
export function shownOutputs(outputs: Record<string, StackOutput>, showSecrets: boolean): Record<string, unknown> {
    return Object.fromEntries(
        Object.entries(outputs)
            .filter(([, o]) => o.value !== undefined && o.value !== null)
            .map(([k, o]) => [k, o.secret && !showSecrets ? "[secret]" : o.value]),
    );
}

/** `live output [NAME]`: what goes to stdout; throws when NAME is not an output of the stack. */
export function formatOutputs(
    stack: string,
    outputs: Record<string, StackOutput>,
    opts: { name?: string; json: boolean; showSecrets: boolean },
): string {
    const shown = shownOutputs(outputs, opts.showSecrets);
    if (opts.name !== undefined) {
        if (!(opts.name in shown)) {
            const names = Object.keys(shown);
            throw new Error(
                names.length === 0
                    ? `stack ${stack} has no outputs: deploy it first with npm run live -- up --stack ${stack}`
                    : `stack ${stack} has no output ${opts.name}${opts.name in outputs ? " (not set in this configuration)" : ""}; its outputs are ${names.join(", ")}`,
            );
        }
        const v = shown[opts.name];
        if (opts.json) return JSON.stringify(v, null, 2) + "\n";
        return (typeof v === "string" ? v : JSON.stringify(v)) + "\n";
    }
    if (opts.json) return JSON.stringify(shown, null, 2) + "\n";
    return Object.entries(shown)
        .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}\n`)
        .join("");
}

const SECRET_KEYS = new Set(SECRET_CONFIG_KEYS);

export interface ConfigEntry {
    key: string;
    value: string;
    /** `default` (Pulumi.yaml), `Pulumi.STACK.yaml`, or `set` (recorded by the harness). */
    source: string;
    secret: boolean;
}

interface ProjectFile {
    config?: Record<string, unknown>;
}

/** The keys Pulumi.yaml declares, with their types. */
export function declaredKeys(root: string): Record<string, string | undefined> {
    const file = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as ProjectFile;
    return Object.fromEntries(
        Object.entries(file.config ?? {}).map(([k, d]) => [
            k,
            d !== null && typeof d === "object" ? (d as { type?: string }).type : undefined,
        ]),
    );
}

const asText = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

/** Every key with its effective value and where it comes from, in the order `up` applies them. */
export function configEntries(root: string, stack: string, recorded: string[]): ConfigEntry[] {
    const entries = new Map<string, ConfigEntry>();
    // A later source replaces an earlier one's value; the key keeps its first place.
    for (const e of [...defaultEntries(root), ...stackFileEntries(root, stack), ...recordedEntries(recorded)])
        entries.set(e.key, e);
    return [...entries.values()];
}

/** Pulumi.yaml's defaults: a declaration's `default`, or a bare value. */
function defaultEntries(root: string): ConfigEntry[] {
    const project = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as ProjectFile;
    const entries: ConfigEntry[] = [];
    for (const [key, decl] of Object.entries(project.config ?? {})) {
        const value = decl !== null && typeof decl === "object" && "default" in decl ? decl.default : decl;
        if (value !== undefined)
            entries.push({ key, value: asText(value), source: "default", secret: SECRET_KEYS.has(key) });
    }
    return entries;
}

/** Pulumi.STACK.yaml's values, when the file exists; encrypted ones are secret and shown as such. */
function stackFileEntries(root: string, stack: string): ConfigEntry[] {
    const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(stackFile)) return [];
    const parsed = (parse(fs.readFileSync(stackFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    return Object.entries(parsed.config ?? {}).map(([qualified, value]) => {
        const key = bareKey(qualified);
        const secure = value !== null && typeof value === "object" && "secure" in value;
        return {
            key,
            value: secure ? "(encrypted: pass it with config set)" : asText(value),
            source: `Pulumi.${stack}.yaml`,
            secret: secure || SECRET_KEYS.has(key),
        };
    });
}

/** The values recorded by the harness (`key=value`). */
function recordedEntries(recorded: string[]): ConfigEntry[] {
    return recorded.map((pair) => {
        const eq = pair.indexOf("=");
        const key = bareKey(pair.slice(0, eq));
        return { key, value: pair.slice(eq + 1), source: "set", secret: SECRET_KEYS.has(key) };
    });
}

export function formatConfig(entries: ConfigEntry[], opts: { json: boolean; showSecrets: boolean }): string {
    const value = (e: ConfigEntry) => (e.secret && !opts.showSecrets ? "[secret]" : e.value);
    if (opts.json) {
        return (
            JSON.stringify(
                Object.fromEntries(
                    entries.map((e) => [e.key, { value: value(e), source: e.source, secret: e.secret }]),
                ),
                null,
                2,
            ) + "\n"
        );
    }
    const rows = [["KEY", "VALUE", "SOURCE"], ...entries.map((e) => [e.key, value(e), e.source])];
    const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i].length)));
    return rows.map((r) => `${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2]}`.trimEnd() + "\n").join("");
}

/** `key=value` pairs with `key` set to `value` (replacing an earlier value), as `up --config` and `config set` record them. */
export function withValue(recorded: string[], key: string, value: string): string[] {
    return [...recorded.filter((p) => bareKey(p.split("=")[0]) !== key), `${key}=${value}`];
}

/** Recorded pairs without `key`; `removed` says whether there was one. */
export function withoutKey(recorded: string[], key: string): { pairs: string[]; removed: boolean } {
    const pairs = recorded.filter((p) => bareKey(p.split("=")[0]) !== key);
    return { pairs, removed: pairs.length !== recorded.length };
}

/** The key an error message is about (`pg-replication:KEY …`), if it names one. */
export function keyOfError(message: string): string | undefined {
    return /pg-replication:([A-Za-z0-9_.]+)/.exec(message)?.[1];
}

/**
 * Checks a stack's config as `up` would see it with these recorded pairs: Pulumi.yaml's declared
 * types (as the Pulumi CLI checks them) and model/config.ts's validateConfig (unknown keys, ranges,
 * combinations). Throws with the program's message.
 */
export function checkConfig(root: string, stack: string, recorded: string[]): void {
    const { config } = loadStackConfig(root, stack, recorded);
    const prefix = `${PROJECT}:`;
    validateConfig(
        Object.fromEntries(
            Object.entries(config)
                .filter(([k]) => k.startsWith(prefix))
                .map(([k, v]) => [k.slice(prefix.length), v]),
        ),
    );
}

/** What to run to fix a bad recorded value, for an error about `key`. */
export function configFixHint(stack: string, key: string | undefined, recorded: string[]): string {
    if (key === undefined || !recorded.some((p) => bareKey(p.split("=")[0]) === key)) return "";
    return (
        `\n${key} is recorded for stack ${stack}: change it with npm run live -- config set ${key} VALUE --stack ${stack}` +
        `, or remove it with npm run live -- config rm ${key} --stack ${stack}`
    );
}

/**
 * The lines `up` ends with: whether the checks passed (the `checkReport` output) and how to connect,
 * as commands to copy.
 */
export function upSummary(stack: string, outputs: Record<string, StackOutput>): string[] {
    return [checkReportLine(stack, outputs), ...connectLines(stack, outputs)];
}

/** Whether the checks passed, and how to see their details. */
function checkReportLine(stack: string, outputs: Record<string, StackOutput>): string {
    const report = outputs.checkReport?.value as
        { ok?: boolean; checks?: Array<{ ok: boolean }>; durationMs?: number } | undefined;
    if (!report || typeof report.ok !== "boolean") return "checkReport: none (checks is off)";
    const n = report.checks?.length ?? 0;
    return `checkReport.ok: ${report.ok} (${n} check${n === 1 ? "" : "s"}${report.ok ? " passed" : ""}; details: npm run live -- output checkReport --stack ${stack} --json)`;
}

/** The primary and how to connect to it; none without a primary container. */
function connectLines(stack: string, outputs: Record<string, StackOutput>): string[] {
    const primary = outputs.primary?.value as
        { node?: string; container?: string; host?: string; port?: number; roleReadAt?: string } | undefined;
    if (primary?.container && primary.roleReadAt) {
        // The primary as the checks found it (under Patroni: whoever was elected): say when it was
        // read, and connect through what follows it.
        const via = outputs.rwConnectionString ? "rwConnectionString" : "primaryConnectionString";
        return [
            `primary: ${primary.node} (${primary.container}, ${primary.host}:${primary.port}) as the checks found it at ` +
                `${primary.roleReadAt}; a failover moves it, now: npm run status -- --stack ${stack} --live`,
            `connect: psql "$(npm run -s live -- output ${via} --stack ${stack} --show-secrets)"` +
                (via === "rwConnectionString" ? "   (the read-write endpoint follows every failover)" : ""),
        ];
    }
    if (primary?.container) {
        return [
            `primary: ${primary.node} (${primary.container}, ${primary.host}:${primary.port})`,
            `connect: docker exec -it ${primary.container} psql -U postgres`,
            `     or: psql "$(npm run -s live -- output primaryConnectionString --stack ${stack} --show-secrets)"`,
        ];
    }
    return [];
}

/**
 * Checks the config `up` would run with (`candidate`); the error names the key and, when the bad
 * value is one recorded earlier (`recorded`), says how to change or remove it; `refusing` is added last.
 */
export function checkOrExplain(
    root: string,
    stack: string,
    candidate: string[],
    recorded: string[],
    refusing?: string,
): void {
    try {
        checkConfig(root, stack, candidate);
    } catch (err) {
        const message = (err as Error).message;
        throw new Error(
            message + configFixHint(stack, keyOfError(message), recorded) + (refusing ? `\n${refusing}` : ""),
            { cause: err },
        );
    }
}

/** What a config verb prints and returns; `save` when `state.config` changed and must be written. */
export interface CommandResult {
    stdout: string;
    stderr: string;
    code: number;
    save: boolean;
}

/**
 * The value `config set --secret` read from standard input: its first line (a trailing newline, as
 * `echo` or a file leaves, is not part of it). Refuses an empty value.
 */
export function secretFromStdin(text: string, key: string): string {
    const value = text.split(/\r?\n/)[0];
    if (value === "") throw new UsageError(`config set --secret ${key}: standard input is empty; pipe the value in`);
    return value;
}

/**
 * A note for secret keys given on a command line (`up --config superuserPassword=…`, `config set
 * superuserPassword …`): the value is recorded as asked, and the way that keeps it off the command line said.
 */
export function secretOnCommandLineNote(stack: string, keys: string[]): string {
    const secret = keys.map(bareKey).filter((k) => SECRET_KEYS.has(k));
    if (secret.length === 0) return "";
    return (
        `note: ${secret.join(", ")} given on the command line: the value is in your shell history and was visible in ` +
        `the process list; next time: npm run -s live -- config set --secret ${secret[0]} --stack ${stack} < password-file\n`
    );
}

/** `config`, `config set KEY VALUE`, `config rm KEY` on a stack's state (changes `state.config` in place). */
export function configCommand(
    root: string,
    args: Extract<LiveArgs, { verb: "config" | "config-set" | "config-rm" }>,
    state: { config: string[] },
): CommandResult {
    const upHint = `apply it with npm run live -- up --stack ${args.stack}`;
    const problem = (candidate: string[], recorded: string[], refusing?: string): string | undefined => {
        try {
            checkOrExplain(root, args.stack, candidate, recorded, refusing);
            return undefined;
        } catch (err) {
            return (err as Error).message;
        }
    };
    switch (args.verb) {
        case "config": {
            // A recorded value that `up` would refuse is shown, and how to fix it said.
            const bad = problem(state.config, state.config);
            return {
                stdout: formatConfig(configEntries(root, args.stack, state.config), args),
                stderr: bad ? `warning: up would fail: ${bad}\n` : "",
                code: 0,
                save: false,
            };
        }
        case "config-set": {
            const next = withValue(state.config, args.key, args.value);
            const others = state.config.filter((p) => bareKey(p.split("=")[0]) !== args.key);
            const bad = problem(next, others, `${args.key} was not recorded`);
            if (bad) return { stdout: "", stderr: `error: ${bad}\n`, code: 1, save: false };
            state.config = next;
            const shown = SECRET_KEYS.has(args.key) ? "[secret]" : args.value;
            const note = args.fromStdin ? "" : secretOnCommandLineNote(args.stack, [args.key]);
            return {
                stdout: "",
                stderr: `stack ${args.stack}: ${args.key} = ${shown}; ${upHint}\n${note}`,
                code: 0,
                save: true,
            };
        }
        case "config-rm": {
            const { pairs, removed } = withoutKey(state.config, args.key);
            if (!removed) {
                const fromFile = configEntries(root, args.stack, []).find(
                    (e) => e.key === args.key && e.source !== "default",
                );
                const why = fromFile
                    ? `${args.key} is not recorded by the harness for stack ${args.stack}: it comes from ${fromFile.source}; edit that file`
                    : `${args.key} is not set for stack ${args.stack} (npm run live -- config --stack ${args.stack} lists what is)`;
                return { stdout: "", stderr: `error: ${why}\n`, code: 1, save: false };
            }
            state.config = pairs;
            const bad = problem(pairs, pairs);
            return {
                stdout: "",
                stderr: `stack ${args.stack}: ${args.key} removed; ${upHint}\n${bad ? `warning: up would still fail: ${bad}\n` : ""}`,
                code: 0,
                save: true,
            };
        }
    }
}

/**
 * `live rm`: what `pulumi stack rm` does for a harness stack. Refuses while the stack still has
 * resources (they would be left with nothing that knows them); otherwise the state file, with the
 * recorded config and secrets, is what goes.
 */
export function removeStackRefusal(stack: string, resources: number): string | undefined {
    if (resources === 0) return undefined;
    return (
        `stack ${stack} still has ${resources} resource${resources === 1 ? "" : "s"}; delete them first: ` +
        `npm run live -- down --stack ${stack}`
    );
}

/** What `live down` says at the end: the config it kept, and how to forget it. */
export function downNote(stack: string): string {
    return (
        `the stack's recorded config stays (.live-state/${stack}.json, as pulumi destroy keeps Pulumi.${stack}.yaml): ` +
        `a later up reuses it; forget it with npm run live -- rm --stack ${stack}`
    );
}
