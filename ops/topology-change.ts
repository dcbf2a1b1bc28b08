// What failover, switchover and rejoin share: arguments, the stack's config, the checks that
// prove the new topology, and the timing report.
import { ClusterConfig, validateConfig } from "../model/config";
import { checkSpec } from "../model/check-spec";
import { ENGINE_TLS_KEY, engineTlsRoot, parseEngineTls, writeEngineTls } from "../model/engine-tls";
import { containerEngines, severalHosts } from "../model/hosts";
import { setDockerEngines } from "./engines";
import { clientHost, nodeHostPort } from "../model/topology";
import { CheckReport, runChecks } from "./checks";
import { Command, OptionSpecs, stackOption, UsageError } from "./cli";
import { dockerSql, SqlRunner } from "./cluster-discovery";
import { NodeSessions } from "./node-sessions";
import { readLogin } from "./login";
import { firstWrite, NodeState, probeNodes, promote, Timings } from "./ops";
import { PROJECT_ROOT, readOutputs, readRawConfig, setConfigValue, StackRef, upCommand } from "./stack-backends";

export { upCommand };

export interface CommonArgs extends StackRef {
    json: boolean;
    /** The command's own options that take a value, as given. */
    values: Record<string, string>;
    /** The command's own flags that were given. */
    flags: Set<string>;
}

/** Options every stack command takes (status, failover, switchover, rejoin, roll-image, …). */
export const COMMON_OPTIONS = {
    stack: stackOption("dev", "the stack"),
    live: { type: "boolean", help: "a stack made by the live harness (npm run live) instead of the Pulumi CLI" },
    json: { type: "boolean", help: "print a JSON summary on stdout (warnings included)" },
} satisfies OptionSpecs;

/**
 * Parses a stack command's line (`--stack S --live --json --to pgN --force …`) into {@link CommonArgs}:
 * the common options by name, the command's own ones in `values` and `flags`.
 */
export function parseArgs<O extends typeof COMMON_OPTIONS & OptionSpecs>(cmd: Command<O>, argv: string[]): CommonArgs {
    const line = cmd.parse(argv);
    // Generic over the command's own options: read them by name as the plain values they are.
    const values = line.values as Record<string, unknown>;
    const args: CommonArgs = {
        stack: String(values.stack),
        live: values.live === true,
        json: values.json === true,
        values: {},
        flags: new Set(),
    };
    for (const name of line.given) {
        if (name in COMMON_OPTIONS) continue;
        const v = values[name];
        if (typeof v === "string") args.values[name] = v;
        else if (v === true) args.flags.add(name);
    }
    return args;
}

/**
 * The stack's validated configuration. Across hosts it also tells ops/engines.ts which engine each
 * of the stack's containers runs on: every day-2 command reads its configuration here before it
 * reaches a container, so none can send a `docker` command to the wrong engine.
 */
export function stackConfig(ref: StackRef): ClusterConfig {
    const raw = readRawConfig(ref);
    const cfg = validateConfig(raw);
    if (severalHosts(cfg)) {
        // A tcp:// engine's client material, from the stack's secret config, into its cert directory.
        const tls = parseEngineTls(raw[ENGINE_TLS_KEY], cfg.hosts);
        const root = writeEngineTls(engineTlsRoot(PROJECT_ROOT, ref.stack), cfg.hosts, tls);
        setDockerEngines(containerEngines(ref.stack, cfg), root);
    }
    return cfg;
}

/** Records the new primary in the stack's config, so the next `pulumi up` agrees with the cluster. */
export function recordPrimary(ref: StackRef, node: string): void {
    setConfigValue(ref, "primaryNode", node);
}

/** Runs the deployment's checks against the new topology, with the superuser login from the outputs. */
export async function checkTopology(
    ref: StackRef,
    cfg: ClusterConfig,
    primary: string,
    replicas: string[],
): Promise<CheckReport> {
    const spec = checkSpec(ref.stack, cfg, primary, replicas);
    return runChecks(spec, readLogin(ref));
}

