// The client TLS material of Docker engines reached over tcp:// (issue 19), and where its files live.
// No Pulumi: the program, the day-2 commands and the tests share it.
//
// A Docker API on tcp:// without TLS is root on its host for anyone who can reach the port, so a
// tcp:// engine is only accepted with a client certificate, its key and the CA that signed the
// engine's certificate, given in the secret key `engineTls` ({"<host name>": {"ca", "cert", "key"}}).
// The docker provider takes the material itself (its Provider args caMaterial, certMaterial,
// keyMaterial). The docker CLI, which the commands run, takes files only: DOCKER_CERT_PATH (or
// --tlscacert/--tlscert/--tlskey) naming a directory with ca.pem, cert.pem and key.pem. Those files
// are written to `.pg-replication/<stack>-docker-tls/<host:port>/` (0700 directories, 0600 files,
// {@link writeEngineTls}) and only their path travels in environments and on command lines.
import * as fs from "fs";
import * as path from "path";
import { DockerHost, HostsProblem } from "./hosts";

/** A tcp:// engine's client TLS material, PEM, as the docker CLI's ca.pem, cert.pem and key.pem hold it. */
export interface EngineTlsMaterial {
    /** The CA certificate that signed the engine's server certificate. */
    ca: string;
    /** The client certificate the engine's --tlscacert accepts. */
    cert: string;
    /** The client certificate's private key. */
    key: string;
}

/** Host name → its engine's client TLS material. */
export type EngineTls = Record<string, EngineTlsMaterial>;

/** The config key that carries {@link EngineTls}: a secret. */
export const ENGINE_TLS_KEY = "engineTls";

/** What each field must hold (a PEM block of this kind), and the file the docker CLI reads it from. */
const FIELDS: Record<keyof EngineTlsMaterial, { pem: RegExp; what: string; file: string }> = {
    ca: {
        pem: /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/,
        what: "a PEM CA certificate",
        file: "ca.pem",
    },
    cert: {
        pem: /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/,
        what: "a PEM certificate",
        file: "cert.pem",
    },
    key: {
        pem: /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----[\s\S]+-----END ([A-Z]+ )?PRIVATE KEY-----/,
        what: "a PEM private key",
        file: "key.pem",
    },
};

/** The files of a cert directory, as the docker CLI's DOCKER_CERT_PATH expects them. */
export const ENGINE_TLS_FILES = Object.fromEntries(
    Object.entries(FIELDS).map(([field, f]) => [field, f.file]),
) as Record<keyof EngineTlsMaterial, string>;

const SHAPE = `expected a secret object {"<host name>": {"ca": "-----BEGIN CERTIFICATE-----…", "cert": "-----BEGIN CERTIFICATE-----…", "key": "-----BEGIN PRIVATE KEY-----…"}} for each tcp:// host`;

/** Whether `engine` is reached over tcp:// (and so needs client TLS material). */
export function isTcpEngine(engine: string): boolean {
    return engine.startsWith("tcp://");
}

/** A value never shown: the key material is a secret, and so is everything beside it. */
const HIDDEN = "[secret]";

/** One host's material, validated field by field (errors never show the value). */
function parseMaterial(host: string, entry: unknown): EngineTlsMaterial {
    const key = `${ENGINE_TLS_KEY}.${host}`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw new HostsProblem(key, HIDDEN, SHAPE);
    const fields = entry as Record<string, unknown>;
    const extra = Object.keys(fields).find((f) => !(f in FIELDS));
    if (extra !== undefined)
        throw new HostsProblem(`${key}.${extra}`, HIDDEN, "unknown field: a host's material has ca, cert and key");
    const out: Partial<EngineTlsMaterial> = {};
    for (const [field, spec] of Object.entries(FIELDS) as Array<[keyof EngineTlsMaterial, (typeof FIELDS)["ca"]]>) {
        const v = fields[field];
        if (typeof v !== "string" || !spec.pem.test(v))
            throw new HostsProblem(`${key}.${field}`, HIDDEN, `expected ${spec.what}`);
        out[field] = v;
    }
    return out as EngineTlsMaterial;
}

/**
 * The `engineTls` key, judged against `hosts`: material for every tcp:// host and for no other (with
 * no hosts yet, only its shape).
 * `secret` says whether the stack holds the key as a secret (undefined: unknown to the caller, as
 * for the day-2 commands that read it decrypted); false is refused, since the key would then sit in
 * plain text in the stack's configuration.
 */
