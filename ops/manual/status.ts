// `status` under failover=manual: the roles are what PostgreSQL answered, as ops/status.ts reads them
// from the nodes for both modes, and the mode adds no line and no problem of its own.
// ops/role-operations.ts picks this under failover=manual.
import type { ModeStatus, ModeStatusInput } from "../status";

export function manualStatus({ members }: ModeStatusInput): Promise<ModeStatus> {
    return Promise.resolve({ members, problems: [] });
}
