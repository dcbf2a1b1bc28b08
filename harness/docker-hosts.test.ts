// Explicit docker providers in the live harness (docker-hosts.ts): which engine a provider's host
// selects, how a registration names its provider, and the refusal of a resource moving to another
// engine. No Docker engine is needed: nothing here reaches one.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { engineFor, providerTls } from "./docker-api";
import { DOCKER_PROVIDER, dockerProviderKey, engineChangeRefusal, recordedEngine } from "./docker-hosts";
import { LiveEngine } from "./engine";
import { PreviewEngine } from "./preview";
import { ResourceRecord, StackState } from "./state";

const H1 = "unix:///run/pgr-sim-hosts/h1/docker.sock";
const H2 = "unix:///run/pgr-sim-hosts/h2/docker.sock";
const CONTAINER = "docker:index/container:Container";
const CA = "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n";
const urn = (type: string, name: string) => `urn:pulumi:t::pg-replication::${type}::${name}`;

function withDockerHost<T>(value: string | undefined, fn: () => T): T {
    const saved = process.env.DOCKER_HOST;
    if (value === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = value;
    try {
        return fn();
    } finally {
        if (saved === undefined) delete process.env.DOCKER_HOST;
        else process.env.DOCKER_HOST = saved;
    }
}

describe("the engine a docker provider's host selects", () => {
    test("a unix:// host is that socket", () => {
        expect(engineFor(H1)).toEqual({ host: H1, socketPath: "/run/pgr-sim-hosts/h1/docker.sock" });
    });
    test("no host: DOCKER_HOST, else the default socket, as the provider's schema default", () => {
        expect(withDockerHost(H2, () => engineFor(undefined)).socketPath).toBe("/run/pgr-sim-hosts/h2/docker.sock");
        expect(withDockerHost(undefined, () => engineFor(undefined))).toEqual({
            host: "unix:///var/run/docker.sock",
            socketPath: "/var/run/docker.sock",
        });
    });
    test("ssh://, TLS over a unix socket and a context fail, naming what is not implemented", () => {
        expect(() => engineFor("ssh://pg@10.0.0.5")).toThrow(
            'docker provider host "ssh://pg@10.0.0.5": not implemented by the live harness (only unix:// sockets and tcp://host:port)',
        );
        expect(() => engineFor(H1, undefined, { certMaterial: CERT, keyMaterial: KEY })).toThrow(
            `docker provider host "${H1}" with TLS material: not implemented by the live harness`,
        );
        expect(() => engineFor(H1, "remote")).toThrow(
            'docker provider context "remote": not implemented by the live harness',
        );
    });
    test("tcp://: its host and port, with the client TLS the provider's material gives", () => {
        expect(
            engineFor("tcp://10.0.0.5:2376", undefined, { caMaterial: CA, certMaterial: CERT, keyMaterial: KEY }),
        ).toEqual({
            host: "tcp://10.0.0.5:2376",
            tcp: { hostname: "10.0.0.5", port: 2376, tls: { ca: CA, cert: CERT, key: KEY } },
        });
        // No material: the provider's direct client, plain HTTP.
        expect(engineFor("tcp://10.0.0.5:2375")).toEqual({
            host: "tcp://10.0.0.5:2375",
            tcp: { hostname: "10.0.0.5", port: 2375 },
        });
    });
    test("the provider's TLS rules (terraform-provider-docker config.go MakeClient, buildHTTPClientFromBytes)", () => {
        expect(() => providerTls({ certMaterial: CERT })).toThrow("cert_material, and key_material must be specified");
        expect(() => providerTls({ keyMaterial: KEY })).toThrow("cert_material, and key_material must be specified");
        expect(() => providerTls({ certMaterial: CERT, keyMaterial: KEY, certPath: "/tmp" })).toThrow(
            "cert_path must not be specified",
        );
        expect(() => providerTls({ caMaterial: "junk", certMaterial: CERT, keyMaterial: KEY })).toThrow(
            "could not add RootCA pem",
        );
        // No CA: the server's certificate is not verified (InsecureSkipVerify), the client's still sent.
        expect(providerTls({ certMaterial: CERT, keyMaterial: KEY })).toEqual({ cert: CERT, key: KEY });
        expect(providerTls({ caMaterial: CA })).toBeUndefined();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "certpath-"));
        try {
            fs.writeFileSync(path.join(dir, "ca.pem"), CA);
            fs.writeFileSync(path.join(dir, "cert.pem"), CERT);
            fs.writeFileSync(path.join(dir, "key.pem"), KEY);
            expect(providerTls({ certPath: dir })).toEqual({ ca: CA, cert: CERT, key: KEY });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
    test("a recorded resource without a host is on the default engine", () => {
        expect(withDockerHost(H2, () => recordedEngine({})).host).toBe(H2);
        expect(recordedEngine({ host: H1 }).socketPath).toBe("/run/pgr-sim-hosts/h1/docker.sock");
    });
    test("a recorded resource on a tcp:// engine is reached with its provider's recorded TLS material", () => {
        const host = "tcp://10.0.0.5:2376";
        const provider = { host, caMaterial: CA, certMaterial: CERT, keyMaterial: KEY };
        expect(recordedEngine({ host }, provider).tcp?.tls).toEqual({ ca: CA, cert: CERT, key: KEY });
        expect(recordedEngine({ host }, { ...provider, host: "tcp://10.0.0.6:2376" }).tcp?.tls).toBeUndefined();
    });
});

describe("the provider a registration names", () => {
    test("the docker provider's state key, from `<urn>::<id>`, parents' types dropped", () => {
        expect(dockerProviderKey(`${urn(DOCKER_PROVIDER, "h1")}::9b1c`)).toBe(`${DOCKER_PROVIDER}::h1`);
        expect(dockerProviderKey(`${urn(`pg:Cluster$${DOCKER_PROVIDER}`, "h2")}::04da6b54`)).toBe(
            `${DOCKER_PROVIDER}::h2`,
        );
    });
    test("no reference, or another package's provider: none", () => {
        expect(dockerProviderKey(undefined)).toBeUndefined();
        expect(dockerProviderKey("")).toBeUndefined();
        expect(dockerProviderKey(`${urn("pulumi:providers:command", "c")}::1`)).toBeUndefined();
    });
});

describe("a recorded docker resource moving to another engine", () => {
    test("is refused, naming both engines; the same engine is no change", () => {
        const refusal = engineChangeRefusal("c1", engineFor(H1), engineFor(H2));
        expect(refusal).toContain(`c1: its Docker engine would change from ${H1} to ${H2}`);
        expect(refusal).toContain("refused by the live harness");
        expect(engineChangeRefusal("c1", engineFor(H1), engineFor(H1))).toBeUndefined();
    });

    const recorded = (): StackState => ({
        version: 1,
        stack: "t",
        config: [],
        outputs: {},
        resources: [
            {
                key: `${DOCKER_PROVIDER}::h1`,
                type: DOCKER_PROVIDER,
                name: "h1",
                id: "p1",
                inputs: { host: H1 },
                secretInputs: [],
                outputs: { host: H1 },
                seq: 1,
                secretOutputs: [],
            },
            {
                key: `${CONTAINER}::c1`,
                type: CONTAINER,
                name: "c1",
                id: "abc",
                inputs: { name: "c1", image: "i" },
                secretInputs: [],
                outputs: { name: "c1", image: "i" },
                seq: 2,
                secretOutputs: [],
                provider: `${DOCKER_PROVIDER}::h1`,
                host: H1,
            } satisfies ResourceRecord,
        ],
    });
    const register = (provider: string, inputs: Record<string, unknown>, type = CONTAINER, name = "c1") => ({
        type,
        name,
        inputs,
        provider: `${urn(DOCKER_PROVIDER, provider)}::p`,
        custom: true,
    });

    test("the preview refuses a provider whose host changed, and records the error", () => {
        const preview = new PreviewEngine(recorded());
        preview.newResource(register("h1", { host: H2 }, DOCKER_PROVIDER, "h1"));
        expect(() => preview.newResource(register("h1", { name: "c1", image: "i" }))).toThrow(
            `its Docker engine would change from ${H1} to ${H2}`,
        );
        expect(preview.errors).toHaveLength(1);
        expect(preview.errors[0]).toMatch(new RegExp(`^${CONTAINER}::c1: `));
    });

    test("the preview plans the resource on the same engine as unchanged", () => {
        const preview = new PreviewEngine(recorded());
        preview.newResource(register("h1", { host: H1 }, DOCKER_PROVIDER, "h1"));
        expect(preview.newResource(register("h1", { name: "c1", image: "i" })).id).toBe("abc");
        expect(preview.planned).toEqual({ create: 0, update: 0, replace: 0, same: 2 });
        expect(preview.errors).toEqual([]);
    });

    test("the preview refuses a provider on ssh:// before anything is created", () => {
        const preview = new PreviewEngine(recorded());
        expect(() => preview.newResource(register("h3", { host: "ssh://pg@h3" }, DOCKER_PROVIDER, "h3"))).toThrow(
            "not implemented by the live harness",
        );
        expect(preview.errors[0]).toContain(`${DOCKER_PROVIDER}::h3: docker provider host "ssh://pg@h3"`);
    });

    test("the update pass records a provider, and refuses moving a recorded resource to it", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hosts-"));
        const state = recorded();
        const engine = new LiveEngine(state, path.join(dir, "t.json"), () => undefined);
        await engine.newResource(register("h2", { host: H2 }, DOCKER_PROVIDER, "h2"));
        expect(state.resources.find((r) => r.name === "h2")?.inputs).toEqual({ host: H2 });
        await expect(engine.newResource(register("h2", { name: "c1", image: "i" }))).rejects.toThrow(
            `its Docker engine would change from ${H1} to ${H2}`,
        );
        expect(state.resources.find((r) => r.name === "c1")?.host).toBe(H1);
        fs.rmSync(dir, { recursive: true });
    });
});
