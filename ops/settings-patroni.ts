// The stack's `settings` applied to a running failover=patroni cluster without re-creating a node:
// Patroni's dynamic configuration (PATCH /config, which every member applies with a reload, as
// docs/dynamic_configuration.rst describes), then restarts through Patroni (POST /restart with
// restart_pending) for what waits for one: replicas one at a time; the leader only in a new cluster,
// otherwise the exact switchover that applies it is returned.
import { PATRONI_CMDLINE_PARAMETERS } from "../model/patroni-config";
import { dockerSql, pickPrimary, ProbedNode, probeNodes } from "./cluster-discovery";
import { waitFor } from "./ops";
import { patroniCluster, PatroniMember, patroniRest } from "./patroni";

/**
 * The PATCH to Patroni's postgresql.parameters that makes them hold `desired`: changed and new
 * values, and null (Patroni removes the key) for each parameter set there that neither `desired` nor
 * pg-replication itself (`own`) sets any more.
 */
export function parametersPatch(
    current: Record<string, unknown>,
    desired: Record<string, string>,
    own: string[],
): Record<string, string | null> {
    const patch: Record<string, string | null> = {};
    // Patroni keeps what it was given: a string, or a number or boolean from a YAML file.
    const asText = (v: unknown) =>
        typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : undefined;
    for (const [name, value] of Object.entries(desired)) if (asText(current[name]) !== value) patch[name] = value;
    for (const name of Object.keys(current)) if (!(name in desired) && !own.includes(name)) patch[name] = null;
    return patch;
}

/** A member as GET /cluster lists it, with the restart flag Patroni keeps for it. */
type Member = PatroniMember & { pending_restart?: boolean };

/**
 * Whether `n` runs what Patroni's configuration now says: each file parameter is in the
 * postgresql.conf Patroni writes (pg_file_settings) and was loaded after the file changed; a removed
 * one is gone from it. Patroni passes its command-line parameters (max_connections, …) on the
 * postgres command line instead, so for those the value in use counts, or Patroni's restart flag.
 */
async function runsConfiguration(
    n: ProbedNode,
    desired: Record<string, string>,
    removed: string[],
    pendingRestart: boolean,
): Promise<true | string> {
    const [row] = await dockerSql.rows<{ loaded: boolean; file: Record<string, string>; now: Record<string, string> }>(
        n,
        "SELECT pg_conf_load_time() >= (pg_stat_file('postgresql.conf')).modification AS loaded, " +
            "coalesce((SELECT json_object_agg(name, setting) FROM pg_file_settings WHERE sourcefile = current_setting('config_file')), '{}') AS file, " +
            "(SELECT json_object_agg(name, current_setting(name)) FROM pg_settings) AS now",
    );
    if (!row.loaded) return `${n.node} has not reloaded its postgresql.conf yet`;
    for (const [name, value] of Object.entries(desired)) {
        if (PATRONI_CMDLINE_PARAMETERS.has(name)) {
            if (!pendingRestart && row.now[name]?.toLowerCase() !== value.toLowerCase())
                return `${n.node}: ${name} is ${row.now[name]} and no restart is pending yet`;
        } else if (row.file[name] !== value)
            return `${n.node}: postgresql.conf has ${name} = ${row.file[name] ?? "(none)"}`;
    }
    const still = removed.filter((name) => !PATRONI_CMDLINE_PARAMETERS.has(name) && name in row.file);
    return still.length === 0 ? true : `${n.node}: postgresql.conf still sets ${still.join(", ")}`;
}

/** GET /cluster's members, by name. */
async function members(stack: string): Promise<Map<string, Member>> {
    const { cluster } = await patroniCluster(stack);
    return new Map((cluster.members as Member[]).map((m) => [m.name, m]));
}

