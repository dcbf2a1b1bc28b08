// Restore preflight, run by the stack program (an invoke) on every `pulumi up` and preview of a stack
// with restoreFrom, before anything is declared: refuses a source repository that is missing, that
// the passphrase (standard input) does not open or that holds no backup, and a restoreTarget outside
// its restore window. Nothing once the stack's bootstrap node has data (the restore is done).
// Prints "ok …" on stdout.
import { command, runCommand } from "../cli";
import { execProgram } from "../cluster-discovery";
import { dockerArgv } from "../engines";
import { readSource, restoreTargetProblem } from "../restore-source";
import { ConfigError } from "../../model/config";

const CHECK_RESTORE_SOURCE = command({
    name: "check-restore-source",
    invocation: "node -r ./scripts/register-ts.js ops/hooks/check-restore-source.ts",
    synopsis:
        "(no arguments; PGR_STACK, PGR_RESTORE_FROM, PGR_RESTORE_TARGET, PGR_BOOTSTRAP_VOLUME, PGR_IMAGE in the environment, " +
        "across hosts PGR_BOOTSTRAP_NODE, PGR_BOOTSTRAP_HOST and the engine map; the passphrase on stdin)",
    description:
        "Refuses (exit 1, naming the config key) a restore whose source repository volume PGR_RESTORE_FROM-backup-repo\n" +
        "is not on the bootstrap node's Docker engine, does not open with the passphrase, or holds no backup, and a\n" +
        "PGR_RESTORE_TARGET before the end of its earliest backup or after its latest archived WAL. Prints\n" +
        '"ok bootstrapped" without looking when volume PGR_BOOTSTRAP_VOLUME exists (the restore is done).',
    options: {},
    examples: [
        'printf %s "$PASS" | PGR_STACK=new PGR_RESTORE_FROM=old PGR_RESTORE_TARGET=latest PGR_BOOTSTRAP_VOLUME=new-pg1-data PGR_IMAGE=pg-replication/postgres:17-local node -r ./scripts/register-ts.js ops/hooks/check-restore-source.ts',
    ],
});

function env(name: string): string {
    const v = process.env[name];
    if (v === undefined) throw new Error(`${name} is not set`);
    return v;
}

/** Whether volume `name` exists on the engine of `container` (ops/engines.ts), the container that mounts it. */
async function volumeExists(name: string, container: string): Promise<boolean> {
    return (await execProgram(dockerArgv(container, ["volume", "inspect", name]), 20_000)).code === 0;
}

/**
 * The refusal when the source's repository volume is not on the bootstrap node's engine: on one
 * engine, that it does not exist; across hosts (PGR_BOOTSTRAP_HOST), where to place the node instead.
 */
function volumeElsewhere(from: string): ConfigError {
    const volume = `${from}-backup-repo`;
    const host = process.env.PGR_BOOTSTRAP_HOST ?? "";
    if (host === "")
        return new ConfigError(
            "restoreFrom",
            from,
            `there is no backup repository volume ${volume} on this Docker engine ` +
                "(docker volume ls --filter name=backup-repo lists the ones there)",
        );
    const node = process.env.PGR_BOOTSTRAP_NODE ?? "the bootstrap node";
    return new ConfigError(
        "restoreFrom",
        from,
        `there is no backup repository volume ${volume} on host ${host}'s engine, where ${node} (the bootstrap ` +
            `node, which restores from it) runs: place ${node} on the host that holds it (placement {"${node}": "<host>"}; ` +
            `docker -H <engine> volume ls --filter name=backup-repo lists a host's)`,
    );
}

function readStdin(): Promise<string> {
    return new Promise((resolve) => {
        const chunks: Buffer[] = [];
        process.stdin.on("data", (c: Buffer) => chunks.push(c));
        process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8").trim()));
    });
}

runCommand(
    CHECK_RESTORE_SOURCE,
    async () => {
        CHECK_RESTORE_SOURCE.parse(process.argv.slice(2));
        const from = env("PGR_RESTORE_FROM");
        // The bootstrap node's data volume is `<container>-data` (infra/node.ts), on that container's engine.
        const bootstrap = env("PGR_BOOTSTRAP_VOLUME");
        const bootstrapContainer = bootstrap.replace(/-data$/, "");
        if (await volumeExists(bootstrap, bootstrapContainer)) {
            process.stdout.write("ok bootstrapped\n");
            return;
        }
        // The source repository's volume is `<container>-repo` (infra/backup-repository.ts). The
        // bootstrap node mounts it, so it must be on that node's engine: Docker would make an empty
        // one of that name anywhere else.
        if (!(await volumeExists(`${from}-backup-repo`, bootstrapContainer))) throw volumeElsewhere(from);
        const source = await readSource(from, env("PGR_IMAGE"), await readStdin(), bootstrapContainer);
        const problem = restoreTargetProblem(from, env("PGR_RESTORE_TARGET"), source);
        if (problem) throw problem;
        process.stdout.write(`ok ${from}\n`);
    },
    (err) => {
        process.stderr.write(`pg-replication: refusing to restore: ${err.message}. Nothing was created.\n`);
        return 1;
    },
);
