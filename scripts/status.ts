// npm run status -- [--stack S] [--live] [--json]
// Members, roles, states, timelines, lag, and which node each endpoint reaches, in both failover modes.
import { clusterStatus, formatStatus } from "./lib/status";
import { readOutputs } from "./lib/stack-config";
import { COMMON_OPTIONS, parseArgs, runMain, stackConfig } from "./lib/topology-change";

const USAGE = `usage: npm run status -- [--stack S] [--live] [--json]

Shows every member of the cluster with its role (Patroni's roles under failover=patroni: leader,
sync_standby, quorum_standby, replica), state, timeline and replay lag in bytes, and which node the
read-write and read-only endpoints reach now.

${COMMON_OPTIONS}

example: npm run status -- --stack local --live --json`;

runMain(async () => {
    const args = parseArgs(process.argv.slice(2), [], USAGE);
    const cfg = stackConfig(args);
    let password: string | undefined;
    try {
        const out = readOutputs(args).superuserPassword;
        password = typeof out === "string" ? out : undefined;
    } catch {
        password = undefined;
    }
    const status = await clusterStatus(args.stack, cfg, password);
    process.stdout.write((args.json ? JSON.stringify(status) : formatStatus(status)) + "\n");
});
