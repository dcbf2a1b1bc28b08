// Explicit docker providers: a program reaches several Docker engines with one `docker.Provider` per
// host and `{ provider }` on each resource. The harness records each provider like any resource and
// performs every docker resource on its provider's engine; each resource's record keeps its provider
// and host, so its refresh and delete reach the same engine after the program stops declaring it.
import { randomUUID } from "crypto";
import { defaultEngine, DockerEngine, engineFor } from "./docker-api";
import type { Props } from "./docker-double";

/** The resource type of an explicit docker provider, as mock mode's `newResource` receives it. */
export const DOCKER_PROVIDER = "pulumi:providers:docker";

/** Where a docker resource lives: its provider (`pulumi:providers:docker::NAME`, none for the default) and engine. */
export interface Placement {
    provider?: string;
    engine: DockerEngine;
}

/**
 * The state key (`TYPE::NAME`) of the docker provider a registration names, from the SDK's provider
 * reference `<urn>::<id>` (@pulumi/pulumi resource.js ProviderResource.register); the URN's type is
 * qualified by its parents' types (`Parent$pulumi:providers:docker`, runtime/mocks.js newUrn).
 * Undefined for no reference or another package's provider.
 */
export function dockerProviderKey(ref: string | undefined): string | undefined {
    if (!ref) return undefined;
    // urn:pulumi:STACK::PROJECT::QUALIFIED-TYPE::NAME::ID
    const parts = ref.split("::");
    if (parts.length < 5) return undefined;
    const type = parts[2].split("$").pop();
    const name = parts.slice(3, -1).join("::");
    return type === DOCKER_PROVIDER ? `${type}::${name}` : undefined;
}

/**
 * The engine a provider's inputs select (its `host`, else DOCKER_HOST, else the default socket), with
 * the client TLS its caMaterial, certMaterial, keyMaterial or certPath give (docker-api.ts providerTls).
 */
export function providerEngine(inputs: Props): DockerEngine {
    const { caMaterial, certMaterial, keyMaterial, certPath } = inputs as Record<string, string | undefined>;
    return engineFor(inputs.host, inputs.context, { caMaterial, certMaterial, keyMaterial, certPath });
}

/**
 * A docker provider resource: its config is checked (an unsupported host fails here, before any of
 * its resources), its id a fresh UUID as the engine gives a provider, its outputs its inputs. A change
 * of config updates it in place: pulumi-docker's config declares no key that forces a provider
 * replacement (bridge `configDiffer.DiffConfig` replaces only for `ForcesProviderReplace`).
 */
export const dockerProviderHandler = {
    create(inputs: Props): Promise<{ id: string; state: Props }> {
        providerEngine(inputs);
        return Promise.resolve({ id: randomUUID(), state: inputs });
    },
    update(id: string, inputs: Props): Promise<{ id: string; state: Props }> {
        providerEngine(inputs);
        return Promise.resolve({ id, state: inputs });
    },
    remove: (): Promise<void> => Promise.resolve(),
    needsReplace: (): boolean => false,
};

/**
 * The engine a recorded docker resource lives on: its recorded host, reached as its provider's
 * recorded inputs say (`provider`: the client TLS of a tcp:// engine) when they name the same host,
 * else the default engine.
 */
export function recordedEngine(record: { host?: string }, provider?: Props): DockerEngine {
    if (!record.host) return defaultEngine();
    return provider?.host === record.host ? providerEngine(provider) : engineFor(record.host);
}

/**
 * Refuses moving a recorded docker resource to another engine. The real engine would not move it:
 * a resource whose provider reference changes is replaced only when the new provider's DiffConfig
 * asks for a replacement (pulumi/pulumi pkg/resource/deploy/step_generator.go `providerChanged`),
 * and pulumi-docker's never does (no config key has `ForcesProviderReplace`); a provider whose
 * `host` changes is updated in place and keeps its id, so its resources see no change at all. Either
 * way the object would stay on the old engine while the state says the new one.
 */
export function engineChangeRefusal(key: string, from: DockerEngine, to: DockerEngine): string | undefined {
    if (from.host === to.host) return undefined;
    return (
        `${key}: its Docker engine would change from ${from.host} to ${to.host}. Pulumi would not move it ` +
        `(pulumi-docker plans no replacement for a provider change: the object would stay on ${from.host} ` +
        `while the state says ${to.host}); refused by the live harness. Remove it from the program (or run down) ` +
        `first, then declare it with its new provider.`
    );
}
