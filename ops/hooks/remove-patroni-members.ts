// Completes a Patroni scale-down: run by the stack program's members command (infra/patroni-roles.ts)
// whenever the set of nodes changes (PGR_CLUSTER = the stack, PGR_MEMBERS = the nodes the stack
// keeps, PGR_ETCD_CONTAINERS / PGR_ETCD_ENDPOINTS = where etcd answers). Patroni 4 keeps the slot of
// a member that left for `member_slots_ttl` (30 min by default) and carries it to every new leader,
// so a removed replica's slot held WAL on the leader for half an hour. The deployment deletes the
// removed nodes' containers after this runs (Pulumi deletes last), so this stops them itself
// (Patroni stops its postgres cleanly), deletes their member keys, lowers `member_slots_ttl` to 1 s
// until the leader (and the replicas' copies) dropped their slots, then gives it back its default.
// A running kept node renews its key every loop, so a 1 s retention does not concern it; with a kept
// node stopped, the retention is not lowered (it would lose its slot too). Prints the members kept as JSON.
import { PATRONI_NAMESPACE } from "../../model/patroni-config";
import { command, runCommand } from "../cli";
import { compareNodes, execOrFail, execProgram, ListedNode, listNodes, psqlRows } from "../cluster-discovery";
import { dockerArgv } from "../engines";
import { waitFor } from "../ops";
import { leaderOf, PatroniCluster, patroniCluster, patroniRest } from "../patroni";

const REMOVE_MEMBERS = command({
    name: "remove-patroni-members",
    invocation: "node -r ./scripts/register-ts.js ops/hooks/remove-patroni-members.ts",
    synopsis: "(no arguments; PGR_CLUSTER, PGR_MEMBERS, PGR_ETCD_CONTAINERS and PGR_ETCD_ENDPOINTS in the environment)",
    description:
        "Takes the Patroni members of cluster PGR_CLUSTER that are not in PGR_MEMBERS out of the cluster: stops\n" +
        "their containers, deletes their member keys in etcd and has the leader drop their replication slots\n" +
        "(member_slots_ttl lowered to 1 s until they are gone, then back to Patroni's default). Refuses, touching\n" +
        "nothing, when one of them is the leader: a switchover to a kept node comes first. The stack program runs it.",
    options: {},
    examples: [
        "PGR_CLUSTER=dev PGR_MEMBERS=pg1,pg2 PGR_ETCD_CONTAINERS=dev-etcd1 PGR_ETCD_ENDPOINTS=172.20.0.5:2379 node -r ./scripts/register-ts.js ops/hooks/remove-patroni-members.ts",
    ],
});

/** Member slots are named after the nodes (Patroni's slot_name_from_member_name of pgN is pgN). */
const MEMBER_SLOT = /^pg\d+$/;

/** PATCH /config through a kept node; `null` removes the key (Patroni's default applies again). */
async function setMemberSlotsTtl(container: string, value: number | null): Promise<void> {
    const res = await patroniRest(container, {
        method: "PATCH",
        path: "/config",
        body: { member_slots_ttl: value },
        timeoutSeconds: 5,
    });
    if (res.status !== 200) throw new Error(`PATCH /config member_slots_ttl=${value} answered ${res.status}`);
}

/** Deletes a member key through the first etcd member's container that answers. */
async function deleteMemberKey(etcdContainers: string[], endpoints: string, key: string): Promise<void> {
    for (const c of etcdContainers) {
        const res = await execProgram(
            dockerArgv(c, ["exec", c, "etcdctl", `--endpoints=${endpoints}`, "--command-timeout=3s", "del", key]),
            15_000,
        );
        if (res.code === 0) return;
    }
    throw new Error(`could not delete ${key} in etcd through ${etcdContainers.join(", ")}`);
}

/**
 * Runs `work` with member_slots_ttl at `seconds`, then removes the setting again (Patroni's default).
 * A failure to restore is reported without hiding the error `work` threw.
 */
async function withMemberSlotsTtl(container: string, seconds: number, work: () => Promise<void>): Promise<void> {
    await setMemberSlotsTtl(container, seconds);
    let failed: Error | undefined;
    try {
        await work();
    } catch (err) {
        failed = err as Error;
    }
    try {
        await setMemberSlotsTtl(container, null);
    } catch (err) {
        if (failed === undefined) throw err;
        process.stderr.write(`pg-replication: member_slots_ttl not restored: ${(err as Error).message}\n`);
    }
    if (failed !== undefined) throw failed;
}

/** Physical slots named like members on `container`'s server. */
async function memberSlots(container: string): Promise<string[]> {
    const rows = await psqlRows<{ slot_name: string }>(
        container,
        "SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical'",
    );
    return rows.map((r) => r.slot_name).filter((s) => MEMBER_SLOT.test(s));
}

/** What the stack program passes in the environment: the stack, the nodes it keeps, where etcd answers. */
interface MembersEnv {
    stack: string;
    keep: Set<string>;
    etcdContainers: string[];
    etcdEndpoints: string;
}

function membersEnv(): MembersEnv {
    const stack = process.env.PGR_CLUSTER ?? "";
    const keep = new Set((process.env.PGR_MEMBERS ?? "").split(",").filter((m) => m !== ""));
    const etcdContainers = (process.env.PGR_ETCD_CONTAINERS ?? "").split(",").filter((c) => c !== "");
    const etcdEndpoints = process.env.PGR_ETCD_ENDPOINTS ?? "";
    if (stack === "" || keep.size === 0) throw new Error("PGR_CLUSTER and PGR_MEMBERS must be set");
    return { stack, keep, etcdContainers, etcdEndpoints };
}

