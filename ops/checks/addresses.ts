// fixed-address: each node on its fixed address, checked first and at once. One that is not
// (reconnected to the network without `--ip`) is refused replication by pg_hba.conf and would
// otherwise only show up as a replica that never streams, after the whole deadline.
import { CheckSpec } from "../../model/check-spec";
import { CLUSTER_ALIAS } from "../../model/topology";
import { execProgram } from "../cluster-discovery";
import { dockerArgv } from "../engines";
import { NamedCheck } from "./contract";

/** A node as `spec.addresses` lists it. */
export type AddressedNode = NonNullable<CheckSpec["addresses"]>["nodes"][number];

/**
 * A running container's address on `network`: "" when it is not connected; undefined when it cannot
 * be inspected or is not running (a stopped container has no address on any network).
 */
export async function addressOn(container: string, network: string): Promise<string | undefined> {
    const res = await execProgram(
        dockerArgv(container, ["inspect", "-f", "{{.State.Running}} {{json .NetworkSettings.Networks}}", container]),
        15_000,
    );
    if (res.code !== 0 || !res.stdout.startsWith("true ")) return undefined;
    const networks = JSON.parse(res.stdout.slice("true ".length)) as Record<string, { IPAddress?: string }> | null;
    return networks?.[network]?.IPAddress ?? "";
}

/** Why node `n` is not where the cluster reaches it, with the commands that put it back; undefined when it is. */
export function addressProblem(n: AddressedNode, network: string, found: string | undefined): string | undefined {
    // Not inspectable (gone) or stopped with no address: the other checks judge it.
    if (found === undefined || found === n.address) return undefined;
    const connect = `docker network connect --ip ${n.address} --alias ${n.node} --alias ${CLUSTER_ALIAS} ${network} ${n.container}`;
    if (found === "")
        return `${n.container} is not connected to ${network}; connect it at its fixed address: ${connect}`;
    return (
        `${n.container} is on ${found}, not its fixed address ${n.address} on ${network} (reconnected without --ip?): ` +
        `the nodes' pg_hba.conf admit replication only from the fixed addresses, so it cannot stream. ` +
        `Put it back: docker network disconnect ${network} ${n.container} && ${connect}`
    );
}

/** Every node's {@link addressProblem}, for `status`. */
export async function addressProblems(
    addresses: NonNullable<CheckSpec["addresses"]>,
    inspect: (container: string, network: string) => Promise<string | undefined> = addressOn,
): Promise<string[]> {
    const found = await Promise.all(addresses.nodes.map((n) => inspect(n.container, addresses.network)));
    return addresses.nodes.flatMap((n, i) => addressProblem(n, addresses.network, found[i]) ?? []);
}

/** fixed-address: every node of `spec.addresses`, judged once (the driver judges them all at once). */
export const fixedAddress: NamedCheck<AddressedNode & { network: string }> = {
    name: "fixed-address",
    waits: false,
    targets({ addresses }) {
        return addresses ? addresses.nodes.map((n) => ({ ...n, network: addresses.network })) : [];
    },
    async judge({ run }, n) {
        return addressProblem(n, n.network, await run.addressOn(n.container, n.network)) ?? true;
    },
};
