// What failover, switchover and rejoin share: arguments, the stack's config, the checks that
// prove the new topology, and the timing report.
import { ClusterConfig, validateConfig } from "../../infra/config";
import { clientHost } from "../../infra/topology";
import { CheckSpec } from "./check-spec";
import { CheckReport, runChecks } from "./checks";
import { applySyncPolicy, ensureSlots, firstWrite, NodeState, probeNodes, promote, Timings } from "./ops";
import { readOutputs, readRawConfig, setConfigValue, StackRef } from "./stack-config";

export interface CommonArgs extends StackRef {
    json: boolean;
    values: Record<string, string>;
    flags: Set<string>;
}

/** Parses `--stack S --live --json --to pgN --force …`; `valued` names options that take a value. */
export function parseArgs(argv: string[], valued: string[], usage: string): CommonArgs {
    const args: CommonArgs = { stack: "dev", live: false, json: false, values: {}, flags: new Set() };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--help" || a === "-h") throw new UsageError(usage);
        if (a === "--stack") args.stack = argv[++i] ?? "";
        else if (a === "--live") args.live = true;
        else if (a === "--json") args.json = true;
        else if (a.startsWith("--") && valued.includes(a.slice(2))) args.values[a.slice(2)] = argv[++i] ?? "";
        else if (a.startsWith("--")) args.flags.add(a.slice(2));
        else throw new UsageError(`unexpected argument ${a}\n${usage}`);
    }
    return args;
}

export class UsageError extends Error {}

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
        primary: endpoint(primary),
        replicas: replicas.map(endpoint),
        syncMode: cfg.syncMode,
        syncMethod: cfg.syncMethod,
        syncCount: cfg.syncCount,
        slots: cfg.slots,
        deadlineSeconds: 60,
        endpoints: cfg.pooler ? { rw: { host, port: cfg.hostPortBase + 10 }, ro: { host, port: cfg.hostPortBase + 11 } } : undefined,
    };
    return runChecks(spec, password);
}

/** Runs a command's main, printing errors plainly and exiting non-zero on failure. */
export function runMain(main: () => Promise<void>): void {
    main().then(
        () => process.exit(0),
        (err: Error) => {
            process.stderr.write(`${err instanceof UsageError ? "" : "error: "}${err.message}\n`);
            process.exit(err instanceof UsageError ? 2 : 1);
        },
    );
}

/** A topology command's start: its arguments, the node it acts on, the stack's config and nodes. */
export async function openCommand(valued: string, usage: string) {
    const args = parseArgs(process.argv.slice(2), [valued], usage);
    const subject = args.values[valued];
    if (!subject) throw new UsageError(usage);
    const log = (line: string) => process.stderr.write(line + "\n");
    return { args, subject, log, cfg: stackConfig(args), nodes: await probeNodes(args.stack) };
}

/**
 * Makes `node` the primary: promote, a first write, the slots the `others` stream through and the
 * configured synchronous policy over them.
 */
export async function takeOver(node: NodeState, others: string[], cfg: ClusterConfig, t: Timings, log: (l: string) => void): Promise<void> {
    await promote(node);
    t.mark(`promoted ${node.node}`, log);
    // The promoted node may carry another topology's synchronous policy from when it was cloned.
    await applySyncPolicy(node, others, cfg);
    await firstWrite(node);
    t.mark(`first write accepted on ${node.node}`, log);
    await ensureSlots(node, others, cfg);
}

/** A warning when synchronous commits will wait for standbys that are not streaming yet. */
export function syncWarning(cfg: ClusterConfig, streaming: string[], absent: string[]): string | undefined {
    if (cfg.syncMode !== "sync" || streaming.length >= cfg.syncCount) return undefined;
    return (
        `warning: synchronous commits need ${cfg.syncCount} standby(s) but only ${streaming.length} stream ` +
        `(${streaming.join(", ") || "none"}); commits wait until ${absent.join(", ")} rejoin(s) (npm run rejoin, or pulumi up)`
    );
}
