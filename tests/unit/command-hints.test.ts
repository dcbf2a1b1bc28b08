// Commands a newcomer runs besides the harness (issue 9): scripts/pulumi.sh explains a Pulumi CLI that
// cannot be downloaded and prints the offline command; after a failover the output says the stack
// outputs name the old primary until the next deployment, with the exact command.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { commandLine, staleOutputsNote, upCommand } from "../../ops/topology-change";

const ROOT = path.resolve(__dirname, "..", "..");

describe("scripts/pulumi.sh", () => {
    // A stand-in for `npx pulumi` on a machine without internet: what the pulumi npm package prints.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "nc-npx-"));
    fs.writeFileSync(
        path.join(bin, "npx"),
        '#!/bin/sh\necho "Downloading pulumi v3.265.0..." >&2\necho "pulumi: fetch failed" >&2\nexit 1\n',
        { mode: 0o755 },
    );
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const run = (...args: string[]) =>
        spawnSync("bash", [path.join(ROOT, "scripts", "pulumi.sh"), ...args], { cwd: ROOT, env, encoding: "utf8" });
    afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

    test("--help: exit 0, what it does, examples and the offline route", () => {
        const res = run("--help");
        expect(res.status).toBe(0);
        expect(res.stdout).toContain("usage: bash scripts/pulumi.sh STACK PULUMI-ARGS...");
        expect(res.stdout).toContain("bash scripts/pulumi.sh dev up");
        expect(res.stdout).toContain("npm run live -- up --stack local");
        const none = run();
        expect(none.status).toBe(2);
        expect(none.stderr).toContain("usage error: STACK is required");
        expect(run("a b", "up").stderr).toContain('invalid STACK "a b"');
    });

    test("a failed CLI download says what happened and the offline command, with --stack; no empty .pulumi-state is left", () => {
        const hadState = fs.existsSync(path.join(ROOT, ".pulumi-state"));
        const up = run("dev", "up");
        expect(up.status).toBe(1);
        expect(up.stderr).toContain("pulumi: fetch failed");
        expect(up.stderr).toContain("the Pulumi CLI is not installed and could not be downloaded");
        expect(up.stderr).toContain(
            "npm run build-image && npm run live -- up --stack dev --config image=pg-replication/postgres:17-local --config pullImage=false",
        );
        if (!hadState) expect(fs.existsSync(path.join(ROOT, ".pulumi-state"))).toBe(false);
        // The local stack already uses the local image.
        expect(run("local", "up").stderr).toContain("npm run build-image && npm run live -- up --stack local\n");
        expect(run("local", "destroy").stderr).toContain("npm run live -- down --stack local\n");
        expect(run("s1", "stack", "output", "primaryConnectionString", "--show-secrets").stderr).toContain(
            "npm run live -- output primaryConnectionString --show-secrets --stack s1\n",
        );
        expect(run("s1", "config", "set", "replicas", "3").stderr).toContain(
            "npm run live -- config set replicas 3 --stack s1\n",
        );
        // What a day-2 command without --live runs: the hint names --live.
        expect(run("s1", "config", "--json", "--show-secrets").stderr).toMatch(
            /npm run live -- config --stack s1\n.*--live/s,
        );
        // npm run up -- --help still answers, with exit 0.
        const help = run("dev", "up", "--help");
        expect(help.status).toBe(0);
        expect(help.stdout).toContain("usage: bash scripts/pulumi.sh");
    });
});

describe("hints after a role change", () => {
    test("the exact command that deploys the stack again", () => {
        expect(upCommand({ stack: "nc1", live: true })).toBe("npm run live -- up --stack nc1");
        expect(upCommand({ stack: "dev", live: false })).toBe("npm run up");
        expect(upCommand({ stack: "prod", live: false })).toBe("bash scripts/pulumi.sh prod up");
        expect(commandLine({ stack: "nc1", live: true }, "rejoin", "--node", "pg1")).toBe(
            "npm run rejoin -- --node pg1 --stack nc1 --live",
        );
    });

    test("the outputs name the old primary until then: said, with the command; nothing when they are current", () => {
        const outputs = { primary: { node: "pg1", container: "nc1-pg1", roleReadAt: "2026-12-06T10:00:00.000Z" } };
        expect(staleOutputsNote({ stack: "nc1", live: true }, "pg2", true, outputs)).toBe(
            "note: primaryConnectionString and rwConnectionString (the read-write endpoint) reach pg2 now; " +
                "the outputs primary and replicas still describe the last deployment (roles read at 2026-12-06T10:00:00.000Z): " +
                "npm run status -- --stack nc1 --live shows the roles now, the next deployment records them: npm run live -- up --stack nc1",
        );
        expect(staleOutputsNote({ stack: "dev", live: false }, "pg2", false, outputs)).toBe(
            "note: connect to pg2 directly; the stack outputs primary and primaryConnectionString still name pg1 " +
                "(roles read at 2026-12-06T10:00:00.000Z) until the next deployment: npm run up",
        );
        expect(staleOutputsNote({ stack: "nc1", live: true }, "pg1", true, outputs)).toBeUndefined();
    });
});

describe("a stack that does not exist", () => {
    const script = (name: string, ...args: string[]) =>
        spawnSync(process.execPath, ["-r", "./scripts/register-ts.js", `scripts/${name}.ts`, ...args], {
            cwd: ROOT,
            encoding: "utf8",
        });

    test("status and lag both exit 2, and the message names --stack and the command that deploys it", () => {
        const stack = `nostack${process.pid}`;
        const status = script("status", "--stack", stack, "--live");
        expect(status.status).toBe(2);
        expect(status.stderr).toContain(`no live harness stack ${stack} (`);
        expect(status.stderr).toContain(
            `name the stack with --stack NAME (ls .live-state lists them), or deploy this one: npm run live -- up --stack ${stack}`,
        );
        const lag = script("lag", "--stack", stack, "--live");
        expect(lag.status).toBe(2);
    }, 60_000);
});
