// The day-2 commands under failover=patroni: Patroni moves the roles, through its REST API
// (docs/rest_api.rst: POST /switchover, POST /failover, POST /reinitialize); these wait for the
// result and prove it with the deployment's checks. Nothing is fenced or re-pointed by hand, and
// primaryNode is not rewritten: under Patroni it only names the node that bootstraps.
import { ClusterConfig } from "../model/config";
import { execProgram, listNodes } from "./cluster-discovery";
import { patroniCluster, PatroniCluster, PatroniMember, patroniRest } from "./patroni";
import { waitFor } from "./ops";
import { checkTopology, commandLine, CommonArgs } from "./topology-change";

type Log = (line: string) => void;

/** One step's timing, as the manual commands report them. */
interface Step {
    step: string;
    ms: number;
}

/** Polls Patroni's /cluster (ops.ts waitFor, every 500 ms) until `done` says true, or fails with its last answer. */
async function waitCluster(
    stack: string,
    what: string,
    timeoutMs: number,
    done: (c: PatroniCluster) => true | string,
): Promise<PatroniCluster> {
    let seen: PatroniCluster | undefined;
    await waitFor(
        what,
        timeoutMs,
        async () => {
            const { cluster } = await patroniCluster(stack);
            const verdict = done(cluster);
            if (verdict === true) seen = cluster;
            return verdict;
        },
        500,
    );
    return seen as PatroniCluster;
}

const describe = (c: PatroniCluster) => c.members.map((m) => `${m.name} ${m.role} ${m.state}`).join(", ");
const leaderIs = (name: string) => (c: PatroniCluster) => {
    const leader = c.members.find((m) => m.role === "leader");
    const others = c.members.filter((m) => m.name !== name);
    if (leader?.name !== name || leader.state !== "running") return describe(c);
    return others.every((m) => m.state === "streaming") ? true : describe(c);
};

async function container(stack: string, node: string): Promise<{ container: string; running: boolean }> {
    const found = (await listNodes(stack)).find((n) => n.node === node);
    if (!found) throw new Error(`${node} is not a node of stack ${stack}`);
    return found;
}

/**
 * Why Patroni should not be asked at all: the target is no member or its container is not running;
 * a switchover without a leader, or whose leader's container is not running (Patroni would be asked
 * to move a role from a node that cannot hand it over).
 */
export function roleChangeRefusal(
    kind: "switchover" | "failover",
    args: CommonArgs,
    cluster: PatroniCluster,
    listed: Array<{ node: string; container: string; running: boolean; state: string }>,
    target: string,
): string | undefined {
    const members = cluster.members.map((m) => m.name).join(", ");
    const node = listed.find((n) => n.node === target);
    if (!node || !cluster.members.some((m) => m.name === target))
        return `refusing to ${kind} to ${target}: it is not a member of Patroni's cluster ${args.stack} (members: ${members || "none"})`;
    if (!node.running)
        return `refusing to ${kind} to ${target}: its container ${node.container} is ${node.state}; start it first: ${commandLine(args, "rejoin", "--node", target)}`;
    if (kind === "failover") return undefined;
    const leader = cluster.members.find((m) => m.role === "leader");
    if (!leader)
        return `refusing to switch over: no leader; choose one: ${commandLine(args, "failover", "--to", target)}`;
    const held = listed.find((n) => n.node === leader.name);
    if (held && !held.running)
        return (
            `refusing to switch over from ${leader.name}: its container ${held.container} is ${held.state}, so it cannot hand ` +
            `the role over. Patroni elects a new leader once its key expires (npm run status -- --stack ${args.stack}` +
            `${args.live ? " --live" : ""} says when), or choose now: ${commandLine(args, "failover", "--to", target)}`
        );
    return undefined;
}

/**
 * Switchover (planned, `--to` a streaming replica) or failover (`--to` any healthy member, even
 * with no leader) through Patroni, then the checks. Patroni refuses a candidate that is not
 * eligible (e.g. not synchronous in sync mode); its answer is the error.
 */
