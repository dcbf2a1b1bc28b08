// The backup model without Docker: cron schedules as busybox crond reads them, the rendered
// pgBackRest configuration and crontab, and what `backup`, `backups`, `status` and the checks make of
// pgBackRest's answers (a real `pgbackrest info --output=json` of a 2.55.1 repository, a fixture).
import * as fs from "fs";
import * as path from "path";
import { renderCrontab, renderNodeBackupConf, renderRepoConf } from "../../model/backup-config";
import { DEFAULTS, validateConfig } from "../../model/config";
import { cronFires, firstCommonMinute, parseCron } from "../../model/cron";
import { clusterNodes } from "../../model/topology";
import {
    backupReady,
    backupSummaryLine,
    earliestRestorePoint,
    Exec,
    formatBackups,
    parseInfo,
    repositoryProblem,
    takeBackup,
} from "../../ops/backups";

const INFO = fs.readFileSync(path.join(__dirname, "..", "fixtures", "pgbackrest-info.json"), "utf8");

describe("cron schedules", () => {
    test("fields, ranges, lists and steps; day-of-month OR day-of-week when both are restricted", () => {
        const s = parseCron("*/15 1-3 * * 1,5");
        expect([...s[0]]).toEqual([0, 15, 30, 45]);
        expect([...s[1]]).toEqual([1, 2, 3]);
        expect(cronFires(s, new Date("2027-01-04T02:30:00Z"))).toBe(true); // a Monday
        expect(cronFires(s, new Date("2027-01-05T02:30:00Z"))).toBe(false); // a Tuesday
        const both = parseCron("0 0 1 * 0");
        expect(cronFires(both, new Date("2027-01-03T00:00:00Z"))).toBe(true); // Sunday the 3rd
        expect(cronFires(both, new Date("2027-02-01T00:00:00Z"))).toBe(true); // Monday the 1st
        expect(cronFires(both, new Date("2027-02-02T00:00:00Z"))).toBe(false);
        expect(cronFires(parseCron("0 0 * * 7"), new Date("2027-01-03T00:00:00Z"))).toBe(true); // 7 is Sunday
    });

    test("the default schedules never meet; the same minute on one day does", () => {
        expect(firstCommonMinute(parseCron(DEFAULTS.backupFullSchedule), parseCron(DEFAULTS.backupDiffSchedule))).toBe(
            undefined,
        );
        expect(firstCommonMinute(parseCron("0 1 * * *"), parseCron("0 1 * * 3"))?.toISOString()).toBe(
            "2027-01-06T01:00:00.000Z",
        );
    });
});

describe("rendered pgBackRest configuration", () => {
    const cfg = validateConfig({ replicas: "2", backupRetentionFull: "3", backupStandby: "always" });
    const nodes = clusterNodes("s", cfg);

    test("the repository: encrypted, retention, one TLS pg host per node, the stanza's client certificate", () => {
        const conf = renderRepoConf(cfg, nodes, "pass-phrase");
        expect(conf).toContain("repo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=pass-phrase\n");
        expect(conf).toContain("repo1-retention-full=3\n");
        expect(conf).toContain("backup-standby=y\n");
        expect(conf).toContain("tls-server-auth=pgbackrest-client=main\n");
        expect(conf).toContain("[main]\npg1-host=172.20.0.11\npg1-host-type=tls\n");
        expect(conf).toContain("pg3-host=172.20.0.13\n");
        expect(conf).not.toContain("pg4-host");
    });

    test("a node: the repository host over TLS, asynchronous push, no passphrase", () => {
        const conf = renderNodeBackupConf(nodes[1], "172.20.0.9");
        expect(conf).toContain("repo1-host=172.20.0.9\nrepo1-host-type=tls\n");
        expect(conf).toContain("archive-async=y\n");
        const settings = conf.split("\n").filter((l) => !l.startsWith("#"));
        expect(settings.filter((l) => /cipher|archive-push-queue-max/.test(l))).toEqual([]);
    });

    test("the crontab: one line per scheduled type, logging into the repository volume", () => {
        expect(
            renderCrontab(validateConfig({ backupIncrSchedule: "30 */4 * * *" }))
                .split("\n")
                .slice(1, 4),
        ).toEqual([
            "0 1 * * 0 pgbackrest --stanza=main backup --type=full >> /var/lib/pgbackrest/log/scheduled.log 2>&1",
            "0 1 * * 1-6 pgbackrest --stanza=main backup --type=diff >> /var/lib/pgbackrest/log/scheduled.log 2>&1",
            "30 */4 * * * pgbackrest --stanza=main backup --type=incr >> /var/lib/pgbackrest/log/scheduled.log 2>&1",
        ]);
        expect(renderCrontab(validateConfig({ backupFullSchedule: "", backupDiffSchedule: "" }))).not.toContain(
            "pgbackrest",
        );
    });
});

