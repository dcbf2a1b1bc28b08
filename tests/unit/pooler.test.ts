import type * as PulumiModule from "@pulumi/pulumi";
import { CONTAINER_READY } from "../../infra/container-ready";
import { nodeAddressMap } from "../../model/topology";
import {
    POOLER_LISTENING,
    poolerConnstr,
    renderPgBouncerIni,
    renderPoolerEntrypoint,
    renderUserlist,
} from "../../model/pooler-config";
import { roleVerifier } from "../../model/scram";
import { setPasswordSql } from "../../model/sql";
import { repointPooler, RunResult } from "../../ops/pooler";
import { containsSecret, Json, unwrapSecrets } from "../../harness/secrets";

const PW = "pool-secret-pw";

describe("pgbouncer.ini rendering", () => {
    test("rw points every database at the primary", () => {
        const ini = renderPgBouncerIni("rw", "pg1", ["pg2", "pg3"]);
        expect(ini).toMatch(/^\* = host=pg1 port=5432$/m);
        expect(ini).not.toContain("pg2");
        expect(ini).toMatch(/^listen_port = 6432$/m);
        expect(ini).toMatch(/^auth_type = scram-sha-256$/m);
        expect(ini).toMatch(/^auth_file = \/etc\/pg-replication\/pgbouncer\/userlist\.txt$/m);
        expect(ini).toMatch(/^server_fast_close = 1$/m);
        expect(ini).not.toContain("{{");
    });

    test("ro lists the replicas round-robin, never the primary", () => {
        const ini = renderPgBouncerIni("ro", "pg1", ["pg2", "pg3"]);
        expect(ini).toMatch(/^\* = host=pg2,pg3 port=5432 load_balance_hosts=round-robin$/m);
        expect(ini).not.toMatch(/host=.*pg1/);
        expect(poolerConnstr("ro", "pg2", ["pg3"])).toBe("host=pg3 port=5432");
    });

    test("ro falls back to the primary when there are no replicas", () => {
        expect(renderPgBouncerIni("ro", "pg1", [])).toMatch(/^\* = host=pg1 port=5432$/m);
        expect(renderPgBouncerIni("ro", "pg1", [])).toContain("the cluster has no replicas");
    });

    test("after a failover both endpoints follow the new topology", () => {
        expect(renderPgBouncerIni("rw", "pg2", ["pg3"])).toMatch(/^\* = host=pg2 port=5432$/m);
        expect(renderPgBouncerIni("ro", "pg2", ["pg1", "pg3"])).toMatch(
            /^\* = host=pg1,pg3 port=5432 load_balance_hosts=round-robin$/m,
        );
        // With the fixed-address map the cluster passes, PgBouncer needs no DNS at all.
        const hosts = nodeAddressMap("10.5.0.0/24");
        expect(renderPgBouncerIni("ro", "pg2", ["pg1", "pg3"], hosts)).toMatch(
            /^\* = host=10\.5\.0\.11,10\.5\.0\.13 port=5432 load_balance_hosts=round-robin$/m,
        );
        expect(renderPgBouncerIni("rw", "pg2", ["pg1", "pg3"], hosts)).toMatch(/^\* = host=10\.5\.0\.12 port=5432$/m);
    });

    test("bad topologies are refused", () => {
        expect(() => renderPgBouncerIni("rw", "pg1 port=1", [])).toThrow("invalid node name");
        expect(() => renderPgBouncerIni("ro", "pg1", ["pg1"])).toThrow("both the primary and a replica");
        expect(() => renderPgBouncerIni("ro", "pg1", ["pg2", "pg2"])).toThrow("duplicate replica");
    });
});

describe("userlist.txt and entrypoint", () => {
    test("holds the verifier the server stores for postgres, never the plaintext", () => {
        const verifier = roleVerifier(PW, "postgres");
        const userlist = renderUserlist([{ role: "postgres", verifier }]);
        expect(userlist).toBe(`"postgres" "${verifier}"\n`);
        expect(userlist).not.toContain(PW);
        // The same verifier the cluster sets with ALTER ROLE: SCRAM pass-through needs identical secrets.
        expect(setPasswordSql("postgres", roleVerifier(PW, "postgres"))).toContain(verifier);
    });

    test("refuses anything but a SCRAM verifier", () => {
        expect(() => renderUserlist([{ role: "postgres", verifier: PW }])).toThrow("must be a SCRAM-SHA-256 verifier");
    });

    test("entrypoint hands the auth file over and drops root", () => {
        const sh = renderPoolerEntrypoint();
        expect(sh).toContain("chown postgres /etc/pg-replication/pgbouncer/userlist.txt");
        expect(sh).toContain("chmod 0600 /etc/pg-replication/pgbouncer/userlist.txt");
        expect(sh).toContain("exec pgbouncer -u postgres /etc/pg-replication/pgbouncer/pgbouncer.ini\n");
    });
});

