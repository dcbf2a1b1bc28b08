// The day-2 side's one seam between the two failover modes: failover, switchover, rejoin and the
// mode's part of status are one interface, and the stack's `failover` setting picks its
// implementation here, once. Manual mode does the work itself (ops/manual/); under Patroni, Patroni
// moves the roles through its REST API (ops/patroni-ops.ts) and `status` adds its view and etcd's
// health (ops/patroni-status.ts). The commands in scripts/ only open the command and call it.
import { ClusterConfig } from "../model/config";
import { manualFailover } from "./manual/failover";
import { manualRejoin } from "./manual/rejoin";
import { manualStatus } from "./manual/status";
import { manualSwitchover } from "./manual/switchover";
import { patroniRejoin, patroniRoleChange } from "./patroni-ops";
import { patroniStatus } from "./patroni-status";
import type { ModeStatus, ModeStatusInput } from "./status";
import type { OpenedCommand } from "./topology-change";

/** The role changes of one failover mode; each takes the opened command (its subject is the node). */
export interface RoleOperations {
    /** Make `opened.subject` the primary now, the old primary gone or abandoned. */
    failover(opened: OpenedCommand): Promise<void>;
    /** Make `opened.subject` the primary with no transaction lost, the old primary a replica. */
    switchover(opened: OpenedCommand): Promise<void>;
    /** Bring `opened.subject` back as a replica of the current primary. */
    rejoin(opened: OpenedCommand): Promise<void>;
    /** The mode's part of `npm run status`: its view of the members over PostgreSQL's, and what only it can say is wrong. */
    status(input: ModeStatusInput): Promise<ModeStatus>;
    /**
     * Whether the failover sends its SQL over connections to the published ports (ops/node-sessions.ts)
     * rather than through `docker exec`: where the command runs the SQL itself, this saves a process per
     * statement. Under Patroni the failover only asks Patroni.
     */
    readonly failoverOverPorts: boolean;
}

const MANUAL: RoleOperations = {
    failover: manualFailover,
    switchover: manualSwitchover,
    rejoin: manualRejoin,
    status: manualStatus,
    failoverOverPorts: true,
};

const PATRONI: RoleOperations = {
    failover: (o) => patroniRoleChange("failover", o.args, o.cfg, o.subject, o.log),
    switchover: (o) => patroniRoleChange("switchover", o.args, o.cfg, o.subject, o.log),
    rejoin: (o) => patroniRejoin(o.args, o.subject, o.log),
    status: patroniStatus,
    failoverOverPorts: false,
};

/** The operations of the stack's failover mode. */
export function roleOperations(cfg: Pick<ClusterConfig, "failover">): RoleOperations {
    return cfg.failover === "patroni" ? PATRONI : MANUAL;
}

/** For the failover command's openCommand (ops/topology-change.ts): whether the stack's mode sends its SQL over the published ports. */
export function failoverOverPorts(cfg: Pick<ClusterConfig, "failover">): boolean {
    return roleOperations(cfg).failoverOverPorts;
}