describe("what the commands make of pgBackRest's answers", () => {
    const info = parseInfo(INFO);

    test("parseInfo: every backup with its type, times, WAL range and parent; the archive range", () => {
        expect(info.code).toBe(0);
        expect(info.backups.map((b) => `${b.type} ${b.label} <- ${b.prior}`)).toEqual([
            "full 20261207-023444F <- null",
            "incr 20261207-023444F_20261207-023450I <- 20261207-023444F",
            "incr 20261207-023444F_20261207-025112I <- 20261207-023444F_20261207-023450I",
        ]);
        expect(info.backups[0]).toMatchObject({
            startedAt: "2026-12-07T02:34:44Z",
            stoppedAt: "2026-12-07T02:34:45Z",
            walStart: "000000010000000000000003",
            walStop: "000000010000000000000004",
            databaseBytes: 23390671,
            repositoryBytes: 2815584,
        });
        expect(info.archive).toEqual({ min: "000000010000000000000001", max: "000000020000000000000013" });
        expect(earliestRestorePoint(info)).toBe("2026-12-07T02:34:45Z");
    });

    test("status line, table and problems", () => {
        expect(backupSummaryLine(info, new Date("2026-12-07T03:51:13Z"))).toBe(
            "backups: 3 (1 full), last incr 20261207-023444F_20261207-025112I finished 2026-12-07T02:51:13Z (60 min ago); " +
                "WAL archived 000000010000000000000001 … 000000020000000000000013",
        );
        const table = formatBackups("s", info, "2026-12-07T03:00:00Z");
        expect(table.split("\n")[2]).toMatch(/^20261207-023444F\s+full\s+2026-12-07T02:34:44Z/);
        expect(table).toContain("restore window: 2026-12-07T02:34:45Z … 2026-12-07T03:00:00Z");
        expect(repositoryProblem("s", info)).toBeUndefined();
        const empty = { ...info, code: 2, message: "no valid backups", backups: [] };
        expect(repositoryProblem("s", empty)).toBe(
            "the backup repository holds no usable backup; take one: npm run backup -- --stack s --type full",
        );
        expect(formatBackups("s", empty, undefined)).toContain("restore window: none (no usable backup)");
    });

    /** A fake runner answering pgbackrest by subcommand; records the command lines. */
    function fakeExec(answers: Record<string, Array<{ code: number; stdout?: string; stderr?: string }>>) {
        const calls: string[][] = [];
        const exec: Exec = (argv) => {
            calls.push(argv);
            const sub = argv.find((a) => ["info", "backup", "check"].includes(a)) as string;
            const next = answers[sub].length > 1 ? answers[sub].shift()! : answers[sub][0];
            return Promise.resolve({ code: next.code, stdout: next.stdout ?? "", stderr: next.stderr ?? "" });
        };
        return { exec, calls };
    }

    test("takeBackup runs in the repository container as postgres and returns the backup it added", async () => {
        const before = JSON.parse(INFO) as Array<{ backup: unknown[] }>;
        const fewer = JSON.stringify([{ ...before[0], backup: before[0].backup.slice(0, 2) }]);
        const { exec, calls } = fakeExec({
            info: [
                { code: 0, stdout: fewer },
                { code: 0, stdout: INFO },
            ],
            backup: [{ code: 0 }],
        });
        const entry = await takeBackup("s", "incr", exec);
        expect(entry.label).toBe("20261207-023444F_20261207-025112I");
        expect(calls[1]).toEqual([
            "docker",
            "exec",
            "-u",
            "postgres",
            "s-backup",
            "pgbackrest",
            "--stanza=main",
            "backup",
            "--type=incr",
            "--log-level-console=warn",
        ]);
    });

    test("a repository container that is not running: the error says how to start it", async () => {
        const { exec } = fakeExec({
            info: [{ code: 1, stderr: "Error response from daemon: Container 0123 is not running" }],
        });
        await expect(takeBackup("s", "full", exec)).rejects.toThrow(
            "pgbackrest info failed in s-backup: Error response from daemon: Container 0123 is not running; " +
                "the repository container is not running: docker start s-backup",
        );
    });

    test("backupReady: check on the primary, then a usable backup; a failed check names both logs", async () => {
        const ok = fakeExec({ check: [{ code: 0 }], info: [{ code: 0, stdout: INFO }] });
        expect(await backupReady("s", "s-pg2", ok.exec)).toBe(true);
        expect(ok.calls[0].slice(0, 8)).toEqual([
            "docker",
            "exec",
            "-u",
            "postgres",
            "s-pg2",
            "pgbackrest",
            "--stanza=main",
            "check",
        ]);
        const failing = fakeExec({
            check: [{ code: 82, stderr: "ERROR: [082]: WAL segment was not archived before the 60000ms timeout" }],
        });
        expect(await backupReady("s", "s-pg2", failing.exec)).toBe(
            "pgbackrest check on s-pg2 failed: ERROR: [082]: WAL segment was not archived before the 60000ms timeout; " +
                "the repository: docker logs --tail 50 s-backup, and docker exec s-pg2 tail -n 20 /var/log/pgbackrest/main-archive-push-async.log",
        );
    });
});
