import { parse } from "yaml";
import { DEFAULTS, validateConfig } from "../../model/config";
import { renderHaproxyCfg } from "../../infra/haproxy";
import {
    etcdHosts,
    PATRONI_CMDLINE_PARAMETERS,
    patroniOwnParameters,
    patroniDynamicConfig,
    patroniParameters,
    renderEtcdLeaderAway,
    renderPatroniRestoreScript,
    renderPatroniYml,
} from "../../model/patroni-config";
import { archiveCommands, renderPgHba } from "../../model/render";
import { tcpListening } from "../../model/probes";
import { clusterNodes } from "../../model/topology";
import { expectedPatroniRoles } from "../../model/check-spec";
import { membershipProblem } from "../../ops/checks";
import { roleChangeRefusal } from "../../ops/patroni-ops";
import { parametersPatch } from "../../ops/settings-patroni";
import { containsSecret } from "../../harness/secrets";
import { runProgramWithMocks } from "../support/mock-program";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SECRETS = { superuser: "su-pw-123456", replication: "repl-pw-123456", rest: "rest-pw-123456" };
const patroni = (extra: Record<string, string> = {}) => validateConfig({ failover: "patroni", ...extra });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML is untyped
const yml = (cfg = patroni(), node = 1): any =>
    parse(renderPatroniYml(cfg, clusterNodes("dev", cfg)[node - 1], "dev", SECRETS));

/** A Patroni cluster over three simulated hosts, one node and one etcd member on each. */
const threeHosts = () =>
    patroni({
        hosts: JSON.stringify(
            [1, 2, 3].map((n) => ({
                name: `h${n}`,
                engine: `unix:///run/pgr-sim-hosts/h${n}/docker.sock`,
                address: `10.99.0.${10 + n}`,
            })),
        ),
    });

