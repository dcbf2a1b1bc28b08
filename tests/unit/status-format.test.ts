// `npm run status`'s report without a cluster: formatStatus's exact lines in both failover modes,
// the exit status, and each mode's part of the report (ops/role-operations.ts): manual keeps what
// PostgreSQL answered; Patroni lays its roles and states over it, Docker's word winning for a node
// that is not running. The gathering against real containers is tests/integration's.
import { checkSpec } from "../../model/check-spec";
import { validateConfig } from "../../model/config";
import { ProbedNode } from "../../ops/cluster-discovery";
import { patroniMembers } from "../../ops/patroni-status";
import { roleOperations } from "../../ops/role-operations";
import { ClusterStatus, formatStatus, MemberStatus, STATUS_EXIT, statusExit } from "../../ops/status";

const line = (node: string, role: string, state: string, timeline: number | null, lagBytes: number | null) =>
    ({ node, container: `s-${node}`, role, state, timeline, lagBytes }) satisfies MemberStatus;

describe("formatStatus", () => {
    test("manual: the primary, a streaming replica with its lag, a stopped one, endpoints, backups and tls", () => {
        const s: ClusterStatus = {
            stack: "s",
            failover: "manual",
            members: [
                line("pg1", "primary", "running", 2, 0),
                line("pg2", "replica", "streaming", 2, 1024),
                line("pg3", "down", "exited", null, null),
            ],
            endpoints: { rw: "pg1 (primary)", ro: "pg2 (standby)" },
            backups:
                "backups: 2 (1 full), last incr 20250101-000000F_20250102-000000I finished 2025-01-02 (3 h ago); WAL archived 000000020000000000000003 … 000000020000000000000009",
            tls: "tls: required (TLS 1.3); certificates valid until 2026-03-01 (earliest: pg2)",
            problems: [],
        };
        expect(formatStatus(s).split("\n")).toEqual([
            "stack s (failover=manual)",
            "MEMBER  CONTAINER  ROLE     STATE      TL  LAG",
            "pg1     s-pg1      primary  running    2   0 B",
            "pg2     s-pg2      replica  streaming  2   1024 B",
            "pg3     s-pg3      down     exited     -   -",
            "endpoints: read-write -> pg1 (primary); read-only -> pg2 (standby)",
            s.backups,
            s.tls,
        ]);
        expect(statusExit(s)).toBe(STATUS_EXIT.sound);
        expect(STATUS_EXIT.sound).toBe(0);
    });

    test("across hosts: a HOST column names where each member runs", () => {
        const s: ClusterStatus = {
            stack: "m",
            failover: "patroni",
            members: [
                { ...line("pg1", "leader", "running", 1, 0), host: "h1" },
                { ...line("pg2", "quorum_standby", "streaming", 1, 0), host: "h2" },
            ],
            endpoints: { rw: "h1: pg1 (primary), h2: pg1 (primary)", ro: "h1: pg2 (standby), h2: pg2 (standby)" },
            problems: [],
        };
        expect(formatStatus(s).split("\n")).toEqual([
            "stack m (failover=patroni)",
            "MEMBER  HOST  CONTAINER  ROLE            STATE      TL  LAG",
            "pg1     h1    s-pg1      leader          running    1   0 B",
            "pg2     h2    s-pg2      quorum_standby  streaming  1   0 B",
            "endpoints: read-write -> h1: pg1 (primary), h2: pg1 (primary); read-only -> h1: pg2 (standby), h2: pg2 (standby)",
        ]);
    });

    test("Patroni: its roles, the etcd line, and one PROBLEM line per problem after everything else", () => {
        const s: ClusterStatus = {
            stack: "p",
            failover: "patroni",
            members: [
                line("pg1", "leader", "running", 3, 0),
                line("pg2", "sync_standby", "streaming", 3, 0),
                line("pg3", "replica", "stopped (patroni still lists it as replica)", null, null),
            ],
            etcd: { healthy: 3, members: 3 },
            backups: "backups: the repository cannot be read",
            problems: ["split brain: pg1 and pg3 accept writes; …", "the repository is gone"],
        };
        expect(formatStatus(s).split("\n")).toEqual([
            "stack p (failover=patroni)",
            "MEMBER  CONTAINER  ROLE          STATE                                        TL  LAG",
            "pg1     s-pg1      leader        running                                      3   0 B",
            "pg2     s-pg2      sync_standby  streaming                                    3   0 B",
            "pg3     s-pg3      replica       stopped (patroni still lists it as replica)  -   -",
            "etcd: 3 of 3 members healthy",
            "backups: the repository cannot be read",
            "PROBLEM: split brain: pg1 and pg3 accept writes; …",
            "PROBLEM: the repository is gone",
        ]);
        expect(statusExit(s)).toBe(STATUS_EXIT.problem);
        expect(STATUS_EXIT.problem).toBe(1);
        expect(STATUS_EXIT.unreadable).toBe(2);
    });

    test("no members and no options: the header only", () => {
        expect(formatStatus({ stack: "e", failover: "manual", members: [], problems: [] })).toBe(
            "stack e (failover=manual)\nMEMBER  CONTAINER  ROLE  STATE  TL  LAG",
        );
    });
});

