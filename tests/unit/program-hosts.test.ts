// The stack program across hosts (`hosts`, issue 19) under Pulumi's mocks: one docker provider per host,
// every docker resource on its member's host with the host's network, HAProxy on every host, the hooks
// told which engine each container is on, and outputs that list every host.
import * as fs from "fs";
import * as path from "path";
import { containsSecret } from "../../harness/secrets";
import { MockRun, Registered, runProgramWithMocks } from "../support/mock-program";

const CONTAINER = "docker:index/container:Container";
const HOSTS = [1, 2, 3].map((n) => ({
    name: `h${n}`,
    engine: `unix:///run/pgr-sim-hosts/h${n}/docker.sock`,
    address: `10.99.0.${10 + n}`,
}));

/** The provider resource name a registration names (`…::NAME::ID`), or "" for the default provider. */
function providerName(r: Registered): string {
    if (!r.provider) return "";
    const parts = r.provider.split("::");
    return parts[parts.length - 2];
}

describe("restoreFrom across hosts, under mocks", () => {
    let run: MockRun;
    beforeAll(async () => {
        run = await runProgramWithMocks(
            {
                failover: "patroni",
                hosts: JSON.stringify(HOSTS),
                placement: JSON.stringify({ pg1: "h2", pg2: "h1" }),
                superuserPassword: "super-secret-pw",
                replicationPassword: "repl-secret-pw",
                restoreFrom: "source",
                restoreCipherPass: "source-cipher-pass",
            },
            "unit",
        );
    });

    test("only the bootstrap node mounts the source's repository volume, on its host's engine", () => {
        const mounts = run.resources
            .filter((r) => r.type === CONTAINER && /-pg\d$/.test(String(r.inputs.name)))
            .map((c) => [
                c.inputs.name,
                providerName(c),
                (c.inputs.volumes ?? []).some((v: { volumeName?: string }) => v.volumeName === "source-backup-repo"),
            ])
            .sort();
        expect(mounts).toEqual([
            ["unit-pg1", "pg-h2", true],
            ["unit-pg2", "pg-h1", false],
            ["unit-pg3", "pg-h3", false],
        ]);
    });

    test("the preflight looks for the volume on the bootstrap node's engine and can name its host", () => {
        const preflight = run.invokes.find((i) => String(i.inputs.command).includes("check-restore-source"));
        const env = preflight?.inputs.environment as Record<string, string>;
        expect(env).toMatchObject({ PGR_BOOTSTRAP_NODE: "pg1", PGR_BOOTSTRAP_HOST: "h2" });
        expect(JSON.parse(env.PGR_DOCKER_ENGINES)).toMatchObject({ "unit-pg1": HOSTS[1].engine });
    });
});

