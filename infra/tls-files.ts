// Certificates replaced in running containers: a new certificate (rotation, or renewal before its
// end) is written into each container that holds one and its servers reload it, so that no
// container restarts and no client connection fails. The files are also uploaded at creation (a
// server must find them when it first starts), with later changes of those uploads ignored.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { IssuedCertificate, TLS_UPLOAD_NAMES } from "./certificates";
import { PATHS, TLS_APPLIED } from "../model/topology";
import { Engine, engineEnvironment } from "./engines";

/** Arguments of {@link tlsFilesCommand}. */
export interface TlsFilesArgs {
    /** The container the files go into. */
    containerName: pulumi.Input<string>;
    /** Its id: a re-created container (which got the certificate of its creation) is written again. */
    containerId: pulumi.Input<string>;
    caCertPem: pulumi.Input<string>;
    certificate: IssuedCertificate;
    /** The user its servers run as, who gets the files (templates/tls-setup.sh.tmpl). */
    owner: string;
    /** Shell run in the container once the files are installed: how its servers take them without a restart. */
    reload: string;
    /**
     * Restart the container afterwards instead: for a server that reads its certificate only at
     * start and serves no client connection (the backup repository's pgBackRest TLS server).
     * @default false
     */
    restart?: boolean;
    /** The host's engine the container runs on (`hosts`). @default the default engine */
    engine?: Engine;
}

/**
 * Shell run in the container (`sh -c`), the CA, certificate and key on standard input as PEM
 * blocks in that order. When they differ from what the servers took last ({@link TLS_APPLIED}):
 * writes them where the uploads were (so that a restart installs the new ones), installs them for
 * the servers' user, runs the reload and prints `changed`; a failed reload forgets what was applied,
 * so the next `up` tries again. Otherwise changes nothing (a container just created has them).
 */
export function tlsInstallScript(reload: string): string {
    const at = (f: string) => `${PATHS.confDir}/${f}`;
    return [
        "set -eu",
        "umask 077",
        'new=$(mktemp -d); cat > "$new/bundle"',
        `awk -v dir="$new" '` +
            '/-----BEGIN CERTIFICATE-----/ { n++; out = dir (n == 1 ? "/ca" : "/crt") } ' +
            '/-----BEGIN [A-Z ]*PRIVATE KEY-----/ { out = dir "/key" } ' +
            `out != "" { print > out }' "$new/bundle"`,
        `if cmp -s "$new/bundle" ${TLS_APPLIED}; then`,
        '    rm -rf "$new"; exit 0',
        "fi",
        `mv "$new/ca" ${at(TLS_UPLOAD_NAMES.ca)}`,
        `mv "$new/crt" ${at(TLS_UPLOAD_NAMES.cert)}`,
        `mv "$new/key" ${at(TLS_UPLOAD_NAMES.key)}`,
        "# shellcheck source=/dev/null # uploaded at creation (templates/tls-setup.sh.tmpl)",
        `. ${at("tls-setup.sh")}`,
        // A script of its own under `sh -eu`: any failed step fails the reload (inside an `if`,
        // `set -e` would not stop at it). Its output to stderr: stdout says only whether anything changed.
        `cat > "$new/reload" <<'RELOAD'\n${reload}\nRELOAD`,
        'if ! sh -eu "$new/reload" >&2; then',
        `    rm -rf "$new" ${TLS_APPLIED}`,
        '    echo "pg-replication: the new certificate is installed but a server did not reload it; the next up tries again" >&2',
        "    exit 1",
        "fi",
        'rm -rf "$new"',
        "echo changed",
    ].join("\n");
}

/** The command's script on the Docker host: refuses a stopped container, writes, restarts when asked. */
export function tlsFilesScript(restart: boolean): string {
    return [
        "set -eu",
        // A stopped container cannot be written (docker exec): say which and what to do.
        `if [ "$(docker inspect -f '{{.State.Running}}' "$PGR_TLS_CONTAINER" 2>/dev/null)" != true ]; then`,
        '    echo "pg-replication: $PGR_TLS_CONTAINER is not running, so its new certificate cannot be written into it: start it (a fenced node: npm run rejoin -- --node pgN) and run up again" >&2',
        "    exit 1",
        "fi",
        'out=$(docker exec -i -e TLS_OWNER="$PGR_TLS_OWNER" "$PGR_TLS_CONTAINER" sh -c "$PGR_TLS_INSTALL")',
        ...(restart ? ['if [ "$out" = changed ]; then docker restart "$PGR_TLS_CONTAINER" >/dev/null; fi'] : []),
        'echo "pg-replication: $PGR_TLS_CONTAINER: ${out:-certificate unchanged}" >&2',
    ].join("\n");
}

/**
 * A command that writes the current certificate into a running container and reloads its servers,
 * run again whenever the certificate or the container changes. The key reaches the container on
 * standard input only (a secret), never in an environment or on a command line.
 */
export function tlsFilesCommand(
    name: string,
    args: TlsFilesArgs,
    opts: pulumi.CustomResourceOptions,
): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: tlsFilesScript(args.restart ?? false),
            environment: {
                PGR_TLS_CONTAINER: args.containerName,
                PGR_TLS_CONTAINER_ID: args.containerId,
                PGR_TLS_OWNER: args.owner,
                PGR_TLS_INSTALL: tlsInstallScript(args.reload),
                ...engineEnvironment(args.engine),
            },
            stdin: pulumi.secret(
                pulumi
                    .all([args.caCertPem, args.certificate.certPem, args.certificate.keyPem])
                    .apply((pems) => pems.map((p) => p.trimEnd() + "\n").join("")),
            ),
            logging: "stderr",
        },
        opts,
    );
}
