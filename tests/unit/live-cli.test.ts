// The live harness CLI a newcomer meets first (issue 9): --help, usage errors that name the argument,
// `output NAME`, config verbs that refuse a misspelt key and can remove one, the end-of-up summary and
// progress lines naming the Docker objects. Pure functions, plus a few runs of the CLI that never
// reach Docker.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    checkConfig,
    configCommand,
    configEntries,
    configFixHint,
    formatConfig,
    formatOutputs,
    keyOfError,
    parseLiveArgs,
    removeStackRefusal,
    downNote,
    secretFromStdin,
    secretOnCommandLineNote,
    upSummary,
    withoutKey,
    withValue,
} from "../../harness/cli-lib";
import { HelpRequest, UsageError } from "../../ops/cli";
import { dockerObjectName, progressLine } from "../../harness/engine";
import type { StackOutput } from "../../harness/state";

const ROOT = path.resolve(__dirname, "..", "..");

const usageError = (argv: string[]): string => {
    try {
        parseLiveArgs(argv);
    } catch (err) {
        if (err instanceof UsageError) return err.message;
        throw err;
    }
    throw new Error(`no usage error for ${argv.join(" ")}`);
};

describe("live down keeps the recorded config; live rm forgets an empty stack", () => {
    test("rm parses like down and refuses while resources remain, naming down", () => {
        expect(parseLiveArgs(["rm", "--stack", "nc1"])).toEqual({ verb: "rm", stack: "nc1" });
        expect(usageError(["rm", "extra"])).toMatch(/unexpected argument "extra" after rm/);
        expect(removeStackRefusal("nc1", 3)).toBe(
            "stack nc1 still has 3 resources; delete them first: npm run live -- down --stack nc1",
        );
        expect(removeStackRefusal("nc1", 0)).toBeUndefined();
    });

    test("down says what it kept and the command that forgets it", () => {
        expect(downNote("nc1")).toBe(
            "the stack's recorded config stays (.live-state/nc1.json, as pulumi destroy keeps Pulumi.nc1.yaml): " +
                "a later up reuses it; forget it with npm run live -- rm --stack nc1",
        );
    });
});

describe("live CLI arguments", () => {
    test("--help, -h and `help` are help requests with every command, option, default and an example", () => {
        for (const argv of [["--help"], ["-h"], ["help"], ["up", "--help"], ["config", "set", "--help"]]) {
            let help: unknown;
            try {
                parseLiveArgs(argv);
            } catch (err) {
                help = err;
            }
            expect(help).toBeInstanceOf(HelpRequest);
            const text = (help as Error).message;
            for (const want of [
                "up",
                "down",
                "output [NAME]",
                "config set KEY VALUE",
                "config rm KEY",
                "--stack NAME",
                "default local",
                "--config KEY=VALUE",
                "--show-secrets",
                "--json",
                "examples:",
            ]) {
                expect(text).toContain(want);
            }
        }
    });

    test("usage errors name the argument that was wrong", () => {
        expect(usageError([])).toMatch(/a command is required: up, down, rm, output, config/);
        expect(usageError(["up", "--bogus"])).toBe("unknown option --bogus");
        expect(usageError(["deploy"])).toMatch(/unknown command "deploy"/);
        expect(usageError(["up", "extra"])).toMatch(/unexpected argument "extra" after up/);
        expect(usageError(["up", "--stack"])).toMatch(/--stack/);
        expect(usageError(["up", "--stack", "a b"])).toMatch(/invalid --stack "a b"/);
        expect(usageError(["up", "--stack", "a", "--stack", "b"])).toBe("--stack given more than once");
        expect(usageError(["up", "--config", "replicas"])).toMatch(/--config expects KEY=VALUE, got "replicas"/);
        expect(usageError(["down", "--config", "replicas=3"])).toMatch(
            /--config does not apply to down.*config set KEY VALUE --stack local/,
        );
        expect(usageError(["output", "a", "b"])).toMatch(/unexpected argument "b"/);
        expect(usageError(["config", "set", "replicas"])).toMatch(/config set takes KEY VALUE \(got 1 argument\)/);
        expect(usageError(["config", "rm"])).toMatch(/config rm takes one KEY/);
        expect(usageError(["config", "delete", "x"])).toMatch(/unknown config command "delete"/);
    });

    test("output takes a NAME with --show-secrets (issue: `unknown argument`)", () => {
        expect(parseLiveArgs(["output", "primaryConnectionString", "--stack", "S", "--show-secrets"])).toEqual({
            verb: "output",
            stack: "S",
            name: "primaryConnectionString",
            json: false,
            showSecrets: true,
        });
        expect(parseLiveArgs(["output", "--stack", "S", "--json"])).toEqual({
            verb: "output",
            stack: "S",
            json: true,
            showSecrets: false,
        });
    });

    test("config verbs; the key may carry the project namespace", () => {
        expect(parseLiveArgs(["config", "--stack", "S"])).toEqual({
            verb: "config",
            stack: "S",
            json: false,
            showSecrets: false,
        });
        expect(parseLiveArgs(["config", "set", "pg-replication:replicas", "3"])).toEqual({
            verb: "config-set",
            stack: "local",
            key: "replicas",
            value: "3",
        });
        expect(parseLiveArgs(["config", "rm", "replica", "--stack", "S"])).toEqual({
            verb: "config-rm",
            stack: "S",
            key: "replica",
        });
        expect(parseLiveArgs(["up", "-c", "a=1", "--config", "b=2"])).toMatchObject({
            verb: "up",
            config: ["a=1", "b=2"],
        });
    });
});

