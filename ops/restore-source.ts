// Whether a restore can reach its target, judged before anything is created: the source
// repository's backups (pgbackrest info) and its newest archived WAL segment. Pure but for
// readSource, which reads the source volume in a throw-away container.
import { ConfigError } from "../model/config";
import { renderRestoreSourceConf, RESTORE_SOURCE_PATH } from "../model/restore";
import { parseRestoreTarget } from "../model/restore-target";
import { STANZA } from "../model/topology";
import { parseLsn } from "../client/lsn";
import { lastBackup, parseInfo, RepositoryInfo } from "./backups";
import { execProgram } from "./cluster-discovery";
import { dockerArgv } from "./engines";

/** The source repository as the preflight sees it. */
export interface SourceRepository {
    info: RepositoryInfo;
    /** The newest archived WAL segment and when it was archived (its file's mtime), if any. */
    newestSegment?: { name: string; archivedAt: Date };
}

const SEGMENT_BYTES = 16 * 1024 * 1024;

/** The LSN just past the end of WAL segment `name` (24 hex digits, 16 MB segments). */
export function segmentEndLsn(name: string): bigint {
    const log = BigInt(`0x${name.slice(8, 16)}`);
    const seg = BigInt(`0x${name.slice(16, 24)}`);
    return log * 0x100000000n + (seg + 1n) * BigInt(SEGMENT_BYTES);
}

/**
 * Why `restoreTarget` cannot be reached from `source`, as the ConfigError the deployment prints;
 * undefined when it can (as far as the repository tells: a time target also needs a commit after it).
 */
export function restoreTargetProblem(from: string, value: string, source: SourceRepository): ConfigError | undefined {
    const usable = source.info.backups.filter((b) => !b.error);
    if (usable.length === 0 || lastBackup(source.info) === undefined)
        return new ConfigError(
            "restoreFrom",
            from,
            `the repository ${from}-backup-repo holds no usable backup to restore`,
        );
    const target = parseRestoreTarget(value);
    const first = usable[0];
    const window = `the restore window is ${first.stoppedAt} (end of the earliest backup, ${first.label}) … ${
        source.newestSegment
            ? `${source.newestSegment.archivedAt.toISOString()} (WAL ${source.newestSegment.name})`
            : "the last archived WAL"
    }`;
    if (target.type === "time") {
        const at = Date.parse(target.target.replace(" ", "T"));
        if (at < Date.parse(first.stoppedAt))
            return new ConfigError("restoreTarget", value, `it is before the end of the earliest backup; ${window}`);
        if (source.newestSegment && at > source.newestSegment.archivedAt.getTime())
            return new ConfigError("restoreTarget", value, `it is after the latest archived WAL; ${window}`);
    }
    if (target.type === "lsn") {
        const lsn = parseLsn(target.target);
        if (lsn < parseLsn(first.lsnStop))
            return new ConfigError(
                "restoreTarget",
                value,
                `it is before the end of the earliest backup (LSN ${first.lsnStop}); ${window}`,
            );
        if (source.newestSegment && lsn >= segmentEndLsn(source.newestSegment.name))
            return new ConfigError("restoreTarget", value, `it is after the latest archived WAL; ${window}`);
    }
    return undefined;
}

/**
 * Reads the source repository through a throw-away container of `image` that mounts its volume
 * read-only; the passphrase goes in on standard input (never an environment or a command line).
 */
export async function readSource(
    from: string,
    image: string,
    cipherPass: string,
    /** The container on whose engine the source's repository volume is read: the one that will mount it. */
    mountedBy: string,
): Promise<SourceRepository> {
    const script = [
        "umask 077",
        "cat > /tmp/source.conf",
        `pgbackrest --config=/tmp/source.conf --stanza=${STANZA} info --output=json`,
        "echo",
        `find ${RESTORE_SOURCE_PATH}/archive/${STANZA} -type f -name '[0-9A-F]*-*' -printf '%T@ %f\\n' 2>/dev/null | sort -n | tail -1`,
    ].join("; ");
    // On the engine of the container that will mount the volume (the bootstrap node), where it must be.
    const res = await execProgram(
        dockerArgv(mountedBy, [
            "run",
            "--rm",
            "-i",
            "-u",
            "postgres",
            "-v",
            `${from}-backup-repo:${RESTORE_SOURCE_PATH}:ro`,
            "--entrypoint",
            "sh",
            image,
            "-c",
            script,
        ]),
        60_000,
        { stdin: renderRestoreSourceConf(cipherPass) },
    );
    if (res.code !== 0) {
        const said = (res.stderr || res.stdout).trim().split("\n").slice(-2).join(" ");
        if (/decrypt|cipher|passphrase/i.test(said))
            throw new ConfigError("restoreCipherPass", "[secret]", `it does not open ${from}'s repository: ${said}`);
        throw new ConfigError("restoreFrom", from, `its repository ${from}-backup-repo cannot be read: ${said}`);
    }
    const lines = res.stdout.trim().split("\n");
    const newest = lines.pop();
    const json = lines.join("\n");
    // A wrong passphrase: the info files decrypt to garbage, which pgBackRest quotes raw into its
    // JSON (invalid JSON) with status 99 "unable to load info file".
    if (/unable to load info file/.test(json))
        throw new ConfigError(
            "restoreCipherPass",
            "[secret]",
            `it does not open ${from}'s repository (pgBackRest cannot read its info files with it): use the source's output backupCipherPass`,
        );
    const m = /^(\d+)(?:\.\d+)? ([0-9A-F]{24})/.exec(newest ?? "");
    return {
        info: parseInfo(json),
        newestSegment: m ? { name: m[2], archivedAt: new Date(Number(m[1]) * 1000) } : undefined,
    };
}
