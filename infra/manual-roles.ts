// failover=manual: roles are decided by configuration (primaryNode) and changed by the day-2
// commands; the deployment bootstraps them (bootstrap.env), creates the roles and slots on the
// primary and applies the synchronous policy (the deployment guard in infra/cluster.ts refuses to run
// against another primary).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { NodeFile, PostgresNode } from "./node";
import { nodeScript } from "./node-script";
import { nodeStarts } from "./node-starts";
import { psqlCommand, SqlTarget } from "./psql";
import {
    renderBootstrapEnv,
    renderEntrypoint,
    renderNodeEnv,
    renderPgHba,
    renderPgIdent,
    renderPgpass,
    renderPostgresqlConf,
    renderSettingsConf,
} from "../model/render";
import { EndpointContext, RoleContext, RoleOutcome, RoleStrategy } from "./roles";
import { ClusterTls, publishedNames } from "./certificates";
import { clusterLabels } from "../model/labels";
import { poolerContainerName, PoolerRole } from "../model/pooler-config";
import { PgBouncerPool, PoolerTls } from "./pooler";
import { roleVerifier } from "../model/scram";
import {
    createSlotSql,
    dropRoleSql,
    dropSlotSql,
    replicationRoleSql,
    resetSyncPolicySql,
    setPasswordSql,
    syncPolicySql,
    synchronousStandbyNames,
} from "../model/sql";
import { ADDRESS_OFFSETS, nodeAddressMap, NodeSpec, subnetAddress } from "../model/topology";

/** The files of a manual-mode node, in upload order; bootstrap.env's changes are ignored (see PostgresNode). */
function manualFiles(ctx: RoleContext, spec: NodeSpec, pgpass: pulumi.Output<string>): NodeFile[] {
    const cfg = ctx.cfg;
    return [
        { name: "entrypoint.sh", content: renderEntrypoint(), executable: true },
        { name: "node.env", content: renderNodeEnv(cfg, spec) },
        // Names the node that runs initdb on an empty cluster; read only on an empty volume.
        { name: "bootstrap.env", content: renderBootstrapEnv(cfg), ignoreChanges: true },
        { name: "postgresql.conf", content: renderPostgresqlConf(cfg, spec) },
        { name: "pg_hba.conf", content: renderPgHba(cfg) },
        { name: "pg_ident.conf", content: renderPgIdent() },
        { name: "pgpass", content: pgpass, permissions: "0600" },
        // Read only after initdb; later changes of `settings` are applied online (settingsOnline).
        { name: "settings.conf", content: renderSettingsConf(cfg), ignoreChanges: true },
    ];
}

/**
 * The stack's `settings`, applied online on every node (ops/hooks/apply-settings.ts): ALTER SYSTEM and
 * a reload, the replicas restarted one at a time for what needs a restart, never the primary (the
 * command fails naming the switchover that applies it). No node's inputs hold them (settings.conf's
 * changes are ignored), so changing a setting never re-creates a node. With settings, it runs again
 * whenever a node has restarted, so a node that was down when they changed gets them.
 */
function settingsOnline(ctx: RoleContext, nodes: PostgresNode[], after: pulumi.Resource[]): command.local.Command {
    const hasSettings = Object.keys(ctx.cfg.settings).length > 0;
    return new command.local.Command(
        `${ctx.name}-settings`,
        {
            create: nodeScript("apply-settings"),
            dir: ctx.projectRoot,
            environment: {
                PGR_CLUSTER: ctx.prefix,
                PGR_SETTINGS: JSON.stringify(ctx.cfg.settings),
                // Every node's container: it runs once all exist, and again on a re-created one.
                PGR_CONTAINER_IDS: pulumi.all(nodes.map((n) => n.container.id)).apply((ids) => ids.join(",")),
                ...(hasSettings ? { PGR_NODE_STARTS: nodeStarts(nodes) } : {}),
            },
            logging: "stderr",
        },
        { parent: ctx.parent, dependsOn: [...nodes, ...after] },
    );
}

/** A replica's physical slot on the primary; it needs no role, so it is made alongside the roles. */
function replicaSlot(ctx: RoleContext, spec: NodeSpec, onPrimary: SqlTarget): command.local.Command | undefined {
    if (!spec.slotName) return undefined;
    return psqlCommand(
        `${ctx.name}-slot-${spec.slotName}`,
        {
            on: onPrimary,
            cluster: ctx.prefix,
            sql: createSlotSql(spec.slotName),
            deleteSql: dropSlotSql(spec.slotName),
        },
        { parent: ctx.parent },
    );
}

/** The endpoints' certificates: their container, alias and address, and the Docker host's names. */
function poolerTls(ctx: EndpointContext, tls: ClusterTls): PoolerTls {
    const published = publishedNames(ctx.cfg.bindAddress);
    const certificate = (role: PoolerRole, offset: number) =>
        tls.issue(`${ctx.name}-pgbouncer-${role}-tls`, {
            commonName: poolerContainerName(ctx.prefix, role),
            dnsNames: [poolerContainerName(ctx.prefix, role), `pgbouncer-${role}`, ...published.dnsNames],
            ipAddresses: [subnetAddress(ctx.cfg.subnet, offset), ...published.ipAddresses],
        });
    return {
        caCertPem: tls.caCertPem,
        certificates: {
            rw: certificate("rw", ADDRESS_OFFSETS.poolerRw),
            ro: certificate("ro", ADDRESS_OFFSETS.poolerRo),
        },
    };
}