export function parseEngineTls(value: string | undefined, hosts: DockerHost[], secret?: boolean): EngineTls {
    const given = value !== undefined && value !== "";
    if (given && secret === false)
        throw new HostsProblem(
            ENGINE_TLS_KEY,
            HIDDEN,
            `a Docker engine's client key must be a secret: set it with pulumi config set --secret ${ENGINE_TLS_KEY} < engine-tls.json ` +
                `(live harness: npm run -s live -- config set --secret ${ENGINE_TLS_KEY} --stack STACK < engine-tls.json)`,
        );
    let parsed: unknown = {};
    if (given) {
        try {
            parsed = JSON.parse(value) as unknown;
        } catch {
            throw new HostsProblem(ENGINE_TLS_KEY, HIDDEN, SHAPE);
        }
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
        throw new HostsProblem(ENGINE_TLS_KEY, HIDDEN, SHAPE);
    const entries = parsed as Record<string, unknown>;
    const byName = new Map(hosts.map((h) => [h.name, h]));
    const tls: EngineTls = {};
    for (const [name, entry] of Object.entries(entries)) {
        const host = byName.get(name);
        // Without hosts the material waits for them: it may be set first (the live harness checks
        // each `config set` against the others, and a tcp:// host cannot be recorded without it).
        if (hosts.length > 0 && (!host || !isTcpEngine(host.engine)))
            throw new HostsProblem(
                `${ENGINE_TLS_KEY}.${name}`,
                HIDDEN,
                `expected a host of pg-replication:hosts whose engine is tcp://: ${tcpHostNames(hosts) || "there is none"}`,
            );
        tls[name] = parseMaterial(name, entry);
    }
    hosts.forEach((h, i) => {
        if (isTcpEngine(h.engine) && !tls[h.name])
            throw new HostsProblem(
                `hosts[${i}].engine`,
                h.engine,
                `a tcp:// engine needs its client TLS material (a plain-text Docker API is root on the host for anyone ` +
                    `who reaches the port): set the secret pg-replication:${ENGINE_TLS_KEY} to {"${h.name}": {"ca": …, "cert": …, "key": …}}, ` +
                    `or use ssh://user@host`,
            );
    });
    return tls;
}

function tcpHostNames(hosts: DockerHost[]): string {
    return hosts
        .filter((h) => isTcpEngine(h.engine))
        .map((h) => h.name)
        .join(", ");
}

/** The directory that holds the cert directories of stack `stack`'s tcp:// engines. */
export function engineTlsRoot(projectRoot: string, stack: string): string {
    return path.join(projectRoot, ".pg-replication", `${stack}-docker-tls`);
}

/**
 * The cert directory of tcp:// `engine` under `root` ({@link engineTlsRoot}): named after the
 * engine's `host:port`, so that a shell loop over engine addresses finds it with `${e#tcp://}`
 * ({@link USE_ENGINE_SHELL}) as ops/engines.ts does in TypeScript.
 */
export function engineCertDir(root: string, engine: string): string {
    return path.join(root, engine.slice("tcp://".length));
}

/**
 * Shell lines pointing `docker` at engine `$e` (an address, or `-` for the default engine): DOCKER_HOST,
 * and for a tcp:// engine DOCKER_TLS_VERIFY=1 with DOCKER_CERT_PATH naming its cert directory under
 * $PGR_DOCKER_TLS_DIR ({@link engineCertDir}). Another configured engine must not inherit them: the
 * docker CLI would speak TLS to a unix socket. The default engine keeps the caller's environment as it
 * is (its own DOCKER_TLS_VERIFY, if any).
 */
export const USE_ENGINE_SHELL = [
    'case "$e" in',
    "  -) ;;",
    '  tcp://*) export DOCKER_HOST="$e" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$PGR_DOCKER_TLS_DIR/${e#tcp://}" ;;',
    '  *) export DOCKER_HOST="$e"; unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH ;;',
    "esac",
];

/** Writes `content` to `file` (mode 0600) through a private temporary file renamed over it. */
function writePrivate(file: string, content: string): void {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, content, { mode: 0o600 });
    fs.renameSync(tmp, file);
}

/** Makes `dir` (and missing parents) and leaves it 0700: only its owner may list or enter it. */
function privateDir(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
}

/**
 * Writes the cert directory of every tcp:// host of `hosts` under `root` ({@link engineTlsRoot}):
 * ca.pem, cert.pem and key.pem, as DOCKER_CERT_PATH wants them. The one writer of these files: the
 * program calls it when it declares the engines (before the deployment guard, in the preview too),
 * every day-2 command when it reads the stack's configuration (ops/topology-change.ts stackConfig).
 * Returns `root`, or undefined when no host is reached over tcp://.
 */
export function writeEngineTls(root: string, hosts: DockerHost[], tls: EngineTls): string | undefined {
    const tcp = hosts.filter((h) => isTcpEngine(h.engine));
    if (tcp.length === 0) return undefined;
    privateDir(root);
    for (const host of tcp) {
        const material = tls[host.name];
        // parseEngineTls refuses a tcp:// host without material: reaching here without it is a bug.
        if (!material) throw new Error(`no client TLS material for tcp:// host ${host.name}`);
        const dir = engineCertDir(root, host.engine);
        privateDir(dir);
        for (const field of Object.keys(FIELDS) as Array<keyof EngineTlsMaterial>)
            writePrivate(path.join(dir, ENGINE_TLS_FILES[field]), material[field]);
    }
    return root;
}
