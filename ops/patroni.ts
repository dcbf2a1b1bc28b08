// Patroni's REST API from the Docker host, through `docker exec` into a node (the API listens on
// the cluster network only; its password never leaves the node's patroni.yml).
import { PATRONI_NAMESPACE } from "../model/patroni-config";
import { PATRONI_REST_PY, PatroniRequest } from "../model/patroni-rest";
import { execProgram, listNodes } from "./cluster-discovery";
import { dockerArgv } from "./engines";

/** A REST answer: HTTP status and body (parsed JSON when it was JSON). */
export interface PatroniResponse<T = unknown> {
    status: number;
    body: T;
}

/** One member in GET /cluster (docs/rest_api.rst "Cluster status endpoints"). */
export interface PatroniMember {
    name: string;
    role: string;
    state: string;
    host?: string;
    timeline?: number;
    lag?: number | string;
    receive_lag?: number | string;
    replay_lag?: number | string;
}

/** GET /cluster's body. */
export interface PatroniCluster {
    members: PatroniMember[];
    scope?: string;
}

/** Sends `req` to the REST API of the node in `container`. Rejects when the node cannot be asked. */
export async function patroniRest<T = unknown>(
    container: string,
    req: PatroniRequest,
    timeoutMs = 30_000,
): Promise<PatroniResponse<T>> {
    const res = await execProgram(
        dockerArgv(container, ["exec", "-i", "-u", "postgres", container, "python3", "-c", PATRONI_REST_PY]),
        timeoutMs,
        { stdin: JSON.stringify(req) },
    );
    if (res.code !== 0)
        throw new Error(
            `Patroni REST ${req.method} ${req.path} on ${container}: ${res.stderr.trim().split("\n").pop()}`,
        );
    return JSON.parse(res.stdout) as PatroniResponse<T>;
}

/** GET /cluster from the first running node of `stack` that answers, with the container asked. */
export async function patroniCluster(stack: string): Promise<{ container: string; cluster: PatroniCluster }> {
    const nodes = (await listNodes(stack)).filter((n) => n.running);
    let last = `no running node in stack ${stack}`;
    for (const n of nodes) {
        try {
            const res = await patroniRest<PatroniCluster>(
                n.container,
                { method: "GET", path: "/cluster", timeoutSeconds: 3 },
                10_000,
            );
            if (res.status === 200) return { container: n.container, cluster: res.body };
            last = `${n.container} answered ${res.status}`;
        } catch (err) {
            last = (err as Error).message;
        }
    }
    throw new Error(`Patroni's /cluster is not available: ${last}`);
}

/** The member holding the leader key, if any. */
export function leaderOf(cluster: PatroniCluster): PatroniMember | undefined {
    const leaders = cluster.members.filter((m) => m.role === "leader");
    return leaders.length === 1 ? leaders[0] : undefined;
}

/** What `etcdctl endpoint health` of every member said, asked from inside one member's container. */
export interface EtcdHealth {
    /** Members that answered healthy. */
    healthy: number;
    /** Whether etcdctl ran there and judged the members (healthy or not); false when the container cannot be asked. */
    answered: boolean;
    stderr: string;
}

/** `etcdctl endpoint health` against every endpoint, run in `container`; the checks and `status` share it. */
export async function etcdEndpointHealth(
    container: string,
    endpoints: string[],
    commandTimeout?: string,
): Promise<EtcdHealth> {
    const res = await execProgram(
        dockerArgv(container, [
            "exec",
            container,
            "etcdctl",
            `--endpoints=${endpoints.join(",")}`,
            ...(commandTimeout ? [`--command-timeout=${commandTimeout}`] : []),
            "endpoint",
            "health",
        ]),
        15_000,
    );
    const text = res.stdout + res.stderr;
    return {
        healthy: text.split("\n").filter((l) => / is healthy/.test(l)).length,
        answered: /is (un)?healthy|failed to commit/.test(text),
        stderr: res.stderr,
    };
}

/** Who holds a Patroni cluster's leader key and how long its lease has left. */
export interface LeaderKey {
    holder: string;
    /** Seconds until etcd expires the key unless the holder renews it (a dead holder cannot). */
    expiresInSeconds: number;
}

/**
 * The leader key of cluster `scope` as etcd holds it (Patroni's etcd3 DCS: `<namespace><scope>/leader`,
 * bound to a lease of `ttl`): its holder and the lease's time to live. Asked through the first etcd
 * member's container that answers; undefined when there is no key or no member answers.
 */
export async function leaderKey(
    etcdContainers: string[],
    endpoints: string[],
    scope: string,
): Promise<LeaderKey | undefined> {
    const etcdctl = (container: string, ...args: string[]) =>
        execProgram(
            dockerArgv(container, [
                "exec",
                container,
                "etcdctl",
                `--endpoints=${endpoints.join(",")}`,
                "--command-timeout=2s",
                ...args,
            ]),
            10_000,
        );
    for (const container of etcdContainers) {
        const got = await etcdctl(container, "get", `${PATRONI_NAMESPACE}${scope}/leader`, "-w", "json");
        if (got.code !== 0) continue;
        const kv = (JSON.parse(got.stdout) as { kvs?: Array<{ value: string }> }).kvs?.[0];
        // The lease id is a 64-bit integer: read from the text, JSON.parse would round it.
        const lease = /"lease":(\d+)/.exec(got.stdout)?.[1];
        if (!kv || !lease) return undefined;
        const ttl = await etcdctl(container, "lease", "timetolive", BigInt(lease).toString(16), "-w", "json");
        if (ttl.code !== 0) continue;
        return {
            holder: Buffer.from(kv.value, "base64").toString("utf8"),
            // `etcdctl lease timetolive -w json`: {"id":…,"ttl":19,"granted-ttl":20,…}
            expiresInSeconds: Math.max(0, (JSON.parse(ttl.stdout) as { ttl: number }).ttl),
        };
    }
    return undefined;
}
