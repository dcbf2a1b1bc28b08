// Deployment guard, run by the stack program on every `pulumi up` and preview, before anything is
// declared (PGR_CLUSTER = name prefix, PGR_FAILOVER = the configured failover mode, PGR_PRIMARY = the
// configured primaryNode in manual mode, PGR_IMAGE / PGR_PULL_IMAGE = the image keys, PGR_TLS = the
// tls key). Refuses when a local-only image is missing, when the stack's containers were made for
// the other failover mode (switching in place breaks the primary) or the other tls policy, and in manual mode when a node other than
// primaryNode accepts writes or a node that may run cannot say whether it does (split brain). Prints
// nothing else on stdout than "ok <primaryNode>" (or "ok patroni").
import { command, runCommand } from "../cli";
import {
    ClusterNode,
    execProgram,
    probeListed,
    StackInventory,
    stackInventory,
    unknownRoleHint,
    unknownRoles,
    hostNamesFromEnv,
    unreachableRefusal,
} from "../cluster-discovery";
import { describeEngine, engineArgv, stackEngines } from "../engines";

const GUARD_PRIMARY = command({
    name: "guard-primary",
    invocation: "node -r ./scripts/register-ts.js ops/hooks/guard-primary.ts",
    synopsis:
        "(no arguments; PGR_CLUSTER, PGR_FAILOVER, PGR_PRIMARY, PGR_IMAGE, PGR_PULL_IMAGE and PGR_TLS in the environment)",
    description:
        "Refuses (exit 1) when PGR_PULL_IMAGE is false and PGR_IMAGE is not on this Docker engine; when the\n" +
        "containers of cluster PGR_CLUSTER were made for another failover mode than PGR_FAILOVER, or its nodes for\n" +
        "another tls policy than PGR_TLS; and, with\n" +
        "PGR_FAILOVER=manual, when a running node other than PGR_PRIMARY accepts writes, or a node that is not\n" +
        "certainly stopped (paused, restarting, not answering) cannot say whether it does: deploying then would\n" +
        'treat the wrong node as primary. Prints "ok PGR_PRIMARY" otherwise. The stack program runs it on every\n' +
        "pulumi up and preview, before anything is declared.",
    options: {},
    examples: [
        "PGR_CLUSTER=local PGR_FAILOVER=manual PGR_PRIMARY=pg1 node -r ./scripts/register-ts.js ops/hooks/guard-primary.ts",
    ],
});

/**
 * With pullImage false the image must exist on this engine: said here, before anything is created,
 * with the exact fix, rather than by a failed container create after the network and volumes exist.
 */
async function missingLocalImage(image: string | undefined, pull: string | undefined): Promise<string | undefined> {
    if (image === undefined || pull !== "false") return undefined;
    // Every engine of the stack (ops/engines.ts): each creates containers from its own images.
    const engines = stackEngines();
    const codes = await Promise.all(
        engines.map(
            async (e) =>
                (await execProgram(engineArgv(e, ["image", "inspect", "--format", "{{.Id}}", image]), 20_000)).code,
        ),
    );
    const without = engines.filter((_, i) => codes[i] !== 0);
    if (without.length === 0) return undefined;
    const where = engines.length === 1 ? "this Docker engine" : without.map(describeEngine).join(", ");
    return (
        `pg-replication: refusing to deploy: image ${image} does not exist on ${where} and ` +
        `pg-replication:pullImage is false. Build the local image (npm run build-image) and deploy with ` +
        `--config image=pg-replication/postgres:17-local --config pullImage=false, or set pullImage true to pull ${image}. ` +
        "Nothing was created.\n"
    );
}

/**
 * Why a change of `tls` on a deployed stack is refused: every node and endpoint would be re-created
 * at once (their files change), and clients configured for the old policy would fail; never half done.
 */
function tlsRefusal(cluster: string, wanted: string, deployed: string): string {
    return (
        `pg-replication: refusing to deploy: pg-replication:tls is ${wanted} but stack ${cluster}'s nodes run with ` +
        `tls ${deployed} (switching in place would restart every node and endpoint at once, and clients set up for ` +
        `tls ${deployed} would fail). Keep tls ${deployed} (pulumi config set pg-replication:tls ${deployed}; live harness: ` +
        `npm run live -- up --stack ${cluster} --config tls=${deployed}), or move to tls ${wanted} through a new stack ` +
        `restored from this one's backups (restoreFrom=${cluster}, tls=${wanted}: docs/backups.md), or dump the data ` +
        `(pg_dumpall), pulumi destroy, set tls ${wanted}, deploy and restore the dump. Nothing was changed.\n`
    );
}

/**
 * Why nodes made by a version without TLS are refused: their uploads sit at other positions than
 * this version's, and the positions whose later changes are ignored (the certificates) would keep
 * their old files in the re-created containers, which could not start. Never half done.
 */
