// Post-deploy replication checks. Run by the cluster's checks command resource with
// PGR_CHECK_SPEC (JSON, see infra/check-spec.ts) and PGPASSWORD (the superuser's) in its
// environment; prints the JSON report on stdout, or names the failed check and node on stderr.
import { CheckFailure, runChecks } from "./lib/checks";

async function main(): Promise<void> {
    const specText = process.env.PGR_CHECK_SPEC;
    const password = process.env.PGPASSWORD;
    if (!specText || password === undefined) {
        throw new Error("PGR_CHECK_SPEC and PGPASSWORD must be set");
    }
    try {
        const report = await runChecks(JSON.parse(specText), password);
        process.stdout.write(JSON.stringify(report) + "\n");
    } catch (err) {
        if (err instanceof CheckFailure) {
            process.stderr.write(`pg-replication: ${err.message}\n${JSON.stringify(err.report)}\n`);
            process.exit(1);
        }
        throw err;
    }
}

main().catch((err: Error) => {
    process.stderr.write(`pg-replication: checks could not run: ${err.message}\n`);
    process.exit(1);
});
