// How often a container's healthcheck probes, chosen by what the Docker engine supports. Health is
// read by people and their tools (docker ps, monitoring); a deployment decides that a container is
// up by its own ready check (infra/container-ready.ts), so the probes need not be frequent.
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
 * Between two healthcheck probes once a container runs. Nothing in a deployment waits for health any
 * more (infra/container-ready.ts), so it is chosen for what probing costs: each probe is a `docker
 * exec`, measured here (Docker 20.10, 2 cores) at about 60 ms of CPU; three idle nodes probed every
 * second used 3.75-4.05 s of CPU per 20 s (19-20 % of a core, against 0.2-0.4 s with no healthcheck),
 * every 5 s 0.97-1.34 s. A failing node is still `unhealthy` after 5 failed probes, 25 s.
 */
export const HEALTH_INTERVAL = "5s";

/**
 * The timing for an engine speaking API `apiVersion`.
 * - 1.44 and later: probe every 250 ms until the first success, so `docker ps` shows the container
 *   healthy as soon as it answers, then every {@link HEALTH_INTERVAL}.
 * - Older engines ignore a start interval, and the provider refuses to send one to them: its Docker
 *   client (v28.5.2, client/container_create.go) fails ContainerCreate with `"specify health-check
 *   start interval" requires API version 1.44` when StartInterval is set and the negotiated version
 *   is older. The first probe then runs one interval after the start.
 */
export function healthTiming(apiVersion: string): HealthTiming {
    return apiAtLeast(apiVersion, START_INTERVAL_API)
        ? { interval: HEALTH_INTERVAL, startInterval: "250ms" }
        : { interval: HEALTH_INTERVAL };
}

/**
 * The property every container with a healthcheck ignores changes of (`ignoreChanges`): Docker cannot
 * change a running container's healthcheck, and the provider reads the container's own back on every
 * refresh (terraform-provider-docker v4.5.0 resourceDockerContainerRead sets `healthcheck` from
 * `Config.Healthcheck`), so a changed one (a new interval, an engine upgrade) would show as an update on
 * every `up` without ever reaching Docker. A container takes the current one when it is re-created
 * (`npm run roll-image` for the nodes, `pulumi up --replace` for any).
 */
export const HEALTHCHECK_SET_AT_CREATION = "healthcheck";

let engineApi: pulumi.Output<string> | undefined;

/**
 * The Docker engine's API version, asked once per deployment (an invoke: it runs on every `up`). After
 * an engine upgrade a container keeps its healthcheck until it is re-created
 * ({@link HEALTHCHECK_SET_AT_CREATION}). The docker CLI
 * talks to the engine the provider uses as long as both follow DOCKER_HOST, as the cluster's other
 * commands assume.
 */
export function engineApiVersion(): pulumi.Output<string> {
    engineApi ??= command.local
        .runOutput({ command: "docker version --format '{{.Server.APIVersion}}'" })
        .apply((r) => r.stdout.trim());
    return engineApi;
}
