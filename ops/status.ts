// What `npm run status` reports, in both failover modes: every member with its role, state,
// timeline and lag, and which node each endpoint reaches. Gathering and formatting are separate so
// that the table is tested without a cluster.
import { superuserClient, SuperuserLogin } from "./login";
import { CertificateEnd, expiryVerdict, installedCertificateEnd, tlsSummaryLine } from "./certificates";
import { Client } from "pg";
import { ClusterConfig } from "../model/config";
import { clientHost, nodeAddresses, PORT_OFFSETS } from "../model/topology";
import { ARCHIVER_SQL, archiveTrouble, ArchiverState } from "./archive";
import { backupSummaryLine, readRepository, repositoryProblem } from "./backups";
import { addressProblems } from "./checks";
import { checkSpec, CheckSpec } from "../model/check-spec";
import {
    certainlyStopped,
    ClusterNode,
    ProbedNode,
    probeNodes,
    psqlRows,
    unknownRoleHint,
    unknownRoles,
} from "./cluster-discovery";
import type { EtcdCount } from "./patroni-status";
import { roleOperations } from "./role-operations";
import { resolvePlacement, severalHosts } from "../model/hosts";
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
    /** Across hosts (`hosts`): the host the member runs on. */
    host?: string;
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
    etcd?: EtcdCount;
    /** What is wrong, each with its next step: split brain, no primary, a node of unknown role, failing archiving. `status` exits 1 when any. */
    problems: string[];
}

/** What the failover mode's part of `status` starts from: the stack, and the members as PostgreSQL answered. */
export interface ModeStatusInput {
    stack: string;
    cfg: ClusterConfig;
    probed: ProbedNode[];
    /** One per `probed` node, in the same order. */
    members: MemberStatus[];
    /** The checks' spec of the stack, built once per status run (its `patroni` part under failover=patroni). */
    spec: CheckSpec;
}

