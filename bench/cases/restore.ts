// restore: a restore into a new stack (issue 17) against a bare restore of the same repository, in the same run.
// A source stack (manual mode, backups on, no replica) holds a pgbench database of scale 50 and a full
// backup of it; then, interleaved, run by run:
// - ours: `npm run live -- up` of a new stack with `restoreFrom` = the source and the default target
//   (latest), no replica, up to verified checks: the preflight that reads the source's repository, the
//   repository container, the bootstrap node's pgBackRest restore, replay and promotion, the new stack's
//   first backup into its own repository, the checks (then `down`, not timed);
// - bound: a fresh container of the same image with the source's repository volume (read-only) and the
//   same pgBackRest configuration (encrypted repository, process-max 2): `pgbackrest --stanza=main
//   restore`, then `pg_ctl start` (its socket only) until `pg_is_in_recovery()` is false, i.e. the server
//   accepts connections after its promotion at the end of the archived WAL (then removed, not timed).
import { alternate, CaseContext, PORT_BARE, PORT_OURS, SUBNET_BARE, SUBNET_OURS } from "../context";
import { OursOptions, liveArgv, oursCluster, oursDown, oursUp } from "../clusters";
import { IMAGE, removeByPrefix, ROOT } from "../host";
import { execOrFail, execProgram, psql } from "../../ops/cluster-discovery";
import { takeBackup } from "../../ops/backups";
import { renderRestoreSourceConf, RESTORE_SOURCE_PATH } from "../../model/restore";
import { PATHS, STANZA } from "../../model/topology";

/** pgbench scale of the database restored (issue 17: at least 50, about 750 MB). */
const SCALE = 50;
/** Issue 17's goal for the ratio. */
const GOAL = 1.3;

/** pg_controldata's lines of the settings recovery checks against the primary's, as postgresql.conf lines. */
const CONTROL_SETTINGS = [
    ["max_connections", "max_connections"],
    ["max_worker_processes", "max_worker_processes"],
    ["max_wal_senders", "max_wal_senders"],
    ["max_prepared_xacts", "max_prepared_transactions"],
    ["max_locks_per_xact", "max_locks_per_transaction"],
]
    .map(([control, setting]) => `/^${control} setting/ { print "${setting} = " $2 }`)
    .join(" ");

/**
 * The bare restore, run as postgres in a fresh container: the configuration (with the passphrase) from
 * standard input, the restore, a postgresql.conf of its own in place of the restored one (that one only
 * includes the source's /etc/pg-replication/postgresql.conf, which this container has not),
 * then the server on its socket until the promotion.
 */
const BARE_SCRIPT = [
    "set -e",
    "umask 077",
    "cat > /tmp/source.conf",
    `pgbackrest --config=/tmp/source.conf --stanza=${STANZA} restore`,
    // The settings a standby may not have lower than its primary, from the restored control file;
    // PostgreSQL's defaults for everything else.
    `pg_controldata ${PATHS.dataDir} | awk -F': *' '${CONTROL_SETTINGS}' > ${PATHS.dataDir}/postgresql.conf`,
    `pg_ctl -D ${PATHS.dataDir} -w -t 600 -o "-c listen_addresses=''" -l /tmp/pg.log start >/dev/null || { cat /tmp/pg.log >&2; exit 1; }`,
    `until [ "$(psql -XAtqc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do`,
    `pg_ctl -D ${PATHS.dataDir} status >/dev/null || { cat /tmp/pg.log >&2; exit 1; }`,
    "sleep 0.1",
    "done",
].join("\n");

/** Seconds a bare restore took, from `docker run` to the promoted server answering. */
async function bareRestore(source: string, container: string, cipherPass: string): Promise<number> {
    const started = performance.now();
    const res = await execProgram(
        [
            "docker",
            "run",
            "-i",
            "--name",
            container,
            "-u",
            "postgres",
            "--network",
            "none",
            "-v",
            `${source}-backup-repo:${RESTORE_SOURCE_PATH}:ro`,
            // A volume of its own for the data, as the nodes have (not the container's overlay layer).
            "-v",
            PATHS.dataDir,
            "--entrypoint",
            "sh",
            IMAGE,
            "-c",
            BARE_SCRIPT,
        ],
        900_000,
        { stdin: renderRestoreSourceConf(cipherPass) },
    );
    const took = (performance.now() - started) / 1000;
    if (res.code !== 0) throw new Error(`bare restore exited ${res.code}: ${res.stderr.trim().slice(-1500)}`);
    await execOrFail(["docker", "rm", "-f", "-v", container], 120_000);
    return took;
}

