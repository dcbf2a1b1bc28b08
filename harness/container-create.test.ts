// The pure parts of the docker double's container create (the Engine API body, the upload checks) and
// of the engine's create-before-delete replacement; the Docker suites run them for real.
import { containerCreateBody, PartialCreateError, uploadContentError } from "./docker-double";
import { createBeforeDelete, Handler } from "./engine";

describe("container create body, as the provider builds it", () => {
    test("schema defaults: no env, no ports, restart no, init false, the bridge network", () => {
        expect(containerCreateBody({ name: "c", image: "i" })).toEqual({
            Image: "i",
            Env: [],
            Labels: {},
            ExposedPorts: {},
            HostConfig: {
                Binds: [],
                PortBindings: {},
                RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
                Init: false,
                NetworkMode: "bridge",
            },
            NetworkingConfig: { EndpointsConfig: {} },
        });
    });

    test("ports, volumes, networks, healthcheck durations and labels", () => {
        const body = containerCreateBody({
            name: "s-pg1",
            image: "postgres:17",
            hostname: "pg1",
            envs: ["A=1"],
            labels: [{ label: "pg-replication.node", value: "pg1" }],
            restart: "unless-stopped",
            init: true,
            ports: [
                { internal: 5432, external: 55432, ip: "127.0.0.1" },
                { internal: 53, protocol: "udp" },
            ],
            volumes: [
                { volumeName: "s-pg1-data", containerPath: "/var/lib/postgresql/data" },
                { hostPath: "/etc/x", containerPath: "/x", readOnly: true },
            ],
            networksAdvanced: [{ name: "s-net", aliases: ["pg1"], ipv4Address: "172.20.0.2" }, { name: "other" }],
            healthcheck: { tests: ["CMD", "true"], interval: "5s", timeout: "1m30s", retries: 3 },
        });
        expect(body.Hostname).toBe("pg1");
        expect(body.Env).toEqual(["A=1"]);
        expect(body.Labels).toEqual({ "pg-replication.node": "pg1" });
        expect(body.ExposedPorts).toEqual({ "5432/tcp": {}, "53/udp": {} });
        expect(body.Healthcheck).toEqual({
            Test: ["CMD", "true"],
            Interval: 5e9,
            Timeout: 90e9,
            StartPeriod: undefined,
            StartInterval: undefined,
            Retries: 3,
        });
        expect(body.HostConfig).toEqual({
            Binds: ["s-pg1-data:/var/lib/postgresql/data", "/etc/x:/x:ro"],
            PortBindings: {
                "5432/tcp": [{ HostIp: "127.0.0.1", HostPort: "55432" }],
                "53/udp": [{ HostIp: "0.0.0.0", HostPort: "" }],
            },
            RestartPolicy: { Name: "unless-stopped", MaximumRetryCount: 0 },
            Init: true,
            // The first network is the container's network mode; the others are endpoints too.
            NetworkMode: "s-net",
        });
        expect(body.NetworkingConfig).toEqual({
            EndpointsConfig: {
                "s-net": { Aliases: ["pg1"], IPAMConfig: { IPv4Address: "172.20.0.2" } },
                other: { Aliases: [], IPAMConfig: undefined },
            },
        });
    });

    test("without networks the network mode is the declared one", () => {
        expect(containerCreateBody({ networkMode: "host" }).HostConfig.NetworkMode).toBe("host");
    });
});

describe("uploads: exactly one of content, content_base64, source", () => {
    test.each([
        [{ file: "/a", content: "x" }, undefined],
        [{ file: "/a", contentBase64: "eA==" }, undefined],
        [{ file: "/a", content: "", source: "/tmp/x" }, undefined],
        [{ file: "/a" }, "one of 'content', 'content_base64', or 'source' must be set (/a)"],
        [{ file: "/a", content: "" }, "one of 'content', 'content_base64', or 'source' must be set (/a)"],
        [
            { file: "/b", content: "x", contentBase64: "eA==" },
            "only one of 'content', 'content_base64', or 'source' can be set (/b)",
        ],
    ])("%j", (upload, error) => {
        expect(uploadContentError(upload)).toBe(
            error === undefined ? undefined : `error with upload content: ${error}`,
        );
    });
});

describe("create before delete", () => {
    const engine = { host: "unix:///run/h1/docker.sock", socketPath: "/run/h1/docker.sock" };
    const handler = (create: Handler["create"]) => {
        const removed: string[] = [];
        const h: Handler = {
            create,
            remove: (id, _, on) => (removed.push(`${id} on ${on.host}`), Promise.resolve()),
            needsReplace: () => true,
        };
        return { h, removed };
    };

    test("the new object, nothing removed", async () => {
        const { h, removed } = handler(() => Promise.resolve({ id: "new", state: { a: 1 } }));
        await expect(createBeforeDelete(h, {}, engine)).resolves.toEqual({ id: "new", state: { a: 1 } });
        expect(removed).toEqual([]);
    });

    test("a half-made new object is removed and the error passed on", async () => {
        const partial = new PartialCreateError("did not start", "half", { id: "half" });
        const { h, removed } = handler(() => Promise.reject(partial));
        await expect(createBeforeDelete(h, {}, engine)).rejects.toBe(partial);
        expect(removed).toEqual(["half on unix:///run/h1/docker.sock"]);
    });

    test("a create that made nothing removes nothing", async () => {
        const { h, removed } = handler(() => Promise.reject(new Error("no such image")));
        await expect(createBeforeDelete(h, {}, engine)).rejects.toThrow("no such image");
        expect(removed).toEqual([]);
    });
});
