// The day-2 commands under failover=patroni: Patroni moves the roles, through its REST API
// (docs/rest_api.rst: POST /switchover, POST /failover, POST /reinitialize); these wait for the
// result and prove it with the deployment's checks. Nothing is fenced or re-pointed by hand, and
// primaryNode is not rewritten: under Patroni it only names the node that bootstraps.
import { ClusterConfig } from "../model/config";
import { PatroniRequest } from "../model/patroni-rest";
import type { CheckReport } from "./checks";
import { ExecResult, execProgram, ListedNode, listNodes } from "./cluster-discovery";
import { dockerArgv } from "./engines";
import { patroniCluster, PatroniCluster, PatroniMember, patroniRest, PatroniResponse } from "./patroni";
import { waitFor } from "./ops";
import { checkTopology, commandLine, CommonArgs } from "./topology-change";

type Log = (line: string) => void;

/** What the Patroni operations ask of the world outside: Patroni's REST API, Docker, the checks, the waiting. Tests pass a fake. */
export interface PatroniRunner {
    /** GET /cluster from the first running node that answers, with the container asked. */
    cluster(stack: string): Promise<{ container: string; cluster: PatroniCluster }>;
    /** Sends `req` to the REST API of the node in `container`. */
    rest(container: string, req: PatroniRequest, timeoutMs: number): Promise<PatroniResponse>;
    /** The stack's node containers, running or not. */
    listNodes(stack: string): Promise<ListedNode[]>;
    /** Runs a program (`docker start`). */
    exec(argv: string[], timeoutMs: number): Promise<ExecResult>;
    /** The deployment's checks against the new topology; rejects when one fails. */
    checks(
        args: CommonArgs,
        cfg: ClusterConfig,
        primary: string,
        replicas: string[],
    ): Promise<Pick<CheckReport, "checks">>;
    /** Polls `probe` until it says true, or fails after `timeoutMs` with its last answer. */
    wait(what: string, timeoutMs: number, probe: () => Promise<true | string>): Promise<void>;
}

/** The real one: docker exec into the nodes, the real checks, /cluster polled every 500 ms. */
export const DOCKER_PATRONI: PatroniRunner = {
    cluster: patroniCluster,
    rest: patroniRest,
    listNodes,
    exec: (argv, timeoutMs) => execProgram(argv, timeoutMs),
    checks: checkTopology,
    wait: (what, timeoutMs, probe) => waitFor(what, timeoutMs, probe, 500),
};

/** One step's timing, as the manual commands report them. */
interface Step {
    step: string;
    ms: number;
}

/** Polls Patroni's /cluster until `done` says true, or fails with its last answer. */
async function waitCluster(
    run: PatroniRunner,
    stack: string,
    what: string,
    timeoutMs: number,
    done: (c: PatroniCluster) => true | string,
): Promise<PatroniCluster> {
    let seen: PatroniCluster | undefined;
    await run.wait(what, timeoutMs, async () => {
        const { cluster } = await run.cluster(stack);
        const verdict = done(cluster);
        if (verdict === true) seen = cluster;
        return verdict;
    });
    return seen as PatroniCluster;
}

const describe = (c: PatroniCluster) => c.members.map((m) => `${m.name} ${m.role} ${m.state}`).join(", ");
const leaderIs = (name: string) => (c: PatroniCluster) => {
    const leader = c.members.find((m) => m.role === "leader");
    const others = c.members.filter((m) => m.name !== name);
    if (leader?.name !== name || leader.state !== "running") return describe(c);
    return others.every((m) => m.state === "streaming") ? true : describe(c);
};

