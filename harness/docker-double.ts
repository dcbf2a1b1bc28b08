// The docker provider's resources, performed for real against the Engine API. Property names and
// defaults follow @pulumi/docker's schema (Container, Network, Volume, RemoteImage).
import { setTimeout as sleep } from "node:timers/promises";
import { pollUntil } from "../ops/ops";
import { dockerApi, dockerApiBytes, DockerApiError, DockerEngine } from "./docker-api";
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

/**
 * A duration in nanoseconds as Go's time.Duration.String() prints it ("5m0s", "1.5s", "500ms"):
 * how the provider writes healthcheck durations back into state when it reads a container
 * (terraform-provider-docker v4.5.0 resource_docker_container_funcs.go, resourceDockerContainerRead:
 * `container.Config.Healthcheck.Interval.String()`).
 */
export function goDuration(ns: number): string {
    if (ns === 0) return "0s";
    if (ns < 1e9) {
        const [unit, size] = ns < 1e3 ? ["ns", 1] : ns < 1e6 ? ["µs", 1e3] : ["ms", 1e6];
        return `${trimFraction(ns / size)}${unit}`;
    }
    const h = Math.floor(ns / 3600e9);
    const m = Math.floor((ns % 3600e9) / 60e9);
    const s = trimFraction((ns % 60e9) / 1e9);
    if (h > 0) return `${h}h${m}m${s}s`;
    if (m > 0) return `${m}m${s}s`;
    return `${s}s`;
}

function trimFraction(n: number): string {
    return String(Number(n.toFixed(9)));
}

/** The healthcheck block with the schema's defaults filled in ("0s" durations, 0 retries). */
export function normalHealthcheck(hc: Props | undefined): Props | undefined {
    if (hc === undefined) return undefined;
    return {
        tests: hc.tests ?? [],
        interval: hc.interval ?? "0s",
        timeout: hc.timeout ?? "0s",
        startPeriod: hc.startPeriod ?? "0s",
        startInterval: hc.startInterval ?? "0s",
        retries: hc.retries ?? 0,
    };
}

/**
 * Container properties the provider updates in place (no ForceNew in terraform-provider-docker
 * v4.5.0 resource_docker_container.go); a change of any other property replaces the container.
 */
export const CONTAINER_UPDATABLE = new Set([
    "rm",
    "start",
    "wait",
    "waitTimeout",
    "attach",
    "logs",
    "mustRun",
    "restart",
    "maxRetryCount",
    "removeVolumes",
    "tmpfs",
    "destroyGraceSeconds",
    "memory",
    "memoryReservation",
    "memorySwap",
    "cpuShares",
    "cpuSet",
    "healthcheck",
    "containerReadRefreshTimeoutMilliseconds",
    "init",
    "cpuPeriod",
    "cpuQuota",
    "deviceReadBps",
    "deviceReadIops",
    "deviceWriteBps",
    "deviceWriteIops",
]);

/** Whether a container change needs a replacement: some ForceNew property differs. */
export function containerNeedsReplace(oldInputs: Props, newInputs: Props): boolean {
    const forceNew = (p: Props) =>
        JSON.stringify(
            Object.keys(p)
                .filter((k) => !CONTAINER_UPDATABLE.has(k) && p[k] !== undefined)
                .sort()
                .map((k) => [k, p[k]]),
        );
    return forceNew(oldInputs) !== forceNew(newInputs);
}

/**
 * In-place update, as the provider's resourceDockerContainerUpdate does: a container a refresh
 * found stopped is started; only the restart policy
 * (and resource limits, unused here) reach Docker through ContainerUpdate; the other updatable
 * properties (healthcheck, wait, mustRun, destroyGraceSeconds) change the state only.
 */
export async function updateContainer(
    id: string,
    p: Props,
    previous: Props,
    engine: DockerEngine,
): Promise<{ id: string; state: Props }> {
    // must_run false (a refresh found it stopped) -> true: start it again, without waiting.
    if (previous.mustRun === false && (p.mustRun ?? true) && (p.start ?? true)) {
        await dockerApi(engine, "POST", `/containers/${id}/start`).catch((err) => {
            if (err instanceof DockerApiError && err.status === 304) return undefined;
            throw err;
        });
    }
    if (p.restart !== previous.restart || p.maxRetryCount !== previous.maxRetryCount) {
        await dockerApi(engine, "POST", `/containers/${id}/update`, {
            RestartPolicy: { Name: p.restart ?? "no", MaximumRetryCount: p.maxRetryCount ?? 0 },
        });
    }
    return { id, state: { ...p, id } };
}