describe("patroni.yml", () => {
    test("names the node, the scope, its REST API on its own fixed address with auth, and etcd by fixed addresses", () => {
        const y = yml(patroni(), 2);
        expect(y).toMatchObject({ scope: "dev", name: "pg2", namespace: "/pg-replication/" });
        const tlsFiles = {
            certfile: "/etc/ssl/pg-replication/server.crt",
            keyfile: "/etc/ssl/pg-replication/server.key",
        };
        // tls required: HTTPS with the node's certificate, a client certificate required.
        expect(y.restapi).toEqual({
            listen: "172.20.0.12:8008",
            connect_address: "172.20.0.12:8008",
            authentication: { username: "patroni", password: "rest-pw-123456" },
            ...tlsFiles,
            cafile: "/etc/ssl/pg-replication/ca.crt",
            verify_client: "required",
        });
        expect(y.ctl).toEqual({
            authentication: y.restapi.authentication,
            ...tlsFiles,
            cacert: "/etc/ssl/pg-replication/ca.crt",
        });
        expect(y.etcd3).toEqual({
            hosts: ["172.20.0.21:2379", "172.20.0.22:2379", "172.20.0.23:2379"],
            protocol: "https",
            cacert: "/etc/ssl/pg-replication/ca.crt",
            cert: "/etc/ssl/pg-replication/server.crt",
            key: "/etc/ssl/pg-replication/server.key",
        });
        const plain = yml(patroni({ tls: "off" }), 2);
        expect(plain.restapi.certfile).toBeUndefined();
        expect(plain.ctl).toEqual({ authentication: plain.restapi.authentication });
        expect(plain.etcd3).toEqual({ hosts: ["172.20.0.21:2379", "172.20.0.22:2379", "172.20.0.23:2379"] });
        expect(etcdHosts(patroni({ etcdMembers: "1" }))).toEqual(["172.20.0.21:2379"]);
        expect(y.postgresql.connect_address).toBe("172.20.0.12:5432");
        // tls required: every connection to another member verifies it against the stack's CA.
        const verifyFull = { sslmode: "verify-full", sslrootcert: "/etc/ssl/pg-replication/ca.crt" };
        expect(y.postgresql.authentication).toEqual({
            superuser: { username: "postgres", password: "su-pw-123456", ...verifyFull },
            replication: { username: "replicator", password: "repl-pw-123456", ...verifyFull },
            rewind: { username: "postgres", password: "su-pw-123456", ...verifyFull },
        });
        expect(y.watchdog.mode).toBe("off");
    });

    test("across hosts: each node's etcd3 hosts list its own host's member first, kept in that order (use_proxies)", () => {
        const hosts = [1, 2, 3].map((n) => ({
            name: `h${n}`,
            engine: `unix:///run/pgr-sim-hosts/h${n}/docker.sock`,
            address: `10.99.0.${10 + n}`,
        }));
        // pg1 on h2 and pg2 on h1 (placement), so the order follows the node's host, not its number.
        const cfg = patroni({ hosts: JSON.stringify(hosts), placement: JSON.stringify({ pg1: "h2", pg2: "h1" }) });
        expect([1, 2, 3].map((n) => yml(cfg, n).etcd3.hosts)).toEqual([
            ["10.99.0.12:2379", "10.99.0.11:2379", "10.99.0.13:2379"],
            ["10.99.0.11:2379", "10.99.0.12:2379", "10.99.0.13:2379"],
            ["10.99.0.13:2379", "10.99.0.11:2379", "10.99.0.12:2379"],
        ]);
        expect(yml(cfg, 1).etcd3).toMatchObject({ use_proxies: true, protocol: "https" });
        // A node on a host without an etcd member: the members in order.
        const four = patroni({
            hosts: JSON.stringify([...hosts, { name: "h4", engine: "ssh://db4", address: "10.99.0.14" }]),
            replicas: "3",
        });
        expect(yml(four, 4).etcd3.hosts).toEqual(["10.99.0.11:2379", "10.99.0.12:2379", "10.99.0.13:2379"]);
        // One engine: the member list Patroni discovers (no use_proxies).
        expect(yml(patroni(), 2).etcd3.use_proxies).toBeUndefined();
    });

    test("across hosts, and only there: on_start and on_role_change run the callback that keeps etcd's leader off the primary's host", () => {
        const command = "python3 /etc/pg-replication/etcd-leader-away.py";
        expect(yml(threeHosts(), 2).postgresql.callbacks).toEqual({ on_start: command, on_role_change: command });
        expect(yml(patroni(), 2).postgresql.callbacks).toEqual({});
    });

    test("parameters: the manual mode's values, our pg_hba/pg_ident, restart-only ones in bootstrap.dcs; settings in no file", () => {
        const cfg = patroni({
            settings: JSON.stringify({ work_mem: "64MB", max_connections: 200 }),
            maxSlotWalKeepSize: "512MB",
        });
        const y = yml(cfg);
        const local = y.postgresql.parameters;
        expect(local).toMatchObject({
            hba_file: "/etc/pg-replication/pg_hba.conf",
            ident_file: "/etc/pg-replication/pg_ident.conf",
            wal_sender_timeout: "5s",
            wal_receiver_timeout: "5s",
            max_slot_wal_keep_size: "512MB",
            archive_mode: "on",
            archive_command: archiveCommands(cfg).archiveCommand,
            hot_standby_feedback: "on",
        });
        for (const name of Object.keys(local)) expect(PATRONI_CMDLINE_PARAMETERS.has(name)).toBe(false);
        expect(y.bootstrap.dcs.postgresql.parameters).toEqual({
            wal_level: "replica",
            max_wal_senders: "16",
            max_replication_slots: "16",
            wal_log_hints: "on",
            hot_standby: "on",
        });
        // The settings go to Patroni's dynamic configuration online: patroni.yml does not change with them.
        expect(renderPatroniYml(cfg, clusterNodes("dev", cfg)[0], "dev", SECRETS)).toBe(
            renderPatroniYml(patroni({ maxSlotWalKeepSize: "512MB" }), clusterNodes("dev", cfg)[0], "dev", SECRETS),
        );
        expect(y.postgresql.recovery_conf).toEqual({ restore_command: archiveCommands(cfg).restoreCommand });
        // New members restore the latest backup and stream the rest; pg_basebackup when there is none.
        expect(y.postgresql.create_replica_methods).toEqual(["pgbackrest", "basebackup"]);
        expect(y.postgresql.pgbackrest).toEqual({
            command: "pgbackrest --stanza=main --delta restore",
            keep_data: true,
            no_params: true,
        });
        expect(y.postgresql.parameters.archive_timeout).toBe("60s");
        expect(y.bootstrap.dcs.postgresql.use_pg_rewind).toBe(true);
    });

    test("the settings PATCH: changed values, null for what settings no longer set, never pg-replication's own", () => {
        const own = patroniOwnParameters(patroni(), clusterNodes("dev", patroni())[0]);
        expect(own).toEqual(expect.arrayContaining(["archive_command", "max_wal_senders", "synchronous_commit"]));
        expect(
            parametersPatch(
                { work_mem: "8MB", jit: "off", max_connections: 200, archive_command: "x", synchronous_commit: "on" },
                { work_mem: "16MB", max_connections: "200", shared_buffers: "256MB" },
                own,
            ),
        ).toEqual({ work_mem: "16MB", shared_buffers: "256MB", jit: null });
    });

    test("no slots: use_slots false and wal_keep_size 1GB; no archive: no restore_command", () => {
        const y = yml(patroni({ slots: "false", backups: "false" }));
        expect(y.bootstrap.dcs.postgresql.use_slots).toBe(false);
        expect(y.bootstrap.dcs.postgresql.parameters.wal_keep_size).toBe("1GB");
        expect(y.postgresql.parameters.archive_mode).toBe("off");
        expect(y.postgresql.recovery_conf).toEqual({});
        expect(y.postgresql.create_replica_methods).toEqual(["basebackup"]);
        expect(patroniParameters(patroni(), clusterNodes("dev", patroni())[0]).wal_keep_size).toBeUndefined();
    });

    test("the sync keys and Patroni's timings are not in the file, so switching them restarts nothing", () => {
        const base = renderPatroniYml(patroni(), clusterNodes("dev", patroni())[0], "dev", SECRETS);
        const variants: Array<Record<string, string>> = [
            { syncMode: "sync" },
            { syncMode: "sync", syncMethod: "first" },
            { synchronousCommit: "remote_apply" },
            { patroniTtl: "30" },
        ];
        for (const v of variants) {
            const cfg = patroni(v);
            expect(renderPatroniYml(cfg, clusterNodes("dev", cfg)[0], "dev", SECRETS)).toBe(base);
        }
        expect(JSON.stringify(parse(base))).not.toMatch(/synchronous|"ttl"/);
    });
});