/** The failover mode's part of `status` (ops/role-operations.ts picks it): its view of the members, its lines, its problems. */
export interface ModeStatus {
    members: MemberStatus[];
    etcd?: EtcdCount;
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

/** `status`'s exit statuses, as lag's: 0 sound, 1 a PROBLEM line, 2 the cluster could not be read. */
export const STATUS_EXIT = { sound: 0, problem: 1, unreadable: 2 } as const;

/**
 * The exit status of a report: non-zero for split brain, no primary, a node of unknown role or failing
 * archiving (any PROBLEM line), so that a script or a person watching a failover does not read "0" as "sound".
 */
export function statusExit(s: Pick<ClusterStatus, "problems">): number {
    return s.problems.length > 0 ? STATUS_EXIT.problem : STATUS_EXIT.sound;
}

/** Fixed-width table: one line per member, then the endpoints, etcd, backups and tls lines, then one PROBLEM line each. */
export function formatStatus(s: ClusterStatus): string {
    // The HOST column only when the members run on several hosts.
    const hosts = s.members.some((m) => m.host !== undefined);
    const header = ["MEMBER", ...(hosts ? ["HOST"] : []), "CONTAINER", "ROLE", "STATE", "TL", "LAG"];
    const rows = s.members.map((m) => [
        m.node,
        ...(hosts ? [m.host ?? "-"] : []),
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

/** Bytes each replica's replay is behind the primary's current WAL position, by node. */
async function replayLag(primary: ClusterNode | undefined): Promise<Map<string, number>> {
    const lag = new Map<string, number>();
    if (!primary) return lag;
    const rows = await psqlRows<{ name: string; lag: string | null }>(
        primary.container,
        "SELECT application_name AS name, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag FROM pg_stat_replication",
    ).catch(() => []);
    for (const r of rows) if (r.lag !== null) lag.set(r.name, Number(r.lag));
    return lag;
}

/** The timeline each running node is on (a standby's: the one it receives), by node. */
async function timelines(probed: ClusterNode[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    await Promise.all(
        probed
            .filter((n) => n.running)
            .map(async (n) => {
                const rows = await psqlRows<{ tl: number }>(
                    n.container,
                    "SELECT coalesce((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint())) AS tl",
                ).catch(() => []);
                if (rows[0]) found.set(n.node, Number(rows[0].tl));
            }),
    );
    return found;
}

/** Every member as PostgreSQL itself answers: role, state, timeline and lag, the same in both modes. */
async function postgresMembers(probed: ProbedNode[], primary: ProbedNode | undefined): Promise<MemberStatus[]> {
    const lag = await replayLag(primary);
    const tls = await timelines(probed);
    return probed.map((n) => ({
        node: n.node,
        container: n.container,
        role: certainlyStopped(n) ? "down" : n.inRecovery === false ? "primary" : n.inRecovery ? "replica" : "unknown",
        state: !n.running ? n.state : n.inRecovery === false ? "running" : (n.walReceiver ?? "not streaming"),
        timeline: tls.get(n.node) ?? null,
        lagBytes: n.inRecovery === false ? 0 : (lag.get(n.node) ?? null),
    }));
}

/** The checks' spec of the probed members (the first as primary: only their addresses matter here). */
function statusSpec(stack: string, cfg: ClusterConfig, probed: ClusterNode[]): CheckSpec {
    return checkSpec(
        stack,
        cfg,
        probed[0]?.node ?? "pg1",
        probed.slice(1).map((n) => n.node),
    );
}

/** A node off its fixed address cannot stream (pg_hba.conf) and nothing else would say why. */
async function addressTrouble({ addresses }: CheckSpec, probed: ClusterNode[]): Promise<string[]> {
    return addresses && probed.length > 0 ? addressProblems(addresses) : [];
}

/** Failing WAL archiving on the primary, as pg_stat_archiver tells it. */
async function archiverTrouble(primary: ClusterNode | undefined): Promise<string[]> {
    if (!primary) return [];
    const [archiver] = await psqlRows<ArchiverState>(primary.container, ARCHIVER_SQL).catch(() => []);
    const trouble = archiver ? archiveTrouble(archiver, primary) : null;
    return trouble === null ? [] : [trouble];
}

/** A report line and the problems it comes with. */
interface Part {
    line: string;
    problems: string[];
}

/** tls required: the policy and the earliest end of the running nodes' certificates, and those ending soon. */
async function certificatePart(probed: ClusterNode[], renewCommand: string): Promise<Part> {
    const ends: CertificateEnd[] = [];
    for (const n of probed.filter((m) => m.running)) {
        const notAfter = await installedCertificateEnd(n.container);
        if (notAfter) ends.push({ node: n.node, notAfter });
    }
    const problems: string[] = [];
    for (const e of ends) {
        const verdict = expiryVerdict(e.node, e.notAfter, new Date(), renewCommand);
        if (verdict !== true) problems.push(verdict);
    }
    return { line: tlsSummaryLine(ends), problems };
}

/** backups on: the repository's summary line, and what is wrong with it (or that it cannot be read). */
async function backupPart(stack: string): Promise<Part> {
    const repo = await readRepository(stack).catch((err: Error) => err);
    if (repo instanceof Error) return { line: "backups: the repository cannot be read", problems: [repo.message] };
    const trouble = repositoryProblem(stack, repo);
    return { line: backupSummaryLine(repo, new Date()), problems: trouble === undefined ? [] : [trouble] };
}

/**
 * pooler on: the node each published endpoint reaches now; across hosts through each host's
 * HAProxy (`h1: pg1, h2: pg1, …`), since a client may use any surviving host.
 */
async function endpointNodes(
    cfg: ClusterConfig,
    login: SuperuserLogin | undefined,
): Promise<{ rw: string; ro: string }> {
    const byAddress = new Map(Object.entries(nodeAddresses(cfg)).map(([node, ip]) => [ip, node]));
    const ports = { rw: cfg.hostPortBase + PORT_OFFSETS.poolerRw, ro: cfg.hostPortBase + PORT_OFFSETS.poolerRo };
    if (!severalHosts(cfg)) {
        const host = clientHost(cfg);
        return {
            rw: await endpointNode(host, ports.rw, login, byAddress),
            ro: await endpointNode(host, ports.ro, login, byAddress),
        };
    }
    const each = async (port: number) =>
        (
            await Promise.all(
                cfg.hosts.map(async (h) => `${h.name}: ${await endpointNode(h.address, port, login, byAddress)}`),
            )
        ).join(", ");
    return { rw: await each(ports.rw), ro: await each(ports.ro) };
}

/** The members with the host each runs on, across hosts (model/hosts.ts placement). */
function withHosts(cfg: ClusterConfig, members: MemberStatus[]): MemberStatus[] {
    const placement = resolvePlacement(cfg);
    if (!placement) return members;
    return members.map((m) => {
        const host = placement.nodes[m.node];
        return host ? { ...m, host: host.name } : m;
    });
}

/**
 * Gathers the status of a deployed stack: PostgreSQL's view of the members, then the failover mode's
 * (ops/role-operations.ts: Patroni's roles and etcd's health under failover=patroni), then what the
 * stack's options add (certificates, backups, endpoints).
 */
export async function clusterStatus(
    stack: string,
    cfg: ClusterConfig,
    login: SuperuserLogin | undefined,
    renewCommand = `npm run live -- up --stack ${stack}`,
): Promise<ClusterStatus> {
    const probed = await probeNodes(stack);
    const primary = probed.find((n) => n.running && n.inRecovery === false);
    const members = await postgresMembers(probed, primary);
    const spec = statusSpec(stack, cfg, probed);
    const mode = await roleOperations(cfg).status({ stack, cfg, probed, members, spec });
    const problems = [
        ...roleProblems(stack, probed),
        ...(await addressTrouble(spec, probed)),
        ...(await archiverTrouble(primary)),
        ...mode.problems,
    ];
    const status: ClusterStatus = { stack, failover: cfg.failover, members: withHosts(cfg, mode.members), problems };
    if (mode.etcd) status.etcd = mode.etcd;
    if (cfg.tls === "required") {
        const certificates = await certificatePart(probed, renewCommand);
        status.tls = certificates.line;
        problems.push(...certificates.problems);
    }
    if (cfg.backups) {
        const backups = await backupPart(stack);
        status.backups = backups.line;
        problems.push(...backups.problems);
    }
    if (cfg.pooler) status.endpoints = await endpointNodes(cfg, login);
    return status;
}