describe("live output", () => {
    const outputs: Record<string, StackOutput> = {
        primary: { value: { node: "pg1", port: 15432 }, secret: false },
        primaryConnectionString: { value: "postgresql://postgres:pw@127.0.0.1:15432/postgres", secret: true },
        metricsEndpoint: { value: undefined, secret: false },
        replicationMode: { value: "async", secret: false },
    };

    test("no `undefined` lines for outputs a configuration leaves unset (metricsEndpoint with metrics off)", () => {
        const text = formatOutputs("S", outputs, { json: false, showSecrets: false });
        expect(text).not.toMatch(/undefined|metricsEndpoint/);
        expect(text).toBe(
            'primary: {"node":"pg1","port":15432}\nprimaryConnectionString: [secret]\nreplicationMode: async\n',
        );
        expect(Object.keys(JSON.parse(formatOutputs("S", outputs, { json: true, showSecrets: false })))).toEqual([
            "primary",
            "primaryConnectionString",
            "replicationMode",
        ]);
    });

    test("output NAME prints the bare value, secrets only with --show-secrets, like pulumi stack output", () => {
        expect(formatOutputs("S", outputs, { name: "primaryConnectionString", json: false, showSecrets: true })).toBe(
            "postgresql://postgres:pw@127.0.0.1:15432/postgres\n",
        );
        expect(formatOutputs("S", outputs, { name: "primaryConnectionString", json: false, showSecrets: false })).toBe(
            "[secret]\n",
        );
        expect(formatOutputs("S", outputs, { name: "primary", json: false, showSecrets: false })).toBe(
            '{"node":"pg1","port":15432}\n',
        );
        expect(JSON.parse(formatOutputs("S", outputs, { name: "primary", json: true, showSecrets: false }))).toEqual({
            node: "pg1",
            port: 15432,
        });
    });

    test("an unknown or unset NAME is an error listing the outputs", () => {
        expect(() => formatOutputs("S", outputs, { name: "nope", json: false, showSecrets: false })).toThrow(
            "stack S has no output nope; its outputs are primary, primaryConnectionString, replicationMode",
        );
        expect(() => formatOutputs("S", outputs, { name: "metricsEndpoint", json: false, showSecrets: false })).toThrow(
            /no output metricsEndpoint \(not set in this configuration\)/,
        );
        expect(() => formatOutputs("S", {}, { name: "primary", json: false, showSecrets: false })).toThrow(
            "stack S has no outputs: deploy it first with npm run live -- up --stack S",
        );
    });
});