describe("each mode's part of status", () => {
    const probed = (node: string, running: boolean): ProbedNode => ({
        node,
        container: `s-${node}`,
        running,
        state: running ? "running" : "exited",
        inRecovery: running ? node !== "pg1" : null,
        receiveLsn: null,
        replayLsn: null,
        walReceiver: running && node !== "pg1" ? "streaming" : null,
    });

    test("manual: the members as PostgreSQL answered, no etcd line, no problem of its own", async () => {
        const members = [line("pg1", "primary", "running", 1, 0), line("pg2", "replica", "streaming", 1, 8)];
        const cfg = validateConfig({});
        const view = await roleOperations(cfg).status({
            stack: "s",
            cfg,
            probed: [probed("pg1", true), probed("pg2", true)],
            members,
            spec: checkSpec("s", cfg, "pg1", ["pg2"]),
        });
        expect(view).toEqual({ members, problems: [] });
    });

    test("Patroni: its role, state and timeline for running members; a stopped one keeps Docker's state, with the lease", () => {
        const members = [
            line("pg1", "down", "exited", null, null),
            line("pg2", "primary", "running", 2, 0),
            line("pg3", "replica", "streaming", 1, 16),
            line("pg4", "replica", "streaming", 2, 0),
        ];
        const cluster = {
            members: [
                { name: "pg1", role: "leader", state: "running", timeline: 1 },
                { name: "pg2", role: "replica", state: "running" },
                { name: "pg3", role: "sync_standby", state: "streaming", timeline: 2 },
            ],
        };
        const nodes = [probed("pg1", false), probed("pg2", true), probed("pg3", true), probed("pg4", true)];
        expect(patroniMembers(members, nodes, cluster, { holder: "pg1", expiresInSeconds: 17 })).toEqual([
            line(
                "pg1",
                "down",
                "exited (patroni still lists it as leader; its leader key expires in 17 s)",
                null,
                null,
            ),
            // No timeline from Patroni: PostgreSQL's stays.
            line("pg2", "replica", "running", 2, 0),
            line("pg3", "sync_standby", "streaming", 2, 16),
            // Not in /cluster: PostgreSQL's line as it was.
            line("pg4", "replica", "streaming", 2, 0),
        ]);
        // The lease is said only for the node that holds the key.
        expect(patroniMembers(members, nodes, cluster, { holder: "pg2", expiresInSeconds: 17 })[0].state).toBe(
            "exited (patroni still lists it as leader)",
        );
        expect(patroniMembers(members, nodes, cluster, undefined)[0].state).toBe(
            "exited (patroni still lists it as leader)",
        );
    });

    test("the seam: a manual failover sends its SQL over the published ports, Patroni's only asks Patroni", () => {
        const manual = roleOperations(validateConfig({}));
        const patroni = roleOperations(validateConfig({ failover: "patroni" }));
        expect(manual.failoverOverPorts).toBe(true);
        expect(patroni.failoverOverPorts).toBe(false);
    });
});
