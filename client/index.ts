// The package's entry point (client/package.json: @pg-replication/client, built to dist/index.js):
// `import { ReplicaRouter } from "@pg-replication/client"`. Inside this repository, import this file
// (`client/index`), not the directory: the directory resolves to package.json's `main`, the build.
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
export {
    classifyError,
    HostRejectedError,
    isReadOnlyError,
    NoHealthyReplicaError,
    NoUsableHostError,
    RouterClosedError,
} from "./errors";
export type { ErrorKind, HostFailure } from "./errors";
export type { MultiHostOptions, TargetSessionAttrs } from "./hosts";
export { decideReplicaHealth, recordPrimaryLsn, replicaLag } from "./health";
export type { HealthDecision, LagBounds, LsnSample, PrimaryStatus, ReplicaProbe, ReplicaStatus } from "./health";
export { compareLsn, formatLsn, isLsn, lsnDiff, maxLsn, parseLsn } from "./lsn";
export type { Lsn } from "./lsn";
export { rotation } from "./select";