describe("restoreFrom under Patroni: a custom bootstrap method", () => {
    test("without restoreFrom the cluster is created by initdb; with it by the restore command, no initdb", () => {
        expect(yml().bootstrap.initdb).toEqual([
            { encoding: "UTF8" },
            { locale: "C.UTF-8" },
            "data-checksums",
            { "auth-local": "peer" },
            { "auth-host": "scram-sha-256" },
        ]);
        expect(yml().bootstrap.method).toBeUndefined();
        const y = yml(patroni({ restoreFrom: "source" }));
        expect(y.bootstrap.method).toBe("pg_replication_restore");
        // No --scope/--datadir; the command hands over a promoted server, so Patroni keeps no recovery
        // settings and writes none (bootstrap.py _custom_bootstrap: remove_recovery_conf).
        expect(y.bootstrap.pg_replication_restore).toEqual({
            command: "/etc/pg-replication/patroni-restore.sh",
            no_params: true,
            keep_existing_recovery_conf: false,
        });
        expect(y.bootstrap.initdb).toBeUndefined();
        // The rest is the same: dynamic configuration, and replicas restore from this stack's repository.
        expect(y.bootstrap.dcs).toEqual(yml().bootstrap.dcs);
        expect(y.postgresql).toEqual(yml().postgresql);
    });

    test("the config accepts restoreFrom with failover patroni (it used to refuse it)", () => {
        expect(patroni({ restoreFrom: "source", restoreTarget: "name=before" })).toMatchObject({
            failover: "patroni",
            restoreFrom: "source",
            restoreTarget: "name=before",
        });
    });

    test("the restore command reads the source through its own configuration and archives into this stack's repository", () => {
        const script = renderPatroniRestoreScript(patroni({ restoreFrom: "source" }));
        expect(script).toContain('--config="$PGR_RESTORE_CONFIG" --stanza=main restore');
        expect(script).toContain("--target-action=promote");
        expect(script).toContain('. "$CONF_DIR/restore.env"');
        // The replay archives with this stack's default configuration (its own repository), never the source's.
        expect(script).toContain("archive_mode = on\narchive_command = 'pgbackrest --stanza=main archive-push %p'\n");
        expect(renderPatroniRestoreScript(patroni({ restoreFrom: "source", backups: "false" }))).toContain(
            "archive_mode = off\narchive_command = ''\n",
        );
        // A failure records why and waits (no restart loop); nothing of the recovery stays in postgresql.auto.conf.
        expect(script).toMatch(
            /echo "restore from \$PGR_RESTORE_FROM failed: \$1" > "\$PGR_RESTORE_FAILED"\n\s+exec sleep infinity/,
        );
        expect(script).toContain(
            "replay\n# No recovery setting may stay where a replica cloned from this node would find it",
        );
        expect(script).toContain('auto_conf > "$PGDATA/postgresql.auto.conf"\necho "include \'postgresql.base.conf\'"');
    });
});