interface Declared {
    type: string;
    name: string;
    raw: Json;
    inputs: Json;
    parent?: string;
    deleteBeforeReplace?: boolean;
    ignoreChanges?: string[];
}

/** Declares a PgBouncerPool under Pulumi's mocks; returns the registrations and resolved outputs. */
async function declarePool(
    replicaNodes: string[],
): Promise<{ declared: Declared[]; outputs: Record<string, unknown> }> {
    const declared: Declared[] = [];
    const outputs: Record<string, unknown> = {};
    await jest.isolateModulesAsync(async () => {
        const pulumi: typeof PulumiModule = await import("@pulumi/pulumi");
        const opts = new Map<string, { parent?: string; deleteBeforeReplace?: boolean; ignoreChanges?: string[] }>();
        await pulumi.runtime.setMocks(
            {
                newResource(args) {
                    const o = opts.get(`${args.type}::${args.name}`);
                    declared.push({
                        type: args.type,
                        name: args.name,
                        raw: args.inputs,
                        inputs: unwrapSecrets(args.inputs),
                        ...o,
                    });
                    return { id: args.custom ? `${args.name}-id` : undefined, state: unwrapSecrets(args.inputs) };
                },
                call(args) {
                    throw new Error(`unexpected invoke ${args.token}`);
                },
            },
            "pg-replication",
            "unit",
            false,
        );
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((t) => {
                const parent = t.opts.parent as unknown as { __pulumiType?: string } | undefined;
                opts.set(`${t.type}::${t.name}`, {
                    parent: parent?.__pulumiType,
                    deleteBeforeReplace: (t.opts as PulumiModule.CustomResourceOptions).deleteBeforeReplace,
                    ignoreChanges: t.opts.ignoreChanges,
                });
                return undefined;
            });
            const { PgBouncerPool } = await import("../../infra/pooler");
            const pool = new PgBouncerPool("pool", {
                namePrefix: "unit",
                image: "sha256:pooler-image",
                network: "unit-net",
                primaryNode: "pg1",
                replicaNodes,
                rwPort: 15442,
                roPort: 15443,
                superuserPassword: pulumi.secret(PW),
            });
            const resolve = (o: PulumiModule.Output<string>) => new Promise((r) => o.apply((v) => (r(v), v)));
            outputs.rwContainerName = await resolve(pool.rwContainerName);
            outputs.roContainerName = await resolve(pool.roContainerName);
            return {};
        });
    });
    return { declared, outputs };
}

