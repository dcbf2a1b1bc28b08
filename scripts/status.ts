// npm run status -- [--stack S] [--live] [--json]
// Members, roles, states, timelines, lag, and which node each endpoint reaches, in both failover modes.
import { clusterStatus, formatStatus, STATUS_EXIT, statusExit } from "../ops/status";
import { readLogin, SuperuserLogin } from "../ops/login";
import { command, runCommand } from "../ops/cli";
import { COMMON_OPTIONS, parseArgs, stackConfig, upCommand } from "../ops/topology-change";

const STATUS = command({
    name: "status",
    synopsis: "[--stack S] [--live] [--json]",
    description:
        "Shows every member of the cluster with its role (Patroni's roles under failover=patroni: leader,\n" +
        "sync_standby, quorum_standby, replica), state, timeline and replay lag in bytes, and which node the\n" +
        "read-write and read-only endpoints reach now. Exits 1, with a PROBLEM line and its next step each, on\n" +
        "split brain, no primary, a node that may run but does not say whether it accepts writes, or failing\n" +
        "WAL archiving; exits 2 when the cluster cannot be read at all (no such stack, no Docker engine), as lag does.",
    options: COMMON_OPTIONS,
    examples: ["npm run status -- --stack local --live --json"],
});

runCommand(
    STATUS,
    async () => {
        const args = parseArgs(STATUS, process.argv.slice(2));
        const cfg = stackConfig(args);
        let login: SuperuserLogin | undefined;
        try {
            login = readLogin(args);
        } catch {
            login = undefined;
        }
        const status = await clusterStatus(args.stack, cfg, login, upCommand(args));
        process.stdout.write((args.json ? JSON.stringify(status) : formatStatus(status)) + "\n");
        return statusExit(status);
    },
    (err) => {
        process.stderr.write(`status: ${err.message}\n`);
        return STATUS_EXIT.unreadable;
    },
);
