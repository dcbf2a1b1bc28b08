// The several-hosts keys (model/hosts.ts through validateConfig) and what they do to addresses.
import { validateConfig } from "../../model/config";
import { EngineTls } from "../../model/engine-tls";
import {
    clusterNodes,
    etcdMemberAddress,
    nodeAddresses,
    repositoryAddress,
    repositoryPort,
} from "../../model/topology";
import { renderPgHba } from "../../model/render";
import { metricsEndpoints, metricsExporters } from "../../model/metrics-endpoint";
import { renderExporterHaproxy } from "../../infra/metrics";

const HOSTS = [
    { name: "h1", engine: "unix:///run/pgr-sim-hosts/h1/docker.sock", address: "10.99.0.11" },
    { name: "h2", engine: "unix:///run/pgr-sim-hosts/h2/docker.sock", address: "10.99.0.12" },
    { name: "h3", engine: "ssh://admin@db3.example", address: "10.99.0.13" },
];

/** Stack config as the CLI hands it over: strings, objects as JSON. */
function raw(extra: Record<string, unknown> = {}): Record<string, string> {
    const base: Record<string, unknown> = { failover: "patroni", hosts: HOSTS, ...extra };
    return Object.fromEntries(Object.entries(base).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

describe("hosts and placement", () => {
    test("no hosts: today's single engine, fixed addresses on the cluster network", () => {
        const cfg = validateConfig({});
        expect(cfg.hosts).toEqual([]);
        expect(clusterNodes("s", cfg).map((n) => [n.address, n.hostPort, n.host])).toEqual([
            ["172.20.0.11", 15432, undefined],
            ["172.20.0.12", 15433, undefined],
            ["172.20.0.13", 15434, undefined],
        ]);
        expect(repositoryPort(cfg)).toBe(8432);
    });

    test("the default spread: pgK and etcdK on the K-th host, the repository on the last, each reached at its host", () => {
        const cfg = validateConfig(raw());
        expect(clusterNodes("s", cfg).map((n) => [n.name, n.host?.name, n.address, n.hostPort])).toEqual([
            ["pg1", "h1", "10.99.0.11", 5432],
            ["pg2", "h2", "10.99.0.12", 5432],
            ["pg3", "h3", "10.99.0.13", 5432],
        ]);
        expect([1, 2, 3].map((k) => etcdMemberAddress(cfg, k))).toEqual(["10.99.0.11", "10.99.0.12", "10.99.0.13"]);
        expect(repositoryAddress(cfg)).toBe("10.99.0.13");
        expect(repositoryPort(cfg)).toBe(8433);
        expect(nodeAddresses(cfg)).toEqual({ pg1: "10.99.0.11", pg2: "10.99.0.12", pg3: "10.99.0.13" });
    });

    test("placement moves members; pg_hba admits replication from the hosts' addresses only", () => {
        const cfg = validateConfig(raw({ replicas: "1", placement: { pg1: "h3", pg2: "h1", backup: "h2" } }));
        expect(clusterNodes("s", cfg).map((n) => n.host?.name)).toEqual(["h3", "h1"]);
        expect(repositoryAddress(cfg)).toBe("10.99.0.12");
        const hba = renderPgHba(cfg);
        for (const h of HOSTS) expect(hba).toContain(`hostssl replication  replicator  ${h.address}/32  scram-sha-256`);
        expect(hba).not.toContain("172.20.0.11/32");
    });

    test("metrics across hosts: one exporter per node, on the node's host at hostPortBase+12, letting through that node alone", () => {
        const cfg = validateConfig(
            raw({ metrics: "true", replicas: "1", hostPortBase: "20000", placement: { pg1: "h3", pg2: "h1" } }),
        );
        const exporters = metricsExporters("s", cfg);
        expect(exporters.map((e) => [e.containerName, e.host?.name, e.listenPort, e.targets])).toEqual([
            ["s-metrics-h3", "h3", 20012, ["10.99.0.13:5432/postgres"]],
            ["s-metrics-h1", "h1", 20012, ["10.99.0.11:5432/postgres"]],
        ]);
        // No exporter on h2, which runs no node; each URL is its own host's exporter with its own node.
        expect(metricsEndpoints(exporters)).toEqual({
            pg1: "http://10.99.0.13:20012/probe?auth_module=pgreplication&target=10.99.0.13:5432/postgres",
            pg2: "http://10.99.0.11:20012/probe?auth_module=pgreplication&target=10.99.0.11:5432/postgres",
        });
        const front = renderExporterHaproxy(exporters[0].targets, "prometheus", "pw_x", exporters[0].listenPort);
        expect(front).toContain("    bind *:20012\n");
        expect(front).toContain(
            "acl allowed_query query,url_dec -m str auth_module=pgreplication&target=10.99.0.13:5432/postgres\n",
        );
        // The exporter answers on its unix socket only (never a TCP port on the host's shared loopback).
        expect(front).toContain("server exporter unix@/run/pg-replication-exporter/exporter.sock\n");
    });

    test("metrics on one engine: one exporter for every node name, its port published, one URL per node today", () => {
        const cfg = validateConfig({ metrics: "true", replicas: "1" });
        const [only, ...none] = metricsExporters("s", cfg);
        expect(none).toEqual([]);
        expect([only.containerName, only.host, only.listenPort, only.targets.length]).toEqual([
            "s-metrics",
            undefined,
            9187,
            10,
        ]);
        expect(only.targets[9]).toBe("pg10:5432/postgres");
        expect(only.endpoints).toEqual({
            pg1: "http://127.0.0.1:15444/probe?auth_module=pgreplication&target=pg1:5432/postgres",
            pg2: "http://127.0.0.1:15444/probe?auth_module=pgreplication&target=pg2:5432/postgres",
        });
    });

    test.each([
        [
            { placement: { pg4: "h1" } },
            'pg-replication:placement.pg4 = "h1" is invalid: expected a member of this cluster: pg1, pg2, pg3, etcd1, etcd2, etcd3, backup',
        ],
        [
            { placement: { pg2: "h9" } },
            'pg-replication:placement.pg2 = "h9" is invalid: expected one of the hosts: h1, h2, h3',
        ],
        [
            { placement: { etcd3: "h1" } },
            'pg-replication:placement.etcd3 = "h1" is invalid: etcd1 already runs on h1: at most one etcd member per host',
        ],
        [
            { placement: { pg2: "h1" } },
            'pg-replication:placement.pg2 = "h1" is invalid: pg1 already runs on h1: at most one node per host',
        ],
        [
            { replicas: "3" },
            'pg-replication:placement.pg4 = "h1" is invalid: 4 nodes need 4 hosts and 3 are configured',
        ],
        [
            { hosts: [HOSTS[0], { ...HOSTS[1], address: "10.99.0" }] },
            'pg-replication:hosts[1].address = "10.99.0" is invalid: expected the IPv4 address',
        ],
        [
            { hosts: [HOSTS[0], { ...HOSTS[1], name: "h1" }] },
            'pg-replication:hosts[1].name = "h1" is invalid: expected each host\'s name once',
        ],
        [
            { hosts: [HOSTS[0], { ...HOSTS[1], engine: "tcp://10.0.0.2" }] },
            'pg-replication:hosts[1].engine = "tcp://10.0.0.2" is invalid: expected unix:///path/to/docker.sock, ssh://[user@]host[:port] or tcp://host:port',
        ],
        [{ hosts: [HOSTS[0]] }, "pg-replication:hosts = "],
        [{ hosts: "h1,h2" }, 'pg-replication:hosts = "h1,h2" is invalid: expected a list of hosts'],
        [
            { failover: "manual" },
            'pg-replication:failover = "manual" is invalid: several hosts (pg-replication:hosts) need failover patroni',
        ],
        [{ tls: "off" }, 'pg-replication:tls = "off" is invalid: several hosts need tls required'],
    ])("%j is refused, naming the key and the value", (extra, message) => {
        expect(() => validateConfig(raw(extra as Record<string, unknown>))).toThrow(message);
    });

    test("placement without hosts is refused", () => {
        expect(() => validateConfig({ placement: JSON.stringify({ pg1: "h1" }) })).toThrow(
            'pg-replication:placement.pg1 = "h1" is invalid: placement needs pg-replication:hosts',
        );
    });
});

describe("tcp:// engines and their client TLS material (engineTls, a secret)", () => {
    const pem = (kind: string) => `-----BEGIN ${kind}-----\nMIIBfake\n-----END ${kind}-----\n`;
    const MATERIAL = { ca: pem("CERTIFICATE"), cert: pem("CERTIFICATE"), key: pem("PRIVATE KEY") };
    const TCP_HOSTS = [HOSTS[0], HOSTS[1], { ...HOSTS[2], engine: "tcp://10.99.0.13:2376" }];
    const withTls = (tls: unknown, extra: Record<string, unknown> = {}) =>
        raw({ hosts: TCP_HOSTS, engineTls: JSON.stringify(tls), ...extra });
    const secret = { secretKeys: new Set(["engineTls"]) };

    test("a tcp:// engine with its material, held as a secret, is accepted", () => {
        const cfg = validateConfig(withTls({ h3: MATERIAL }), secret);
        expect(cfg.hosts[2]).toEqual({ name: "h3", engine: "tcp://10.99.0.13:2376", address: "10.99.0.13" });
        // The material is not part of the typed configuration (which commands print and pass around).
        expect(JSON.stringify(cfg)).not.toContain("MIIBfake");
    });

    test("a tcp:// engine without material is refused: a plain-text Docker API is root on the host", () => {
        expect(() => validateConfig(raw({ hosts: TCP_HOSTS }), secret)).toThrow(
            'pg-replication:hosts[2].engine = "tcp://10.99.0.13:2376" is invalid: a tcp:// engine needs its client TLS material ' +
                "(a plain-text Docker API is root on the host for anyone who reaches the port): set the secret pg-replication:engineTls",
        );
    });

    test("material the stack does not hold as a secret is refused, without showing it", () => {
        const call = () => validateConfig(withTls({ h3: MATERIAL }), { secretKeys: new Set(["superuserPassword"]) });
        expect(call).toThrow(
            'pg-replication:engineTls = "[secret]" is invalid: a Docker engine\'s client key must be a secret: set it with pulumi config set --secret engineTls',
        );
        expect(call).not.toThrow(/MIIBfake/);
    });

    test.each([
        [
            { h3: { ...MATERIAL, key: pem("CERTIFICATE") } },
            'engineTls.h3.key = "[secret]" is invalid: expected a PEM private key',
        ],
        [
            { h3: { ca: MATERIAL.ca, cert: MATERIAL.cert } },
            'engineTls.h3.key = "[secret]" is invalid: expected a PEM private key',
        ],
        [{ h3: { ...MATERIAL, pass: "x" } }, 'engineTls.h3.pass = "[secret]" is invalid: unknown field'],
        [
            { h3: MATERIAL, h1: MATERIAL },
            'engineTls.h1 = "[secret]" is invalid: expected a host of pg-replication:hosts whose engine is tcp://: h3',
        ],
        ["not an object", 'engineTls = "[secret]" is invalid: expected a secret object'],
    ])("bad material %#: refused naming the field, never showing the value", (tls, message) => {
        const call = () => validateConfig(withTls(tls), secret);
        expect(call).toThrow(`pg-replication:${message}`);
        expect(call).not.toThrow(/MIIBfake/);
    });

    test("material before hosts: its shape judged, the hosts it names judged once hosts are set", () => {
        const tls: EngineTls = { h3: MATERIAL };
        expect(validateConfig({ engineTls: JSON.stringify(tls) }, secret).hosts).toEqual([]);
        expect(() => validateConfig({ engineTls: JSON.stringify({ h3: { ...MATERIAL, key: "x" } }) }, secret)).toThrow(
            'pg-replication:engineTls.h3.key = "[secret]" is invalid: expected a PEM private key',
        );
        expect(() => validateConfig(withTls({ h9: MATERIAL }), secret)).toThrow(
            'pg-replication:engineTls.h9 = "[secret]" is invalid: expected a host of pg-replication:hosts whose engine is tcp://: h3',
        );
    });
});
