// Where a resource runs when the cluster spans several Docker hosts (`hosts`, model/hosts.ts): one
// docker.Provider per host (the Pulumi way to reach another engine: pulumi-docker's Provider `host`,
// which terraform-provider-docker hands to the Docker client as DOCKER_HOST would be), each
// resource created with its host's provider, and each command that runs `docker` pointed at the same
// engine through DOCKER_HOST (ssh:// too: the docker CLI dials it with `docker system dial-stdio`).
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerEngines, DockerHost, HostsConfig, resolvePlacement } from "../model/hosts";

/** A host's engine as resources reach it. */
export interface Engine {
    host: DockerHost;
    provider: docker.Provider;
}

/** One provider per host, named after the host; children of `parent`. */
function hostEngines(name: string, hosts: DockerHost[], parent: pulumi.Resource): Record<string, Engine> {
    return Object.fromEntries(
        hosts.map((host) => [
            host.name,
            { host, provider: new docker.Provider(`${name}-${host.name}`, { host: host.engine }, { parent }) },
        ]),
    );
}

/** A docker resource's options on `engine` (none on the default engine). */
export function onEngine(engine: Engine | undefined): { provider?: docker.Provider } {
    return engine ? { provider: engine.provider } : {};
}

/** A command's environment that points `docker` at `engine` (nothing on the default engine). */
export function engineEnvironment(engine: Engine | undefined): Record<string, string> {
    return engine ? { DOCKER_HOST: engine.host.engine } : {};
}

/**
 * A container's network settings: on one engine the cluster network with a fixed address (and
 * aliases); across hosts its host's network, where it is reached at the host's address.
 */
export function containerNetworking(
    engine: Engine | undefined,
    network: pulumi.Input<string> | undefined,
    attachment: Omit<docker.types.input.ContainerNetworksAdvanced, "name">,
): Pick<docker.ContainerArgs, "networkMode" | "networksAdvanced"> {
    if (engine || network === undefined) return { networkMode: "host" };
    return { networksAdvanced: [{ name: network, ...attachment }] };
}

/** The engines of a cluster spread over hosts: every host's, and the one of each member. */
export interface ClusterEngines {
    /** Every host's engine, in configuration order (HAProxy runs on each). */
    hosts: Engine[];
    /** By node name (pg1 …). */
    nodes: Record<string, Engine>;
    /** Etcd member k at index k-1. */
    etcd: Engine[];
    repository: Engine;
}

/** One provider per configured host and where each member runs; undefined on one engine. */
export function clusterEngines(
    name: string,
    cfg: Parameters<typeof resolvePlacement>[0],
    parent: pulumi.Resource,
): ClusterEngines | undefined {
    const placement = resolvePlacement(cfg);
    if (!placement) return undefined;
    const byHost = hostEngines(name, placement.hosts, parent);
    return {
        hosts: placement.hosts.map((h) => byHost[h.name]),
        nodes: Object.fromEntries(Object.entries(placement.nodes).map(([node, h]) => [node, byHost[h.name]])),
        etcd: placement.etcd.map((h) => byHost[h.name]),
        repository: byHost[placement.repository.name],
    };
}

/**
 * The environment of a hook that reaches several containers of stack `prefix` (ops/engines.ts reads
 * it): container name → engine address, and the engines to list. Empty on one engine.
 */
export function stackEnginesEnvironment(
    prefix: string,
    cfg: HostsConfig & { hosts: DockerHost[] },
): Record<string, string> {
    const map = containerEngines(prefix, cfg);
    if (Object.keys(map).length === 0) return {};
    return {
        PGR_DOCKER_ENGINES: JSON.stringify(map),
        PGR_ENGINE_LIST: [...new Set(Object.values(map))].join(" "),
        // Engine → host name, for messages that must name the host (the deployment guard).
        PGR_HOST_NAMES: JSON.stringify(Object.fromEntries(cfg.hosts.map((h) => [h.engine, h.name]))),
    };
}