describe("the stack program across three hosts, under mocks", () => {
    let run: MockRun;
    beforeAll(async () => {
        run = await runProgramWithMocks(
            {
                failover: "patroni",
                syncMode: "sync",
                hosts: JSON.stringify(HOSTS),
                placement: JSON.stringify({ backup: "h2" }),
                metrics: "true",
                superuserPassword: "super-secret-pw",
                replicationPassword: "repl-secret-pw",
            },
            "unit",
        );
    });

    test("one docker provider per host, reaching its engine; no cluster network", () => {
        const providers = run.resources.filter((r) => r.type === "pulumi:providers:docker");
        expect(providers.map((p) => [p.name, p.inputs.host])).toEqual(HOSTS.map((h) => [`pg-${h.name}`, h.engine]));
        expect(run.resources.filter((r) => r.type === "docker:index/network:Network")).toEqual([]);
    });

    test("every container on its member's host, on the host's network, publishing nothing", () => {
        const placed = run.resources
            .filter((r) => r.type === CONTAINER)
            .map((c) => [
                c.inputs.name,
                providerName(c),
                c.inputs.networkMode,
                c.inputs.ports ?? [],
                c.inputs.networksAdvanced ?? [],
            ])
            .sort();
        expect(placed).toEqual(
            [
                ["unit-backup", "pg-h2"],
                ["unit-etcd1", "pg-h1"],
                ["unit-etcd2", "pg-h2"],
                ["unit-etcd3", "pg-h3"],
                ["unit-haproxy-h1", "pg-h1"],
                ["unit-haproxy-h2", "pg-h2"],
                ["unit-haproxy-h3", "pg-h3"],
                ["unit-metrics-h1", "pg-h1"],
                ["unit-metrics-h2", "pg-h2"],
                ["unit-metrics-h3", "pg-h3"],
                ["unit-pg1", "pg-h1"],
                ["unit-pg2", "pg-h2"],
                ["unit-pg3", "pg-h3"],
            ].map(([name, provider]) => [name, provider, "host", [], []]),
        );
        // The volumes and images too: nothing lands on the default engine.
        const elsewhere = run.resources.filter((r) => r.type.startsWith("docker:") && providerName(r) === "");
        expect(elsewhere.map((r) => r.name)).toEqual([]);
    });

    test("Patroni and etcd advertise the hosts' addresses; PostgreSQL listens on its host's address only", () => {
        const pg2 = run.resources.find((r) => r.type === CONTAINER && r.inputs.name === "unit-pg2") as Registered;
        const yml: string = pg2.inputs.uploads.find((u: { file: string }) => u.file.endsWith("/patroni.yml")).content;
        expect(yml).toContain('listen: "10.99.0.12,127.0.0.1:5432"');
        expect(yml).toContain('connect_address: "10.99.0.12:5432"');
        expect(yml).toContain('connect_address: "10.99.0.12:8008"');
        // Its own host's etcd member first, kept first (model/patroni-config.ts etcdHosts).
        expect(yml).toContain('hosts: ["10.99.0.12:2379","10.99.0.11:2379","10.99.0.13:2379"]\n  use_proxies: true');
        const etcd3 = run.resources.find((r) => r.type === CONTAINER && r.inputs.name === "unit-etcd3") as Registered;
        expect(etcd3.inputs.command).toContain("--advertise-client-urls=https://10.99.0.13:2379");
    });

    test("each host's exporter scrapes its own node over verified TLS, behind HAProxy on the host's hostPortBase+12", () => {
        const exporter = run.resources.find(
            (r) => r.type === CONTAINER && r.inputs.name === "unit-metrics-h2",
        ) as Registered;
        const file = (suffix: string): string =>
            exporter.inputs.uploads.find((u: { file: string }) => u.file.endsWith(suffix)).content;
        expect(file("postgres_exporter.yml")).toContain('sslmode: "verify-full"');
        expect(file("haproxy.cfg")).toContain("    bind *:15444\n");
        expect(file("haproxy.cfg")).toContain(
            "acl allowed_query query,url_dec -m str auth_module=pgreplication&target=10.99.0.12:5432/postgres\n",
        );
        expect(exporter.inputs.envs).toBeUndefined();
        expect(run.outputs.metricsEndpoints.value).toEqual(
            Object.fromEntries(
                HOSTS.map((h, i) => [
                    `pg${i + 1}`,
                    `http://${h.address}:15444/probe?auth_module=pgreplication&target=${h.address}:5432/postgres`,
                ]),
            ),
        );
        // No single base URL is true across hosts.
        expect(run.outputs.metricsEndpoint?.value).toBeUndefined();
        // The monitoring role is created on whichever node leads, looked for on every host's engine.
        const monitor = run.resources.find((r) => r.name === "pg-monitor-user") as Registered;
        expect(monitor.inputs.environment.PGR_ENGINE_LIST).toBe(HOSTS.map((h) => h.engine).join(" "));
    });

    test("the hooks are told which engine each container is on", () => {
        const checks = run.resources.find((r) => r.name === "pg-checks") as Registered;
        const engines = JSON.parse(checks.inputs.environment.PGR_DOCKER_ENGINES) as Record<string, string>;
        expect(engines["unit-pg1"]).toBe(HOSTS[0].engine);
        expect(engines["unit-etcd3"]).toBe(HOSTS[2].engine);
        expect(engines["unit-backup"]).toBe(HOSTS[1].engine);
        expect(engines["unit-haproxy-h2"]).toBe(HOSTS[1].engine);
    });

    test("the endpoint outputs list every host's HAProxy, libpq-style; each node is reached at its host", () => {
        const rw = run.outputs.rwConnectionString;
        expect(rw.secret).toBe(true);
        expect(String(rw.value)).toMatch(
            /^postgresql:\/\/postgres:super-secret-pw@10\.99\.0\.11:15442,10\.99\.0\.12:15442,10\.99\.0\.13:15442\/postgres\?connect_timeout=3&target_session_attrs=read-write&sslmode=verify-full&sslrootcert=/,
        );
        expect(run.outputs.replicas.value).toEqual([
            expect.objectContaining({ node: "pg2", host: "10.99.0.12", port: 5432 }),
            expect.objectContaining({ node: "pg3", host: "10.99.0.13", port: 5432 }),
        ]);
    });
});

