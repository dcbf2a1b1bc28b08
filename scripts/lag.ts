// `npm run lag -- [--stack S] [--live] [--watch [--interval SECONDS] [--count N]] [--json]
//                 [--max-lag-bytes B] [--max-lag-seconds S] [--max-reply-age S]`
// Replication lag of a stack's cluster, from the primary's point of view, stalled synchronous
// commits and slot health. See LAG in lib/lag/args.ts.
// Exit status: 0 fine, 1 a breach, 2 usage error or the cluster could not be read.
import { runCommand } from "../ops/cli";
import { collectLag, LAG, LagOptions, LagReport, parseLagArgs, renderTable } from "../ops/lag";
import { stackConfig } from "../ops/topology-change";
import { ConfigError } from "../model/config";
import { HostsProblem } from "../model/hosts";

const EXIT_OK = 0;
const EXIT_BREACH = 1;
const EXIT_ERROR = 2;

/** One check: prints the report (stdout) and the breaches or the error (stderr); returns the exit status. */
async function check(opts: LagOptions, round: number): Promise<number> {
    let report: LagReport;
    try {
        report = await collectLag(opts.stack, opts.thresholds, opts.live);
    } catch (err) {
        process.stderr.write(`lag: cannot read stack ${opts.stack}: ${(err as Error).message}\n`);
        return EXIT_ERROR;
    }
    if (opts.json) {
        // --watch prints one document per line so that a consumer can read it as a stream.
        process.stdout.write((opts.watch ? JSON.stringify(report) : JSON.stringify(report, null, 2)) + "\n");
    } else {
        // Redraw in place on a terminal; keep every round when the output goes to a file or pipe.
        const separator = opts.watch && round > 0 ? (process.stdout.isTTY ? "\x1b[2J\x1b[H" : "\n") : "";
        process.stdout.write(separator + renderTable(report));
        for (const b of report.breaches)
            process.stderr.write(`lag: ${b.severity === "warning" ? "warning" : "breach"}: ${b.message}\n`);
    }
    return report.breaches.length > 0 ? EXIT_BREACH : EXIT_OK;
}

async function main(): Promise<number> {
    const opts = parseLagArgs(process.argv.slice(2));
    try {
        // Across hosts the configuration says which engine runs each of the stack's containers
        // (ops/engines.ts). On one engine lag needs none: the containers' labels say it all, so a stack
        // whose configuration cannot be read here (no Pulumi CLI) is still read from the default engine.
        stackConfig(opts);
    } catch (err) {
        // A configuration that is there but wrong (a malformed `hosts` or `engineTls`, say) would send
        // lag to the wrong engines: it says what is wrong. One that cannot be read at all leaves the
        // discovery below, which fails with what it did not find.
        if (err instanceof ConfigError || err instanceof HostsProblem) {
            process.stderr.write(`lag: ${err.message}\n`);
            return EXIT_ERROR;
        }
    }
    if (!opts.watch) return check(opts, 0);

    // Ctrl-C ends the loop between checks (at once while waiting); the status is the last check's.
    let stopping = false;
    let wake: () => void = () => undefined;
    process.on("SIGINT", () => {
        stopping = true;
        wake();
    });
    let status = EXIT_OK;
    for (let round = 0; !stopping && (opts.count === undefined || round < opts.count); round++) {
        const started = Date.now();
        const result = await check(opts, round);
        if (stopping) break; // an interrupted check (its docker exec got the SIGINT too) does not count
        status = result;
        if (opts.count !== undefined && round + 1 >= opts.count) break;
        const wait = Math.max(0, opts.intervalSeconds * 1000 - (Date.now() - started));
        await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait);
            wake = () => {
                clearTimeout(timer);
                resolve();
            };
        });
    }
    return status;
}

runCommand(LAG, main, (err) => {
    process.stderr.write(`lag: ${err.stack ?? err.message}\n`);
    return EXIT_ERROR;
});
