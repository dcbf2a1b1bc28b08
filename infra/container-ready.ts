// When a container counts as up: as soon as its server answers (PostgreSQL on a node, PgBouncer or
// HAProxy listening on an endpoint, etcd healthy, the exporter listening), found out by a command that
// probes inside it every 100 ms, not by the provider's `wait` on the container's healthcheck.
//
// Why not `wait`: terraform-provider-docker v4.5.0 (resource_docker_container_funcs.go,
// resourceDockerContainerCreate) inspects the container once a second until Docker calls it healthy,
// and Docker runs the first probe one healthcheck interval after the start (engines before API 1.44
// have no start interval). A node that answers at 1.1 s is then reported at 2 to 3 s, on the path of
// every fresh `up` twice (the primary, then the replicas). The healthchecks stay on the containers
// for what reads health later (`docker ps`, monitoring).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { untilProbe } from "../model/probes";
import { Engine, engineEnvironment } from "./engines";

/**
 * Shell script that returns once $PGR_READY_PROBE succeeds inside container $PGR_CONTAINER, or fails
 * after $PGR_READY_TIMEOUT seconds with the container's last log lines. One `docker exec` runs up to 20
 * probes (2 s plus what the probes take: each must bound its own time), and again while the deadline
 * allows (also while the container is not running yet or is being restarted by its restart policy:
 * then `docker exec` itself fails).
 */
export const CONTAINER_READY = [
    "set -u",
    "end=$(( $(date +%s) + PGR_READY_TIMEOUT ))",
    `until docker exec -e PGR_READY_PROBE "$PGR_CONTAINER" sh -c '${untilProbe('eval "$PGR_READY_PROBE"', 20, "exit 1")}' 2>/dev/null; do`,
    // A container that says it gave up (PGR_READY_FAIL succeeds and prints why) fails at once.
    '  if [ -n "${PGR_READY_FAIL:-}" ] && docker exec "$PGR_CONTAINER" sh -c "$PGR_READY_FAIL" >&2 2>/dev/null; then',
    '    echo "pg-replication: $PGR_CONTAINER gave up (above); its last log lines:" >&2',
    '    docker logs --tail 30 "$PGR_CONTAINER" >&2 || true',
    "    exit 1",
    "  fi",
    '  if [ "$(date +%s)" -ge "$end" ]; then',
    '    echo "pg-replication: $PGR_CONTAINER was not ready within ${PGR_READY_TIMEOUT}s ($PGR_READY_PROBE never succeeded); its last log lines:" >&2',
    '    docker logs --tail 30 "$PGR_CONTAINER" >&2 || true',
    "    exit 1",
    "  fi",
    "  sleep 0.2",
    "done",
].join("\n");

/** Arguments of {@link containerReady}. */
export interface ContainerReadyArgs {
    /** The container's name. */
    containerName: pulumi.Input<string>;
    /** The container's id: a new container is waited for again. */
    containerId: pulumi.Input<string>;
    /** Shell command run inside the container that succeeds once its server answers; it must bound its own time. */
    probe: string;
    /** Seconds to wait before failing. */
    timeoutSeconds: number;
    /** Shell command run inside the container that succeeds (printing why) once it has given up: fail at once. @default none */
    failProbe?: string;
    /** The host's engine the container runs on (`hosts`). @default the default engine */
    engine?: Engine;
}

/** The command that completes once the container's server accepts connections. */
export function containerReady(
    name: string,
    args: ContainerReadyArgs,
    opts: pulumi.CustomResourceOptions,
): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: CONTAINER_READY,
            environment: {
                PGR_CONTAINER: args.containerName,
                PGR_READY_PROBE: args.probe,
                PGR_READY_TIMEOUT: String(args.timeoutSeconds),
                ...(args.failProbe ? { PGR_READY_FAIL: args.failProbe } : {}),
                ...engineEnvironment(args.engine),
            },
            triggers: [args.containerId],
        },
        opts,
    );
}
