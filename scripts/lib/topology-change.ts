// What failover, switchover and rejoin share: arguments, the stack's config, the checks that
// prove the new topology, and the timing report.
import { parseArgs as nodeParseArgs } from "node:util";
import { ClusterConfig, validateConfig } from "../../infra/config";
import { clientHost } from "../../infra/topology";
import { CheckSpec, patroniCheckSpec } from "./check-spec";
import { CheckReport, runChecks } from "./checks";
import { dockerSql, SqlRunner } from "./cluster-discovery";
import { NodeSessions } from "./node-sessions";
import { firstWrite, NodeState, probeNodes, promote, Timings } from "./ops";
import { readOutputs, readRawConfig, setConfigValue, StackRef } from "./stack-config";

export interface CommonArgs extends StackRef {
    json: boolean;
    values: Record<string, string>;
    flags: Set<string>;
}

/**
 * Parses `--stack S --live --json --to pgN --force …` with node:util parseArgs: `valued` names the
 * command's options that take a value, `flags` its boolean ones. Unknown options, missing values,
 * stray arguments and an option given twice (`--to pg1 --to pg2`: which one was meant?) are usage
 * errors that name the argument. `--help` throws {@link HelpRequest}.
 */
export function parseArgs(argv: string[], valued: string[], usage: string, flags: string[] = []): CommonArgs {
    const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
        stack: { type: "string" },
        live: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
    };
    for (const v of valued) options[v] = { type: "string" };
    for (const f of flags) options[f] = { type: "boolean" };
    let parsed: ReturnType<typeof nodeParseArgs>;
    try {
        parsed = nodeParseArgs({ args: argv, options, strict: true, allowPositionals: false, tokens: true });
    } catch (err) {
        throw new UsageError(`${(err as Error).message.split("\n")[0].replace(/\. To specify .*$/, "")}\n${usage}`);
    }
    const seen = new Set<string>();
    for (const token of parsed.tokens ?? []) {
        if (token.kind !== "option") continue;
        if (seen.has(token.name)) throw new UsageError(`option --${token.name} is given more than once\n${usage}`);
        seen.add(token.name);
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    if (values.help) throw new HelpRequest(usage);
    const stack = values.stack === undefined ? "dev" : String(values.stack);
    if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new UsageError(`invalid --stack ${JSON.stringify(stack)}\n${usage}`);
    const args: CommonArgs = { stack, live: values.live === true, json: values.json === true, values: {}, flags: new Set() };
    for (const v of valued) if (typeof values[v] === "string") args.values[v] = values[v] as string;
    for (const f of flags) if (values[f] === true) args.flags.add(f);
    return args;
}

/** A wrong command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** `--help`: the usage is printed on stdout, exit code 0. */
export class HelpRequest extends Error {}

export function stackConfig(ref: StackRef): ClusterConfig {
    return validateConfig(readRawConfig(ref));
}

/** Records the new primary in the stack's config, so the next `pulumi up` agrees with the cluster. */
export function recordPrimary(ref: StackRef, node: string): void {
    setConfigValue(ref, "primaryNode", node);
}

/** Runs the deployment's checks against the new topology, with the superuser password from the outputs. */
export async function checkTopology(ref: StackRef, cfg: ClusterConfig, primary: string, replicas: string[]): Promise<CheckReport> {
    const outputs = readOutputs(ref);
    const password = outputs.superuserPassword;
    if (typeof password !== "string") throw new Error(`stack ${ref.stack} has no superuserPassword output`);
    const host = clientHost(cfg);
    const endpoint = (node: string) => ({ node, host, port: cfg.hostPortBase + Number(node.slice(2)) - 1 });
    const spec: CheckSpec = {
        stack: ref.stack,
        primary: endpoint(primary),
        replicas: replicas.map(endpoint),
        syncMode: cfg.syncMode,
        syncMethod: cfg.syncMethod,
        syncCount: cfg.syncCount,
        slots: cfg.slots,
        deadlineSeconds: 60,
        endpoints: cfg.pooler ? { rw: { host, port: cfg.hostPortBase + 10 }, ro: { host, port: cfg.hostPortBase + 11 } } : undefined,
        // Under Patroni the checks find the leader themselves (primary/replicas are only a hint).
        patroni: cfg.failover === "patroni" ? patroniCheckSpec(ref.stack, cfg, host) : undefined,
    };
    return runChecks(spec, password);
}

/** Runs a command's main, printing errors plainly and exiting non-zero on failure. */
export function runMain(main: () => Promise<void>): void {
    main().then(
        () => process.exit(0),
        (err: Error) => {
            if (err instanceof HelpRequest) {
                process.stdout.write(`${err.message}\n`);
                process.exit(0);
            }
            process.stderr.write(`${err instanceof UsageError ? "" : "error: "}${err.message}\n`);
            process.exit(err instanceof UsageError ? 2 : 1);
        },
    );
}

