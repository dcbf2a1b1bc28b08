// What `npm run status` reports, in both failover modes: every member with its role, state,
// timeline and lag, and which node each endpoint reaches. Gathering and formatting are separate so
// that the table is tested without a cluster.
import { superuserClient, SuperuserLogin } from "./login";
import { CertificateEnd, expiryVerdict, installedCertificateEnd, tlsSummaryLine } from "./certificates";
import { Client } from "pg";
import { ClusterConfig } from "../model/config";
import { clientHost, nodeAddressMap, PORT_OFFSETS } from "../model/topology";
import { ARCHIVER_SQL, archiveTrouble, ArchiverState } from "./archive";
import { backupSummaryLine, readRepository, repositoryProblem } from "./backups";
import { addressProblems } from "./checks";
import { checkSpec } from "../model/check-spec";
import {
    certainlyStopped,
    ClusterNode,
    probeNodes,
    psqlRows,
    unknownRoleHint,
    unknownRoles,
} from "./cluster-discovery";
import { etcdEndpointHealth, leaderKey, patroniCluster } from "./patroni";
import { formatTable } from "./table";

/** One member's line. */
export interface MemberStatus {
    node: string;
    container: string;
    /** leader/primary, replica, sync_standby, quorum_standby …, or "down". */
    role: string;
    /** running, streaming, stopped, … */
    state: string;
    timeline: number | null;
    /** Bytes the member's replay is behind the primary's current WAL position; null when unknown. */
    lagBytes: number | null;
}

/** The whole report. */
export interface ClusterStatus {
    stack: string;
    failover: ClusterConfig["failover"];
    members: MemberStatus[];
    /** Node each endpoint reaches now (or an error), when the endpoints are on. */
    endpoints?: { rw: string; ro: string };
    /** backups on: the repository's summary line (count, last backup and its age, archived WAL range). */
    backups?: string;
    /** tls required: the policy and when the earliest node certificate ends. */
    tls?: string;
    /** failover=patroni: etcd members that answer `etcdctl endpoint health`, of how many. */
    etcd?: { healthy: number; members: number };
    /** What is wrong, each with its next step: split brain, no primary, a node of unknown role, failing archiving. `status` exits 1 when any. */
    problems: string[];
}

/**
 * What the members say is wrong, judged on what PostgreSQL answered (not on Patroni's view, which
 * keeps a dead leader's key until it expires): two primaries, none, or a node that may run but
 * does not say whether it accepts writes.
 */
export function roleProblems(stack: string, probed: ClusterNode[]): string[] {
    const writable = probed.filter((n) => n.inRecovery === false).map((n) => n.node);
    const unknown = unknownRoles(probed);
    const problems = unknown.map((n) => `role unknown: ${unknownRoleHint(n)}`);
    if (writable.length > 1)
        problems.push(
            `split brain: ${writable.join(" and ")} accept writes; npm run lag -- --stack ${stack} shows both, ` +
                `and npm run rejoin -- --stack ${stack} --node NODE turns the one to give up back into a replica`,
        );
    if (writable.length === 0 && unknown.length === 0)
        problems.push(
            `no primary: no node accepts writes; npm run failover -- --stack ${stack} --to pgN promotes one ` +
                "(under failover=patroni, Patroni elects one once etcd has a quorum)",
        );
    return problems;
}

/** Fixed-width table: one line per member, then the endpoints. */
export function formatStatus(s: ClusterStatus): string {
    const header = ["MEMBER", "CONTAINER", "ROLE", "STATE", "TL", "LAG"];
    const rows = s.members.map((m) => [
        m.node,
        m.container,
        m.role,
        m.state,
        m.timeline === null ? "-" : String(m.timeline),
        m.lagBytes === null ? "-" : `${m.lagBytes} B`,
    ]);
    const out = [`stack ${s.stack} (failover=${s.failover})`, ...formatTable(header, rows)];
    if (s.endpoints) out.push(`endpoints: read-write -> ${s.endpoints.rw}; read-only -> ${s.endpoints.ro}`);
    if (s.etcd) out.push(`etcd: ${s.etcd.healthy} of ${s.etcd.members} members healthy`);
    if (s.backups) out.push(s.backups);
    if (s.tls) out.push(s.tls);
    out.push(...s.problems.map((p) => `PROBLEM: ${p}`));
    return out.join("\n");
}