const ignoreMissing = (err: unknown) => {
    if (err instanceof DockerApiError && err.status === 404) return undefined;
    throw err;
};

export async function createNetwork(p: Props, engine: DockerEngine): Promise<{ id: string; state: Props }> {
    const res = await dockerApi<{ Id: string }>(engine, "POST", "/networks/create", {
        Name: p.name,
        Driver: p.driver ?? "bridge",
        CheckDuplicate: true,
        Internal: p.internal ?? false,
        Attachable: p.attachable ?? false,
        IPAM: {
            Driver: p.ipamDriver ?? "default",
            Config: (p.ipamConfigs ?? []).map((c: Props) => ({
                Subnet: c.subnet,
                IPRange: c.ipRange,
                Gateway: c.gateway,
            })),
        },
        Labels: labelsOf(p.labels),
    });
    return { id: res.Id, state: { ...p, driver: p.driver ?? "bridge" } };
}

export async function deleteNetwork(id: string, engine: DockerEngine): Promise<void> {
    await dockerApi(engine, "DELETE", `/networks/${id}`).catch(ignoreMissing);
}

export async function createVolume(p: Props, engine: DockerEngine): Promise<{ id: string; state: Props }> {
    const res = await dockerApi<{ Name: string; Mountpoint: string }>(engine, "POST", "/volumes/create", {
        Name: p.name,
        Driver: p.driver ?? "local",
        Labels: labelsOf(p.labels),
    });
    return { id: res.Name, state: { ...p, name: res.Name, mountpoint: res.Mountpoint, driver: p.driver ?? "local" } };
}

/**
 * Removes a volume as the provider does (resourceDockerVolumeDelete, v4.5.0): force-remove, and while
 * Docker says "volume is in use" (a container being removed still holds it) retry, after a 2 s delay
 * and at least 5 s apart, for up to 30 s.
 */
export async function deleteVolume(
    id: string,
    engine: DockerEngine,
    timing = { delayMs: 2000, intervalMs: 5000, timeoutMs: 30_000 },
): Promise<void> {
    const deadline = Date.now() + timing.timeoutMs;
    await sleep(timing.delayMs);
    for (;;) {
        try {
            await dockerApi(engine, "DELETE", `/volumes/${id}?force=true`).catch(ignoreMissing);
            return;
        } catch (err) {
            if (!(err instanceof DockerApiError && /volume is in use/.test(err.message)) || Date.now() > deadline)
                throw err;
        }
        await sleep(timing.intervalMs);
    }
}

export async function createRemoteImage(p: Props, engine: DockerEngine): Promise<{ id: string; state: Props }> {
    const inspect = () =>
        dockerApi<{ Id: string; RepoDigests?: string[] }>(engine, "GET", `/images/${encodeURIComponent(p.name)}/json`);
    let image = await inspect().catch(ignoreMissing);
    if (!image) {
        const [repo, tag] = splitReference(p.name);
        await dockerApi(
            engine,
            "POST",
            `/images/create?fromImage=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`,
        );
        image = await inspect();
    }
    return { id: `${image.Id}${p.name}`, state: { ...p, imageId: image.Id, repoDigest: image.RepoDigests?.[0] ?? "" } };
}

/**
 * Repository and tag (or digest) of an image reference, as the Engine API's `fromImage` and `tag`
 * take them: `postgres:17`, `registry:5000/pg` (latest), `postgres@sha256:…` (the digest is the tag).
 */
export function splitReference(ref: string): [string, string] {
    const digest = ref.indexOf("@");
    if (digest >= 0) return [ref.slice(0, digest), ref.slice(digest + 1)];
    const at = ref.lastIndexOf(":");
    return at > ref.lastIndexOf("/") ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, "latest"];
}

export async function deleteRemoteImage(p: Props, engine: DockerEngine): Promise<void> {
    if (p.keepLocally) return;
    await dockerApi(engine, "DELETE", `/images/${encodeURIComponent(p.name)}`).catch(ignoreMissing);
}

const engineApis = new Map<string, Promise<string>>();

