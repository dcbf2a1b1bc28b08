// Applies the stack's `settings` to a running cluster online; run by the stack program's settings
// command resource on create and whenever `settings` changes (PGR_CLUSTER = the stack, PGR_SETTINGS =
// the wanted settings as JSON, PULUMI_COMMAND_STDOUT = what the last run printed: the settings
// applied then). failover=manual: ALTER SYSTEM on every node (ops/settings-online.ts);
// PGR_FAILOVER=patroni: Patroni's dynamic configuration (ops/settings-patroni.ts, with
// PGR_OWN_PARAMETERS, the parameters pg-replication sets itself). Prints the applied settings as JSON.
import { command, runCommand } from "../cli";
import { dockerSql, execProgram, pickPrimary, ProbedNode, probeNodes } from "../cluster-discovery";
import { dockerArgv } from "../engines";
import { waitFor } from "../ops";
import { applyOnNode, inversePlan, NodeOutcome, SettingsPlan, settingsPlan } from "../settings-online";
import { applyPatroniSettings } from "../settings-patroni";

const APPLY_SETTINGS = command({
    name: "apply-settings",
    invocation: "node -r ./scripts/register-ts.js ops/hooks/apply-settings.ts",
    synopsis: "(no arguments; PGR_CLUSTER and PGR_SETTINGS in the environment)",
    description:
        "Applies PGR_SETTINGS (JSON: parameter → value) to every node of cluster PGR_CLUSTER online: ALTER SYSTEM\n" +
        "and a reload, replicas first (with PGR_FAILOVER=patroni: Patroni's dynamic configuration, restarts\n" +
        "through its REST API). Restarts the replicas whose new values wait for a restart, one at a time, each\n" +
        "running again before the next; never restarts the primary of a running cluster: then exits 1 with the\n" +
        "switchover that applies it. A value the server refuses is rolled back. The stack program runs it.",
    options: {},
    examples: [
        `PGR_CLUSTER=dev PGR_SETTINGS='{"work_mem":"64MB"}' node -r ./scripts/register-ts.js ops/hooks/apply-settings.ts`,
    ],
});

/** The settings the last run applied, from what it printed; {} for a first run. */
function previousSettings(stdout: string | undefined): Record<string, string> {
    if (!stdout || stdout.trim() === "") return {};
    return (JSON.parse(stdout) as { settings?: Record<string, string> }).settings ?? {};
}

/** Restarts a replica and waits until it streams again; throws (touching no other node) when it does not. */
async function restartReplica(stack: string, r: ProbedNode): Promise<void> {
    const res = await execProgram(dockerArgv(r.container, ["restart", "-t", "60", r.container]), 120_000);
    if (res.code !== 0) throw new Error(`docker restart ${r.container}: ${res.stderr.trim()}`);
    await waitFor(`${r.node} streaming again after its restart`, 300_000, async () => {
        const n = (await probeNodes(stack)).find((x) => x.node === r.node);
        return n?.inRecovery === true && n.walReceiver === "streaming" ? true : `${n?.walReceiver ?? "not answering"}`;
    }).catch((err: Error) => {
        throw new Error(
            `${err.message}. Stopped before touching another node; its log says why: docker logs --tail 50 ${r.container}`,
        );
    });
}

/** Applies the plan node by node, replicas first; undoes it everywhere it went when a node refuses it. */
async function applyEverywhere(
    order: ProbedNode[],
    plan: SettingsPlan,
    previous: Record<string, string>,
): Promise<NodeOutcome[]> {
    const outcomes: NodeOutcome[] = [];
    for (const n of order) {
        const outcome = await applyOnNode(dockerSql, n, plan);
        if (outcome.errors.length > 0) {
            const undo = inversePlan(plan, previous);
            for (const done of order.slice(0, outcomes.length + 1)) await applyOnNode(dockerSql, done, undo);
            throw new Error(
                `${n.node} refused the new settings (${outcome.errors.join("; ")}); rolled back to the previous ` +
                    `settings on ${order
                        .slice(0, outcomes.length + 1)
                        .map((x) => x.node)
                        .join(", ")}`,
            );
        }
        outcomes.push(outcome);
    }
    return outcomes;
}

async function main(): Promise<number> {
    APPLY_SETTINGS.parse(process.argv.slice(2));
    const stack = process.env.PGR_CLUSTER ?? "";
    const desired = JSON.parse(process.env.PGR_SETTINGS ?? "{}") as Record<string, string>;
    const previous = previousSettings(process.env.PULUMI_COMMAND_STDOUT);
    const plan = settingsPlan(previous, desired);
    const done = () => {
        process.stdout.write(JSON.stringify({ settings: desired }) + "\n");
        return 0;
    };
    // Nothing asked and nothing to undo: no node need be asked anything.
    if (Object.keys(desired).length === 0 && plan.reset.length === 0) return done();
    if (process.env.PGR_FAILOVER === "patroni") {
        const own = JSON.parse(process.env.PGR_OWN_PARAMETERS ?? "[]") as string[];
        const newCluster = process.env.PULUMI_COMMAND_STDOUT === undefined;
        const leaderWaits = await applyPatroniSettings(stack, desired, own, newCluster, (line) =>
            process.stderr.write(line + "\n"),
        );
        if (leaderWaits === null) return done();
        process.stderr.write(`pg-replication: ${leaderWaits}.\n`);
        return 1;
    }

    const nodes = await probeNodes(stack);
    const primary = pickPrimary(stack, nodes) as ProbedNode; // fails closed: split brain, unknown roles
    const replicas = nodes.filter((n) => n.running && n.inRecovery === true);
    const outcomes = await applyEverywhere([...replicas, primary], plan, previous);
    const pending = (node: string) => outcomes.find((o) => o.node === node)?.pendingRestart ?? [];

    for (const r of replicas) {
        if (pending(r.node).length === 0) continue;
        process.stderr.write(`pg-replication: restarting ${r.node} for ${pending(r.node).join(", ")}\n`);
        await restartReplica(stack, r);
    }
    const onPrimary = pending(primary.node);
    if (onPrimary.length > 0) {
        const target = replicas.find((r) => r.walReceiver === "streaming");
        const how = target
            ? `npm run switchover -- --stack ${stack} --to ${target.node} (add --live for a live-harness stack) ` +
              `restarts it as a replica without losing a commit (the replicas run the new values already)`
            : `with no replica to switch over to, only a restart applies it: docker restart ${primary.container} (writes stop while it restarts)`;
        process.stderr.write(
            `pg-replication: settings applied on every node, but ${onPrimary.join(", ")} take${onPrimary.length === 1 ? "s" : ""} ` +
                `effect on the primary ${primary.node} only after a restart, which a deployment never does to a primary: ${how}; ` +
                "then run pulumi up again.\n",
        );
        return 1;
    }
    return done();
}

runCommand(APPLY_SETTINGS, main, (err) => {
    process.stderr.write(`pg-replication: settings not applied: ${err.message}\n`);
    return 1;
});