/**
 * etcd without a quorum: Patroni cannot keep or take the leader key, so every node is read-only
 * until a majority of the members answers again.
 */
export function etcdProblem(stack: string, etcd: { healthy: number; members: number }): string | undefined {
    const quorum = Math.floor(etcd.members / 2) + 1;
    if (etcd.healthy >= quorum) return undefined;
    const names = Array.from({ length: etcd.members }, (_, i) => `${stack}-etcd${i + 1}`).join(" ");
    return (
        `etcd has no quorum (${etcd.healthy} of ${etcd.members} members healthy, ${quorum} needed): Patroni holds no ` +
        `leader key, so every node is read-only; start the stopped members: docker start ${names}`
    );
}

/** How many etcd members answer, asked through each member's container in turn (any running one will do). */
async function etcdHealth(stack: string, cfg: ClusterConfig): Promise<{ healthy: number; members: number }> {
    const spec = checkSpec(stack, cfg, "pg1", []).patroni;
    const members = cfg.etcdMembers;
    if (!spec) return { healthy: 0, members };
    for (const container of spec.etcdContainers) {
        const health = await etcdEndpointHealth(container, spec.etcdEndpoints, "2s");
        if (health.answered) return { healthy: health.healthy, members };
    }
    return { healthy: 0, members };
}

/** The node a published endpoint reaches now, named by the server's fixed address. */
async function endpointNode(
    host: string,
    port: number,
    login: SuperuserLogin | undefined,
    byAddress: Map<string, string>,
): Promise<string> {
    if (login === undefined) return "unknown (no superuserPassword output)";
    const c = new Client({
        ...superuserClient(login, host, port),
        connectionTimeoutMillis: 3000,
        query_timeout: 3000,
    });
    c.on("error", () => undefined);
    try {
        await c.connect();
        const { rows } = await c.query<{ addr: string; r: boolean }>(
            "SELECT host(inet_server_addr()) AS addr, pg_is_in_recovery() AS r",
        );
        const node = byAddress.get(rows[0].addr) ?? rows[0].addr;
        return `${node} (${rows[0].r ? "standby" : "primary"})`;
    } catch (err) {
        return `unreachable (${(err as Error).message})`;
    } finally {
        await c.end().catch(() => undefined);
    }
}