/** An engine's API version (GET /version), asked once per engine: the provider's client negotiates it. */
export function engineApiVersion(engine: DockerEngine): Promise<string> {
    let version = engineApis.get(engine.host);
    if (!version) {
        version = dockerApi<{ ApiVersion: string }>(engine, "GET", "/version").then((v) => v.ApiVersion);
        engineApis.set(engine.host, version);
    }
    return version;
}

/** Whether API version `a` ("1.41") is older than `b`. */
function olderApi(a: string, b: string): boolean {
    const [x, y] = [a, b].map((v) => v.split(".").map(Number));
    for (let i = 0; i < Math.max(x.length, y.length); i++)
        if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) < (y[i] ?? 0);
    return false;
}

/**
 * The provider's client-side refusal of a healthcheck start interval on an engine older than API
 * 1.44: terraform-provider-docker v4.5.0 sends start_interval whenever it is set (schema default
 * "0s", resource_docker_container_funcs.go: `config.Healthcheck.StartInterval`), and its Docker client
 * (github.com/docker/docker v28.5.2, client/container_create.go ContainerCreate) fails before any
 * request when StartInterval != 0 and the negotiated version is older; the provider reports it as
 * "Unable to create container: …". Undefined when the create may go ahead.
 */
export function startIntervalRefusal(hc: Props | undefined, apiVersion: string): string | undefined {
    if (!hc || !durationNs(hc.startInterval) || !olderApi(apiVersion, "1.44")) return undefined;
    return `Unable to create container: "specify health-check start interval" requires API version 1.44, but the Docker daemon API version is ${apiVersion}`;
}

const portKey = (port: Props) => `${port.internal}/${port.protocol ?? "tcp"}`;

/** The Engine API's container create body for the provider's container inputs. */
export function containerCreateBody(p: Props): Props {
    const ports: Props[] = p.ports ?? [];
    const networks: Props[] = p.networksAdvanced ?? [];
    return {
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
        Healthcheck: healthcheckBody(p.healthcheck),
        HostConfig: hostConfigBody(p, ports, networks),
        NetworkingConfig: {
            EndpointsConfig: Object.fromEntries(
                networks.map((n) => [
                    n.name,
                    {
                        Aliases: n.aliases ?? [],
                        IPAMConfig: n.ipv4Address ? { IPv4Address: n.ipv4Address } : undefined,
                    },
                ]),
            ),
        },
    };
}

/** The create body's Healthcheck: durations in nanoseconds; undefined without a healthcheck. */
function healthcheckBody(hc: Props | undefined): Props | undefined {
    return (
        hc && {
            Test: hc.tests,
            Interval: durationNs(hc.interval),
            Timeout: durationNs(hc.timeout),
            StartPeriod: durationNs(hc.startPeriod),
            StartInterval: durationNs(hc.startInterval),
            Retries: hc.retries,
        }
    );
}

/** The create body's HostConfig: binds, published ports, restart policy, init and network mode. */
function hostConfigBody(p: Props, ports: Props[], networks: Props[]): Props {
    return {
        Binds: (p.volumes ?? []).map(
            (v: Props) => `${v.volumeName ?? v.hostPath}:${v.containerPath}${v.readOnly ? ":ro" : ""}`,
        ),
        PortBindings: Object.fromEntries(
            ports.map((port) => [
                portKey(port),
                [{ HostIp: port.ip ?? "0.0.0.0", HostPort: String(port.external ?? "") }],
            ]),
        ),
        RestartPolicy: { Name: p.restart ?? "no", MaximumRetryCount: p.maxRetryCount ?? 0 },
        // resourceDockerContainerCreate (v4.5.0): `hostConfig.Init = &init`, false when unset.
        Init: p.init === true,
        NetworkMode: networks[0]?.name ?? p.networkMode ?? "bridge",
    };
}

/** resourceDockerContainerCreate (v4.5.0): each upload sets exactly one of content, content_base64, source. */
export function uploadContentError(u: Props): string | undefined {
    const set = [u.content, u.contentBase64, u.source].filter((v) => v !== undefined && v !== "").length;
    if (set === 0)
        return `error with upload content: one of 'content', 'content_base64', or 'source' must be set (${u.file})`;
    if (set > 1)
        return `error with upload content: only one of 'content', 'content_base64', or 'source' can be set (${u.file})`;
    return undefined;
}