describe("PgBouncerPool under mocks", () => {
    let declared: Declared[];
    let outputs: Record<string, unknown>;
    const containers = () => declared.filter((d) => d.type === "docker:index/container:Container");
    const upload = (c: Declared, file: string) => c.inputs.uploads.find((u: { file: string }) => u.file.endsWith(file));
    beforeAll(async () => {
        ({ declared, outputs } = await declarePool(["pg2", "pg3"]));
    });

    test("one component, two containers and their ready checks parented to it, nothing else", () => {
        expect(
            declared
                .map((d) => d.type)
                .filter((t) => t !== "pulumi:pulumi:Stack")
                .sort(),
        ).toEqual([
            "command:local:Command",
            "command:local:Command",
            "command:local:Command",
            "docker:index/container:Container",
            "docker:index/container:Container",
            "pg-replication:index:PgBouncerPool",
        ]);
        for (const c of containers()) {
            expect(c.parent).toBe("pg-replication:index:PgBouncerPool");
            expect(c.deleteBeforeReplace).toBe(true);
        }
        expect(outputs).toEqual({ rwContainerName: "unit-pgbouncer-rw", roContainerName: "unit-pgbouncer-ro" });
    });

    test("each endpoint is up once PgBouncer listens: its ready command probes what the healthcheck does", () => {
        for (const role of ["rw", "ro"]) {
            const ready = declared.find((d) => d.name === `pool-${role}-ready`)!;
            expect(ready.parent).toBe("pg-replication:index:PgBouncerPool");
            expect(ready.inputs.create).toBe(CONTAINER_READY);
            expect(ready.inputs.environment).toEqual({
                PGR_CONTAINER: `unit-pgbouncer-${role}`,
                PGR_READY_PROBE: POOLER_LISTENING,
                PGR_READY_TIMEOUT: "240",
            });
            expect(ready.inputs.triggers).toEqual([`pool-${role}-id`]);
            // Registered once its container exists.
            expect(declared.indexOf(ready)).toBeGreaterThan(declared.findIndex((d) => d.name === `pool-${role}`));
        }
    });

    test("names, network, ports, labels, healthcheck, restart policy", () => {
        const [rw, ro] = containers();
        expect([rw.inputs.name, ro.inputs.name]).toEqual(["unit-pgbouncer-rw", "unit-pgbouncer-ro"]);
        expect(rw.inputs.ports).toEqual([{ internal: 6432, external: 15442, ip: "127.0.0.1", protocol: "tcp" }]);
        expect(ro.inputs.ports).toEqual([{ internal: 6432, external: 15443, ip: "127.0.0.1", protocol: "tcp" }]);
        for (const [c, role] of [
            [rw, "rw"],
            [ro, "ro"],
        ] as const) {
            expect(c.inputs.image).toBe("sha256:pooler-image");
            expect(c.inputs.networksAdvanced).toEqual([{ name: "unit-net", aliases: [`pgbouncer-${role}`] }]);
            expect(c.inputs.labels).toEqual([
                { label: "pg-replication.cluster", value: "unit" },
                { label: "pg-replication.pooler", value: role },
            ]);
            expect(c.inputs.restart).toBe("unless-stopped");
            expect(c.inputs.wait).toBeUndefined(); // the ready command decides when it is up
            expect(c.inputs.healthcheck.tests).toEqual(["CMD-SHELL", POOLER_LISTENING]);
            expect(POOLER_LISTENING).toContain(":1920 "); // 6432 in /proc/net/tcp
            expect(c.inputs.entrypoints).toEqual(["/bin/sh", "/etc/pg-replication/pgbouncer/entrypoint.sh"]);
            expect(c.inputs.volumes).toBeUndefined(); // no bind mounts: uploads only
        }
    });

    test("uploads: entrypoint, the endpoint's ini and the userlist, which is secret", () => {
        for (const c of containers()) {
            expect(c.inputs.uploads.map((u: { file: string }) => u.file)).toEqual(
                ["entrypoint.sh", "pgbouncer.ini", "userlist.txt", "tls.ini"].map(
                    (f) => `/etc/pg-replication/pgbouncer/${f}`,
                ),
            );
            expect(upload(c, "userlist.txt").content).toBe(`"postgres" "${roleVerifier(PW, "postgres")}"\n`);
            expect(upload(c, "userlist.txt").permissions).toBe("0600");
            expect(containsSecret(c.raw.uploads)).toBe(true);
            expect(JSON.stringify(c.inputs)).not.toContain(PW);
            expect(c.inputs.envs).toBeUndefined();
        }
        const [rw, ro] = containers();
        expect(upload(rw, "pgbouncer.ini").content).toBe(renderPgBouncerIni("rw", "pg1", ["pg2", "pg3"]));
        expect(upload(ro, "pgbouncer.ini").content).toBe(renderPgBouncerIni("ro", "pg1", ["pg2", "pg3"]));
    });

    test("the ini is uploaded at creation only; the targets command re-points both endpoints in place", () => {
        for (const c of containers()) {
            const ini = c.inputs.uploads.findIndex((u: { file: string }) => u.file.endsWith("pgbouncer.ini"));
            expect(c.ignoreChanges).toContain(`uploads[${ini}]`);
        }
        const targets = declared.find((d) => d.name === "pool-targets")!;
        expect(targets.parent).toBe("pg-replication:index:PgBouncerPool");
        expect(targets.inputs.create).toBe("node -r ./scripts/register-ts.js ops/hooks/repoint-pooler.ts");
        expect(targets.inputs.environment).toEqual({
            PGR_CLUSTER: "unit",
            PGR_PRIMARY: "pg1",
            PGR_REPLICAS: "pg2,pg3",
            PGR_NODE_HOSTS: "{}",
            PGR_CONTAINER_IDS: "pool-rw-id,pool-ro-id",
        });
    });

    test("without replicas the read-only endpoint serves from the primary", async () => {
        const { declared: alone } = await declarePool([]);
        const ro = alone.find((d) => d.inputs.name === "unit-pgbouncer-ro")!;
        expect(upload(ro, "pgbouncer.ini").content).toMatch(/^\* = host=pg1 port=5432$/m);
    });
});

