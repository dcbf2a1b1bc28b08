// failover=patroni: Patroni decides roles, with its leader key in etcd. The deployment declares the
// etcd members, a patroni.yml per node, and the dynamic configuration (PATCH /config); it never
// names the leader after bootstrap, so a deployment after an automatic failover changes nothing.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { EtcdCluster } from "./etcd";
import { clusterLabels } from "../model/labels";
import { NodeFile, PostgresNode } from "./node";
import { nodeScript } from "./node-script";
import { nodeStarts } from "./node-starts";
import {
    patroniDynamicConfig,
    patroniOwnParameters,
    renderPatroniRestoreScript,
    renderPatroniYml,
    renderEtcdLeaderAway,
} from "../model/patroni-config";
import { PATRONI_REST_PY, patroniRestCommand, PatroniRequest } from "../model/patroni-rest";
import { renderFile, renderPatroniBootstrapEnv, renderPgHba, renderPgIdent } from "../model/render";
import { EndpointContext, RoleContext, RoleOutcome, RoleStrategy } from "./roles";
import { HaproxyEndpoints } from "./haproxy";
import {
    ADDRESS_OFFSETS,
    etcdMemberAddress,
    nodeAddresses,
    NodeSpec,
    severalHosts,
    subnetAddress,
} from "../model/topology";
import { USE_ENGINE_SHELL } from "../model/engine-tls";
import { Engine, enginesTlsEnvironment, stackEnginesEnvironment } from "./engines";
import { haproxyContainer } from "../model/hosts";
import { generatedPassword } from "./generated-password";
import { checkSpec } from "../model/check-spec";

/**
 * Runs whenever the set of nodes changes (ops/hooks/remove-patroni-members.ts): a scale-down stops the
 * removed members, deletes their keys and has the leader drop their slots, which Patroni 4 would
 * otherwise keep for member_slots_ttl (30 min), holding WAL. Pulumi deletes the removed containers
 * after it; a scale-up, and `pulumi destroy`, ask nothing of it.
 */
function patroniMembers(ctx: RoleContext, nodes: PostgresNode[], after: pulumi.Resource): command.local.Command {
    const etcd = checkSpec(ctx.prefix, ctx.cfg, ctx.specs[0].name, []).patroni;
    return new command.local.Command(
        `${ctx.name}-patroni-members`,
        {
            create: nodeScript("remove-patroni-members"),
            dir: ctx.projectRoot,
            environment: {
                PGR_CLUSTER: ctx.prefix,
                PGR_MEMBERS: ctx.specs.map((s) => s.name).join(","),
                PGR_ETCD_CONTAINERS: (etcd?.etcdContainers ?? []).join(","),
                PGR_ETCD_ENDPOINTS: (etcd?.etcdEndpoints ?? []).join(","),
                ...stackEnginesEnvironment(ctx.prefix, ctx.cfg, ctx.engines),
            },
            logging: "stderr",
        },
        { parent: ctx.parent, dependsOn: [...nodes, after] },
    );
}

/** Fails the deployment early, naming what is missing, when the image lacks Patroni, etcd or HAProxy. */
function requirePatroniImage(
    name: string,
    imageId: pulumi.Output<string>,
    parent: pulumi.Resource,
    engines: Engine[] = [],
): pulumi.Output<string> {
    const check = new command.local.Command(
        name,
        {
            // On every host's engine across hosts (the image is each engine's own copy).
            create: [
                "for e in ${PGR_ENGINE_LIST:--}; do",
                ...USE_ENGINE_SHELL.map((line) => `  ${line}`),
                '  missing=$(docker run --rm --entrypoint sh "$PGR_IMAGE" -c \'for b in patroni etcd etcdctl haproxy python3; do command -v $b >/dev/null || printf "%s " $b; done\')',
                '  if [ -n "$missing" ]; then echo "pg-replication: failover=patroni needs patroni, etcd, etcdctl and haproxy in the image; ' +
                    '$PGR_IMAGE${DOCKER_HOST:+ on $DOCKER_HOST} lacks: $missing(build the local image with npm run build-image, or use an image that has them)" >&2; exit 1; fi',
                "done",
                'echo "$PGR_IMAGE"',
            ].join("\n"),
            environment: {
                PGR_IMAGE: imageId,
                ...(engines.length > 0 ? { PGR_ENGINE_LIST: engines.map((e) => e.host.engine).join(" ") } : {}),
                ...enginesTlsEnvironment(engines),
            },
        },
        { parent },
    );
    return check.stdout.apply((out) => out.trim());
}

/**
 * The stack's `settings` in Patroni's dynamic configuration (PATCH /config, online; parameters no
 * longer set are removed), then the members whose new values wait for a restart restarted through
 * Patroni (replicas; the leader only on a new cluster: otherwise the command fails naming the
 * switchover that applies it): ops/hooks/apply-settings.ts. No node's patroni.yml holds them, so
 * changing a setting re-creates no node.
 */
