// Backups of a stack, read and taken through its repository container with pgBackRest: the one home
// of what `backup`, `backups`, `status` and the checks know about them. Parsing and judging are
// pure; every command runs through an injected runner, so tests need no Docker.
import { STANZA } from "../model/topology";
import { execProgram, ExecResult } from "./cluster-discovery";
import { dockerArgv } from "./engines";
import { formatTable } from "./table";

export type BackupType = "full" | "diff" | "incr";
export const BACKUP_TYPES: readonly BackupType[] = ["full", "diff", "incr"];

/** One backup as `pgbackrest info` lists it. */
export interface BackupEntry {
    label: string;
    type: BackupType;
    /** ISO 8601 (second precision, pgBackRest's). */
    startedAt: string;
    stoppedAt: string;
    /** Size of the database at backup time, and what this backup added to the repository (compressed). */
    databaseBytes: number;
    repositoryBytes: number;
    /** The WAL the backup needs to be consistent: first and last segment. */
    walStart: string;
    walStop: string;
    lsnStart: string;
    lsnStop: string;
    /** The backup it builds on (diff, incr). */
    prior: string | null;
    /** pgBackRest found a page checksum error while copying. */
    error: boolean;
}

/** The stanza's state in the repository. */
export interface RepositoryInfo {
    /** pgBackRest's status: 0 ok; otherwise `message` says what (e.g. "no valid backups"). */
    code: number;
    message: string;
    backups: BackupEntry[];
    /** Oldest and newest WAL segment archived (current database), when any. */
    archive?: { min: string; max: string };
}

/** Runs a program and collects what it printed (execProgram's shape). */
export type Exec = (argv: string[], timeoutMs?: number) => Promise<ExecResult>;

/** The repository container of stack `stack`. */
export function repositoryContainer(stack: string): string {
    return `${stack}-backup`;
}

/** The command line that runs pgBackRest in the repository container as its owner. */
export function pgbackrestArgv(stack: string, args: string[]): string[] {
    const container = repositoryContainer(stack);
    return dockerArgv(container, ["exec", "-u", "postgres", container, "pgbackrest", `--stanza=${STANZA}`, ...args]);
}

/** The same command, printed for a person to run. */
export function pgbackrestCommand(stack: string, args: string[]): string {
    return pgbackrestArgv(stack, args).join(" ");
}

interface InfoJson {
    status?: { code?: number; message?: string };
    backup?: Array<{
        label: string;
        type: BackupType;
        timestamp: { start: number; stop: number };
        info: { size: number; repository: { delta?: number; size?: number } };
        archive: { start: string; stop: string };
        lsn?: { start: string; stop: string };
        prior: string | null;
        error?: boolean;
    }>;
    archive?: Array<{ min: string | null; max: string | null }>;
}

const iso = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace(".000Z", "Z");

/** Parses `pgbackrest info --output=json` (an array with one stanza). */
export function parseInfo(text: string): RepositoryInfo {
    const [stanza] = JSON.parse(text) as InfoJson[];
    if (!stanza) throw new Error("pgbackrest info listed no stanza");
    const archive = stanza.archive?.find((a) => a.min !== null && a.max !== null);
    return {
        code: stanza.status?.code ?? -1,
        message: stanza.status?.message ?? "unknown",
        backups: (stanza.backup ?? []).map((b) => ({
            label: b.label,
            type: b.type,
            startedAt: iso(b.timestamp.start),
            stoppedAt: iso(b.timestamp.stop),
            databaseBytes: b.info.size,
            repositoryBytes: b.info.repository.delta ?? b.info.repository.size ?? 0,
            walStart: b.archive.start,
            walStop: b.archive.stop,
            lsnStart: b.lsn?.start ?? "",
            lsnStop: b.lsn?.stop ?? "",
            prior: b.prior,
            error: b.error === true,
        })),
        archive: archive ? { min: archive.min as string, max: archive.max as string } : undefined,
    };
}

/** Why a pgBackRest command in the repository container failed, with the next step. */
function repositoryError(stack: string, what: string, res: ExecResult): Error {
    const said = (res.stderr || res.stdout).trim().split("\n").slice(-3).join(" ");
    const container = repositoryContainer(stack);
    const hint = /No such container|is not running/.test(said)
        ? `the repository container is not running: docker start ${container} (or npm run up, if it is gone)`
        : `its log: docker logs --tail 50 ${container}`;
    return new Error(`${what} failed in ${container}: ${said}; ${hint}`);
}

/** The repository's backups and archive range. */
export async function readRepository(stack: string, exec: Exec = execProgram): Promise<RepositoryInfo> {
    const res = await exec(pgbackrestArgv(stack, ["info", "--output=json"]), 30_000);
    if (res.code !== 0) throw repositoryError(stack, "pgbackrest info", res);
    return parseInfo(res.stdout);
}

/** Hours a backup may run before the command gives up (pgBackRest's own lock then ends with it). */
export const BACKUP_TIMEOUT_MS = 2 * 3600_000;

/**
 * Takes a backup of `type` (from a standby when the stack allows it; pgBackRest finds the primary)
 * and returns the entry it added.
 */
