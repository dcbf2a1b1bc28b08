// npm run roll-image -- --image REF [--stack S] [--live] [--json]
// Changes the cluster's image as a rolling operation, never all nodes at once: the program keeps
// every running node on the image it was created with (ignoreChanges on `image`), so `pulumi up`
// after `config set image` (or after the tag moved) restarts nothing. This command records the new
// image, then re-creates the replicas one by one on their volumes (each streams again before the
// next goes), switches over to an upgraded replica, and re-creates the old primary, which rejoins.
// The tutorial's "upgrade replicas first, then fail over", with no acknowledged commit lost.
import { clusterNodes } from "../model/topology";
import { execProgram, psql } from "../ops/cluster-discovery";
import { refusingUnless, findNode, probeNodes, Timings, waitStreaming } from "../ops/ops";
import { command, runCommand, UsageError } from "../ops/cli";
import { COMMON_OPTIONS, parseArgs, stackConfig } from "../ops/topology-change";
import { deployStack, PROJECT_ROOT, setConfigValue } from "../ops/stack-backends";
import { repositoryContainer } from "../ops/backups";

const ROLL_IMAGE = command({
    name: "roll-image",
    synopsis: "--image REF [--stack S] [--live] [--json]",
    description:
        "Moves every node of the cluster to image REF one at a time: records pg-replication:image, deploys\n" +
        "(no node restarts: running nodes keep their image), then re-creates each replica on its data volume\n" +
        "and waits until it streams, switches over to an upgraded replica, and re-creates the old primary,\n" +
        "which rejoins as a replica. Only for images of the same PostgreSQL major version (17).",
    options: {
        image: { type: "string", value: "REF", help: "the new image reference, e.g. postgres:17.13 (required)" },
        ...COMMON_OPTIONS,
    },
    examples: ["npm run roll-image -- --image pg-replication/postgres:17-local-b --stack local --live"],
});

/** The image a node container was created from, as Docker records it. */
async function containerImage(container: string): Promise<string> {
    const res = await execProgram(["docker", "inspect", "-f", "{{.Config.Image}}", container]);
    if (res.code !== 0) throw new Error(`docker inspect ${container}: ${res.stderr.trim()}`);
    return res.stdout.trim();
}

/** Removes a node's container (a clean stop first; its data volume stays). */
async function removeContainer(container: string): Promise<void> {
    const stop = await execProgram(["docker", "stop", "-t", "60", container], 90_000);
    if (stop.code !== 0) throw new Error(`docker stop ${container}: ${stop.stderr.trim()}`);
    const rm = await execProgram(["docker", "rm", container], 60_000);
    if (rm.code !== 0) throw new Error(`docker rm ${container}: ${rm.stderr.trim()}`);
}

/** Runs another day-2 command of this project on the same stack and fails with its output. */
async function runScript(script: string, args: string[]): Promise<void> {
    const res = await execProgram(
        [
            process.execPath,
            "-r",
            `${PROJECT_ROOT}/scripts/register-ts.js`,
            `${PROJECT_ROOT}/scripts/${script}.ts`,
            ...args,
        ],
        600_000,
    );
    if (res.code !== 0) throw new Error(`${script} ${args.join(" ")} failed (exit ${res.code}):\n${res.stderr.trim()}`);
}

runCommand(ROLL_IMAGE, async () => {
    const args = parseArgs(ROLL_IMAGE, process.argv.slice(2));
    const image = args.values.image;
    if (!image) throw new UsageError("--image is required");
    const log = (line: string) => process.stderr.write(line + "\n");
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
        await runScript("switchover", ["--to", target.node, "--stack", args.stack, ...(args.live ? ["--live"] : [])]);
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
    if (args.json) process.stdout.write(JSON.stringify({ stack: args.stack, image, rolled, timings: t.steps }) + "\n");
});