function legacyRefusal(cluster: string): string {
    return (
        `pg-replication: refusing to deploy: stack ${cluster}'s nodes were made by a version of pg-replication ` +
        `without TLS (they carry no pg-replication.tls label), and this version cannot re-create them in place. ` +
        `Move to this version through a new stack restored from this one's backups (restoreFrom=${cluster}: ` +
        `docs/backups.md), or dump the data (pg_dumpall), pulumi destroy, deploy and restore the dump. ` +
        `Nothing was changed.\n`
    );
}

/** Why a change of failover mode in place is refused, and the two supported paths. */
function failoverModeRefusal(cluster: string, wanted: string, deployed: string): string {
    return (
        `pg-replication: refusing to deploy: pg-replication:failover is ${wanted} but stack ${cluster} runs ` +
        `failover=${deployed} (its containers were made for it; changing the mode in place would re-create the ` +
        `primary without the files it needs). Keep failover=${deployed} (pulumi config set pg-replication:failover ` +
        `${deployed}; live harness: npm run live -- up --stack ${cluster} --config failover=${deployed}), or move ` +
        `to ${wanted} through a new cluster: dump the data (pg_dumpall), pulumi destroy (npm run live -- down ` +
        `--stack ${cluster}), set failover ${wanted}, deploy, and restore the dump. Nothing was changed.\n`
    );
}

/**
 * Why the stack's containers cannot take this deployment in either failover mode: they were made for
 * the other mode, or by a version without TLS, or for the other tls policy. Undefined when they can.
 */
function inventoryRefusal(cluster: string, mode: string, tls: string, inventory: StackInventory): string | undefined {
    if (inventory.failover !== undefined && inventory.failover !== mode)
        return failoverModeRefusal(cluster, mode, inventory.failover);
    if (inventory.tls === "legacy") return legacyRefusal(cluster);
    if (inventory.tls !== undefined && inventory.tls !== tls) return tlsRefusal(cluster, tls, inventory.tls);
    return undefined;
}

/**
 * Manual mode's split-brain guard: refuses when a node cannot say whether it accepts writes (fails
 * closed: it could be a second primary) or when a node other than `configured` does.
 */
function splitBrainRefusal(cluster: string, configured: string, nodes: ClusterNode[]): string | undefined {
    const unknown = unknownRoles(nodes);
    if (unknown.length > 0) {
        return (
            `pg-replication: refusing to deploy: cannot tell whether ${unknown.map((n) => n.node).join(", ")} ` +
            `accept${unknown.length === 1 ? "s" : ""} writes. ${unknown.map(unknownRoleHint).join("; ")}; then deploy again.\n`
        );
    }
    const others = nodes.filter((n) => n.inRecovery === false && n.node !== configured).map((n) => n.node);
    if (others.length === 0) return undefined;
    return (
        `pg-replication: refusing to deploy: ${others.join(", ")} ${others.length === 1 ? "is" : "are"} the running primary ` +
        `but pg-replication:primaryNode is ${configured}. After a failover or switchover record the new primary ` +
        `(pulumi config set primaryNode ${others[0]}; live harness: npm run live -- config set primaryNode ` +
        `${others[0]} --stack ${cluster}; npm run failover does it for you) and deploy again; ` +
        `to make ${configured} primary again use npm run switchover -- --to ${configured}.\n`
    );
}

/** Writes a refusal to stderr; the exit status of a refused deployment. */
function refuse(message: string): number {
    process.stderr.write(message);
    return 1;
}

async function main(): Promise<number> {
    GUARD_PRIMARY.parse(process.argv.slice(2));
    const cluster = process.env.PGR_CLUSTER ?? "";
    const configured = process.env.PGR_PRIMARY ?? "";
    const mode = process.env.PGR_FAILOVER ?? "manual";
    const missing = await missingLocalImage(process.env.PGR_IMAGE, process.env.PGR_PULL_IMAGE);
    if (missing !== undefined) return refuse(missing);
    const inventory = await stackInventory(cluster);
    const lost = unreachableRefusal(cluster, inventory.nodes, hostNamesFromEnv());
    if (lost !== undefined) return refuse(lost);
    const refusal = inventoryRefusal(cluster, mode, process.env.PGR_TLS ?? "required", inventory);
    if (refusal !== undefined) return refuse(refusal);
    if (mode === "patroni") {
        // Patroni decides who is primary; the leader key in etcd is its split-brain guard.
        process.stdout.write("ok patroni\n");
        return 0;
    }
    // Asked all at once: the guard runs before anything else of every `up`.
    const splitBrain = splitBrainRefusal(cluster, configured, await probeListed(inventory.nodes));
    if (splitBrain !== undefined) return refuse(splitBrain);
    process.stdout.write(`ok ${configured}\n`);
    return 0;
}

runCommand(GUARD_PRIMARY, main, (err) => {
    process.stderr.write(`pg-replication: primary guard failed: ${err.message}\n`);
    return 1;
});