describe("live config", () => {
    test("a misspelt key is refused before it is recorded, with the near key", () => {
        expect(() => checkConfig(ROOT, "nc-none", ["replica=3"])).toThrow(
            /pg-replication:replica is not a known key .*did you mean replicas\?/,
        );
        expect(() => checkConfig(ROOT, "nc-none", ["replicas=two"])).toThrow(
            /configuration key 'pg-replication:replicas' must be of type 'integer'/,
        );
        expect(() => checkConfig(ROOT, "nc-none", ["replicas=30"])).toThrow(
            /pg-replication:replicas = "30" is invalid/,
        );
        expect(() => checkConfig(ROOT, "nc-none", ["syncMode=sync", "replicas=0"])).toThrow(
            /sync needs at least one replica/,
        );
        expect(() => checkConfig(ROOT, "nc-none", ["replicas=3", "syncMode=sync", "hostPortBase=52432"])).not.toThrow();
        expect(() => checkConfig(ROOT, "local", [])).not.toThrow();
    });

    test("a bad recorded value: the error says how to change or remove it", () => {
        const message = "pg-replication:replica is not a known key";
        expect(keyOfError(message)).toBe("replica");
        expect(keyOfError("Stack 'S' with configuration key 'pg-replication:replicas' must be of type 'integer'")).toBe(
            "replicas",
        );
        expect(configFixHint("S", "replica", ["replica=3"])).toBe(
            "\nreplica is recorded for stack S: change it with npm run live -- config set replica VALUE --stack S, or remove it with npm run live -- config rm replica --stack S",
        );
        expect(configFixHint("S", "replica", [])).toBe("");
    });

    test("set replaces, rm removes (namespaced or not)", () => {
        expect(withValue(["a=1", "b=2"], "a", "3")).toEqual(["b=2", "a=3"]);
        expect(withValue(["pg-replication:a=1"], "a", "3")).toEqual(["a=3"]);
        expect(withoutKey(["a=1", "b=2"], "a")).toEqual({ pairs: ["b=2"], removed: true });
        expect(withoutKey(["a=1"], "c")).toEqual({ pairs: ["a=1"], removed: false });
    });

    test("config lists every key with its value and source; secrets masked unless asked", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "nc-live-"));
        fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(root, "Pulumi.yaml"));
        fs.writeFileSync(
            path.join(root, "Pulumi.s1.yaml"),
            'config:\n  pg-replication:image: pg-replication/postgres:17-local\n  pg-replication:pullImage: "false"\n',
        );
        const entries = configEntries(root, "s1", ["replicas=3", "superuserPassword=hunter2", "replica=1"]);
        const by = Object.fromEntries(entries.map((e) => [e.key, e]));
        expect(by.syncMode).toEqual({ key: "syncMode", value: "async", source: "default", secret: false });
        expect(by.image.source).toBe("Pulumi.s1.yaml");
        expect(by.replicas).toEqual({ key: "replicas", value: "3", source: "set", secret: false });
        expect(by.replica.source).toBe("set"); // shown, so that it can be removed
        const text = formatConfig(entries, { json: false, showSecrets: false });
        expect(text.split("\n")[0]).toMatch(/^KEY\s+VALUE\s+SOURCE$/);
        expect(text).toMatch(/superuserPassword\s+\[secret\]\s+set/);
        expect(text).not.toContain("hunter2");
        expect(formatConfig(entries, { json: false, showSecrets: true })).toContain("hunter2");
        expect(JSON.parse(formatConfig(entries, { json: true, showSecrets: false })).replicas).toEqual({
            value: "3",
            source: "set",
            secret: false,
        });
        fs.rmSync(root, { recursive: true });
    });
});