describe("Patroni's dynamic configuration (PATCH /config)", () => {
    test.each([
        [{}, false],
        [{ syncMode: "sync" }, "quorum"],
        [{ syncMode: "sync", syncMethod: "first" }, true],
    ])("%j -> synchronous_mode %j", (extra, mode) => {
        expect(patroniDynamicConfig(patroni(extra as Record<string, string>)).synchronous_mode).toBe(mode);
    });

    test("count, commit level, timings, slots", () => {
        const d = patroniDynamicConfig(
            patroni({
                replicas: "3",
                syncMode: "sync",
                syncCount: "2",
                synchronousCommit: "remote_write",
                patroniTtl: "30",
                patroniLoopWait: "5",
                patroniRetryTimeout: "10",
                slots: "false",
            }),
        );
        expect(d).toMatchObject({
            ttl: 30,
            loop_wait: 5,
            retry_timeout: 10,
            synchronous_node_count: 2,
            synchronous_mode_strict: false,
            primary_start_timeout: 0,
            postgresql: { use_slots: false, use_pg_rewind: true, parameters: { synchronous_commit: "remote_write" } },
        });
    });

    test("the roles the checks wait for", () => {
        expect(expectedPatroniRoles({ syncMode: "async", syncMethod: "any", syncCount: 1 }, 2)).toEqual([
            "replica",
            "replica",
        ]);
        expect(expectedPatroniRoles({ syncMode: "sync", syncMethod: "any", syncCount: 1 }, 2)).toEqual([
            "quorum_standby",
            "quorum_standby",
        ]);
        expect(expectedPatroniRoles({ syncMode: "sync", syncMethod: "first", syncCount: 1 }, 3)).toEqual([
            "sync_standby",
            "replica",
            "replica",
        ]);
    });
});

describe("pg_hba.conf and haproxy.cfg", () => {
    test("patroni mode adds only loopback replication for the replication role; manual mode is unchanged", () => {
        const manual = renderPgHba(DEFAULTS);
        const withPatroni = renderPgHba(patroni());
        const added = withPatroni.split("\n").filter((l) => !manual.split("\n").includes(l));
        expect(added).toEqual(["hostssl replication  replicator  127.0.0.1/32  scram-sha-256"]);
        const active = withPatroni.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
        expect(active.filter((l) => /\btrust\b|\bmd5\b/.test(l))).toEqual([]);
    });

    test("HAProxy: rw on /primary, ro on /replica, every node checked on Patroni's REST port", () => {
        const cfg = renderHaproxyCfg([
            { name: "pg1", address: "172.20.0.11" },
            { name: "pg2", address: "172.20.0.12" },
        ]);
        expect(cfg).toMatch(/listen rw\n\s+bind \*:5000\n\s+option httpchk OPTIONS \/primary/);
        expect(cfg).toMatch(/listen ro\n\s+bind \*:5001\n\s+balance roundrobin\n\s+option httpchk OPTIONS \/replica/);
        expect(cfg.match(/server pg2 172\.20\.0\.12:5432 check port 8008/g)).toHaveLength(2);
        expect(cfg).toContain("on-marked-down shutdown-sessions");
    });
});