export async function takeBackup(stack: string, type: BackupType, exec: Exec = execProgram): Promise<BackupEntry> {
    const before = new Set((await readRepository(stack, exec)).backups.map((b) => b.label));
    const res = await exec(
        pgbackrestArgv(stack, ["backup", `--type=${type}`, "--log-level-console=warn"]),
        BACKUP_TIMEOUT_MS,
    );
    if (res.code !== 0) throw repositoryError(stack, `pgbackrest backup --type=${type}`, res);
    const added = (await readRepository(stack, exec)).backups.filter((b) => !before.has(b.label));
    const entry = added[added.length - 1];
    if (!entry) throw new Error(`pgbackrest backup --type=${type} succeeded but info lists no new backup`);
    return entry;
}

/** The newest backup a restore can start from (no checksum error), or undefined. */
export function lastBackup(info: RepositoryInfo): BackupEntry | undefined {
    return info.backups.filter((b) => !b.error).at(-1);
}

/**
 * The earliest point a restore can reach: the end of the oldest usable backup (a restore replays
 * from a backup's start to at least its stop to be consistent). The latest is the newest archived
 * WAL, whose time only the primary knows (pg_stat_archiver).
 */
export function earliestRestorePoint(info: RepositoryInfo): string | undefined {
    return info.backups.find((b) => !b.error)?.stoppedAt;
}

/** What is wrong with the repository, with the next step; undefined when it holds a usable backup. */
export function repositoryProblem(stack: string, info: RepositoryInfo): string | undefined {
    if (info.code !== 0 && info.code !== 2)
        return `the backup repository reports "${info.message}" (code ${info.code}); ${pgbackrestCommand(stack, ["info"])}`;
    if (lastBackup(info) === undefined)
        return `the backup repository holds no usable backup; take one: npm run backup -- --stack ${stack} --type full`;
    return undefined;
}

/**
 * The checks' judgement: pgBackRest's `check` passes on the primary (it archives a fresh segment and
 * waits for the repository to have it, so archive_command works end to end) and the repository holds
 * a usable backup. On the primary, not in the repository container: there `check` lists every
 * configured node's data directory and fails while any node is down (src/command/check/check.c
 * checkManifest), which after a failover the old primary is.
 */
export async function backupReady(
    stack: string,
    primaryContainer: string,
    exec: Exec = execProgram,
): Promise<string | true> {
    const argv = dockerArgv(primaryContainer, [
        "exec",
        "-u",
        "postgres",
        primaryContainer,
        "pgbackrest",
        `--stanza=${STANZA}`,
        "check",
        "--log-level-console=warn",
    ]);
    const res = await exec(argv, 90_000);
    if (res.code !== 0) {
        const said = (res.stderr || res.stdout).trim().split("\n").slice(-3).join(" ");
        return (
            `pgbackrest check on ${primaryContainer} failed: ${said}; the repository: docker logs --tail 50 ${repositoryContainer(stack)}, ` +
            `and docker exec ${primaryContainer} tail -n 20 /var/log/pgbackrest/${STANZA}-archive-push-async.log`
        );
    }
    return repositoryProblem(stack, await readRepository(stack, exec)) ?? true;
}

/** "3 min ago", "2 h ago", "4 d ago". */
export function ageText(fromIso: string, now: Date): string {
    const s = Math.max(0, Math.round((now.getTime() - Date.parse(fromIso)) / 1000));
    if (s < 120) return `${s} s ago`;
    if (s < 7200) return `${Math.round(s / 60)} min ago`;
    if (s < 172800) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
}

/** One line for `status`: how many backups, the last one and its age, the archived WAL range. */
export function backupSummaryLine(info: RepositoryInfo, now: Date): string {
    const last = lastBackup(info);
    const fulls = info.backups.filter((b) => b.type === "full").length;
    const lastText = last
        ? `last ${last.type} ${last.label} finished ${last.stoppedAt} (${ageText(last.stoppedAt, now)})`
        : "none yet";
    const wal = info.archive ? `; WAL archived ${info.archive.min} … ${info.archive.max}` : "; no WAL archived";
    return `backups: ${info.backups.length} (${fulls} full), ${lastText}${wal}`;
}

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

/** The `backups` table: one line per backup, then the restore window. */
export function formatBackups(stack: string, info: RepositoryInfo, latestArchivedAt: string | undefined): string {
    const header = ["LABEL", "TYPE", "STARTED", "STOPPED", "DATABASE", "REPOSITORY", "WAL START", "WAL STOP"];
    const rows = info.backups.map((b) => [
        b.label + (b.error ? " (checksum error)" : ""),
        b.type,
        b.startedAt,
        b.stoppedAt,
        mb(b.databaseBytes),
        mb(b.repositoryBytes),
        b.walStart,
        b.walStop,
    ]);
    const out = [
        `stack ${stack}: ${info.backups.length} backups in ${repositoryContainer(stack)}`,
        ...formatTable(header, rows),
    ];
    const earliest = earliestRestorePoint(info);
    out.push(
        earliest
            ? `restore window: ${earliest} … ${latestArchivedAt ?? "the last archived WAL"}` +
                  (info.archive ? ` (WAL ${info.archive.min} … ${info.archive.max})` : "")
            : `restore window: none (no usable backup); take one: npm run backup -- --stack ${stack} --type full`,
    );
    return out.join("\n");
}
