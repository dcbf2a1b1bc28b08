// Deployment guard, run by the stack program on every `pulumi up` (PGR_CLUSTER = name prefix,
// PGR_PRIMARY = the configured primaryNode). Refuses when a running node other than primaryNode
// accepts writes: deploying then would treat the wrong node as primary (split brain). Prints
// nothing else on stdout than "ok <primaryNode>".
import { command, runCommand } from "./lib/cli";
import { listNodes, psql } from "./lib/cluster-discovery";

const GUARD_PRIMARY = command({
    name: "guard-primary",
    invocation: "node -r ./scripts/register-ts.js scripts/guard-primary.ts",
    synopsis: "(no arguments; PGR_CLUSTER and PGR_PRIMARY in the environment)",
    description:
        "Refuses (exit 1) when a running node of cluster PGR_CLUSTER other than PGR_PRIMARY accepts writes:\n" +
        'deploying then would treat the wrong node as primary. Prints "ok PGR_PRIMARY" otherwise. The stack\n' +
        "program runs it on every pulumi up.",
    options: {},
    examples: ["PGR_CLUSTER=local PGR_PRIMARY=pg1 node -r ./scripts/register-ts.js scripts/guard-primary.ts"],
});

async function main(): Promise<number> {
    GUARD_PRIMARY.parse(process.argv.slice(2));
    const cluster = process.env.PGR_CLUSTER ?? "";
    const configured = process.env.PGR_PRIMARY ?? "";
    const nodes = await listNodes(cluster);
    // Asked all at once: the guard runs before anything else of every `up`.
    const answers = await Promise.all(
        nodes
            .filter((x) => x.running)
            // A node that does not answer (starting, crashed) cannot be a second primary right now.
            .map(async (n) => ({
                node: n.node,
                answer: await psql(n.container, "SELECT pg_is_in_recovery()", 10_000).catch(() => ""),
            })),
    );
    const writable = answers.filter((a) => a.answer === "f").map((a) => a.node);
    const others = writable.filter((n) => n !== configured);
    if (others.length > 0) {
        process.stderr.write(
            `pg-replication: refusing to deploy: ${others.join(", ")} ${others.length === 1 ? "is" : "are"} the running primary ` +
                `but pg-replication:primaryNode is ${configured}. After a failover or switchover record the new primary ` +
                `(pulumi config set primaryNode ${others[0]}; npm run failover does it for you) and deploy again; ` +
                `to make ${configured} primary again use npm run switchover -- --to ${configured}.\n`,
        );
        return 1;
    }
    process.stdout.write(`ok ${configured}\n`);
    return 0;
}

runCommand(GUARD_PRIMARY, main, (err) => {
    process.stderr.write(`pg-replication: primary guard failed: ${err.message}\n`);
    return 1;
});