describe("up's summary and progress lines", () => {
    test("how to tell it worked and how to connect", () => {
        const lines = upSummary("nc1", {
            checkReport: { value: { ok: true, checks: [{ ok: true }, { ok: true }] }, secret: false },
            primary: { value: { node: "pg1", container: "nc1-pg1", host: "127.0.0.1", port: 52432 }, secret: false },
        });
        expect(lines).toEqual([
            "checkReport.ok: true (2 checks passed; details: npm run live -- output checkReport --stack nc1 --json)",
            "primary: pg1 (nc1-pg1, 127.0.0.1:52432)",
            "connect: docker exec -it nc1-pg1 psql -U postgres",
            '     or: psql "$(npm run -s live -- output primaryConnectionString --stack nc1 --show-secrets)"',
        ]);
        expect(upSummary("x", {})[0]).toBe("checkReport: none (checks is off)");
    });

    test("progress lines name the Docker object after the logical name (still the third field)", () => {
        expect(dockerObjectName("docker:index/container:Container", { name: "nc1-pgbouncer-rw" })).toBe(
            "nc1-pgbouncer-rw",
        );
        expect(dockerObjectName("command:local:Command", { name: "x" })).toBeUndefined();
        const line = progressLine(
            "created",
            "docker:index/container:Container",
            "pg-pooler-rw",
            "nc1-pgbouncer-rw",
            4.52,
        );
        expect(line).toBe("  created   docker:index/container:Container       pg-pooler-rw -> nc1-pgbouncer-rw (4.5s)");
        // tests/support/live-client.ts parses [action, type, name] this way
        expect(/^ {2}(created|replaced|updated|deleted|unchanged|failed)\s+(\S+)\s+(\S+)/.exec(line)?.slice(1)).toEqual(
            ["created", "docker:index/container:Container", "pg-pooler-rw"],
        );
        expect(progressLine("unchanged", "command:local:Command", "pg-checks", undefined, 0)).toBe(
            "  unchanged command:local:Command                  pg-checks",
        );
    });
});

describe("config verbs on a stack's state", () => {
    test("a misspelt key is refused by config set (nothing recorded); a recorded one is listed with the fix and removable", () => {
        const state = { config: ["replicas=1"] };
        const set = configCommand(ROOT, { verb: "config-set", stack: "S", key: "replica", value: "3" }, state);
        expect(set).toMatchObject({ code: 1, save: false });
        expect(set.stderr).toMatch(/did you mean replicas\?.*\nreplica was not recorded\n$/s);
        expect(state.config).toEqual(["replicas=1"]);

        // A state written before these checks existed, holding the misspelt key.
        state.config = ["replica=3", "replicas=1"];
        const list = configCommand(ROOT, { verb: "config", stack: "S", json: false, showSecrets: false }, state);
        expect(list.code).toBe(0);
        expect(list.stdout).toMatch(/^replica\s+3\s+set$/m);
        expect(list.stderr).toContain("warning: up would fail: pg-replication:replica is not a known key");
        expect(list.stderr).toContain("remove it with npm run live -- config rm replica --stack S");

        const rm = configCommand(ROOT, { verb: "config-rm", stack: "S", key: "replica" }, state);
        expect(rm).toEqual({
            stdout: "",
            stderr: "stack S: replica removed; apply it with npm run live -- up --stack S\n",
            code: 0,
            save: true,
        });
        expect(state.config).toEqual(["replicas=1"]);
        expect(configCommand(ROOT, { verb: "config-rm", stack: "S", key: "replica" }, state)).toMatchObject({
            code: 1,
            stderr: expect.stringMatching(/replica is not set for stack S/),
        });
        expect(configCommand(ROOT, { verb: "config-rm", stack: "local", key: "image" }, { config: [] }).stderr).toMatch(
            /comes from Pulumi.local.yaml; edit that file/,
        );

        const ok = configCommand(ROOT, { verb: "config-set", stack: "S", key: "syncMode", value: "sync" }, state);
        expect(ok).toMatchObject({ code: 0, save: true });
        expect(state.config).toEqual(["replicas=1", "syncMode=sync"]);
        const secret = configCommand(
            ROOT,
            { verb: "config-set", stack: "S", key: "superuserPassword", value: "hunter2-hunter2" },
            state,
        );
        expect(secret.stderr).toBe(
            "stack S: superuserPassword = [secret]; apply it with npm run live -- up --stack S\n" +
                "note: superuserPassword given on the command line: the value is in your shell history and was visible " +
                "in the process list; next time: npm run -s live -- config set --secret superuserPassword --stack S < password-file\n",
        );
    });
});