/** The files of the uploads, as the tar archive put into the container holds them. */
function uploadFiles(uploads: Props[]): Array<{ path: string; content: Buffer; mode: number }> {
    return uploads.map((u) => ({
        path: u.file,
        content:
            u.contentBase64 !== undefined
                ? Buffer.from(u.contentBase64, "base64")
                : Buffer.from(u.content ?? "", "utf8"),
        mode: u.permissions !== undefined ? parseInt(u.permissions, 8) : u.executable ? 0o744 : 0o644,
    }));
}

/** What the provider does once the container exists: uploads, start, and (with `wait`) waiting until healthy. */
async function uploadAndStart(id: string, p: Props, engine: DockerEngine): Promise<void> {
    const uploads: Props[] = p.uploads ?? [];
    for (const u of uploads) {
        const error = uploadContentError(u);
        if (error !== undefined) throw new Error(error);
    }
    if (uploads.length > 0)
        await dockerApi(engine, "PUT", `/containers/${id}/archive?path=/`, undefined, tarArchive(uploadFiles(uploads)));
    if (p.start ?? true) {
        await dockerApi(engine, "POST", `/containers/${id}/start`).catch((err: Error) => {
            throw new Error(`Unable to start container: ${err.message}`);
        });
        if (p.wait) await waitHealthy(engine, id, p.name, (p.waitTimeout ?? 60) * 1000);
    }
}

/** Creates, uploads into, starts and (with `wait`) waits for a container, as the provider does. */
export async function createContainer(p: Props, engine: DockerEngine): Promise<{ id: string; state: Props }> {
    const refusal = startIntervalRefusal(p.healthcheck, await engineApiVersion(engine));
    if (refusal) throw new Error(refusal);
    const created = await dockerApi<{ Id: string }>(
        engine,
        "POST",
        `/containers/create?name=${encodeURIComponent(p.name)}`,
        containerCreateBody(p),
    );
    const id = created.Id;
    try {
        await uploadAndStart(id, p, engine);
    } catch (err) {
        // The provider has set the id already (resourceDockerContainerCreate: `d.SetId(retContainer.ID)`
        // right after ContainerCreate, before uploads, start and wait), so the bridge returns the
        // partial state with the error and the engine keeps the container in state with an init error.
        throw new PartialCreateError((err as Error).message, id, { ...p, id });
    }
    return { id, state: { ...p, id } };
}

/**
 * A create that failed after the object existed. pulumi-terraform-bridge pkg/tfbridge/provider.go
 * Create: when Terraform's Apply returns a state with an id and an error, it answers
 * `initializationError(newstate.ID(), mprops, reasons)`; the engine records the resource with those
 * reasons as `initErrors` (pulumi/pulumi pkg/resource/deploy/step.go CreateStep.Apply:
 * `s.new.InitErrors = initErr.Reasons`) and fails the deployment.
 */
export class PartialCreateError extends Error {
    constructor(
        message: string,
        readonly id: string,
        readonly state: Props,
    ) {
        super(message);
    }
}

interface ContainerInspect {
    State: { Status: string; Running: boolean; ExitCode: number; Health?: { Status: string } };
    Config?: {
        Healthcheck?: {
            Test?: string[];
            Interval?: number;
            Timeout?: number;
            StartPeriod?: number;
            StartInterval?: number;
            Retries?: number;
        };
    };
}

/** The healthcheck as the provider reads it back from Docker (durations in Go form). */
export function readBackHealthcheck(info: ContainerInspect): Props | undefined {
    const hc = info.Config?.Healthcheck;
    if (!hc) return undefined;
    return {
        tests: hc.Test ?? [],
        interval: goDuration(hc.Interval ?? 0),
        timeout: goDuration(hc.Timeout ?? 0),
        startPeriod: goDuration(hc.StartPeriod ?? 0),
        startInterval: goDuration(hc.StartInterval ?? 0),
        retries: hc.Retries ?? 0,
    };
}

/**
 * `wait`, as the provider does (resourceDockerContainerCreate): a container without a healthcheck
 * is an error; otherwise poll every second until Health.Status is healthy, whatever it is meanwhile
 * (starting, unhealthy, restarting), and fail only when waitTimeout has passed. Exported for its test.
 */