describe("the stack program with failover=patroni (mocks)", () => {
    const CONTAINER = "docker:index/container:Container";
    const COMMAND = "command:local:Command";
    const config = {
        failover: "patroni",
        replicas: "2",
        superuserPassword: "super-secret-pw",
        replicationPassword: "repl-secret-pw",
    };

    test("etcd members, nodes with patroni.yml, HAProxy; no manual role commands", async () => {
        const run = await runProgramWithMocks(config);
        const containers = run.resources.filter((r) => r.type === CONTAINER);
        expect(containers.map((c) => c.inputs.name).sort()).toEqual([
            "unit-backup",
            "unit-etcd1",
            "unit-etcd2",
            "unit-etcd3",
            "unit-haproxy",
            "unit-pg1",
            "unit-pg2",
            "unit-pg3",
        ]);
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
            "pg-etcd-etcd1-ready",
            "pg-etcd-etcd1-tls-files",
            "pg-etcd-etcd2-ready",
            "pg-etcd-etcd2-tls-files",
            "pg-etcd-etcd3-ready",
            "pg-etcd-etcd3-tls-files",
            "pg-haproxy-ready",
            "pg-haproxy-tls-files",
            "pg-patroni-config",
            "pg-patroni-image",
            "pg-patroni-members",
            "pg-patroni-rest-password",
            "pg-patroni-settings",
            "pg-pg1-ready",
            "pg-pg1-tls-files",
            "pg-pg2-ready",
            "pg-pg2-tls-files",
            "pg-pg3-ready",
            "pg-pg3-tls-files",
        ]);
        const etcd1 = run.get(CONTAINER, "-etcd1");
        expect(etcd1.inputs.networksAdvanced[0].ipv4Address).toBe("172.20.0.21");
        expect(etcd1.inputs.ports).toBeUndefined();
        expect(
            run.get(CONTAINER, "haproxy-container").inputs.ports.map((p: { external: number }) => p.external),
        ).toEqual([15442, 15443]);
        expect(run.get(CONTAINER, "haproxy-container").inputs.networksAdvanced[0].ipv4Address).toBe("172.20.0.8");
        // Every node the cluster may have is a server, so a change of `replicas` re-creates no HAProxy.
        const haproxyCfg = run.get(CONTAINER, "haproxy-container").inputs.uploads[1].content as string;
        // tls required: the REST checks over HTTPS, verified, with HAProxy's own certificate.
        expect(haproxyCfg).toContain(
            "server pg10 172.20.0.20:5432 check port 8008 check-ssl verify required ca-file /etc/ssl/pg-replication/ca.crt crt /etc/ssl/pg-replication/haproxy-client.pem",
        );
        const fewer = await runProgramWithMocks({ ...config, replicas: "1" });
        expect(fewer.get(CONTAINER, "haproxy-container").inputs).toEqual(
            run.get(CONTAINER, "haproxy-container").inputs,
        );

        const pg1 = run.get(CONTAINER, "pg1-container");
        expect(pg1.inputs.uploads.map((u: { file: string }) => u.file)).toEqual(
            [
                "entrypoint.sh",
                "patroni.yml",
                "pg_hba.conf",
                "pg_ident.conf",
                "bootstrap.env",
                "tls-setup.sh",
                "tls-ca.crt",
                "tls.crt",
                "tls.key",
                "backup-node-setup.sh",
                "archive-get.sh",
                "pgbackrest.conf",
            ].map((f) => `/etc/pg-replication/${f}`),
        );
        const yml = pg1.inputs.uploads.find((u: { file: string }) => u.file === "/etc/pg-replication/patroni.yml");
        expect(yml.permissions).toBe("0600");
        expect(containsSecret(pg1.rawInputs.uploads)).toBe(true);
        expect(pg1.inputs.dnsOpts).toEqual(["timeout:1", "attempts:1"]);
        expect(pg1.inputs.stopSignal).toBe("SIGTERM");
        for (const c of containers) expect(JSON.stringify(c.inputs.envs ?? [])).not.toMatch(/secret-pw/);
        // Every node starts once etcd answers, not after primaryNode: only primaryNode may bootstrap
        // (bootstrap.env, read on an empty volume only, so its changes re-create nothing).
        const etcdReady = [1, 2, 3].map((k) => `${COMMAND}::pg-etcd-etcd${k}-ready`);
        for (const n of ["pg1", "pg2", "pg3"])
            expect(run.get(CONTAINER, `${n}-container`).dependsOn).toEqual([
                ...etcdReady,
                `${CONTAINER}::pg-backup-container`,
            ]);
        const bootstrapEnv = (n: string) =>
            run
                .get(CONTAINER, `${n}-container`)
                .inputs.uploads.find((u: { file: string }) => u.file === "/etc/pg-replication/bootstrap.env").content;
        expect(bootstrapEnv("pg2")).toBe("PGR_NODE='pg2'\nPGR_INITDB_NODE='pg1'\n");
        const patch = run.get(COMMAND, "patroni-config");
        expect(JSON.parse(patch.inputs.stdin)).toMatchObject({
            method: "PATCH",
            path: "/config",
            body: { synchronous_mode: false },
        });
        expect(patch.inputs.environment.PGR_CLUSTER).toBe("unit");
        // Async names no standby: the PATCH needs only the leader, the checks wait for every node.
        expect(patch.dependsOn).toEqual(["pg-replication:index:PostgresNode::pg-pg1"]);
        expect(run.get(COMMAND, "checks").dependsOn).toEqual(
            expect.arrayContaining(["pg1", "pg2", "pg3"].map((n) => `pg-replication:index:PostgresNode::pg-${n}`)),
        );
        // etcd is probed like the nodes (this engine, API 1.41: every 5 s, no start interval).
        expect(etcd1.inputs.healthcheck).toMatchObject({ interval: "5s", startPeriod: "1m0s" });
        expect(etcd1.inputs.healthcheck.startInterval).toBeUndefined();
        // Up once it answers (a ready command probing every 100 ms), not the provider's wait on
        // health; pg1 (which bootstraps) waits for every member's ready check.
        // tls required: HTTPS, etcdctl's certificate and CA from the container's environment.
        const etcdHealth = "etcdctl --endpoints=https://127.0.0.1:2379 endpoint health";
        expect(etcd1.inputs.envs).toEqual(
            expect.arrayContaining([
                "ETCDCTL_CACERT=/etc/ssl/pg-replication/ca.crt",
                "ETCDCTL_CERT=/etc/ssl/pg-replication/server.crt",
                "ETCDCTL_KEY=/etc/ssl/pg-replication/server.key",
            ]),
        );
        expect(etcd1.inputs.command).toEqual(expect.arrayContaining(["--client-cert-auth", "--peer-client-cert-auth"]));
        expect(etcd1.inputs.wait).toBeUndefined();
        expect(etcd1.inputs.healthcheck.tests).toEqual(["CMD", ...etcdHealth.split(" ")]);
        // Each probe bounded: without a quorum etcdctl would wait 5 s.
        expect(run.get(COMMAND, "etcd1-ready").inputs.environment.PGR_READY_PROBE).toBe(
            `${etcdHealth} --dial-timeout=1s --command-timeout=1s`,
        );
        expect(run.get(CONTAINER, "pg1-container").dependsOn).toEqual([
            ...[1, 2, 3].map((k) => `command:local:Command::pg-etcd-etcd${k}-ready`),
            `${CONTAINER}::pg-backup-container`,
        ]);
        // HAProxy is up once both ports listen; the checks come after it.
        expect(run.get(CONTAINER, "haproxy-container").inputs.wait).toBeUndefined();
        expect(run.get(COMMAND, "haproxy-ready").inputs.environment.PGR_READY_PROBE).toBe(
            `${tcpListening(5000)} && ${tcpListening(5001)}`,
        );
    });

    test("restoreFrom: every node gets the restore command and the source's files; what needs the superuser waits for post_bootstrap", async () => {
        const run = await runProgramWithMocks({
            ...config,
            restoreFrom: "source",
            restoreTarget: "name=before",
            restoreCipherPass: "source-cipher-pass",
            metrics: "true",
        });
        for (const node of ["pg1", "pg2"]) {
            const c = run.get(CONTAINER, `${node}-container`);
            const uploads = c.inputs.uploads.map((u: { file: string }) => u.file);
            expect(uploads).toEqual(
                expect.arrayContaining(
                    ["patroni-restore.sh", "restore.env", "restore-source.conf"].map((f) => `/etc/pg-replication/${f}`),
                ),
            );
            const script = c.inputs.uploads.find((u: { file: string }) => u.file.endsWith("/patroni-restore.sh"));
            // Patroni runs it as the postgres user: executable by everyone, not only root (0744).
            expect(script.permissions).toBe("0755");
            expect(c.inputs.volumes).toEqual(
                expect.arrayContaining([
                    expect.objectContaining({
                        volumeName: "source-backup-repo",
                        containerPath: "/var/lib/pgbackrest-source",
                        readOnly: true,
                    }),
                ]),
            );
            expect(run.get(COMMAND, `${node}-ready`).inputs.environment.PGR_READY_FAIL).toBe(
                "cat /var/lib/postgresql/pg-replication.restore-failed",
            );
        }
        // post_bootstrap sets this stack's passwords and restarts the restored leader after it first
        // answers: the SQL on the primary waits for the PATCH, which Patroni accepts only after that.
        // And after every node: its undo must run before a destroy deletes any of them (cluster.ts).
        const patch = "command:local:Command::pg-patroni-config";
        const nodes = ["pg1", "pg2", "pg3"].map((n) => `pg-replication:index:PostgresNode::pg-${n}`);
        expect(run.get(COMMAND, "monitor-user").dependsOn).toEqual([patch, ...nodes]);
        const plain = await runProgramWithMocks({ ...config, metrics: "true" });
        expect(plain.get(COMMAND, "monitor-user").dependsOn).toEqual(nodes);
    });

    test("sync mode: the PATCH waits for every replica", async () => {
        const run = await runProgramWithMocks({ ...config, syncMode: "sync" });
        expect(run.get(COMMAND, "patroni-config").dependsOn.sort()).toEqual([
            "pg-replication:index:PostgresNode::pg-pg2",
            "pg-replication:index:PostgresNode::pg-pg3",
        ]);
    });

    test("sync switches change only the PATCH request and the checks, never a container", async () => {
        const base = await runProgramWithMocks(config);
        const sync = await runProgramWithMocks({ ...config, syncMode: "sync", syncMethod: "first" });
        const differ = base.resources
            .filter(
                (r) =>
                    JSON.stringify(r.inputs) !== JSON.stringify(sync.resources.find((s) => s.name === r.name)?.inputs),
            )
            .map((r) => r.name)
            .sort();
        expect(differ).toEqual(["pg-checks", "pg-patroni-config"]);
    });
});

