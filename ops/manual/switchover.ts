// Manual switchover: clean shutdown of the primary, promotion of the target once it replayed the
// shutdown checkpoint, the old primary rewound into a replica; no transaction lost.
// scripts/switchover.ts opens the command; ops/role-operations.ts picks this under failover=manual.
import { clusterNodes, nodeAddressMap } from "../../model/topology";
import {
    refusingUnless,
    fence,
    findNode,
    lastRejoin,
    lsnValue,
    promotionRefusal,
    repoint,
    startContainer,
    stoppedCheckpointLsn,
    Timings,
    waitFor,
    waitStreaming,
} from "../ops";
import { psql } from "../cluster-discovery";
import { repointPooler } from "../pooler";
import { checkTopology, commandLine, recordPrimary, staleOutputsNote, takeOver } from "../topology-change";
import type { OpenedCommand } from "../topology-change";

export async function manualSwitchover(opened: OpenedCommand): Promise<void> {
    const { args, subject: target, log, cfg, nodes } = opened;
    // Fails closed: split brain, or a node that may run but cannot say whether it accepts writes.
    const primary = refusingUnless("switch over", args.stack, nodes);
    const refusal = promotionRefusal(nodes, target, true);
    if (refusal) throw new Error(`refusing to switch over to ${target}: ${refusal}`);
    const t = findNode(nodes, target);
    if (t.walReceiver !== "streaming")
        throw new Error(`refusing to switch over to ${target}: it is not streaming from ${primary.node}`);

    const timings = new Timings();
    log(`switchover of stack ${args.stack}: ${primary.node} -> ${target}`);
    await psql(primary.container, "CHECKPOINT", 120_000); // keeps the shutdown checkpoint short
    await fence(primary);
    const shutdownLsn = await stoppedCheckpointLsn(primary.container).catch((err: Error) => {
        // It died while stopping (killed, crashed): stopped and fenced, but its last commits may
        // not have reached anyone, so a switchover's promise (nothing lost) no longer holds.
        throw new Error(
            `${err.message}: ${primary.node} stopped without a clean shutdown, so ${target} may lack its last commits; ` +
                `nothing was promoted and ${primary.node} stays fenced (stopped). Next, fail over (it refuses ` +
                `when another replica received more): ${commandLine(args, "failover", "--to", target)}`,
        );
    });
    timings.mark(`${primary.node} shut down cleanly at ${shutdownLsn}`, log);
    await waitFor(`${target} replaying up to ${shutdownLsn}`, 60_000, async () => {
        const replay = await psql(t.container, "SELECT pg_last_wal_replay_lsn()");
        return lsnValue(replay) > lsnValue(shutdownLsn) ? true : `replayed ${replay}`;
    });
    timings.mark(`${target} caught up: replayed past ${shutdownLsn}`, log);
    const others = nodes.map((n) => n.node).filter((n) => n !== target);
    await takeOver(t, others, cfg, timings, log);
    const followers = nodes.filter(
        (n) => n.node !== target && n.node !== primary.node && n.running && n.inRecovery === true,
    );
    for (const r of followers) await repoint(r, target, cfg);
    const pooled = await repointPooler(args.stack, target, others, { hosts: nodeAddressMap(cfg.subnet) });
    if (pooled.length > 0)
        timings.mark(
            `endpoints re-pointed: ${pooled.map((p) => `${p.role} -> ${p.targets.join(",")}`).join("; ")}`,
            log,
        );
    await startContainer(primary.container); // its entrypoint rewinds it onto the new primary
    await waitStreaming(clusterNodes(args.stack, cfg), t, [...followers.map((n) => n.node), primary.node].sort());
    const rejoin = await lastRejoin(primary.container);
    timings.mark(`all replicas streaming from ${target}; ${primary.node} rejoined with ${rejoin?.method ?? "?"}`, log);

    recordPrimary(args, target);
    timings.mark(`stack config: primaryNode = ${target}`, log);
    const report = await checkTopology(args, cfg, target, others);
    timings.mark(`checks passed (${report.checks.length})`, log);
    const stale = staleOutputsNote(args, target, cfg.pooler);
    if (stale) log(stale);
    if (args.json) {
        process.stdout.write(
            JSON.stringify({
                stack: args.stack,
                from: primary.node,
                to: target,
                shutdownLsn,
                rejoin,
                timings: timings.steps,
            }) + "\n",
        );
    }
}
