// Which Docker engine each container runs on (issue 19: a stack spread over several Docker hosts).
// Every `docker …` command of ops/ builds its argv here, so that a command about a container goes to
// the engine that has it. Without a map (the single-engine deployment) nothing changes: the argv is
// `docker …` as before, on the default engine (DOCKER_HOST or the default socket). A tcp:// engine is
// reached with TLS verified both ways: `--tlsverify` and the paths of its cert directory
// (model/engine-tls.ts), never the material itself.
import * as path from "path";
import { engineCertDir, ENGINE_TLS_FILES, isTcpEngine } from "../model/engine-tls";

/** The environment variable that carries the map: JSON `{ "<container name>": "<engine address>" }`. */
export const DOCKER_ENGINES_ENV = "PGR_DOCKER_ENGINES";

/** The default engine (DOCKER_HOST or the default socket): no `-H` on the command line. */
export const DEFAULT_ENGINE = "";

/** Container name → engine address (`unix:///…`, `ssh://user@host`, `tcp://host:port`: what `docker -H` accepts). */
export type EngineMap = Readonly<Record<string, string>>;

/** Engine addresses `docker -H` accepts and a stack may use. */
const ENGINE_ADDRESS = /^(unix|ssh|tcp):\/\/\S+$/;

/** The environment variable that names the tcp:// engines' cert root (model/engine-tls.ts engineTlsRoot). */
export const DOCKER_TLS_DIR_ENV = "PGR_DOCKER_TLS_DIR";

/** Set by {@link setDockerEngines}; undefined = read the environment. */
let override: EngineMap | undefined;
/** The cert root set by {@link setDockerEngines}; undefined = read {@link DOCKER_TLS_DIR_ENV}. */
let tlsRootOverride: string | undefined;

function malformed(source: string, value: string, why: string): Error {
    return new Error(
        `${source} is not a JSON object of container names to Docker engine addresses ` +
            `({"<container>": "unix:///…" | "ssh://user@host" | "tcp://host:port"}): ${why}; got ${value}`,
    );
}

/** Checks that `value` is a map of container names to engine addresses; returns a frozen copy. */
function validEngineMap(value: unknown, source: string, text: string): EngineMap {
    if (typeof value !== "object" || value === null || Array.isArray(value))
        throw malformed(source, text, "not an object");
    const map: Record<string, string> = {};
    for (const [container, engine] of Object.entries(value as Record<string, unknown>)) {
        if (container === "") throw malformed(source, text, "an empty container name");
        if (typeof engine !== "string" || !ENGINE_ADDRESS.test(engine))
            throw malformed(
                source,
                text,
                `container ${container}'s engine ${JSON.stringify(engine)} is not an address`,
            );
        map[container] = engine;
    }
    return Object.freeze(map);
}

/** Parses the value of {@link DOCKER_ENGINES_ENV}; unset or blank = {} (every container on the default engine). */
export function parseDockerEngines(text: string | undefined): EngineMap {
    if (text === undefined || text.trim() === "") return Object.freeze({});
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch (err) {
        throw malformed(DOCKER_ENGINES_ENV, JSON.stringify(text), (err as Error).message);
    }
    return validEngineMap(value, DOCKER_ENGINES_ENV, JSON.stringify(text));
}

/**
 * Sets the map for this process (a command that learns it from the stack's configuration), in place
 * of {@link DOCKER_ENGINES_ENV}, and the cert root of its tcp:// engines in place of
 * {@link DOCKER_TLS_DIR_ENV}. Throws on an address `docker -H` would not take.
 */
export function setDockerEngines(map: Record<string, string>, tlsRoot?: string): void {
    override = validEngineMap(map, "the Docker engine map", JSON.stringify(map));
    tlsRootOverride = tlsRoot;
}

/** Forgets {@link setDockerEngines}: the map is read from {@link DOCKER_ENGINES_ENV} again (tests). */
export function resetDockerEngines(): void {
    override = undefined;
    tlsRootOverride = undefined;
}

/** The map in force: the one set by {@link setDockerEngines}, else the environment's (read on each call). */
export function dockerEngines(): EngineMap {
    return override ?? parseDockerEngines(process.env[DOCKER_ENGINES_ENV]);
}

/** The engine `container` runs on; {@link DEFAULT_ENGINE} when the map does not place it. */
export function engineOf(container: string): string {
    return Object.prototype.hasOwnProperty.call(dockerEngines(), container)
        ? dockerEngines()[container]
        : DEFAULT_ENGINE;
}

/**
 * The docker CLI's options that verify tcp:// `engine` and present the client certificate: the files
 * of its cert directory (docker's --tlscacert/--tlscert/--tlskey, what DOCKER_CERT_PATH names). Fails,
 * naming what to run, when no cert root is known.
 */
function tlsOptions(engine: string): string[] {
    const root = tlsRootOverride ?? process.env[DOCKER_TLS_DIR_ENV];
    if (!root)
        throw new Error(
            `${describeEngine(engine)} is reached over tcp:// with TLS, but no cert directory is known ` +
                `(${DOCKER_TLS_DIR_ENV} is unset): run the command through the stack (--stack NAME), which writes it`,
        );
    const dir = engineCertDir(root, engine);
    return [
        "--tlsverify",
        "--tlscacert",
        path.join(dir, ENGINE_TLS_FILES.ca),
        "--tlscert",
        path.join(dir, ENGINE_TLS_FILES.cert),
        "--tlskey",
        path.join(dir, ENGINE_TLS_FILES.key),
    ];
}

/** `docker [-H engine [TLS options]] ...args`: a command for `engine` ({@link DEFAULT_ENGINE}: no `-H`). */
export function engineArgv(engine: string, args: string[]): string[] {
    if (engine === DEFAULT_ENGINE) return ["docker", ...args];
    return ["docker", "-H", engine, ...(isTcpEngine(engine) ? tlsOptions(engine) : []), ...args];
}

/** `docker [-H engine] ...args` for a command about `container`, on the engine it runs on. */
export function dockerArgv(container: string, args: string[]): string[] {
    return engineArgv(engineOf(container), args);
}

/**
 * The engines that hold the stack's containers, each once, in the map's order: every engine of the
 * map, or only the default engine when the map is empty.
 */
export function stackEngines(): string[] {
    const engines = [...new Set(Object.values(dockerEngines()))];
    return engines.length > 0 ? engines : [DEFAULT_ENGINE];
}

/** The containers the map places on `engine`. */
export function containersOn(engine: string): string[] {
    return Object.entries(dockerEngines())
        .filter(([, e]) => e === engine)
        .map(([c]) => c);
}

/** How messages name an engine: `engine unix:///…`, or `the default Docker engine`. */
export function describeEngine(engine: string): string {
    return engine === DEFAULT_ENGINE ? "the default Docker engine" : `engine ${engine}`;
}