/** A fake Docker CLI for repointPooler: records calls, answers from a script of admin-console states. */
function fakeDocker(opts: {
    running?: boolean;
    missing?: boolean;
    psql?: boolean;
    staleRounds?: number;
    /** SHOW SERVERS fails from this call on (1 = the first). */
    showFailsFrom?: number;
}) {
    const calls: string[][] = [];
    const files = new Map<string, string>();
    let staleLeft = opts.staleRounds ?? 0;
    let shows = 0;
    const ok = (stdout = ""): RunResult => ({ code: 0, stdout, stderr: "" });
    const run = (argv: string[], stdin?: string): Promise<RunResult> => Promise.resolve(reply(argv, stdin));
    const reply = (argv: string[], stdin?: string): RunResult => {
        calls.push(argv);
        const container = argv.find((a) => a.startsWith("st-pgbouncer-")) ?? "";
        if (argv[1] === "inspect" && opts.missing)
            return { code: 1, stdout: "", stderr: `Error: No such object: ${container}` };
        if (argv[1] === "inspect")
            return ok(opts.running === false && container.endsWith("-ro") ? "false\n" : "true\n");
        if (argv.includes("sh")) return (files.set(container, stdin ?? ""), ok());
        if (argv.includes("cat")) return ok(files.get(container));
        if (argv[1] === "kill") return ok();
        if (argv.includes("psql")) {
            if (opts.psql === false)
                return { code: 127, stdout: "", stderr: 'exec: "psql": executable file not found in $PATH' };
            const cmd = argv[argv.length - 1];
            if (cmd === "SHOW SERVERS") {
                if (++shows >= (opts.showFailsFrom ?? Infinity))
                    return { code: 1, stdout: "", stderr: "ERROR: not allowed" };
                const stale = staleLeft > 0 ? "1" : "0";
                return ok(`type\tuser\tclose_needed\tptr\tlink\nS\tpostgres\t${stale}\t0xs1\t0xc1\n`);
            }
            if (cmd === "SHOW CLIENTS") return ok("type\tuser\tptr\tid\nC\tpostgres\t0xc1\t42\n");
            if (cmd === "KILL_CLIENT 42") return ((staleLeft = 0), ok());
            if (cmd === "RELOAD") return ok();
        }
        throw new Error(`unexpected ${argv.join(" ")}`);
    };
    return { run, calls, files };
}

describe("repointPooler", () => {
    test("rewrites both ini files in place with the renderer's output and reloads on the console", async () => {
        const fake = fakeDocker({});
        const res = await repointPooler("st", "pg2", ["pg3"], { run: fake.run, drainTimeoutMs: 0 });
        expect(res).toEqual([
            { role: "rw", container: "st-pgbouncer-rw", targets: ["pg2"], reload: "console", killedClients: 0 },
            { role: "ro", container: "st-pgbouncer-ro", targets: ["pg3"], reload: "console", killedClients: 0 },
        ]);
        expect(fake.files.get("st-pgbouncer-rw")).toBe(renderPgBouncerIni("rw", "pg2", ["pg3"]));
        expect(fake.files.get("st-pgbouncer-ro")).toBe(renderPgBouncerIni("ro", "pg2", ["pg3"]));
        const reload = fake.calls.find((c) => c.includes("RELOAD"))!;
        expect(reload.slice(0, 5)).toEqual(["docker", "exec", "-u", "postgres", "st-pgbouncer-rw"]);
        expect(fake.calls.some((c) => c.includes("restart") || c.includes("stop"))).toBe(false);
    });

    test("kills the clients of sessions still on an old target after the drain time", async () => {
        const fake = fakeDocker({ staleRounds: 1 });
        const [rw] = await repointPooler("st", "pg2", [], { run: fake.run, drainTimeoutMs: 0 });
        expect(rw.killedClients).toBe(1);
        expect(fake.calls.some((c) => c.includes("KILL_CLIENT 42"))).toBe(true);
    });

    test("a failing SHOW SERVERS while draining fails the repoint at once, not after the drain time", async () => {
        const fake = fakeDocker({ staleRounds: 1, showFailsFrom: 2 });
        const started = Date.now();
        await expect(repointPooler("st", "pg2", [], { run: fake.run, drainTimeoutMs: 60_000 })).rejects.toThrow(
            /^st-pgbouncer-r[wo]: SHOW SERVERS failed: ERROR: not allowed$/,
        );
        expect(Date.now() - started).toBeLessThan(5000);
    });

    test("falls back to SIGHUP when the image has no psql", async () => {
        const fake = fakeDocker({ psql: false });
        const res = await repointPooler("st", "pg2", ["pg3"], { run: fake.run });
        expect(res.map((r) => r.reload)).toEqual(["sighup", "sighup"]);
        expect(fake.calls).toContainEqual(["docker", "kill", "-s", "HUP", "st-pgbouncer-rw"]);
    });

    test("fails clearly, before touching either endpoint, when a pooler container is not running", async () => {
        const fake = fakeDocker({ running: false });
        await expect(repointPooler("st", "pg2", ["pg3"], { run: fake.run })).rejects.toThrow(
            "st-pgbouncer-ro: pooler container is not running",
        );
        expect(fake.files.size).toBe(0);
    });

    test("does nothing when the stack has no pooler (pooler false)", async () => {
        const fake = fakeDocker({ missing: true });
        expect(await repointPooler("st", "pg2", ["pg3"], { run: fake.run })).toEqual([]);
        expect(fake.calls.every((c) => c[1] === "inspect")).toBe(true);
    });
});