export async function patroniRoleChange(
    kind: "switchover" | "failover",
    args: CommonArgs,
    cfg: ClusterConfig,
    target: string,
    log: Log,
): Promise<void> {
    const started = Date.now();
    const steps: Step[] = [];
    const mark = (step: string) => {
        steps.push({ step, ms: Date.now() - started });
        log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${step}`);
    };
    const { container: asked, cluster } = await patroniCluster(args.stack);
    const listed = await listNodes(args.stack);
    const leader: PatroniMember | undefined = cluster.members.find((m) => m.role === "leader");
    if (leader?.name === target) throw new Error(`refusing to ${kind} to ${target}: it is already the leader`);
    const refusal = roleChangeRefusal(kind, args, cluster, listed, target);
    if (refusal) throw new Error(refusal);
    const body = kind === "switchover" ? { leader: leader?.name, candidate: target } : { candidate: target };
    log(`${kind} of stack ${args.stack} (failover=patroni): ${leader?.name ?? "no leader"} -> ${target}`);
    const res = await patroniRest(asked, { method: "POST", path: `/${kind}`, body, timeoutSeconds: 60 }, 90_000);
    if (res.status !== 200)
        throw new Error(`Patroni refused the ${kind} to ${target} (HTTP ${res.status}): ${JSON.stringify(res.body)}`);
    mark(`Patroni: ${typeof res.body === "string" ? res.body.trim() : JSON.stringify(res.body)}`);
    await waitCluster(args.stack, `${target} leading with every other member streaming`, 120_000, leaderIs(target));
    // A member that died meanwhile is simply missing from /cluster: name it, and how it comes back.
    // Only those that ran when the change began: a dead leader failed over from was already down.
    const ranBefore = new Set(listed.filter((n) => n.running).map((n) => n.node));
    const gone = (await listNodes(args.stack)).filter((n) => !n.running && ranBefore.has(n.node));
    if (gone.length > 0)
        throw new Error(
            `${target} leads and every running member streams, but ${gone.map((n) => `${n.node} (${n.container}, ${n.state})`).join(", ")} ` +
                `stopped during the ${kind}; bring ${gone.length === 1 ? "it" : "each"} back as a replica: ` +
                gone.map((n) => commandLine(args, "rejoin", "--node", n.node)).join("; "),
        );
    mark(`${target} is the leader; every other member streams`);
    const report = await checkTopology(
        args,
        cfg,
        target,
        cluster.members.map((m) => m.name).filter((n) => n !== target),
    );
    mark(`checks passed (${report.checks.length})`);
    if (args.json)
        process.stdout.write(
            JSON.stringify({ stack: args.stack, kind, from: leader?.name ?? null, to: target, timings: steps }) + "\n",
        );
}

/**
 * Rejoin under Patroni: a stopped member is started (Patroni rewinds it onto the leader by itself);
 * one that does not stream within a minute, or a running one asked to rejoin, is reinitialised
 * (POST /reinitialize on that member: its data is wiped and cloned from the leader).
 */
export async function patroniRejoin(args: CommonArgs, node: string, log: Log): Promise<void> {
    const started = Date.now();
    const steps: Step[] = [];
    const mark = (step: string) => {
        steps.push({ step, ms: Date.now() - started });
        log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${step}`);
    };
    const target = await container(args.stack, node);
    let method = "rewind";
    const streaming = (c: PatroniCluster) => {
        const m = c.members.find((x) => x.name === node);
        return m?.state === "streaming" && m.role !== "leader" ? true : describe(c);
    };
    if (!target.running) {
        const res = await execProgram(["docker", "start", target.container], 60_000);
        if (res.code !== 0) throw new Error(`docker start ${target.container}: ${res.stderr.trim()}`);
        mark(`${node} started; Patroni rewinds it onto the leader`);
        try {
            await waitCluster(args.stack, `${node} streaming`, 60_000, streaming);
        } catch {
            method = "reinitialize";
        }
    } else {
        method = "reinitialize";
    }
    if (method === "reinitialize") {
        const { cluster } = await patroniCluster(args.stack);
        if (cluster.members.find((m) => m.name === node)?.role === "leader")
            throw new Error(`refusing to reinitialise ${node}: it is the leader`);
        const res = await patroniRest(
            target.container,
            { method: "POST", path: "/reinitialize", body: { force: true }, timeoutSeconds: 30 },
            60_000,
        );
        if (res.status !== 200)
            throw new Error(
                `Patroni refused to reinitialise ${node} (HTTP ${res.status}): ${JSON.stringify(res.body)}`,
            );
        mark(`${node} reinitialising (cloned from the leader)`);
        await waitCluster(args.stack, `${node} streaming`, 300_000, streaming);
    }
    mark(`${node} streaming from the leader (${method})`);
    if (args.json) process.stdout.write(JSON.stringify({ stack: args.stack, node, method, timings: steps }) + "\n");
}