function patroniSettings(ctx: RoleContext, nodes: PostgresNode[], after: pulumi.Resource): command.local.Command {
    const hasSettings = Object.keys(ctx.cfg.settings).length > 0;
    return new command.local.Command(
        `${ctx.name}-patroni-settings`,
        {
            create: nodeScript("apply-settings"),
            dir: ctx.projectRoot,
            environment: {
                PGR_CLUSTER: ctx.prefix,
                PGR_FAILOVER: "patroni",
                PGR_SETTINGS: JSON.stringify(ctx.cfg.settings),
                PGR_OWN_PARAMETERS: JSON.stringify(patroniOwnParameters(ctx.cfg, ctx.specs[0])),
                PGR_CONTAINER_IDS: pulumi.all(nodes.map((n) => n.container.id)).apply((ids) => ids.join(",")),
                ...(hasSettings ? { PGR_NODE_STARTS: nodeStarts(nodes) } : {}),
                ...stackEnginesEnvironment(ctx.prefix, ctx.cfg, ctx.engines),
            },
            logging: "stderr",
        },
        { parent: ctx.parent, dependsOn: [...nodes, after] },
    );
}

/**
 * failover=patroni's endpoints: one HAProxy whose read-write port reaches whichever node Patroni's REST
 * API calls the leader.
 */
function haproxyEndpoints(ctx: EndpointContext): pulumi.Resource[] {
    // Across hosts one HAProxy per host, so that clients can use any surviving host.
    return ctx.engines ? ctx.engines.hosts.map((e) => haproxyOn(ctx, e)) : [haproxyOn(ctx, undefined)];
}

/** One HAProxy: on the cluster network, or on `engine`'s host network. */
function haproxyOn(ctx: EndpointContext, engine: Engine | undefined): HaproxyEndpoints {
    const { cfg, name, prefix } = ctx;
    const address = engine ? engine.host.address : subnetAddress(cfg.subnet, ADDRESS_OFFSETS.haproxy);
    const containerName = haproxyContainer(prefix, engine?.host);
    return new HaproxyEndpoints(
        engine ? `${name}-haproxy-${engine.host.name}` : `${name}-haproxy`,
        {
            containerName,
            image: ctx.image,
            network: ctx.network?.name,
            address,
            engine,
            // On one engine every node the cluster may have (pg1 … pg10), not only today's: a change
            // of `replicas` then leaves HAProxy, and the sessions through it, untouched (a name with
            // no node fails its check and takes no traffic). Across hosts, the nodes placed.
            servers: Object.entries(nodeAddresses(cfg)).map(([node, nodeAddress]) => ({
                name: node,
                address: nodeAddress,
            })),
            bindAddress: cfg.bindAddress,
            rwPort: ctx.rwPort,
            roPort: ctx.roPort,
            labels: clusterLabels(prefix),
            tls: ctx.tls && {
                caCertPem: ctx.tls.caCertPem,
                certificate: ctx.tls.issue(engine ? `${name}-haproxy-${engine.host.name}-tls` : `${name}-haproxy-tls`, {
                    commonName: containerName,
                    dnsNames: [containerName],
                    ipAddresses: [address],
                }),
            },
        },
        ctx.opts,
    );
}

/** The etcd members: on the cluster network, or one per host across hosts. */
function declareEtcd(ctx: RoleContext, image: pulumi.Output<string>): EtcdCluster {
    const { cfg, prefix } = ctx;
    return new EtcdCluster(
        `${ctx.name}-etcd`,
        {
            namePrefix: prefix,
            image,
            network: ctx.network?.name,
            addresses: Array.from({ length: cfg.etcdMembers }, (_, i) => etcdMemberAddress(cfg, i + 1)),
            engines: ctx.engines?.etcd,
            members: cfg.etcdMembers,
            labels: clusterLabels(prefix),
            tls: ctx.tls,
        },
        { parent: ctx.parent },
    );
}

