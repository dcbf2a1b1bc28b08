// Manual rejoin: repair the node's slot, ask its entrypoint to rejoin (pg_rewind or a fresh clone),
// restart it and wait until it streams.
// scripts/rejoin.ts opens the command; ops/role-operations.ts picks this under failover=manual.
import {
    refusingUnless,
    describeRejoin,
    ensureSlots,
    findNode,
    lastRejoin,
    requestRejoin,
    startContainer,
    Timings,
    waitStreaming,
} from "../ops";
import { clusterNodes } from "../../model/topology";
import { execProgram } from "../cluster-discovery";
import { dockerArgv } from "../engines";
import type { OpenedCommand } from "../topology-change";

export async function manualRejoin(opened: OpenedCommand): Promise<void> {
    const { args, subject: name, log, cfg, nodes } = opened;
    const node = findNode(nodes, name);
    if (node.inRecovery === false)
        throw new Error(
            `refusing to rejoin ${name}: it is the running primary, not a replica to bring back; to make it a replica, ` +
                `switch over first: npm run switchover -- --stack ${args.stack} --to pgN${args.live ? " --live" : ""}`,
        );
    // The node to rejoin may be down or confused; every other node must say what it is.
    const primary = refusingUnless(
        `rejoin ${name}`,
        args.stack,
        nodes.filter((n) => n.node !== name),
    );
    const timings = new Timings();
    log(`rejoin of ${name} to ${primary.node} (stack ${args.stack})`);
    const repaired = await ensureSlots(primary, [name], cfg);
    if (repaired.length > 0)
        timings.mark(`slot re-created on ${primary.node}: ${repaired.join(", ")} was invalidated`, log);
    await requestRejoin(node);
    if (node.running) {
        const res = await execProgram(dockerArgv(node.container, ["restart", "-t", "60", node.container]), 120_000);
        if (res.code !== 0) throw new Error(`docker restart ${node.container}: ${res.stderr.trim()}`);
    } else {
        await startContainer(node.container);
    }
    timings.mark(`${name} restarted with a rejoin request`, log);
    await waitStreaming(clusterNodes(args.stack, cfg), primary, [name], 300_000);
    const how = await lastRejoin(node.container);
    timings.mark(`${name} streaming from ${primary.node}`, log);
    log(describeRejoin(name, how));
    if (args.json) {
        process.stdout.write(
            JSON.stringify({
                stack: args.stack,
                node: name,
                primary: primary.node,
                rejoin: how,
                method: how?.method,
                discarded: how?.discarded ?? null,
                slotRepaired: repaired.length > 0,
                timings: timings.steps,
            }) + "\n",
        );
    }
}