describe("Patroni membership the checks accept", () => {
    const member = (name: string, role = "replica") => ({ name, role, state: "streaming" });
    test("the configured nodes, and members a scale-down is about to remove", () => {
        expect(membershipProblem({ members: [member("pg1", "leader"), member("pg2")] }, ["pg1", "pg2"], "s")).toBe(
            undefined,
        );
        expect(
            membershipProblem(
                { members: [member("pg1", "leader"), member("pg2"), member("pg3"), member("pg4")] },
                ["pg1", "pg2"],
                "s",
            ),
        ).toBe(undefined);
    });
    test("a configured node missing, or a leader the deployment would remove, with the switchover", () => {
        expect(membershipProblem({ members: [member("pg1", "leader")] }, ["pg1", "pg2"], "s")).toBe(
            "1 of 2 members registered (missing: pg2)",
        );
        expect(membershipProblem({ members: [member("pg1"), member("pg3", "leader")] }, ["pg1", "pg2"], "s")).toBe(
            "the leader pg3 is not among the configured nodes (pg1, pg2): this deployment would remove it; move the role " +
                "first: npm run switchover -- --stack s --to pg1 (add --live for a live-harness stack)",
        );
    });
});

describe("Patroni switchover and failover: refused before Patroni is asked", () => {
    const args = { stack: "nc1", live: true, json: false, values: {}, flags: new Set<string>() };
    const cluster = {
        members: [
            { name: "pg1", role: "leader", state: "running" },
            { name: "pg2", role: "replica", state: "streaming" },
            { name: "pg3", role: "replica", state: "streaming" },
        ],
    };
    const node = (n: string, running = true) => ({
        node: n,
        container: `nc1-${n}`,
        running,
        state: running ? "running" : "exited",
    });
    const listed = [node("pg1"), node("pg2"), node("pg3")];

    test("a target that is no member, before printing a plan", () => {
        expect(roleChangeRefusal("switchover", args, cluster, listed, "pg9")).toBe(
            "refusing to switchover to pg9: it is not a member of Patroni's cluster nc1 (members: pg1, pg2, pg3)",
        );
    });

    test("a target whose container is not running names the rejoin", () => {
        expect(
            roleChangeRefusal("failover", args, cluster, [node("pg1"), node("pg2"), node("pg3", false)], "pg3"),
        ).toBe(
            "refusing to failover to pg3: its container nc1-pg3 is exited; start it first: npm run rejoin -- --node pg3 --stack nc1 --live",
        );
    });

    test("a switchover from a leader whose container is gone names the failover instead", () => {
        expect(
            roleChangeRefusal("switchover", args, cluster, [node("pg1", false), node("pg2"), node("pg3")], "pg2"),
        ).toBe(
            "refusing to switch over from pg1: its container nc1-pg1 is exited, so it cannot hand the role over. Patroni " +
                "elects a new leader once its key expires (npm run status -- --stack nc1 --live says when), or choose now: " +
                "npm run failover -- --to pg2 --stack nc1 --live",
        );
        // A failover needs no leader.
        expect(
            roleChangeRefusal("failover", args, cluster, [node("pg1", false), node("pg2"), node("pg3")], "pg2"),
        ).toBe(undefined);
    });

    test("a healthy cluster is not refused", () => {
        expect(roleChangeRefusal("switchover", args, cluster, listed, "pg2")).toBeUndefined();
    });
});