/** Manual mode's endpoints: PgBouncer, re-pointed by every failover and switchover (ops/pooler.ts). */
function pgbouncerEndpoints(ctx: EndpointContext): PgBouncerPool[] {
    const { cfg } = ctx;
    // Manual mode runs on one engine (model/config.ts refuses it across hosts): the network exists.
    if (!ctx.network) throw new Error("manual failover runs on one engine's cluster network");
    const pool = new PgBouncerPool(
        `${ctx.name}-pooler`,
        {
            namePrefix: ctx.prefix,
            image: ctx.poolerImage(),
            network: ctx.network.name,
            primaryNode: ctx.primarySpec.name,
            replicaNodes: ctx.replicaSpecs.map((s) => s.name),
            nodeHosts: nodeAddressMap(cfg.subnet),
            addresses: {
                rw: subnetAddress(cfg.subnet, ADDRESS_OFFSETS.poolerRw),
                ro: subnetAddress(cfg.subnet, ADDRESS_OFFSETS.poolerRo),
            },
            bindAddress: cfg.bindAddress,
            rwPort: ctx.rwPort,
            roPort: ctx.roPort,
            superuserPassword: ctx.superuserPassword,
            labels: clusterLabels(ctx.prefix),
            projectRoot: ctx.projectRoot,
            tls: ctx.tls && poolerTls(ctx, ctx.tls),
        },
        ctx.opts,
    );
    return [pool];
}

/** The manual strategy: today's bootstrap, role, slot and sync commands and the primary guard. */
function manualRoles(ctx: RoleContext): RoleOutcome {
    const { name, prefix, cfg, parent } = ctx;
    const primarySpec = ctx.specs.find((s) => s.role === "primary") as NodeSpec;
    const replicaSpecs = ctx.specs.filter((s) => s.role === "replica");

    // ctx.imageId waits for the deployment guard (infra/cluster.ts): primaryNode is the primary.
    const image = ctx.imageId;
    const pgpass = pulumi.secret(
        pulumi.all([ctx.replicationPassword, ctx.superuserPassword]).apply(([repl, su]) =>
            renderPgpass([
                { user: cfg.replicationUser, password: repl },
                { user: "postgres", password: su },
            ]),
        ),
    );
    const primaryNode = ctx.makeNode(primarySpec, image, manualFiles(ctx, primarySpec, pgpass), []);
    const onPrimary: SqlTarget = { node: primaryNode.containerName };

    const superuser = psqlCommand(
        `${name}-superuser`,
        {
            on: onPrimary,
            cluster: prefix,
            sql: pulumi.secret(
                ctx.superuserPassword.apply((pw) => setPasswordSql("postgres", roleVerifier(pw, "postgres"))),
            ),
        },
        { parent },
    );
    const replicationRole = psqlCommand(
        `${name}-replication-user`,
        {
            on: onPrimary,
            cluster: prefix,
            sql: pulumi.secret(
                ctx.replicationPassword.apply((pw) =>
                    replicationRoleSql(cfg.replicationUser, roleVerifier(pw, cfg.replicationUser)),
                ),
            ),
            deleteSql: dropRoleSql(cfg.replicationUser),
        },
        { parent },
    );

    const replicas = replicaSpecs.map((spec) => {
        const slot = replicaSlot(ctx, spec, onPrimary);
        // A new replica logs in as the superuser to find the primary (entrypoint.sh find_primary), then
        // clones through the replication role and its slot: all three exist before it starts, so its
        // first attempt succeeds instead of retrying after a sleep.
        const deps = [replicationRole, ...(slot ? [slot] : []), superuser];
        return { spec, slot, node: ctx.makeNode(spec, image, manualFiles(ctx, spec, pgpass), deps) };
    });

    // Applied online (ALTER SYSTEM + reload). In sync mode once the replicas exist, so a fresh sync
    // deploy never waits on a standby that is not there yet; async names no standby, so it need not
    // wait for them (the checks still do).
    const replicaNames = replicaSpecs.map((s) => s.name);
    const syncPolicy = psqlCommand(
        `${name}-sync-policy`,
        {
            on: onPrimary,
            cluster: prefix,
            sql: syncPolicySql(cfg, replicaNames),
            deleteSql: resetSyncPolicySql(),
        },
        { parent, dependsOn: cfg.syncMode === "sync" ? replicas.map((r) => r.node) : [] },
    );
    const allNodes = [primaryNode, ...replicas.map((r) => r.node)];
    const settings = settingsOnline(ctx, allNodes, [syncPolicy]);
    return {
        image,
        nodes: [{ spec: primarySpec, node: primaryNode }, ...replicas.map((r) => ({ spec: r.spec, node: r.node }))],
        superuserReady: [superuser],
        settled: [syncPolicy, superuser, settings, ...replicas.flatMap((r) => (r.slot ? [r.slot] : []))],
        replicationMode: pulumi.output(
            cfg.syncMode === "async"
                ? "async"
                : `sync: ${synchronousStandbyNames(cfg, replicaNames)}, synchronous_commit=${cfg.synchronousCommit}`,
        ),
        primarySql: onPrimary,
        endpoints: pgbouncerEndpoints,
    };
}

/** failover=manual: the deployment guard holds the configured primary; PostgreSQL is the node's only server. */
export const MANUAL_ROLES: RoleStrategy = {
    declare: manualRoles,
    guardEnvironment: (primary) => ({ PGR_PRIMARY: primary.name }),
    certificateReload: [],
};
