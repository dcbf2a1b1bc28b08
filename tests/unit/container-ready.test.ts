// The ready command's shell script, run against a fake `docker` (which runs the in-container part
// locally) and a fake `pg_isready` that answers after a given number of probes.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CONTAINER_READY } from "../../infra/container-ready";
import { pgAccepting } from "../../model/probes";

interface Fake {
    dir: string;
    /** Lines the fake docker logged: its arguments, one call per line. */
    calls(): string[];
    /** How often pg_isready was run. */
    probes(): number;
}

/**
 * `docker exec` fails `execFailures` times (the container is not running yet), then runs its
 * `sh -c` script here; pg_isready succeeds from its `answerAt`-th run on.
 */
function fake(execFailures: number, answerAt: number): Fake {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgr-ready-"));
    fs.writeFileSync(path.join(dir, "exec-failures"), String(execFailures));
    fs.writeFileSync(
        path.join(dir, "docker"),
        [
            "#!/bin/sh",
            `echo "$*" >> ${dir}/calls`,
            'if [ "$1" = logs ]; then echo "FATAL: the last log line"; exit 0; fi',
            `n=$(cat ${dir}/exec-failures)`,
            `if [ "$n" -gt 0 ]; then echo $((n-1)) > ${dir}/exec-failures; echo "Error: container is restarting" >&2; exit 1; fi`,
            // docker exec -e PGR_READY_PROBE CONTAINER sh -c SCRIPT (the probe comes from the environment)
            'shift 4; exec "$@"',
        ].join("\n"),
        { mode: 0o755 },
    );
    fs.writeFileSync(
        path.join(dir, "pg_isready"),
        ["#!/bin/sh", `echo x >> ${dir}/probes`, `[ "$(wc -l < ${dir}/probes)" -ge ${answerAt} ]`].join("\n"),
        { mode: 0o755 },
    );
    const lines = (f: string) =>
        fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), "utf8").trim().split("\n") : [];
    return { dir, calls: () => lines("calls"), probes: () => lines("probes").length };
}

function runReady(f: Fake, timeoutSeconds: number, probe = pgAccepting("127.0.0.1")) {
    return spawnSync("/bin/sh", ["-c", CONTAINER_READY], {
        encoding: "utf8",
        env: {
            ...process.env,
            PATH: `${f.dir}:${process.env.PATH}`,
            PGR_CONTAINER: "demo-pg1",
            PGR_READY_PROBE: probe,
            PGR_READY_TIMEOUT: String(timeoutSeconds),
        },
    });
}

describe("CONTAINER_READY (infra/container-ready.ts)", () => {
    test("returns once PostgreSQL answers, probing inside one docker exec", () => {
        const f = fake(0, 4);
        const res = runReady(f, 30);
        expect(res.status).toBe(0);
        expect(f.probes()).toBe(4);
        expect(f.calls()).toHaveLength(1);
        expect(f.calls()[0]).toMatch(/^exec -e PGR_READY_PROBE demo-pg1 sh -c .*eval "\$PGR_READY_PROBE"/);
    });

    test("a probe with quotes and spaces (PgBouncer's /proc/net/tcp grep) runs as written", () => {
        const f = fake(0, 1);
        const tcp = path.join(f.dir, "tcp");
        fs.writeFileSync(tcp, "   0: 00000000:1920 00000000:0000 0A 00000000\n");
        expect(runReady(f, 30, `grep -q ': 00000000:1920 00000000:0000 0A ' ${tcp}`).status).toBe(0);
        fs.writeFileSync(tcp, "   0: 00000000:1920 00000000:0000 01 00000000\n");
        expect(runReady(f, 1, `grep -q ': 00000000:1920 00000000:0000 0A ' ${tcp}`).status).toBe(1);
    });

    test("retries while docker exec fails (the container is restarting)", () => {
        const f = fake(2, 1);
        const res = runReady(f, 30);
        expect(res.status).toBe(0);
        expect(f.calls().filter((c) => c.startsWith("exec "))).toHaveLength(3);
    });

    test("fails after the timeout, naming the container and showing its last log lines", () => {
        const f = fake(1000, 1);
        const res = runReady(f, 1);
        expect(res.status).toBe(1);
        expect(res.stderr).toContain(
            "pg-replication: demo-pg1 was not ready within 1s (pg_isready -q -h 127.0.0.1 -p 5432 never succeeded)",
        );
        expect(res.stderr).toContain("FATAL: the last log line");
        expect(f.calls()).toContain("logs --tail 30 demo-pg1");
    });
});
