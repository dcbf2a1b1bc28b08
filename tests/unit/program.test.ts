import * as path from "path";
import { CONTAINER_READY } from "../../infra/container-ready";
import { containsSecret } from "../../harness/secrets";
import { FAKE_CHECKED_AT, MockRun, Registered, runProgramWithMocks } from "../support/mock-program";

const CONTAINER = "docker:index/container:Container";
const COMMAND = "command:local:Command";
const VOLUME = "docker:index/volume:Volume";
const BOOTSTRAP_ENV = "/etc/pg-replication/bootstrap.env";

/** The PostgreSQL nodes' containers (not the pooler's). */
const containers = (run: MockRun) =>
    run.resources.filter((r) => r.type === CONTAINER && /-pg\d+-container$/.test(r.name));
const byName = (run: MockRun) => new Map(run.resources.map((r) => [r.name, r]));
/** The content a container receives at `file`. */
const uploadOf = (c: Registered, file: string): string =>
    c.inputs.uploads.find((u: { file: string }) => u.file === file).content;

describe("the stack program under mocks", () => {
    let run: MockRun;
    beforeAll(async () => {
        run = await runProgramWithMocks(
            { replicas: "2", superuserPassword: "super-secret-pw", replicationPassword: "repl-secret-pw" },
            "unit",
        );
    });

    test("declares the network, image, volumes, containers and commands", () => {
        const count = (type: string) => run.resources.filter((r) => r.type === type).length;
        expect(count("docker:index/network:Network")).toBe(1);
        expect(count("docker:index/remoteImage:RemoteImage")).toBe(1);
        expect(count(VOLUME)).toBe(4); // three data volumes and the backup repository's
        expect(count(CONTAINER)).toBe(6); // three nodes, the two PgBouncer endpoints, the backup repository
        expect(
            run.resources
                .filter((r) => r.type === CONTAINER)
                .map((r) => r.inputs.name)
                .sort(),
        ).toEqual(["unit-backup", "unit-pg1", "unit-pg2", "unit-pg3", "unit-pgbouncer-ro", "unit-pgbouncer-rw"]);
        expect(
            run.resources
                .filter((r) => r.type === COMMAND)
                .map((r) => r.name)
                .sort(),
        ).toEqual([
            "pg-backup-cipher-pass",
            "pg-backup-config",
            "pg-backup-first",
            "pg-backup-ready",
            "pg-backup-tls-files",
            "pg-ca-file",
            "pg-checks",
            "pg-pg1-ready",
            "pg-pg1-tls-files",
            "pg-pg2-ready",
            "pg-pg2-tls-files",
            "pg-pg3-ready",
            "pg-pg3-tls-files",
            "pg-pooler-ro-ready",
            "pg-pooler-ro-tls-files",
            "pg-pooler-rw-ready",
            "pg-pooler-rw-tls-files",
            "pg-pooler-targets",
            "pg-replication-user",
            "pg-settings",
            "pg-slot-pg2",
            "pg-slot-pg3",
            "pg-superuser",
            "pg-sync-policy",
        ]);
    });

    test("containers: names, aliases, ports bound to 127.0.0.1, healthcheck, restart policy", () => {
        const cs = containers(run);
        expect(cs.map((c) => c.inputs.name)).toEqual(["unit-pg1", "unit-pg2", "unit-pg3"]);
        cs.forEach((c, i) => {
            const node = `pg${i + 1}`;
            expect(c.inputs.networksAdvanced).toEqual([
                { name: "unit-net", aliases: [node, "pg-cluster"], ipv4Address: `172.20.0.${11 + i}` },
            ]);
            expect(c.inputs.ports).toEqual([{ internal: 5432, external: 15432 + i, ip: "127.0.0.1", protocol: "tcp" }]);
            expect(c.inputs.healthcheck.tests).toEqual(["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]);
            expect(c.inputs.restart).toBe("unless-stopped");
            // Up once PostgreSQL answers (the ready command), not when Docker last called it healthy.
            expect(c.inputs.wait).toBeUndefined();
            // The reference, not the id: a moved tag must not replace the containers.
            expect(c.inputs.image).toBe("postgres:17");
            expect(c.inputs.volumes[0]).toEqual({
                volumeName: `unit-${node}-data`,
                containerPath: "/var/lib/postgresql/data",
            });
            expect(c.deleteBeforeReplace).toBe(true);
            // bootstrap.env and settings.conf, found by their paths in the container, are the uploads whose
            // changes are ignored: both are read only on an empty volume (a changed setting is applied online);
            // so are the CA, certificate and key: a new one is written in place (the tls-files command).
            const at = (file: string) =>
                `uploads[${c.inputs.uploads.findIndex((u: { file: string }) => u.file === file)}]`;
            // The healthcheck is set at creation (infra/healthcheck.ts HEALTHCHECK_SET_AT_CREATION).
            expect(c.ignoreChanges).toEqual([
                "image",
                "healthcheck",
                at(BOOTSTRAP_ENV),
                at("/etc/pg-replication/settings.conf"),
                at("/etc/pg-replication/tls-ca.crt"),
                at("/etc/pg-replication/tls.crt"),
                at("/etc/pg-replication/tls.key"),
            ]);
            expect(c.ignoreChanges).not.toContain("uploads[-1]");
            expect(c.inputs.destroyGraceSeconds).toBe(60);
        });
    });

    test("a node is up once its PostgreSQL accepts connections: what uses it waits for its ready command", () => {
        const names = byName(run);
        const at = (n: string) => run.resources.indexOf(names.get(n)!);
        for (const node of ["pg1", "pg2", "pg3"]) {
            const ready = names.get(`pg-${node}-ready`)!;
            expect(ready.inputs.create).toBe(CONTAINER_READY);
            expect(ready.inputs.environment).toEqual({
                PGR_CONTAINER: `unit-${node}`,
                PGR_READY_PROBE: "pg_isready -q -h 127.0.0.1 -p 5432",
                PGR_READY_TIMEOUT: "360",
            });
            // A new container (another id) is waited for again.
            expect(ready.inputs.triggers).toEqual([`pg-${node}-container-id`]);
            expect(at(`pg-${node}-ready`)).toBeGreaterThan(at(`pg-${node}-container`));
            expect(at("pg-checks")).toBeGreaterThan(at(`pg-${node}-ready`));
        }
    });

    test("nothing runs on a node before its ready check is done: ready checks held 300 ms", async () => {
        const held = await runProgramWithMocks(
            { replicas: "2", superuserPassword: "super-secret-pw", replicationPassword: "repl-secret-pw" },
            "unit",
            [],
            "1.41",
            300,
        );
        const at = (event: string) => {
            const i = held.events.indexOf(event);
            expect({ event, found: i >= 0 }).toEqual({ event, found: true });
            return i;
        };
        // Everything run on the primary waits for it to answer; the replicas clone through those roles
        // and slots; the endpoints and the checks wait for every ready check they need.
        for (const onPrimary of [
            "pg-superuser",
            "pg-replication-user",
            "pg-slot-pg2",
            "pg-slot-pg3",
            "pg-sync-policy",
        ]) {
            expect(at(`registered ${onPrimary}`)).toBeGreaterThan(at("resolved pg-pg1-ready"));
        }
        for (const replica of ["pg2", "pg3"]) {
            expect(at(`registered pg-${replica}-container`)).toBeGreaterThan(at("resolved pg-pg1-ready"));
        }
        for (const ready of [
            "pg-pg1-ready",
            "pg-pg2-ready",
            "pg-pg3-ready",
            "pg-pooler-rw-ready",
            "pg-pooler-ro-ready",
        ]) {
            expect(at("registered pg-checks")).toBeGreaterThan(at(`resolved ${ready}`));
        }
    });

    test("configuration arrives as uploaded files, not bind mounts", () => {
        for (const c of containers(run)) {
            const files = c.inputs.uploads.map((u: { file: string }) => u.file).sort();
            expect(files).toEqual(
                [
                    "archive-get.sh",
                    "backup-node-setup.sh",
                    "bootstrap.env",
                    "entrypoint.sh",
                    "node.env",
                    "pg_hba.conf",
                    "pg_ident.conf",
                    "pgbackrest.conf",
                    "pgpass",
                    "postgresql.conf",
                    "settings.conf",
                    "tls-ca.crt",
                    "tls-setup.sh",
                    "tls.crt",
                    "tls.key",
                ].map((f) => `/etc/pg-replication/${f}`),
            );
            expect(c.inputs.volumes.every((v: { hostPath?: string }) => v.hostPath === undefined)).toBe(true);
        }
    });

    test("slots, roles and the superuser's password exist before a replica bootstraps; async policy and slots do not wait", () => {
        const names = byName(run);
        const pg2 = names.get("pg-pg2-container");
        // The replica container's parent component depends on the roles and its slot.
        const pg2Node = run.resources.indexOf(pg2!);
        for (const dep of ["pg-slot-pg2", "pg-replication-user", "pg-superuser"]) {
            expect(run.resources.indexOf(names.get(dep)!)).toBeLessThan(pg2Node);
        }
        // …and on the backup repository's container, so that a destroy stops it after the nodes.
        expect(pg2!.dependsOn).toEqual([
            `${COMMAND}::pg-replication-user`,
            `${COMMAND}::pg-slot-pg2`,
            `${COMMAND}::pg-superuser`,
            `${CONTAINER}::pg-backup-container`,
        ]);
        // Made alongside the roles (a slot needs none), and in async mode the policy names no standby.
        expect(names.get("pg-slot-pg2")!.dependsOn).toEqual([]);
        expect(names.get("pg-sync-policy")!.dependsOn).toEqual([]);
        for (const dep of ["pg-sync-policy", "pg-pg1-container", "pg-pg2-container", "pg-pg3-container"]) {
            expect(run.resources.indexOf(names.get("pg-checks")!)).toBeGreaterThan(
                run.resources.indexOf(names.get(dep)!),
            );
        }
        // The checks also prove the PgBouncer endpoints, so they come after both are up.
        for (const ready of ["pg-pooler-rw-ready", "pg-pooler-ro-ready"]) {
            expect(run.resources.indexOf(names.get("pg-checks")!)).toBeGreaterThan(
                run.resources.indexOf(names.get(ready)!),
            );
        }
        expect(JSON.parse(names.get("pg-checks")!.inputs.environment.PGR_CHECK_SPEC).endpoints).toEqual({
            rw: { host: "127.0.0.1", port: 15442 },
            ro: { host: "127.0.0.1", port: 15443 },
        });
    });

    test("backups: the repository gets the cipher passphrase only in a secret root-only file; nodes their own TLS key", () => {
        const repo = run.get(CONTAINER, "pg-backup-container");
        const conf = uploadOf(repo, "/etc/pg-replication/pgbackrest.conf");
        expect(conf).toContain("repo1-cipher-pass=generated-pg-backup-cipher-pass\n");
        expect(conf).toContain("repo1-retention-full=2\n");
        expect(conf).toContain("pg1-host=172.20.0.11\n");
        expect(conf).toContain("pg3-host=172.20.0.13\n");
        expect(containsSecret(repo.rawInputs.uploads)).toBe(true);
        expect(repo.inputs.uploads.find((u: { file: string }) => u.file.endsWith("pgbackrest.conf")).permissions).toBe(
            "0600",
        );
        expect(repo.inputs.envs).toBeUndefined();
        expect(repo.inputs.init).toBe(true);
        expect(repo.inputs.networksAdvanced).toEqual([{ name: "unit-net", ipv4Address: "172.20.0.9" }]);
        // Elsewhere only on the standard input of the command that rewrites it in place, as a secret.
        const config = run.get(COMMAND, "pg-backup-config");
        expect(config.inputs.stdin).toBe(conf);
        expect(containsSecret(config.rawInputs.stdin)).toBe(true);
        expect(JSON.stringify(config.inputs.environment)).not.toContain("generated-pg-backup-cipher-pass");
        expect(
            JSON.stringify(run.resources.filter((r) => r !== repo && r !== config).map((r) => r.inputs)),
        ).not.toContain("generated-pg-backup-cipher-pass");
        for (const c of containers(run)) {
            const node = c.inputs.hostname;
            expect(uploadOf(c, "/etc/pg-replication/tls.key")).toBe(`fake-key-of-pg-${node}-tls-key`);
            expect(uploadOf(c, "/etc/pg-replication/tls.crt")).toBe(`fake-cert-of-pg-${node}-tls-cert`);
            expect(uploadOf(c, "/etc/pg-replication/tls-ca.crt")).toBe("fake-cert-of-pg-ca-ca");
            expect(uploadOf(c, "/etc/pg-replication/pgbackrest.conf")).toContain("repo1-host=172.20.0.9\n");
            expect(c.inputs.init).toBe(true);
        }
        // Each certificate names every way the node is reached: its container, the node, the cluster
        // alias and its fixed address on the network; localhost and 127.0.0.1 from the Docker host.
        expect(run.get("tls:index/certRequest:CertRequest", "pg-pg2-tls-csr").inputs).toMatchObject({
            subject: { commonName: "pgbackrest-client" },
            dnsNames: ["unit-pg2", "pg2", "pg-cluster", "localhost"],
            ipAddresses: ["172.20.0.12", "127.0.0.1"],
        });
        expect(run.get(VOLUME, "pg-backup-volume").inputs.name).toBe("unit-backup-repo");
        expect(run.get(COMMAND, "pg-backup-first").dependsOn).toEqual(
            expect.arrayContaining([
                `${COMMAND}::pg-backup-ready`,
                `${COMMAND}::pg-superuser`,
                "pg-replication:index:PostgresNode::pg-pg1",
                "pg-replication:index:PostgresNode::pg-pg3",
            ]),
        );
    });

    test("backups false and tls off: no repository, no certificates, archive_mode off, ssl off", async () => {
        const off = await runProgramWithMocks({
            replicas: "1",
            backups: "false",
            tls: "off",
            superuserPassword: "pw-123456",
            replicationPassword: "pw-654321",
        });
        expect(off.resources.filter((r) => r.type.startsWith("tls:") || /backup/.test(r.name))).toEqual([]);
        for (const c of containers(off)) {
            expect(uploadOf(c, "/etc/pg-replication/postgresql.conf")).toContain("archive_mode = off\n");
            expect(uploadOf(c, "/etc/pg-replication/postgresql.conf")).toContain("ssl = 'off'\n");
        }
    });

    test("secrets stay secret: uploads, role SQL, checks environment, outputs", () => {
        const names = byName(run);
        for (const c of containers(run)) {
            // The pgpass upload makes the whole uploads input secret in state.
            expect(containsSecret(c.rawInputs.uploads)).toBe(true);
            expect(c.inputs.uploads.find((u: { file: string }) => u.file.endsWith("pgpass")).content).toBe(
                "*:*:*:replicator:repl-secret-pw\n*:*:*:postgres:super-secret-pw\n",
            );
            expect(c.inputs.envs).toBeUndefined();
            expect(
                JSON.stringify(c.inputs.uploads.filter((u: { file: string }) => !u.file.endsWith("pgpass"))),
            ).not.toContain("repl-secret-pw");
        }
        expect(containsSecret(names.get("pg-replication-user")!.rawInputs.stdin)).toBe(true);
        expect(names.get("pg-replication-user")!.inputs.stdin).not.toContain("repl-secret-pw");
        expect(names.get("pg-replication-user")!.inputs.stdin).toContain("SCRAM-SHA-256$4096:");
        expect(containsSecret(names.get("pg-checks")!.rawInputs.environment)).toBe(true);
        for (const key of [
            "primaryConnectionString",
            "replicaConnectionStrings",
            "rwConnectionString",
            "roConnectionString",
            "superuserPassword",
            "replicationPassword",
        ]) {
            expect(run.outputs[key].secret).toBe(true);
        }
        // The pooler is on: the read-write endpoint, which follows every failover.
        // tls required: each verifies the server against the CA file `up` writes beside the project.
        const verify = `?sslmode=verify-full&sslrootcert=${path.resolve(__dirname, "..", "..")}/.pg-replication/unit-ca.crt`;
        expect(run.outputs.primaryConnectionString.value).toBe(
            `postgresql://postgres:super-secret-pw@127.0.0.1:15442/postgres${verify}`,
        );
        expect(run.outputs.rwConnectionString.value).toBe(
            `postgresql://postgres:super-secret-pw@127.0.0.1:15442/postgres${verify}`,
        );
        expect(run.outputs.roConnectionString.value).toBe(
            `postgresql://postgres:super-secret-pw@127.0.0.1:15443/postgres${verify}`,
        );
        expect(run.outputs.caCert).toEqual({ value: "fake-cert-of-pg-ca-ca", secret: false });
        expect(run.outputs.tls).toEqual({ value: "required", secret: false });
        expect(run.outputs.primary.secret).toBe(false);
        expect(run.outputs.primary.value).toEqual({
            node: "pg1",
            container: "unit-pg1",
            host: "127.0.0.1",
            port: 15432,
            roleReadAt: FAKE_CHECKED_AT,
        });
    });

    test("healthcheck on an engine without start intervals (API 1.41): probes every 5 s, sends no start interval", () => {
        for (const c of containers(run)) {
            expect(c.inputs.healthcheck).toEqual({
                tests: ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"],
                interval: "5s",
                timeout: "5s",
                retries: 5,
                startPeriod: "5m0s",
            });
        }
    });

    test("outputs: replicas and replication mode", () => {
        expect(run.outputs.replicas.value).toEqual([
            { node: "pg2", container: "unit-pg2", host: "127.0.0.1", port: 15433, roleReadAt: FAKE_CHECKED_AT },
            { node: "pg3", container: "unit-pg3", host: "127.0.0.1", port: 15434, roleReadAt: FAKE_CHECKED_AT },
        ]);
        expect(run.outputs.replicationMode.value).toBe("async");
    });

    test("the checks run ops/hooks/check-cluster.ts from the project root on the spec the program built", () => {
        const checks = byName(run).get("pg-checks")!;
        expect(checks.inputs.create).toBe("node -r ./scripts/register-ts.js ops/hooks/check-cluster.ts");
        expect(checks.inputs.dir).toBe(path.resolve(__dirname, "..", ".."));
        expect(JSON.parse(checks.inputs.environment.PGR_CHECK_SPEC)).toEqual({
            stack: "unit",
            backups: true,
            tls: true,
            primary: { node: "pg1", host: "127.0.0.1", port: 15432 },
            replicas: [
                { node: "pg2", host: "127.0.0.1", port: 15433 },
                { node: "pg3", host: "127.0.0.1", port: 15434 },
            ],
            syncMode: "async",
            syncMethod: "any",
            syncCount: 1,
            slots: true,
            deadlineSeconds: 60,
            addresses: {
                network: "unit-net",
                nodes: [1, 2, 3].map((k) => ({
                    node: `pg${k}`,
                    container: `unit-pg${k}`,
                    address: `172.20.0.${10 + k}`,
                })),
            },
            endpoints: { rw: { host: "127.0.0.1", port: 15442 }, ro: { host: "127.0.0.1", port: 15443 } },
        });
        // Re-run whenever a node's container is re-created: the ids of every node, in node order.
        expect(checks.inputs.environment.PGR_CONTAINER_IDS).toBe(
            "pg-pg1-container-id,pg-pg2-container-id,pg-pg3-container-id",
        );
        expect(checks.inputs.environment.PGPASSWORD).toBe("super-secret-pw");
        expect([...checks.dependsOn].sort()).toEqual([
            `${COMMAND}::pg-backup-first`,
            `${COMMAND}::pg-settings`,
            `${COMMAND}::pg-slot-pg2`,
            `${COMMAND}::pg-slot-pg3`,
            `${COMMAND}::pg-superuser`,
            `${COMMAND}::pg-sync-policy`,
            "pg-replication:index:PgBouncerPool::pg-pooler",
            // Every node explicitly: in async mode nothing in the roles' settled list waits for the replicas.
            "pg-replication:index:PostgresNode::pg-pg1",
            "pg-replication:index:PostgresNode::pg-pg2",
            "pg-replication:index:PostgresNode::pg-pg3",
        ]);
        // The report is what the checks print, parsed; the roles in the outputs are the report's, with its time.
        expect(run.outputs.checkReport.value).toEqual({
            ok: true,
            primary: "pg1",
            replicas: ["pg2", "pg3"],
            checks: [],
            checkedAt: FAKE_CHECKED_AT,
        });
        expect(run.outputs.primary.value).toMatchObject({ node: "pg1", roleReadAt: FAKE_CHECKED_AT });
        expect((run.outputs.replicas.value as Array<{ node: string; roleReadAt: string }>).map((r) => r.node)).toEqual([
            "pg2",
            "pg3",
        ]);
    });
});

describe("configuration changes under mocks", () => {
    test("switching sync settings changes only the sync policy, never a container", async () => {
        const base = await runProgramWithMocks({
            replicas: "2",
            superuserPassword: "pw-123456",
            replicationPassword: "pw-654321",
        });
        const variants: Array<Record<string, string>> = [
            { syncMode: "sync", syncMethod: "any", syncCount: "1" },
            { syncMode: "sync", syncMethod: "first", syncCount: "2", synchronousCommit: "remote_apply" },
            { synchronousCommit: "remote_write" },
        ];
        for (const v of variants) {
            const changed = await runProgramWithMocks({
                replicas: "2",
                superuserPassword: "pw-123456",
                replicationPassword: "pw-654321",
                ...v,
            });
            const before = byName(base);
            const differing = changed.resources
                .filter((r) => JSON.stringify(r.inputs) !== JSON.stringify(before.get(r.name)?.inputs))
                .map((r) => r.name);
            expect(differing.filter((n) => n !== "pg-checks")).toEqual(["pg-sync-policy"]);
            for (const c of containers(changed)) expect(c.inputs).toEqual(before.get(c.name)!.inputs);
        }
    });

    test("a failover recorded in primaryNode changes no container; commands move to the new primary", async () => {
        const pw = { superuserPassword: "pw-123456", replicationPassword: "pw-654321" };
        const before = byName(await runProgramWithMocks({ replicas: "2", ...pw }));
        const after = await runProgramWithMocks({ replicas: "2", primaryNode: "pg2", ...pw });
        for (const c of containers(after)) {
            const old = before.get(c.name)!;
            // Only the ignored bootstrap.env differs.
            const notBootstrap = (u: { file: string }) => u.file !== BOOTSTRAP_ENV;
            expect({ ...c.inputs, uploads: c.inputs.uploads.filter(notBootstrap) }).toEqual({
                ...old.inputs,
                uploads: old.inputs.uploads.filter(notBootstrap),
            });
            expect(c.inputs.uploads.find((u: { file: string }) => u.file === BOOTSTRAP_ENV).content).toBe(
                "PGR_INITDB_NODE='pg2'\n",
            );
        }
        const commands = after.resources.filter((r) => r.type === COMMAND && r.inputs.environment?.PGR_CONTAINER);
        for (const cmd of commands.filter((c) => !c.name.endsWith("-ready"))) {
            expect(cmd.inputs.environment.PGR_CONTAINER).toBe("unit-pg2");
        }
        // Each node's ready command stays with its own container, unchanged.
        for (const node of ["pg1", "pg2", "pg3"]) {
            expect(byName(after).get(`pg-${node}-ready`)!.inputs).toEqual(before.get(`pg-${node}-ready`)!.inputs);
        }
        expect(
            after.resources
                .filter((r) => r.name.startsWith("pg-slot-"))
                .map((r) => r.name)
                .sort(),
        ).toEqual(["pg-slot-pg1", "pg-slot-pg3"]);
        expect(after.outputs.primary.value).toMatchObject({ node: "pg2", port: 15433 });
        expect(after.get(COMMAND, "-sync-policy").inputs.stdin).toBe(
            "ALTER SYSTEM SET synchronous_standby_names = '';\nALTER SYSTEM SET synchronous_commit = 'on';\nSELECT pg_reload_conf();\n",
        );
    });

    test("scaling adds or removes only the replica's own resources", async () => {
        const two = await runProgramWithMocks({
            replicas: "2",
            superuserPassword: "pw-123456",
            replicationPassword: "pw-654321",
        });
        const three = await runProgramWithMocks({
            replicas: "3",
            superuserPassword: "pw-123456",
            replicationPassword: "pw-654321",
        });
        const before = byName(two);
        const added = three.resources
            .filter((r) => !before.has(r.name))
            .map((r) => r.name)
            .sort();
        expect(added).toEqual([
            "pg-pg4-container",
            "pg-pg4-data",
            "pg-pg4-ready",
            "pg-pg4-tls-cert",
            "pg-pg4-tls-csr",
            "pg-pg4-tls-files",
            "pg-pg4-tls-key",
            "pg-slot-pg4",
        ]);
        for (const c of containers(two)) expect(byName(three).get(c.name)!.inputs).toEqual(c.inputs);
        // The repository takes backups through every node, so its host list names the new one: written
        // into the running container by a command (its upload is ignored), so the repository container,
        // which every node depends on, is not re-created.
        const repoConf = (r: MockRun) => r.get(COMMAND, "pg-backup-config").inputs.stdin as string;
        expect(repoConf(two)).not.toContain("pg4-host=");
        expect(repoConf(three)).toContain("pg4-host=172.20.0.14\npg4-host-type=tls");
        expect(three.get(CONTAINER, "pg-backup-container").ignoreChanges).toEqual(
            expect.arrayContaining(["uploads[1]", "uploads[2]"]),
        );
        expect(three.get(CONTAINER, "pg-pg4-container").dependsOn).toContain(
            "docker:index/container:Container::pg-backup-container",
        );
    });

    test("metrics: an exporter with the monitoring role's password in a secret file, never in env", async () => {
        const run = await runProgramWithMocks({
            replicas: "1",
            metrics: "true",
            superuserPassword: "pw-123456",
            replicationPassword: "pw-654321",
        });
        const exporter = run.get(CONTAINER, "pg-metrics-container");
        expect(exporter.inputs.name).toBe("unit-metrics");
        expect(exporter.inputs.ports).toEqual([{ internal: 9187, external: 15444, ip: "127.0.0.1", protocol: "tcp" }]);
        expect(exporter.inputs.envs).toBeUndefined();
        expect(containsSecret(exporter.rawInputs.uploads)).toBe(true);
        const config = exporter.inputs.uploads.find((u: { file: string }) =>
            u.file.endsWith("postgres_exporter.yml"),
        ).content;
        expect(config).toContain('username: "pgr_monitor"');
        expect(config).toContain('password: "generated-pg-monitor-password"');
        expect(run.get(COMMAND, "pg-monitor-user").inputs.stdin).toContain('GRANT pg_monitor TO "pgr_monitor"');
        expect(run.get(COMMAND, "pg-monitor-user").inputs.stdin).not.toContain("generated-pg-monitor-password");
        expect(run.outputs.metricsEndpoint.value).toBe(
            "http://127.0.0.1:15444/probe?auth_module=pgreplication&target=",
        );
        // HAProxy in front: basic auth with the generated scrape password, this cluster's targets only.
        const front = exporter.inputs.uploads.find((u: { file: string }) => u.file.endsWith("haproxy.cfg"));
        expect(front.permissions).toBe("0600");
        expect(front.content).toContain("user prometheus insecure-password generated-pg-metrics-scrape-password");
        expect(front.content).toContain(
            "acl allowed_query query,url_dec -m str auth_module=pgreplication&target=pg1:5432/postgres " +
                "auth_module=pgreplication&target=pg2:5432/postgres ",
        );
        expect(front.content).toContain(" auth_module=pgreplication&target=pg10:5432/postgres\n");
        expect(front.content).not.toContain("pg11");
        expect(front.content).toContain("server exporter unix@/run/pg-replication-exporter/exporter.sock");
        expect(run.outputs.metricsEndpoints.value).toEqual({
            pg1: "http://127.0.0.1:15444/probe?auth_module=pgreplication&target=pg1:5432/postgres",
            pg2: "http://127.0.0.1:15444/probe?auth_module=pgreplication&target=pg2:5432/postgres",
        });
        expect(run.outputs.metricsPassword).toEqual({ value: "generated-pg-metrics-scrape-password", secret: true });
        const off = await runProgramWithMocks({ replicas: "1" });
        expect(off.resources.some((r) => r.name.includes("metrics"))).toBe(false);
    });

    test("a local image is checked, not pulled", async () => {
        const run = await runProgramWithMocks({
            image: "pg-replication/postgres:17-local",
            pullImage: "false",
            replicas: "1",
        });
        expect(run.resources.some((r) => r.type === "docker:index/remoteImage:RemoteImage")).toBe(false);
        const check = run.get(COMMAND, "-image");
        expect(check.inputs.environment).toEqual({ PGR_IMAGE: "pg-replication/postgres:17-local" });
        expect(check.inputs.create).toContain("npm run build-image");
        expect(containers(run)[0].inputs.image).toBe("pg-replication/postgres:17-local");
    });

    test("checks off: no checks command, and the report says why", async () => {
        const run = await runProgramWithMocks({ replicas: "1", checks: "false" });
        expect(run.resources.some((r) => r.name.endsWith("-checks"))).toBe(false);
        expect(run.outputs.checkReport.value).toEqual({ skipped: "checks are off (pg-replication:checks false)" });
    });

    test("generated passwords are secret outputs when none are configured", async () => {
        const run = await runProgramWithMocks({ replicas: "1" });
        expect(run.resources.map((r) => r.name)).toEqual(
            expect.arrayContaining(["pg-superuser-password", "pg-replication-password"]),
        );
        expect(run.outputs.superuserPassword).toEqual({ secret: true, value: "generated-pg-superuser-password" });
    });

    test("an invalid value fails before any resource is declared", async () => {
        const declared: Registered[] = [];
        await expect(runProgramWithMocks({ replicas: "12" }, "unit", declared)).rejects.toThrow(
            'pg-replication:replicas = "12" is invalid',
        );
        expect(declared).toEqual([]);
    });
});

describe("provisioning order and probe timing by engine", () => {
    const pw = { superuserPassword: "pw-123456", replicationPassword: "pw-654321" };

    test("an engine with start intervals (API 1.44+) probes every 250 ms until healthy, then every 5 s", async () => {
        const run = await runProgramWithMocks({ replicas: "1", ...pw }, "unit", [], "1.47");
        for (const c of containers(run)) {
            expect(c.inputs.healthcheck).toMatchObject({ interval: "5s", startInterval: "250ms", startPeriod: "5m0s" });
        }
    });

    test("sync mode: the policy waits for every replica, so a fresh deploy never waits on a missing standby", async () => {
        const run = await runProgramWithMocks({ replicas: "2", syncMode: "sync", ...pw });
        expect(byName(run).get("pg-sync-policy")!.dependsOn.sort()).toEqual([
            "pg-replication:index:PostgresNode::pg-pg2",
            "pg-replication:index:PostgresNode::pg-pg3",
        ]);
    });
});