/** What the stack no longer keeps: Patroni members, member slots on the leader, node containers. */
async function leavingMembers(
    keep: Set<string>,
    cluster: PatroniCluster,
    leaderContainer: string | undefined,
    listed: ListedNode[],
): Promise<Set<string>> {
    return new Set([
        ...cluster.members.map((m) => m.name).filter((m) => !keep.has(m)),
        ...(leaderContainer ? await memberSlots(leaderContainer) : []).filter((s) => !keep.has(s)),
        ...listed.filter((n) => !keep.has(n.node)).map((n) => n.node),
    ]);
}

/**
 * The leader's container, through which the members leave; throws when Patroni names no leader or
 * when the leader is one of those leaving (a switchover to a kept node comes first).
 */
function keptLeaderContainer(
    stack: string,
    asked: string,
    cluster: PatroniCluster,
    keep: Set<string>,
    leaving: Set<string>,
): string {
    const leader = leaderOf(cluster);
    if (!leader)
        throw new Error(
            `Patroni names no leader in ${stack} now (asked ${asked}), so no member can be removed; ` +
                `deploy again once npm run status -- --stack ${stack} shows one`,
        );
    if (leaving.has(leader.name)) {
        const to = cluster.members.find((m) => keep.has(m.name) && m.state === "streaming")?.name ?? "pgN";
        throw new Error(
            `${leader.name} leads the cluster but the stack no longer keeps it: switch over first ` +
                `(npm run switchover -- --stack ${stack} --to ${to}, add --live for a live-harness stack), then deploy again`,
        );
    }
    return `${stack}-${leader.name}`;
}

/** Why the removed members' slots are left to Patroni's own schedule: kept nodes that are stopped. */
function keptDownNote(names: string[], keptDown: string[]): string {
    return (
        `pg-replication: ${names.join(", ")} left the cluster; their slots stay until Patroni's member_slots_ttl ` +
        `(30 min) expires them, because ${keptDown.join(", ")} ${keptDown.length === 1 ? "is" : "are"} stopped and ` +
        `would lose ${keptDown.length === 1 ? "its slot" : "their slots"} too\n`
    );
}

/** Has the leader drop the leaving members' slots (member_slots_ttl 1 s) and waits until no kept node has them. */
function dropMemberSlots(
    leaderContainer: string,
    kept: string[],
    names: string[],
    leaving: Set<string>,
): Promise<void> {
    return withMemberSlotsTtl(leaderContainer, 1, () =>
        // Patroni drops them on its next HA loop (loop_wait), on the leader and on the replicas' copies.
        waitFor(
            `the slots of ${names.join(", ")} dropped on every kept node`,
            120_000,
            async () => {
                const left: string[] = [];
                for (const c of kept)
                    left.push(...(await memberSlots(c)).filter((s) => leaving.has(s)).map((s) => `${s}@${c}`));
                return left.length === 0 ? true : `still there: ${left.join(", ")}`;
            },
            1000,
        ),
    );
}

async function main(): Promise<number> {
    REMOVE_MEMBERS.parse(process.argv.slice(2));
    const { stack, keep, etcdContainers, etcdEndpoints } = membersEnv();
    const done = () => (process.stdout.write(JSON.stringify({ members: [...keep].sort(compareNodes) }) + "\n"), 0);

    const { container: asked, cluster } = await patroniCluster(stack);
    const leader = leaderOf(cluster);
    const listed = await listNodes(stack);
    const leaving = await leavingMembers(keep, cluster, leader ? `${stack}-${leader.name}` : undefined, listed);
    // A scale-up, or a deployment that changes nothing here, needs no leader.
    if (leaving.size === 0) return done();
    const leaderContainer = keptLeaderContainer(stack, asked, cluster, keep, leaving);
    const names = [...leaving].sort(compareNodes);
    process.stderr.write(`pg-replication: taking ${names.join(", ")} out of Patroni's cluster ${stack}\n`);
    for (const n of listed.filter((l) => leaving.has(l.node) && l.running))
        await execOrFail(dockerArgv(n.container, ["stop", "-t", "60", n.container]), 90_000);
    for (const name of names)
        await deleteMemberKey(etcdContainers, etcdEndpoints, `${PATRONI_NAMESPACE}${stack}/members/${name}`);
    // A kept member that is stopped has no key either: a 1 s retention would drop its slot with the
    // others, and the WAL it needs when it comes back. Then the removed slots expire on Patroni's own
    // schedule (member_slots_ttl, 30 min), and the deployment says so.
    const keptDown = listed.filter((n) => keep.has(n.node) && !n.running).map((n) => n.node);
    if (keptDown.length > 0) {
        process.stderr.write(keptDownNote(names, keptDown));
        return done();
    }
    const kept = listed.filter((n) => keep.has(n.node)).map((n) => n.container);
    await dropMemberSlots(leaderContainer, kept, names, leaving);
    process.stderr.write(`pg-replication: ${names.join(", ")} left the cluster; their slots are dropped\n`);
    return done();
}

runCommand(REMOVE_MEMBERS, main, (err) => {
    process.stderr.write(`pg-replication: members not removed: ${err.message}\n`);
    return 1;
});
