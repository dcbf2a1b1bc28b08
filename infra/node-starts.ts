// When each node's container last started, read from Docker on every deployment (an invoke, not a
// resource: it runs in the preview too and never shows as a change by itself).
//
// Why: a refresh that finds a node stopped leaves its id unchanged and the provider starts it in
// place (terraform-provider-docker v4.5.0 resource_docker_container_funcs.go: Read sets must_run
// false, Update calls ContainerStart), so nothing the checks depend on through resources changes and
// the engine would not run them again. Fed into the checks' inputs, a node started since the last
// deployment (by that update, by Docker's restart policy, by a failover or by hand) changes them,
// and `pulumi up` proves the cluster healthy again; an untouched cluster reads the same times, so
// `pulumi preview --expect-no-changes` stays clean.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { USE_ENGINE_SHELL } from "../model/engine-tls";
import { enginesTlsEnvironment } from "./engines";
import type { PostgresNode } from "./node";

/** `NAME STARTED_AT` per node container, one per line, in the order given (Docker's `.State.StartedAt`). */
export function nodeStarts(nodes: Array<Pick<PostgresNode, "container" | "engine">>): pulumi.Output<string> {
    const ids = pulumi.all(nodes.map((n) => n.container.id));
    if (nodes.every((n) => n.engine === undefined)) {
        return command.local
            .runOutput({
                command: 'docker inspect --format "{{.Name}} {{.State.StartedAt}}" $PGR_CONTAINER_IDS',
                environment: { PGR_CONTAINER_IDS: ids.apply((all) => all.join(" ")) },
            })
            .apply((r) => r.stdout.trim());
    }
    // Across hosts each container on its own host's engine: `engine|id` pairs.
    const pairs = ids.apply((all) => all.map((id, i) => `${nodes[i].engine?.host.engine ?? "-"}|${id}`).join(" "));
    return command.local
        .runOutput({
            command: [
                "set -e",
                "for p in $PGR_CONTAINER_IDS; do",
                "  e=${p%%|*}; id=${p#*|}",
                ...USE_ENGINE_SHELL.map((line) => `  ${line}`),
                '  docker inspect --format "{{.Name}} {{.State.StartedAt}}" "$id"',
                "done",
            ].join("\n"),
            environment: {
                PGR_CONTAINER_IDS: pairs,
                ...enginesTlsEnvironment(nodes.flatMap((n) => (n.engine ? [n.engine] : []))),
            },
        })
        .apply((r) => r.stdout.trim());
}
