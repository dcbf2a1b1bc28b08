// Where a resource runs when the cluster spans several Docker hosts (`hosts`, model/hosts.ts): one
// docker.Provider per host (the Pulumi way to reach another engine: pulumi-docker's Provider `host`,
// which terraform-provider-docker hands to the Docker client as DOCKER_HOST would be), each
// resource created with its host's provider, and each command that runs `docker` pointed at the same
// engine through DOCKER_HOST (ssh:// too: the docker CLI dials it with `docker system dial-stdio`).
//
// A tcp:// engine (model/engine-tls.ts): its provider gets the client TLS material as secrets
// (caMaterial, certMaterial, keyMaterial); its commands get DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH,
// the path of a private directory the program writes the same material to when it declares the
// engines (the deployment guard, an invoke, reaches every engine before any resource exists). The
// directory is removed by the delete of one command resource, `<name>-docker-tls`, whose output every
// such command's environment carries: a destroy deletes it after all of them.
import * as path from "path";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { engineCertDir, EngineTls, isTcpEngine, writeEngineTls } from "../model/engine-tls";
import { containerEngines, DockerHost, HostsConfig, resolvePlacement } from "../model/hosts";

/** A host's engine as resources reach it. */
export interface Engine {
    host: DockerHost;
    provider: docker.Provider;
    /** A tcp:// engine's cert directory (DOCKER_CERT_PATH); resolves once its cleanup resource exists. */
    certDir?: pulumi.Output<string>;
}

/** The client TLS material of the tcp:// engines, and where it is written for the docker CLI. */
export interface EngineTlsFiles {
    /** By host name (plain: the files must exist before the deployment guard runs). */
    material: EngineTls;
    /** The stack's cert root (model/engine-tls.ts engineTlsRoot). */
    root: string;
}

/** The provider args that give a tcp:// engine's client its TLS material, each a secret. */
function tlsProviderArgs(host: DockerHost, tls: EngineTlsFiles | undefined): Partial<docker.ProviderArgs> {
    const material = tls?.material[host.name];
    if (!isTcpEngine(host.engine) || !material) return {};
    return {
        caMaterial: pulumi.secret(material.ca),
        certMaterial: pulumi.secret(material.cert),
        keyMaterial: pulumi.secret(material.key),
    };
}

/**
 * One provider per host, named after the host; children of `parent`. `certRoot` is the stack's
 * cert root as its cleanup resource outputs it (tcp:// engines only).
 */
function hostEngines(
    name: string,
    hosts: DockerHost[],
    parent: pulumi.Resource,
    tls: EngineTlsFiles | undefined,
    certRoot: pulumi.Output<string> | undefined,
): Record<string, Engine> {
    return Object.fromEntries(
        hosts.map((host) => {
            const provider = new docker.Provider(
                `${name}-${host.name}`,
                { host: host.engine, ...tlsProviderArgs(host, tls) },
                { parent },
            );
            const certDir =
                certRoot && isTcpEngine(host.engine) ? certRoot.apply((r) => engineCertDir(r, host.engine)) : undefined;
            return [host.name, { host, provider, ...(certDir ? { certDir } : {}) }];
        }),
    );
}

/**
 * Writes the tcp:// engines' cert directories now (model/engine-tls.ts writeEngineTls) and declares
 * the command resource whose delete removes them; its output is the cert root. Undefined without tcp://.
 */
function engineTlsCleanup(
    name: string,
    hosts: DockerHost[],
    parent: pulumi.Resource,
    tls: EngineTlsFiles | undefined,
): pulumi.Output<string> | undefined {
    const root = tls && writeEngineTls(tls.root, hosts, tls.material);
    if (!root) return undefined;
    const cleanup = new command.local.Command(
        `${name}-docker-tls`,
        {
            create: 'printf %s "$PGR_DOCKER_TLS_DIR"',
            delete: 'rm -rf "$PGR_DOCKER_TLS_DIR"',
            environment: { PGR_DOCKER_TLS_DIR: root },
        },
        { parent, deleteBeforeReplace: true },
    );
    return cleanup.stdout.apply(() => root);
}

/** A docker resource's options on `engine` (none on the default engine). */
export function onEngine(engine: Engine | undefined): { provider?: docker.Provider } {
    return engine ? { provider: engine.provider } : {};
}

/**
 * A command's environment that points `docker` at `engine` (nothing on the default engine): for a
 * tcp:// engine with TLS verified against the files in its cert directory (a path, not the material).
 */
export function engineEnvironment(engine: Engine | undefined): Record<string, pulumi.Input<string>> {
    if (!engine) return {};
    const env: Record<string, pulumi.Input<string>> = { DOCKER_HOST: engine.host.engine };
    if (engine.certDir) Object.assign(env, { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: engine.certDir });
    return env;
}

/**
 * The environment of a command that loops over `engines` (model/engine-tls.ts USE_ENGINE_SHELL):
 * PGR_DOCKER_TLS_DIR, the cert root, once every tcp:// engine's directory is there; {} without one.
 */
export function enginesTlsEnvironment(engines: Engine[]): Record<string, pulumi.Input<string>> {
    const dirs = engines.flatMap((e) => (e.certDir ? [e.certDir] : []));
    if (dirs.length === 0) return {};
    return { PGR_DOCKER_TLS_DIR: pulumi.all(dirs).apply((d) => path.dirname(d[0])) };
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
    /** The tcp:// engines' cert root, written before any resource is declared; undefined without tcp://. */
    tlsRoot?: string;
}

/**
 * One provider per configured host and where each member runs; undefined on one engine. `tls`: the
 * material of the tcp:// hosts (validated with the configuration) and where to write it.
 */
export function clusterEngines(
    name: string,
    cfg: Parameters<typeof resolvePlacement>[0],
    parent: pulumi.Resource,
    tls?: EngineTlsFiles,
): ClusterEngines | undefined {
    const placement = resolvePlacement(cfg);
    if (!placement) return undefined;
    const certRoot = engineTlsCleanup(name, placement.hosts, parent, tls);
    const byHost = hostEngines(name, placement.hosts, parent, tls, certRoot);
    return {
        hosts: placement.hosts.map((h) => byHost[h.name]),
        nodes: Object.fromEntries(Object.entries(placement.nodes).map(([node, h]) => [node, byHost[h.name]])),
        etcd: placement.etcd.map((h) => byHost[h.name]),
        repository: byHost[placement.repository.name],
        ...(certRoot && tls ? { tlsRoot: tls.root } : {}),
    };
}

/**
 * The environment of a hook that reaches several containers of stack `prefix` (ops/engines.ts reads
 * it): container name → engine address, the engines to list, and the tcp:// engines' cert root.
 * Empty on one engine.
 */
export function stackEnginesEnvironment(
    prefix: string,
    cfg: HostsConfig & { hosts: DockerHost[] },
    engines: ClusterEngines | undefined,
): Record<string, pulumi.Input<string>> {
    const map = containerEngines(prefix, cfg);
    if (Object.keys(map).length === 0) return {};
    return {
        ...enginesTlsEnvironment(engines?.hosts ?? []),
        PGR_DOCKER_ENGINES: JSON.stringify(map),
        PGR_ENGINE_LIST: [...new Set(Object.values(map))].join(" "),
        // Engine → host name, for messages that must name the host (the deployment guard).
        PGR_HOST_NAMES: JSON.stringify(Object.fromEntries(cfg.hosts.map((h) => [h.engine, h.name]))),
    };
}