describe("a host reached over tcp:// with TLS (engineTls), under mocks", () => {
    const STACK = "unittcp";
    const pem = (kind: string, tag: string) => `-----BEGIN ${kind}-----\nMIIB${tag}\n-----END ${kind}-----\n`;
    const MATERIAL = { ca: pem("CERTIFICATE", "ca"), cert: pem("CERTIFICATE", "cert"), key: pem("PRIVATE KEY", "key") };
    const TCP = "tcp://10.99.0.13:2376";
    const TCP_HOSTS = [HOSTS[0], HOSTS[1], { ...HOSTS[2], engine: TCP }];
    const ROOT = path.resolve(__dirname, "..", "..");
    const TLS_ROOT = path.join(ROOT, ".pg-replication", `${STACK}-docker-tls`);
    const CERT_DIR = path.join(TLS_ROOT, "10.99.0.13:2376");
    const config = {
        failover: "patroni",
        hosts: JSON.stringify(TCP_HOSTS),
        engineTls: JSON.stringify({ h3: MATERIAL }),
        superuserPassword: "super-secret-pw",
        replicationPassword: "repl-secret-pw",
    };
    let run: MockRun;
    beforeAll(async () => {
        fs.rmSync(TLS_ROOT, { recursive: true, force: true });
        run = await runProgramWithMocks(config, STACK, [], "1.41", 0, ["engineTls", "superuserPassword"]);
    });
    afterAll(() => fs.rmSync(TLS_ROOT, { recursive: true, force: true }));

    test("its provider gets the host and the client material, each sent as a secret", () => {
        const h3 = run.get("pulumi:providers:docker", "pg-h3");
        expect(h3.inputs).toMatchObject({
            host: TCP,
            caMaterial: MATERIAL.ca,
            certMaterial: MATERIAL.cert,
            keyMaterial: MATERIAL.key,
        });
        for (const field of ["caMaterial", "certMaterial", "keyMaterial"])
            expect(containsSecret(h3.rawInputs[field])).toBe(true);
        expect(run.get("pulumi:providers:docker", "pg-h1").inputs.keyMaterial).toBeUndefined();
    });

    test("commands on that engine verify TLS with a cert directory's path; the material is in no other input", () => {
        const commands = run.resources.filter((r) => r.type === "command:local:Command");
        const onTcp = commands.filter((c) => c.inputs.environment?.DOCKER_HOST === TCP);
        expect(onTcp.length).toBeGreaterThan(0);
        for (const c of onTcp) {
            expect(c.inputs.environment).toMatchObject({ DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: CERT_DIR });
            // Deleted before the directory is: a destroy removes the cert directory last.
            expect(c.dependencies).toContain("command:local:Command::pg-docker-tls");
        }
        const hooks = commands.filter((c) => c.inputs.environment?.PGR_DOCKER_ENGINES !== undefined);
        expect(hooks.length).toBeGreaterThan(0);
        for (const c of hooks) expect(c.inputs.environment.PGR_DOCKER_TLS_DIR).toBe(TLS_ROOT);
        const others = run.resources.filter((r) => r.type !== "pulumi:providers:docker");
        expect(others.filter((r) => /MIIB(ca|cert|key)/.test(JSON.stringify(r.inputs))).map((r) => r.name)).toEqual([]);
        expect(run.get("command:local:Command", "pg-docker-tls").inputs.delete).toBe('rm -rf "$PGR_DOCKER_TLS_DIR"');
    });

    test("the cert directory is private: 0700 directories, 0600 files, as DOCKER_CERT_PATH wants them", () => {
        expect(fs.statSync(TLS_ROOT).mode & 0o777).toBe(0o700);
        expect(fs.statSync(CERT_DIR).mode & 0o777).toBe(0o700);
        for (const [file, content] of [
            ["ca.pem", MATERIAL.ca],
            ["cert.pem", MATERIAL.cert],
            ["key.pem", MATERIAL.key],
        ]) {
            expect(fs.statSync(path.join(CERT_DIR, file)).mode & 0o777).toBe(0o600);
            expect(fs.readFileSync(path.join(CERT_DIR, file), "utf8")).toBe(content);
        }
        expect(fs.readdirSync(TLS_ROOT)).toEqual(["10.99.0.13:2376"]);
    });

    test("material the stack holds in plain text is refused before anything is declared", async () => {
        const resources: Registered[] = [];
        await expect(
            runProgramWithMocks(config, "unitplain", resources, "1.41", 0, ["superuserPassword"]),
        ).rejects.toThrow(
            'pg-replication:engineTls = "[secret]" is invalid: a Docker engine\'s client key must be a secret',
        );
        expect(resources).toEqual([]);
        expect(fs.existsSync(path.join(ROOT, ".pg-replication", "unitplain-docker-tls"))).toBe(false);
    });
});
