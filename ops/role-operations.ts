// The day-2 side's one seam between the two failover modes: failover, switchover and rejoin are one
// interface, and the stack's `failover` setting picks its implementation here, once. Manual mode does
// the work itself (ops/manual/); under Patroni, Patroni moves the roles through its REST API
// (ops/patroni-ops.ts). The commands in scripts/ only open the command and call it.
import { ClusterConfig } from "../model/config";
import { manualFailover } from "./manual/failover";
import { manualRejoin } from "./manual/rejoin";
import { manualSwitchover } from "./manual/switchover";
import { patroniRejoin, patroniRoleChange } from "./patroni-ops";
import type { OpenedCommand } from "./topology-change";

/** The role changes of one failover mode; each takes the opened command (its subject is the node). */
export interface RoleOperations {
    /** Make `opened.subject` the primary now, the old primary gone or abandoned. */
    failover(opened: OpenedCommand): Promise<void>;
    /** Make `opened.subject` the primary with no transaction lost, the old primary a replica. */
    switchover(opened: OpenedCommand): Promise<void>;
    /** Bring `opened.subject` back as a replica of the current primary. */
    rejoin(opened: OpenedCommand): Promise<void>;
}

const MANUAL: RoleOperations = { failover: manualFailover, switchover: manualSwitchover, rejoin: manualRejoin };

const PATRONI: RoleOperations = {
    failover: (o) => patroniRoleChange("failover", o.args, o.cfg, o.subject, o.log),
    switchover: (o) => patroniRoleChange("switchover", o.args, o.cfg, o.subject, o.log),
    rejoin: (o) => patroniRejoin(o.args, o.subject, o.log),
};

/** The operations of the stack's failover mode. */
export function roleOperations(cfg: Pick<ClusterConfig, "failover">): RoleOperations {
    return cfg.failover === "patroni" ? PATRONI : MANUAL;
}
