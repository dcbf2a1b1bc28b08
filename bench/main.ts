// npm run bench -- <case> [--runs N] [--json] …: one benchmark case against a lower bound measured in
// the same run, interleaved. Progress and the table on stderr (the table on stdout without --json),
// one JSON line per figure on stdout with --json and always in <out>/<case>-<time>.jsonl.
import * as fs from "fs";
import * as path from "path";
import { runCommand } from "../ops/cli";
import { BENCH, BenchArgs, CaseName, parseBenchArgs } from "./args";
import { CaseContext } from "./context";
import { backup } from "./cases/backup";
import { failover } from "./cases/failover";
import { failoverPatroni } from "./cases/failover-patroni";
import { lag } from "./cases/lag";
import { provision } from "./cases/provision";
import { reads } from "./cases/reads";
import { restore } from "./cases/restore";
import { hosts } from "./cases/hosts";
import { syncCost } from "./cases/sync-cost";
import { tlsCost } from "./cases/tls-cost";
import { figureLine, Phases, table } from "./report";
import { execProgram } from "../ops/cluster-discovery";
import { BENCH_TIMEOUT_MS, IMAGE, machine, removeByPrefix } from "./host";

const CASES: Record<CaseName, (ctx: CaseContext) => Promise<void>> = {
    provision,
    "sync-cost": syncCost,
    lag,
    // --mode patroni measures Patroni's own failover against the same bare promotion.
    failover: (ctx) => (ctx.args.mode === "patroni" ? failoverPatroni(ctx) : failover(ctx)),
    reads,
    "tls-cost": tlsCost,
    backup,
    restore,
    hosts,
};

const log = (line: string) => process.stderr.write(line + "\n");

async function main(args: BenchArgs): Promise<number> {
    const image = await execProgram(["docker", "image", "inspect", IMAGE, "-f", "{{.Id}}"], BENCH_TIMEOUT_MS);
    if (image.code !== 0) {
        log(`bench: ${IMAGE} is missing (or no Docker engine answers): run npm run build-image`);
        return 1;
    }
    const prefix = `bench-${args.case}-`;
    const date = new Date();
    const stamp = date
        .toISOString()
        .replace(/[:.]/g, "-")
        .replace(/-\d\dZ$/, "Z");
    fs.mkdirSync(args.out, { recursive: true });
    const outBase = path.join(args.out, `${args.case}${args.mode === "patroni" ? "-patroni" : ""}-${stamp}`);
    const phases = new Phases(log);
    const ctx: CaseContext = { args, prefix, log, phases, figures: [], outBase, artifacts: [], notes: [] };

    let interrupted = false;
    const onSignal = () => {
        interrupted = true;
        log(`bench: interrupted; removing ${prefix}* …`);
        void removeByPrefix(prefix).finally(() => process.exit(130));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);

    log(`bench ${args.case}: ${args.runs} run(s) each side, interleaved; objects named ${prefix}*`);
    const m = await machine();
    log(
        `machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, load ${m.loadAvg1m}; node ${m.versions.node}, docker ${m.versions.dockerServer}, PostgreSQL ${m.versions.postgres}`,
    );
    const stale = await removeByPrefix(prefix);
    if (stale.length) log(`removed leftovers of an earlier run: ${stale.join(" ")}`);
    let failed: Error | undefined;
    try {
        await CASES[args.case](ctx);
    } catch (err) {
        failed = err as Error;
    } finally {
        if (!interrupted) {
            if (args.keep && !failed)
                log(
                    `kept the last run's clusters; remove them with: docker rm -f -v $(docker ps -aq --filter name=${prefix}) and the matching volumes/networks`,
                );
            else
                await phases.time("cleanup", async () => {
                    const removed = await removeByPrefix(prefix);
                    if (removed.length) log(`  removed ${removed.length} leftover object(s)`);
                });
        }
    }
    if (failed) {
        log(`bench ${args.case} failed: ${failed.message}`);
        log(phases.summary());
        return 1;
    }
    const lines = ctx.figures.map((f) => figureLine(args.case, f, args.runs, m, date));
    const jsonl = `${outBase}.jsonl`;
    fs.writeFileSync(jsonl, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const text = [
        `bench ${args.case}, ${date.toISOString()}, ${args.runs} run(s) each side, ${m.cores} cores, ${m.memoryGiB} GiB, load ${m.loadAvg1m} at start`,
        `median [min..max] over runs; RATIO = ours / lower bound, per run and of the medians`,
        table(lines),
        ...lines.filter((l) => l.note).map((l) => `note (${l.figure}): ${l.note}`),
        ...ctx.notes.map((n) => `note: ${n}`),
        `lower bound: ${[...new Set(lines.map((l) => l.lowerBound.is))].join(" | ")}`,
    ].join("\n");
    log(phases.summary());
    if (args.json) {
        log(text);
        for (const l of lines) process.stdout.write(JSON.stringify(l) + "\n");
    } else {
        process.stdout.write(text + "\n");
    }
    log(`wrote ${jsonl}`);
    for (const a of ctx.artifacts) log(`wrote ${a}`);
    return 0;
}

runCommand(
    BENCH,
    () => main(parseBenchArgs(process.argv.slice(2))),
    (err) => {
        log(`bench: ${err.stack ?? err.message}`);
        return 1;
    },
);
