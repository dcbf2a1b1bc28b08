// The library applications import: `import { ReplicaRouter } from "<this project>/client"`.
export { ReplicaRouter } from "./router";
export { DEFAULTS } from "./options";
export type {
    NodeConfig,
    ReadOptions,
    ReadResult,
    ReplicaRouterOptions,
    RouterStatus,
    ServedBy,
    WriteResult,
} from "./options";
export { classifyError, NoHealthyReplicaError, RouterClosedError } from "./errors";
export type { ErrorKind } from "./errors";
export { decideReplicaHealth, recordPrimaryLsn, replicaLag } from "./health";
export type { HealthDecision, LagBounds, LsnSample, PrimaryStatus, ReplicaProbe, ReplicaStatus } from "./health";
export { compareLsn, formatLsn, isLsn, lsnDiff, maxLsn, parseLsn } from "./lsn";
export type { Lsn } from "./lsn";
export { rotation } from "./select";
