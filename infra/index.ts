// The stack program: read and validate config, declare the cluster, export its outputs.
import { PostgresCluster } from "./cluster";
import { readConfig } from "./read-config";

const { config, secrets } = readConfig();

const cluster = new PostgresCluster("pg", {
    ...config,
    superuserPassword: secrets.superuserPassword,
    replicationPassword: secrets.replicationPassword,
    restoreCipherPass: secrets.restoreCipherPass,
    engineTls: secrets.engineTls,
});

export const primary = cluster.primary;
export const replicas = cluster.replicas;
export const primaryConnectionString = cluster.primaryConnectionString;
export const replicaConnectionStrings = cluster.replicaConnectionStrings;
export const replicationMode = cluster.replicationMode;
export const checkReport = cluster.checkReport;
export const rwConnectionString = cluster.rwConnectionString;
export const roConnectionString = cluster.roConnectionString;
export const metricsEndpoint = cluster.metricsEndpoint;
export const metricsEndpoints = cluster.metricsEndpoints;
export const metricsPassword = cluster.metricsPassword;
export const superuserPassword = cluster.superuserPassword;
export const replicationPassword = cluster.replicationPassword;
export const backupCipherPass = cluster.backupCipherPass;
export const caCert = cluster.caCert;
export const caCertFile = cluster.caCertFile;
export const tls = cluster.tls;