/** Gathers the status of a deployed stack. */
export async function clusterStatus(
    stack: string,
    cfg: ClusterConfig,
    login: SuperuserLogin | undefined,
    renewCommand = `npm run live -- up --stack ${stack}`,
): Promise<ClusterStatus> {
    const probed = await probeNodes(stack);
    const primary = probed.find((n) => n.running && n.inRecovery === false);
    // Lag and timelines from PostgreSQL itself, the same in both modes.
    const lag = new Map<string, number>();
    if (primary) {
        const rows = await psqlRows<{ name: string; lag: string | null }>(
            primary.container,
            "SELECT application_name AS name, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag FROM pg_stat_replication",
        ).catch(() => []);
        for (const r of rows) if (r.lag !== null) lag.set(r.name, Number(r.lag));
    }
    const timelines = new Map<string, number>();
    await Promise.all(
        probed
            .filter((n) => n.running)
            .map(async (n) => {
                const rows = await psqlRows<{ tl: number }>(
                    n.container,
                    "SELECT coalesce((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint())) AS tl",
                ).catch(() => []);
                if (rows[0]) timelines.set(n.node, Number(rows[0].tl));
            }),
    );
    let members: MemberStatus[] = probed.map((n) => ({
        node: n.node,
        container: n.container,
        role: certainlyStopped(n) ? "down" : n.inRecovery === false ? "primary" : n.inRecovery ? "replica" : "unknown",
        state: !n.running ? n.state : n.inRecovery === false ? "running" : (n.walReceiver ?? "not streaming"),
        timeline: timelines.get(n.node) ?? null,
        lagBytes: n.inRecovery === false ? 0 : (lag.get(n.node) ?? null),
    }));
    if (cfg.failover === "patroni") {
        // Patroni's own view: leader, sync_standby / quorum_standby / replica, and its states. Where
        // the container is not running, Docker's word wins: Patroni keeps a dead leader's key until
        // its ttl expires.
        const { cluster } = await patroniCluster(stack).catch(() => ({ cluster: { members: [] } }));
        const spec = checkSpec(stack, cfg, "pg1", []).patroni;
        // A leader whose node is gone keeps its key until the lease runs out: say when that is.
        const deadLeader = cluster.members.some(
            (p) => p.role === "leader" && !probed.find((n) => n.node === p.name)?.running,
        );
        const key = deadLeader && spec ? await leaderKey(spec.etcdContainers, spec.etcdEndpoints, stack) : undefined;
        members = members.map((m, i) => {
            const p = cluster.members.find((x) => x.name === m.node);
            if (!p) return m;
            if (!probed[i].running) {
                const expiry =
                    key && key.holder === m.node ? `; its leader key expires in ${key.expiresInSeconds} s` : "";
                return { ...m, state: `${m.state} (patroni still lists it as ${p.role}${expiry})` };
            }
            return { ...m, role: p.role, state: p.state, timeline: p.timeline ?? m.timeline };
        });
    }
    const problems = roleProblems(stack, probed);
    // A node off its fixed address cannot stream (pg_hba.conf) and nothing else would say why.
    const addresses = checkSpec(
        stack,
        cfg,
        probed[0]?.node ?? "pg1",
        probed.slice(1).map((n) => n.node),
    ).addresses;
    if (addresses && probed.length > 0) problems.push(...(await addressProblems(addresses)));
    if (primary) {
        const [archiver] = await psqlRows<ArchiverState>(primary.container, ARCHIVER_SQL).catch(() => []);
        const trouble = archiver ? archiveTrouble(archiver, primary) : null;
        if (trouble !== null) problems.push(trouble);
    }
    const status: ClusterStatus = { stack, failover: cfg.failover, members, problems };
    if (cfg.failover === "patroni") {
        status.etcd = await etcdHealth(stack, cfg);
        const trouble = etcdProblem(stack, status.etcd);
        if (trouble !== undefined) problems.push(trouble);
    }
    if (cfg.tls === "required") {
        const ends: CertificateEnd[] = [];
        for (const n of probed.filter((m) => m.running)) {
            const notAfter = await installedCertificateEnd(n.container);
            if (notAfter) ends.push({ node: n.node, notAfter });
        }
        status.tls = tlsSummaryLine(ends);
        for (const e of ends) {
            const verdict = expiryVerdict(e.node, e.notAfter, new Date(), renewCommand);
            if (verdict !== true) problems.push(verdict);
        }
    }
    if (cfg.backups) {
        const repo = await readRepository(stack).catch((err: Error) => err);
        if (repo instanceof Error) {
            status.backups = "backups: the repository cannot be read";
            problems.push(repo.message);
        } else {
            status.backups = backupSummaryLine(repo, new Date());
            const trouble = repositoryProblem(stack, repo);
            if (trouble !== undefined) problems.push(trouble);
        }
    }
    if (cfg.pooler) {
        const host = clientHost(cfg);
        const byAddress = new Map(Object.entries(nodeAddressMap(cfg.subnet)).map(([node, ip]) => [ip, node]));
        status.endpoints = {
            rw: await endpointNode(host, cfg.hostPortBase + PORT_OFFSETS.poolerRw, login, byAddress),
            ro: await endpointNode(host, cfg.hostPortBase + PORT_OFFSETS.poolerRo, login, byAddress),
        };
    }
    return status;
}
