// How often a container's healthcheck probes, chosen by what the Docker engine supports. etcd
// members are "created" only once Docker reports them healthy (`wait: true`), so their first
// successful probe decides when the nodes may start; a PostgreSQL node's health is read later
// (status, docker ps), and its own ready check (infra/container-ready.ts) decides when it is up.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

/** Engine API version from which Docker honours a healthcheck's start interval (Docker 25). */
export const START_INTERVAL_API = "1.44";

/** The probe timing of a healthcheck. */
export interface HealthTiming {
    /** Between probes; on engines without start intervals, also until the first probe. */
    interval: string;
    /** Between probes until the first success, within the start period. @default not sent */
    startInterval?: string;
}

/** Whether Docker API version `version` ("1.41") is at least `min`. */
export function apiAtLeast(version: string, min: string): boolean {
    const [a, b] = [version, min].map((v) => v.split(".").map((n) => Number(n)));
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const d = (a[i] ?? 0) - (b[i] ?? 0);
        if (Number.isNaN(d)) return false;
        if (d !== 0) return d > 0;
    }
    return true;
}

/**
 * The timing for an engine speaking API `apiVersion`.
 * - 1.44 and later: probe every 250 ms until the first success (PostgreSQL answers), then every 2 s.
 * - Older engines ignore a start interval, and the provider refuses to send one to them: its Docker
 *   client (v28.5.2, client/container_create.go) fails ContainerCreate with `"specify health-check
 *   start interval" requires API version 1.44` when StartInterval is set and the negotiated version
 *   is older. The first probe then runs one `interval` after the start: 1 s, not 2, so a node is
 *   reported healthy about a second sooner, for one more probe per node every 2 s.
 */
export function healthTiming(apiVersion: string): HealthTiming {
    return apiAtLeast(apiVersion, START_INTERVAL_API) ? { interval: "2s", startInterval: "250ms" } : { interval: "1s" };
}

let engineApi: pulumi.Output<string> | undefined;

/**
 * The Docker engine's API version, asked once per deployment (an invoke: it runs on every `up`). After
 * an engine upgrade the healthcheck changes in place, in state only: Docker cannot change a running
 * container's healthcheck, so a node takes the new timing when it is next re-created. The docker CLI
 * talks to the engine the provider uses as long as both follow DOCKER_HOST, as the cluster's other
 * commands assume.
 */
export function engineApiVersion(): pulumi.Output<string> {
    engineApi ??= command.local
        .runOutput({ command: "docker version --format '{{.Server.APIVersion}}'" })
        .apply((r) => r.stdout.trim());
    return engineApi;
}
