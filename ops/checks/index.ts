// The post-deploy checks: a table of named checks (table.ts), each judging one target with the
// runners it is given (contract.ts), and the driver that walks it (run.ts).
export { addressProblem, addressProblems } from "./addresses";
export { CheckFailure } from "./contract";
export type { CheckInputs, CheckReport, CheckResult, CheckRunners, NamedCheck, QueryRunner } from "./contract";
export { membershipProblem } from "./patroni";
export { liveRunners, runChecks, walkChecks } from "./run";
export { CHECK_TABLE, checkNames } from "./table";
