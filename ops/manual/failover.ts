// Manual failover: fence the old primary, promote the target once no streaming standby is ahead of it,
// re-point the replicas and endpoints, record primaryNode and run the checks.
// scripts/failover.ts opens the command; ops/role-operations.ts picks this under failover=manual.
import { clusterNodes, nodeAddressMap } from "../../model/topology";
import { CheckFailure } from "../checks";
import { repointPooler } from "../pooler";
import { fence, findNode, NodeState, promotionRefusal, repoint, settledNodes, Timings, waitStreaming } from "../ops";
import { checkTopology, commandLine, recordPrimary, staleOutputsNote, syncWarning, takeOver } from "../topology-change";
import type { OpenedCommand } from "../topology-change";

/** Every node that is not a standby is an old primary (normally one, possibly stopped already), and the recorded primary too. */
function oldPrimariesOf(opened: OpenedCommand): { oldPrimaries: NodeState[]; configured: NodeState } {
    const { subject: target, cfg, nodes } = opened;
    const oldPrimaries = nodes.filter((n) => n.node !== target && n.inRecovery !== true);
    const configured = findNode(nodes, cfg.primaryNode);
    if (!oldPrimaries.includes(configured) && configured.node !== target) oldPrimaries.push(configured);
    return { oldPrimaries, configured };
}

/** Once the old primaries are fenced: promotes the target unless a settled standby is ahead of it. */
async function promoteTarget(opened: OpenedCommand, oldPrimaries: NodeState[], t: Timings): Promise<NodeState> {
    const { args, subject: target, log, cfg, nodes, sql } = opened;
    const settled = await settledNodes(args.stack, undefined, sql);
    const late = promotionRefusal(settled, target, args.flags.has("force"), true);
    if (late) {
        throw new Error(
            `refusing to promote ${target}: ${late}. ${oldPrimaries.map((n) => n.node).join(", ")} is fenced (stopped); ` +
                `re-run with the candidate that is ahead, or with --force`,
        );
    }
    t.mark("replicas settled: no WAL in flight", log);
    const newPrimary = findNode(settled, target);
    const others = nodes.map((n) => n.node).filter((n) => n !== target);
    await takeOver(newPrimary, others, cfg, t, log, sql);
    return newPrimary;
}

/** Re-points the running replicas at the new primary and waits until they stream from it. */
async function repointReplicas(
    opened: OpenedCommand,
    newPrimary: NodeState,
    followers: NodeState[],
    t: Timings,
): Promise<void> {
    const { args, subject: target, log, cfg, sql } = opened;
    await Promise.all(followers.map((r) => repoint(r, target, cfg, sql)));
    await waitStreaming(
        clusterNodes(args.stack, cfg),
        newPrimary,
        followers.map((n) => n.node),
        undefined,
        sql,
    );
    t.mark(`all replicas streaming from ${target}: ${followers.map((n) => n.node).join(", ") || "(none)"}`, log);
}

/** Re-points the endpoints: read-only sessions go to the replicas that stream now; `pulumi up` adds the fenced node back. */
async function repointEndpoints(opened: OpenedCommand, followers: NodeState[], t: Timings): Promise<void> {
    const { args, subject: target, log, cfg } = opened;
    const pooled = await repointPooler(
        args.stack,
        target,
        followers.map((n) => n.node),
        { hosts: nodeAddressMap(cfg.subnet) },
    );
    if (pooled.length > 0)
        t.mark(`endpoints re-pointed: ${pooled.map((p) => `${p.role} -> ${p.targets.join(",")}`).join("; ")}`, log);
}

/** What the failover may have cost: synchronous commits without enough standbys, or async commits lost. */
function failoverWarnings(
    opened: OpenedCommand,
    followers: NodeState[],
    oldPrimaries: NodeState[],
    configured: NodeState,
): string[] {
    const { subject: target, cfg } = opened;
    const warnings: string[] = [];
    const warning = syncWarning(
        cfg,
        followers.map((n) => n.node),
        oldPrimaries.map((n) => n.node),
    );
    if (warning) warnings.push(warning);
    if (cfg.syncMode === "async") {
        // Only a node seen taking writes, or the recorded primary, can have acknowledged commits; a
        // stopped replica is fenced too (it cannot say its role) but never took any.
        const writers = oldPrimaries.filter((n) => n.inRecovery === false || n === configured).map((n) => n.node);
        warnings.push(
            `warning: syncMode is async: commits ${writers.join(", ") || "the old primary"} acknowledged but had not sent to ${target} ` +
                `may be lost; rejoining reports what pg_rewind discarded`,
        );
    }
    return warnings;
}

/** Records the new primary in the stack's config, then proves the topology with the deployment's checks. */
async function recordAndCheck(opened: OpenedCommand, followers: NodeState[], t: Timings): Promise<void> {
    const { args, subject: target, log, cfg } = opened;
    recordPrimary(args, target);
    t.mark(`stack config: primaryNode = ${target}`, log);
    try {
        const report = await checkTopology(
            args,
            cfg,
            target,
            followers.map((n) => n.node),
        );
        t.mark(`checks passed (${report.checks.length})`, log);
    } catch (err) {
        if (err instanceof CheckFailure) throw new Error(`after failover, ${err.message}`, { cause: err });
        throw err;
    }
}

/** The closing lines: how each fenced node comes back, stale outputs, and with --json the summary. */
function reportFailover(opened: OpenedCommand, oldPrimaries: NodeState[], warnings: string[], t: Timings): void {
    const { args, subject: target, log, cfg } = opened;
    for (const old of oldPrimaries)
        log(
            `${old.node} stays stopped (fenced); bring it back as a replica with: ${commandLine(args, "rejoin", "--node", old.node)}`,
        );
    const stale = staleOutputsNote(args, target, cfg.pooler);
    if (stale) log(stale);
    if (args.json) {
        process.stdout.write(
            JSON.stringify({
                stack: args.stack,
                primary: target,
                fenced: oldPrimaries.map((n) => n.node),
                warnings,
                timings: t.steps,
            }) + "\n",
        );
    }
}

export async function manualFailover(opened: OpenedCommand): Promise<void> {
    const { args, subject: target, log, nodes } = opened;
    const t = new Timings();
    const refusal = promotionRefusal(nodes, target, args.flags.has("force"));
    if (refusal) throw new Error(`refusing to fail over to ${target}: ${refusal}`);

    log(`failover of stack ${args.stack} to ${target}`);
    t.mark("loaded", log, Math.round(opened.loadedMs));
    t.mark(`${nodes.length} nodes probed`, log);
    const { oldPrimaries, configured } = oldPrimariesOf(opened);
    await Promise.all(oldPrimaries.map(fence));
    t.mark(`fenced ${oldPrimaries.map((n) => n.node).join(", ") || "nothing (no primary found)"}`, log);

    const newPrimary = await promoteTarget(opened, oldPrimaries, t);
    log(`${target} accepts writes; re-pointing the replicas and endpoints, then the checks: wait for the verdict`);
    const followers = nodes.filter((n) => n.node !== target && n.running && n.inRecovery === true);
    // The replicas and the endpoints do not depend on each other: both at once, each reported.
    const [streaming, pooler] = await Promise.allSettled([
        repointReplicas(opened, newPrimary, followers, t),
        repointEndpoints(opened, followers, t),
    ]);
    for (const r of [streaming, pooler]) if (r.status === "rejected") throw r.reason;
    const warnings = failoverWarnings(opened, followers, oldPrimaries, configured);
    for (const w of warnings) log(w);

    await recordAndCheck(opened, followers, t);
    reportFailover(opened, oldPrimaries, warnings, t);
}
