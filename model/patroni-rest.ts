// Calls to a node's Patroni REST API from the Docker host, through `docker exec`: the API listens
// only on the cluster network, and its password stays in the node's root/postgres-only
// patroni.yml (read inside the container), never on a command line or in an environment.
import { USE_ENGINE_SHELL } from "./engine-tls";
import { RUNNING_NODES_SHELL } from "./labels";
import { PATRONI_CONFIG_PATH } from "./patroni-config";

/**
 * Python run in a node as the postgres user (`python3 -c`): reads a request
 * `{"method","path","body"?,"timeoutSeconds"?}` as JSON on stdin, sends it to this node's REST API
 * (restapi.connect_address) with the basic auth of patroni.yml, and prints
 * `{"status": n, "body": ...}` (body parsed as JSON when it is JSON). python3 and PyYAML are
 * Patroni's own dependencies, so every image with Patroni has them.
 */
export const PATRONI_REST_PY = [
    "import base64, json, ssl, sys, urllib.request, urllib.error, yaml",
    `cfg = yaml.safe_load(open(${JSON.stringify(PATRONI_CONFIG_PATH)}))`,
    "req = json.load(sys.stdin)",
    "api = cfg['restapi']",
    "auth = api.get('authentication') or {}",
    // tls required: HTTPS, the server verified against the stack's CA, the node's own certificate
    // presented (the API requires one), as patronictl would with the ctl section.
    "ctl = cfg.get('ctl') or {}",
    "ctx = None",
    "if api.get('certfile'):",
    "    ctx = ssl.create_default_context(cafile=ctl['cacert'])",
    "    ctx.load_cert_chain(ctl['certfile'], ctl['keyfile'])",
    "scheme = 'https://' if ctx else 'http://'",
    "data = None if req.get('body') is None else json.dumps(req['body']).encode()",
    "r = urllib.request.Request(scheme + api['connect_address'] + req['path'], data=data, method=req['method'])",
    "r.add_header('Content-Type', 'application/json')",
    "r.add_header('Authorization', 'Basic ' + base64.b64encode((auth.get('username', '') + ':' + auth.get('password', '')).encode()).decode())",
    "try:",
    "    resp = urllib.request.urlopen(r, timeout=req.get('timeoutSeconds', 10), context=ctx); status, text = resp.status, resp.read().decode()",
    "except urllib.error.HTTPError as e:",
    "    status, text = e.code, e.read().decode()",
    "try:",
    "    body = json.loads(text)",
    "except ValueError:",
    "    body = text",
    "print(json.dumps({'status': status, 'body': body}))",
].join("\n");

/** A REST request for {@link PATRONI_REST_PY}. */
export interface PatroniRequest {
    method: "GET" | "PATCH" | "POST" | "PUT" | "DELETE";
    path: string;
    body?: unknown;
    timeoutSeconds?: number;
}

/**
 * Shell script (for a command resource) that sends $PGR_REQUEST-less stdin to the REST API of
 * the first running node of cluster $PGR_CLUSTER that answers, retrying for up to a minute, and
 * fails unless the answer is 200. Which node does not matter: every member writes the dynamic
 * configuration to etcd, and the leader applies it; so it never names the leader, and a deployment
 * after an automatic failover has nothing to change.
 */
export function patroniRestCommand(): string {
    return [
        "set -eu",
        "req=$(cat)",
        "i=0",
        "while :; do",
        // Every engine of $PGR_ENGINE_LIST across hosts (infra/engines.ts), else the default one;
        // a tcp:// one with its cert directory under $PGR_DOCKER_TLS_DIR.
        "  for e in ${PGR_ENGINE_LIST:--}; do",
        ...USE_ENGINE_SHELL.map((line) => `    ${line}`),
        `    for c in $(${RUNNING_NODES_SHELL} 2>/dev/null); do`,
        `      if out=$(printf '%s' "$req" | docker exec -i -u postgres "$c" python3 -c "$PGR_REST_PY" 2>&1) && printf '%s' "$out" | grep -q '"status": 200'; then`,
        '        echo "pg-replication: Patroni dynamic configuration applied through $c" >&2; exit 0',
        "      fi",
        "    done",
        "  done",
        "  i=$((i+1))",
        '  if [ "$i" -ge 60 ]; then echo "pg-replication: no node of $PGR_CLUSTER accepted the Patroni request: ${out:-no running node}" >&2; exit 1; fi',
        "  sleep 1",
        "done",
    ].join("\n");
}