describe("the CLI itself (never reaches Docker)", () => {
    const stack = `ncunit${process.pid}`;
    const stateFile = path.join(ROOT, ".live-state", `${stack}.json`);
    const run = (...args: string[]) =>
        spawnSync(process.execPath, ["-r", "./scripts/register-ts.js", "harness/cli.ts", ...args], {
            cwd: ROOT,
            encoding: "utf8",
        });
    afterAll(() => fs.rmSync(stateFile, { force: true }));

    test("--help exits 0 on stdout; a usage error exits 2 naming the argument; a misspelt --config is refused before Docker", () => {
        const help = run("--help");
        expect(help.status).toBe(0);
        expect(help.stdout).toContain("usage: npm run live -- <command>");
        const bad = run("up", "--interval", "0");
        expect(bad.status).toBe(2);
        expect(bad.stderr).toBe(
            "live: unknown option --interval\nusage: npm run live -- <command> [--stack NAME] [options]\n(npm run live -- --help for every option)\n",
        );
        const up = run("up", "--stack", stack, "--config", "replica=3");
        expect(up.status).toBe(1);
        expect(up.stderr).toMatch(/did you mean replicas\?.*nothing was recorded or deployed/s);
        expect(up.stderr).not.toContain("live harness (test support");
        expect(fs.existsSync(stateFile)).toBe(false);
    }, 60_000);

    test("config set --secret reads the value from standard input: recorded, masked, never on the command line", () => {
        const value = `Stdin-Secret-${process.pid}`;
        const set = spawnSync(
            process.execPath,
            [
                "-r",
                "./scripts/register-ts.js",
                "harness/cli.ts",
                "config",
                "set",
                "--secret",
                "superuserPassword",
                "--stack",
                stack,
            ],
            { cwd: ROOT, encoding: "utf8", input: `${value}\n` },
        );
        expect(set.status).toBe(0);
        expect(set.stderr).toBe(
            `stack ${stack}: superuserPassword = [secret]; apply it with npm run live -- up --stack ${stack}\n`,
        );
        expect(run("config", "--stack", stack).stdout).toMatch(/^superuserPassword\s+\[secret\]\s+set$/m);
        expect(run("config", "--stack", stack, "--show-secrets").stdout).toMatch(
            new RegExp(`^superuserPassword\\s+${value}\\s+set$`, "m"),
        );
        // Given on the command line instead: recorded as asked, with the way that keeps it off.
        const plain = run("config", "set", "superuserPassword", "abcdefgh12", "--stack", stack);
        expect(plain.status).toBe(0);
        expect(plain.stderr).toContain(
            `note: superuserPassword given on the command line: the value is in your shell history and was visible in the process list; ` +
                `next time: npm run -s live -- config set --secret superuserPassword --stack ${stack} < password-file`,
        );
    }, 60_000);
});

describe("config set --secret", () => {
    test("takes one KEY; a value on the command line or empty input is refused", () => {
        expect(parseLiveArgs(["config", "set", "--secret", "superuserPassword", "--stack", "s"])).toEqual({
            verb: "config-set",
            stack: "s",
            key: "superuserPassword",
            value: "",
            fromStdin: true,
        });
        expect(usageError(["config", "set", "--secret", "superuserPassword", "pw", "--stack", "s"])).toMatch(
            /^config set --secret takes one KEY and reads the value from standard input \(got 2 arguments\)/,
        );
        expect(usageError(["up", "--secret"])).toBe("--secret does not apply to up");
        expect(secretFromStdin("pw-1\n", "k")).toBe("pw-1");
        expect(() => secretFromStdin("\n", "superuserPassword")).toThrow(
            "config set --secret superuserPassword: standard input is empty; pipe the value in",
        );
        expect(secretOnCommandLineNote("s", ["syncMode", "pg-replication:replicationPassword"])).toContain(
            "note: replicationPassword given on the command line",
        );
        expect(secretOnCommandLineNote("s", ["syncMode"])).toBe("");
    });
});
