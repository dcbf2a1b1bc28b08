// The docker provider's resources, performed for real against the Engine API. Property names and
// defaults follow @pulumi/docker's schema (Container, Network, Volume, RemoteImage).
import { dockerApi, DockerApiError, run } from "./docker-api";
import { tarArchive } from "./tar";

/** Plain (secret-unwrapped) resource inputs. */
export type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- provider inputs are untyped JSON

interface Label {
    label: string;
    value: string;
}

const labelsOf = (labels: Label[] | undefined) => Object.fromEntries((labels ?? []).map((l) => [l.label, l.value]));

/** Go-style durations ("2s", "1m30s", "500ms") in nanoseconds, as the provider sends them. */
export function durationNs(text: string | undefined): number | undefined {
    if (text === undefined) return undefined;
    const units: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
    let total = 0;
    const re = /(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g;
    let matched = "";
    for (let m = re.exec(text); m; m = re.exec(text)) {
        total += Number(m[1]) * units[m[2]];
        matched += m[0];
    }
    if (matched !== text) throw new Error(`invalid duration ${JSON.stringify(text)}`);
    return total;
}

const ignoreMissing = (err: unknown) => {
    if (err instanceof DockerApiError && err.status === 404) return undefined;
    throw err;
};

export async function createNetwork(p: Props): Promise<{ id: string; state: Props }> {
    const res = await dockerApi<{ Id: string }>("POST", "/networks/create", {
        Name: p.name,
        Driver: p.driver ?? "bridge",
        CheckDuplicate: true,
        Internal: p.internal ?? false,
        Attachable: p.attachable ?? false,
        IPAM: { Driver: p.ipamDriver ?? "default", Config: (p.ipamConfigs ?? []).map((c: Props) => ({ Subnet: c.subnet, IPRange: c.ipRange, Gateway: c.gateway })) },
        Labels: labelsOf(p.labels),
    });
    return { id: res.Id, state: { ...p, driver: p.driver ?? "bridge" } };
}

export async function deleteNetwork(id: string): Promise<void> {
    await dockerApi("DELETE", `/networks/${id}`).catch(ignoreMissing);
}

export async function createVolume(p: Props): Promise<{ id: string; state: Props }> {
    const res = await dockerApi<{ Name: string; Mountpoint: string }>("POST", "/volumes/create", {
        Name: p.name,
        Driver: p.driver ?? "local",
        Labels: labelsOf(p.labels),
    });
    return { id: res.Name, state: { ...p, name: res.Name, mountpoint: res.Mountpoint, driver: p.driver ?? "local" } };
}

export async function deleteVolume(id: string): Promise<void> {
    await dockerApi("DELETE", `/volumes/${id}`).catch(ignoreMissing);
}

export async function createRemoteImage(p: Props): Promise<{ id: string; state: Props }> {
    const inspect = () => dockerApi<{ Id: string; RepoDigests?: string[] }>("GET", `/images/${encodeURIComponent(p.name)}/json`);
    let image = await inspect().catch(ignoreMissing);
    if (!image) {
        const [repo, tag] = splitReference(p.name);
        await dockerApi("POST", `/images/create?fromImage=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`);
        image = await inspect();
    }
    return { id: `${image.Id}${p.name}`, state: { ...p, imageId: image.Id, repoDigest: image.RepoDigests?.[0] ?? "" } };
}

function splitReference(ref: string): [string, string] {
    const at = ref.lastIndexOf(":");
    return at > ref.lastIndexOf("/") ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, "latest"];
}

export async function deleteRemoteImage(p: Props): Promise<void> {
    if (p.keepLocally) return;
    await dockerApi("DELETE", `/images/${encodeURIComponent(p.name)}`).catch(ignoreMissing);
}