/** Restarts a member through Patroni and waits until it runs again with nothing pending. */
async function restartMember(stack: string, n: ProbedNode, log: (line: string) => void): Promise<void> {
    log(`pg-replication: restarting ${n.node} through Patroni for its pending settings`);
    const res = await patroniRest(n.container, {
        method: "POST",
        path: "/restart",
        body: { restart_pending: true },
        timeoutSeconds: 120,
    });
    if (res.status !== 200 && res.status !== 202)
        throw new Error(`Patroni refused to restart ${n.node} (HTTP ${res.status}): ${JSON.stringify(res.body)}`);
    await waitFor(`${n.node} running again with no restart pending`, 300_000, async () => {
        const m = (await members(stack)).get(n.node);
        const ok = m && ["running", "streaming"].includes(m.state) && !m.pending_restart;
        return ok ? true : JSON.stringify(m ?? "not listed");
    }).catch((err: Error) => {
        throw new Error(`${err.message}. Stopped before touching another member; docker logs --tail 50 ${n.container}`);
    });
}

/**
 * Applies `desired` through Patroni. Returns null when every member runs it, or the sentence naming
 * what waits for a restart of the leader and the switchover that applies it (never done here to a
 * running cluster's leader; `newCluster` allows it: nothing uses a cluster being created).
 */
export async function applyPatroniSettings(
    stack: string,
    desired: Record<string, string>,
    own: string[],
    newCluster: boolean,
    log: (line: string) => void,
): Promise<string | null> {
    const { container } = await patroniCluster(stack);
    const config = await patroniRest<{ postgresql?: { parameters?: Record<string, unknown> } }>(container, {
        method: "GET",
        path: "/config",
        timeoutSeconds: 5,
    });
    const patch = parametersPatch(config.body.postgresql?.parameters ?? {}, desired, own);
    const removed = Object.keys(patch).filter((k) => patch[k] === null);
    if (Object.keys(patch).length > 0) {
        const res = await patroniRest(container, {
            method: "PATCH",
            path: "/config",
            body: { postgresql: { parameters: patch } },
            timeoutSeconds: 10,
        });
        if (res.status !== 200) throw new Error(`PATCH /config answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    const nodes = await probeNodes(stack);
    const leader = pickPrimary(stack, nodes) as ProbedNode; // fails closed
    const running = nodes.filter((n) => n.running);
    // Each member applies a changed dynamic configuration on its next cycle, but one that was still
    // joining when it changed (a new cluster) was seen keeping the old one for good; POST /reload
    // makes every member read it now (docs/rest_api.rst, "Reload endpoint").
    for (const n of running) {
        const res = await patroniRest(n.container, { method: "POST", path: "/reload", timeoutSeconds: 10 });
        if (res.status !== 200 && res.status !== 202)
            throw new Error(
                `Patroni on ${n.node} refused POST /reload (HTTP ${res.status}): ${JSON.stringify(res.body)}`,
            );
    }
    await waitFor("every member runs the new settings", 120_000, async () => {
        const byName = await members(stack);
        for (const n of running) {
            const state = await runsConfiguration(n, desired, removed, byName.get(n.node)?.pending_restart === true);
            if (state !== true) return state;
        }
        return true;
    });
    const pending = await members(stack);
    for (const n of running.filter((x) => x !== leader && pending.get(x.node)?.pending_restart))
        await restartMember(stack, n, log);
    if (!pending.get(leader.node)?.pending_restart) return null;
    if (newCluster) {
        await restartMember(stack, leader, log);
        return null;
    }
    const target = running.find((n) => n !== leader && n.inRecovery === true);
    const how = target
        ? `npm run switchover -- --stack ${stack} --to ${target.node} (add --live for a live-harness stack) restarts it ` +
          "as a replica without losing a commit (the replicas run the new values already)"
        : "with no replica to switch over to, only a restart of the leader applies it (writes stop meanwhile): " +
          `docker exec -u postgres ${leader.container} patronictl -c /var/lib/postgresql/patroni.yml restart ${stack} ${leader.node} --pending --force`;
    return `settings applied on every member, but the leader ${leader.node} needs a restart for them, which a deployment never does to a leader: ${how}; then run pulumi up again`;
}