async function container(
    run: PatroniRunner,
    stack: string,
    node: string,
): Promise<{ container: string; running: boolean }> {
    const found = (await run.listNodes(stack)).find((n) => n.node === node);
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

/** Step timings as the manual commands report them: each logged with the seconds since the start. */
function stepClock(log: Log): { steps: Step[]; mark: (step: string) => void } {
    const started = Date.now();
    const steps: Step[] = [];
    const mark = (step: string) => {
        steps.push({ step, ms: Date.now() - started });
        log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${step}`);
    };
    return { steps, mark };
}

/** The POST a switchover or failover sends to Patroni (docs/rest_api.rst): a switchover names the leader it moves from. */
export function roleChangeRequest(
    kind: "switchover" | "failover",
    leader: string | undefined,
    target: string,
): PatroniRequest {
    const body = kind === "switchover" ? { leader, candidate: target } : { candidate: target };
    return { method: "POST", path: `/${kind}`, body, timeoutSeconds: 60 };
}

/**
 * After Patroni moved the role: a member that died meanwhile is simply missing from /cluster, so name
 * it, and how it comes back. Only those that ran when the change began: a dead leader failed over
 * from was already down.
 */
async function stoppedDuring(
    run: PatroniRunner,
    kind: "switchover" | "failover",
    args: CommonArgs,
    target: string,
    before: ListedNode[],
): Promise<void> {
    const ranBefore = new Set(before.filter((n) => n.running).map((n) => n.node));
    const gone = (await run.listNodes(args.stack)).filter((n) => !n.running && ranBefore.has(n.node));
    if (gone.length > 0)
        throw new Error(
            `${target} leads and every running member streams, but ${gone.map((n) => `${n.node} (${n.container}, ${n.state})`).join(", ")} ` +
                `stopped during the ${kind}; bring ${gone.length === 1 ? "it" : "each"} back as a replica: ` +
                gone.map((n) => commandLine(args, "rejoin", "--node", n.node)).join("; "),
        );
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
    run: PatroniRunner = DOCKER_PATRONI,
): Promise<void> {
    const { steps, mark } = stepClock(log);
    const { container: asked, cluster } = await run.cluster(args.stack);
    const listed = await run.listNodes(args.stack);
    const leader: PatroniMember | undefined = cluster.members.find((m) => m.role === "leader");
    if (leader?.name === target) throw new Error(`refusing to ${kind} to ${target}: it is already the leader`);
    const refusal = roleChangeRefusal(kind, args, cluster, listed, target);
    if (refusal) throw new Error(refusal);
    log(`${kind} of stack ${args.stack} (failover=patroni): ${leader?.name ?? "no leader"} -> ${target}`);
    const res = await run.rest(asked, roleChangeRequest(kind, leader?.name, target), 90_000);
    if (res.status !== 200)
        throw new Error(`Patroni refused the ${kind} to ${target} (HTTP ${res.status}): ${JSON.stringify(res.body)}`);
    mark(`Patroni: ${typeof res.body === "string" ? res.body.trim() : JSON.stringify(res.body)}`);
    await waitCluster(
        run,
        args.stack,
        `${target} leading with every other member streaming`,
        120_000,
        leaderIs(target),
    );
    await stoppedDuring(run, kind, args, target, listed);
    mark(`${target} is the leader; every other member streams`);
    const report = await run.checks(
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

/** Asks Patroni to wipe `node`'s data and clone it from the leader (POST /reinitialize on that member), then waits for it to stream. */
async function reinitialize(
    run: PatroniRunner,
    stack: string,
    node: string,
    target: { container: string },
    streaming: (c: PatroniCluster) => true | string,
    mark: (step: string) => void,
): Promise<void> {
    const { cluster } = await run.cluster(stack);
    if (cluster.members.find((m) => m.name === node)?.role === "leader")
        throw new Error(`refusing to reinitialise ${node}: it is the leader`);
    const res = await run.rest(
        target.container,
        { method: "POST", path: "/reinitialize", body: { force: true }, timeoutSeconds: 30 },
        60_000,
    );
    if (res.status !== 200)
        throw new Error(`Patroni refused to reinitialise ${node} (HTTP ${res.status}): ${JSON.stringify(res.body)}`);
    mark(`${node} reinitialising (cloned from the leader)`);
    await waitCluster(run, stack, `${node} streaming`, 300_000, streaming);
}

/**
 * Rejoin under Patroni: a stopped member is started (Patroni rewinds it onto the leader by itself);
 * one that does not stream within a minute, or a running one asked to rejoin, is reinitialised
 * (POST /reinitialize on that member: its data is wiped and cloned from the leader).
 */
export async function patroniRejoin(
    args: CommonArgs,
    node: string,
    log: Log,
    run: PatroniRunner = DOCKER_PATRONI,
): Promise<void> {
    const { steps, mark } = stepClock(log);
    const target = await container(run, args.stack, node);
    let method = "rewind";
    const streaming = (c: PatroniCluster) => {
        const m = c.members.find((x) => x.name === node);
        return m?.state === "streaming" && m.role !== "leader" ? true : describe(c);
    };
    if (!target.running) {
        const res = await run.exec(dockerArgv(target.container, ["start", target.container]), 60_000);
        if (res.code !== 0) throw new Error(`docker start ${target.container}: ${res.stderr.trim()}`);
        mark(`${node} started; Patroni rewinds it onto the leader`);
        try {
            await waitCluster(run, args.stack, `${node} streaming`, 60_000, streaming);
        } catch {
            method = "reinitialize";
        }
    } else {
        method = "reinitialize";
    }
    if (method === "reinitialize") await reinitialize(run, args.stack, node, target, streaming, mark);
    mark(`${node} streaming from the leader (${method})`);
    if (args.json) process.stdout.write(JSON.stringify({ stack: args.stack, node, method, timings: steps }) + "\n");
}