/** Creates, uploads into, starts and (with `wait`) waits for a container, as the provider does. */
export async function createContainer(p: Props): Promise<{ id: string; state: Props }> {
    const portKey = (port: Props) => `${port.internal}/${port.protocol ?? "tcp"}`;
    const ports: Props[] = p.ports ?? [];
    const networks: Props[] = p.networksAdvanced ?? [];
    const hc: Props | undefined = p.healthcheck;
    const body = {
        Hostname: p.hostname,
        Image: p.image,
        Entrypoint: p.entrypoints,
        Cmd: p.command,
        Env: p.envs ?? [],
        User: p.user,
        WorkingDir: p.workingDir,
        Labels: labelsOf(p.labels),
        StopSignal: p.stopSignal,
        StopTimeout: p.stopTimeout,
        ExposedPorts: Object.fromEntries(ports.map((port) => [portKey(port), {}])),
        Healthcheck: hc && {
            Test: hc.tests,
            Interval: durationNs(hc.interval),
            Timeout: durationNs(hc.timeout),
            StartPeriod: durationNs(hc.startPeriod),
            Retries: hc.retries,
        },
        HostConfig: {
            Binds: (p.volumes ?? []).map((v: Props) => `${v.volumeName ?? v.hostPath}:${v.containerPath}${v.readOnly ? ":ro" : ""}`),
            PortBindings: Object.fromEntries(
                ports.map((port) => [portKey(port), [{ HostIp: port.ip ?? "0.0.0.0", HostPort: String(port.external ?? "") }]]),
            ),
            RestartPolicy: { Name: p.restart ?? "no", MaximumRetryCount: p.maxRetryCount ?? 0 },
            NetworkMode: networks[0]?.name ?? p.networkMode ?? "bridge",
        },
        NetworkingConfig: {
            EndpointsConfig: Object.fromEntries(
                networks.map((n) => [n.name, { Aliases: n.aliases ?? [], IPAMConfig: n.ipv4Address ? { IPv4Address: n.ipv4Address } : undefined }]),
            ),
        },
    };
    const created = await dockerApi<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(p.name)}`, body);
    const id = created.Id;
    try {
        const uploads: Props[] = p.uploads ?? [];
        if (uploads.length > 0) {
            const files = uploads.map((u) => ({
                path: u.file,
                content: u.contentBase64 !== undefined ? Buffer.from(u.contentBase64, "base64") : Buffer.from(u.content ?? "", "utf8"),
                mode: u.permissions !== undefined ? parseInt(u.permissions, 8) : u.executable ? 0o744 : 0o644,
            }));
            await dockerApi("PUT", `/containers/${id}/archive?path=/`, undefined, tarArchive(files));
        }
        if (p.start ?? true) {
            await dockerApi("POST", `/containers/${id}/start`);
            if (p.wait) await waitHealthy(id, p.name, (p.waitTimeout ?? 60) * 1000);
        }
    } catch (err) {
        // The provider taints a container that failed to come up; leave nothing half-made behind.
        await deleteContainer(id, p).catch(() => undefined);
        throw err;
    }
    return { id, state: { ...p, id } };
}

interface ContainerInspect {
    State: { Status: string; Running: boolean; ExitCode: number; Health?: { Status: string } };
}

async function waitHealthy(id: string, name: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const info = await dockerApi<ContainerInspect>("GET", `/containers/${id}/json`);
        const health = info.State.Health?.Status;
        if (health === "healthy" || (health === undefined && info.State.Running)) return;
        const failed = health === "unhealthy" || (!info.State.Running && info.State.Status === "exited");
        if (failed || Date.now() > deadline) {
            const logs = await run(["docker", "logs", "--tail", "30", id]);
            const why = failed ? `is ${health ?? info.State.Status}` : `was not healthy within ${timeoutMs / 1000}s`;
            throw new Error(`container ${name} ${why}; last log lines:\n${logs.stdout}${logs.stderr}`);
        }
        await new Promise((r) => setTimeout(r, 500));
    }
}

/** Removes a container; like the provider, it stops it first only when destroyGraceSeconds is set. */
export async function deleteContainer(id: string, p: Props): Promise<void> {
    if ((p.destroyGraceSeconds ?? 0) > 0) {
        await dockerApi("POST", `/containers/${id}/stop?t=${p.destroyGraceSeconds}`).catch((err) => {
            if (err instanceof DockerApiError && (err.status === 304 || err.status === 404)) return undefined;
            throw err;
        });
    }
    await dockerApi("DELETE", `/containers/${id}?force=true&v=${p.removeVolumes === false ? "false" : "true"}`).catch(ignoreMissing);
}

/** What a refresh finds for a resource: still there, gone, or a container stopped while mustRun. */
export async function refreshVerdict(type: string, id: string, p: Props): Promise<"keep" | "gone" | "stopped"> {
    const path =
        type === "docker:index/container:Container"
            ? `/containers/${id}/json`
            : type === "docker:index/volume:Volume"
              ? `/volumes/${id}`
              : type === "docker:index/network:Network"
                ? `/networks/${id}`
                : undefined;
    if (path === undefined) return "keep";
    const found = await dockerApi<ContainerInspect>("GET", path).catch(ignoreMissing);
    if (!found) return "gone";
    if (type === "docker:index/container:Container" && (p.mustRun ?? true) && !found.State.Running) return "stopped";
    return "keep";
}