describe("etcd-leader-away.py, the callback across hosts (run by python3 against a fake etcdctl)", () => {
    // etcd member ids as etcdctl's JSON gives them (uint64, beyond a double's exact range).
    const IDS = ["13014931483612956307", "4943391346353659209", "987249016398383251"];
    const status = (leader: number) =>
        JSON.stringify(
            [1, 2, 3].map((n) => ({
                Endpoint: `https://10.99.0.${10 + n}:2379`,
                Status: { header: { member_id: "@" + IDS[n - 1] + "@" }, leader: "@" + IDS[leader - 1] + "@" },
            })),
        ).replace(/"@(\d+)@"/g, "$1");

    /** Runs node `node`'s callback with ARGS; etcdctl answers `endpointStatus` and writes its calls down. */
    function runCallback(node: number, endpointStatus: string, ...args: string[]) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-leader-away-"));
        try {
            fs.writeFileSync(path.join(dir, "status.json"), endpointStatus);
            const fake = `#!/bin/sh\necho "$*" >>"${dir}/calls"\ncase "$*" in *"endpoint status"*) cat "${dir}/status.json" ;; esac\n`;
            fs.writeFileSync(path.join(dir, "etcdctl"), fake, { mode: 0o755 });
            const script = path.join(dir, "callback.py");
            fs.writeFileSync(script, renderEtcdLeaderAway(threeHosts(), clusterNodes("dev", threeHosts())[node - 1]));
            const r = spawnSync("python3", [script, ...args], {
                encoding: "utf8",
                env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ""}` },
            });
            const calls = fs.existsSync(path.join(dir, "calls"))
                ? fs.readFileSync(path.join(dir, "calls"), "utf8")
                : "";
            return { code: r.status, stderr: r.stderr, calls: calls.trim().split("\n").filter(Boolean) };
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }

    test("promoted on h2 while etcd's leader is etcd2 (h2): leadership moves to the first member on another host, asked of etcd2", () => {
        const r = runCallback(2, status(2), "on_role_change", "primary", "dev");
        expect(r.code).toBe(0);
        expect(r.calls).toHaveLength(2);
        expect(r.calls[0]).toContain(
            "--endpoints=https://10.99.0.11:2379,https://10.99.0.12:2379,https://10.99.0.13:2379",
        );
        expect(r.calls[0]).toContain("--cert=/etc/ssl/pg-replication/server.crt");
        expect(r.calls[0]).toMatch(/endpoint status -w json$/);
        // The lowest id elsewhere: etcd3's, in hex as move-leader takes it.
        expect(r.calls[1]).toMatch(
            new RegExp(`--endpoints=https://10.99.0.12:2379 .* move-leader ${BigInt(IDS[2]).toString(16)}$`),
        );
        expect(r.stderr).toContain("etcd's leader moved from https://10.99.0.12:2379 to https://10.99.0.13:2379");
    });

    test("nothing moves when etcd's leader is on another host, for a replica, or when no member answers", () => {
        expect(runCallback(2, status(1), "on_start", "primary", "dev").calls).toHaveLength(1);
        expect(runCallback(2, status(2), "on_role_change", "replica", "dev").calls).toEqual([]);
        const silent = runCallback(2, "", "on_role_change", "primary", "dev");
        expect(silent.code).toBe(0);
        expect(silent.calls).toHaveLength(5);
        expect(silent.stderr).toContain("no single etcd leader among the members that answer after 5 tries");
        // Between elections etcd leaves the leader out of its JSON: the same, never a crash.
        const electing = runCallback(2, status(2).replace(/"leader":\d+/g, '"x":0'), "on_start", "primary", "dev");
        expect(electing.code).toBe(0);
        expect(electing.stderr).toContain("no single etcd leader");
    });
});