/** The source's passphrase (its output), given to the restored stack as the docs say (config set --secret). */
async function sharePassphrase(source: string, restored: string): Promise<string> {
    const out = await execOrFail(
        liveArgv(["output", "backupCipherPass", "--stack", source, "--show-secrets"]),
        60_000,
        { cwd: ROOT },
    );
    const pass = out.stdout.trim();
    await execOrFail(liveArgv(["config", "set", "--secret", "restoreCipherPass", "--stack", restored]), 60_000, {
        cwd: ROOT,
        stdin: pass,
    });
    return pass;
}

/** The source: up, pgbench -i, a full backup of it, its last segment switched out so both sides replay the same WAL. */
async function prepareSource(ctx: CaseContext, src: OursOptions): Promise<void> {
    await ctx.phases.time("source: live up (backups on, no replica)", () => oursUp(src, ctx.log));
    const primary = oursCluster(src).container(1);
    await ctx.phases.time(`source: pgbench -i -s ${SCALE}`, () =>
        execOrFail(
            ["docker", "exec", "-u", "postgres", primary, "pgbench", "-i", "-q", "-s", String(SCALE), "postgres"],
            900_000,
        ),
    );
    await ctx.phases.time("source: full backup", () => takeBackup(src.stack, "full"));
    await psql(primary, "SELECT pg_switch_wal()", 30_000);
    ctx.log(`    database: ${await psql(primary, "SELECT pg_size_pretty(pg_database_size('postgres'))")}`);
}

export async function restore(ctx: CaseContext): Promise<void> {
    const src: OursOptions = {
        stack: `${ctx.prefix}ours`,
        subnet: SUBNET_OURS,
        portBase: PORT_OURS,
        pooler: false,
        extra: ["replicas=0"],
    };
    const dst: OursOptions = {
        stack: `${ctx.prefix}restored`,
        subnet: SUBNET_BARE,
        portBase: PORT_BARE,
        pooler: false,
        extra: ["replicas=0", `restoreFrom=${src.stack}`],
    };
    const ours: number[] = [];
    const bound: number[] = [];
    try {
        await prepareSource(ctx, src);
        const pass = await sharePassphrase(src.stack, dst.stack);
        for (let run = 1; run <= ctx.args.runs; run++) {
            for (const side of alternate(run, "ours", "bound")) {
                if (side === "ours") {
                    ours.push(
                        (await ctx.phases.time(`ours: live up restoring ${src.stack} (run ${run})`, () =>
                            oursUp(dst, ctx.log),
                        )) / 1000,
                    );
                    await ctx.phases.time("ours: live down", () => oursDown(dst.stack));
                } else
                    bound.push(
                        await ctx.phases.time(`bound: pgbackrest restore + start (run ${run})`, () =>
                            bareRestore(src.stack, `${ctx.prefix}bare`, pass),
                        ),
                    );
            }
            ctx.log(
                `    run ${run}: restore into a new stack ${ours.at(-1)?.toFixed(1)} s vs bare restore + start ${bound.at(-1)?.toFixed(1)} s`,
            );
        }
    } finally {
        if (!ctx.args.keep) await ctx.phases.time("teardown", () => removeByPrefix(ctx.prefix));
    }
    ctx.figures.push({
        figure: `restore: into a new stack up to verified checks, pgbench scale ${SCALE} (goal at most ${GOAL}x)`,
        unit: "s",
        better: "lower",
        ours,
        bound,
        boundIs: `a fresh container of the same image with the source's repository volume and pgBackRest configuration: pgbackrest --stanza=${STANZA} restore, pg_ctl start, until pg_is_in_recovery() is false (no checks, no new repository, no backup)`,
        note: "ours: npm run live -- up of a new stack with restoreFrom (target latest), no replica: preflight, repository container, restore, replay, promotion, the new stack's first full backup, checks",
    });
}