export async function waitHealthy(engine: DockerEngine, id: string, name: string, timeoutMs: number): Promise<void> {
    const health = async () => {
        const info = await dockerApi<ContainerInspect>(engine, "GET", `/containers/${id}/json`);
        const status = info.State.Health?.Status;
        if (status === undefined) {
            throw new Error(
                `container ${name}: you have supplied a 'wait' argument, but the container does not have a healthcheck defined`,
            );
        }
        return status === "healthy" || status;
    };
    // An Engine API error or a missing healthcheck ends the wait at once, as it does in the provider.
    const last = await pollUntil(Date.now() + timeoutMs, health, 1000, "throw");
    if (last === true) return;
    const logs = await containerLogTail(engine, id, 30);
    throw new Error(
        `container ${name} failed to be in healthy state in time (${timeoutMs / 1000}s, last ${last}); last log lines:\n${logs}`,
    );
}

/**
 * The last `lines` log lines of a container without a TTY, through the engine's API (so a tcp:// engine
 * with TLS answers as a socket does): the stream's frames are an 8-byte header (stream, 0, 0, 0, size
 * big-endian) then the payload (Engine API, "Attach to a container", stream format).
 */
async function containerLogTail(engine: DockerEngine, id: string, lines: number): Promise<string> {
    let bytes: Buffer;
    try {
        bytes = await dockerApiBytes(engine, "GET", `/containers/${id}/logs?stdout=1&stderr=1&tail=${lines}`);
    } catch (err) {
        return `(no logs: ${(err as Error).message})`;
    }
    const parts: Buffer[] = [];
    for (let at = 0; at + 8 <= bytes.length;) {
        const size = bytes.readUInt32BE(at + 4);
        parts.push(bytes.subarray(at + 8, at + 8 + size));
        at += 8 + size;
    }
    return Buffer.concat(parts).toString("utf8");
}

/** Removes a container; like the provider, it stops it first only when destroyGraceSeconds is set. */
export async function deleteContainer(id: string, p: Props, engine: DockerEngine): Promise<void> {
    if ((p.destroyGraceSeconds ?? 0) > 0) {
        await dockerApi(engine, "POST", `/containers/${id}/stop?t=${p.destroyGraceSeconds}`).catch((err) => {
            if (err instanceof DockerApiError && (err.status === 304 || err.status === 404)) return undefined;
            throw err;
        });
    }
    await dockerApi(
        engine,
        "DELETE",
        `/containers/${id}?force=true&v=${p.removeVolumes === false ? "false" : "true"}`,
    ).catch(ignoreMissing);
}

/** What a refresh finds for a resource: still there, gone, or a container stopped while mustRun. */
export async function refreshVerdict(
    type: string,
    id: string,
    p: Props,
    engine: DockerEngine,
): Promise<{
    verdict: "keep" | "gone" | "stopped";
    healthcheck?: Props;
    image?: { id: string; imageId: string; repoDigest: string };
}> {
    if (type === "docker:index/remoteImage:RemoteImage") {
        // resourceDockerImageRead (v4.5.0): the image is looked up again by name; a tag that moved
        // gives a new image_id and resource id.
        const found = await dockerApi<{ Id: string; RepoDigests?: string[] }>(
            engine,
            "GET",
            `/images/${encodeURIComponent(p.name)}/json`,
        ).catch(ignoreMissing);
        if (!found) return { verdict: "gone" };
        return {
            verdict: "keep",
            image: { id: `${found.Id}${p.name}`, imageId: found.Id, repoDigest: found.RepoDigests?.[0] ?? "" },
        };
    }
    const path =
        type === "docker:index/container:Container"
            ? `/containers/${id}/json`
            : type === "docker:index/volume:Volume"
              ? `/volumes/${id}`
              : type === "docker:index/network:Network"
                ? `/networks/${id}`
                : undefined;
    if (path === undefined) return { verdict: "keep" };
    const found = await dockerApi<ContainerInspect>(engine, "GET", path).catch(ignoreMissing);
    if (!found) return { verdict: "gone" };
    if (type !== "docker:index/container:Container") return { verdict: "keep" };
    if ((p.mustRun ?? true) && !found.State.Running) return { verdict: "stopped" };
    return { verdict: "keep", healthcheck: readBackHealthcheck(found) };
}
