// Command line of `npm run bench`: node:util parseArgs, strict, every usage error names the argument.
import { parseArgs } from "node:util";

export const CASES = ["provision", "sync-cost", "lag", "failover", "reads"] as const;
export type CaseName = (typeof CASES)[number];
export const MODES = ["manual", "patroni"] as const;
export type Mode = (typeof MODES)[number];

export interface BenchArgs {
    case: CaseName;
    runs: number;
    json: boolean;
    mode: Mode;
    duration: number;
    out: string;
    keep: boolean;
}

export const DEFAULTS = { runs: 1, duration: 10, out: "bench/results", mode: "manual" as Mode };

export const USAGE = `usage: npm run bench -- <case> [--runs N] [--duration S] [--mode manual|patroni] [--out DIR] [--json] [--keep]

Measures one case on the local image (pg-replication/postgres:17-local) against a lower bound measured in the
same run, interleaved (ours, bare, ours, bare, ...), and prints every figure as a ratio to it.

cases:
  provision   nothing -> verified cluster: \`npm run live -- up\` (primary + 2 replicas, checks on, pooler off),
              then \`down\`, against docker run + pg_basebackup with trust auth and no checks
  sync-cost   pgbench -c4 -j2 -T<duration> scale 10: tps and p99 latency in async, sync ANY 1, sync FIRST 1,
              remote_write, remote_apply (switched with ALTER SYSTEM on the primary), ours / bare
  lag         replay lag per replica sampled every 100 ms under a pgbench write load (-c4 -j2 -T<duration>):
              p50, p99, max in bytes and seconds, ours / bare; writes a PNG plot next to the JSON
  failover    docker kill of the primary under a writer, then \`npm run failover -- --to <best replica> --live\`,
              against pg_promote() on the same replica with no fencing or checks: time to first acknowledged
              write, time to all replicas streaming, acknowledged commits lost; --mode patroni: docker kill of
              the leader of a failover=patroni stack and nothing else (Patroni elects), writes through the
              read-write endpoint
  reads       read-only pgbench (-S -c4 -j2 -T<duration>) through the read-only PgBouncer endpoint
              (hostPortBase+11) against the primary alone

options:
  --runs N          measured runs of each side (default ${DEFAULTS.runs}); medians and spreads are over runs
  --duration S      seconds of each pgbench run in sync-cost, lag and reads (default ${DEFAULTS.duration}, 1..120)
  --mode M          provision and failover: manual (default) or patroni (--config failover=patroni: Patroni + etcd)
  --out DIR         where the JSON lines file and plots go (default ${DEFAULTS.out}); the paths are printed
  --json            print the JSON lines on stdout (the table then goes to stderr)
  --keep            keep the clusters of the last run (for inspection; remove with the printed command)
  -h, --help        this text

Docker objects are named bench-<case>-*, on subnets 172.29.70.0/24 (ours) and 172.29.71.0/24 (bare), host
ports 50432+ (ours) and 50452+ (bare); all of them are removed when the case ends, also on failure.

example:
  npm run bench -- sync-cost --runs 3 --json > sync-cost.jsonl`;

export class UsageError extends Error {}

function positiveInt(name: string, raw: string, min: number, max: number): number {
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
        throw new UsageError(`${name} ${JSON.stringify(raw)} is invalid: expected an integer ${min}..${max}`);
    }
    return Number(raw);
}

/** Parses argv (without node and the script). Returns "help" for --help; throws UsageError naming the
 *  argument that is wrong. */
export function parseBenchArgs(argv: string[]): BenchArgs | "help" {
    let parsed;
    try {
        parsed = parseArgs({
            args: argv,
            allowPositionals: true,
            strict: true,
            tokens: true,
            options: {
                runs: { type: "string" },
                duration: { type: "string" },
                mode: { type: "string" },
                out: { type: "string" },
                json: { type: "boolean" },
                keep: { type: "boolean" },
                help: { type: "boolean", short: "h" },
            },
        });
    } catch (err) {
        const e = err as Error & { code?: string };
        const opt = /'([^']+)'/.exec(e.message)?.[1];
        if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && opt) throw new UsageError(`unknown option ${opt}`);
        throw new UsageError(e.message);
    }
    const seen = new Set<string>();
    for (const t of parsed.tokens ?? []) {
        if (t.kind !== "option") continue;
        if (seen.has(t.name)) throw new UsageError(`option --${t.name} given more than once`);
        seen.add(t.name);
    }
    const v = parsed.values;
    if (v.help) return "help";
    const [name, ...extra] = parsed.positionals;
    if (name === undefined) throw new UsageError(`missing case: one of ${CASES.join(", ")}`);
    if (!(CASES as readonly string[]).includes(name)) throw new UsageError(`unknown case ${JSON.stringify(name)}: expected one of ${CASES.join(", ")}`);
    if (extra.length) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}: give one case`);
    const mode = (v.mode ?? DEFAULTS.mode) as string;
    if (!(MODES as readonly string[]).includes(mode)) throw new UsageError(`--mode ${JSON.stringify(mode)} is invalid: expected manual or patroni`);
    if (v.mode !== undefined && name !== "provision" && name !== "failover") throw new UsageError(`--mode applies to provision and failover only, not ${name}`);
    if (v.out !== undefined && v.out.trim() === "") throw new UsageError("--out is empty");
    return {
        case: name as CaseName,
        runs: v.runs === undefined ? DEFAULTS.runs : positiveInt("--runs", v.runs, 1, 50),
        duration: v.duration === undefined ? DEFAULTS.duration : positiveInt("--duration", v.duration, 1, 120),
        mode: mode as Mode,
        out: v.out ?? DEFAULTS.out,
        json: v.json ?? false,
        keep: v.keep ?? false,
    };
}