/**
 * A topology command's start: its arguments, the node it acts on, the stack's config and nodes, and
 * how it sends SQL to them: with `direct` (manual mode) over connections to the published ports
 * ({@link NodeSessions}), otherwise through `docker exec`.
 */
export async function openCommand(valued: string, usage: string, flags: string[] = [], direct = false) {
    const args = parseArgs(process.argv.slice(2), [valued], usage, flags);
    const subject = args.values[valued];
    if (!subject) throw new UsageError(`--${valued} is required\n${usage}`);
    if (!/^pg([1-9]|10)$/.test(subject)) throw new UsageError(`--${valued} ${JSON.stringify(subject)} is not a node name (pg1 … pg10)\n${usage}`);
    const log = (line: string) => process.stderr.write(line + "\n");
    const cfg = stackConfig(args);
    const sql = direct && cfg.failover === "manual" ? nodeSessions(args, cfg) : dockerSql;
    return { args, subject, log, cfg, sql, nodes: await probeNodes(args.stack, sql) };
}

/** Connections to the stack's nodes over their published ports, as the superuser (password from the outputs). */
export function nodeSessions(ref: StackRef, cfg: ClusterConfig): NodeSessions {
    const password = readOutputs(ref).superuserPassword;
    if (typeof password !== "string") throw new Error(`stack ${ref.stack} has no superuserPassword output`);
    return new NodeSessions({ host: clientHost(cfg), port: (node) => cfg.hostPortBase + Number(node.slice(2)) - 1, password });
}

/**
 * Makes `node` the primary: the configured synchronous policy over the `others` and the slots they
 * stream through (both set while it is still a standby, see {@link promote}), the promotion, then a
 * first write.
 */
export async function takeOver(
    node: NodeState,
    others: string[],
    cfg: ClusterConfig,
    t: Timings,
    log: (l: string) => void,
    sql: SqlRunner = dockerSql,
): Promise<void> {
    await promote(node, others, cfg, sql);
    t.mark(`promoted ${node.node} (synchronous policy and slots for ${others.join(", ") || "no other node"} set first)`, log);
    await firstWrite(node, sql);
    t.mark(`first write accepted on ${node.node}`, log);
}

/** A warning when synchronous commits will wait for standbys that are not streaming yet. */
export function syncWarning(cfg: ClusterConfig, streaming: string[], absent: string[]): string | undefined {
    if (cfg.syncMode !== "sync" || streaming.length >= cfg.syncCount) return undefined;
    return (
        `warning: synchronous commits need ${cfg.syncCount} standby(s) but only ${streaming.length} stream ` +
        `(${streaming.join(", ") || "none"}); commits wait until ${absent.join(", ")} ${absent.length === 1 ? "rejoins" : "rejoin"}`
    );
}

/** The exact command line of another day-2 command on the same stack, for hints. */
export function commandLine(ref: StackRef, script: string, ...args: string[]): string {
    return ["npm run", script, "--", ...args, "--stack", ref.stack, ...(ref.live ? ["--live"] : [])].join(" ");
}

/** The command that deploys the stack again: the live harness's `up`, `npm run up` (dev) or scripts/pulumi.sh. */
export function upCommand(ref: StackRef): string {
    if (ref.live) return `npm run live -- up --stack ${ref.stack}`;
    return ref.stack === "dev" ? "npm run up" : `bash scripts/pulumi.sh ${ref.stack} up`;
}

/**
 * After a role change the stack outputs are the last deployment's: `primary` and
 * `primaryConnectionString` name the old primary until the stack is deployed again. Undefined when
 * they already name `newPrimary`.
 */
export function staleOutputsNote(ref: StackRef, newPrimary: string, pooler: boolean, outputs: Record<string, unknown> = readOutputs(ref)): string | undefined {
    const named = (outputs.primary as { node?: string } | undefined)?.node;
    if (named === undefined || named === newPrimary) return undefined;
    return (
        `note: ${pooler ? `rwConnectionString (the read-write endpoint) reaches ${newPrimary} now` : `connect to ${newPrimary} directly`}; ` +
        `the stack outputs primary and primaryConnectionString still name ${named} until the next deployment: ${upCommand(ref)}`
    );
}

/** Options every topology command takes, for the usage texts. */
export const COMMON_OPTIONS = [
    "  --stack S     the stack (default dev)",
    "  --live        a stack made by the live harness (npm run live) instead of the Pulumi CLI",
    "  --json        print a JSON summary on stdout (warnings included)",
    "  -h, --help    this help",
].join("\n");
