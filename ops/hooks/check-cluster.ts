// Post-deploy replication checks. Run by the cluster's checks command resource with
// PGR_CHECK_SPEC (JSON, see model/check-spec.ts), PGPASSWORD (the superuser's) and, with tls
// required, PGR_TLS_CA (the stack's CA certificate) in its environment; prints the JSON report on stdout, or names the failed check and node on stderr.
import { CheckSpec } from "../../model/check-spec";
import { CheckFailure, runChecks } from "../checks";
import { command, runCommand } from "../cli";

const CHECK_CLUSTER = command({
    name: "check-cluster",
    invocation: "node -r ./scripts/register-ts.js ops/hooks/check-cluster.ts",
    synopsis: "(no arguments; PGR_CHECK_SPEC and PGPASSWORD in the environment)",
    description:
        "Runs the deployment's replication checks described by PGR_CHECK_SPEC (JSON, model/check-spec.ts)\n" +
        "with the superuser password in PGPASSWORD and, with tls required, the stack's CA certificate (PEM) in\n" +
        "PGR_TLS_CA, against which every server is verified; prints the JSON report on stdout, or names the failed check\n" +
        "and node on stderr (exit 1). The cluster's checks command resource runs it after every deployment.",
    options: {},
    examples: [
        `PGR_CHECK_SPEC="$(cat spec.json)" PGPASSWORD=secret node -r ./scripts/register-ts.js ops/hooks/check-cluster.ts`,
    ],
});

async function main(): Promise<void> {
    CHECK_CLUSTER.parse(process.argv.slice(2));
    const specText = process.env.PGR_CHECK_SPEC;
    const password = process.env.PGPASSWORD;
    if (!specText || password === undefined) {
        throw new Error("PGR_CHECK_SPEC and PGPASSWORD must be set");
    }
    try {
        const report = await runChecks(JSON.parse(specText) as CheckSpec, {
            password,
            ca: process.env.PGR_TLS_CA || undefined,
        });
        process.stdout.write(JSON.stringify(report) + "\n");
    } catch (err) {
        if (err instanceof CheckFailure) {
            process.stderr.write(`pg-replication: ${err.message}\n${JSON.stringify(err.report)}\n`);
            process.exit(1);
        }
        throw err;
    }
}

runCommand(CHECK_CLUSTER, main, (err) => {
    process.stderr.write(`pg-replication: checks could not run: ${err.message}\n`);
    return 1;
});
