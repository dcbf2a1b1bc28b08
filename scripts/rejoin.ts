// npm run rejoin -- --node pgN [--stack S] [--live] [--json]
// Brings an old primary (or a diverged node) back as a replica of the current primary: pg_rewind,
// or a fresh pg_basebackup when rewinding is impossible. Its entrypoint does the work on start;
// this asks for it, restarts the node, waits until it streams and says which method was used.
import { ensureSlots, findNode, lastRejoin, requestRejoin, startContainer, Timings, waitStreaming } from "./lib/ops";
import { execProgram } from "./lib/cluster-discovery";
import { openCommand, runMain } from "./lib/topology-change";

const USAGE = "usage: npm run rejoin -- --node pgN [--stack S] [--live] [--json]";

runMain(async () => {
    const { args, subject: name, log, cfg, nodes } = await openCommand("node", USAGE);
    const node = findNode(nodes, name);
    const primaries = nodes.filter((n) => n.node !== name && n.running && n.inRecovery === false);
    if (primaries.length !== 1) {
        throw new Error(`refusing to rejoin ${name}: expected one other running primary, found ${primaries.map((n) => n.node).join(", ") || "none"}`);
    }
    const primary = primaries[0];
    const timings = new Timings();
    log(`rejoin of ${name} to ${primary.node} (stack ${args.stack})`);
    await ensureSlots(primary, [name], cfg);
    await requestRejoin(node);
    if (node.running) {
        const res = await execProgram(["docker", "restart", "-t", "60", node.container], 120_000);
        if (res.code !== 0) throw new Error(`docker restart ${node.container}: ${res.stderr.trim()}`);
    } else {
        await startContainer(node.container);
    }
    timings.mark(`${name} restarted with a rejoin request`, log);
    await waitStreaming(primary, [name], 300_000);
    const how = await lastRejoin(node.container);
    timings.mark(`${name} streaming from ${primary.node}; rejoined with ${how?.method ?? "?"} (${how?.seconds ?? "?"})`, log);
    if (args.json) process.stdout.write(JSON.stringify({ stack: args.stack, node: name, primary: primary.node, rejoin: how, timings: timings.steps }) + "\n");
});
