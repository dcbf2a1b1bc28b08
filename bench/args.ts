// Command line of `npm run bench`: the shared parser (ops/cli.ts); every usage error names the argument.
import { checkedOption, command, integerOption, UsageError } from "../ops/cli";

export const CASES = [
    "provision",
    "sync-cost",
    "lag",
    "failover",
    "reads",
    "tls-cost",
    "backup",
    "restore",
    "hosts",
] as const;
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

/** `npm run bench`'s command line, declared once (ops/cli.ts): its --help and its parser. */
export const BENCH = command({
    name: "bench",
    synopsis: "<case> [--runs N] [--duration S] [--mode manual|patroni] [--out DIR] [--json] [--keep]",
    description: `Measures one case on the local image (pg-replication/postgres:17-local) against a lower bound measured in the
same run, interleaved (ours, bare, ours, bare, ...), and prints every figure as a ratio to it.

cases:
  provision   nothing -> verified cluster: \`npm run live -- up\` (primary + 2 replicas, checks on, pooler off),
              then \`down\`, against docker run + pg_basebackup with trust auth and no checks; --mode patroni:
              failover=patroni with its HAProxy endpoints, in the defaults and with tls=off backups=false,
              against raw Patroni (docker run of 3 etcd + 3 Patroni + HAProxy, same image and timings, until 2
              replicas stream and a write through HAProxy succeeds; then docker rm -f + volume rm)
  sync-cost   pgbench -c4 -j2 -T<duration> scale 10: tps and p99 latency in async, sync ANY 1, sync FIRST 1,
              remote_write, remote_apply (switched with ALTER SYSTEM on the primary), ours / bare
  lag         replay lag per replica sampled every 100 ms under a pgbench write load (-c4 -j2 -T<duration>):
              p50, p99, max in bytes and seconds, ours / bare; writes a PNG plot next to the JSON
  failover    docker kill of the primary under a writer, then \`npm run failover -- --to <best replica> --live\`,
              against pg_promote() on the same replica with no fencing or checks: time to first acknowledged
              write, time to all replicas streaming, acknowledged commits lost; --mode patroni: docker kill of
              the leader of a failover=patroni stack and nothing else (Patroni elects), writes through the
              read-write endpoint, against the same kill of raw Patroni's leader (one cluster per side, one
              kill per run, per-kill times printed), plus pg_promote() as an extra row
  reads       read-only pgbench (-S -c4 -j2 -T<duration>, sslmode=require) through the read-only PgBouncer
              endpoint (hostPortBase+11) against the same 4 clients split across the 2 replicas directly (two
              pgbench -c2 -j1 at once); also against the primary alone, and a bench-only HAProxy in TCP mode
              over the replicas against direct
  tls-cost    tls: required against tls: off, both ours: provisioning (live up), and pgbench -c4 -j2 -T<duration>
              tps and p99 latency in sync ANY 1 to the primary (PGSSLMODE=require against disable)
  backup      pgbench scale 50: a full backup against pg_basebackup (tar, zstd) of the same primary; an
              incremental of the unchanged database against 3 s; the archive's backlog in WAL segments under
              pgbench -c4 -j2 -T<duration> against 2; once: the repository over 21 scaled days (48 MiB of WAL
              each, default schedule and retention) against what the old cp archive would hold
  restore     pgbench scale 50: \`npm run live -- up\` of a new stack restored from the source's repository (no
              replica) up to verified checks, against pgbackrest restore + start in a fresh container
  hosts       three simulated Docker hosts (scripts/sim-hosts.sh): the leader's host cut off under a writer through
              another host's read-write endpoint, first acknowledged write against patroniTtl + 3 s; provisioning
              across the hosts against the same stack (failover=patroni, sync) on one engine; pgbench -c4 -j2
              -T<duration> tps and p99 in sync ANY 1 with 2 ms added to every host's outgoing packets
              (sim-hosts.sh delay 2) against a bare primary + 2 standbys started by hand on the same hosts`,
    options: {
        runs: integerOption("N", "measured runs of each side; medians and spreads are over runs", DEFAULTS.runs, 1, 50),
        duration: integerOption(
            "S",
            "seconds of each pgbench run in sync-cost, lag, reads, tls-cost and hosts, 1..120",
            DEFAULTS.duration,
            1,
            120,
        ),
        mode: checkedOption(
            "M",
            "provision and failover: manual or patroni (--config failover=patroni: Patroni + etcd)",
            DEFAULTS.mode,
            (raw, flag): Mode => {
                if (!(MODES as readonly string[]).includes(raw))
                    throw new UsageError(`${flag} ${JSON.stringify(raw)} is invalid: expected manual or patroni`);
                return raw as Mode;
            },
        ),
        out: checkedOption(
            "DIR",
            "where the JSON lines file and plots go; the paths are printed",
            DEFAULTS.out,
            (raw, flag) => {
                if (raw.trim() === "") throw new UsageError(`${flag} is empty`);
                return raw;
            },
        ),
        json: { type: "boolean", help: "print the JSON lines on stdout (the table then goes to stderr)" },
        keep: {
            type: "boolean",
            help: "keep the clusters of the last run (for inspection; remove with the printed command)",
        },
    },
    positionals: true,
    notes: `Docker objects are named bench-<case>-*, on subnets 172.29.70.0/24 (ours) and 172.29.71.0/24 (bare), host
ports 50432+ (ours) and 50452+ (bare), raw Patroni on 172.29.72.0/24 and 50482-50483; all of them are removed
when the case ends, also on failure.`,
    examples: [
        "npm run bench -- sync-cost --runs 3 --json > sync-cost.jsonl",
        "npm run bench -- failover --mode patroni --runs 10",
    ],
});

/** Parses argv (without node and the script). Throws UsageError naming the argument that is wrong, or
 *  HelpRequest for --help. */
export function parseBenchArgs(argv: string[]): BenchArgs {
    const { values: v, given, positionals } = BENCH.parse(argv);
    const [name, ...extra] = positionals;
    if (name === undefined) throw new UsageError(`missing case: one of ${CASES.join(", ")}`);
    if (!(CASES as readonly string[]).includes(name))
        throw new UsageError(`unknown case ${JSON.stringify(name)}: expected one of ${CASES.join(", ")}`);
    if (extra.length) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}: give one case`);
    if (given.has("mode") && name !== "provision" && name !== "failover")
        throw new UsageError(`--mode applies to provision and failover only, not ${name}`);
    return {
        case: name as CaseName,
        runs: v.runs,
        duration: v.duration,
        mode: v.mode,
        out: v.out,
        json: v.json,
        keep: v.keep,
    };
}