/** The patroni strategy: etcd, patroni.yml per node, the dynamic configuration applied online. */
function patroniRoles(ctx: RoleContext): RoleOutcome {
    const { name, prefix, cfg, parent } = ctx;
    const primarySpec = ctx.specs.find((s) => s.role === "primary") as NodeSpec;
    const replicaSpecs = ctx.specs.filter((s) => s.role === "replica");
    // Checked for Patroni, etcd and HAProxy before the cluster used it (requireImage below).
    const image = ctx.imageId;
    const restPassword = generatedPassword(`${name}-patroni-rest-password`, parent);

    const etcd = declareEtcd(ctx, image);
    const files = (spec: NodeSpec): NodeFile[] => [
        { name: "entrypoint.sh", content: renderFile("patroni-entrypoint.sh"), executable: true },
        {
            name: "patroni.yml",
            content: pulumi.secret(
                pulumi
                    .all([ctx.superuserPassword, ctx.replicationPassword, restPassword])
                    .apply(([superuser, replication, rest]) =>
                        renderPatroniYml(cfg, spec, prefix, { superuser, replication, rest }),
                    ),
            ),
            permissions: "0600",
        },
        { name: "pg_hba.conf", content: renderPgHba(cfg) },
        { name: "pg_ident.conf", content: renderPgIdent() },
        // Which node may initialise a new cluster; read on an empty volume only (a changed primaryNode
        // re-creates no container, as manual mode's bootstrap.env).
        { name: "bootstrap.env", content: renderPatroniBootstrapEnv(cfg, spec), ignoreChanges: true },
        // Across hosts: Patroni's callback (run by the postgres user) that keeps etcd's leader off the primary's host.
        ...(severalHosts(cfg)
            ? [{ name: "etcd-leader-away.py", content: renderEtcdLeaderAway(cfg, spec), permissions: "0644" }]
            : []),
        // restoreFrom: the custom bootstrap's command (patroni.yml bootstrap.method), run by the
        // postgres user (hence 0755). Read only while the cluster is bootstrapped: its changes re-create nothing.
        ...(cfg.restoreFrom !== ""
            ? [
                  {
                      name: "patroni-restore.sh",
                      content: renderPatroniRestoreScript(cfg),
                      permissions: "0755",
                      ignoreChanges: true,
                  },
              ]
            : []),
    ];
    // Patroni's own clean stop is SIGTERM (it stops postgres, then releases the leader key).
    const extras = { stopSignal: "SIGTERM", fastResolver: true };
    // primaryNode bootstraps, and every node starts once etcd answers, all at once as a hand-made
    // Patroni cluster does: the others cannot race it for the initialize key, since their entrypoint
    // gives them no bootstrap section (Patroni's ha.py Ha.bootstrap takes the key only with one), so
    // they wait for its leader key and clone it. The leader key comes a moment after the bootstrap
    // node first answers (Patroni runs post_bootstrap first); the PATCH below retries for a minute.
    // With restoreFrom they wait for it, as before: a restore that fails is reported at once by the
    // bootstrap node's ready check (failProbe), and a replica started beside it would wait for a leader
    // that never comes, holding the deployment for its whole ready timeout (an hour with restoreFrom).
    const primaryNode = ctx.makeNode(primarySpec, image, files(primarySpec), etcd.ready, extras);
    const replicasAfter = cfg.restoreFrom !== "" ? [primaryNode] : etcd.ready;
    const replicas = replicaSpecs.map((spec) => ({
        spec,
        node: ctx.makeNode(spec, image, files(spec), replicasAfter, extras),
    }));

    // The synchronous switch and timings, online: PATCH /config writes Patroni's dynamic
    // configuration in etcd and the leader applies it with a reload (docs/rest_api.rst, "Config
    // endpoint"). Re-run only when the request changes; it restarts nothing. In sync mode after the
    // replicas (a fresh deploy never waits on a standby that is not there yet); async names none, so
    // it goes as soon as the leader answers (the checks still wait for every node).
    const request: PatroniRequest = { method: "PATCH", path: "/config", body: patroniDynamicConfig(cfg) };
    const dynamicConfig = new command.local.Command(
        `${name}-patroni-config`,
        {
            create: patroniRestCommand(),
            stdin: JSON.stringify(request),
            environment: {
                PGR_CLUSTER: prefix,
                PGR_REST_PY: PATRONI_REST_PY,
                ...stackEnginesEnvironment(prefix, cfg, ctx.engines),
            },
            logging: "stderr",
        },
        { parent, dependsOn: cfg.syncMode === "sync" ? replicas.map((r) => r.node) : [primaryNode] },
    );

    const settings = patroniSettings(ctx, [primaryNode, ...replicas.map((r) => r.node)], dynamicConfig);
    const members = patroniMembers(ctx, [primaryNode, ...replicas.map((r) => r.node)], dynamicConfig);

    const sync = cfg.syncMode === "sync";
    return {
        image,
        nodes: [{ spec: primarySpec, node: primaryNode }, ...replicas],
        // Patroni sets the superuser's password at bootstrap: initdb's, or with restoreFrom its
        // post_bootstrap, which then restarts the server (bootstrap.py post_bootstrap, hba_file set)
        // after the node first answered; the PATCH succeeds only once that is done (ha.py
        // post_bootstrap stores the configuration after it).
        superuserReady: cfg.restoreFrom !== "" ? [dynamicConfig] : [primaryNode],
        settled: [dynamicConfig, settings, members, ...etcd.ready],
        replicationMode: pulumi.output(
            sync
                ? `sync (patroni): synchronous_mode ${cfg.syncMethod === "any" ? "quorum" : "on"}, synchronous_node_count ${cfg.syncCount}, synchronous_commit=${cfg.synchronousCommit}`
                : "async",
        ),
        primarySql: { currentPrimary: true },
        endpoints: haproxyEndpoints,
    };
}

/**
 * failover=patroni: the guard needs no primary (Patroni's leader key decides). Patroni re-reads its REST
 * API's certificate on SIGHUP (patroni/__main__.py reload_config with sighup, api.py
 * reload_local_certificate); the pattern is anchored so that it does not match the `sh -c` running it.
 */
export const PATRONI_ROLES: RoleStrategy = {
    declare: patroniRoles,
    guardEnvironment: () => ({}),
    certificateReload: ["pkill -HUP -f '^[^ ]*python3 [^ ]*/patroni '"],
    requireImage: requirePatroniImage,
};
