// Changes the cluster's image as a rolling operation, never all nodes at once: the program keeps
// every running node on the image it was created with (ignoreChanges on `image`), so `pulumi up`
// after `config set image` (or after the tag moved) restarts nothing. This records the new image,
// then re-creates the replicas one by one on their volumes (each streams again before the next
// goes), switches over to an upgraded replica, and re-creates the old primary, which rejoins. The
// tutorial's "upgrade replicas first, then fail over", with no acknowledged commit lost.
import { clusterNodes } from "../model/topology";
import { repositoryContainer } from "./backups";
import { execProgram, psql } from "./cluster-discovery";
import { dockerArgv } from "./engines";
import { findNode, probeNodes, refusingUnless, Timings, waitStreaming } from "./ops";
import { roleOperations } from "./role-operations";
import { deployStack, setConfigValue } from "./stack-backends";
import { CommonArgs, openStack, stackConfig } from "./topology-change";

/** What a roll did: the nodes re-created on the new image, and how long each step took. */
export interface RollResult {
    stack: string;
    image: string;
    rolled: string[];
    timings: Timings["steps"];
}

/** The image a node container was created from, as Docker records it. */
async function containerImage(container: string): Promise<string> {
    const res = await execProgram(dockerArgv(container, ["inspect", "-f", "{{.Config.Image}}", container]));
    if (res.code !== 0) throw new Error(`docker inspect ${container}: ${res.stderr.trim()}`);
    return res.stdout.trim();
}

/** Removes a node's container (a clean stop first; its data volume stays). */
async function removeContainer(container: string): Promise<void> {
    const stop = await execProgram(dockerArgv(container, ["stop", "-t", "60", container]), 90_000);
    if (stop.code !== 0) throw new Error(`docker stop ${container}: ${stop.stderr.trim()}`);
    const rm = await execProgram(dockerArgv(container, ["rm", container]), 60_000);
    if (rm.code !== 0) throw new Error(`docker rm ${container}: ${rm.stderr.trim()}`);
}

/** The stack's own switchover (manual or Patroni, as its mode says) to `node`, in this process. */
async function switchoverTo(args: CommonArgs, node: string, log: (line: string) => void): Promise<void> {
    // Its own arguments: no --json (the roll prints the one summary), the subject as its --to.
    const opened = await openStack({ ...args, json: false, values: { to: node }, flags: new Set() }, node, log);
    await roleOperations(opened.cfg).switchover(opened);
}

/** Moves every node of stack `args` to `image`, one at a time (see the top of this file). */
export async function rollImage(args: CommonArgs, image: string, log: (line: string) => void): Promise<RollResult> {
    const t = new Timings();
    const before = stackConfig(args);
    // Validate the reference as `pulumi up` would, before anything changes.
    setConfigValue(args, "image", image);
    try {
        stackConfig(args);
    } catch (err) {
        setConfigValue(args, "image", before.image);
        throw err;
    }
    log(`rolling image of stack ${args.stack}: ${before.image} -> ${image}`);
    await deployStack(args, log);
    t.mark(`recorded pg-replication:image = ${image}; deployed (no node restarted)`, log);

    const cluster = clusterNodes(args.stack, before);
    let nodes = await probeNodes(args.stack);
    const primary = refusingUnless("roll the image", args.stack, nodes);
    const rolled: string[] = [];
    for (const replica of nodes.filter((n) => n.node !== primary.node)) {
        if ((await containerImage(replica.container)) === image) continue;
        await removeContainer(replica.container);
        await deployStack(args, log);
        await waitStreaming(cluster, primary, [replica.node], 300_000);
        rolled.push(replica.node);
        t.mark(`${replica.node} re-created on ${image} and streaming from ${primary.node}`, log);
    }

    if ((await containerImage(primary.container)) !== image) {
        nodes = await probeNodes(args.stack);
        const target = nodes.find(
            (n) => n.node !== primary.node && n.running && n.inRecovery === true && n.walReceiver === "streaming",
        );
        if (!target) throw new Error(`no streaming replica to switch over to; ${primary.node} stays on its old image`);
        await switchoverTo(args, target.node, log);
        t.mark(`switched over: ${target.node} is the primary`, log);
        await removeContainer(primary.container);
        await deployStack(args, log);
        const newPrimary = findNode(await probeNodes(args.stack), target.node);
        await waitStreaming(cluster, newPrimary, [primary.node], 300_000);
        rolled.push(primary.node);
        t.mark(`${primary.node} re-created on ${image}, rejoined and streaming from ${target.node}`, log);
    }
    // The backup repository last: pgBackRest speaks one protocol version between the nodes and it.
    if (before.backups) {
        const repo = repositoryContainer(args.stack);
        if ((await containerImage(repo).catch(() => image)) !== image) {
            await removeContainer(repo);
            await deployStack(args, log);
            t.mark(`backup repository re-created on ${image}`, log);
        }
    }
    // Every node answers on the new image.
    for (const n of await probeNodes(args.stack)) {
        const used = await containerImage(n.container);
        if (used !== image) throw new Error(`${n.node} still runs ${used}`);
        await psql(n.container, "SELECT 1");
    }
    log(`all nodes run ${image}${rolled.length === 0 ? " (nothing to roll)" : `; rolled ${rolled.join(", ")}`}`);
    return { stack: args.stack, image, rolled, timings: t.steps };
}