/**
 * A topology command's start: its arguments, the node it acts on, the stack's config and nodes, and
 * how it sends SQL to them: over connections to the published ports ({@link NodeSessions}) when
 * `direct` says so for the stack's config (the failover passes its mode's choice, ops/role-operations.ts),
 * otherwise through `docker exec`.
 */
export async function openCommand<O extends typeof COMMON_OPTIONS & OptionSpecs>(
    cmd: Command<O>,
    valued: keyof O & string,
    direct: (cfg: ClusterConfig) => boolean = () => false,
) {
    // When the command's own code started (its modules loaded): the failover reports it as "loaded".
    const loadedMs = performance.now();
    const args = parseArgs(cmd, process.argv.slice(2));
    const subject = args.values[valued];
    if (!subject) throw new UsageError(`--${valued} is required`);
    if (!/^pg([1-9]|10)$/.test(subject))
        throw new UsageError(`--${valued} ${JSON.stringify(subject)} is not a node name (pg1 … pg10)`);
    const log = (line: string) => process.stderr.write(line + "\n");
    return openStack(args, subject, log, direct, loadedMs);
}

/**
 * A topology operation's start without a command line (another operation runs it, as roll-image runs
 * a switchover): the stack's config and nodes, and how SQL reaches them.
 */
export async function openStack(
    args: CommonArgs,
    subject: string,
    log: (line: string) => void,
    direct: (cfg: ClusterConfig) => boolean = () => false,
    loadedMs = performance.now(),
) {
    const cfg = stackConfig(args);
    const sql = direct(cfg) ? nodeSessions(args, cfg) : dockerSql;
    return { args, subject, log, cfg, sql, loadedMs, nodes: await probeNodes(args.stack, sql) };
}

/** What {@link openCommand} found: the command line, the stack's config and its nodes as probed. */
export type OpenedCommand = Awaited<ReturnType<typeof openStack>>;

/** Connections to the stack's nodes over their published ports, as the superuser (login from the outputs). */
export function nodeSessions(ref: StackRef, cfg: ClusterConfig): NodeSessions {
    return new NodeSessions({ host: clientHost(cfg), port: (node) => nodeHostPort(cfg, node), ...readLogin(ref) });
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
    t.mark(
        `promoted ${node.node} (synchronous policy and slots for ${others.join(", ") || "no other node"} set first)`,
        log,
    );
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

/**
 * After a role change the stack outputs are the last deployment's. With the pooler,
 * `primaryConnectionString` is the read-write endpoint, re-pointed already, and only `primary` /
 * `replicas` (stamped `roleReadAt`) describe the past; without it `primaryConnectionString` names
 * the old primary's port too. Undefined when the outputs already name `newPrimary`.
 */
export function staleOutputsNote(
    ref: StackRef,
    newPrimary: string,
    pooler: boolean,
    outputs: Record<string, unknown> = readOutputs(ref),
): string | undefined {
    const recorded = outputs.primary as { node?: string; roleReadAt?: string } | undefined;
    const named = recorded?.node;
    if (named === undefined || named === newPrimary) return undefined;
    const when = recorded?.roleReadAt ? ` (roles read at ${recorded.roleReadAt})` : "";
    const now = `npm run status -- --stack ${ref.stack}${ref.live ? " --live" : ""}`;
    if (pooler)
        return (
            `note: primaryConnectionString and rwConnectionString (the read-write endpoint) reach ${newPrimary} now; ` +
            `the outputs primary and replicas still describe the last deployment${when}: ${now} shows the roles now, ` +
            `the next deployment records them: ${upCommand(ref)}`
        );
    return (
        `note: connect to ${newPrimary} directly; the stack outputs primary and primaryConnectionString ` +
        `still name ${named}${when} until the next deployment: ${upCommand(ref)}`
    );
}
